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
inline unsigned thread_hint() { return rl::thread_index(); }

}  // namespace mb::sync

#endif  // MAPBENCH_CORE_INTERNAL_SYNC_MODEL_H_
