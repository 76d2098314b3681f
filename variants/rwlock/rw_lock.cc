// RwLock: see rw_lock.h for the word layout, invariants L1..L3 and the
// memory orders of each operation (the write lock's uncontended path is
// inline there; its waits are here).
#include "variants/rwlock/rw_lock.h"

#ifndef MB_PLANT_BUG
#define MB_PLANT_BUG 0
#endif

namespace mb {

using rw_os::Half;

namespace {

// This thread as a reader slot names it: pid << 32 | start key, a key equal
// to the reclaiming mark counting as unknown (0).
std::uint64_t self_reader() {
  const std::uint32_t key = rw_os::self_start_key();
  return std::uint64_t{rw_os::self_pid()} << 32 | (key == kSlotReclaiming ? 0 : key);
}

}  // namespace

RwLock::RwLock(void* base, const Words& w) : base_(base), w_(w) {
  MB_RW_TSAN_CALL(__tsan_mutex_create(tsan_addr(), __tsan_mutex_linker_init));
}

void* RwLock::tsan_addr() const {
#if MB_RW_TSAN
  return lock().address();
#else
  return nullptr;
#endif
}

// What a waiter can tell of the writer named in `seen`, once it has seen it
// on two waits in a row: gone (its pid is dead), replaced (its pid now
// names a later process: the stamp word names the pid with another start
// key; *stamp_seen receives it), or neither.
RwLock::Holder RwLock::holder_state(std::uint64_t seen, std::uint64_t* last, unsigned* waits,
                                    std::uint64_t* stamp_seen) const {
  const std::uint64_t holder = seen & kRwPidMask;
  if (holder != *last) {
    *last = holder;
    *waits = 0;
    return Holder::running;
  }
  if (++*waits < 2) return Holder::running;
  return classify(seen, stamp_seen);
}

// holder_state's check, once.
RwLock::Holder RwLock::classify(std::uint64_t seen, std::uint64_t* stamp_seen) const {
  const std::uint64_t holder = seen & kRwPidMask;
  const auto pid = std::uint32_t(holder >> kRwPidShift);
  if (!rw_os::alive(pid)) return Holder::dead;
  if (w_.stamp_off == 0) return Holder::running;
  // ORDER: acquire, then acquire. Every change of the lock word is a
  // read-modify-write, so a word naming this holder continues the release
  // sequence of the unlock before the holder's CAS: loading it, we see that
  // unlock's stamp clear (S1), and the stamp we load is 0, this holder's,
  // or a later one's; never that of an earlier holder with the same pid.
  if ((lock().load_acquire() & kRwPidMask) != holder) return Holder::running;
  const std::uint64_t st = stamp().load_acquire();
  if (std::uint32_t(st) != pid || rw_os::alive_ident(st)) return Holder::running;
  *stamp_seen = st;
  return Holder::replaced;
}

bool RwLock::writer_gone() const {
  const std::uint64_t w = lock().load_acquire();
  std::uint64_t st = 0;
  return (w & kRwPidMask) != 0 && classify(w, &st) != Holder::running;
}

// Replace a dead writer by ourselves: one CAS from the exact word seen, so
// exactly one of several recoverers wins. The stamp names us first (S4), so
// that a recoverer killed right after its lock CAS leaves its own stamp,
// not the dead holder's; a recoverer that loses the lock CAS puts back the
// stamp it replaced, unless it changed meanwhile.
bool RwLock::take_dead_writer(std::uint64_t seen) const {
  std::uint64_t mine = (seen & ~kRwPidMask) | (std::uint64_t(rw_os::self_pid()) << kRwPidShift);
  std::uint64_t st = 0;
  const std::uint64_t me = rw_os::self_ident();
  if (w_.stamp_off != 0) {
    // ORDER: acq_rel, as take_replaced_writer's stamp CAS.
    st = stamp().load_acquire();
    // A stamp naming a live process is another recoverer's (which puts
    // back what it replaced if its lock CAS fails: taken from it, the
    // dead holder's stamp would be lost) or a later holder's that was
    // given the dead pid: not ours to take either way (S4). We wait.
    if (st != 0 && rw_os::alive_ident(st)) return false;
    if (!stamp().cas_acq_rel(st, me)) return false;  // another recoverer is at it
  }
  // ORDER: acquire, as in lock_writer. The dead holder published nothing
  // with a release (it died inside its section): its stores are visible
  // because the kernel tore its process down before alive() said so (C++
  // has no model of that; the crash tests exercise it).
  if (!lock().cas_acquire(seen, mine)) {
    std::uint64_t back = me;
    // Relaxed: only a hint that no holder's stamp is lost (S4).
    if (w_.stamp_off != 0) stamp().cas_relaxed(back, st);
    return false;
  }
  counter(0).fetch_add_relaxed(1);  // a statistic: relaxed
  return true;
}

// Replace a writer whose pid a later process was given (the stamp `st`
// names the pid with the dead process's start key). The pid bits alone
// cannot be CASed away (the later process may be us: the word would not
// change), so the stamp decides: one CAS from the exact stamp seen, which
// only the dead process wrote and no one writes again, so exactly one
// waiter wins it; the winner then moves the lock word to itself while it
// still names that pid (S2). A winner that finds another pid there lost to
// a recoverer that saw the pid die meanwhile (that one stores its own
// stamp before it unlocks, S3).
bool RwLock::take_replaced_writer(std::uint64_t seen, std::uint64_t st) const {
  const std::uint64_t holder = seen & kRwPidMask, me = std::uint64_t{rw_os::self_pid()} << kRwPidShift;
#if MB_PLANT_BUG == 25
  // Planted bug 25: no stamp CAS, the lock word CAS alone; a waiter whose
  // pid is the replaced one's leaves the word as it was, so another waiter's
  // CAS succeeds too: two holders.
  (void)st;
#else
  // ORDER: acq_rel: acquire, as take_dead_writer's CAS; release orders the
  // new stamp before our lock word CAS for whoever acquires that word.
  if (!stamp().cas_acq_rel(st, rw_os::self_ident())) return false;
#endif
  for (std::uint64_t w = seen;;) {
    if ((w & kRwPidMask) != holder) return false;
    // ORDER: acquire, as in take_dead_writer. On failure w is reloaded.
    if (lock().cas_acquire(w, (w & ~kRwPidMask) | me)) break;
  }
  counter(0).fetch_add_relaxed(1);  // a statistic: relaxed
  return true;
}

// Wait until the word differs from `seen` (a writer holds it), spinning
// kRwSpinBeforeSleep pauses, then sleeping on the high half at most one
// wait slice.
void RwLock::sleep_on_writer(std::uint64_t seen) const {
  for (unsigned i = 0; i < kRwSpinBeforeSleep; ++i) {
    sync::pause();
    if (lock().load_relaxed() != seen) return;
  }
  std::uint64_t with_sleepers = seen | kRwSleepers;
  // Relaxed: S is only a hint to wake; the futex re-checks the word itself.
  if (seen != with_sleepers && !lock().cas_relaxed(seen, with_sleepers)) return;
  rw_os::wait(lock(), Half::high, std::uint32_t(with_sleepers >> 32), rw_os::g_wait_slice_ns);
}

RwLock::Acquired RwLock::wait_writer(std::uint64_t w) const {
  Acquired r;
  const std::uint64_t me = std::uint64_t(rw_os::self_pid()) << kRwPidShift;
  std::uint64_t last = 0;
  unsigned waits = 0;
  for (;;) {
    if ((w & kRwPidMask) == 0) {
      // ORDER: acquire, as in lock_writer (rw_lock.h).
      if (lock().cas_acquire(w, w | me)) return r;
      continue;
    }
    std::uint64_t st = 0;
    const Holder h = holder_state(w, &last, &waits, &st);
    if ((h == Holder::dead && take_dead_writer(w)) || (h == Holder::replaced && take_replaced_writer(w, st))) {
      r.recovered = true;
      return r;
    }
    sleep_on_writer(w);
    w = lock().load_relaxed();
  }
}

void RwLock::drain_readers(std::uint64_t w) const {
  unsigned drain_waits = 0;
  for (;;) {
    auto bits = std::uint32_t(w & kRwReaderMask);
    if (bits == 0) return;
    rw_os::wait(lock(), Half::low, bits, rw_os::g_wait_slice_ns);
    if (++drain_waits % 2 == 0) reclaim_dead_readers();
    // ORDER: acquire, as in lock_writer (rw_lock.h).
    w = lock().load_acquire();
  }
}

void RwLock::wake_writer_sleepers() const { rw_os::wake(lock(), Half::high, 1 << 30); }

// A free reader slot, claimed for this thread. The scan starts at a slot
// picked by the thread id, so threads rarely race for the same slot.
// One scan: kNoSlot when every slot is taken.
unsigned RwLock::scan_slots() const {
  const std::uint32_t tid = rw_os::self_tid();
  const std::uint64_t me = self_reader();
  for (unsigned n = 0, i = tid % w_.slot_cnt; n < w_.slot_cnt; ++n, i = i + 1 == w_.slot_cnt ? 0 : i + 1) {
    std::uint64_t free = 0;
    // ORDER: acquire pairs with read_unlock's release store of 0 (L3):
    // the previous holder's clear of the bit happens before our loads of
    // the word, so none of them shows its bit as ours (lock_reader clears
    // a bit it finds set and did not set). The claim itself is published
    // by the acq_rel fetch_or that sets our bit.
    if (slot(i).load_relaxed() == 0 && slot(i).cas_acquire(free, me)) return i;
  }
  return kNoSlot;
}

unsigned RwLock::claim_slot() const {
  for (;;) {
    unsigned i = scan_slots();
    if (i != kNoSlot) return i;
    if (reclaim_dead_readers() == 0) sync::yield();
  }
}

unsigned RwLock::read_lock(Repair repair, void* ctx) const { return lock_reader(claim_slot(), repair, ctx); }

bool RwLock::read_lock_if_slot(Repair repair, void* ctx, unsigned* slot) const {
  unsigned i = scan_slots();
  if (i == kNoSlot) return false;
  *slot = lock_reader(i, repair, ctx);
  return true;
}

unsigned RwLock::lock_reader(unsigned i, Repair repair, void* ctx) const {
  MB_RW_TSAN_CALL(__tsan_mutex_pre_lock(tsan_addr(), MB_RW_TSAN_READ));
  const std::uint64_t bit = std::uint64_t{1} << i;
  std::uint64_t w = lock().load_relaxed(), last = 0;
  unsigned waits = 0;
  for (;;) {
#if MB_PLANT_BUG == 11
    // Planted bug 11: a reader that ignores the writer.
    w &= ~kRwPidMask;
#endif
    if ((w & kRwPidMask) == 0) {
      // ORDER: acq_rel. Acquire pairs with unlock_writer's release (we see
      // the last writer's stores); release publishes our slot (claimed
      // before) to a recoverer that acquires this word. One fetch_or, never
      // retried in a loop: its old word says whether a writer came first.
      w = lock().fetch_or_acq_rel(bit);
#if MB_PLANT_BUG == 11
      w &= ~kRwPidMask;
#endif
      if ((w & kRwPidMask) == 0) break;
      // A writer came first: back off (L2) so that its drain ends, then
      // only wait (sleep_on_writer may set the sleepers bit) until it has
      // left.
      // ORDER: release, as in read_unlock (we read nothing meanwhile).
      w = lock().fetch_and_acq_rel(~bit) & ~bit;
#if MB_PLANT_BUG != 48  // Planted bug 48: the draining writer is not woken (model rwlock_wake_2t)
      rw_os::wake(lock(), Half::low, 1);
#endif
      continue;
    }
#if MB_PLANT_BUG == 38
    // Planted bug 38: a reader waits for the writer with a stray bit of its
    // slot set; the writer's drain waits on that bit (a hang).
    if (false) {
#else
    if ((w & bit) != 0) {
#endif
      // A writer holds the word and our slot's bit is set, which we never
      // did: a stray bit (damage, L2). The writer's drain waits on it, and
      // its reclaim leaves a slot a live reader holds alone, so we clear
      // it, owning it with the slot; waiting for the writer with it set
      // would wait for good (the Relacy model stray_bits_3t found that).
      // ORDER: acq_rel, as the back-off above.
      const std::uint64_t old = lock().fetch_and_acq_rel(~bit);
      rw_os::wake(lock(), Half::low, 1);
      if ((old & bit) != 0) counter(1).fetch_add_relaxed(1);  // a statistic (relaxed); the load above may be stale
      w = old & ~bit;
      continue;
    }
    std::uint64_t st = 0;
    if (holder_state(w, &last, &waits, &st) != Holder::running) {
      // Recover the dead writer through the write lock, then retry.
      Acquired a = lock_writer(false);
#if MB_PLANT_BUG == 40
      // Planted bug 40: the map is not repaired (a rehash move left half done).
      (void)a;
#else
      if (a.recovered && repair != nullptr) repair(ctx);
#endif
      unlock_writer(false);
      w = lock().load_relaxed();
      continue;
    }
    sleep_on_writer(w);
    w = lock().load_relaxed();
  }
  rw_os::hook(rw_os::HookPoint::read_locked);
  MB_RW_TSAN_CALL(__tsan_mutex_post_lock(tsan_addr(), MB_RW_TSAN_READ, 0));
  return i;
}

void RwLock::read_unlock(unsigned i) const {
  MB_RW_TSAN_CALL(__tsan_mutex_pre_unlock(tsan_addr(), MB_RW_TSAN_READ));
  // ORDER: release pairs with the acquire drain loads in lock_writer and
  // drain_readers.
  std::uint64_t old = lock().fetch_and_acq_rel(~(std::uint64_t{1} << i));
#if MB_PLANT_BUG == 35
  // Planted bug 35: a draining writer is not woken (rw_wake_test_bug_35;
  // the model rwlock_wake_2t).
  (void)old;
#else
  if (old & kRwPidMask) rw_os::wake(lock(), Half::low, 1);
#endif
  // ORDER: release: the bit is clear before the slot is seen free (L3).
  slot(i).store_release(0);
  MB_RW_TSAN_CALL(__tsan_mutex_post_unlock(tsan_addr(), MB_RW_TSAN_READ));
}

unsigned RwLock::reclaim_dead_readers() const {
  unsigned n = 0;
  const std::uint64_t me = std::uint64_t(rw_os::self_pid()) << 32 | kSlotReclaiming;
  for (unsigned i = 0; i < w_.slot_cnt; ++i) {
    const std::uint64_t bit = std::uint64_t{1} << i;
    // ORDER: acquire pairs with the slot's release store (L3).
    std::uint64_t s = slot(i).load_acquire();
    const auto key = std::uint32_t(s);
    if (s == 0) {
      // A free slot's bit set is damage (a reader sets its bit only while
      // its slot names it, and clears it before it frees the slot: L2, L3);
      // left alone it would hold every writer's drain for good. Relaxed: a
      // hint; the claim below decides.
      if ((lock().load_relaxed() & bit) == 0) continue;
    } else if (rw_os::alive_as(std::uint32_t(s >> 32), key == kSlotReclaiming ? 0 : key)) {
      continue;
    }
#if MB_PLANT_BUG == 36
    // Planted bug 36: a free slot's bit is cleared without claiming the
    // slot; a reader that took the slot and set its bit after the load above
    // loses the bit while it reads.
    if (s == 0) {
      if (lock().fetch_and_acq_rel(~bit) & bit) counter(1).fetch_add_relaxed(1), ++n;
      continue;
    }
#endif
    // Exactly one recoverer wins the slot; a dead recoverer's claim is
    // itself a dead slot and is reclaimed the same way. Holding a free
    // slot, we own its bit too: no reader sets it without the slot.
    if (!slot(i).cas_acquire(s, me)) continue;
#if MB_PLANT_BUG == 17
    // Planted bug 17: the slot is freed before its bit is cleared (breaks
    // L3): a new reader may take the slot, find its bit already set, read,
    // and then lose the bit to this clear while it still reads.
    slot(i).store_release(0);
    std::uint64_t old = lock().fetch_and_acq_rel(~bit);
    if (old & kRwPidMask) rw_os::wake(lock(), Half::low, 1);
#else
    std::uint64_t old = lock().fetch_and_acq_rel(~bit);
    if (old & kRwPidMask) rw_os::wake(lock(), Half::low, 1);
    slot(i).store_release(0);
#endif
    if (s == 0 && (old & bit) == 0) continue;  // the stray bit was cleared meanwhile: nothing done
    counter(1).fetch_add_relaxed(1);  // a statistic: relaxed
    ++n;
  }
  // Bits past the last slot are damage too, with no slot to own them.
  const std::uint64_t past = kRwReaderMask & ~((std::uint64_t{1} << w_.slot_cnt) - 1);
#if MB_PLANT_BUG == 37
  // Planted bug 37: bits past the last slot are left set (no slot owns them).
  if (false) {
#else
  if ((lock().load_relaxed() & past) != 0) {
#endif
    // ORDER: acq_rel, as the clears above.
    const std::uint64_t old = lock().fetch_and_acq_rel(~past);
    if (old & kRwPidMask) rw_os::wake(lock(), Half::low, 1);
    const unsigned cleared = unsigned(__builtin_popcountll(old & past));
    counter(1).fetch_add_relaxed(cleared);  // a statistic: relaxed
    n += cleared;
  }
  return n;
}

}  // namespace mb
