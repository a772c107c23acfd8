// Dump walks: the owners' step (run from Cache::maintain) and the control
// thread's side (DumpWalk).
#include "heimdall/cache/dump.hpp"

#include <cstring>
#include <stdexcept>

#include "dump_state.hpp"
#include "shard.hpp"

namespace heimdall::cache {
namespace {

// CLOCK slots an owner looks at per loop: a dump only reads, so this is larger
// than the sweep's step, and an idle socket worker (one loop per 50 ms) crosses a
// million-slot shard in under a second. At most a chunk of entries is copied.
constexpr std::uint32_t kDumpSlotsPerLoop = 65536;
constexpr unsigned kNone = ~0u;
static_assert(DumpWalk::kChunkAnswerBytes >= EntryPool::kLargestBlock,
              "a chunk WithAnswers holds at least the largest entry");

}  // namespace

void Cache::step_dump(unsigned owner, std::uint64_t now_ns) {
  DumpState& dump = dump_[owner];
  const std::uint64_t request = dump.request.load(std::memory_order_acquire);
  const std::uint64_t sequence = request >> DumpState::kSequenceShift;
  const bool with_answers = (request & DumpState::kWithAnswers) != 0;
  if (sequence == dump.done.load(std::memory_order_relaxed)) return;
  dump.count = 0;
  dump.answer_bytes = 0;
  if ((request & DumpState::kRestart) != 0) dump.cursor = 0;
  const std::uint32_t generation = generation_.load(std::memory_order_acquire);
  const std::uint64_t stale_window_ns = config_.serve_stale.window_ns();
  const bool finished =
      shards_[owner]->walk_step(dump.cursor, kDumpSlotsPerLoop, [&](const Entry& entry) {
        if (dump.count == DumpWalk::kChunkEntries) return false;
        // Flushed, or past the stale window: never served again, only not swept yet.
        if (entry.generation != generation || now_ns >= entry.expires_ns() + stale_window_ns) {
          return true;
        }
        if (with_answers && dump.answer_bytes + entry.stored_length > DumpWalk::kChunkAnswerBytes) {
          return false;  // the next chunk starts with it
        }
        DumpRecord& record = dump.chunk[dump.count++];
        if (with_answers) {
          record.inserted_ns = entry.inserted_ns;
          record.ttl_s = entry.ttl_s;
          record.answer_offset = static_cast<std::uint32_t>(dump.answer_bytes);
          std::memcpy(dump.answers.get() + dump.answer_bytes, entry.stored().data(),
                      entry.stored_length);
          dump.answer_bytes += entry.stored_length;
        }
        std::memcpy(record.name, entry.name().data(), entry.name_length);
        record.name_length = entry.name_length;
        record.qtype = entry.qtype;
        record.qclass = entry.qclass;
        record.flags = entry.qflags;
        record.kind = entry.kind;
        // Rounded towards the past: 0.5 s left is 0, 0.5 s expired is -1 (stale).
        const std::int64_t left_ns =
            static_cast<std::int64_t>(entry.expires_ns()) - static_cast<std::int64_t>(now_ns);
        record.ttl_left_s =
            left_ns >= 0 ? left_ns / 1'000'000'000 : -1 - (-left_ns - 1) / 1'000'000'000;
        record.bytes = entry.stored_length;
        record.shard = owner;
        return true;
      });
  // Handed over after every step, full or not: a sparse shard larger than a few
  // steps still shows progress each loop (the control side gives up on owners
  // that show none), and an idle worker's next step is asked for long before its
  // next loop.
  dump.finished = finished;
  dump.done.store(sequence, std::memory_order_release);
}

DumpWalk::DumpWalk(Cache& cache, DumpContent content)
    : cache_(cache),
      content_(content),
      shards_(cache.shard_count(), Progress::Asked),
      sequences_(cache.shard_count(), 0),
      taken_(kNone) {
  bool running = false;
  if (!cache_.dump_running_.compare_exchange_strong(running, true, std::memory_order_acq_rel)) {
    throw std::runtime_error("another cache dump is running");
  }
  for (unsigned shard = 0; shard < shards_.size(); ++shard) {
    DumpState& state = cache_.dump_[shard];
    // Set out once, before the first request: the owner reads it only after one.
    if (!state.chunk) state.chunk = std::make_unique<DumpRecord[]>(kChunkEntries);
    // Only a request WithAnswers makes an owner use it, and none was made while
    // it was null: an owner still on an abandoned walk's last request never
    // sees it change.
    if (content_ == DumpContent::WithAnswers && !state.answers) {
      state.answers = std::make_unique<std::uint8_t[]>(kChunkAnswerBytes);
    }
    ask(shard, true);
  }
}

DumpWalk::~DumpWalk() { cache_.dump_running_.store(false, std::memory_order_release); }

void DumpWalk::ask(unsigned shard, bool restart) {
  std::atomic<std::uint64_t>& request = cache_.dump_[shard].request;
  // The control thread is the only writer of `request`.
  sequences_[shard] = (request.load(std::memory_order_relaxed) >> DumpState::kSequenceShift) + 1;
  request.store((sequences_[shard] << DumpState::kSequenceShift) |
                    (content_ == DumpContent::WithAnswers ? DumpState::kWithAnswers : 0) |
                    (restart ? DumpState::kRestart : 0),
                std::memory_order_release);
  shards_[shard] = Progress::Asked;
}

std::optional<std::span<const DumpRecord>> DumpWalk::next() {
  if (taken_ != kNone) {
    if (shards_[taken_] == Progress::Taken) ask(taken_, false);
    taken_ = kNone;
  }
  const unsigned count = static_cast<unsigned>(shards_.size());
  for (unsigned i = 0; i < count; ++i) {
    const unsigned shard = (rotation_ + i) % count;
    if (shards_[shard] != Progress::Asked) continue;
    const DumpState& state = cache_.dump_[shard];
    if (state.done.load(std::memory_order_acquire) != sequences_[shard]) continue;
    rotation_ = shard + 1;  // the shards take turns however fast their owners are
    shards_[shard] = state.finished ? Progress::Finished : Progress::Taken;
    taken_ = shard;
    return std::span<const DumpRecord>(state.chunk.get(), state.count);
  }
  return std::nullopt;
}

std::span<const std::uint8_t> DumpWalk::answers() const {
  if (taken_ == kNone || content_ != DumpContent::WithAnswers) return {};
  const DumpState& state = cache_.dump_[taken_];
  return {state.answers.get(), state.answer_bytes};
}

bool DumpWalk::done() const {
  for (const Progress state : shards_) {
    if (state != Progress::Finished) return false;
  }
  return true;
}

}  // namespace heimdall::cache
