#include "heimdall/control/filter_loader.hpp"

#include <chrono>
#include <filesystem>
#include <random>
#include <system_error>

#include "heimdall/control/list_fetch.hpp"
#include "heimdall/filter/list_parser.hpp"
#include "heimdall/filter/rpz.hpp"

namespace heimdall::control {
namespace {

std::uint32_t mask_of(const std::vector<net::Endpoint>& all,
                      const std::vector<net::Endpoint>& servers) {
  std::uint32_t mask = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (const auto& server : servers) {
      if (all[i] == server) mask |= std::uint32_t{1} << i;
    }
  }
  return mask;
}

// Lists given by relative path live next to the configuration file; the embedded
// configuration has no file, so they are relative to the working directory.
std::filesystem::path base_directory(const Config& config) {
  if (config.source.empty() || config.source.front() == '<') {
    return std::filesystem::current_path();
  }
  return std::filesystem::absolute(config.source).parent_path();
}

// A file name for a list's last good copy: its name with anything but letters,
// digits, '-' and '_' replaced, so no list name can reach outside the directory.
std::string copy_name(const std::string& list_name) {
  std::string name;
  for (const char c : list_name) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_';
    name += plain ? c : '_';
  }
  return name + ".list";
}

void note_rejected(ListLoad& status, const std::size_t* lines, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    if (lines[i] != 0) status.first_rejected.push_back(lines[i]);
  }
}

// A list's policies (trie list ids): one for a list of rules, four for an RPZ zone
// (NXDOMAIN, NODATA, PASSTHRU, local data; the last two answer by themselves).
// Returns the mask of its policies.
filter::ListMask add_policies(const FilterListConfig& list, std::uint16_t index,
                              const filter::BlockResponse& default_response,
                              std::vector<filter::Policy>& policies) {
  const auto first = static_cast<unsigned>(policies.size());
  if (list.kind != ListKind::Rpz) {
    policies.push_back({index, list.response.value_or(default_response)});
    return filter::ListMask{1} << first;
  }
  for (const filter::BlockMode mode : {filter::BlockMode::NxDomain, filter::BlockMode::NoData,
                                       filter::BlockMode::NxDomain, filter::BlockMode::NxDomain}) {
    filter::BlockResponse response = default_response;
    response.mode = mode;
    policies.push_back({index, response});
  }
  return filter::ListMask{0xf} << first;
}

// Parses one list's text into the builders and reports what it gave in `status`.
void parse_into(const FilterListConfig& list, std::uint16_t first_policy, std::string_view text,
                filter::TrieBuilder& trie, filter::RegexSetBuilder& regexes,
                filter::LocalDataBuilder& local, ListLoad& status) {
  if (list.kind == ListKind::Rpz) {
    const auto policy = [&](unsigned offset) {
      return static_cast<std::uint16_t>(first_policy + offset);
    };
    const filter::RpzReport report = filter::parse_rpz(
        text, filter::RpzPolicies{policy(0), policy(1), policy(2), policy(3)}, trie, local);
    status.format = "rpz";
    status.rules = report.rules;
    status.rejected = report.rejected;
    status.unsupported = report.unsupported;
    note_rejected(status, report.first_rejected, filter::RpzReport::kExamples);
    return;
  }
  // Address space for the rules: a rule takes at most its line and a few bytes.
  trie.reserve(2 * text.size());
  const filter::ListOptions options{.format = list.format,
                                    .action = list.action,
                                    .match = list.match,
                                    .list = first_policy,
                                    .regexes = &regexes};
  const filter::ListReport report = filter::parse_list(text, options, trie);
  status.format = filter::to_string(report.format);
  status.rules = report.rules;
  status.regex_rules = report.regex_rules;
  status.rejected = report.rejected;
  status.skipped = report.skipped;
  status.first_regex_error = report.first_regex_error;
  note_rejected(status, report.first_rejected, filter::ListReport::kExamples);
}

// The operator's local records (checked at configuration load, so a refusal here
// is only reported).
void add_local_records(const std::vector<std::string>& records, filter::TrieBuilder& trie,
                       filter::LocalDataBuilder& local, FilterLoad& result) {
  for (const std::string& text : records) {
    dns::RecordLine record;
    std::string error;
    std::uint16_t data = filter::kNoIndex;
    const bool parsed = dns::parse_record(text, "", 3600, record, error);
    const bool wildcard = parsed && filter::is_wildcard_owner(record.owner_wire());
    if (parsed) data = wildcard ? local.add_wildcard(record, &error) : local.add(record, &error);
    if (data == filter::kNoIndex) {
      result.local_record_errors.push_back("'" + text + "': " + error);
      continue;
    }
    if (wildcard) {
      trie.add_local_below(record.owner_wire().subspan(2), data);
    } else {
      trie.add_local(record.owner_wire(), data);
    }
    ++result.local_records;
  }
}

// Each group's networks, mapped to the policies of its lists.
filter::ClientGroups client_groups(const FilterConfig& filter,
                                   const std::vector<filter::ListMask>& list_policies) {
  filter::ClientGroupsBuilder groups;
  for (const ClientGroupConfig& group : filter.groups) {
    filter::ListMask lists = 0;
    for (const std::string& name : group.lists) {
      for (std::size_t i = 0; i < filter.lists.size(); ++i) {
        if (filter.lists[i].name == name) lists |= list_policies[i];
      }
    }
    const unsigned index = groups.add_group(lists);
    for (const filter::Prefix& prefix : group.clients) groups.add_prefix(index, prefix);
  }
  return groups.build(filter::kAllLists);
}

}  // namespace

std::vector<std::uint32_t> zone_server_masks(const UpstreamsConfig& upstreams) {
  const std::vector<net::Endpoint> all = all_upstream_servers(upstreams);
  std::vector<std::uint32_t> masks;
  for (const auto& zone : upstreams.forward_zones) masks.push_back(mask_of(all, zone.servers));
  return masks;
}

std::uint32_t default_server_mask(const UpstreamsConfig& upstreams) {
  std::vector<net::Endpoint> defaults;
  for (const auto& server : upstreams.servers) defaults.push_back(server.address);
  return mask_of(all_upstream_servers(upstreams), defaults);
}

FilterLoader::FilterLoader(const Config& config, unsigned workers)
    : config_(config), workers_(workers) {
  const std::filesystem::path base = base_directory(config);
  for (const FilterListConfig& list : config.filter.lists) {
    Source source;
    if (is_url(list.source)) {
      source.location = list.source;
      source.last_good = (std::filesystem::path(config.filter.state_dir) / copy_name(list.name));
    } else {
      source.location = (base / list.source).lexically_normal().string();
      files_.push_back(source.location);
    }
    sources_.push_back(std::move(source));
  }
}

FilterLoad FilterLoader::load(const std::vector<bool>& in_force) const {
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed_ns = [&] {
    return static_cast<std::uint64_t>(
        std::chrono::nanoseconds(std::chrono::steady_clock::now() - started).count());
  };
  FilterLoad result;
  filter::TrieBuilder trie;
  filter::RegexSetBuilder regexes;
  filter::LocalDataBuilder local;
  filter::SnapshotParts parts;
  std::vector<filter::ListMask> list_policies;

  if (!config_.filter.lists.empty()) {
    // The last good copies need their directory; without it URLs still load,
    // they just have no fallback (the fetch reports the copy not kept).
    std::error_code ignored;
    std::filesystem::create_directories(config_.filter.state_dir, ignored);
  }
  const FetchLimits limits{
      .connect_timeout_ms = std::min(5000u, config_.filter.download_timeout_ms),
      .timeout_ms = config_.filter.download_timeout_ms,
      .max_bytes = config_.filter.download_max_bytes};
  parts.extended_error = config_.filter.extended_error;
  parts.extended_error_names_list = config_.filter.extended_error_text;
  for (std::size_t index = 0; index < config_.filter.lists.size(); ++index) {
    const FilterListConfig& list = config_.filter.lists[index];
    const Source& source = sources_[index];
    const auto first_policy = static_cast<std::uint16_t>(parts.policies.size());
    const filter::ListMask mask = add_policies(list, static_cast<std::uint16_t>(index),
                                               config_.filter.response, parts.policies);
    list_policies.push_back(mask);
    parts.list_names.push_back(list.name);

    ListLoad& status = result.lists.emplace_back();
    status.name = list.name;
    status.source = source.location;
    const FetchedList fetched = fetch_list(source.location, source.last_good, limits);
    status.read = fetched.ok;
    status.from_last_good = fetched.from_last_good;
    status.error = fetched.error;
    if (!fetched.ok) {
      if (index < in_force.size() && in_force[index]) {
        result.duration_ns = elapsed_ns();
        return result;
      }
      continue;
    }
    parse_into(list, first_policy, fetched.text, trie, regexes, local, status);
  }

  add_local_records(config_.local_records, trie, local, result);
  for (std::size_t zone = 0; zone < config_.upstreams.forward_zones.size(); ++zone) {
    std::uint8_t wire[dns::kMaxNameWire];
    const std::size_t length =
        dns::name_from_text(config_.upstreams.forward_zones[zone].zone.c_str(), wire);
    trie.add_zone({wire, length}, static_cast<std::uint16_t>(zone));
  }
  parts.zone_servers = zone_server_masks(config_.upstreams);

  parts.trie =
      std::move(trie).build(std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32));
  parts.regexes = regexes.build(workers_);
  parts.local = local.build();
  if (!config_.filter.groups.empty()) parts.groups = client_groups(config_.filter, list_policies);
  result.snapshot = std::make_unique<filter::Snapshot>(std::move(parts));
  result.duration_ns = elapsed_ns();
  return result;
}

}  // namespace heimdall::control
