#include "heimdall/filter/rpz.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "heimdall/filter/list_parser.hpp"

namespace heimdall::filter {
namespace {

// Without $TTL, RFC 1035 would take the last TTL given; a fixed default is as good
// for policy data and does not depend on record order.
constexpr std::uint32_t kDefaultTtl = 3600;

using Wire = std::vector<std::uint8_t>;

// One physical line with its comment cut, and how far it opens (+) or closes (-)
// parentheses; both only outside quoted strings.
struct LineScan {
  std::string_view content;
  int depth_change = 0;
};

LineScan scan_line(std::string_view line) {
  LineScan scan{line, 0};
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == ';') {
      scan.content = line.substr(0, i);
      break;
    } else if (!quoted && (c == '(' || c == ')')) {
      scan.depth_change += c == '(' ? 1 : -1;
    }
  }
  return scan;
}

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t'; });
}

Wire folded(std::span<const std::uint8_t> name) {
  Wire key(name.size());
  std::transform(name.begin(), name.end(), key.begin(), dns::fold);
  return key;
}

std::string as_key(const Wire& wire) { return {wire.begin(), wire.end()}; }

// Offsets of each label of an uncompressed wire name, first to last.
std::vector<std::size_t> label_starts(const Wire& name) {
  std::vector<std::size_t> starts;
  for (std::size_t position = 0; position < name.size() && name[position] != 0;
       position += 1u + name[position]) {
    starts.push_back(position);
  }
  return starts;
}

bool label_is(const Wire& name, std::size_t start, std::string_view text) {
  return name[start] == text.size() &&
         std::equal(text.begin(), text.end(), name.begin() + static_cast<long>(start) + 1);
}

// The labels of a name above the zone's origin, with a root byte: the trigger as
// a query name, "*" first for a wildcard owner.
struct Trigger {
  Wire relative;  // "*.ads.example.com." or "ads.example.com."
  Wire name;      // the trie's name: `relative` without a leading "*"
  Scope scope = Scope::Exact;
};

enum class Placement : std::uint8_t { Apex, Outside, Unsupported, Trigger };

Placement place(const Wire& owner, const Wire& origin, Trigger& trigger) {
  if (owner == origin) return Placement::Apex;
  const std::vector<std::size_t> starts = label_starts(owner);
  const auto suffix = std::find_if(starts.begin(), starts.end(), [&](std::size_t start) {
    return owner.size() - start == origin.size() &&
           std::equal(origin.begin(), origin.end(), owner.begin() + static_cast<long>(start));
  });
  if (suffix == starts.end() || suffix == starts.begin()) return Placement::Outside;
  // The label just above the origin names the trigger type of the draft's
  // non-QNAME triggers.
  const std::size_t last = *(suffix - 1);
  for (const std::string_view kind : {"rpz-ip", "rpz-client-ip", "rpz-nsdname", "rpz-nsip"}) {
    if (label_is(owner, last, kind)) return Placement::Unsupported;
  }
  trigger.relative.assign(owner.begin(), owner.begin() + static_cast<long>(*suffix));
  trigger.relative.push_back(0);
  const bool wildcard = label_is(owner, 0, "*");
  trigger.scope = wildcard ? Scope::Below : Scope::Exact;
  trigger.name.assign(trigger.relative.begin() + (wildcard ? 2 : 0), trigger.relative.end());
  return Placement::Trigger;
}

enum class Policy : std::uint8_t { NxDomain, NoData, Passthru, LocalData, Unsupported };

// What a CNAME's target means (draft-vixie-dnsop-dns-rpz §3).
Policy cname_policy(const Wire& target, const Trigger& trigger) {
  static const Wire kRoot = {0};
  static const Wire kWildcard = {1, '*', 0};
  static const Wire kPassthru = {12, 'r', 'p', 'z', '-', 'p', 'a', 's', 's', 't', 'h', 'r', 'u', 0};
  if (target == kRoot) return Policy::NxDomain;
  if (target == kWildcard) return Policy::NoData;
  // The older PASSTHRU encoding: a CNAME to the trigger name itself.
  if (target == kPassthru || target == trigger.relative) return Policy::Passthru;
  // rpz-drop., rpz-tcp-only. and whatever else the draft reserves as rpz-*.
  const bool single_label = target.size() == target[0] + 2u;
  if (single_label && target[0] > 4 && std::equal(target.begin() + 1, target.begin() + 5, "rpz-")) {
    return Policy::Unsupported;
  }
  // "*.garden.example." asks for the query name prepended to the target.
  if (label_is(target, 0, "*")) return Policy::Unsupported;
  return Policy::LocalData;
}

class ZoneReader {
 public:
  ZoneReader(const RpzPolicies& policies, TrieBuilder& trie, LocalDataBuilder& data,
             RpzReport& report)
      : policies_(policies), trie_(trie), data_(data), report_(report) {}

  void parse(std::string_view text) {
    std::string pending;
    std::size_t pending_line = 0;
    int depth = 0;
    std::size_t line = 0;
    for (std::size_t start = 0; start < text.size();) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view raw = text.substr(start, end - start);
      start = end + 1;
      ++line;
      if (raw.ends_with('\r')) raw.remove_suffix(1);
      const LineScan scan = scan_line(raw);
      if (depth == 0) {
        pending.assign(scan.content);
        pending_line = line;
      } else {
        pending.append(" ").append(scan.content);
      }
      depth += scan.depth_change;
      if (depth < 0) {
        reject(pending_line);
        depth = 0;
      } else if (depth == 0) {
        entry(pending, pending_line);
      }
    }
    if (depth > 0) reject(pending_line);  // a parenthesis still open at the end
    report_.lines = line;
  }

 private:
  void reject(std::size_t line) {
    if (report_.rejected < RpzReport::kExamples) report_.first_rejected[report_.rejected] = line;
    ++report_.rejected;
  }

  void entry(const std::string& text, std::size_t line) {
    if (is_blank(text)) return;
    if (text[0] == '$') {
      if (!directive(text)) reject(line);
      return;
    }
    if (text[0] == ' ' || text[0] == '\t') {
      if (previous_owner_.empty()) return reject(line);
      if (!record(previous_owner_ + text)) reject(line);
      return;
    }
    if (!record(text)) reject(line);
  }

  bool directive(std::string_view text) {
    std::vector<std::string_view> words;
    for (std::size_t i = 0; i < text.size();) {
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
      const std::size_t start = i;
      while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
      if (i > start) words.push_back(text.substr(start, i - start));
    }
    if (words.size() != 2) return false;
    if (words[0] == "$TTL") return dns::parse_ttl(words[1], ttl_);
    if (words[0] != "$ORIGIN") return false;  // $INCLUDE, $GENERATE
    std::uint8_t wire[dns::kMaxNameWire];
    const std::size_t length = dns::zone_name(words[1], origin_text_, wire);
    if (length <= 1) return false;
    char origin[dns::kMaxNameWire * 4 + 2];
    dns::name_to_text({wire, length}, origin);
    origin_text_ = origin;
    // Later $ORIGINs only shorten the names that follow; triggers stay relative
    // to the zone.
    if (zone_.empty()) zone_ = folded({wire, length});
    return true;
  }

  bool record(const std::string& text) {
    std::string error;
    if (!dns::parse_record(text, origin_text_, ttl_, record_, error)) return false;
    char owner[dns::kMaxNameWire * 4 + 2];
    dns::name_to_text(record_.owner_wire(), owner);
    previous_owner_ = owner;
    const Wire owner_key = folded(record_.owner_wire());
    if (zone_.empty()) {
      // No $ORIGIN: the first SOA's owner is the zone, unless it is the root,
      // which only an `@` with no origin to stand for can produce.
      if (record_.type != dns::rrtype::SOA || record_.owner_length <= 1) return false;
      zone_ = owner_key;
      origin_text_ = owner;
    }
    Trigger trigger;
    switch (place(owner_key, zone_, trigger)) {
      case Placement::Apex:
        return true;
      case Placement::Outside:
        return false;
      case Placement::Unsupported:
        ++report_.unsupported;
        return true;
      case Placement::Trigger:
        break;
    }
    if (trigger.name.size() <= 1) return false;  // "*.<origin>" would block every name
    Policy policy = Policy::LocalData;
    if (record_.type == dns::rrtype::CNAME) {
      policy = cname_policy(folded(record_.rdata_wire()), trigger);
    }
    if (policy == Policy::Unsupported) {
      ++report_.unsupported;
      return true;
    }
    return policy == Policy::LocalData ? local_data(as_key(owner_key), trigger)
                                       : action(policy, as_key(owner_key), trigger);
  }

  // A policy CNAME is its owner's only record (RFC 1034 §3.6.2 holds in RPZ too).
  bool action(Policy policy, const std::string& owner, const Trigger& trigger) {
    if (!owners_.emplace(owner, policy).second) return false;
    bool added = false;
    switch (policy) {
      case Policy::Passthru:
        added = trie_.add(trigger.name, Action::Allow, trigger.scope, policies_.passthru);
        report_.passthru += added;
        break;
      case Policy::NxDomain:
        added = block(trigger, policies_.nxdomain, kNoIndex);
        report_.nxdomain += added;
        break;
      default:
        added = block(trigger, policies_.nodata, kNoIndex);
        report_.nodata += added;
        break;
    }
    report_.rules += added;
    return added;
  }

  // Every record of an owner goes to one LocalData owner; its first also adds the rule.
  bool local_data(const std::string& owner, const Trigger& trigger) {
    const auto [known, first] = owners_.emplace(owner, Policy::LocalData);
    if (known->second != Policy::LocalData) return false;
    const std::uint16_t index = data_.add(record_);
    if (index == kNoIndex) return false;
    if (!first) return true;
    if (!block(trigger, policies_.local_data, index)) return false;
    ++report_.local_data;
    ++report_.rules;
    return true;
  }

  bool block(const Trigger& trigger, std::uint16_t list, std::uint16_t data) {
    const bool added = data == kNoIndex
                           ? trie_.add(trigger.name, Action::Block, trigger.scope, list)
                           : trie_.add_answer(trigger.name, trigger.scope, list, data);
    if (!added) return false;
    // `name` and `*.name` are one trie node with one block response: the first.
    const auto [node, first] = responses_.emplace(as_key(trigger.name), std::pair{list, data});
    if (!first && node->second != std::pair{list, data}) ++report_.shared_response;
    return true;
  }

  const RpzPolicies& policies_;
  TrieBuilder& trie_;
  LocalDataBuilder& data_;
  RpzReport& report_;
  std::string origin_text_;  // completes relative names: the last $ORIGIN
  Wire zone_;                // folded; the first $ORIGIN, else the first SOA's owner
  std::uint32_t ttl_ = kDefaultTtl;
  std::string previous_owner_;
  std::unordered_map<std::string, Policy> owners_;  // folded owner wire -> its action
  std::unordered_map<std::string, std::pair<std::uint16_t, std::uint16_t>> responses_;
  // Large (rdata up to kMaxRdata), so one per reader rather than one per line.
  dns::RecordLine record_;
};

}  // namespace

RpzReport parse_rpz(std::string_view text, const RpzPolicies& policies, TrieBuilder& trie,
                    LocalDataBuilder& data) {
  RpzReport report;
  ZoneReader(policies, trie, data, report).parse(without_bom(text));
  return report;
}

}  // namespace heimdall::filter
