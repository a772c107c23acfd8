// The generator's own command line (what follows `--` after the EAL arguments).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "heimdall/net/frame.hpp"

namespace heimdall::gen {

struct Options {
  std::uint16_t port_id = 0;
  std::optional<net::MacAddress> src_mac;  // default: the port's own MAC
  net::MacAddress dst_mac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};
  bool resolve_dst_mac = false;        // --dst-mac arp
  std::uint32_t src_net = 0x0a630000;  // 10.99.0.0, host byte order
  std::uint8_t src_prefix = 16;
  std::uint32_t clients = 4096;
  std::uint16_t src_port = 1024;  // client i sends from port src_port + i
  std::array<std::uint8_t, 4> dst{198, 18, 0, 1};
  std::uint16_t dst_port = 53;
  // --serve-upstream: queries to this address (host byte order), port 53, are
  // answered by the generator itself, so a forwarding target has an upstream on
  // the same link. 0: off.
  std::uint32_t serve_upstream = 0;
  std::uint32_t names = 65536;
  std::uint32_t hot = 64;
  double hit_ratio = 0.0;
  std::string zone = "bench.example.";
  std::uint16_t qtype = 1;
  bool edns = true;
  std::uint16_t edns_size = 1232;
  bool recursion_desired = true;
  double rate = 0.0;  // queries per second; 0: as fast as the port takes them
  double duration = 10.0;
  double warmup = 0.0;
  double drain = 0.1;
  double link_timeout = 10.0;
  double linger = 0.0;  // after the report, wait this long for the peer to disconnect
  std::uint16_t burst = 32;
  bool json = false;
};

// Parses the generator's arguments (argv[0] is not one of them). On a bad value it
// prints the reason to stderr and exits with status 2; --help prints
// the usage to stdout and exits with 0.
Options parse_options(int argc, char** argv);

void print_usage(std::FILE* out);

// The text of name `index` of the set: "q<index>." followed by the zone.
inline std::string query_name(std::uint32_t index, const std::string& zone) {
  std::string name = "q" + std::to_string(index);
  if (zone != ".") name += zone.front() == '.' ? zone : "." + zone;
  if (name.back() != '.') name += '.';
  return name;
}

}  // namespace heimdall::gen
