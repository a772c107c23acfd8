#include "heimdall/control/query_log_writer.hpp"

#include <time.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "heimdall/control/json_string.hpp"
#include "heimdall/dns/name.hpp"
#include "heimdall/stats/counter_table.hpp"

namespace heimdall::control {
namespace {

constexpr std::size_t kDrainBatch = 256;

std::FILE* open_for_append(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "ae");
  if (file == nullptr) {
    throw std::runtime_error("query log " + path + ": " + std::strerror(errno));
  }
  return file;
}

// A name may hold any byte: everything but printable ASCII is escaped.
void append_json_string(std::string& out, const char* text) {
  out += '"';
  append_json_escaped(out, text, HighBytes::Escape);
  out += '"';
}

}  // namespace

std::string query_log_line(const engine::QueryLogEntry& entry) {
  const time_t seconds = static_cast<time_t>(entry.unix_ns / 1'000'000'000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char time_text[80];
  std::snprintf(time_text, sizeof(time_text), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, static_cast<unsigned>(entry.unix_ns % 1'000'000'000 / 1000));
  char name[4 * dns::kMaxNameWire + 2] = "";
  if (entry.name_length > 0) {
    const std::size_t length = dns::name_to_text({entry.name, entry.name_length}, name);
    name[length < sizeof(name) ? length : sizeof(name) - 1] = 0;
  }
  std::string line = "{\"time\":\"";
  line += time_text;
  line += "\",\"client\":";
  append_json_string(line, entry.client.to_string().c_str());
  line += ",\"transport\":\"";
  line += entry.transport == net::Transport::Tcp ? "tcp" : "udp";
  line += "\",\"name\":";
  append_json_string(line, name);
  line += ",\"type\":" + std::to_string(entry.qtype);
  line += ",\"rcode\":" + std::to_string(entry.rcode);
  line += entry.truncated ? ",\"tc\":true" : ",\"tc\":false";
  line += ",\"size\":" + std::to_string(entry.size) + "}";
  return line;
}

QueryLogWriter::QueryLogWriter(engine::QueryLog& log, QueryLogFile file)
    : log_(log), file_(std::move(file)), out_(open_for_append(file_.path)) {
  std::fseek(out_, 0, SEEK_END);
  bytes_ = static_cast<std::uint64_t>(std::ftell(out_));
  thread_ = std::thread([this] { run(); });
}

QueryLogWriter::~QueryLogWriter() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  drain();
  if (out_ != nullptr) std::fclose(out_);
}

std::uint64_t QueryLogWriter::dropped() const {
  std::uint64_t total = 0;
  for (const auto& ring : log_.rings) total += ring->dropped();
  return total;
}

void QueryLogWriter::run() {
  while (!stop_.load(std::memory_order_acquire)) {
    if (drain() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::size_t QueryLogWriter::drain() {
  // Each ring has one consumer: the thread, or a caller flushing, one at a time.
  const std::lock_guard lock(drain_mutex_);
  std::size_t total = 0;
  for (const auto& ring : log_.rings) {
    for (;;) {
      const engine::QueryLogEntry* first = nullptr;
      const std::size_t count = ring->peek(&first, kDrainBatch);
      if (count == 0) break;
      for (std::size_t i = 0; i < count; ++i) write(first[i]);
      ring->release(count);
      total += count;
    }
  }
  if (total > 0 && out_ != nullptr) std::fflush(out_);
  return total;
}

void QueryLogWriter::write(const engine::QueryLogEntry& entry) {
  std::string line = query_log_line(entry);
  line += '\n';
  if (bytes_ + line.size() > file_.max_bytes && bytes_ > 0) rotate();
  if (out_ == nullptr || std::fwrite(line.data(), 1, line.size(), out_) != line.size()) {
    stats::bump(write_errors_);
    return;
  }
  bytes_ += line.size();
  stats::bump(written_);
}

// path.<keep> goes, path.<n> becomes path.<n+1>, path becomes path.1.
void QueryLogWriter::rotate() {
  if (out_ != nullptr) std::fclose(out_);
  if (file_.keep == 0) {
    std::remove(file_.path.c_str());
  } else {
    std::remove((file_.path + "." + std::to_string(file_.keep)).c_str());
    for (unsigned n = file_.keep; n > 1; --n) {
      std::rename((file_.path + "." + std::to_string(n - 1)).c_str(),
                  (file_.path + "." + std::to_string(n)).c_str());
    }
    std::rename(file_.path.c_str(), (file_.path + ".1").c_str());
  }
  // A file that cannot be opened again (disk full, directory gone) costs entries,
  // counted as write errors, and is tried again at the next one.
  out_ = std::fopen(file_.path.c_str(), "ae");
  bytes_ = 0;
}

}  // namespace heimdall::control
