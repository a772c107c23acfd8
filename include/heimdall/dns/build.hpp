// Writing messages into a caller's buffer: queries to upstreams, the appliance's
// own replies built from an upstream answer, error responses, the OPT record, and
// truncation to the client's UDP size. Every function returns the number of bytes
// written, or 0 when the output buffer is too small (never a partial message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "heimdall/dns/message.hpp"
#include "heimdall/dns/wire.hpp"

namespace heimdall::dns {

inline constexpr std::size_t kOptRecordSize = 11;  // root owner, type, class, ttl, rdlength 0

// What the appliance puts in the OPT of a message it writes.
struct OptSpec {
  std::uint16_t udp_size = 1232;  // our own payload size (docs/architecture.md §6.6)
  std::uint8_t extended_rcode = 0;
  bool dnssec_ok = false;
};

// Writes an OPT record with no options. Needs kOptRecordSize bytes.
std::size_t write_opt(std::span<std::uint8_t> out, const OptSpec& spec);

// Everything of the client's query that its reply must echo; stored per waiting
// client while the query is forwarded.
struct ClientView {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;                 // the query's flags word: opcode, RD, AD, CD are used
  std::span<const std::uint8_t> question;  // QNAME+QTYPE+QCLASS exactly as the client sent them
  bool edns = false;                       // the query carried an OPT: the reply carries one
  bool dnssec_ok = false;
  std::uint16_t reply_limit = kMinUdpPayload;  // largest reply; 65535 over TCP
};

// The reply size limit for a UDP client (docs/architecture.md §6.6):
// min(max(client EDNS size, 512), max_udp); 512 when the query had no OPT.
std::uint16_t udp_reply_limit(const Edns& client_edns, std::uint16_t max_udp);

// Builds the query sent upstream for a client's question: the given ID, RD and CD
// from the client, AD when the client set AD or DO, and an OPT advertising
// `upstream_udp_size` with the client's DO bit. The question bytes keep the client's case.
[[nodiscard]] std::size_t build_upstream_query(const ClientView& client, std::uint16_t id,
                                               std::uint16_t upstream_udp_size,
                                               std::span<std::uint8_t> out);

// The flags word of the appliance's reply: QR and RA set, opcode, RD and CD from
// the client, the upstream's RCODE, AD only when the upstream set it and the
// client asked with AD or DO (RFC 6840 §5.8), AA never, TC when `truncated`.
std::uint16_t reply_flags(std::uint16_t client_flags, bool client_dnssec_ok,
                          std::uint16_t upstream_flags, bool truncated);

// The TTLs a reply relayed from an upstream answer may carry: each record's TTL is
// read by ttl_value (RFC 2181 §8: top bit set is 0), then bounded to
// [floor, ceiling] (the operator's cache.min_ttl/max_ttl, see
// cache::reply_ttl_bounds), so that a miss tells the client what a hit would.
struct TtlBounds {
  std::uint32_t floor = 0;
  std::uint32_t ceiling = 0x7fffffff;
};

// Builds the appliance's reply to `client` from an upstream answer:
// - header: the client's ID, QR, opcode QUERY, the upstream RCODE, RD copied from
//   the client, RA set, AA cleared, CD copied from the client, AD only when the
//   upstream set it and the client asked with AD or DO (RFC 6840 §5.8);
// - question: the client's exact bytes (its 0x20 case);
// - records: the upstream's answer, authority and additional records up to its OPT
//   or TSIG (anything from there on is dropped: the upstream's options such as
//   COOKIE or NSID never reach the client); the upstream question must have the
//   same length as the client's so that compression pointers stay valid;
// - OPT: one built for this client (`our_udp_size`, the client's DO) when the
//   client sent one;
// - truncation to client.reply_limit at RRset boundaries: whole RRsets are dropped
//   from the end; TC is set when an answer or authority record had to go
//   (additional data is dropped silently, RFC 2181 §9); when not even the first
//   RRset fits, header + question + OPT with TC;
// - TTLs: every record's, within `ttl` (above).
// An upstream answer with TC set keeps TC.
[[nodiscard]] std::size_t build_reply(std::span<const std::uint8_t> upstream,
                                      const Message& upstream_msg, const ClientView& client,
                                      std::uint16_t our_udp_size, std::span<std::uint8_t> out,
                                      const TtlBounds& ttl = {});

// Builds an error response (FORMERR, SERVFAIL, NOTIMP, REFUSED, BADVERS) to the
// client: its ID, opcode, RD and CD, QR and RA set, the question echoed when
// `client.question` is not empty, and an OPT when the client sent one (always for
// BADVERS, which lives in the OPT's extended RCODE). RA, AD and CD are defined
// for opcode QUERY only: the reply to any other opcode has none of them.
[[nodiscard]] std::size_t build_error(const ClientView& client, Rcode rcode,
                                      std::uint16_t our_udp_size, std::span<std::uint8_t> out);

// RFC 8482 §4.2: the minimal answer to a query of type ANY: one synthesized
// HINFO record, CPU "RFC8482", OS "", TTL `ttl`, owned by the question's name,
// NOERROR, plus an OPT when the client sent one. The client's question is echoed.
[[nodiscard]] std::size_t build_any_minimal(const ClientView& client, std::uint32_t ttl,
                                            std::uint16_t our_udp_size,
                                            std::span<std::uint8_t> out);

// The local answer to a CHAOS-class TXT question (version.bind and friends): the
// question echoed, one TXT record of class CH, TTL 0, owned by the question's name,
// holding `text` (at most 255 bytes) as one string; QR, AA, RA set, RD copied;
// plus an OPT when the client sent one.
[[nodiscard]] std::size_t build_chaos_txt(const ClientView& client,
                                          std::span<const std::uint8_t> text,
                                          std::uint16_t our_udp_size, std::span<std::uint8_t> out);

}  // namespace heimdall::dns
