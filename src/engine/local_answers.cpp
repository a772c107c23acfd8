// The answers the engine builds from its configuration instead of forwarding:
// ANY's minimal answer and the CHAOS names (docs/architecture.md §6.1). Part of
// Engine, apart from its pipeline: neither is ever forwarded nor cached.
#include <algorithm>

#include "heimdall/engine/engine.hpp"

namespace heimdall::engine {
namespace {

using dns::Rcode;

// The CHAOS names answered locally, folded wire form.
constexpr std::uint8_t kVersionBind[] = {7,   'v', 'e', 'r', 's', 'i', 'o',
                                         'n', 4,   'b', 'i', 'n', 'd', 0};
constexpr std::uint8_t kVersionServer[] = {7, 'v', 'e', 'r', 's', 'i', 'o', 'n',
                                           6, 's', 'e', 'r', 'v', 'e', 'r', 0};
constexpr std::uint8_t kHostnameBind[] = {8,   'h', 'o', 's', 't', 'n', 'a', 'm',
                                          'e', 4,   'b', 'i', 'n', 'd', 0};
constexpr std::uint8_t kIdServer[] = {2, 'i', 'd', 6, 's', 'e', 'r', 'v', 'e', 'r', 0};

}  // namespace

// RFC 8482: ANY is the amplifier's favourite question; it gets one small record
// (or REFUSED, where the operator prefers), never the whole name.
void Engine::answer_any(const dns::ClientView& view, const net::ClientRef& to, Sink& sink) {
  if (guard_.config().any == AnyPolicy::Refuse) {
    reply_error(view, to, Rcode::Refused, sink);
    return;
  }
  const std::size_t length =
      dns::build_any_minimal(view, kAnyMinimalTtl, config_.max_udp, {scratch_.get(), kScratchSize});
  if (length == 0) {
    reply_error(view, to, Rcode::ServFail, sink);
    return;
  }
  stats::bump(counters_.any_minimal);
  deliver(to, {scratch_.get(), length}, sink);
  stats::bump(counters_.replies);
}

// version.bind and friends would tell anyone the upstream's software and host name:
// CHAOS questions are answered here from the configuration, or REFUSED, as Unbound
// and Knot do for what they do not serve.
void Engine::answer_chaos(const dns::ClientView& view, const dns::Question& question,
                          const net::ClientRef& to, Sink& sink) {
  const std::string* text = nullptr;
  if (question.qclass == dns::rrclass::CH &&
      (question.qtype == dns::rrtype::TXT || question.qtype == dns::rrtype::ANY)) {
    const auto bytes = question.name.bytes();
    const auto is = [&](std::span<const std::uint8_t> name) {
      return std::equal(bytes.begin(), bytes.end(), name.begin(), name.end());
    };
    if (is(kVersionBind) || is(kVersionServer)) text = &config_.chaos_version;
    if (is(kHostnameBind) || is(kIdServer)) text = &config_.chaos_hostname;
  }
  if (text == nullptr || text->empty()) {
    reply_error(view, to, Rcode::Refused, sink);
    return;
  }
  const std::size_t length = dns::build_chaos_txt(
      view, {reinterpret_cast<const std::uint8_t*>(text->data()), text->size()}, config_.max_udp,
      {scratch_.get(), kScratchSize});
  if (length == 0) {
    reply_error(view, to, Rcode::ServFail, sink);
    return;
  }
  stats::bump(counters_.chaos_answers);
  deliver(to, {scratch_.get(), length}, sink);
  stats::bump(counters_.replies);
}

}  // namespace heimdall::engine
