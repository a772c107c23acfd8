#include "heimdall/cache/snapshot.hpp"

#include <fcntl.h>
#include <rte_hash_crc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "entry_pool.hpp"
#include "heimdall/cache/stored_answer.hpp"
#include "heimdall/dns/question_key.hpp"

namespace heimdall::cache {
namespace {

constexpr char kMagic[8] = {'H', 'E', 'I', 'M', 'D', 'A', 'L', 'C'};
constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
constexpr std::size_t kWriteBuffer = 1u << 20;

struct FileHeader {
  char magic[8];
  std::uint32_t version;
  std::uint32_t header_bytes;
  std::uint64_t saved_at_wall_ns;
  std::uint64_t entries;
  std::uint64_t body_bytes;
  std::uint32_t body_crc;
  std::uint32_t reserved;
  std::uint8_t padding[12];
  std::uint32_t header_crc;  // of every byte before it
};
static_assert(sizeof(FileHeader) == 64);

struct RecordHeader {
  std::uint64_t stored_at_wall_ns;
  std::uint32_t ttl_s;
  std::uint16_t stored_length;
  std::uint16_t qtype;
  std::uint16_t qclass;
  std::uint8_t qflags;
  std::uint8_t name_length;
  std::uint8_t kind;
  std::uint8_t reserved[3];
};
static_assert(sizeof(RecordHeader) == 24);

constexpr std::uint8_t kKeyFlags =
    dns::QuestionKey::kRd | dns::QuestionKey::kCd | dns::QuestionKey::kDo;

// CRC-32C over any bytes at any alignment: eight at a time loaded with memcpy
// (rte_hash_crc itself dereferences misaligned uint64_t pointers, which
// UndefinedBehaviorSanitizer rightly reports for the stored answers).
std::uint32_t crc32c(const void* data, std::size_t length, std::uint32_t running) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  for (; length >= 8; bytes += 8, length -= 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes, sizeof(word));
    running = rte_hash_crc_8byte(word, running);
  }
  for (; length > 0; ++bytes, --length) running = rte_hash_crc_1byte(*bytes, running);
  return running;
}

std::uint32_t header_crc(const FileHeader& header) {
  return crc32c(&header, offsetof(FileHeader, header_crc), 0xffffffff);
}

std::string errno_text() { return std::strerror(errno); }

// The file mapped read-only for the time of a load.
class Mapping {
 public:
  explicit Mapping(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw SnapshotError(path + ": cannot open: " + errno_text());
    struct stat status {};
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
      ::close(fd);
      throw SnapshotError(path + ": not a regular file");
    }
    size_ = static_cast<std::size_t>(status.st_size);
    if (size_ > 0) {
      data_ = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data_ == MAP_FAILED) {
        const std::string reason = errno_text();
        ::close(fd);
        throw SnapshotError(path + ": cannot map: " + reason);
      }
      madvise(data_, size_, MADV_SEQUENTIAL);
    }
    ::close(fd);
  }
  ~Mapping() {
    if (data_ != nullptr && data_ != MAP_FAILED) munmap(data_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  std::span<const std::uint8_t> bytes() const {
    return {static_cast<const std::uint8_t*>(data_), size_};
  }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// One record of the body, checked to lie within it.
struct Record {
  RecordHeader header;
  std::span<const std::uint8_t> stored;
};

// Walks the body's records; false (with `problem` set) at the first one that is
// not sound. Nothing is restored until every record has been checked.
template <typename Visit>
bool for_each_record(std::span<const std::uint8_t> body, std::uint64_t entries,
                     std::string& problem, Visit&& visit) {
  std::size_t at = 0;
  for (std::uint64_t index = 0; index < entries; ++index) {
    Record record;
    if (body.size() - at < sizeof(RecordHeader)) {
      problem = "entry " + std::to_string(index) + " runs past the end";
      return false;
    }
    std::memcpy(&record.header, body.data() + at, sizeof(RecordHeader));
    at += sizeof(RecordHeader);
    const RecordHeader& header = record.header;
    if (body.size() - at < header.stored_length) {
      problem = "entry " + std::to_string(index) + " runs past the end";
      return false;
    }
    record.stored = body.subspan(at, header.stored_length);
    at += header.stored_length;
    if (header.kind > static_cast<std::uint8_t>(AnswerKind::ServFail) ||
        (header.qflags & ~kKeyFlags) != 0 ||
        !stored_form_is_sound(record.stored, header.name_length, header.qtype, header.qclass)) {
      problem = "entry " + std::to_string(index) + " is malformed";
      return false;
    }
    visit(record);
  }
  if (at != body.size()) {
    problem = "bytes follow the last entry";
    return false;
  }
  return true;
}

}  // namespace

SnapshotClock SnapshotClock::now() {
  timespec wall{};
  timespec monotonic{};
  clock_gettime(CLOCK_REALTIME, &wall);
  clock_gettime(CLOCK_MONOTONIC, &monotonic);
  const auto ns = [](const timespec& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * kNsPerSecond +
           static_cast<std::uint64_t>(t.tv_nsec);
  };
  return {.wall_ns = ns(wall), .monotonic_ns = ns(monotonic)};
}

SnapshotWriter::SnapshotWriter(std::string path, SnapshotClock now)
    : path_(std::move(path)), temporary_(path_ + ".tmp"), clock_(now) {
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0) throw SnapshotError(temporary_ + ": cannot create: " + errno_text());
  buffer_.reserve(kWriteBuffer);
  const FileHeader placeholder{};  // written for real by commit()
  append(&placeholder, sizeof(placeholder));
}

SnapshotWriter::~SnapshotWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temporary_.c_str());
}

std::uint64_t SnapshotWriter::bytes() const { return sizeof(FileHeader) + body_bytes_; }

void SnapshotWriter::append(const void* data, std::size_t length) {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  buffer_.insert(buffer_.end(), bytes, bytes + length);
  if (buffer_.size() >= kWriteBuffer) flush_buffer();
}

void SnapshotWriter::flush_buffer() {
  std::size_t written = 0;
  while (written < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + written, buffer_.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw SnapshotError(temporary_ + ": cannot write: " + errno_text());
    written += static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

void SnapshotWriter::add(std::span<const DumpRecord> records,
                         std::span<const std::uint8_t> answers) {
  for (const DumpRecord& record : records) {
    // Carried from the workers' clock to the wall clock; an entry stored after
    // `clock_` was read is ahead of it.
    const auto offset = static_cast<std::int64_t>(record.inserted_ns - clock_.monotonic_ns);
    const std::uint64_t stored_at = clock_.wall_ns + static_cast<std::uint64_t>(offset);
    if (record.inserted_ns + std::uint64_t{record.ttl_s} * kNsPerSecond <= clock_.monotonic_ns) {
      continue;  // expired, kept only for serve-stale: not worth a restart
    }
    const RecordHeader header{.stored_at_wall_ns = stored_at,
                              .ttl_s = record.ttl_s,
                              .stored_length = record.bytes,
                              .qtype = record.qtype,
                              .qclass = record.qclass,
                              .qflags = record.flags,
                              .name_length = record.name_length,
                              .kind = static_cast<std::uint8_t>(record.kind),
                              .reserved = {}};
    const auto stored = answers.subspan(record.answer_offset, record.bytes);
    body_crc_ = crc32c(&header, sizeof(header), body_crc_);
    body_crc_ = crc32c(stored.data(), stored.size(), body_crc_);
    append(&header, sizeof(header));
    append(stored.data(), stored.size());
    body_bytes_ += sizeof(header) + stored.size();
    ++entries_;
  }
}

void SnapshotWriter::commit() {
  flush_buffer();
  FileHeader header{};
  std::memcpy(header.magic, kMagic, sizeof(kMagic));
  header.version = kSnapshotVersion;
  header.header_bytes = sizeof(FileHeader);
  header.saved_at_wall_ns = clock_.wall_ns;
  header.entries = entries_;
  header.body_bytes = body_bytes_;
  header.body_crc = body_crc_;
  header.header_crc = header_crc(header);
  if (::pwrite(fd_, &header, sizeof(header), 0) != static_cast<ssize_t>(sizeof(header)) ||
      ::fsync(fd_) != 0) {
    throw SnapshotError(temporary_ + ": cannot write: " + errno_text());
  }
  ::close(fd_);
  fd_ = -1;
  if (::rename(temporary_.c_str(), path_.c_str()) != 0) {
    throw SnapshotError(path_ + ": cannot replace: " + errno_text());
  }
  committed_ = true;
}

SnapshotLoad load_snapshot(Cache& cache, const std::string& path, SnapshotClock now) {
  const Mapping mapping(path);
  const std::span<const std::uint8_t> file = mapping.bytes();
  FileHeader header{};
  if (file.size() < sizeof(header) || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    throw SnapshotError(path + ": not a Heimdall cache snapshot");
  }
  std::memcpy(&header, file.data(), sizeof(header));
  if (header.version != kSnapshotVersion || header.header_bytes != sizeof(header)) {
    throw SnapshotError(path + ": snapshot format version " + std::to_string(header.version) +
                        "; this build reads version " + std::to_string(kSnapshotVersion));
  }
  if (header.header_crc != header_crc(header)) {
    throw SnapshotError(path + ": corrupt (its header's checksum does not match)");
  }
  const std::span<const std::uint8_t> body = file.subspan(sizeof(header));
  if (body.size() != header.body_bytes) {
    throw SnapshotError(path + ": truncated or extended: " + std::to_string(body.size()) +
                        " bytes of entries where the header says " +
                        std::to_string(header.body_bytes));
  }
  if (crc32c(body.data(), body.size(), 0) != header.body_crc) {
    throw SnapshotError(path + ": corrupt (the entries' checksum does not match)");
  }
  std::string problem;
  if (!for_each_record(body, header.entries, problem, [](const Record&) {})) {
    throw SnapshotError(path + ": " + problem);
  }

  SnapshotLoad load{.saved_at_wall_ns = header.saved_at_wall_ns};
  std::vector<std::uint8_t> aged(EntryPool::kLargestBlock);
  for_each_record(body, header.entries, problem, [&](const Record& record) {
    const RecordHeader& entry = record.header;
    // A clock set back since: counted as no time passed.
    const std::uint64_t age_ns =
        now.wall_ns > entry.stored_at_wall_ns ? now.wall_ns - entry.stored_at_wall_ns : 0;
    const std::uint64_t age_s = age_ns / kNsPerSecond;
    if (age_s >= entry.ttl_s) {
      ++load.expired;
      return;
    }
    dns::QuestionKey key;
    key.qtype = entry.qtype;
    key.qclass = entry.qclass;
    key.flags = entry.qflags;
    std::size_t name_at = dns::kHeaderSize;
    if (dns::read_name(stored_message(record.stored), name_at, &key.name) != dns::ParseError::Ok) {
      return;  // never: stored_form_is_sound checked the name above
    }
    std::memcpy(aged.data(), record.stored.data(), record.stored.size());
    const std::span<std::uint8_t> stored(aged.data(), record.stored.size());
    age_stored_ttls(stored, static_cast<std::uint32_t>(age_s));
    // Stored the fraction of a second ago that the whole seconds above leave out.
    const std::uint64_t fraction = std::min(age_ns - age_s * kNsPerSecond, now.monotonic_ns);
    const auto kind = static_cast<AnswerKind>(entry.kind);
    if (cache.restore(key, kind, entry.ttl_s - static_cast<std::uint32_t>(age_s), stored,
                      now.monotonic_ns - fraction)) {
      ++load.restored;
    } else {
      ++load.no_room;
    }
  });
  return load;
}

}  // namespace heimdall::cache
