#include "heimdall/control/config.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string_view>
#include <utility>

#include "heimdall/filter/client_groups.hpp"
#include "heimdall/filter/local_data.hpp"
#include "heimdall/net/frame.hpp"

namespace heimdall::control {
namespace {

// Matches upstream::kMaxServers: the selector tracks tried servers in a 32-bit mask.
// Kept as a literal so control does not depend on the upstream module.
constexpr std::size_t kMaxUpstreamServers = 32;

// A value in the document together with what an error about it must say: its dotted
// key and its line.
struct Value {
  YAML::Node node;
  std::string key;
  int line = 1;      // 1-based: where the value is
  int key_line = 1;  // where its key is; for errors about the section as a whole
};

int line_of(const YAML::Mark& mark, int fallback) {
  return mark.is_null() || mark.line < 0 ? fallback : mark.line + 1;
}

// How a wrong value reads in a message: the text of a scalar, the kind otherwise.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

std::string format_number(double number) {
  std::ostringstream text;
  text << number;
  return text.str();
}

std::string join(std::initializer_list<std::string_view> names, std::string_view separator) {
  std::string text;
  for (const std::string_view name : names) {
    if (!text.empty()) text += separator;
    text += name;
  }
  return text;
}

// Turns every problem into a ConfigError "<source>:<line>: <dotted.key>: <what>".
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(int line, const std::string& key, const std::string& what) const {
    throw ConfigError(source_ + ":" + std::to_string(line) + ": " + key + ": " + what);
  }
  [[noreturn]] void fail(const Value& value, const std::string& what) const {
    fail(value.line, value.key, what);
  }

  void expect_map(const Value& value) const {
    if (!value.node.IsMap()) fail(value, "expected a mapping, got " + describe(value.node));
  }
  void expect_list(const Value& value, const std::string& of_what) const {
    if (!value.node.IsSequence()) {
      fail(value, "expected a list of " + of_what + ", got " + describe(value.node));
    }
  }

  // The entries of a mapping by name. Unknown keys are errors, so that a typo never
  // silently leaves a default in place; so are repeated keys, which yaml-cpp keeps
  // and would otherwise resolve to the first one.
  std::map<std::string, Value> fields(const Value& map,
                                      std::initializer_list<std::string_view> allowed) const {
    expect_map(map);
    std::map<std::string, Value> result;
    for (const auto& entry : map.node) {
      const int key_line = line_of(entry.first.Mark(), map.line);
      if (!entry.first.IsScalar()) fail(key_line, map.key, "keys must be plain names");
      const std::string name = entry.first.Scalar();
      const std::string key = map.key.empty() ? name : map.key + "." + name;
      bool known = false;
      for (const std::string_view candidate : allowed) known |= name == candidate;
      if (!known) fail(key_line, key, "unknown key; expected one of: " + join(allowed, ", "));
      if (const auto seen = result.find(name); seen != result.end()) {
        fail(key_line, key,
             "given twice (first on line " + std::to_string(seen->second.key_line) + ")");
      }
      // yaml-cpp marks an empty value at the token after it, often the next line.
      const int value_line =
          entry.second.IsNull() ? key_line : line_of(entry.second.Mark(), key_line);
      result.emplace(name, Value{entry.second, key, value_line, key_line});
    }
    return result;
  }

  Value item(const Value& list, std::size_t index) const {
    const YAML::Node node = list.node[index];
    int line = line_of(node.Mark(), list.line);
    // An empty block item ("-" alone) is marked at the next token, possibly lines
    // below; the line after a one-line previous item is where it usually is.
    if (node.IsNull() && list.node.Style() == YAML::EmitterStyle::Block) {
      line = list.line;
      if (index > 0 && list.node[index - 1].IsScalar()) line = item(list, index - 1).line + 1;
    }
    return Value{node, list.key + "[" + std::to_string(index) + "]", line, line};
  }

  unsigned get_uint(const Value& value, unsigned min, unsigned max) const {
    const std::string expected =
        "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (!value.node.IsScalar()) fail(value, expected + ", got " + describe(value.node));
    const std::string& text = value.node.Scalar();
    unsigned long long number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size() || number < min ||
        number > max) {
      fail(value, expected + ", got '" + text + "'");
    }
    return static_cast<unsigned>(number);
  }

  bool get_bool(const Value& value) const {
    if (value.node.IsScalar()) {
      const std::string& text = value.node.Scalar();
      if (text == "true" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "no" || text == "off") return false;
    }
    fail(value, "expected true or false, got " + describe(value.node));
  }

  // A fraction strictly between `low` and `high`, such as 0.1.
  double get_fraction(const Value& value, double low, double high) const {
    const std::string expected =
        "expected a number above " + format_number(low) + " and below " + format_number(high);
    if (!value.node.IsScalar()) fail(value, expected + ", got " + describe(value.node));
    const std::string& text = value.node.Scalar();
    double number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size() ||
        !(number > low && number < high)) {
      fail(value, expected + ", got '" + text + "'");
    }
    return number;
  }

  // A count of `unit_name`s with an optional suffix: a size (k, m, g: powers of
  // 1024, "512m") or a duration (s, m, h, d: "6h"). The result is bounded.
  std::uint64_t get_scaled(const Value& value,
                           std::initializer_list<std::pair<std::string_view, std::uint64_t>> units,
                           std::string_view example, std::uint64_t min, std::uint64_t max) const {
    const std::string expected = "expected a number with an optional unit (" +
                                 std::string(example) + "), from " + std::to_string(min) + " to " +
                                 std::to_string(max);
    if (!value.node.IsScalar()) fail(value, expected + ", got " + describe(value.node));
    const std::string& text = value.node.Scalar();
    std::uint64_t number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    const std::string_view suffix(end, text.data() + text.size() - end);
    std::uint64_t scale = suffix.empty() ? 1 : 0;
    for (const auto& [name, factor] : units) {
      if (suffix == name) scale = factor;
    }
    if (text.empty() || error != std::errc{} || end == text.data() || scale == 0 ||
        number > max / scale || number * scale < min) {
      fail(value, expected + ", got '" + text + "'");
    }
    return number * scale;
  }
  std::uint64_t get_bytes(const Value& value, std::uint64_t min, std::uint64_t max) const {
    return get_scaled(value, {{"k", 1ull << 10}, {"m", 1ull << 20}, {"g", 1ull << 30}},
                      "bytes, or k, m, g such as 512m", min, max);
  }
  unsigned get_seconds(const Value& value, unsigned min, unsigned max) const {
    return static_cast<unsigned>(get_scaled(value, {{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}},
                                            "seconds, or s, m, h, d such as 1d", min, max));
  }

  std::string get_string(const Value& value) const {
    if (!value.node.IsScalar() || value.node.Scalar().empty()) {
      fail(value, "expected a non-empty string, got " + describe(value.node));
    }
    return value.node.Scalar();
  }

  template <typename Enum>
  Enum get_choice(const Value& value,
                  std::initializer_list<std::pair<std::string_view, Enum>> choices) const {
    std::string names;
    for (const auto& [name, choice] : choices) {
      if (value.node.IsScalar() && value.node.Scalar() == name) return choice;
      names += (names.empty() ? "" : " | ") + std::string(name);
    }
    fail(value, "expected " + names + ", got " + describe(value.node));
  }

  net::Endpoint get_endpoint(const Value& value) const {
    if (!value.node.IsScalar()) {
      fail(value,
           "expected an address such as 127.0.0.1:53 or [::1]:53, got " + describe(value.node));
    }
    const auto endpoint = net::Endpoint::parse(value.node.Scalar(), 53);
    if (!endpoint) {
      fail(value, "expected an address such as 127.0.0.1:53 or [::1]:53 (port 1-65535), got " +
                      describe(value.node));
    }
    return *endpoint;
  }

  // A listen list: two sockets on one address would both bind (SO_REUSEPORT) and
  // split its traffic, so a repeat is a mistake worth stopping for.
  std::vector<net::Endpoint> get_endpoints(const Value& list) const {
    expect_list(list, "addresses");
    std::vector<net::Endpoint> result;
    for (std::size_t i = 0; i < list.node.size(); ++i) {
      const Value entry = item(list, i);
      const net::Endpoint endpoint = get_endpoint(entry);
      for (const auto& seen : result) {
        if (seen == endpoint) fail(entry, "listed twice: " + endpoint.to_string());
      }
      result.push_back(endpoint);
    }
    return result;
  }

 private:
  std::string source_;
};

// An interface address with its subnet: "198.18.0.1/24", "2001:db8::1/64".
filter::Prefix read_interface_address(const Reader& reader, const Value& value, int family) {
  const std::string text = reader.get_string(value);
  filter::Prefix prefix;
  const char* example = family == AF_INET ? "198.18.0.1/24" : "2001:db8::1/64";
  if (!filter::Prefix::parse(text, prefix) || prefix.address.family != family ||
      text.find('/') == std::string::npos) {
    reader.fail(value, std::string("expected an address with its subnet such as ") + example +
                           ", got '" + text + "'");
  }
  return prefix;
}

net::Endpoint read_gateway(const Reader& reader, const Value& value, int family) {
  const std::string text = reader.get_string(value);
  filter::Prefix host;
  if (text.find('/') != std::string::npos || !filter::Prefix::parse(text, host) ||
      host.address.family != family) {
    reader.fail(value, std::string("expected an ") + (family == AF_INET ? "IPv4" : "IPv6") +
                           " address (no port, no subnet), got '" + text + "'");
  }
  return host.address;
}

PortConfig read_port(const Reader& reader, const Value& entry) {
  const auto fields =
      reader.fields(entry, {"device", "address", "address6", "gateway", "gateway6", "mac", "vlan"});
  PortConfig port;
  const auto device = fields.find("device");
  if (device == fields.end()) reader.fail(entry, "missing key 'device'");
  port.device = reader.get_string(device->second);
  if (const auto it = fields.find("address"); it != fields.end()) {
    port.address = read_interface_address(reader, it->second, AF_INET);
  }
  if (const auto it = fields.find("address6"); it != fields.end()) {
    port.address6 = read_interface_address(reader, it->second, AF_INET6);
  }
  if (!port.address && !port.address6) {
    reader.fail(entry, "a port needs an address or address6 to answer on");
  }
  if (const auto it = fields.find("gateway"); it != fields.end()) {
    if (!port.address) reader.fail(it->second, "a gateway needs the port's IPv4 address");
    port.gateway = read_gateway(reader, it->second, AF_INET);
  }
  if (const auto it = fields.find("gateway6"); it != fields.end()) {
    if (!port.address6) reader.fail(it->second, "a gateway6 needs the port's address6");
    port.gateway6 = read_gateway(reader, it->second, AF_INET6);
  }
  if (const auto it = fields.find("mac"); it != fields.end()) {
    const std::string text = reader.get_string(it->second);
    const auto mac = net::MacAddress::parse(text);
    if (!mac || mac->is_multicast()) {
      reader.fail(it->second,
                  "expected a unicast MAC address such as 02:00:00:00:00:01, got '" + text + "'");
    }
    port.mac = text;
  }
  if (const auto it = fields.find("vlan"); it != fields.end()) {
    port.vlan = static_cast<std::uint16_t>(reader.get_uint(it->second, 0, 4094));
  }
  return port;
}

void read_exception(const Reader& reader, const Value& section, ExceptionConfig& out) {
  const auto fields = reader.fields(section, {"enabled", "tap"});
  if (const auto it = fields.find("enabled"); it != fields.end()) {
    out.enabled = reader.get_bool(it->second);
  }
  if (const auto it = fields.find("tap"); it != fields.end()) {
    out.tap = reader.get_string(it->second);
    if (out.tap.size() >= 16 || out.tap.find('/') != std::string::npos) {
      reader.fail(it->second,
                  "expected an interface name of at most 15 characters, got '" + out.tap + "'");
    }
  }
}

// "20000-29999": the fast path's upstream source ports.
// "low-high" within 1024-65535, low <= high. Ports below 1024 are refused: they
// belong to the host's services, and a source port there draws no entropy the
// range above does not.
std::pair<std::uint16_t, std::uint16_t> parse_port_range(const Reader& reader, const Value& value,
                                                         const char* example) {
  const std::string text = reader.get_string(value);
  unsigned low = 0, high = 0;
  const char* last = text.data() + text.size();
  const auto [dash, low_error] = std::from_chars(text.data(), last, low);
  bool ok = low_error == std::errc{} && dash != last && *dash == '-';
  if (ok) {
    const auto [end, high_error] = std::from_chars(dash + 1, last, high);
    ok = high_error == std::errc{} && end == last && low >= 1024 && high <= 65535 && low <= high;
  }
  if (!ok) {
    reader.fail(value, std::string("expected a range such as ") + example +
                           " within 1024-65535, low <= high, got '" + text + "'");
  }
  return {static_cast<std::uint16_t>(low), static_cast<std::uint16_t>(high)};
}

void read_port_range(const Reader& reader, const Value& value, DataplaneConfig& out) {
  const auto [low, high] = parse_port_range(reader, value, "20000-29999");
  out.upstream_port_min = low;
  out.upstream_port_max = high;
}

void read_dataplane(const Reader& reader, const Value& section, DataplaneConfig& out) {
  const auto fields = reader.fields(
      section, {"backend", "workers", "eal_args", "ports", "exception", "upstream_ports", "mbufs"});
  if (const auto it = fields.find("backend"); it != fields.end()) {
    out.backend = reader.get_choice<Backend>(
        it->second, {{"socket", Backend::Socket}, {"dpdk", Backend::Dpdk}});
  }
  if (const auto it = fields.find("workers"); it != fields.end()) {
    out.workers = reader.get_uint(it->second, 1, 64);
  }
  if (const auto it = fields.find("eal_args"); it != fields.end()) {
    reader.expect_list(it->second, "strings");
    for (std::size_t i = 0; i < it->second.node.size(); ++i) {
      out.eal_args.push_back(reader.get_string(reader.item(it->second, i)));
    }
  }
  if (const auto it = fields.find("ports"); it != fields.end()) {
    reader.expect_list(it->second, "port mappings");
    for (std::size_t i = 0; i < it->second.node.size(); ++i) {
      out.ports.push_back(read_port(reader, reader.item(it->second, i)));
    }
  }
  if (const auto it = fields.find("exception"); it != fields.end()) {
    read_exception(reader, it->second, out.exception);
  }
  if (const auto it = fields.find("upstream_ports"); it != fields.end()) {
    read_port_range(reader, it->second, out);
  }
  if (const auto it = fields.find("mbufs"); it != fields.end()) {
    out.mbufs = reader.get_uint(it->second, 1024, 16u << 20);
  }
  if (out.backend == Backend::Dpdk) {
    if (out.ports.size() != 1) {
      const auto ports = fields.find("ports");
      reader.fail(ports == fields.end() ? section.line : ports->second.line, "dataplane.ports",
                  "the dpdk backend drives exactly one port in this version, got " +
                      std::to_string(out.ports.size()));
    }
    const unsigned range = out.upstream_port_max - out.upstream_port_min + 1u;
    if (range < 64u * out.workers) {
      reader.fail(section.line, "dataplane.upstream_ports",
                  "needs at least 64 ports per worker for ID and port entropy, got " +
                      std::to_string(range) + " for " + std::to_string(out.workers) + " workers");
    }
  }
}

void read_edns(const Reader& reader, const Value& section, EdnsConfig& out) {
  const auto fields = reader.fields(section, {"max_udp"});
  if (const auto it = fields.find("max_udp"); it != fields.end()) {
    out.max_udp = static_cast<std::uint16_t>(reader.get_uint(it->second, 512, 4096));
  }
}

void read_listen(const Reader& reader, const Value& section, ListenConfig& out) {
  const auto fields =
      reader.fields(section, {"udp", "tcp", "tcp_idle_timeout_ms", "tcp_query_timeout_ms",
                              "tcp_max_connections", "tcp_max_connections_per_client"});
  if (const auto it = fields.find("udp"); it != fields.end()) {
    out.udp = reader.get_endpoints(it->second);
  }
  if (const auto it = fields.find("tcp"); it != fields.end()) {
    out.tcp = reader.get_endpoints(it->second);
  }
  if (const auto it = fields.find("tcp_idle_timeout_ms"); it != fields.end()) {
    out.tcp_idle_timeout_ms = reader.get_uint(it->second, 100, 600000);
  }
  if (const auto it = fields.find("tcp_max_connections"); it != fields.end()) {
    out.tcp_max_connections = reader.get_uint(it->second, 1, 1000000);
  }
  if (const auto it = fields.find("tcp_max_connections_per_client"); it != fields.end()) {
    out.tcp_max_connections_per_client = reader.get_uint(it->second, 0, 65535);
  }
  // A query arriving more slowly than a connection may stay idle makes no sense;
  // the default follows a shorter idle timeout down.
  if (const auto it = fields.find("tcp_query_timeout_ms"); it != fields.end()) {
    out.tcp_query_timeout_ms = reader.get_uint(it->second, 100, 600000);
    if (out.tcp_query_timeout_ms > out.tcp_idle_timeout_ms) {
      reader.fail(it->second, "expected at most listen.tcp_idle_timeout_ms (" +
                                  std::to_string(out.tcp_idle_timeout_ms) + "), got " +
                                  std::to_string(out.tcp_query_timeout_ms));
    }
  } else {
    out.tcp_query_timeout_ms = std::min(out.tcp_query_timeout_ms, out.tcp_idle_timeout_ms);
  }
}

// One server: a map {address: ...} (room for per-server keys later) or a bare string.
net::Endpoint read_server(const Reader& reader, const Value& entry) {
  if (entry.node.IsScalar()) return reader.get_endpoint(entry);
  if (!entry.node.IsMap()) {
    reader.fail(
        entry, "expected {address: ADDR[:PORT]} or an address string, got " + describe(entry.node));
  }
  const auto fields = reader.fields(entry, {"address"});
  const auto address = fields.find("address");
  if (address == fields.end()) reader.fail(entry, "missing key 'address'");
  return reader.get_endpoint(address->second);
}

void read_servers(const Reader& reader, const Value& list, UpstreamsConfig& out) {
  reader.expect_list(list, "servers");
  if (list.node.size() > kMaxUpstreamServers) {
    reader.fail(list, "at most " + std::to_string(kMaxUpstreamServers) + " servers, got " +
                          std::to_string(list.node.size()));
  }
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const Value entry = reader.item(list, i);
    const net::Endpoint endpoint = read_server(reader, entry);
    for (const auto& seen : out.servers) {
      if (seen.address == endpoint) reader.fail(entry, "listed twice: " + endpoint.to_string());
    }
    out.servers.push_back(UpstreamServerConfig{endpoint});
  }
}

// Dotted names compared as DNS does: letter case and a trailing dot do not count.
bool same_name(const std::string& a, const std::string& b) {
  std::uint8_t wire_a[dns::kMaxNameWire], wire_b[dns::kMaxNameWire];
  const std::size_t length = dns::name_from_text(a.c_str(), wire_a);
  if (length == 0 || length != dns::name_from_text(b.c_str(), wire_b)) return false;
  for (std::size_t i = 0; i < length; ++i) {
    if (dns::fold(wire_a[i]) != dns::fold(wire_b[i])) return false;
  }
  return true;
}

void read_forward_zones(const Reader& reader, const Value& list, UpstreamsConfig& out) {
  reader.expect_list(list, "zones");
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const Value entry = reader.item(list, i);
    const auto fields = reader.fields(entry, {"zone", "servers"});
    const auto zone = fields.find("zone");
    const auto servers = fields.find("servers");
    if (zone == fields.end()) reader.fail(entry, "missing key 'zone'");
    if (servers == fields.end()) reader.fail(entry, "missing key 'servers'");
    ForwardZoneConfig config;
    config.zone = reader.get_string(zone->second);
    std::uint8_t wire[dns::kMaxNameWire];
    if (dns::name_from_text(config.zone.c_str(), wire) <= 1) {
      reader.fail(zone->second, "expected a domain name below the root, got '" + config.zone + "'");
    }
    for (const auto& seen : out.forward_zones) {
      if (same_name(seen.zone, config.zone)) {
        reader.fail(zone->second, "zone given twice: " + config.zone);
      }
    }
    config.servers = reader.get_endpoints(servers->second);
    if (config.servers.empty()) reader.fail(servers->second, "a zone needs at least one server");
    out.forward_zones.push_back(std::move(config));
  }
}

// Returns the line an error about missing servers points at: `servers` if given,
// else `upstreams`.
int read_upstreams(const Reader& reader, const Value& section, UpstreamsConfig& out) {
  const auto fields = reader.fields(
      section, {"strategy", "timeout_ms", "max_failures", "probe_interval_ms", "servers",
                "forward_zones", "max_attempts", "source_ports", "max_udp_sockets_per_worker",
                "attempts_per_udp_socket", "case_randomisation"});
  if (const auto it = fields.find("forward_zones"); it != fields.end()) {
    read_forward_zones(reader, it->second, out);
  }
  if (const auto it = fields.find("strategy"); it != fields.end()) {
    out.strategy = reader.get_choice<Strategy>(it->second, {{"round_robin", Strategy::RoundRobin},
                                                            {"fastest", Strategy::Fastest},
                                                            {"failover", Strategy::Failover}});
  }
  if (const auto it = fields.find("timeout_ms"); it != fields.end()) {
    out.timeout_ms = reader.get_uint(it->second, 50, 60000);
  }
  if (const auto it = fields.find("max_failures"); it != fields.end()) {
    out.max_failures = reader.get_uint(it->second, 1, 100);
  }
  if (const auto it = fields.find("probe_interval_ms"); it != fields.end()) {
    out.probe_interval_ms = reader.get_uint(it->second, 100, 3600000);
  }
  if (const auto it = fields.find("max_attempts"); it != fields.end()) {
    out.max_attempts = reader.get_uint(it->second, 1, 16);
  }
  if (const auto it = fields.find("source_ports"); it != fields.end()) {
    const auto [low, high] = parse_port_range(reader, it->second, "1024-65535");
    out.source_port_low = low;
    out.source_port_high = high;
  }
  if (const auto it = fields.find("max_udp_sockets_per_worker"); it != fields.end()) {
    out.max_udp_sockets_per_worker = reader.get_uint(it->second, 1, 65535);
  }
  if (const auto it = fields.find("attempts_per_udp_socket"); it != fields.end()) {
    out.attempts_per_udp_socket = reader.get_uint(it->second, 1, 1024);
  }
  if (const auto it = fields.find("case_randomisation"); it != fields.end()) {
    out.case_randomisation = reader.get_bool(it->second);
  }
  const auto servers = fields.find("servers");
  if (servers == fields.end()) return section.key_line;
  read_servers(reader, servers->second, out);
  return servers->second.key_line;
}

void read_serve_stale(const Reader& reader, const Value& section, ServeStaleSettings& out) {
  const auto fields = reader.fields(section, {"enabled", "ttl", "max_stale", "client_timeout_ms"});
  if (const auto it = fields.find("enabled"); it != fields.end()) {
    out.enabled = reader.get_bool(it->second);
  }
  if (const auto it = fields.find("ttl"); it != fields.end()) {
    out.ttl_s = reader.get_seconds(it->second, 1, 86400);
  }
  if (const auto it = fields.find("max_stale"); it != fields.end()) {
    out.max_stale_s = reader.get_seconds(it->second, 1, 30 * 86400);
  }
  if (const auto it = fields.find("client_timeout_ms"); it != fields.end()) {
    out.client_timeout_ms = reader.get_uint(it->second, 10, 60000);
  }
}

void read_prefetch(const Reader& reader, const Value& section, PrefetchSettings& out) {
  const auto fields = reader.fields(section, {"enabled", "threshold"});
  if (const auto it = fields.find("enabled"); it != fields.end()) {
    out.enabled = reader.get_bool(it->second);
  }
  if (const auto it = fields.find("threshold"); it != fields.end()) {
    out.threshold = reader.get_fraction(it->second, 0.0, 1.0);
  }
}

void read_cache(const Reader& reader, const Value& section, CacheSettings& out) {
  const auto fields =
      reader.fields(section, {"enabled", "max_entries", "max_bytes", "min_ttl", "max_ttl",
                              "negative_ttl_max", "servfail_ttl", "serve_stale", "prefetch"});
  if (const auto it = fields.find("enabled"); it != fields.end()) {
    out.enabled = reader.get_bool(it->second);
  }
  if (const auto it = fields.find("max_entries"); it != fields.end()) {
    out.max_entries = reader.get_uint(it->second, 64, 100'000'000);
  }
  if (const auto it = fields.find("max_bytes"); it != fields.end()) {
    out.max_bytes = reader.get_bytes(it->second, 1ull << 20, 1ull << 40);
  }
  if (const auto it = fields.find("min_ttl"); it != fields.end()) {
    out.min_ttl = reader.get_seconds(it->second, 0, 86400);
  }
  if (const auto it = fields.find("max_ttl"); it != fields.end()) {
    out.max_ttl = reader.get_seconds(it->second, 1, 7 * 86400);
  }
  if (const auto it = fields.find("negative_ttl_max"); it != fields.end()) {
    out.negative_ttl_max = reader.get_seconds(it->second, 0, 86400);
  }
  if (const auto it = fields.find("servfail_ttl"); it != fields.end()) {
    out.servfail_ttl = reader.get_seconds(it->second, 0, 300);  // RFC 2308 §7: 5 minutes at most
  }
  if (const auto it = fields.find("serve_stale"); it != fields.end()) {
    read_serve_stale(reader, it->second, out.serve_stale);
  }
  if (const auto it = fields.find("prefetch"); it != fields.end()) {
    read_prefetch(reader, it->second, out.prefetch);
  }
  if (out.min_ttl > out.max_ttl) {
    const auto min = fields.find("min_ttl");
    reader.fail(min != fields.end() ? min->second : section,
                "is above max_ttl (" + std::to_string(out.max_ttl) + ")");
  }
}

// `nxdomain`, `nodata`, `null`, `refused`, or {addresses: [192.0.2.1, 2001:db8::1]}.
filter::BlockResponse read_response(const Reader& reader, const Value& value,
                                    filter::BlockResponse response) {
  if (value.node.IsMap()) {
    const auto fields = reader.fields(value, {"addresses"});
    const auto addresses = fields.find("addresses");
    if (addresses == fields.end()) reader.fail(value, "missing key 'addresses'");
    reader.expect_list(addresses->second, "addresses");
    response.mode = filter::BlockMode::Addresses;
    response.ipv4_count = response.ipv6_count = 0;
    for (std::size_t i = 0; i < addresses->second.node.size(); ++i) {
      const Value entry = reader.item(addresses->second, i);
      const std::string text = reader.get_string(entry);
      std::uint8_t bytes[16];
      if (inet_pton(AF_INET, text.c_str(), bytes) == 1 &&
          response.ipv4_count < filter::BlockResponse::kMaxAddresses) {
        std::memcpy(response.ipv4[response.ipv4_count++].data(), bytes, 4);
      } else if (inet_pton(AF_INET6, text.c_str(), bytes) == 1 &&
                 response.ipv6_count < filter::BlockResponse::kMaxAddresses) {
        std::memcpy(response.ipv6[response.ipv6_count++].data(), bytes, 16);
      } else {
        reader.fail(entry, "expected an IPv4 or IPv6 address (at most " +
                               std::to_string(filter::BlockResponse::kMaxAddresses) +
                               " of each), got '" + text + "'");
      }
    }
    if (response.ipv4_count + response.ipv6_count == 0) {
      reader.fail(addresses->second, "expected at least one address");
    }
    return response;
  }
  // YAML reads a bare `null` as the null value, not as a word: that is this mode.
  if (value.node.IsNull()) {
    response.mode = filter::BlockMode::Null;
    return response;
  }
  response.mode =
      reader.get_choice<filter::BlockMode>(value, {{"nxdomain", filter::BlockMode::NxDomain},
                                                   {"nodata", filter::BlockMode::NoData},
                                                   {"null", filter::BlockMode::Null},
                                                   {"refused", filter::BlockMode::Refused}});
  return response;
}

// How many trie lists (policies) a list takes: an RPZ zone has four actions.
unsigned policies_of(const FilterListConfig& list) { return list.kind == ListKind::Rpz ? 4 : 1; }

FilterListConfig read_filter_list(const Reader& reader, const Value& entry,
                                  const filter::BlockResponse& default_response) {
  const auto fields =
      reader.fields(entry, {"name", "source", "format", "action", "match", "response"});
  FilterListConfig list;
  const auto name = fields.find("name");
  const auto source = fields.find("source");
  if (name == fields.end()) reader.fail(entry, "missing key 'name'");
  if (source == fields.end()) reader.fail(entry, "missing key 'source'");
  list.name = reader.get_string(name->second);
  list.source = reader.get_string(source->second);
  if (const auto it = fields.find("format"); it != fields.end()) {
    if (it->second.node.IsScalar() && it->second.node.Scalar() == "rpz") {
      list.kind = ListKind::Rpz;
    } else {
      list.format = reader.get_choice<filter::ListFormat>(
          it->second, {{"auto", filter::ListFormat::Auto},
                       {"hosts", filter::ListFormat::Hosts},
                       {"domains", filter::ListFormat::Domains},
                       {"adblock", filter::ListFormat::Adblock},
                       {"wildcard", filter::ListFormat::Wildcard},
                       {"regex", filter::ListFormat::Regex},
                       {"rpz", filter::ListFormat::Auto}});  // handled above; named in errors
    }
  }
  if (const auto it = fields.find("action"); it != fields.end()) {
    list.action = reader.get_choice<filter::Action>(
        it->second, {{"block", filter::Action::Block}, {"allow", filter::Action::Allow}});
  }
  if (const auto it = fields.find("match"); it != fields.end()) {
    list.match = reader.get_choice<filter::Scope>(
        it->second, {{"exact", filter::Scope::Exact}, {"subtree", filter::Scope::Subtree}});
  }
  if (const auto it = fields.find("response"); it != fields.end()) {
    list.response = read_response(reader, it->second, default_response);
  }
  if (list.kind == ListKind::Rpz &&
      (list.match || list.response || list.action != filter::Action::Block)) {
    reader.fail(entry,
                "an RPZ zone says per rule what it does: no 'action', 'match' or 'response'");
  }
  return list;
}

void read_filter_lists(const Reader& reader, const Value& value, FilterConfig& out) {
  reader.expect_list(value, "lists");
  unsigned policies = 0;
  for (std::size_t i = 0; i < value.node.size(); ++i) {
    const Value entry = reader.item(value, i);
    FilterListConfig list = read_filter_list(reader, entry, out.response);
    for (const auto& seen : out.lists) {
      if (seen.name == list.name) reader.fail(entry, "list name given twice: " + list.name);
    }
    policies += policies_of(list);
    if (policies > filter::kMaxLists) {
      reader.fail(entry, "too many lists: at most " + std::to_string(filter::kMaxLists) +
                             " (an RPZ zone counts as 4)");
    }
    out.lists.push_back(std::move(list));
  }
}

// Equal networks: same family and length, same bits up to the length.
bool same_network(const filter::Prefix& a, const filter::Prefix& b) {
  if (a.address.family != b.address.family || a.length != b.length) return false;
  for (unsigned bit = 0; bit < a.length; ++bit) {
    const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    if ((a.address.address[bit / 8] & mask) != (b.address.address[bit / 8] & mask)) return false;
  }
  return true;
}

bool has_network(const ClientGroupConfig& group, const filter::Prefix& prefix) {
  for (const filter::Prefix& network : group.clients) {
    if (same_network(network, prefix)) return true;
  }
  return false;
}

void read_client_groups(const Reader& reader, const Value& value, FilterConfig& out) {
  reader.expect_list(value, "groups");
  for (std::size_t i = 0; i < value.node.size(); ++i) {
    const Value entry = reader.item(value, i);
    const auto fields = reader.fields(entry, {"name", "clients", "lists"});
    const auto name = fields.find("name");
    const auto clients = fields.find("clients");
    const auto lists = fields.find("lists");
    if (name == fields.end()) reader.fail(entry, "missing key 'name'");
    if (clients == fields.end()) reader.fail(entry, "missing key 'clients'");
    if (lists == fields.end()) reader.fail(entry, "missing key 'lists'");
    ClientGroupConfig group;
    group.name = reader.get_string(name->second);
    for (const auto& seen : out.groups) {
      if (seen.name == group.name) reader.fail(name->second, "group name given twice");
    }
    reader.expect_list(clients->second, "networks");
    for (std::size_t j = 0; j < clients->second.node.size(); ++j) {
      const Value client = reader.item(clients->second, j);
      const std::string text = reader.get_string(client);
      filter::Prefix prefix;
      if (!filter::Prefix::parse(text, prefix)) {
        reader.fail(client,
                    "expected a network such as 10.1.0.0/16 or 2001:db8::/48, got '" + text + "'");
      }
      // One network in two groups would silently belong to the first.
      for (const ClientGroupConfig& seen : out.groups) {
        if (has_network(seen, prefix)) {
          reader.fail(client, "network " + text + " is already in group '" + seen.name + "'");
        }
      }
      if (has_network(group, prefix)) {
        reader.fail(client, "network " + text + " is already in group '" + group.name + "'");
      }
      group.clients.push_back(prefix);
    }
    reader.expect_list(lists->second, "list names");
    for (std::size_t j = 0; j < lists->second.node.size(); ++j) {
      const Value list = reader.item(lists->second, j);
      const std::string text = reader.get_string(list);
      bool known = false;
      for (const auto& candidate : out.lists) known |= candidate.name == text;
      if (!known) reader.fail(list, "no list named '" + text + "' in filter.lists");
      group.lists.push_back(text);
    }
    out.groups.push_back(std::move(group));
  }
}

void read_filter(const Reader& reader, const Value& section, FilterConfig& out) {
  const auto fields =
      reader.fields(section, {"response", "ttl", "refresh_interval", "watch_files", "state_dir",
                              "download_timeout", "download_max_size", "lists", "groups"});
  if (const auto it = fields.find("ttl"); it != fields.end()) {
    out.response.ttl = reader.get_seconds(it->second, 0, 86400);
  }
  if (const auto it = fields.find("response"); it != fields.end()) {
    out.response = read_response(reader, it->second, out.response);
  }
  if (const auto it = fields.find("refresh_interval"); it != fields.end()) {
    out.refresh_interval_s = reader.get_seconds(it->second, 0, 30 * 86400);
    if (out.refresh_interval_s != 0 && out.refresh_interval_s < 60) {
      reader.fail(it->second, "expected 0 (never) or at least 1m");
    }
  }
  if (const auto it = fields.find("watch_files"); it != fields.end()) {
    out.watch_files = reader.get_bool(it->second);
  }
  if (const auto it = fields.find("state_dir"); it != fields.end()) {
    out.state_dir = reader.get_string(it->second);
  }
  if (const auto it = fields.find("download_timeout"); it != fields.end()) {
    out.download_timeout_ms = reader.get_seconds(it->second, 1, 600) * 1000;
  }
  if (const auto it = fields.find("download_max_size"); it != fields.end()) {
    out.download_max_bytes = reader.get_bytes(it->second, 1ull << 10, 4ull << 30);
  }
  if (const auto it = fields.find("lists"); it != fields.end()) {
    read_filter_lists(reader, it->second, out);
  }
  if (const auto it = fields.find("groups"); it != fields.end()) {
    read_client_groups(reader, it->second, out);
  }
}

// Each record is also added to a trial set, so a CNAME beside other data (RFC 1034
// §3.6.2) is refused here with its line, not at the first reload.
void read_local_records(const Reader& reader, const Value& value, std::vector<std::string>& out) {
  reader.expect_list(value, "records");
  filter::LocalDataBuilder trial;
  for (std::size_t i = 0; i < value.node.size(); ++i) {
    const Value entry = reader.item(value, i);
    const std::string text = reader.get_string(entry);
    dns::RecordLine record;
    std::string error;
    if (!dns::parse_record(text, "", 3600, record, error)) reader.fail(entry, error);
    if (record.type == dns::rrtype::SOA || record.type == dns::rrtype::NS) {
      reader.fail(entry, "SOA and NS records are not local records");
    }
    if (trial.add(record, &error) == filter::kNoIndex) reader.fail(entry, error);
    out.push_back(text);
  }
}

void read_acl(const Reader& reader, const Value& section, AclConfig& out) {
  const auto fields = reader.fields(section, {"allow", "action"});
  if (const auto it = fields.find("allow"); it != fields.end()) {
    reader.expect_list(it->second, "networks");
    for (std::size_t i = 0; i < it->second.node.size(); ++i) {
      const Value entry = reader.item(it->second, i);
      const std::string text = reader.get_string(entry);
      filter::Prefix prefix;
      if (!filter::Prefix::parse(text, prefix)) {
        reader.fail(entry,
                    "expected a network such as 10.0.0.0/8 or 2001:db8::/32, got '" + text + "'");
      }
      out.allow.push_back(prefix);
    }
  }
  if (const auto it = fields.find("action"); it != fields.end()) {
    out.action = reader.get_choice<AclAction>(
        it->second, {{"refuse", AclAction::Refuse}, {"drop", AclAction::Drop}});
  }
}

void read_limits(const Reader& reader, const Value& section, LimitsConfig& out) {
  const auto fields =
      reader.fields(section, {"client_qps", "client_burst", "client_ipv4_prefix",
                              "client_ipv6_prefix", "responses_per_second", "slip", "any"});
  const auto number = [&](const char* key, unsigned& value, unsigned min, unsigned max) {
    if (const auto it = fields.find(key); it != fields.end()) {
      value = reader.get_uint(it->second, min, max);
    }
  };
  number("client_qps", out.client_qps, 0, 10'000'000);
  number("client_burst", out.client_burst, 0, 10'000'000);
  number("client_ipv4_prefix", out.client_ipv4_prefix, 1, 32);
  number("client_ipv6_prefix", out.client_ipv6_prefix, 1, 64);
  number("responses_per_second", out.responses_per_second, 0, 10'000'000);
  number("slip", out.slip, 0, 10);
  if (const auto it = fields.find("any"); it != fields.end()) {
    out.any = reader.get_choice<AnyPolicy>(it->second, {{"minimal", AnyPolicy::Minimal},
                                                        {"refuse", AnyPolicy::Refuse},
                                                        {"forward", AnyPolicy::Forward}});
  }
}

void read_management(const Reader& reader, const Value& section, ManagementSettings& out) {
  const auto fields = reader.fields(section, {"metrics_listen", "control_socket"});
  if (const auto it = fields.find("metrics_listen"); it != fields.end()) {
    out.metrics_listen = reader.get_endpoint(it->second);
  }
  if (const auto it = fields.find("control_socket"); it != fields.end()) {
    out.control_socket = reader.get_string(it->second);
    if (out.control_socket.size() >= 108) {  // sockaddr_un.sun_path
      reader.fail(it->second, "a Unix socket path has at most 107 characters");
    }
  }
}

void read_query_log(const Reader& reader, const Value& section, QueryLogSettings& out) {
  const auto fields =
      reader.fields(section, {"enabled", "path", "sample", "ring", "max_size", "keep"});
  if (const auto it = fields.find("enabled"); it != fields.end()) {
    out.enabled = reader.get_bool(it->second);
  }
  if (const auto it = fields.find("path"); it != fields.end()) {
    out.path = reader.get_string(it->second);
  }
  if (const auto it = fields.find("sample"); it != fields.end()) {
    out.sample = reader.get_uint(it->second, 1, 1'000'000);
  }
  if (const auto it = fields.find("ring"); it != fields.end()) {
    out.ring = reader.get_uint(it->second, 64, 1u << 24);
    if ((out.ring & (out.ring - 1)) != 0) {
      reader.fail(it->second, "expected a power of two, got " + std::to_string(out.ring));
    }
  }
  if (const auto it = fields.find("max_size"); it != fields.end()) {
    out.max_bytes = reader.get_bytes(it->second, 4096, 1ull << 40);
  }
  if (const auto it = fields.find("keep"); it != fields.end()) {
    out.keep = reader.get_uint(it->second, 0, 100);
  }
}

void read_chaos(const Reader& reader, const Value& section, ChaosConfig& out) {
  const auto fields = reader.fields(section, {"version", "hostname"});
  const auto text = [&](const Value& value) {
    std::string result = reader.get_string(value);
    if (result.size() > 255) {
      reader.fail(value, "expected at most 255 bytes (one TXT string), got " +
                             std::to_string(result.size()));
    }
    return result;
  };
  if (const auto it = fields.find("version"); it != fields.end()) out.version = text(it->second);
  if (const auto it = fields.find("hostname"); it != fields.end()) out.hostname = text(it->second);
}

void read_logging(const Reader& reader, const Value& section, LoggingConfig& out) {
  const auto fields = reader.fields(section, {"level"});
  if (const auto it = fields.find("level"); it != fields.end()) {
    out.level = reader.get_choice<LogLevel>(it->second, {{"trace", LogLevel::Trace},
                                                         {"debug", LogLevel::Debug},
                                                         {"info", LogLevel::Info},
                                                         {"warn", LogLevel::Warn},
                                                         {"error", LogLevel::Error},
                                                         {"critical", LogLevel::Critical},
                                                         {"off", LogLevel::Off}});
  }
}

// With no servers in the file, the host's resolver configuration supplies them, as
// for any stub on the machine; with neither, the process could answer nothing.
void fill_from_resolv_conf(const Reader& reader, const Value& where, const std::string& path,
                           UpstreamsConfig& out) {
  std::vector<net::Endpoint> servers;
  try {
    servers = read_resolv_conf(path);
  } catch (const ConfigError& error) {
    reader.fail(where, std::string("none configured, and resolv.conf could not supply one (") +
                           error.what() + ")");
  }
  if (servers.size() > kMaxUpstreamServers) servers.resize(kMaxUpstreamServers);
  for (const auto& endpoint : servers) out.servers.push_back(UpstreamServerConfig{endpoint});
  out.servers_from_resolv_conf = true;
}

// Exactly one YAML document; syntax errors carry the parser's line.
YAML::Node load_document(const Reader& reader, const std::string& yaml_text) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(yaml_text);
  } catch (const YAML::Exception& error) {
    reader.fail(line_of(error.mark, 1), "YAML syntax", error.msg);
  }
  if (documents.empty() || documents.front().IsNull()) {
    reader.fail(1, "(top level)", "the configuration is empty");
  }
  if (documents.size() > 1) {
    reader.fail(line_of(documents[1].Mark(), 1), "(top level)",
                "more than one YAML document ('---'); put everything in one");
  }
  return documents.front();
}

}  // namespace

bool in_subnet(const filter::Prefix& subnet, const net::Endpoint& address) {
  if (subnet.address.family != address.family) return false;
  const unsigned full_bytes = subnet.length / 8u;
  if (std::memcmp(subnet.address.address, address.address, full_bytes) != 0) return false;
  const unsigned rest = subnet.length % 8u;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (subnet.address.address[full_bytes] & mask) == (address.address[full_bytes] & mask);
}

// The DPDK fast path reaches an upstream only through its port: on the port's
// subnet, or through a gateway of the same family. Anything else would be counted
// and SERVFAILed at run time, query after query.
void check_reachable_from_port(const Reader& reader, int line, const Config& config) {
  const PortConfig& port = config.dataplane.ports.front();
  for (const net::Endpoint& server : all_upstream_servers(config.upstreams)) {
    const bool v4 = server.family == AF_INET;
    const auto& address = v4 ? port.address : port.address6;
    const bool has_gateway = v4 ? port.gateway.has_value() : port.gateway6.has_value();
    std::string problem;
    if (server.family == AF_INET
            ? server.address[0] == 127
            : server.address[15] == 1 && std::all_of(server.address, server.address + 15,
                                                     [](std::uint8_t byte) { return byte == 0; })) {
      problem = "is a loopback address, which the DPDK port cannot reach";
    } else if (!address) {
      problem = std::string("needs the port's ") + (v4 ? "address" : "address6");
    } else if (!in_subnet(*address, server) && !has_gateway) {
      problem = std::string("is not on the port's subnet and the port has no ") +
                (v4 ? "gateway" : "gateway6");
    }
    if (!problem.empty()) {
      reader.fail(
          line, "upstreams",
          "server " + server.to_string() + " " + problem +
              (config.upstreams.servers_from_resolv_conf ? " (from /etc/resolv.conf)" : ""));
    }
  }
}

Config parse_config(const std::string& yaml_text, const std::string& source_name,
                    const std::string& resolv_conf) {
  const Reader reader(source_name);
  const YAML::Node root_node = load_document(reader, yaml_text);
  const Value root{root_node, "", line_of(root_node.Mark(), 1), 1};
  if (!root_node.IsMap()) {
    reader.fail(root.line, "(top level)",
                "expected a mapping of sections, got " + describe(root_node));
  }
  const auto sections = reader.fields(
      root, {"dataplane", "edns", "listen", "upstreams", "cache", "filter", "local_records", "acl",
             "limits", "management", "query_log", "logging", "chaos"});
  const auto section = [&](const char* name) -> const Value* {
    const auto it = sections.find(name);
    return it == sections.end() ? nullptr : &it->second;
  };

  Config config;
  config.source = source_name;
  if (const Value* value = section("dataplane")) read_dataplane(reader, *value, config.dataplane);
  if (const Value* value = section("edns")) read_edns(reader, *value, config.edns);
  if (const Value* value = section("listen")) read_listen(reader, *value, config.listen);
  int servers_line = 1;
  if (const Value* value = section("upstreams")) {
    servers_line = read_upstreams(reader, *value, config.upstreams);
  }
  if (const Value* value = section("cache")) read_cache(reader, *value, config.cache);
  if (const Value* value = section("filter")) read_filter(reader, *value, config.filter);
  if (const Value* value = section("local_records")) {
    read_local_records(reader, *value, config.local_records);
  }
  if (const Value* value = section("logging")) read_logging(reader, *value, config.logging);
  if (const Value* value = section("acl")) read_acl(reader, *value, config.acl);
  if (const Value* value = section("limits")) read_limits(reader, *value, config.limits);
  if (const Value* value = section("chaos")) read_chaos(reader, *value, config.chaos);

  // Not active in this build: only their shape is checked, so that a file written
  // for a later version is not refused for their content.
  if (const Value* value = section("management")) {
    read_management(reader, *value, config.management);
  }
  if (const Value* value = section("query_log")) {
    read_query_log(reader, *value, config.query_log);
  }

  if (config.dataplane.backend == Backend::Socket && config.listen.udp.empty() &&
      config.listen.tcp.empty()) {
    const Value* listen = section("listen");
    reader.fail(listen ? listen->key_line : 1, "listen",
                "the socket backend needs at least one udp or tcp address");
  }
  if (config.dataplane.backend == Backend::Dpdk && !config.listen.udp.empty()) {
    const Value* listen = section("listen");
    reader.fail(listen ? listen->key_line : 1, "listen.udp",
                "the dpdk backend answers UDP on its ports' addresses; listen.udp is for the "
                "socket backend (listen.tcp is the exception path's)");
  }
  if (config.upstreams.servers.empty() && !resolv_conf.empty()) {
    fill_from_resolv_conf(reader,
                          Value{YAML::Node(), "upstreams.servers", servers_line, servers_line},
                          resolv_conf, config.upstreams);
  }
  if (config.dataplane.backend == Backend::Dpdk) {
    check_reachable_from_port(reader, servers_line, config);
  }
  if (const std::size_t total = all_upstream_servers(config.upstreams).size();
      total > kMaxUpstreamServers) {
    reader.fail(servers_line, "upstreams",
                "at most " + std::to_string(kMaxUpstreamServers) +
                    " distinct servers with those of forward_zones, got " + std::to_string(total));
  }
  return config;
}

std::vector<net::Endpoint> all_upstream_servers(const UpstreamsConfig& upstreams) {
  std::vector<net::Endpoint> servers;
  const auto add = [&](const net::Endpoint& server) {
    for (const auto& seen : servers) {
      if (seen == server) return;
    }
    servers.push_back(server);
  };
  for (const auto& server : upstreams.servers) add(server.address);
  for (const auto& zone : upstreams.forward_zones) {
    for (const auto& server : zone.servers) add(server);
  }
  return servers;
}

Config load_config_file(const std::string& path, const std::string& resolv_conf) {
  // A directory opens fine as an ifstream and then reads as an empty file.
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) {
    throw ConfigError(path + ": cannot read the configuration file: it is a directory");
  }
  std::ifstream file(path);
  if (!file) {
    throw ConfigError(path + ": cannot read the configuration file: " + std::strerror(errno));
  }
  std::stringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    throw ConfigError(path + ": cannot read the configuration file: " + std::strerror(errno));
  }
  return parse_config(text.str(), path, resolv_conf);
}

const std::string& embedded_dev_config() {
  static const std::string text =
#include "embedded_dev_config.inc"
      ;
  return text;
}

}  // namespace heimdall::control
