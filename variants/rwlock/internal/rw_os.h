// What the rwlock map (and the robin-hood and chain maps' recovery) needs from the
// operating system, in one place, with a model branch so the locks and the
// maps compile under Relacy (-DMB_SYNC_MODEL=1):
//   - the calling process's id (cached; reset in a fork child),
//   - whether a process id is still alive (a zombie counts as dead), and
//     when it started (to tell a reused pid from the process that had it),
//   - futex wait/wake on one 32-bit half of a 64-bit lock word,
//   - ThreadSanitizer mutex annotations (empty unless built with TSan),
//   - a test-only hook called inside critical sections (crash tests park a
//     child there and SIGKILL it while it holds the lock).
// In the model build a Relacy thread plays a process: its id is
// thread_index + 1, only kModelDeadPid is dead, a futex wait is a yield
// (or, in a model that installs a sync::ModelFutex, a sleep until woken).
#ifndef MAPBENCH_VARIANTS_RWLOCK_INTERNAL_RW_OS_H_
#define MAPBENCH_VARIANTS_RWLOCK_INTERNAL_RW_OS_H_

#include <bit>
#include <cstdint>

#include "core/sync.h"

#if !(defined(MB_SYNC_MODEL) && MB_SYNC_MODEL)
#include <sys/types.h>

#include <atomic>
#endif

#if defined(__SANITIZE_THREAD__)
#define MB_RW_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MB_RW_TSAN 1
#endif
#endif
#ifndef MB_RW_TSAN
#define MB_RW_TSAN 0
#endif

#if MB_RW_TSAN
#include <sanitizer/tsan_interface.h>
#define MB_RW_TSAN_CALL(call) call
#define MB_RW_TSAN_READ __tsan_mutex_read_lock
#else
#define MB_RW_TSAN_CALL(call) ((void)0)
#define MB_RW_TSAN_READ 0u
#endif

namespace mb::rw_os {

static_assert(std::endian::native == std::endian::little,
              "the lock word's futex halves assume a little-endian word");

// The halves of a 64-bit lock word a futex can wait on.
enum class Half : unsigned { low = 0, high = 1 };

// Points where the test hook is called (tests only; see RwMap::set_test_hook).
enum class HookPoint : unsigned {
  write_locked = 1,  // write lock held, sequence odd (inside a write)
  read_locked = 2,   // read lock held
  put_half_done = 3, // a put has written the slot's payload, not its meta word
  move_half_done = 4, // an in-place rehash has copied an entry, not yet tombed its source
  value_half_done = 5, // a change of an arena value has written the new value, not the meta word
  value_meta_done = 7, // ... and the meta word, its journal still open
  rh_shift_half_done = 6, // a robin-hood insert has copied one entry of its shift right (in the current table, not a rebuild's)
  chain_copy_made = 8,   // a chain write has made a key's new copy (linked first for a move), the old one still linked
  rh_compact_linked = 9,     // a robin-hood shrink's new slabs are listed, its new table not yet published
  rh_compact_published = 10, // ... the new table is published, the old slabs still listed
  rh_compact_cut = 11,       // ... the old slabs are cut off the list, not yet freed
  rh_table_built = 12,       // a robin-hood resize's new table is filled (a shrink's new slabs too), neither listed nor published
  rh_table_published = 13,   // ... published, the old table not yet freed
  rh_assign_linked = 14,     // a robin-hood assign's new block is in the slot, the old one not yet freed
  rh_erase_unlinked = 15,    // a robin-hood erase's tombstone is stored, its block not yet freed
  rh_compact_linking = 16,   // a shrink's oldest new slab links the list's head, the list not yet its newest
  chain_sweeping = 17,       // a chain map's claim of a dead process's owner index holds one of its chains, unrepaired
  chain_element_made = 21,   // a chain insert has made its list element (journaled), not yet linked it
  chain_unlocked_unfreed = 22, // a chain erase has unlocked the chain, not yet freed the element it unlinked
  chain_taken_over = 23,     // a chain taker has won step 3 and marked the dead writer's journal, not yet repaired
  rh_shift_last_copy = 24,   // a robin-hood shift of two or more entries has made its last copy, the new entry not yet stored
  rh_free_popped = 25,       // a robin-hood u64 insert has popped its block off the free stack, the stack's count not yet lowered
  rh_free_pushed = 26,       // a robin-hood u64 erase has pushed its block onto the free stack, the count not yet raised
  rh_slab_listed = 27,       // a robin-hood u64 insert has listed a new slab, the bump words not yet pointing into it
  rh_slab_bump_end = 28,     // ... and stored the bump's end, not yet the bump
  rw_table_taken = 18,       // an rwlock rebuild has taken a retired table off its free list, not yet published it
  rw_table_published = 19,   // ... has published the new table, not yet retired the old one
  rw_table_linked = 20,      // ... has linked the old table to its free list's head, not yet made it the head
};
using Hook = void (*)(HookPoint);
inline Hook g_test_hook = nullptr;  // one per process

// Longest single futex sleep of the rwlock's waits: a dead holder is noticed
// within about this. A wake that never comes costs a waiter one slice, which
// a test cannot tell from a slow wake; rw_wake_test lengthens it to a minute
// (before it starts threads) so that a lost wake shows as a stall.
inline long g_wait_slice_ns = 20 * 1000 * 1000;
inline void hook(HookPoint p) {
  if (g_test_hook != nullptr) g_test_hook(p);
}

#if defined(MB_SYNC_MODEL) && MB_SYNC_MODEL

// A model may run all its threads as one process (one pid): threads of one
// process share what a process claims (the chain map's owner index).
inline bool g_model_one_process = false;
inline std::uint32_t self_pid() { return g_model_one_process ? 1 : rl::thread_index() + 1; }
inline std::uint32_t self_tid() { return rl::thread_index() + 1; }
// Relacy threads are processes 1..N; a model plants a dead holder with a
// larger id (kModelDeadPid).
inline constexpr std::uint32_t kModelDeadPid = 99;
inline bool alive(std::uint32_t pid) { return pid != kModelDeadPid; }
// Start keys (0: unknown) of processes 1..3; a model that plays a reused pid
// sets them in before() (and every other rwlock model clears them there).
inline std::uint32_t g_model_start_key[4] = {};
inline std::uint32_t start_key(std::uint32_t pid) { return pid < 4 ? g_model_start_key[pid] : 0; }
inline std::uint32_t self_start_key() { return start_key(self_pid()); }
// A yield, or a sleep until woken where the model installed a
// sync::ModelFutex (the wake models: a lost wake is then a deadlock).
inline void wait(sync::Ref<std::uint64_t> w, Half h, std::uint32_t expected, long) {
  if (sync::ModelFutex* f = sync::ModelFutex::current()) {
    f->wait(w, h == Half::high, expected);
  } else {
    sync::yield();
  }
}
inline void wake(sync::Ref<std::uint64_t> w, Half h, int waiters) {
  if (sync::ModelFutex* f = sync::ModelFutex::current()) f->wake(w, h == Half::high, waiters);
}
inline std::uint64_t now_ms() { return 0; }
// The model's clock: 0 unless a model sets it (in before(); the rwlock
// models' setup() puts it back to 0). It stands still while threads run.
inline std::uint64_t g_model_now_s = 0;
inline std::uint64_t now_s() { return g_model_now_s; }

#else

// This process's ids, cached: 0 until first read, and cleared in a fork
// child (pthread_atfork, rw_os.cc). Relaxed: every thread that fills one
// stores the same value. Inline, so that a lock's fast path reads them
// without a call (the rwlock's uncontended put is a few tens of ns).
inline std::atomic<std::uint32_t> g_self_pid{0};
inline std::atomic<std::uint64_t> g_self_start{0};  // 1 << 32 | start key
std::uint32_t read_self_pid();          // getpid(), into g_self_pid
std::uint32_t read_self_start_key();    // start_key(self_pid()), into g_self_start
inline std::uint32_t self_pid() {  // getpid(), cached per process
  const std::uint32_t p = g_self_pid.load(std::memory_order_relaxed);
  return p != 0 ? p : read_self_pid();
}
std::uint32_t self_tid();  // gettid(), cached per thread
// False once `pid` has exited (also while it is an unreaped zombie).
bool alive(std::uint32_t pid);
// The low 32 bits of the start time of process `pid` (clock ticks since
// boot, /proc/PID/stat field 22), 0 when it cannot be read. With the pid
// it names one process: a pid reused by a new process has another start.
std::uint32_t start_key(std::uint32_t pid);
inline std::uint32_t self_start_key() {  // cached per process
  const std::uint64_t k = g_self_start.load(std::memory_order_relaxed);
  return k != 0 ? std::uint32_t(k) : read_self_start_key();
}
std::uint64_t now_ms();  // CLOCK_MONOTONIC
// CLOCK_REALTIME seconds plus g_clock_skew_s (tests move time forward);
// a test that compares two maps' expiries sets g_clock_frozen_s (non-zero)
// to stand in for CLOCK_REALTIME.
std::uint64_t now_s();
extern std::uint64_t g_clock_skew_s, g_clock_frozen_s;

// Sleep while the 32-bit half `h` of the word equals `expected`, at most
// timeout_ns. Only the word's address is used: the kernel reads the half.
inline void wait(sync::Ref<std::uint64_t> w, Half h, std::uint32_t expected, long timeout_ns) {
  auto* half = reinterpret_cast<std::uint32_t*>(w.address()) + static_cast<unsigned>(h);
  sync::futex_wait(sync::Ref<std::uint32_t>(half), expected, timeout_ns);
}
inline void wake(sync::Ref<std::uint64_t> w, Half h, int waiters) {
  auto* half = reinterpret_cast<std::uint32_t*>(w.address()) + static_cast<unsigned>(h);
  sync::futex_wake(sync::Ref<std::uint32_t>(half), waiters);
}

#endif

// Whether the process named by `pid` and start key `key` (0: unknown) still
// runs: `pid` is alive and, when both start keys can be told, it is the
// same process, not a later one given the same pid. A key that cannot be
// read counts as a match: a wrong "dead" would let two holders in, a wrong
// "alive" only waits.
inline bool alive_as(std::uint32_t pid, std::uint32_t key) {
  if (!alive(pid)) return false;
  if (key == 0) return true;
  const std::uint32_t now = start_key(pid);
  return now == 0 || now == key;
}

// One process as a word: pid [31:0] | start key [63:32]. The chain map's
// owner table, the robin-hood writer lock and the rwlock's stamp hold it.
inline std::uint64_t self_ident() { return std::uint64_t{self_pid()} | std::uint64_t{self_start_key()} << 32; }
inline bool alive_ident(std::uint64_t id) { return alive_as(std::uint32_t(id), std::uint32_t(id >> 32)); }

}  // namespace mb::rw_os

#endif  // MAPBENCH_VARIANTS_RWLOCK_INTERNAL_RW_OS_H_
