#include "options.hpp"

#include <arpa/inet.h>
#include <strings.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "heimdall/dns/name.hpp"
#include "heimdall/dns/wire.hpp"

namespace heimdall::gen {
namespace {

constexpr std::uint32_t kMaxNames = 1u << 24;
constexpr std::uint32_t kMaxBurst = 512;

[[noreturn]] void fail(const std::string& problem) {
  std::fprintf(stderr, "gen: %s (gen -- --help lists the options)\n", problem.c_str());
  std::exit(2);
}

std::uint64_t parse_unsigned(std::string_view flag, const char* text, std::uint64_t low,
                             std::uint64_t high) {
  errno = 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value < low || value > high) {
    fail(std::string(flag) + ": '" + text + "' is not a whole number in " + std::to_string(low) +
         ".." + std::to_string(high));
  }
  return value;
}

double parse_double(std::string_view flag, const char* text, double low, double high) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !std::isfinite(value) || value < low ||
      value > high) {
    char range[96];
    std::snprintf(range, sizeof(range), "%g..%g", low, high);
    fail(std::string(flag) + ": '" + text + "' is not a number in " + range);
  }
  return value;
}

std::array<std::uint8_t, 4> parse_ipv4(std::string_view flag, const std::string& text) {
  in_addr address{};
  if (inet_pton(AF_INET, text.c_str(), &address) != 1) {
    fail(std::string(flag) + ": '" + text + "' is not an IPv4 address");
  }
  std::array<std::uint8_t, 4> out{};
  std::memcpy(out.data(), &address, 4);
  return out;
}

std::uint16_t parse_qtype(const char* text) {
  static const std::pair<const char*, std::uint16_t> kTypes[] = {{"A", dns::rrtype::A},
                                                                 {"NS", dns::rrtype::NS},
                                                                 {"CNAME", dns::rrtype::CNAME},
                                                                 {"SOA", dns::rrtype::SOA},
                                                                 {"PTR", dns::rrtype::PTR},
                                                                 {"MX", dns::rrtype::MX},
                                                                 {"TXT", dns::rrtype::TXT},
                                                                 {"AAAA", dns::rrtype::AAAA},
                                                                 {"SRV", 33},
                                                                 {"DS", 43},
                                                                 {"DNSKEY", 48},
                                                                 {"HTTPS", 65},
                                                                 {"ANY", dns::rrtype::ANY}};
  for (const auto& [name, value] : kTypes) {
    if (strcasecmp(text, name) == 0) return value;
  }
  const char* digits = strncasecmp(text, "TYPE", 4) == 0 ? text + 4 : text;
  if (*digits >= '0' && *digits <= '9') {
    return static_cast<std::uint16_t>(parse_unsigned("--qtype", digits, 1, 65535));
  }
  fail(std::string("--qtype: unknown type '") + text + "' (a name such as A or AAAA, or a number)");
}

}  // namespace

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: gen [EAL args] -- [options]\n"
      "Open-loop DNS query generator on DPDK port 0 (the first vdev), for example\n"
      "  gen --no-huge --no-shconf --no-pci -m 512 -l 0 \\\n"
      "      --vdev=net_memif0,role=server,socket=/tmp/lab/memif.sock -- --rate 100000\n"
      "One lcore, one RX and one TX queue. Sending never waits for replies; each reply is\n"
      "matched to its query by (client port, DNS ID) for the latency.\n"
      "\n"
      "Addresses:\n"
      "  --port N           DPDK port id (default 0)\n"
      "  --src-mac MAC      our MAC (default: the port's own MAC)\n"
      "  --dst-mac MAC|arp  the target's MAC (default 02:00:00:00:00:01); 'arp' asks\n"
      "                     --dst for it by ARP before starting (up to 3 s)\n"
      "  --src-net A.B.C.D/P  simulated clients' addresses (default 10.99.0.0/16)\n"
      "  --clients N        distinct clients (default 4096); client i sends from the i-th\n"
      "                     host of --src-net (wrapping) and from UDP port --src-port + i\n"
      "  --src-port N       first client source port (default 1024)\n"
      "  --dst A.B.C.D      target address (default 198.18.0.1)\n"
      "  --dst-port N       target UDP port (default 53)\n"
      "  --serve-upstream A.B.C.D  answer DNS queries sent to A.B.C.D:53 itself, as a\n"
      "                     wildcard zone: A 192.0.2.1, AAAA 2001:db8::1, other types no\n"
      "                     data, TTL 300, so a forwarding target has an upstream on the link\n"
      "The generator answers ARP requests for any address but --dst with its own MAC.\n"
      "\n"
      "Queries:\n"
      "  --names N          name set q0.ZONE .. q<N-1>.ZONE (default 65536, max 16777216;\n"
      "                     about 100 bytes of memory each)\n"
      "  --zone NAME        (default bench.example.)\n"
      "  --hot N            hot-set size: names q0..q<N-1> (default 64)\n"
      "  --hit-ratio R      0..1: share of queries drawn at random from the hot set (default\n"
      "                     0); the rest cycle through the other names in order, so each\n"
      "                     misses a cache until the whole set has been seen once\n"
      "  --qtype T          A, AAAA, MX, TXT, ... or a number (default A)\n"
      "  --no-edns          no OPT record (default: OPT with --edns-size)\n"
      "  --edns-size N      advertised UDP size (default 1232)\n"
      "  --no-rd            clear RD (default: set)\n"
      "\n"
      "Run:\n"
      "  --rate PPS         queries per second, paced by the TSC; 0 = as fast as the port\n"
      "                     takes them (default 0)\n"
      "  --duration S       measured seconds (default 10)\n"
      "  --warmup S         seconds sent before measuring, not counted (default 0)\n"
      "  --drain-ms MS      wait after the last query for replies in flight (default 100)\n"
      "  --link-timeout S   give up when the port is not up by then (default 10)\n"
      "  --linger S         after the results, wait up to S seconds for the peer to take\n"
      "                     the link down before leaving it (default 0). DPDK 22.11's\n"
      "                     memif unmaps the shared rings under a peer that is still\n"
      "                     polling, which can crash it: a script stops the peer once the\n"
      "                     results are out, and gen leaves after it\n"
      "  --burst N          packets per RX/TX burst, 1..512 (default 32)\n"
      "  --json             also print the results as one JSON object on a line of its own\n"
      "  -h, --help         this text\n"
      "\n"
      "Replies: a DNS reply from the target (UDP source port --dst-port) is matched by its\n"
      "destination port and ID; a frame that comes back unchanged but for its MACs (a\n"
      "reflector such as testpmd's macswap: UDP destination port --dst-port) by its\n"
      "source port and ID. Each query is counted once; a reply that finds its slot reused\n"
      "by a newer query is late, one that finds no query is unmatched (duplicate).\n"
      "SIGINT/SIGTERM end the run early; the results are still printed.\n"
      "Exit: 0 done, 1 run-time failure (EAL, port, link never up), 2 bad arguments.\n",
      out);
}

Options parse_options(int argc, char** argv) {
  Options options;
  bool names_set = false;
  bool hot_set = false;
  for (int i = 0; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      print_usage(stdout);
      std::exit(0);
    }
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) fail(std::string(flag) + " needs a value");
      return argv[++i];
    };
    const auto mac = [&](const char* text) {
      auto parsed = net::MacAddress::parse(text);
      if (!parsed) fail(std::string(flag) + ": '" + text + "' is not a MAC address");
      return *parsed;
    };
    if (flag == "--port") {
      options.port_id = static_cast<std::uint16_t>(parse_unsigned(flag, value(), 0, 1023));
    } else if (flag == "--src-mac") {
      options.src_mac = mac(value());
    } else if (flag == "--dst-mac") {
      const char* text = value();
      if (std::strcmp(text, "arp") == 0) {
        options.resolve_dst_mac = true;
      } else {
        options.dst_mac = mac(text);
        options.resolve_dst_mac = false;
      }
    } else if (flag == "--src-net") {
      const std::string text = value();
      const auto slash = text.find('/');
      if (slash == std::string::npos) fail("--src-net: '" + text + "' is not A.B.C.D/PREFIX");
      const auto address = parse_ipv4(flag, text.substr(0, slash));
      options.src_prefix =
          static_cast<std::uint8_t>(parse_unsigned(flag, text.c_str() + slash + 1, 8, 32));
      const std::uint32_t host_mask =
          options.src_prefix == 32 ? 0 : (0xffffffffu >> options.src_prefix);
      options.src_net = ((std::uint32_t{address[0]} << 24) | (std::uint32_t{address[1]} << 16) |
                         (std::uint32_t{address[2]} << 8) | address[3]) &
                        ~host_mask;
    } else if (flag == "--clients") {
      options.clients = static_cast<std::uint32_t>(parse_unsigned(flag, value(), 1, 65535));
    } else if (flag == "--src-port") {
      options.src_port = static_cast<std::uint16_t>(parse_unsigned(flag, value(), 1, 65535));
    } else if (flag == "--dst") {
      options.dst = parse_ipv4(flag, value());
    } else if (flag == "--serve-upstream") {
      const auto address = parse_ipv4(flag, value());
      options.serve_upstream = (std::uint32_t{address[0]} << 24) |
                               (std::uint32_t{address[1]} << 16) |
                               (std::uint32_t{address[2]} << 8) | address[3];
      if (options.serve_upstream == 0) fail("--serve-upstream: 0.0.0.0 is not an address");
    } else if (flag == "--dst-port") {
      options.dst_port = static_cast<std::uint16_t>(parse_unsigned(flag, value(), 1, 65535));
    } else if (flag == "--names") {
      options.names = static_cast<std::uint32_t>(parse_unsigned(flag, value(), 1, kMaxNames));
      names_set = true;
    } else if (flag == "--zone") {
      options.zone = value();
    } else if (flag == "--hot") {
      options.hot = static_cast<std::uint32_t>(parse_unsigned(flag, value(), 1, kMaxNames));
      hot_set = true;
    } else if (flag == "--hit-ratio") {
      options.hit_ratio = parse_double(flag, value(), 0.0, 1.0);
    } else if (flag == "--qtype") {
      options.qtype = parse_qtype(value());
    } else if (flag == "--no-edns") {
      options.edns = false;
    } else if (flag == "--edns-size") {
      options.edns_size = static_cast<std::uint16_t>(parse_unsigned(flag, value(), 512, 65535));
    } else if (flag == "--no-rd") {
      options.recursion_desired = false;
    } else if (flag == "--rate") {
      options.rate = parse_double(flag, value(), 0.0, 1e9);
    } else if (flag == "--duration") {
      options.duration = parse_double(flag, value(), 0.001, 86400.0);
    } else if (flag == "--warmup") {
      options.warmup = parse_double(flag, value(), 0.0, 3600.0);
    } else if (flag == "--drain-ms") {
      options.drain = parse_double(flag, value(), 0.0, 60000.0) / 1000.0;
    } else if (flag == "--link-timeout") {
      options.link_timeout = parse_double(flag, value(), 0.1, 600.0);
    } else if (flag == "--linger") {
      options.linger = parse_double(flag, value(), 0.0, 600.0);
    } else if (flag == "--burst") {
      options.burst = static_cast<std::uint16_t>(parse_unsigned(flag, value(), 1, kMaxBurst));
    } else if (flag == "--json") {
      options.json = true;
    } else {
      fail("unknown option '" + std::string(flag) + "'");
    }
  }

  if (std::uint32_t{options.src_port} + options.clients - 1 > 65535) {
    fail("--src-port + --clients must stay within port 65535");
  }
  if (options.dst_port >= options.src_port &&
      std::uint32_t{options.dst_port} - options.src_port < options.clients) {
    fail("--dst-port must not be one of the clients' source ports (--src-port .. + --clients)");
  }
  if (options.hot > options.names) {
    if (names_set && hot_set) fail("--hot must not exceed --names");
    if (names_set) {
      options.hot = options.names;
    } else {
      options.names = options.hot;
    }
  }
  std::uint8_t wire[dns::kMaxNameWire];
  const std::string longest =
      options.zone.empty() ? "" : query_name(options.names - 1, options.zone);
  if (options.zone.empty() || dns::name_from_text(longest.c_str(), wire) == 0) {
    fail("--zone: '" + options.zone + "' does not make valid names (" + longest + ")");
  }
  return options;
}

}  // namespace heimdall::gen
