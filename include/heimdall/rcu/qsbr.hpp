// Snapshots one thread publishes and the workers read: the filter, published by the
// control thread, and the DPDK backend's neighbour table, published by the exception
// thread (docs/architecture.md §9.2).
// liburcu's QSBR flavour: a reader costs nothing but announcing a quiescent state
// once per loop; the writer swaps the pointer and frees the old object once every
// registered worker has been quiescent or offline since (a grace period).
//
// Thin wrappers, so that the publication is a release/acquire pair ThreadSanitizer
// can see (liburcu is not instrumented, docs/architecture.md §9.3): each quiescent state
// releases, and the end of a grace period acquires, one sync object.
#pragma once

#include <urcu-qsbr.h>

#include <atomic>
#include <memory>
#include <utility>

#include "heimdall/rcu/annotations.hpp"

namespace heimdall::rcu {

namespace detail {
inline char grace_sync;  // the sync object the annotations name
inline void reader_done() { published(&grace_sync); }
inline void grace_period_over() { observed(&grace_sync); }
}  // namespace detail

// A worker thread reads snapshots while one of these lives on its stack.
class ReaderThread {
 public:
  ReaderThread() { rcu_register_thread(); }
  ~ReaderThread() {
    detail::reader_done();
    rcu_unregister_thread();
  }
  ReaderThread(const ReaderThread&) = delete;
  ReaderThread& operator=(const ReaderThread&) = delete;

  // Once per loop: no snapshot pointer read before this is used after it.
  static void quiescent() {
    detail::reader_done();
    rcu_quiescent_state();
  }
  // Around a blocking system call, so that writers need not wait for it.
  static void offline() {
    detail::reader_done();
    rcu_thread_offline();
  }
  static void online() { rcu_thread_online(); }
};

// Waits until every reader has passed a quiescent state. Never from a registered
// reader that is online: it would wait for itself.
inline void synchronize() {
  synchronize_rcu();
  detail::grace_period_over();
}

// One published object of type T, owned by its publisher.
template <typename T>
class Published {
 public:
  Published() = default;
  ~Published() { delete current_.load(std::memory_order_relaxed); }
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  // Workers: valid until this thread's next quiescent state. Null before the first
  // publication.
  const T* read() const { return current_.load(std::memory_order_acquire); }

  // The single writer: makes `next` current and frees the previous object after a
  // grace period (so it blocks for one; never call it from a worker).
  void publish(std::unique_ptr<T> next) {
    std::unique_ptr<T> previous(current_.exchange(next.release(), std::memory_order_acq_rel));
    if (previous) {
      synchronize();
      previous.reset();
    }
  }

 private:
  std::atomic<T*> current_{nullptr};
};

}  // namespace heimdall::rcu
