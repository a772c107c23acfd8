// The filter issue's targets on real-shaped list files ("Trie blocking at ISP scale"):
// a 1M-rule list parsed and built in under 1 s, under 64 bytes per rule, and a lookup
// under 100 ns whatever the number of rules, blocked or not; a 5M-rule list loaded.
//
// The lists come from perf/gen_blocklist.py (see perf/RESULTS.md, "Filter at ISP
// scale"). For each list file:
//   BM_ReloadBuild/<file>   what a reload does with one list's text: parse_list into a
//                           TrieBuilder, then build(). The file is read once, before;
//                           counters: parse and build milliseconds, rules, the trie's
//                           bytes per rule (DomainTrie::memory_bytes), the growth of
//                           resident memory while building (peak, VmHWM) and once the
//                           builder is gone with the trie kept (kept), per rule.
//   BM_Lookup/<file>/rules:N/{blocked,unblocked}
//                           one DomainTrie::lookup of a folded name. The trie holds the
//                           list's first N rules (N = 1,000, 100,000 and all of them
//                           for the first list; all of them for the others). Blocked:
//                           65,536 names drawn from those N rules; unblocked: the first
//                           65,536 names of --unblocked (names no rule of the list
//                           matches). Both cycle in order, so most probes of a large
//                           trie miss the CPU caches as on a busy node.
//
// usage: filter_scale_bench --list=FILE [--list=FILE ...] --unblocked=FILE [benchmark flags]
//        or HEIMDALL_FILTER_LISTS=FILE[:FILE...] HEIMDALL_FILTER_UNBLOCKED=FILE filter_scale_bench
// Without a list it has nothing to measure and says so (exit 0): it runs from
// `meson test --benchmark` only when those variables are set.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "heimdall/filter/domain_trie.hpp"
#include "heimdall/filter/list_parser.hpp"

namespace {

using namespace heimdall;

struct ListFile {
  std::string path;
  std::string label;  // the file's base name, for benchmark names
  std::string text;
  std::vector<std::string> names;  // every rule's name, in order
  std::vector<std::size_t> ends;   // text offset just past each rule's line
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    std::exit(1);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

bool is_local_name(std::string_view name) {
  return name == "localhost" || name == "localhost.localdomain" || name == "broadcasthost" ||
         name == "0.0.0.0";
}

// The names of a list written by gen_blocklist.py (hosts, domains or adblock `||name^`):
// enough to pick blocked names and cut the list after N rules, not a parser.
void index_rules(ListFile& list) {
  std::size_t start = 0;
  const std::string_view text = list.text;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#' || line[0] == '!' || line[0] == '[') continue;
    const std::size_t space = line.find_last_of(" \t");
    if (space != std::string_view::npos) line.remove_prefix(space + 1);  // hosts: the name
    if (line.starts_with("||")) line.remove_prefix(2);
    if (line.ends_with('^')) line.remove_suffix(1);
    if (line.empty() || is_local_name(line)) continue;
    list.names.emplace_back(line);
    list.ends.push_back(std::min(start, text.size()));
  }
}

std::vector<std::string> read_names(const std::string& path) {
  std::vector<std::string> names;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t end = line.find_first_of(" \t");
    if (!line.empty()) names.push_back(line.substr(0, end));  // dnsperf format: "name A"
  }
  return names;
}

dns::NameKey key_of(const std::string& text) {
  dns::NameKey key;
  key.length = static_cast<std::uint8_t>(dns::name_from_text(text.c_str(), key.wire));
  for (std::size_t i = 0; i < key.length; ++i) key.wire[i] = dns::fold(key.wire[i]);
  for (std::size_t at = 0; at < key.length && key.wire[at] != 0; at += 1u + key.wire[at]) {
    ++key.label_count;
  }
  return key;
}

// kB from /proc/self/status ("VmRSS", "VmHWM").
long status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t length = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, length, field) == 0 && line.size() > length && line[length] == ':') {
      return std::strtol(line.c_str() + length + 1, nullptr, 10);
    }
  }
  return -1;
}

// Resets VmHWM to the current VmRSS (Linux 4.0+); false where not allowed.
bool reset_peak() {
  std::FILE* file = std::fopen("/proc/self/clear_refs", "w");
  if (file == nullptr) return false;
  const bool ok = std::fputs("5", file) >= 0;
  return std::fclose(file) == 0 && ok;
}

filter::ListOptions options() {
  // As FilterLoader does for a block list; no regex lines in these lists.
  return filter::ListOptions{.format = filter::ListFormat::Auto,
                             .action = filter::Action::Block,
                             .match = std::nullopt,
                             .list = 0,
                             .regexes = nullptr};
}

void BM_ReloadBuild(benchmark::State& state, const ListFile* list) {
  std::size_t rules = 0, memory = 0;
  double parse_ms = 0, build_ms = 0, peak_kb = 0, kept_kb = 0;
  bool peak_ok = true;
  for (auto _ : state) {
    state.PauseTiming();
    const long before_kb = status_kb("VmRSS");
    peak_ok = reset_peak() && peak_ok;
    state.ResumeTiming();

    const auto started = std::chrono::steady_clock::now();
    auto builder = std::make_unique<filter::TrieBuilder>();
    const filter::ListReport report = filter::parse_list(list->text, options(), *builder);
    const auto parsed = std::chrono::steady_clock::now();
    const filter::DomainTrie trie = builder->build(7);
    const auto built = std::chrono::steady_clock::now();
    builder.reset();  // a reload drops its builder once the snapshot is built

    state.PauseTiming();
    parse_ms = std::chrono::duration<double, std::milli>(parsed - started).count();
    build_ms = std::chrono::duration<double, std::milli>(built - parsed).count();
    peak_kb = static_cast<double>(status_kb("VmHWM") - before_kb);
    kept_kb = static_cast<double>(status_kb("VmRSS") - before_kb);
    rules = report.rules;
    memory = trie.memory_bytes();
    benchmark::DoNotOptimize(trie.nodes());
    state.ResumeTiming();
  }
  const double per_rule = 1.0 / static_cast<double>(rules == 0 ? 1 : rules);
  state.counters["rules"] = static_cast<double>(rules);
  state.counters["parse_ms"] = parse_ms;
  state.counters["build_ms"] = build_ms;
  state.counters["trie_B_per_rule"] = static_cast<double>(memory) * per_rule;
  state.counters["trie_MiB"] = static_cast<double>(memory) / (1 << 20);
  if (peak_ok) state.counters["rss_peak_B_per_rule"] = peak_kb * 1024 * per_rule;
  state.counters["rss_kept_B_per_rule"] = kept_kb * 1024 * per_rule;
}

// One trie at a time, kept while its benchmarks run (they are registered together).
struct BuiltTrie {
  const ListFile* list = nullptr;
  std::size_t rules = 0;
  std::unique_ptr<filter::DomainTrie> trie;
};
BuiltTrie current;

const filter::DomainTrie& trie_of(const ListFile* list, std::size_t rules) {
  if (current.list != list || current.rules != rules) {
    current.trie.reset();
    filter::TrieBuilder builder;
    const std::string_view text = std::string_view(list->text).substr(0, list->ends[rules - 1]);
    filter::parse_list(text, options(), builder);
    current = {list, rules, std::make_unique<filter::DomainTrie>(builder.build(7))};
  }
  return *current.trie;
}

constexpr std::size_t kQueries = 65536;

// `burst` names at a time, as the engine decides a burst: every name started,
// then advanced, then finished (DomainTrie::Walk); 1 is the plain lookup().
void BM_Lookup(benchmark::State& state, const ListFile* list, std::size_t rules,
               const std::vector<std::string>* unblocked, std::size_t burst) {
  const filter::DomainTrie& trie = trie_of(list, rules);
  std::vector<dns::NameKey> queries;
  queries.reserve(kQueries);
  if (unblocked == nullptr) {
    std::mt19937_64 rng(rules);
    for (std::size_t i = 0; i < kQueries; ++i)
      queries.push_back(key_of(list->names[rng() % rules]));
  } else {
    for (std::size_t i = 0; i < kQueries; ++i) {
      queries.push_back(key_of((*unblocked)[i % unblocked->size()]));
    }
  }
  std::size_t next = 0, blocked = 0;
  std::vector<filter::DomainTrie::Walk> walks(burst);
  for (auto _ : state) {
    if (burst == 1) {
      blocked += trie.lookup(queries[next]).verdict == filter::Decision::Verdict::Block;
    } else {
      for (std::size_t i = 0; i < burst; ++i) trie.start(queries[next + i], walks[i]);
      for (std::size_t i = 0; i < burst; ++i) trie.advance(queries[next + i], walks[i]);
      for (std::size_t i = 0; i < burst; ++i) {
        blocked += trie.finish(queries[next + i], walks[i], filter::kAllLists).verdict ==
                   filter::Decision::Verdict::Block;
      }
    }
    next = (next + burst) & (kQueries - 1);
  }
  const std::size_t names = static_cast<std::size_t>(state.iterations()) * burst;
  const std::size_t expected = unblocked == nullptr ? names : 0;
  if (blocked != expected) state.SkipWithError("a lookup got the wrong verdict");
  state.counters["rules"] = static_cast<double>(trie.rules());
  state.SetItemsProcessed(static_cast<std::int64_t>(names));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> paths;
  std::string unblocked_path;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--list=")) {
      paths.emplace_back(arg.substr(7));
    } else if (arg.starts_with("--unblocked=")) {
      unblocked_path = arg.substr(12);
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (paths.empty()) {
    if (const char* env = std::getenv("HEIMDALL_FILTER_LISTS")) {
      std::string_view value = env;
      while (!value.empty()) {
        const std::size_t colon = value.find(':');
        if (colon != 0) paths.emplace_back(value.substr(0, colon));
        if (colon == std::string_view::npos) break;
        value.remove_prefix(colon + 1);
      }
    }
  }
  if (unblocked_path.empty()) {
    if (const char* env = std::getenv("HEIMDALL_FILTER_UNBLOCKED")) unblocked_path = env;
  }
  if (paths.empty() || unblocked_path.empty()) {
    std::fprintf(stderr,
                 "filter_scale_bench: no list given; generate one with perf/gen_blocklist.py and "
                 "pass --list=FILE --unblocked=FILE (or HEIMDALL_FILTER_LISTS and "
                 "HEIMDALL_FILTER_UNBLOCKED). Nothing measured.\n");
    return 0;
  }

  static std::vector<std::unique_ptr<ListFile>> lists;
  for (const std::string& path : paths) {
    auto list = std::make_unique<ListFile>();
    list->path = path;
    list->label = path.substr(path.find_last_of('/') + 1);
    list->text = read_file(path);
    index_rules(*list);
    if (list->names.empty()) {
      std::fprintf(stderr, "%s: no rules found\n", path.c_str());
      return 1;
    }
    lists.push_back(std::move(list));
  }
  static const std::vector<std::string> unblocked = read_names(unblocked_path);
  if (unblocked.empty()) {
    std::fprintf(stderr, "%s: no names\n", unblocked_path.c_str());
    return 1;
  }

  for (const auto& list : lists) {
    benchmark::RegisterBenchmark(("BM_ReloadBuild/" + list->label).c_str(), BM_ReloadBuild,
                                 list.get())
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1)
        ->UseRealTime();
  }
  for (const auto& list : lists) {
    std::vector<std::size_t> sizes;
    if (list == lists.front()) {
      for (const std::size_t size : {std::size_t{1'000}, std::size_t{100'000}}) {
        if (size < list->names.size()) sizes.push_back(size);
      }
    }
    sizes.push_back(list->names.size());
    for (const std::size_t size : sizes) {
      for (const std::size_t burst : {std::size_t{1}, std::size_t{32}}) {
        const std::string name = "BM_Lookup/" + list->label + "/rules:" + std::to_string(size) +
                                 "/burst:" + std::to_string(burst);
        benchmark::RegisterBenchmark((name + "/blocked").c_str(), BM_Lookup, list.get(), size,
                                     nullptr, burst);
        benchmark::RegisterBenchmark((name + "/unblocked").c_str(), BM_Lookup, list.get(), size,
                                     &unblocked, burst);
      }
    }
  }

  int count = static_cast<int>(rest.size());
  benchmark::Initialize(&count, rest.data());
  if (benchmark::ReportUnrecognizedArguments(count, rest.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
