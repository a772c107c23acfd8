// DNS wire-format constants and the fixed 12-byte header (RFC 1035 §4.1.1).
//
// Everything in heimdall::dns works on caller-owned buffers: no allocation, no
// exceptions. Multi-byte fields are big-endian on the wire; the helpers below are
// the only place that knows it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace heimdall::dns {

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::size_t kMaxNameWire = 255;  // RFC 1035 §2.3.4, including the root byte
inline constexpr std::size_t kMaxLabel = 63;
inline constexpr std::size_t kMinUdpPayload = 512;  // RFC 1035 §4.2.1: the size without EDNS
inline constexpr std::size_t kMaxMessage = 65535;   // TCP length prefix limit (RFC 7766 §8)

enum class Opcode : std::uint8_t { Query = 0, IQuery = 1, Status = 2, Notify = 4, Update = 5 };

// The 4-bit RCODE of the header plus the EDNS extended values (RFC 6891 §6.1.3).
enum class Rcode : std::uint16_t {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NxDomain = 3,
  NotImp = 4,
  Refused = 5,
  BadVers = 16,  // needs an OPT: header RCODE 0, OPT extended RCODE 1
};

// The mnemonic of a header RCODE (0-15), as metrics label replies (RFC 6895 §2.3).
constexpr std::string_view rcode_name(std::size_t rcode) {
  constexpr std::string_view kNames[16] = {
      "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
      "NXRRSET", "NOTAUTH", "NOTZONE",  "DSOTYPENI", "RCODE12", "RCODE13", "RCODE14",  "RCODE15"};
  return rcode < 16 ? kNames[rcode] : std::string_view{};
}

namespace rrtype {
inline constexpr std::uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, HINFO = 13, MX = 15,
                               TXT = 16, AAAA = 28, OPT = 41, TSIG = 250, IXFR = 251, AXFR = 252,
                               ANY = 255;
}
namespace rrclass {
inline constexpr std::uint16_t IN = 1, CH = 3, HS = 4, ANY = 255;
}

// RFC 2181 §8: a TTL is an unsigned number from 0 to 2^31 - 1; one with the most
// significant bit set is treated as 0.
inline constexpr std::uint32_t ttl_value(std::uint32_t wire_ttl) {
  return (wire_ttl & 0x80000000u) != 0 ? 0 : wire_ttl;
}
// The TTL a client is told: ttl_value, then bounded to [floor, ceiling].
inline constexpr std::uint32_t clamp_ttl(std::uint32_t wire_ttl, std::uint32_t floor,
                                         std::uint32_t ceiling) {
  const std::uint32_t ttl = ttl_value(wire_ttl);
  return ttl < floor ? floor : ttl > ceiling ? ceiling : ttl;
}

inline std::uint16_t load_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}
inline void store_u16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void store_u32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// Flag bits of the header's second 16-bit word.
namespace flag {
inline constexpr std::uint16_t QR = 0x8000, AA = 0x0400, TC = 0x0200, RD = 0x0100, RA = 0x0080,
                               AD = 0x0020, CD = 0x0010;
inline constexpr std::uint16_t kOpcodeMask = 0x7800, kRcodeMask = 0x000f;
}  // namespace flag

// A decoded copy of the header; `read`/`write` convert from and to the wire.
struct Header {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  std::uint16_t qdcount = 0;
  std::uint16_t ancount = 0;
  std::uint16_t nscount = 0;
  std::uint16_t arcount = 0;

  static Header read(const std::uint8_t* wire) {
    return Header{load_u16(wire),     load_u16(wire + 2), load_u16(wire + 4),
                  load_u16(wire + 6), load_u16(wire + 8), load_u16(wire + 10)};
  }
  void write(std::uint8_t* wire) const {
    store_u16(wire, id);
    store_u16(wire + 2, flags);
    store_u16(wire + 4, qdcount);
    store_u16(wire + 6, ancount);
    store_u16(wire + 8, nscount);
    store_u16(wire + 10, arcount);
  }

  bool has(std::uint16_t f) const { return (flags & f) != 0; }
  void set(std::uint16_t f, bool on) { flags = on ? (flags | f) : (flags & ~f); }
  Opcode opcode() const { return static_cast<Opcode>((flags & flag::kOpcodeMask) >> 11); }
  std::uint8_t rcode() const { return static_cast<std::uint8_t>(flags & flag::kRcodeMask); }
  void set_rcode(std::uint8_t rc) {
    flags = static_cast<std::uint16_t>((flags & ~flag::kRcodeMask) | (rc & flag::kRcodeMask));
  }
};

// Wire offsets of header fields, for patching a message in place.
namespace offset {
inline constexpr std::size_t kId = 0, kFlags = 2, kQdcount = 4, kAncount = 6, kNscount = 8,
                             kArcount = 10;
}

}  // namespace heimdall::dns
