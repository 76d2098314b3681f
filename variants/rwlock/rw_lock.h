// RwLock: a process-shared, crash-recovering futex read-write lock over words
// in region memory. The write lock serializes the rwlock map's writers; the
// read lock gives multi-entry consistent views (iteration, batch get).
// Single-key readers never touch it (they use the map's seqlock).
//
// LOCK WORD (u64, one per map):
//
//     63   62               32 31                              0
//     +---+-------------------+---------------------------------+
//     | S |    writer pid     |  reader bits (bit i = slot i)   |
//     +---+-------------------+---------------------------------+
//   S (bit 63): someone sleeps on the high half (waiting for the writer).
//   writer pid: the write lock holder's process id, 0 = no writer.
//   reader bit i: reader slot i holds a read lock.
//   The two 32-bit halves are futex words: threads waiting for the writer
//   sleep on the high half (it changes when the writer leaves), a writer
//   waiting for readers to drain sleeps on the low half.
//
// STAMP WORD (u64, optional: Words::stamp_off 0 = none): 0, or the write
//   lock holder's pid [31:0] | start key [63:32] (rw_os::start_key: with the
//   pid it names one process; 0 = unknown). The pid in the lock word alone
//   cannot tell a dead holder from a later process given its pid (that
//   process, or a waiter that is that process, would wait forever); the
//   stamp can.
//
// READER SLOTS (slot_cnt <= 32 u64 words): 0 = free, else
//   pid << 32 | start key of the process whose thread holds or is taking a
//   read lock (a key equal to kSlotReclaiming is stored as 0, unknown), or
//   pid << 32 | kSlotReclaiming while a recoverer clears a dead reader. A
//   slot whose pid is dead, or alive with another start key, is dead.
//
// INVARIANTS:
//   L1  writer pid != 0 and a reader bit set at once only while that writer
//       waits for the readers to drain (it has not entered its section), or
//       while the reader of that bit backs off (L2: it reads nothing). A
//       reader killed between its fetch_or and its back-off leaves its bit
//       set, through the writer's section and after it, until the next
//       writer's drain reclaims the dead slot (verify() then reports the
//       lock held on an idle map until a writer comes).
//   L2  A reader bit is set only by the thread named in its slot. A reader
//       reads under its bit only if the fetch_or that set it saw writer pid
//       0; one that saw a writer clears its bit again without reading (it
//       backs off and waits for the writer), so a writer's drain ends.
//   L3  A slot is freed (stored 0) only after its bit is clear (planted bug
//       17 breaks it in the dead-reader reclaim; the Relacy model
//       dead_readers_3t catches it).
//   S1  The stamp is 0 or names the holder from the holder's store after
//       its CAS to its clear before its unlock; a holder that died between
//       those leaves its own stamp. A waiter that acquire-loads a word naming
//       pid P and then loads the stamp never reads an earlier holder's
//       stamp (the unlock before P's CAS cleared it, and every later change
//       of the lock word is an RMW, continuing that unlock's release
//       sequence). So a stamp naming P with another start key than P's now
//       is the dead holder's own: P was given to a later process.
//   S2  Of several waiters that find a holder replaced, exactly one wins the
//       CAS from that stamp (no one writes it again); only the winner moves
//       the lock word, and only while it still names P (planted bug 25
//       skips the stamp CAS: a waiter that is the later process leaves the
//       word unchanged, another waiter's CAS succeeds too, and the model
//       replaced_writer_2t finds two holders).
//   S3  A winner of S2 that finds the lock word naming another pid lost to
//       a recoverer of the dead pid (the later process exited meanwhile);
//       that recoverer stores its own stamp before it unlocks, so the
//       winner's stamp does not outlive its claim.
//   S4  A recoverer of a dead holder (pid gone) CASes the stamp to itself
//       before its lock CAS, unless the stamp names a live process (another
//       recoverer, which would otherwise lose the stamp it puts back, or a
//       later holder given the dead pid: it waits), and puts the old stamp
//       back if that CAS fails:
//       a recoverer killed between its lock CAS and its stamp store would
//       otherwise leave the dead holder's stamp under its own pid's word,
//       and once the dead holder's pid were reused, that stamp could make
//       a later holder with that pid look replaced while it stores its own.
//
// OPERATIONS (all blocking; waits sleep at most rw_os::g_wait_slice_ns (20 ms)
// at a time and then check whether the process they wait for is alive):
//   write_lock     CAS writer pid 0 -> self (acquire), store the stamp (S1),
//                  then wait for reader bits to drain (acquire load).
//                  Linearization: the CAS. (The uncontended path is
//                  inline, below the class; the waits are in rw_lock.cc.)
//                  A holder found dead is replaced by one CAS from the dead
//                  word to self: exactly one waiter recovers; it is told so
//                  (Acquired::recovered) and must repair what the dead
//                  writer left (the map does, see rw_map.h). A holder whose
//                  pid a later process has is replaced through the stamp
//                  (S2).
//   write_unlock   clear the stamp (S1), then
//                  fetch_and the word down to its reader bits (release;
//                  pairs with the next writer's acquire CAS and the readers'
//                  acq_rel fetch_or), wake sleepers if S.
//   read_lock      claim a free slot (CAS 0 -> pid|start key, scanning from a
//                  slot the thread id picks), then fetch_or its bit into the
//                  word (acq_rel; acquire pairs with write_unlock's release).
//                  Linearization: that fetch_or, when its old word has
//                  writer pid 0; else clear the bit, wait, and fetch_or
//                  again. Returns the slot, for read_unlock.
//   read_unlock    fetch_and clearing the bit (release: pairs with the
//                  writer's acquire drain load, so the reader's loads happen
//                  before the writer's stores), wake a draining writer, free
//                  the slot (release).
// A slot whose pid is dead, or alive with another start key, is reclaimed
// by whoever needs it (a draining
// writer, a reader finding no free slot): CAS slot dead -> reclaiming
// (exactly one recoverer), clear its bit, free it. Counted in stats. A
// reader bit whose slot is free (the claim is CAS 0 -> reclaiming, after
// which no reader can set that bit) or past slot_cnt is damage the
// protocol never makes (L2, L3); it would hold every writer's drain for
// good, so it is cleared the same way and counted too. A stray bit whose
// slot a live reader holds is that reader's to clear: one that finds a
// writer holding the word and its own bit set (which it did not set)
// clears the bit before it waits, and counts it.
//
// WAKES. A sleeper on the high half set S (CAS) before it sleeps, and the
// unlock's fetch_and returns S, so the unlock wakes every sleeper whose
// CAS came before it (a CAS after it fails: the word changed). A writer
// draining readers sleeps on the low half while it holds the bits it
// saw; every clear of a bit under a writer pid (read_unlock, a reader's
// back-off, the reclaims) wakes it. The Relacy models writers_wake_2t,
// rwlock_wake_2t and readers_writer_wake_3t run these with waits that
// sleep until woken (sync::ModelFutex): planted bugs 34 (no wake in
// write_unlock), 35 (none in read_unlock) and 48 (none in the back-off)
// each leave a thread asleep for good.
//
// LIMITS: one read lock per thread at a time (not re-entrant); a holder
// that dies between its lock CAS and its stamp store or between its stamp
// clear and its unlock, a reclaimer of a reader slot that dies holding it
// (its mark carries no start key), or a process whose start key cannot be
// read (no /proc), is told dead by its pid alone, so a recycled pid of
// such a process looks alive until that process exits. Windows of a few
// instructions that need a crash inside them and the pid reused before
// the next check remain: a replaced holder's pid given to two later
// processes within one recovery (between S2's two CASes) could defeat S2;
// a recoverer killed between its stamp CAS and its lock CAS leaves its
// stamp, which, were its pid then reused by a holder, a waiter could take
// for that holder's while that holder is between its lock CAS and its
// stamp store; a waiter that saw a pid dead and stalls before its CAS
// could find the same word again once the pid is reused by a new holder
// that has not stored its stamp yet (the word holds no start key; a stored
// stamp naming a live process stops it). Every process of a map must share one
// pid namespace and one time namespace (start times are read through
// /proc, which shows them relative to the reader's time namespace).
#ifndef MAPBENCH_VARIANTS_RWLOCK_RW_LOCK_H_
#define MAPBENCH_VARIANTS_RWLOCK_RW_LOCK_H_

#include <cstdint>

#include "core/sync.h"
#include "variants/rwlock/internal/rw_os.h"

#ifndef MB_PLANT_BUG
#define MB_PLANT_BUG 0
#endif

namespace mb {

inline constexpr unsigned kRwSlotMax = 32;
inline constexpr std::uint64_t kRwReaderMask = 0xffffffffULL;  // bits 0..31
inline constexpr unsigned kRwPidShift = 32;
inline constexpr std::uint64_t kRwPidMask = 0x7fffffffULL << kRwPidShift;  // bits 32..62
inline constexpr std::uint64_t kRwSleepers = 1ULL << 63;
static_assert((kRwReaderMask & kRwPidMask) == 0 && (kRwPidMask & kRwSleepers) == 0);
static_assert((kRwReaderMask | kRwPidMask | kRwSleepers) == ~0ULL);
inline constexpr std::uint64_t kSlotReclaiming = 0xffffffffULL;  // low half of a slot
// Pauses a thread spins, polling the word, before it sleeps on a writer:
// about 20 us (a pause took 21 ns on the development machine). Write
// sections take well under a microsecond, and a futex sleep costs the
// sleeper a wait and the holder a wake, each a syscall of several
// microseconds in a VM; with 64 pauses, 2 processes writing one map spent
// their time in those syscalls (the cross-process benchmark gained about
// 15% on writes with the longer spin).
inline constexpr unsigned kRwSpinBeforeSleep = sync::kSpin.pause_max * 16;

class RwLock {
 public:
  // Where the lock's words live. counters_off names three relaxed u64
  // counters: write recoveries, reader-slot recoveries, and spare.
  struct Words {
    std::uint64_t lock_off = 0;
    std::uint64_t slots_off = 0;
    std::uint32_t slot_cnt = 0;  // 1..kRwSlotMax
    std::uint64_t counters_off = 0;
    std::uint64_t stamp_off = 0;  // 0: no stamp (pids alone tell liveness)
  };

  RwLock() = default;
  RwLock(void* base, const Words& w);

  struct Acquired {
    bool recovered = false;  // the previous holder died holding the lock
  };
  Acquired write_lock() const;
  void write_unlock() const;
  // A reader that finds the writer dead takes the write lock to recover it
  // and calls repair(ctx) (the map's repair) before releasing it.
  using Repair = void (*)(void* ctx);
  unsigned read_lock(Repair repair, void* ctx) const;  // the reader slot taken
  // read_lock, but false at once (nothing taken) when no reader slot is free.
  bool read_lock_if_slot(Repair repair, void* ctx, unsigned* slot) const;
  void read_unlock(unsigned slot) const;

  // The current word (tests, verify).
  std::uint64_t word() const { return lock().load_acquire(); }
  // Whether the word names a writer whose process is gone, or whose pid a
  // later process has (the stamp says so): a write_lock would take it over.
  bool writer_gone() const;
  std::uint64_t write_recoveries() const { return counter(0).load_relaxed(); }
  std::uint64_t read_recoveries() const { return counter(1).load_relaxed(); }

  // Reclaim every reader slot whose process is dead, and clear reader bits
  // no live slot owns (damage); returns how many.
  unsigned reclaim_dead_readers() const;

 private:
  sync::Ref<std::uint64_t> lock() const { return sync::word(base_, w_.lock_off); }
  sync::Ref<std::uint64_t> slot(unsigned i) const { return sync::word(base_, w_.slots_off + 8 * i); }
  sync::Ref<std::uint64_t> counter(unsigned i) const { return sync::word(base_, w_.counters_off + 8 * i); }
  void* tsan_addr() const;
  Acquired lock_writer(bool annotate) const;
  // lock_writer's slow paths: waiting for a writer (w: the word its first
  // load or failed CAS found) and for readers (w: a word with reader bits).
  Acquired wait_writer(std::uint64_t w) const;
  void drain_readers(std::uint64_t w) const;
  void unlock_writer(bool annotate) const;
  void wake_writer_sleepers() const;  // unlock_writer's futex wake
  sync::Ref<std::uint64_t> stamp() const { return sync::word(base_, w_.stamp_off); }
  enum class Holder { running, dead, replaced };
  bool take_dead_writer(std::uint64_t seen) const;
  bool take_replaced_writer(std::uint64_t seen, std::uint64_t stamp_seen) const;
  Holder classify(std::uint64_t seen, std::uint64_t* stamp_seen) const;
  Holder holder_state(std::uint64_t seen, std::uint64_t* last, unsigned* waits, std::uint64_t* stamp_seen) const;
  void sleep_on_writer(std::uint64_t seen) const;
  static constexpr unsigned kNoSlot = ~0u;
  unsigned scan_slots() const;
  unsigned claim_slot() const;
  unsigned lock_reader(unsigned slot, Repair repair, void* ctx) const;

  void* base_ = nullptr;
  Words w_;
};

// The write lock's uncontended paths are inline (an overwrite under the
// lock takes about 20 ns, and the calls were a tenth of it); waiting for a
// writer, draining readers and waking sleepers are in rw_lock.cc.
inline RwLock::Acquired RwLock::write_lock() const { return lock_writer(true); }
inline void RwLock::write_unlock() const { unlock_writer(true); }

inline RwLock::Acquired RwLock::lock_writer(bool annotate) const {
  if (annotate) MB_RW_TSAN_CALL(__tsan_mutex_pre_lock(tsan_addr(), 0));
  Acquired r;
  std::uint64_t w = lock().load_relaxed();
  // ORDER: acquire pairs with the release in unlock_writer: the new
  // holder sees every store of the previous one. A failed CAS leaves the
  // word it found in w, where wait_writer starts.
  if ((w & kRwPidMask) != 0 || !lock().cas_acquire(w, w | std::uint64_t{rw_os::self_pid()} << kRwPidShift))
    r = wait_writer(w);
  // S1: the stamp names the holder from here to its unlock (relaxed: the
  // lock word's acquire loads in holder_state order what waiters see).
  if (w_.stamp_off != 0) stamp().store_relaxed(rw_os::self_ident());
  // Drain the readers that held the lock before our CAS (L1). ORDER:
  // acquire pairs with the release fetch_and in read_unlock: every load of
  // a reader happens before our stores.
  if (const std::uint64_t now = lock().load_acquire(); (now & kRwReaderMask) != 0) drain_readers(now);
  if (annotate) MB_RW_TSAN_CALL(__tsan_mutex_post_lock(tsan_addr(), 0, 0));
  return r;
}

inline void RwLock::unlock_writer(bool annotate) const {
  if (annotate) MB_RW_TSAN_CALL(__tsan_mutex_pre_unlock(tsan_addr(), 0));
  // S1: the stamp is cleared before the word is (relaxed: the release below
  // orders it for whoever acquires the word).
  if (w_.stamp_off != 0) stamp().store_relaxed(0);
#if MB_PLANT_BUG == 9
  // Planted bug 9: a relaxed unlock publishes nothing to the next holder.
  std::uint64_t old = lock().load_relaxed();
  lock().store_relaxed(old & kRwReaderMask);
#else
  // ORDER: release pairs with the acquire CAS in lock_writer / read_lock:
  // the next holder (or reader) sees every store made under this lock.
  std::uint64_t old = lock().fetch_and_acq_rel(kRwReaderMask);
#endif
#if MB_PLANT_BUG == 34
  // Planted bug 34: no wake; sleepers notice the unlock only when their
  // wait slice runs out (rw_wake_test_bug_34 sees the stall; the model
  // writers_wake_2t, a deadlock).
  (void)old;
#else
  if (old & kRwSleepers) wake_writer_sleepers();
#endif
  if (annotate) MB_RW_TSAN_CALL(__tsan_mutex_post_unlock(tsan_addr(), 0));
}

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_RWLOCK_RW_LOCK_H_
