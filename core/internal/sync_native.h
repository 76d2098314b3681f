// Production branch of the sync facade (core/sync.h): std::atomic and
// std::atomic_ref. Every method is a one-line inline forwarding call; the
// source location parameter exists only so call sites compile unchanged in
// the model build, and is unused here.
#ifndef MAPBENCH_CORE_INTERNAL_SYNC_NATIVE_H_
#define MAPBENCH_CORE_INTERNAL_SYNC_NATIVE_H_

#include <atomic>
#include <cstdint>
#include <source_location>

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>

namespace mb::sync {

inline constexpr bool kModelBuild = false;
using Loc = std::source_location;

namespace internal {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr auto kAcquire = std::memory_order_acquire;
constexpr auto kRelease = std::memory_order_release;
constexpr auto kAcqRel = std::memory_order_acq_rel;

// The named operations, over whatever Derived::a() returns: a std::atomic<T>&
// (for atomic<T>) or a std::atomic_ref<T> (for Ref<T>).
template <class T, class Derived>
class Ops {
 public:
  T load_relaxed(Loc = Loc::current()) const { return a().load(kRelaxed); }
  T load_acquire(Loc = Loc::current()) const { return a().load(kAcquire); }
  void store_relaxed(T v, Loc = Loc::current()) const { a().store(v, kRelaxed); }
  void store_release(T v, Loc = Loc::current()) const { a().store(v, kRelease); }

  T exchange_acquire(T v, Loc = Loc::current()) const { return a().exchange(v, kAcquire); }
  T exchange_release(T v, Loc = Loc::current()) const { return a().exchange(v, kRelease); }
  T exchange_acq_rel(T v, Loc = Loc::current()) const { return a().exchange(v, kAcqRel); }

  // Strong compare-and-swap; on failure `expected` receives the current value.
  bool cas_relaxed(T& expected, T desired, Loc = Loc::current()) const {
    return a().compare_exchange_strong(expected, desired, kRelaxed, kRelaxed);
  }
  bool cas_acquire(T& expected, T desired, Loc = Loc::current()) const {
    return a().compare_exchange_strong(expected, desired, kAcquire, kAcquire);
  }
  bool cas_release(T& expected, T desired, Loc = Loc::current()) const {
    return a().compare_exchange_strong(expected, desired, kRelease, kRelaxed);
  }
  bool cas_acq_rel(T& expected, T desired, Loc = Loc::current()) const {
    return a().compare_exchange_strong(expected, desired, kAcqRel, kAcquire);
  }

  T fetch_add_relaxed(T v, Loc = Loc::current()) const { return a().fetch_add(v, kRelaxed); }
  T fetch_add_acq_rel(T v, Loc = Loc::current()) const { return a().fetch_add(v, kAcqRel); }
  T fetch_sub_acq_rel(T v, Loc = Loc::current()) const { return a().fetch_sub(v, kAcqRel); }
  T fetch_or_relaxed(T v, Loc = Loc::current()) const { return a().fetch_or(v, kRelaxed); }
  T fetch_or_release(T v, Loc = Loc::current()) const { return a().fetch_or(v, kRelease); }
  T fetch_or_acq_rel(T v, Loc = Loc::current()) const { return a().fetch_or(v, kAcqRel); }
  T fetch_and_relaxed(T v, Loc = Loc::current()) const { return a().fetch_and(v, kRelaxed); }
  T fetch_and_release(T v, Loc = Loc::current()) const { return a().fetch_and(v, kRelease); }
  T fetch_and_acq_rel(T v, Loc = Loc::current()) const { return a().fetch_and(v, kAcqRel); }

 private:
  decltype(auto) a() const { return static_cast<const Derived*>(this)->a(); }
};

}  // namespace internal

// An atomic object owned by process-local state.
template <class T>
class atomic : public internal::Ops<T, atomic<T>> {
 public:
  constexpr atomic() : v_(T()) {}
  constexpr explicit atomic(T v) : v_(v) {}
  atomic(const atomic&) = delete;
  atomic& operator=(const atomic&) = delete;

 private:
  friend class internal::Ops<T, atomic<T>>;
  std::atomic<T>& a() const { return v_; }
  mutable std::atomic<T> v_;
};

// An atomic view of a T in shared region memory (must be aligned to sizeof T).
template <class T>
class Ref : public internal::Ops<T, Ref<T>> {
  static_assert(std::atomic_ref<T>::is_always_lock_free,
                "region words must be lock-free to be shared by processes");

 public:
  explicit Ref(T* p) : p_(p) {}
  static Ref at(void* base, std::uint64_t off) {
    return Ref(reinterpret_cast<T*>(static_cast<char*>(base) + off));
  }
  T* address() const { return p_; }
  const void* address_hint(void*) const { return p_; }

 private:
  friend class internal::Ops<T, Ref<T>>;
  std::atomic_ref<T> a() const { return std::atomic_ref<T>(*p_); }
  T* p_;
};

// A full fence. Not for variants/ (TSan does not model standalone fences;
// strengthen the adjacent operation instead, see STYLE.md item 5).
inline void fence_seq_cst(Loc = Loc::current()) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// One spin-wait step: a CPU pause hint.
inline void pause(Loc = Loc::current()) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Give the processor away (after a bounded number of pauses).
inline void yield(Loc = Loc::current()) { sched_yield(); }

// Futex on a 32-bit word that may be shared between processes (no
// FUTEX_PRIVATE_FLAG). Returns after a wake, a timeout (timeout_ns > 0), a
// signal, or at once when *word != expected; callers re-check their condition.
inline void futex_wait(Ref<std::uint32_t> w, std::uint32_t expected,
                       long timeout_ns = 0, Loc = Loc::current()) {
  struct timespec ts = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
  syscall(SYS_futex, w.address(), FUTEX_WAIT, expected,
          timeout_ns > 0 ? &ts : nullptr, nullptr, 0);
}
inline void futex_wake(Ref<std::uint32_t> w, int waiters, Loc = Loc::current()) {
  syscall(SYS_futex, w.address(), FUTEX_WAKE, waiters, nullptr, nullptr, 0);
}

// A small number for picking a concurrency group: the CPU the calling thread
// runs on, re-read every 64 calls (threads of different processes spread
// over groups too, which a per-process counter could not do).
inline unsigned thread_hint() {
  thread_local unsigned hint = 0, calls = 0;
  if ((calls++ & 63) == 0) {
    int cpu = sched_getcpu();
    hint = cpu < 0 ? 0u : unsigned(cpu);
  }
  return hint;
}

}  // namespace mb::sync

#endif  // MAPBENCH_CORE_INTERNAL_SYNC_NATIVE_H_
