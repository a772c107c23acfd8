#include "heimdall/filter/list_parser.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <string>

namespace heimdall::filter {
namespace {

constexpr std::size_t kDetectLines = 200;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// Cuts an inline comment: "name # why" or "name\t#why".
std::string_view strip_comment(std::string_view line) {
  const std::size_t hash = line.find('#');
  return hash == std::string_view::npos ? line : trim(line.substr(0, hash));
}

std::string_view next_token(std::string_view& rest) {
  rest = trim(rest);
  std::size_t end = 0;
  while (end < rest.size() && rest[end] != ' ' && rest[end] != '\t') ++end;
  const std::string_view token = rest.substr(0, end);
  rest.remove_prefix(end);
  return token;
}

bool is_address(std::string_view token) {
  char text[INET6_ADDRSTRLEN + 1];
  if (token.empty() || token.size() >= sizeof(text)) return false;
  std::memcpy(text, token.data(), token.size());
  text[token.size()] = '\0';
  std::uint8_t address[16];
  return inet_pton(AF_INET, text, address) == 1 || inet_pton(AF_INET6, text, address) == 1;
}

bool is_comment(std::string_view line) {
  return line.empty() || line.front() == '#' || line.front() == '!' || line.front() == ';' ||
         line.front() == '[';  // "[Adblock Plus 2.0]"
}

// In a regex list only `#` starts a comment: `[`, `!` and `;` can begin a regex.
bool is_regex_comment(std::string_view line) { return line.empty() || line.front() == '#'; }

// A mark no line of the other formats can carry in a name: a regex anchor or group
// first, or an escape. `/…/` lines are adblock's own regex syntax, not a regex list.
bool has_regex_mark(std::string_view line) {
  if (line.starts_with('/') || line.starts_with("@@")) return false;
  return line.front() == '^' || line.front() == '(' || line.find('\\') != std::string_view::npos;
}

// Names hosts files map for the machine itself: never rules.
bool is_local_name(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kLocal = {
      "localhost",     "localhost.localdomain", "local",        "broadcasthost",
      "ip6-localhost", "ip6-loopback",          "ip6-localnet", "ip6-mcastprefix",
      "ip6-allnodes",  "ip6-allrouters"};
  for (const std::string_view local : kLocal) {
    if (name.size() == local.size() && strncasecmp(name.data(), local.data(), name.size()) == 0) {
      return true;
    }
  }
  return name == "0.0.0.0";
}

// Letters, digits, '-' and '_' in dot-separated labels (IDNs arrive as punycode,
// which is plain ASCII); an optional trailing dot.
bool valid_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > dns::kMaxLabel) return false;
  }
  return label != 0;
}

class Reader {
 public:
  Reader(const ListOptions& options, TrieBuilder& builder, ListReport& report)
      : options_(options), builder_(builder), report_(report) {}

  void reject() {
    if (report_.rejected < ListReport::kExamples) report_.first_rejected[report_.rejected] = line_;
    ++report_.rejected;
  }

  void add_regex(std::string_view pattern, Action action) {
    if (options_.regexes == nullptr) {
      reject();
      return;
    }
    std::string error;
    if (!options_.regexes->add(pattern, action, options_.list, &error)) {
      if (report_.first_regex_error.empty()) {
        report_.first_regex_error = "line " + std::to_string(line_) + ": " + error;
      }
      reject();
      return;
    }
    ++report_.regex_rules;
  }

  void add(std::string_view name, Action action, Scope natural_scope) {
    if (!valid_name(name)) {
      reject();
      return;
    }
    char text[256];
    std::memcpy(text, name.data(), name.size());
    text[name.size()] = '\0';
    if (!builder_.add_text(text, action, options_.match.value_or(natural_scope), options_.list)) {
      reject();
      return;
    }
    ++report_.rules;
  }

  void hosts(std::string_view line) {
    std::string_view rest = strip_comment(line);
    if (!is_address(next_token(rest))) {
      reject();
      return;
    }
    bool any = false;
    for (std::string_view name = next_token(rest); !name.empty(); name = next_token(rest)) {
      any = true;
      if (is_local_name(name)) {
        ++report_.skipped;
      } else {
        add(name, options_.action, Scope::Exact);
      }
    }
    if (!any) reject();
  }

  void domain(std::string_view line) {
    std::string_view rest = strip_comment(line);
    const std::string_view name = next_token(rest);
    if (!trim(rest).empty()) {
      reject();
      return;
    }
    add(name, options_.action, Scope::Exact);
  }

  void wildcard(std::string_view line) {
    std::string_view rest = strip_comment(line);
    std::string_view name = next_token(rest);
    if (!trim(rest).empty()) {
      reject();
      return;
    }
    if (name.starts_with("*.")) {
      name.remove_prefix(2);
      add(name, options_.action, Scope::Below);
    } else {
      add(name, options_.action, Scope::Exact);
    }
  }

  // dnsmasq: `address=/a.com/b.com/0.0.0.0`, `address=/a.com/` (NXDOMAIN),
  // `local=/a.com/`, `server=/a.com/` (answered locally: no upstream). Each name
  // and everything below it, as dnsmasq matches; the list's response replaces
  // dnsmasq's answer. `server=/name/ADDRESS` forwards rather than blocks: rejected.
  void dnsmasq(std::string_view line) {
    line = strip_comment(line);
    const std::size_t equals = line.find('=');
    const std::string_view key = trim(line.substr(0, equals));
    if (equals == std::string_view::npos ||
        (key != "address" && key != "local" && key != "server")) {
      reject();
      return;
    }
    std::string_view rest = trim(line.substr(equals + 1));
    const std::size_t last = rest.rfind('/');
    if (!rest.starts_with('/') || last == 0) {
      reject();
      return;
    }
    const std::string_view value = trim(rest.substr(last + 1));
    if (key != "address" && !value.empty()) {
      reject();
      return;
    }
    bool any = false;
    for (std::string_view names = rest.substr(1, last - 1); !names.empty();) {
      const std::size_t slash = names.find('/');
      const std::string_view name = names.substr(0, slash);
      names = slash == std::string_view::npos ? std::string_view{} : names.substr(slash + 1);
      if (name.empty()) continue;
      any = true;
      add(name, options_.action, Scope::Subtree);
    }
    if (!any) reject();
  }

  // A Pi-hole style line: the regex, then perhaps a ` # comment`. Pi-hole's
  // `;querytype=`, `;invert` and `;reply=` change what the rule means, and a name
  // never holds a `;`, so they are rejected rather than compiled as text.
  void regex_line(std::string_view line) {
    for (std::size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '#' && (line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line = trim(line.substr(0, i));
        break;
      }
    }
    for (const std::string_view extension : {";querytype=", ";invert", ";reply="}) {
      if (line.find(extension) != std::string_view::npos) {
        reject();
        return;
      }
    }
    add_regex(line, options_.action);
  }

  // `/regex/` or `/regex/$options`. The regex may hold `$` and `/` itself, and
  // options may hold `/` (`$client=10.0.0.0/8`), so the regex ends at the final
  // `/` of the line, or else at the last `/$`, as AdGuard reads it.
  void adblock_regex(std::string_view line, Action action) {
    std::string_view pattern;
    if (line.size() >= 3 && line.back() == '/') {
      pattern = line.substr(1, line.size() - 2);
    } else if (const std::size_t close = line.rfind("/$");
               close != std::string_view::npos && close >= 2) {
      pattern = line.substr(1, close - 1);
      ++report_.options_ignored;
    } else {
      reject();  // `/banner/*` and other URL path rules
      return;
    }
    add_regex(pattern, action);
  }

  // `||name^`, `@@||name^`, each optionally followed by `$options` (ignored and
  // counted) or a `|`; `/regex/` and `@@/regex/`. Anything else (paths, wildcards,
  // cosmetic rules) is not a domain rule and is rejected.
  void adblock(std::string_view line) {
    Action action = options_.action;
    if (line.starts_with("@@")) {
      action = Action::Allow;
      line.remove_prefix(2);
    }
    if (line.starts_with('/')) {
      adblock_regex(line, action);
      return;
    }
    if (!line.starts_with("||")) {
      reject();
      return;
    }
    line.remove_prefix(2);
    if (const std::size_t dollar = line.find('$'); dollar != std::string_view::npos) {
      line = line.substr(0, dollar);
      ++report_.options_ignored;
    }
    if (line.ends_with("^|")) line.remove_suffix(1);
    if (line.ends_with('^')) line.remove_suffix(1);
    add(line, action, Scope::Subtree);
  }

  void parse(std::string_view text) {
    std::size_t start = 0;
    while (start < text.size()) {
      const std::size_t end = text.find('\n', start);
      const std::string_view raw =
          text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
      ++line_;
      const std::string_view line = trim(raw);
      const bool comment =
          report_.format == ListFormat::Regex ? is_regex_comment(line) : is_comment(line);
      if (!comment) {
        switch (report_.format) {
          case ListFormat::Hosts:
            hosts(line);
            break;
          case ListFormat::Adblock:
            adblock(line);
            break;
          case ListFormat::Wildcard:
            wildcard(line);
            break;
          case ListFormat::Regex:
            regex_line(line);
            break;
          case ListFormat::Dnsmasq:
            dnsmasq(line);
            break;
          case ListFormat::Domains:
          case ListFormat::Auto:
            domain(line);
            break;
        }
      }
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
    report_.lines = line_;
  }

 private:
  const ListOptions& options_;
  TrieBuilder& builder_;
  ListReport& report_;
  std::size_t line_ = 0;
};

}  // namespace

const char* to_string(ListFormat format) {
  switch (format) {
    case ListFormat::Auto:
      return "auto";
    case ListFormat::Hosts:
      return "hosts";
    case ListFormat::Domains:
      return "domains";
    case ListFormat::Adblock:
      return "adblock";
    case ListFormat::Wildcard:
      return "wildcard";
    case ListFormat::Regex:
      return "regex";
    case ListFormat::Dnsmasq:
      return "dnsmasq";
  }
  return "unknown";
}

ListFormat detect_format(std::string_view text) {
  text = without_bom(text);
  if (text.starts_with("[Adblock")) return ListFormat::Adblock;
  std::size_t seen = 0;
  bool all_regex = true;
  std::size_t start = 0;
  while (start < text.size() && seen < kDetectLines) {
    const std::size_t end = text.find('\n', start);
    const std::string_view line = trim(
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    start = end == std::string_view::npos ? text.size() : end + 1;
    if (is_comment(line)) continue;
    ++seen;
    if (line.starts_with("||") || line.starts_with("@@||")) return ListFormat::Adblock;
    if (line.starts_with("*.")) return ListFormat::Wildcard;
    for (const std::string_view key : {"address=/", "local=/", "server=/"}) {
      if (line.starts_with(key)) return ListFormat::Dnsmasq;
    }
    std::string_view rest = line;
    if (is_address(next_token(rest)) && !trim(rest).empty()) return ListFormat::Hosts;
    if (!has_regex_mark(line)) all_regex = false;
  }
  return seen != 0 && all_regex ? ListFormat::Regex : ListFormat::Domains;
}

ListReport parse_list(std::string_view text, const ListOptions& options, TrieBuilder& builder) {
  text = without_bom(text);
  ListReport report;
  report.format = options.format == ListFormat::Auto ? detect_format(text) : options.format;
  Reader(options, builder, report).parse(text);
  return report;
}

}  // namespace heimdall::filter
