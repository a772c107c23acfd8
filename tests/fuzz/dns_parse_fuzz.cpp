// libFuzzer target over the wire parser and the builders fed by it: whatever the
// input, parsing must stay in bounds, and every message we build from it must
// parse back.
#include <cstdlib>
#include <cstring>

#include "heimdall/cache/cacheability.hpp"
#include "heimdall/cache/stored_answer.hpp"
#include "heimdall/dns/build.hpp"
#include "heimdall/dns/message.hpp"

using namespace heimdall::dns;

namespace {

void require_parses(const std::uint8_t* data, std::size_t size) {
  Message msg;
  if (size != 0 && parse_message({data, size}, msg) != ParseError::Ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> wire(data, size);
  Message msg;
  const ParseError error = parse_message(wire, msg);
  if (error != ParseError::Ok) {
    // An error reply echoes the question only when it parsed.
    static std::uint8_t out[kMaxMessage];
    if (size >= kHeaderSize) {
      ClientView view{.id = msg.header.id, .flags = msg.header.flags};
      if (msg.has_question) view.question = msg.question.wire(wire);
      require_parses(out, build_error(view, Rcode::FormErr, 1232, out));
    }
    return 0;
  }

  std::size_t records = 0;
  for_each_record(wire, msg, [&](const Record& record) {
    if (record.end > size || record.ttl_offset + 4 > size) std::abort();
    ++records;
    return true;
  });
  if (records != std::size_t{msg.header.ancount} + msg.header.nscount + msg.header.arcount) {
    std::abort();
  }
  (void)negative_ttl(wire, msg);

  if (!msg.has_question) return 0;
  static std::uint8_t out[kMaxMessage];
  const ClientView client{.id = 0x4242,
                          .flags = static_cast<std::uint16_t>(msg.header.flags & 0x0130),
                          .question = msg.question.wire(wire),
                          .edns = (size & 1) != 0,
                          .dnssec_ok = msg.edns.dnssec_ok,
                          .reply_limit = static_cast<std::uint16_t>(512 + (size % 1024))};
  const std::size_t reply = build_reply(wire, msg, client, 1232, out);
  if (reply > client.reply_limit) std::abort();
  require_parses(out, reply);
  require_parses(out, build_error(client, Rcode::BadVers, 1232, out));

  // The cache's stored form and the reply built from it on a hit, for what the
  // cache would store.
  if (!heimdall::cache::judge(wire, msg, {}).cacheable) {
    require_parses(out, build_upstream_query(client, 7, 1232, out));
    return 0;
  }
  static std::uint8_t stored[kMaxMessage + 1024];
  const std::size_t stored_length = heimdall::cache::store_answer(wire, msg, stored);
  if (stored_length != heimdall::cache::stored_size(wire, msg)) std::abort();
  const std::size_t hit = heimdall::cache::reply_from_stored(
      {stored, stored_length}, client, {.age_s = static_cast<std::uint32_t>(size % 600)}, 1232,
      out);
  if (hit > client.reply_limit) std::abort();
  require_parses(out, hit);
  require_parses(out, build_upstream_query(client, 7, 1232, out));
  return 0;
}
