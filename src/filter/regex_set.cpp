#include "heimdall/filter/regex_set.hpp"

#include <hs/hs.h>

#include <cstring>
#include <stdexcept>
#include <utility>

namespace heimdall::filter {
namespace {

// Every rule gets the same flags alone and in the set, so a pattern accepted by
// add() cannot fail the set for a reason of its own making.
constexpr unsigned kFlags = HS_FLAG_CASELESS | HS_FLAG_DOTALL | HS_FLAG_SINGLEMATCH;

// A wire name of at most 255 bytes is at most 253 characters of dotted text.
constexpr std::size_t kMaxText = dns::kMaxNameWire - 2;
constexpr std::size_t kBadName = static_cast<std::size_t>(-1);

// The folded wire name as "ads.example.com"; 0 for the root, kBadName for a key
// that is not a well-formed name (never read past `length`).
std::size_t to_text(const dns::NameKey& name, char (&out)[kMaxText]) {
  std::size_t position = 0;
  std::size_t written = 0;
  for (;;) {
    if (position >= name.length) return kBadName;
    const std::size_t label = name.wire[position];
    if (label == 0) return written;
    if (label > dns::kMaxLabel || position + 1 + label >= name.length) return kBadName;
    const std::size_t dot = written == 0 ? 0 : 1;
    if (written + dot + label > kMaxText) return kBadName;
    if (dot != 0) out[written++] = '.';
    std::memcpy(out + written, name.wire + position + 1, label);
    written += label;
    position += 1 + label;
  }
}

template <typename Rule>
struct Scan {
  const Rule* rules;
  ListMask lists = kAllLists;
  bool allow = false;
  bool block = false;
  std::uint16_t list = 0;
};

template <typename Rule>
int on_match(unsigned id, unsigned long long /*from*/, unsigned long long /*to*/,
             unsigned /*flags*/, void* context) {
  auto& scan = *static_cast<Scan<Rule>*>(context);
  const Rule& rule = scan.rules[id];
  if (!(scan.lists & (ListMask{1} << rule.list))) return 0;  // not the client's list
  if (rule.action == Action::Allow) {
    scan.allow = true;
    scan.list = rule.list;
    return 1;  // nothing can beat an allow: stop the scan
  }
  if (!scan.block || rule.list < scan.list) scan.list = rule.list;
  scan.block = true;
  return 0;
}

std::string compile_message(hs_compile_error_t* error) {
  std::string message = error != nullptr && error->message != nullptr
                            ? error->message
                            : "unknown Hyperscan compile error";
  hs_free_compile_error(error);
  return message;
}

}  // namespace

RegexSet::RegexSet() = default;

RegexSet::~RegexSet() { release(); }

RegexSet::RegexSet(RegexSet&& other) noexcept
    : database_(std::exchange(other.database_, nullptr)),
      scratch_(std::exchange(other.scratch_, {})),
      rules_(std::exchange(other.rules_, {})),
      memory_bytes_(std::exchange(other.memory_bytes_, 0)),
      has_allow_(std::exchange(other.has_allow_, false)) {}

RegexSet& RegexSet::operator=(RegexSet&& other) noexcept {
  if (this != &other) {
    release();
    database_ = std::exchange(other.database_, nullptr);
    scratch_ = std::exchange(other.scratch_, {});
    rules_ = std::exchange(other.rules_, {});
    memory_bytes_ = std::exchange(other.memory_bytes_, 0);
    has_allow_ = std::exchange(other.has_allow_, false);
  }
  return *this;
}

void RegexSet::release() noexcept {
  for (hs_scratch* scratch : scratch_) hs_free_scratch(scratch);
  scratch_.clear();
  hs_free_database(database_);
  database_ = nullptr;
  rules_.clear();
  memory_bytes_ = 0;
  has_allow_ = false;
}

Decision RegexSet::match(const dns::NameKey& name, unsigned worker, ListMask lists) const {
  Decision decision;
  if (database_ == nullptr || worker >= scratch_.size()) return decision;
  char text[kMaxText];
  const std::size_t length = to_text(name, text);
  // The root has no text to match, and Hyperscan never reports an empty match
  // (every rule was compiled without HS_FLAG_ALLOWEMPTY).
  if (length == 0 || length == kBadName) return decision;
  Scan<Rule> scan{.rules = rules_.data(), .lists = lists};
  const hs_error_t status = hs_scan(database_, text, static_cast<unsigned>(length), 0,
                                    scratch_[worker], on_match<Rule>, &scan);
  if (status != HS_SUCCESS && status != HS_SCAN_TERMINATED) return decision;
  if (scan.allow) {
    decision.verdict = Decision::Verdict::Allow;
  } else if (scan.block) {
    decision.verdict = Decision::Verdict::Block;
  } else {
    return decision;
  }
  decision.list = scan.list;
  return decision;
}

bool RegexSetBuilder::add(std::string_view pattern, Action action, std::uint16_t list,
                          std::string* error) {
  if (list >= kMaxLists) {
    if (error != nullptr) *error = "list " + std::to_string(list) + " is out of range";
    return false;
  }
  // Hyperscan takes C strings: a NUL inside would silently cut the pattern short.
  if (pattern.find('\0') != std::string_view::npos) {
    if (error != nullptr) *error = "pattern contains a NUL byte";
    return false;
  }
  std::string text(pattern);
  hs_database_t* database = nullptr;
  hs_compile_error_t* compile_error = nullptr;
  if (hs_compile(text.c_str(), kFlags, HS_MODE_BLOCK, nullptr, &database, &compile_error) !=
      HS_SUCCESS) {
    std::string message = compile_message(compile_error);
    // Hyperscan's wording names a flag the operator cannot set.
    if (message.starts_with("Pattern matches empty buffer")) {
      message = "pattern matches the empty string, so it would match every name";
    }
    if (error != nullptr) *error = std::move(message);
    return false;
  }
  hs_free_database(database);
  patterns_.push_back(std::move(text));
  rules_.push_back({.action = action, .list = list});
  return true;
}

RegexSet RegexSetBuilder::build(unsigned workers) const {
  if (workers == 0) throw std::invalid_argument("regex set: at least one worker is needed");
  RegexSet set;
  if (patterns_.empty()) return set;
  if (hs_valid_platform() != HS_SUCCESS) {
    throw std::runtime_error("regex set: Hyperscan cannot run on this CPU (it needs SSSE3)");
  }

  std::vector<const char*> expressions;
  std::vector<unsigned> flags(patterns_.size(), kFlags);
  std::vector<unsigned> ids;
  expressions.reserve(patterns_.size());
  ids.reserve(patterns_.size());
  for (std::size_t i = 0; i < patterns_.size(); ++i) {
    expressions.push_back(patterns_[i].c_str());
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_database_t* database = nullptr;
  hs_compile_error_t* compile_error = nullptr;
  if (hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                       static_cast<unsigned>(patterns_.size()), HS_MODE_BLOCK, nullptr, &database,
                       &compile_error) != HS_SUCCESS) {
    // expression < 0: the set as a whole (e.g. too large), not one pattern.
    const int index = compile_error != nullptr ? compile_error->expression : -1;
    std::string message = "regex set: " + compile_message(compile_error);
    if (index >= 0 && static_cast<std::size_t>(index) < patterns_.size()) {
      message += " (pattern " + std::to_string(index) + ": " + patterns_[index] + ")";
    }
    throw std::runtime_error(message);
  }
  set.database_ = database;
  set.rules_ = rules_;
  for (const auto& rule : rules_) set.has_allow_ |= rule.action == Action::Allow;

  set.scratch_.reserve(workers);  // before any scratch exists, so push_back cannot throw
  hs_scratch_t* prototype = nullptr;
  if (hs_alloc_scratch(database, &prototype) != HS_SUCCESS) {
    throw std::runtime_error("regex set: cannot allocate Hyperscan scratch");
  }
  set.scratch_.push_back(prototype);
  while (set.scratch_.size() < workers) {
    hs_scratch_t* clone = nullptr;
    if (hs_clone_scratch(prototype, &clone) != HS_SUCCESS) {
      throw std::runtime_error("regex set: cannot clone Hyperscan scratch");
    }
    set.scratch_.push_back(clone);
  }

  std::size_t bytes = 0;
  hs_database_size(database, &bytes);
  set.memory_bytes_ = bytes;
  for (hs_scratch_t* scratch : set.scratch_) {
    std::size_t scratch_bytes = 0;
    hs_scratch_size(scratch, &scratch_bytes);
    set.memory_bytes_ += scratch_bytes;
  }
  return set;
}

}  // namespace heimdall::filter
