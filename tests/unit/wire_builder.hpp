// Hand-built DNS packets for unit tests: each call appends wire bytes, so a test
// reads like the packet it builds.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "heimdall/dns/name.hpp"
#include "heimdall/dns/wire.hpp"

namespace heimdall::testing {

using Bytes = std::vector<std::uint8_t>;

// A small builder for test packets: each call appends wire bytes.
class Packet {
 public:
  Packet& header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an,
                 std::uint16_t ns, std::uint16_t ar) {
    for (std::uint16_t v : {id, flags, qd, an, ns, ar}) u16(v);
    return *this;
  }
  Packet& name(const char* text) {
    std::uint8_t wire[dns::kMaxNameWire];
    const std::size_t length = dns::name_from_text(text, wire);
    EXPECT_NE(length, 0u) << text;
    bytes.insert(bytes.end(), wire, wire + length);
    return *this;
  }
  Packet& question(const char* text, std::uint16_t qtype = dns::rrtype::A) {
    name(text);
    u16(qtype);
    return u16(dns::rrclass::IN);
  }
  Packet& pointer(std::uint16_t offset) { return u16(static_cast<std::uint16_t>(0xc000 | offset)); }
  Packet& record(std::uint16_t type, std::uint32_t ttl, const Bytes& rdata,
                 std::uint16_t rclass = dns::rrclass::IN) {
    u16(type);
    u16(rclass);
    u32(ttl);
    u16(static_cast<std::uint16_t>(rdata.size()));
    return raw(rdata);
  }
  Packet& opt(std::uint16_t size = 1232, bool dnssec_ok = false, std::uint8_t version = 0,
              const Bytes& options = {}, std::uint8_t extended_rcode = 0) {
    bytes.push_back(0);
    u16(dns::rrtype::OPT);
    u16(size);
    u32((std::uint32_t{extended_rcode} << 24) | (std::uint32_t{version} << 16) |
        (dnssec_ok ? 0x8000u : 0u));
    u16(static_cast<std::uint16_t>(options.size()));
    return raw(options);
  }
  Packet& raw(const Bytes& more) {
    bytes.insert(bytes.end(), more.begin(), more.end());
    return *this;
  }
  Packet& u16(std::uint16_t v) {
    bytes.push_back(static_cast<std::uint8_t>(v >> 8));
    bytes.push_back(static_cast<std::uint8_t>(v));
    return *this;
  }
  Packet& u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    return u16(static_cast<std::uint16_t>(v));
  }
  Bytes bytes;
};

inline Bytes a_rdata(std::uint8_t last) { return {192, 0, 2, last}; }

inline Bytes soa_rdata(std::uint32_t minimum) {
  Packet p;
  p.name("ns1.example.com").name("hostmaster.example.com");
  for (std::uint32_t v : {1u, 3600u, 600u, 86400u, minimum}) p.u32(v);
  return p.bytes;
}

// A query name as the parser hands it over: folded, uncompressed wire form.
inline dns::NameKey folded_key(const std::string& text) {
  dns::NameKey key;
  key.length = static_cast<std::uint8_t>(dns::name_from_text(text.c_str(), key.wire));
  EXPECT_NE(key.length, 0) << text;
  for (std::uint8_t i = 0; i < key.length; ++i) {
    if (key.wire[i] >= 'A' && key.wire[i] <= 'Z') key.wire[i] += 32;
  }
  return key;
}

}  // namespace heimdall::testing
