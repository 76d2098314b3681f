// The sync facade: the only way code in core/ and variants/ touches atomics.
//
// Every algorithm is written once against this header. The production build
// maps each operation onto std::atomic / std::atomic_ref; the model build
// (compiled with -DMB_SYNC_MODEL=1, see models/) maps it onto the Relacy race
// detector's rl::atomic with the call site's source location, so a Relacy
// model runs the very source the benchmarks run. Algorithms never include
// <atomic> themselves.
//
// Operations are named by their memory order (load_acquire, store_release,
// cas_acq_rel, fetch_or_release, ...) instead of taking an order argument:
// the order is part of the algorithm and must be visible at the call site,
// and Relacy's order type differs from std::memory_order.
//
// Two kinds of atomic objects:
//   atomic<T>     an atomic object owned by a process-local structure.
//   Ref<T>        an atomic view of a T that lives in shared region memory,
//                 obtained with word(base, off). In production it is a
//                 std::atomic_ref over the region's bytes (regions are raw
//                 mmap'd memory, shared by processes, holding no C++ objects);
//                 in the model build the region is an array of rl::atomic<u64>
//                 words and word(base, off) names word off/8.
// Plus fences, pause/yield (spin politely; in the model they are Relacy yields
// so spin loops are not reported as livelocks), futex wait/wake, and a
// per-thread hint for spreading threads over concurrency groups.
#ifndef MAPBENCH_CORE_SYNC_H_
#define MAPBENCH_CORE_SYNC_H_

#if defined(MB_SYNC_MODEL) && MB_SYNC_MODEL
#include "core/internal/sync_model.h"
#else
#include "core/internal/sync_native.h"
#endif

namespace mb::sync {

// Shared-memory word at byte offset `off` (8-aligned) from `base`.
inline Ref<std::uint64_t> word(void* base, std::uint64_t off) {
  return Ref<std::uint64_t>::at(base, off);
}

// Spin knobs (STYLE item 6): the model spins zero times before yielding.
struct SpinPolicy {
  unsigned pause_max;  // pauses before a spin loop falls back to yield()
};
inline constexpr SpinPolicy kSpin{kModelBuild ? 0u : 64u};

}  // namespace mb::sync

#endif  // MAPBENCH_CORE_SYNC_H_
