// Happens-before edges ThreadSanitizer cannot see (DESIGN.md §8.10): the packaged
// DPDK is not instrumented, so an entry published through rte_hash, handed over
// through an rte_ring or reclaimed by the RCU defer queue would look like a race.
// These mark the same release/acquire pairs the libraries already provide; they
// compile to nothing outside TSan builds.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define HEIMDALL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HEIMDALL_TSAN 1
#endif
#endif

#ifdef HEIMDALL_TSAN
extern "C" void __tsan_acquire(void* address);
extern "C" void __tsan_release(void* address);
#endif

namespace heimdall::cache {

inline void published(const void* address) {
#ifdef HEIMDALL_TSAN
  __tsan_release(const_cast<void*>(address));
#else
  (void)address;
#endif
}

inline void observed(const void* address) {
#ifdef HEIMDALL_TSAN
  __tsan_acquire(const_cast<void*>(address));
#else
  (void)address;
#endif
}

}  // namespace heimdall::cache
