#include "heimdall/filter/local_data.hpp"

#include <algorithm>
#include <cstring>

#include "heimdall/filter/block_answer.hpp"

namespace heimdall::filter {
namespace {

constexpr std::uint16_t kPointerToQuestion = 0xc00c;
constexpr std::size_t kFixedRecordSize = 12;   // owner pointer, type, class, TTL, rdlength
constexpr std::uint32_t kMaxTtl = 0x7fffffff;  // RFC 2181 §8

std::string folded(std::span<const std::uint8_t> name) {
  std::string key(name.size(), '\0');
  std::transform(name.begin(), name.end(), key.begin(),
                 [](std::uint8_t byte) { return static_cast<char>(dns::fold(byte)); });
  return key;
}

}  // namespace

std::uint16_t LocalDataBuilder::add(const dns::RecordLine& record, std::string* error) {
  auto refuse = [&](const char* message) {
    if (error != nullptr) *error = message;
    return kNoIndex;
  };
  const std::uint16_t index = owner_index(folded(record.owner_wire()), error);
  if (index == kNoIndex) return kNoIndex;
  std::vector<Pending>& records = owners_[index];
  const bool cname = record.type == dns::rrtype::CNAME;
  for (Pending& existing : records) {
    if (existing.type == record.type &&
        std::equal(existing.rdata.begin(), existing.rdata.end(), record.rdata,
                   record.rdata + record.rdata_length)) {
      existing.ttl = std::min(existing.ttl, record.ttl);
      return index;
    }
  }
  if (!records.empty() && (cname || records.front().type == dns::rrtype::CNAME)) {
    return refuse("a CNAME cannot share its owner with other records (RFC 1034 3.6.2)");
  }
  records.push_back({record.type, record.ttl, {record.rdata, record.rdata + record.rdata_length}});
  return index;
}

std::uint16_t LocalDataBuilder::owner_index(const std::string& folded_wire, std::string* error) {
  auto found = index_.find(folded_wire);
  if (found != index_.end()) return found->second;
  if (owners_.size() >= kNoIndex) {
    if (error != nullptr) *error = "more than 65535 owners of local data";
    return kNoIndex;
  }
  owners_.emplace_back();
  return index_.emplace(folded_wire, static_cast<std::uint16_t>(owners_.size() - 1)).first->second;
}

std::uint16_t LocalDataBuilder::add_wildcard(const dns::RecordLine& record, std::string* error) {
  const std::span<const std::uint8_t> owner = record.owner_wire();
  if (!is_wildcard_owner(owner)) {
    if (error != nullptr) *error = "not a wildcard owner (its first label is not *)";
    return kNoIndex;
  }
  const std::uint16_t wildcard = add(record, error);
  if (wildcard == kNoIndex) return kNoIndex;
  const std::uint16_t parent = owner_index(folded(owner.subspan(2)), error);
  if (parent != kNoIndex) wildcards_[parent] = wildcard;
  return parent;
}

LocalData LocalDataBuilder::build() const {
  LocalData data;
  data.owners_.reserve(owners_.size());
  for (std::vector<Pending> records : owners_) {
    // Grouped by type, each RRset with one TTL: the smallest of its records.
    std::stable_sort(records.begin(), records.end(),
                     [](const Pending& a, const Pending& b) { return a.type < b.type; });
    LocalData::Owner owner{static_cast<std::uint32_t>(data.records_.size()),
                           static_cast<std::uint32_t>(records.size()), kMaxTtl, false};
    for (std::size_t i = 0; i < records.size(); ++i) {
      std::uint32_t ttl = records[i].ttl;
      for (const Pending& other : records) {
        if (other.type == records[i].type) ttl = std::min(ttl, other.ttl);
      }
      owner.negative_ttl = std::min(owner.negative_ttl, ttl);
      owner.cname = owner.cname || records[i].type == dns::rrtype::CNAME;
      data.records_.push_back({static_cast<std::uint32_t>(data.rdata_.size()), ttl, records[i].type,
                               static_cast<std::uint16_t>(records[i].rdata.size())});
      data.rdata_.insert(data.rdata_.end(), records[i].rdata.begin(), records[i].rdata.end());
    }
    data.owners_.push_back(owner);
  }
  for (std::size_t i = 0; i < owners_.size(); ++i) {
    LocalData::Owner& owner = data.owners_[i];
    if (!owner.cname) continue;
    const LocalData::Record& cname = data.records_[owner.first];
    const auto target =
        index_.find(folded({data.rdata_.data() + cname.rdata_offset, cname.rdata_length}));
    // A name that holds only a wildcard has nothing of its own to chase to.
    if (target != index_.end() && !owners_[target->second].empty()) {
      owner.cname_target = target->second;
    }
  }
  for (const auto& [parent, wildcard] : wildcards_) data.owners_[parent].wildcard = wildcard;
  return data;
}

std::size_t LocalData::memory_bytes() const {
  return owners_.capacity() * sizeof(Owner) + records_.capacity() * sizeof(Record) +
         rdata_.capacity();
}

std::size_t LocalData::answer(const dns::ClientView& client, std::uint16_t qtype,
                              std::uint16_t data, std::uint16_t our_udp_size,
                              std::span<std::uint8_t> out) const {
  if (data >= owners_.size()) return 0;
  out = out.first(std::min<std::size_t>(out.size(), client.reply_limit));
  Segment segments[kMaxChain + 1];
  std::size_t count = 0;
  const Owner* owner = &owners_[data];
  while (owner->cname) {
    segments[count++] = {owner->first, std::size_t{owner->first} + owner->count};
    const bool asked_for_it = qtype == dns::rrtype::CNAME || qtype == dns::rrtype::ANY;
    if (asked_for_it || owner->cname_target == kNoIndex || count == kMaxChain) {
      return write_answer(client, segments, count, our_udp_size, out);
    }
    owner = &owners_[owner->cname_target];
  }
  std::size_t first = owner->first, last = owner->first + owner->count;
  if (qtype != dns::rrtype::ANY) {
    while (first < last && records_[first].type != qtype) ++first;
    std::size_t end = first;
    while (end < last && records_[end].type == qtype) ++end;
    last = end;
  }
  if (first != last) {
    segments[count++] = {first, last};
  } else if (count == 0) {
    const BlockResponse nodata{.mode = BlockMode::NoData, .ttl = owner->negative_ttl};
    const std::size_t written = build_block_answer(client, qtype, nodata, our_udp_size, out);
    if (written != 0) return written;
  }
  return write_answer(client, segments, count, our_udp_size, out);
}

// The segments' records as whole RRsets while they fit, each segment owned by the
// previous one's CNAME target (the first by the question's name). No segment is
// only asked for when not even the NODATA answer fitted, so it is truncated by
// definition.
std::size_t LocalData::write_answer(const dns::ClientView& client, const Segment* segments,
                                    std::size_t segment_count, std::uint16_t our_udp_size,
                                    std::span<std::uint8_t> out) const {
  const std::size_t opt_size = client.edns ? dns::kOptRecordSize : 0;
  std::size_t position = dns::kHeaderSize + client.question.size();
  if (position + opt_size > out.size()) return 0;
  std::memcpy(out.data() + dns::kHeaderSize, client.question.data(), client.question.size());
  const std::size_t room = out.size() - opt_size;
  bool truncated = segment_count == 0;
  std::uint16_t count = 0;
  std::uint16_t owner_pointer = kPointerToQuestion;
  for (std::size_t segment = 0; segment < segment_count && !truncated; ++segment) {
    const std::size_t last = segments[segment].last;
    std::uint16_t next_owner = owner_pointer;
    for (std::size_t set = segments[segment].first; set < last && !truncated;) {
      std::size_t end = set, size = 0;
      for (; end < last && records_[end].type == records_[set].type; ++end) {
        size += kFixedRecordSize + records_[end].rdata_length;
      }
      if (size > room - position) {
        truncated = true;
        break;
      }
      for (; set < end; ++set, ++count) {
        const Record& record = records_[set];
        std::uint8_t* p = out.data() + position;
        dns::store_u16(p, owner_pointer);
        dns::store_u16(p + 2, record.type);
        dns::store_u16(p + 4, dns::rrclass::IN);
        dns::store_u32(p + 6, record.ttl);
        dns::store_u16(p + 10, record.rdata_length);
        std::memcpy(p + kFixedRecordSize, rdata_.data() + record.rdata_offset, record.rdata_length);
        // The next name in the chain is this CNAME's target, written right here.
        if (record.type == dns::rrtype::CNAME) {
          next_owner = static_cast<std::uint16_t>(0xc000 | (position + kFixedRecordSize));
        }
        position += kFixedRecordSize + record.rdata_length;
      }
    }
    owner_pointer = next_owner;
  }
  dns::Header header;
  header.id = client.id;
  header.flags = dns::reply_flags(client.flags, false, 0, truncated);
  header.qdcount = 1;
  header.ancount = count;
  header.arcount = client.edns ? 1 : 0;
  header.write(out.data());
  if (client.edns) {
    position += dns::write_opt(
        out.subspan(position),
        dns::OptSpec{.udp_size = our_udp_size, .extended_rcode = 0, .dnssec_ok = client.dnssec_ok});
  }
  return position;
}

}  // namespace heimdall::filter
