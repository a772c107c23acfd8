#include "heimdall/control/cache_dump.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <string_view>

#include "heimdall/dns/presentation.hpp"
#include "heimdall/dns/question_key.hpp"

namespace heimdall::control {
namespace {

constexpr std::string_view kAnswerKinds[] = {"positive", "nodata", "nxdomain", "servfail"};
constexpr const char* kUsage = "usage: cache dump [N] (N from 1 to 1000000)";

void append_number(std::string& out, std::int64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

}  // namespace

void append_dump_line(const cache::DumpRecord& record, std::string& out) {
  char text[dns::kMaxNameText];
  out.append(text, dns::name_to_presentation({record.name, record.name_length}, text));
  out.push_back(' ');
  out.append(text, dns::class_to_presentation(record.qclass, {text, dns::kMaxTypeText}));
  out.push_back(' ');
  out.append(text, dns::type_to_presentation(record.qtype, {text, dns::kMaxTypeText}));
  out.push_back(' ');
  const auto kind = static_cast<std::size_t>(record.kind);
  out.append(kind < std::size(kAnswerKinds) ? kAnswerKinds[kind] : "unknown");
  if (record.ttl_left_s >= 0) {
    out.append(" ttl=");
    append_number(out, record.ttl_left_s);
  } else {
    out.append(" stale=");
    append_number(out, -record.ttl_left_s);
  }
  out.append(" flags=");
  const std::size_t flags_start = out.size();
  for (const auto& [bit, name] :
       {std::pair{dns::QuestionKey::kRd, "rd"}, std::pair{dns::QuestionKey::kCd, "cd"},
        std::pair{dns::QuestionKey::kDo, "do"}}) {
    if ((record.flags & bit) == 0) continue;
    if (out.size() != flags_start) out.push_back(',');
    out.append(name);
  }
  if (out.size() == flags_start) out.append("none");
  out.append(" bytes=");
  append_number(out, record.bytes);
  out.append(" shard=");
  append_number(out, record.shard);
  out.push_back('\n');
}

CacheDumpStream::CacheDumpStream(cache::Cache& cache, std::size_t limit,
                                 std::chrono::milliseconds stall_timeout,
                                 std::function<Clock::time_point()> now)
    : walk_(cache),
      limit_(limit),
      stall_timeout_(stall_timeout),
      now_(std::move(now)),
      last_progress_(now_()) {}

ResponseStream::Step CacheDumpStream::next(std::string& text) {
  // Chunks already filled are taken until one gives lines: an empty one (the end
  // of a shard) is no reason to wait a poll.
  for (;;) {
    const std::optional<std::span<const cache::DumpRecord>> chunk = walk_.next();
    if (!chunk) {
      if (now_() - last_progress_ < stall_timeout_) return Step::Wait;
      text = "cache dump stopped after " + std::to_string(listed_) +
             " entries: the workers walked no part of their shards for " +
             std::to_string(stall_timeout_.count()) + " ms";
      return Step::Failed;
    }
    last_progress_ = now_();
    const std::size_t take = std::min(chunk->size(), limit_ - listed_);
    for (std::size_t i = 0; i < take; ++i) append_dump_line((*chunk)[i], text);
    listed_ += take;
    if (listed_ == limit_ && (take < chunk->size() || !walk_.done())) return finish(text, true);
    if (walk_.done()) return finish(text, false);
    if (!text.empty()) return Step::More;
  }
}

ResponseStream::Step CacheDumpStream::finish(std::string& text, bool more) {
  text += "; " + std::to_string(listed_) + " entries";
  text += more ? ": the limit of this dump; the cache may hold more\n" : "\n";
  return Step::Done;
}

CommandResult cache_dump_command(cache::Cache& cache, std::span<const std::string> args) {
  if (args.size() > 1) return {false, kUsage};
  std::size_t limit = kCacheDumpDefaultEntries;
  std::string head;
  if (args.size() == 1) {
    const std::string& word = args[0];
    if (word.empty() ||
        !std::all_of(word.begin(), word.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return {false, kUsage};
    }
    // Digits only: a number too large for size_t is simply over the cap.
    std::size_t asked = 0;
    const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), asked);
    if (error == std::errc() && asked == 0) return {false, kUsage};
    if (error != std::errc() || asked > kCacheDumpMaxEntries) {
      limit = kCacheDumpMaxEntries;
      head = "; " + word + " entries asked for: listing at most " +
             std::to_string(kCacheDumpMaxEntries) + ", the most one dump lists\n";
    } else {
      limit = asked;
    }
  }
  return {true, head, std::make_shared<CacheDumpStream>(cache, limit)};
}

}  // namespace heimdall::control
