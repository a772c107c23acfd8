// Happens-before edges ThreadSanitizer cannot see (docs/architecture.md §9.3): the packaged
// DPDK and liburcu are not instrumented, so an object published through rte_hash,
// an rte_ring, the RCU defer queue or a liburcu grace period would look like a
// race. These mark the same release/acquire pairs the libraries already provide;
// they compile to nothing outside TSan builds.
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

namespace heimdall::rcu {

// Everything this thread wrote before is visible to whoever observes `address`.
inline void published(const void* address) {
#ifdef HEIMDALL_TSAN
  __tsan_release(const_cast<void*>(address));
#else
  (void)address;
#endif
}

// What was published at `address` is visible to this thread from here on.
inline void observed(const void* address) {
#ifdef HEIMDALL_TSAN
  __tsan_acquire(const_cast<void*>(address));
#else
  (void)address;
#endif
}

}  // namespace heimdall::rcu
