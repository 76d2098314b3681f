// Model branch of the sync facade (core/sync.h): every operation becomes a
// Relacy operation carrying the caller's source location, so a Relacy report
// names the algorithm's own line.
//
// Relacy defines macros for new/delete/malloc/free/errno/assert, so every
// standard header any mapbench source uses is included here first; after
// relacy.hpp we take back the macros that would rewrite our own names
// (Allocator::free, placement new). Model targets compile with
// -fno-sized-deallocation (see notes/bazel-offline.md).
#ifndef MAPBENCH_CORE_INTERNAL_SYNC_MODEL_H_
#define MAPBENCH_CORE_INTERNAL_SYNC_MODEL_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cassert>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <relacy/relacy.hpp>

#undef new
#undef delete
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef errno
#define errno (*__errno_location())

namespace mb::sync {

inline constexpr bool kModelBuild = true;
using Loc = std::source_location;

namespace internal {

inline rl::debug_info info(const Loc& l) {
  return rl::debug_info(l.function_name(), l.file_name(), l.line());
}

// The named operations over an rl::atomic<T>& returned by Derived::a().
template <class T, class Derived>
class Ops {
 public:
  T load_relaxed(Loc l = Loc::current()) const { return a().load(rl::mo_relaxed, info(l)); }
  T load_acquire(Loc l = Loc::current()) const { return a().load(rl::mo_acquire, info(l)); }
  void store_relaxed(T v, Loc l = Loc::current()) const { a().store(v, rl::mo_relaxed, info(l)); }
  void store_release(T v, Loc l = Loc::current()) const { a().store(v, rl::mo_release, info(l)); }

  T exchange_acquire(T v, Loc l = Loc::current()) const { return a().exchange(v, rl::mo_acquire, info(l)); }
  T exchange_release(T v, Loc l = Loc::current()) const { return a().exchange(v, rl::mo_release, info(l)); }
  T exchange_acq_rel(T v, Loc l = Loc::current()) const { return a().exchange(v, rl::mo_acq_rel, info(l)); }

  bool cas_relaxed(T& e, T d, Loc l = Loc::current()) const { return cas(e, d, rl::mo_relaxed, rl::mo_relaxed, l); }
  bool cas_acquire(T& e, T d, Loc l = Loc::current()) const { return cas(e, d, rl::mo_acquire, rl::mo_acquire, l); }
  bool cas_release(T& e, T d, Loc l = Loc::current()) const { return cas(e, d, rl::mo_release, rl::mo_relaxed, l); }
  bool cas_acq_rel(T& e, T d, Loc l = Loc::current()) const { return cas(e, d, rl::mo_acq_rel, rl::mo_acquire, l); }

  T fetch_add_relaxed(T v, Loc l = Loc::current()) const { return a().fetch_add(v, rl::mo_relaxed, info(l)); }
  T fetch_add_acq_rel(T v, Loc l = Loc::current()) const { return a().fetch_add(v, rl::mo_acq_rel, info(l)); }
  T fetch_sub_acq_rel(T v, Loc l = Loc::current()) const { return a().fetch_sub(v, rl::mo_acq_rel, info(l)); }
  T fetch_or_relaxed(T v, Loc l = Loc::current()) const { return a().fetch_or(v, rl::mo_relaxed, info(l)); }
  T fetch_or_release(T v, Loc l = Loc::current()) const { return a().fetch_or(v, rl::mo_release, info(l)); }
  T fetch_or_acq_rel(T v, Loc l = Loc::current()) const { return a().fetch_or(v, rl::mo_acq_rel, info(l)); }
  T fetch_and_relaxed(T v, Loc l = Loc::current()) const { return a().fetch_and(v, rl::mo_relaxed, info(l)); }
  T fetch_and_release(T v, Loc l = Loc::current()) const { return a().fetch_and(v, rl::mo_release, info(l)); }
  T fetch_and_acq_rel(T v, Loc l = Loc::current()) const { return a().fetch_and(v, rl::mo_acq_rel, info(l)); }

 private:
  bool cas(T& e, T d, rl::memory_order mo, rl::memory_order fail, const Loc& l) const {
    return a().compare_exchange_strong(e, d, mo, info(l), fail, info(l));
  }
  rl::atomic<T>& a() const { return static_cast<const Derived*>(this)->a(); }
};

}  // namespace internal

template <class T>
class atomic : public internal::Ops<T, atomic<T>> {
 public:
  atomic() { v_.store(T(), rl::mo_relaxed, rl::debug_info()); }
  explicit atomic(T v) { v_.store(v, rl::mo_relaxed, rl::debug_info()); }
  atomic(const atomic&) = delete;
  atomic& operator=(const atomic&) = delete;

 private:
  friend class internal::Ops<T, atomic<T>>;
  rl::atomic<T>& a() const { return v_; }
  mutable rl::atomic<T> v_;
};

// In the model a region is an array of rl::atomic<u64> (see ModelMemory), so
// only 8-aligned 64-bit words exist.
template <class T>
class Ref : public internal::Ops<T, Ref<T>> {
  static_assert(sizeof(T) == 8, "the model's region memory holds 64-bit words only");

 public:
  explicit Ref(rl::atomic<T>* p) : p_(p) {}
  const void* address_hint(void*) const { return nullptr; }  // no prefetching in models
  const void* model_key() const { return p_; }  // names the word (ModelFutex)
  static Ref at(void* base, std::uint64_t off) {
    RL_ASSERT(off % 8 == 0);
    return Ref(static_cast<rl::atomic<T>*>(base) + off / 8);
  }

 private:
  friend class internal::Ops<T, Ref<T>>;
  rl::atomic<T>& a() const { return *p_; }
  rl::atomic<T>* p_;
};

// Region memory for a model: `Words` 64-bit words, all zero at the start of
// each iteration (Relacy constructs the test object per iteration).
template <unsigned Words>
struct ModelMemory {
  ModelMemory() {
    for (auto& w : words) w.store(0, rl::mo_relaxed, rl::debug_info());
  }
  void* base() { return words; }
  static constexpr std::uint64_t size() { return std::uint64_t{Words} * 8; }
  rl::atomic<std::uint64_t> words[Words];
};

inline void fence_seq_cst(Loc l = Loc::current()) { rl::atomic_thread_fence(rl::mo_seq_cst, internal::info(l)); }
inline void pause(Loc l = Loc::current()) { rl::yield(1, internal::info(l)); }
inline void yield(Loc l = Loc::current()) { rl::yield(1, internal::info(l)); }
// A model futex wait is a yield: callers re-check their condition anyway.
inline void futex_wait(Ref<std::uint64_t>, std::uint64_t, long = 0, Loc l = Loc::current()) {
  rl::yield(1, internal::info(l));
}
inline void futex_wake(Ref<std::uint64_t>, int, Loc = Loc::current()) {}

// A model futex over the 32-bit halves of region words, for models that
// check wakes. By default a model's futex wait is a yield (above, and the
// rwlock's rw_os::wait): every caller re-checks its condition, and a model
// with a dead peer needs its waits to return, as real ones do when their
// time slice runs out. A model that checks wakes constructs a ModelFutex
// in its test object (one per iteration) and installs it in before()
// (current() = &futex): a wait then sleeps, with no time limit, while the
// half still holds the expected value, until a wake of that half, as the
// kernel's futex does; a wake that never comes leaves the waiter asleep
// for good, which Relacy reports as "deadlock detected". No spurious wakes and no
// time slices: a real futex wait has both, and every caller loops; the
// paths that run only when a wait returns unwoken (the rwlock's waiters
// on a dead holder or dead readers) are left to the models whose waits
// are yields.
// The check of the half and the sleep are one step against wakes, as in
// the kernel (there under the futex hash bucket's lock, here under a Relacy
// mutex): a waker changes the word before it wakes, so a waiter that takes
// the mutex after the waker's wake reads the change (happens-before and
// coherence) and does not sleep. That mutex also orders a waker before
// every later waiter, so a model run with the futex on does not check the
// lock word's memory orders; those models run with it off.
class ModelFutex {
 public:
  ModelFutex() {
    for (auto& c : cv_) c.init(false, rl::debug_info());
  }
  ~ModelFutex() {
    for (auto& c : cv_) c.deinit(rl::debug_info());
    if (current() == this) current() = nullptr;
  }
  ModelFutex(const ModelFutex&) = delete;
  ModelFutex& operator=(const ModelFutex&) = delete;

  // The futex the model runs on (nullptr: waits are yields).
  static ModelFutex*& current() {
    static ModelFutex* f = nullptr;
    return f;
  }

  // Sleep while half `high` (bits 63..32) or low (31..0) of w holds `expected`.
  void wait(Ref<std::uint64_t> w, bool high, std::uint32_t expected, Loc l = Loc::current()) {
    mu_.lock(internal::info(l));
    // Acquire, and under the mutex: see the class comment.
    const std::uint64_t v = w.load_acquire(l);
    if (std::uint32_t(high ? v >> 32 : v) == expected) cv_[slot(w, high)].wait(mu_, false, internal::info(l));
    mu_.unlock(internal::info(l));
  }
  // Wake one sleeper of that half (n == 1) or all of them (n >= 2^30, the
  // callers' "all"; a count between would be woken as all here and could
  // hide a wake too few, so it is refused).
  void wake(Ref<std::uint64_t> w, bool high, int n, Loc l = Loc::current()) {
    RL_ASSERT(n == 1 || n >= (1 << 30));
    mu_.lock(internal::info(l));
    auto& c = cv_[slot(w, high)];
    if (n == 1) {
      c.notify_one(internal::info(l));
    } else {
      c.notify_all(internal::info(l));
    }
    mu_.unlock(internal::info(l));
  }

 private:
  struct Tag;
  static constexpr unsigned kHalves = 4;  // the model's futex words: two lock words' halves
  unsigned slot(Ref<std::uint64_t> w, bool high) {
    const void* key = static_cast<const char*>(w.model_key()) + high;
    for (unsigned i = 0; i < n_; ++i)
      if (key_[i] == key) return i;
    RL_ASSERT(n_ < kHalves);
    key_[n_] = key;
    return n_++;
  }
  rl::mutex mu_;
  rl::condvar<Tag> cv_[kHalves];
  const void* key_[kHalves] = {};
  unsigned n_ = 0;
};
inline unsigned thread_hint() { return rl::thread_index(); }

}  // namespace mb::sync

#endif  // MAPBENCH_CORE_INTERNAL_SYNC_MODEL_H_
