// Relacy models of the rwlock map's protocol, run on variants/rwlock/
// rw_lock.cc and rw_map.cc themselves, compiled with the model sync policy
// (-DMB_SYNC_MODEL=1; rw_os.h maps pids to Relacy threads, futex waits to
// yields, or, in the wake models, to sleeps on a sync::ModelFutex).
//
// Models (name: what it checks, scheduler):
//   writers_2t   two writers increment a plain (rl::var) counter under the
//                write lock: no data race, no lost update. Full search.
//   writers_wake_2t, rwlock_wake_2t, readers_writer_wake_3t  writers_2t,
//                rwlock_2t and readers_writer_3t with a blocking futex
//                (sync::ModelFutex): a wait sleeps, with no time slice,
//                until a wake of its half of the lock word, so a wake left
//                out leaves a waiter asleep for good (Relacy: "deadlock
//                detected"), where the other models' waits are yields and
//                the gtest rw_wake_test needs a minute-long slice to see it.
//                Planted bug 34 (write_unlock does not wake the writers
//                and readers asleep on the high half) fails
//                writers_wake_2t at the 7th schedule; 35 (read_unlock does
//                not wake a draining writer) and new bug 48 (a reader that
//                backs off from a writer does not wake it) fail
//                rwlock_wake_2t (schedules 225k and 7k) and
//                readers_writer_wake_3t (1st and 32nd). The futex's mutex
//                orders wakers before later waiters, so these models do not
//                check the lock's memory orders (the others do). Searches:
//                full (434k schedules); every schedule with up to 8
//                preemptions (609k; a full search, 57.6M schedules and
//                about 150 s here, passes too); random (100k). The
//                models with a dead or replaced holder, dead readers or
//                stray bits keep yields: no one wakes a waiter on a dead
//                process, and it notices one only after its waits return,
//                as a real wait does when its slice runs out.
//   rwlock_2t    a writer writes a plain variable under the write lock while
//                a reader reads it under the read lock (slot claim, reader
//                bit, drain): no data race, and the reader sees 0 or 1.
//                Full search.
//   readers_writer_3t  two readers under the read lock (two slots, two
//                reader bits) and a writer: no data race, each reader sees 0
//                or 1, every slot and bit is free afterwards. Random search
//                (100k schedules).
//   recovery_2t  the map's write lock is held by a dead process that left
//                the seq odd (planted in before()); a writer and a lock-free
//                reader race: exactly one recovers the lock, the seq is
//                repaired once, the reader sees a whole value, verify() is
//                clean. Random search (20k schedules).
//   incr_take_2t the counters' fast path (incr under the read lock, one
//                atomic add) against take() under the write lock on a key
//                holding 5: the increment lands before the take (take gets 6,
//                the key is gone) or after it (take gets 5, the increment
//                re-inserts the key as 1); never lost. Planted bug 15 runs
//                the fast path without the read lock. Context-bound search.
//   counters_3t  two incrementers and a lock-free reader on one counter
//                (5): the reader sees 5, 6 or 7, the results are 6 and 7,
//                the final value 7. Random search (50k schedules).
//   lru_touch_2t a map with LRU (room for 2 keys): a writer's put evicts
//                the clock's victim while a lock-free get of that key sets
//                its accessed bit: the get returns the value or not_found,
//                one key evicted, verify() clean (planted bug 47, the bit
//                set with a store of the meta read, brings the evicted key
//                back). Every schedule with up to 2 preemptions.
//   dead_readers_3t  both reader slots (and their bits) are held by a dead
//                process (planted in before()); a writer and two readers
//                race: whoever needs a slot or waits on the bits reclaims
//                the dead ones, each exactly once (counted); no data race,
//                each reader sees 0 or 1, every slot and bit is free
//                afterwards. Planted bug 17 frees a slot before clearing
//                its bit. Random search (200k schedules).
//   stray_bits_3t  a lock with one reader slot, free, and two reader bits
//                set that no live reader holds (planted in before()): bit 0
//                (its slot free) and bit 1 (past the last slot). A writer
//                and two readers race, one reading twice: the writer's
//                drain clears the stray bits, bit 0 only through a claim of
//                its slot, so that a reader that takes the slot meanwhile
//                keeps its bit; no data race, each reader sees 0 or 1, the
//                word and the slot are clear afterwards. Planted bug 36
//                clears a free slot's set bit without the claim (a reader
//                that took the slot in between reads with no bit: counted
//                as a stray, it fails the count check within a few hundred
//                schedules; without that check the writer's stores race
//                with the reader's loads, found at 26k); planted bug 37
//                leaves bits past the last slot (the drain never ends).
//                Random search (300k schedules). The first version of this
//                model found a hang: a reader holding the slot waited for
//                the writer with the stray bit still set, and the writer's
//                drain waited on that bit (reclaim leaves a live reader's
//                slot alone); a reader now clears such a bit before it
//                waits (planted bug 38 takes that out again).
//   replaced_writer_2t  the write lock is held by a dead process whose pid
//                (1) a later process has: thread 0 plays it (pid 1, another
//                start key); the stamp word names the dead one (planted in
//                before()). Both threads take the write lock and increment
//                a plain counter: exactly one takes the lock over (through
//                the stamp, S2), no data race, the counter is 2, the stamp
//                and the word are clear afterwards. Planted bug 25 takes
//                it over by the lock word CAS alone (thread 0's leaves the
//                word unchanged: two holders). Random search (100k schedules;
//                a full search does not finish).
//   dead_mover_2t  a writer died in the first move of an in-place rehash
//                (the entry copied, its source not yet tombed: in two
//                slots; played through the test hook, see Crash); one
//                thread inserts a key (recovering the lock, repairing, then
//                rehashing in place again) while a lock-free reader reads
//                the moved key: never missed, its value intact; afterwards
//                every key is there once, one move repaired. Planted bug 28
//                tombs the source before the copy. Random search (100k
//                schedules).
//   dead_mover_readers_2t  the same crash, met by readers under the read
//                lock only (for_each, and incr's fast path): one of them
//                recovers the writer in lock_reader's dead-writer branch
//                and repairs the map before reading; the walk sees every
//                key once. Planted bug 40 skips that repair (the walk sees
//                B twice). Random search (100k schedules).
//   cursor_rehash_2t  a cursor walk (next(), restarted on again) while a
//                writer's put rehashes in place (an entry moves back into a
//                tombstone) and a remove marks a slot: a finished walk saw
//                each key present throughout once, the others at most
//                once. Planted bug 42 leaves the table epoch alone in an
//                in-place rehash (the walk misses the moved key); planted
//                bug 45 takes a new cursor's table and epoch inside a
//                try the seq may reject (a review found that gap in
//                next(); found at schedule 17k). Every schedule with up
//                to 2 preemptions (1.6M schedules, 43 s here; a random
//                search of 100k missed bug 45).
//   dead_value_half_2t, dead_value_meta_2t  a writer died changing a
//                32-byte arena value to a 40-byte one, before (half) or
//                after (meta) its meta store; another key's writer recovers
//                while a lock-free reader reads the value: the old one whole
//                (half: the write is lost) or the new one (meta: and the
//                old block is freed). Planted bug 29 opens the value journal
//                late (half fails), 30 keeps the old block (meta fails).
//                Random search (100k schedules each).
//   join_snapshot_2t  a join (RwMap::join, as another process's) while a
//                writer grows the table (the new table published, the old
//                one put on its free list): the join accepts the map, and
//                the joined map reads the u64 keys put before the grow.
//                Planted bug 39 takes the header's words one by one,
//                outside the seqlock (a join
//                refused a sound map: the table word from before the
//                publish, the list from after the retire; found at the 15th
//                schedule). Every schedule with up to 2 preemptions (1.5M
//                schedules, 47 s here; a random search of 50k schedules
//                missed bug 39).
//   table_reuse_2t  a lock-free reader gets a key present throughout
//                (and an expired one) while a writer grows the 8-slot
//                table to 16 (the 8-slot one retired to its free list),
//                removes four expired keys (flush_expired; the model clock,
//                rw_os::g_model_now_s, moved past their TTL in before())
//                and shrinks back into the retired table, emptying and
//                refilling it: the key is found with its value (the
//                expired one is never found, but that only checks the lazy
//                expiry: the clock stands still while threads run). Planted
//                bug 50 (read_stable() and get(u64)'s straight run without
//                their seq re-checks) fails it at schedule 273k: a reader
//                still in the old 8-slot table misses the key, whose slot
//                there is not slot 0 (the one retire_table() writes), while
//                the shrink empties and refills it; bug 53 (only the
//                straight run's re-check gone) at 443k, its reader taking
//                the empty home slot of a refilled table for the key's
//                absence. Every schedule with up to 2 preemptions (3.0M,
//                107 s here; a random search of 200k missed bug 50,
//                before get(u64) had its straight run).
//   arena_reuse_2t  a lock-free reader of an arena value while a writer
//                replaces it with a larger one (the old block freed) and
//                another key's value takes the freed block back: the
//                reader returns one whole written value. Planted bug 10
//                fails it. Random search (100k schedules).
//   seqlock_2t   a lock-free reader (RwMap::get) against a writer that
//                overwrites a 16-byte inline value: the reader never accepts
//                a torn copy, and only values that were written. Random search
//                (200k schedules; a full search does not finish).
//
// Usage: rwlock_model [--expect-failure=NAME] [--only=NAME]
#include <cstring>

#include "core/sync.h"
#include "models/crash_play.h"
#include "models/model_main.h"
#include "variants/rwlock/rw_lock.h"
#include "variants/rwlock/rw_map.h"

namespace {

using mb::RwLock;
using mb::RwMap;
using mb::Status;
using u64 = std::uint64_t;

// A lock on its own: word 0 the lock, word 1 the stamp, words 8..9 two
// reader slots, words 16..18 the counters. Processes have no start keys
// (0: unknown) unless a model gives them some.
template <class Derived, int Threads = 2, unsigned Slots = 2>
struct LockModelBase : rl::test_suite<Derived, Threads> {
  // kWakes (a derived model's): waits sleep until woken (sync::ModelFutex).
  static constexpr bool kWakes = false;
  mb::sync::ModelMemory<24> mem;
  mb::sync::ModelFutex futex;
  RwLock lock;
  rl::var<int> data;

  void before() {
    RwLock::Words w;
    w.lock_off = 0;
    w.slots_off = 64;
    w.slot_cnt = Slots;
    w.counters_off = 128;
    w.stamp_off = 8;
    lock = RwLock(mem.base(), w);
    data($) = 0;
    for (auto& k : mb::rw_os::g_model_start_key) k = 0;
    // Every iteration says which waits it runs with (a failed one may have
    // left its futex installed).
    mb::sync::ModelFutex::current() = Derived::kWakes ? &futex : nullptr;
  }
};

template <class Derived>
struct WritersBase : LockModelBase<Derived> {
  void thread(unsigned) {
    RwLock::Acquired a = this->lock.write_lock();
    RL_ASSERT(!a.recovered);
    this->data($) = this->data($) + 1;
    this->lock.write_unlock();
  }
  void after() {
    RL_ASSERT(this->data($) == 2);
    RL_ASSERT(this->lock.word() == 0);
  }
};

struct WritersModel : WritersBase<WritersModel> {};
struct WritersWakeModel : WritersBase<WritersWakeModel> {
  static constexpr bool kWakes = true;
};

// Pid 1 was a writer's that died holding the lock; thread 0 is the later
// process given pid 1 (start key 11, the dead one's 7), thread 1 is pid 2.
struct ReplacedWriterModel : LockModelBase<ReplacedWriterModel> {
  void before() {
    LockModelBase<ReplacedWriterModel>::before();
    mb::rw_os::g_model_start_key[1] = 11;
    mb::rw_os::g_model_start_key[2] = 12;
    mb::sync::word(mem.base(), 0).store_relaxed(u64{1} << mb::kRwPidShift);
    mb::sync::word(mem.base(), 8).store_relaxed(1 | u64{7} << 32);
  }
  void thread(unsigned) {
    lock.write_lock();
    data($) = data($) + 1;
    lock.write_unlock();
  }
  void after() {
    RL_ASSERT(data($) == 2);
    RL_ASSERT(lock.word() == 0);
    RL_ASSERT(mb::sync::word(mem.base(), 8).load_relaxed() == 0);
    RL_ASSERT(lock.write_recoveries() == 1);
  }
};

// Thread 0 writes data under the write lock; the others read it under the
// read lock.
template <class Derived, int Threads>
struct ReadersWriterBase : LockModelBase<Derived, Threads> {
  void thread(unsigned t) {
    if (t == 0) {
      this->lock.write_lock();
      this->data($) = 1;
      this->lock.write_unlock();
    } else {
      unsigned slot = this->lock.read_lock(nullptr, nullptr);
      int v = this->data($);
      RL_ASSERT(v == 0 || v == 1);
      this->lock.read_unlock(slot);
    }
  }
  void after() { RL_ASSERT(this->lock.word() == 0); }
};

struct ReadWriteLockModel : ReadersWriterBase<ReadWriteLockModel, 2> {};

template <class Derived>
struct ReadersWriter3Base : ReadersWriterBase<Derived, 3> {
  void after() {
    ReadersWriterBase<Derived, 3>::after();
    for (u64 i = 0; i < 2; ++i) RL_ASSERT(mb::sync::word(this->mem.base(), 64 + 8 * i).load_relaxed() == 0);
  }
};

struct ReadersWriterModel : ReadersWriter3Base<ReadersWriterModel> {};

// The wake models: the same threads, with waits that sleep until woken.
struct RwLockWakeModel : ReadersWriterBase<RwLockWakeModel, 2> {
  static constexpr bool kWakes = true;
};
struct ReadersWriterWakeModel : ReadersWriter3Base<ReadersWriterWakeModel> {
  static constexpr bool kWakes = true;
};

// A dead process holds both reader slots and bits: the live readers find no
// free slot and the writer's drain waits on the bits until someone reclaims
// them (L3: bit cleared before the slot is freed).
struct DeadReadersModel : ReadersWriter3Base<DeadReadersModel> {
  void before() {
    ReadersWriter3Base<DeadReadersModel>::before();
    const u64 dead = u64{mb::rw_os::kModelDeadPid} << 32 | 5;
    for (u64 i = 0; i < 2; ++i) mb::sync::word(mem.base(), 64 + 8 * i).store_relaxed(dead);
    mb::sync::word(mem.base(), 0).store_relaxed(3);  // reader bits 0 and 1
  }
  void after() {
    ReadersWriter3Base<DeadReadersModel>::after();  // the word and both slots clear
    RL_ASSERT(lock.read_recoveries() == 2);
  }
};

// One reader slot, free, and reader bits 0 and 1 set by no live reader.
// Thread 0 writes data under the write lock; thread 1 reads it twice and
// thread 2 once under the read lock (with one slot, a reader that finds it
// taken reclaims too).
struct StrayBitsModel : LockModelBase<StrayBitsModel, 3, 1> {
  void before() {
    LockModelBase<StrayBitsModel, 3, 1>::before();
    mb::sync::word(mem.base(), 0).store_relaxed(3);  // bit 0: slot 0 is free; bit 1: past the last slot
  }
  void read_once() {
    unsigned slot = lock.read_lock(nullptr, nullptr);
    int v = data($);
    RL_ASSERT(v == 0 || v == 1);
    lock.read_unlock(slot);
  }
  void thread(unsigned t) {
    if (t == 0) {
      lock.write_lock();
      data($) = 1;
      lock.write_unlock();
    } else {
      read_once();
      if (t == 1) read_once();
    }
  }
  void after() {
    RL_ASSERT(data($) == 1);
    RL_ASSERT(lock.word() == 0);
    RL_ASSERT(mb::sync::word(mem.base(), 64).load_relaxed() == 0);
    // Bit 1 is reclaimed; bit 0 is, unless a reader's unlock cleared it.
    RL_ASSERT(lock.read_recoveries() >= 1 && lock.read_recoveries() <= 2);
  }
};

// The map in model memory: header at byte 64, one 8-slot table, and (in
// the value journal models) a few hundred bytes of arena.
constexpr u64 kHdrOff = 64;
constexpr unsigned kMapWords = 320;
using MapMemory = mb::sync::ModelMemory<kMapWords>;

// A map with one 8-slot table holding key kKey -> {1, 1} (16 bytes, inline),
// or kKey -> 5 (8 bytes: a counter) with setup_counter().
template <class Derived, int Threads = 2, class Memory = MapMemory>
struct MapModelBase : rl::test_suite<Derived, Threads> {
  static constexpr u64 kKey = 5;
  Memory mem;
  RwMap m;
  u64 arena_max = 0;
  u64 cap_max = 8;
  u64 lru_max = 0;

  void put(u64 x) {
    u64 v[2] = {x, x};
    RL_ASSERT(m.put(mb::RwBytes{&kKey, 8}, mb::RwBytes{v, 16}) == Status::ok);
  }
  void setup() {
    for (auto& k : mb::rw_os::g_model_start_key) k = 0;
    mb::rw_os::g_model_now_s = 0;
    mb::RwParams p;
    p.cap_init = 8;
    p.cap_max = cap_max;
    p.arena_max = arena_max;
    p.lru_max = lru_max;
    p.reader_slots = 2;
    RL_ASSERT(RwMap::format(mem.base(), kHdrOff, Memory::size(), p, nullptr, nullptr, &m) == Status::ok);
    put(1);
  }
  void setup_counter() {
    setup();
    RL_ASSERT(m.put(kKey, 5) == Status::ok);
  }
  void check_quiescent() {
    std::string why;
    Status s = m.verify(&why);
    if (s != Status::ok) std::printf("verify: %s\n", why.c_str());
    RL_ASSERT(s == Status::ok);
    RL_ASSERT(m.lock().word() == 0);
  }
};

struct IncrTakeModel : MapModelBase<IncrTakeModel> {
  u64 sum = 0, taken = 0;
  void before() { setup_counter(); }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.incr(kKey, &sum) == Status::ok);
    } else {
      RL_ASSERT(m.take(kKey, &taken) == Status::ok);
    }
  }
  void after() {
    u64 v = 0;
    Status s = m.get(kKey, &v);
    if (taken == 6) {
      RL_ASSERT(sum == 6 && s == Status::not_found);
    } else {
      RL_ASSERT(taken == 5 && sum == 1 && s == Status::ok && v == 1);
    }
    check_quiescent();
  }
};

// LRU with room for 2 keys: kKey (its accessed bit set) and K. A writer
// puts L, which first evicts the clock's victim (K, unless the reader's
// lookup has set K's bit first: then kKey), while a reader gets K with no
// lock, setting K's accessed bit with an RMW on the meta word of the slot
// it found. The reader gets K's value or not_found; afterwards L and one
// of the two are there, verify() clean. Planted bug 47 sets the bit with a
// store of the meta word the reader read: after K's eviction the store
// brings K back (verify() counts one full slot too many).
struct LruTouchModel : MapModelBase<LruTouchModel> {
  static constexpr u64 kK = 100, kL = 101;
  void before() {
    lru_max = 2;
    setup();  // kKey -> {1, 1}
    RL_ASSERT(m.put(kK, 10) == Status::ok);
    u64 v[2] = {0, 0}, sz = 0;
    RL_ASSERT(m.get(mb::RwBytes{&kKey, 8}, v, sizeof v, &sz) == Status::ok);  // kKey's bit set
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.put(kL, 11) == Status::ok);
      return;
    }
    u64 v = 0;
    const Status s = m.get(kK, &v);
    RL_ASSERT(s == Status::not_found || (s == Status::ok && v == 10));
  }
  void after() {
    check_quiescent();
    RL_ASSERT(m.size() == 2);
    u64 v = 0, w[2] = {0, 0}, sz = 0;
    RL_ASSERT(m.get(kL, &v) == Status::ok && v == 11);
    const bool k = m.get(kK, &v) == Status::ok;
    const bool key = m.get(mb::RwBytes{&kKey, 8}, w, sizeof w, &sz) == Status::ok;
    RL_ASSERT(k != key);  // exactly one was evicted
  }
};

struct CountersModel : MapModelBase<CountersModel, 3> {
  u64 sums[2] = {0, 0};
  void before() { setup_counter(); }
  void thread(unsigned t) {
    if (t < 2) {
      RL_ASSERT(m.incr(kKey, &sums[t]) == Status::ok);
      return;
    }
    u64 v = 0;
    RL_ASSERT(m.get(kKey, &v) == Status::ok);
    RL_ASSERT(v >= 5 && v <= 7);
  }
  void after() {
    u64 v = 0;
    RL_ASSERT(m.get(kKey, &v) == Status::ok && v == 7);
    RL_ASSERT(sums[0] + sums[1] == 13 && sums[0] != sums[1]);
    check_quiescent();
  }
};

struct SeqlockModel : MapModelBase<SeqlockModel> {
  void before() { setup(); }
  void thread(unsigned t) {
    if (t == 0) {
      put(2);
      return;
    }
    u64 got[2] = {0, 0}, sz = 0;
    RL_ASSERT(m.get(mb::RwBytes{&kKey, 8}, got, sizeof got, &sz) == Status::ok);
    RL_ASSERT(sz == 16);
    RL_ASSERT(got[0] == got[1]);            // not torn
    RL_ASSERT(got[0] == 1 || got[0] == 2);  // a value that was written
  }
  void after() {
    std::string why;
    Status s = m.verify(&why);
    if (s != Status::ok) std::printf("verify: %s\n", why.c_str());
    RL_ASSERT(s == Status::ok);
  }
};

struct RecoveryModel : MapModelBase<RecoveryModel> {
  void before() {
    setup();
    // A writer that died inside its section: its pid in the lock word, seq odd.
    mb::sync::word(mem.base(), kHdrOff + 8 * mb::kRwLockWord).store_relaxed(u64{mb::rw_os::kModelDeadPid} << 32);
    auto seq = mb::sync::word(mem.base(), kHdrOff + 8 * mb::kRwSeqWord);
    seq.store_relaxed(seq.load_relaxed() + 1);
  }
  void thread(unsigned t) {
    u64 got[2] = {0, 0}, sz = 0;
    if (t == 0) {
      put(2);
      return;
    }
    RL_ASSERT(m.get(mb::RwBytes{&kKey, 8}, got, sizeof got, &sz) == Status::ok);
    RL_ASSERT(got[0] == got[1] && (got[0] == 1 || got[0] == 2));
  }
  void after() {
    RwMap::Stats s = m.stats();
    RL_ASSERT(s.write_recoveries == 1);
    RL_ASSERT(s.seq_repairs == 1);
    std::string why;
    RL_ASSERT(m.last_recovery(&why) == Status::ok);
    RL_ASSERT(m.verify(&why) == Status::ok);
  }
};

// Thread 0 inserts the key that grows the table (8 slots, 6 used, to 16:
// a new table from the arena, published, the old one retired to its free
// list) while thread 1 joins the map: the join's header snapshot is taken
// between two equal even seqs (or after the writer is gone), so it never
// sees the table word from before the publish beside the free list from
// after the retire (both naming the old table: "free table list ... out of
// range"). The joined map then reads the u64 keys put before the grow.
// Room for the 16-slot table beside the 8-slot one (64 bytes a slot).
using GrowMemory = mb::sync::ModelMemory<kMapWords + 64>;

struct JoinSnapshotModel : MapModelBase<JoinSnapshotModel, 2, GrowMemory> {
  static constexpr u64 kFirst = 100;
  void before() {
    cap_max = 16;
    setup();  // kKey
    for (u64 k = kFirst; k < kFirst + 5; ++k) RL_ASSERT(m.put(k, k) == Status::ok);  // 6 of 8 used
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.put(kFirst + 5, kFirst + 5) == Status::ok);  // the 7th: grows
      return;
    }
    RwMap j;
    std::string why;
    const Status s = RwMap::join(mem.base(), kHdrOff, GrowMemory::size(), nullptr, nullptr, &j, &why);
    if (s != Status::ok) std::printf("join: %s\n", why.c_str());
    RL_ASSERT(s == Status::ok);
    u64 v = 0;
    for (u64 k = kFirst; k < kFirst + 5; ++k) RL_ASSERT(j.get(k, &v) == Status::ok && v == k);
  }
  void after() {
    check_quiescent();
    RL_ASSERT(m.capacity() == 16);
  }
};

// A slow reader against a table taken back off the free list. Six entries
// fill the 8-slot table to its limit: kKey, kLive and four keys put with a
// TTL that has run out (the model clock moved past them in before()). One
// thread puts kNew1 (the grow: the 16-slot table is published, the 8-slot
// one retired to its free list), removes the expired keys
// (flush_expired), and puts kNew2, whose insert first shrinks the map
// back into the retired 8-slot table (3 entries: below 25% of 16): its
// slots are emptied and refilled. A lock-free reader gets kLive (present
// throughout: found, its value whole) and an expired key (never found:
// the lazy expiry, as the clock stands still while threads run).
// A reader that took the 8-slot table's word before the grow may probe it
// while the shrink refills it, and miss kLive there: only its seq re-check
// rejects that (planted bug 50 takes the re-checks of read_stable() and of
// get(u64)'s straight run out, bug 53 the straight run's alone).
struct TableReuseModel : MapModelBase<TableReuseModel, 2, GrowMemory> {
  static constexpr u64 kFirst = 100, kLive = 200, kNew1 = 300, kNew2 = 301;
  void before() {
    cap_max = 16;
    setup();  // kKey, and the clock at 0
    mb::rw_os::g_model_now_s = 1000;
    RL_ASSERT(m.put(kLive, kLive, 0) == Status::ok);
    for (u64 k = kFirst; k < kFirst + 4; ++k) RL_ASSERT(m.put(k, k, 5) == Status::ok);
    RL_ASSERT(m.capacity() == 8);
    mb::rw_os::g_model_now_s = 2000;  // the four have expired
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.put(kNew1, kNew1) == Status::ok);
      RL_ASSERT(m.capacity() == 16);
      u64 removed = 0;
      RL_ASSERT(m.flush_expired(16, &removed) == Status::ok && removed == 4);
      RL_ASSERT(m.put(kNew2, kNew2) == Status::ok);
      return;
    }
    u64 v = 0;
    RL_ASSERT(m.get(kLive, &v) == Status::ok && v == kLive);
    RL_ASSERT(m.get(kFirst + 2, &v) == Status::not_found);
  }
  void after() {
    check_quiescent();
    RL_ASSERT(m.capacity() == 8);
    u64 v = 0;
    for (u64 k : {kLive, kNew1, kNew2}) RL_ASSERT(m.get(k, &v) == Status::ok && v == k);
  }
};

// A writer that dies inside its section, played in before() (CrashPlay:
// seq odd, journals as they were); the lock word and the stamp then name a
// dead process.
struct Crash {
  template <class Write>
  static void inside(MapMemory& m, mb::rw_os::HookPoint point, Write write) {
    mb::models::CrashPlay<MapMemory>::inside(m, point, write);
    mb::sync::word(m.base(), kHdrOff + 8 * mb::kRwLockWord).store_relaxed(u64{mb::rw_os::kModelDeadPid} << mb::kRwPidShift);
    mb::sync::word(m.base(), kHdrOff + 8 * mb::kRwStampWord).store_relaxed(mb::rw_os::kModelDeadPid);
    RL_ASSERT(mb::sync::word(m.base(), kHdrOff + 8 * mb::kRwSeqWord).load_relaxed() & 1);
  }
};

// An in-place rehash whose writer died in its first move (the entry copied
// into the tombstone before it, the source not yet tombed): key B is in two
// slots. Thread 0 inserts N (recovering the lock, which repairs the map, then
// rehashing in place again, moving entries while thread 1 reads); thread 1
// reads B with no lock: B is never missed and keeps its value; afterwards
// every key is there once and verify() is clean. Planted bug 28 tombs the
// source before copying it (the entry is in neither slot at the crash).
constexpr u64 kMoveFromWord = 58;  // header word: the source of an open rehash move (rw_map.h, LAYOUT)

template <class Derived>
struct DeadMoverBase : MapModelBase<Derived> {
  using MapModelBase<Derived>::m;
  using MapModelBase<Derived>::mem;
  u64 a = 0, b = 0, fill[3] = {}, n = 0;
  u64 home(u64 k) { return m.hash(mb::RwBytes{&k, 8}) & 7; }
  void before() {
    place();
    // 5 entries and a tombstone in 8 slots: one more key rehashes in place.
    Crash::inside(mem, mb::rw_os::HookPoint::move_half_done, [&] { RL_ASSERT(m.put(n, 30) == Status::ok); });
    // The move that died is B's (its source slot holds B's key, words 2..4).
    const u64 from = mb::sync::word(mem.base(), kHdrOff + 8 * kMoveFromWord).load_relaxed();
    RL_ASSERT(from != 0 && mb::sync::word(mem.base(), from + 16).load_relaxed() == b);
  }
  // The keys, before the put of n that rehashes in place.
  // a_home: A's home slot (any, when kAnyHome).
  static constexpr u64 kAnyHome = ~u64{0};
  void place(u64 a_home = kAnyHome) {
    this->setup();  // kKey -> {1, 1}
    // A and B share a home: B sits after A, and A's removal leaves a
    // tombstone on B's probe path (the next slot is full).
    u64 k = 100;
    while (a_home != kAnyHome && home(k) != a_home) ++k;
    a = k++;
    while (home(k) != home(a)) ++k;
    b = k++;
    for (u64& f : fill) f = k++;
    n = k;
    RL_ASSERT(m.put(a, 10) == Status::ok && m.put(b, 11) == Status::ok);
    for (u64 i = 0; i < 3; ++i) RL_ASSERT(m.put(fill[i], 20 + i) == Status::ok);
    RL_ASSERT(m.remove(a) == Status::ok);
    RL_ASSERT(m.stats().rehashes == 0);
  }
};

struct DeadMoverModel : DeadMoverBase<DeadMoverModel> {
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.put(n, 30) == Status::ok);
      return;
    }
    u64 v = 0;
    RL_ASSERT(m.get(b, &v) == Status::ok);
    RL_ASSERT(v == 11);
  }
  void after() {
    u64 v = 0;
    RL_ASSERT(m.get(b, &v) == Status::ok && v == 11);
    RL_ASSERT(m.get(n, &v) == Status::ok && v == 30);
    for (u64 i = 0; i < 3; ++i) RL_ASSERT(m.get(fill[i], &v) == Status::ok && v == 20 + i);
    RL_ASSERT(m.get(a, &v) == Status::not_found);
    RL_ASSERT(m.size() == 6);
    RwMap::Stats st = m.stats();
    RL_ASSERT(st.write_recoveries == 1 && st.move_repairs == 1 && st.rehashes >= 1);
    check_quiescent();
  }
};

// The same dead mover (B in two slots), met by readers under the read lock
// only: thread 0 walks the map (for_each), thread 1 increments a u64 key
// (the counters' fast path, incr under the read lock). Whichever finds the
// dead writer first recovers it in lock_reader's dead-writer branch (the
// write lock taken over, repair(), unlocked) before it reads: the walk sees
// every key once (B from one slot), the increment lands, one recovery, one
// move repaired. Planted bug 40 skips the repair in that branch: the walk
// sees B twice.
struct DeadMoverReadersModel : DeadMoverBase<DeadMoverReadersModel> {
  struct Seen {
    u64 keys[8];
    unsigned n;
  };
  void thread(unsigned t) {
    if (t == 0) {
      Seen seen{};
      RL_ASSERT(m.for_each([](void* ctx, mb::RwBytes key, mb::RwBytes) {
        auto* s = static_cast<Seen*>(ctx);
        RL_ASSERT(key.size == 8 && s->n < 8);
        std::memcpy(&s->keys[s->n++], key.data, 8);
      }, &seen) == Status::ok);
      RL_ASSERT(seen.n == 5);  // kKey, B and the three fillers, each once
      for (unsigned i = 0; i < seen.n; ++i)
        for (unsigned j = i + 1; j < seen.n; ++j) RL_ASSERT(seen.keys[i] != seen.keys[j]);
      return;
    }
    u64 r = 0;
    RL_ASSERT(m.incr(fill[0], &r) == Status::ok && r == 21);
  }
  void after() {
    u64 v = 0;
    RL_ASSERT(m.get(b, &v) == Status::ok && v == 11);
    RL_ASSERT(m.get(fill[0], &v) == Status::ok && v == 21);
    RL_ASSERT(m.size() == 5);
    RwMap::Stats st = m.stats();
    RL_ASSERT(st.write_recoveries == 1 && st.move_repairs == 1);
    check_quiescent();
  }
};

// A cursor walk (next(), restarted from the start whenever it says again)
// while thread 0 puts n, which rehashes the table in place (B moves back
// into A's tombstone, before it), and then removes fill[0] (a mark, no
// move): a walk that ends sees kKey, B, fill[1] and fill[2] (present
// throughout) once each, n and fill[0] at most once, and nothing else.
// A's home is slot 0, so a walk's first step passes A's tombstone before
// it meets a full slot. Planted bug 42 leaves the table epoch (word 60)
// alone in an in-place rehash: a cursor past B's new slot and before its
// old one misses B. Planted bug 45 lets a new cursor take its table and
// epoch inside a try the seq then rejects: taken after the rehash's epoch
// bump, they let the next try resume past A's old slot, where B lands.
struct CursorModel : DeadMoverBase<CursorModel> {
  void before() {
    place(0);
    RL_ASSERT(home(kKey) != 0);  // nothing full before A's slot
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.put(n, 30) == Status::ok);
      RL_ASSERT(m.remove(fill[0]) == Status::ok);
      return;
    }
    u64 seen[8] = {}, cnt = 0;
    RwMap::Cursor c;
    for (;;) {
      u64 k[2] = {}, v[2] = {}, ks = 0, vs = 0;
      const Status s = m.next(&c, k, sizeof k, &ks, v, sizeof v, &vs);
      if (s == Status::not_found) break;
      if (s == Status::again) {
        c = RwMap::Cursor{}, cnt = 0;  // entries moved: start over
        continue;
      }
      RL_ASSERT(s == Status::ok && ks == 8 && cnt < 8);
      seen[cnt++] = k[0];
    }
    auto times = [&](u64 key) {
      unsigned x = 0;
      for (u64 i = 0; i < cnt; ++i) x += seen[i] == key;
      return x;
    };
    for (u64 key : {kKey, b, fill[1], fill[2]}) RL_ASSERT(times(key) == 1);
    RL_ASSERT(times(n) <= 1 && times(fill[0]) <= 1);
    RL_ASSERT(cnt == 4 + times(n) + times(fill[0]));
  }
  void after() {
    RL_ASSERT(m.stats().rehashes == 1);
    check_quiescent();
  }
};

// A change of key V's 32-byte value (in the arena) to a 40-byte one whose
// writer died at `At`: value_half_done (the slot names the new block, its
// meta word still the old length) or value_meta_done (the meta word too,
// the journal still open, the old block not freed). Thread 0 writes another
// key (recovering the lock: the repair settles the journal); thread 1 reads
// V with no lock: the old value, whole, after a death before the meta store
// (the write is lost, and the new block it had allocated leaks, as
// rw_map.h's CRASH RECOVERY says), the new one after it. Afterwards verify() is clean,
// and after value_meta_done the old block is back on its free list (a
// 32-byte value for another key takes it: no new arena bytes). Planted bug
// 29 opens the journal only after the new value is written (nothing tells
// the repair of the change: V reads the new block at the old length);
// planted bug 30 leaves the old block allocated.
template <class Derived, mb::rw_os::HookPoint At>
struct DeadValueModel : MapModelBase<Derived> {
  static constexpr u64 kV = 7, kX = 8, kY = 9;
  static constexpr bool kMetaDone = At == mb::rw_os::HookPoint::value_meta_done;
  u64 old_val[4] = {0x11, 0x11, 0x11, 0x11}, new_val[5] = {0x22, 0x22, 0x22, 0x22, 0x22};
  void before() {
    this->arena_max = 512;
    this->setup();
    RL_ASSERT(this->m.put(mb::RwBytes{&kV, 8}, mb::RwBytes{old_val, sizeof old_val}) == Status::ok);
    Crash::inside(this->mem, At, [&] {
      RL_ASSERT(this->m.put(mb::RwBytes{&kV, 8}, mb::RwBytes{new_val, sizeof new_val}) == Status::ok);
    });
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(this->m.put(kX, 1) == Status::ok);
      return;
    }
    u64 got[5] = {}, sz = 0;
    RL_ASSERT(this->m.get(mb::RwBytes{&kV, 8}, got, sizeof got, &sz) == Status::ok);
    check_value(got, sz);
  }
  void check_value(const u64* got, u64 sz) {
    RL_ASSERT(sz == (kMetaDone ? sizeof new_val : sizeof old_val));
    for (u64 i = 0; i < sz / 8; ++i) RL_ASSERT(got[i] == (kMetaDone ? 0x22 : 0x11));
  }
  void after() {
    u64 got[5] = {}, sz = 0;
    RL_ASSERT(this->m.get(mb::RwBytes{&kV, 8}, got, sizeof got, &sz) == Status::ok);
    check_value(got, sz);
    RwMap::Stats st = this->m.stats();
    RL_ASSERT(st.write_recoveries == 1 && st.move_repairs == 1);
    this->check_quiescent();
    if (kMetaDone) {
      // The freed block is on its free list once: the first 32-byte value
      // takes it, the second needs new arena bytes.
      static constexpr u64 kZ = 10;
      RL_ASSERT(this->m.put(mb::RwBytes{&kY, 8}, mb::RwBytes{old_val, sizeof old_val}) == Status::ok);
      RL_ASSERT(this->m.stats().arena_used == st.arena_used);
      RL_ASSERT(this->m.put(mb::RwBytes{&kZ, 8}, mb::RwBytes{old_val, sizeof old_val}) == Status::ok);
      RL_ASSERT(this->m.stats().arena_used == st.arena_used + 32);
    }
  }
};

// A live change of key V's 32-byte arena value to a 40-byte one (a new
// block; the old one freed), then a 32-byte value for key Y, which takes
// V's old block back off its free list and overwrites it, while thread 1
// reads V with no lock: the old value whole or the new one whole, never
// Y's bytes and never a mix (the seq check rejects a copy from a block
// freed and reused meanwhile). Planted bug 10 (the writer's closing seq
// store relaxed) fails it too.
struct ArenaReuseModel : MapModelBase<ArenaReuseModel> {
  static constexpr u64 kV = 7, kY = 9;
  u64 old_val[4] = {0x11, 0x11, 0x11, 0x11}, new_val[5] = {0x22, 0x22, 0x22, 0x22, 0x22},
      y_val[4] = {0x33, 0x33, 0x33, 0x33};
  u64 arena_after_first = 0;
  void before() {
    arena_max = 512;
    setup();
    RL_ASSERT(m.put(mb::RwBytes{&kV, 8}, mb::RwBytes{old_val, sizeof old_val}) == Status::ok);
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.put(mb::RwBytes{&kV, 8}, mb::RwBytes{new_val, sizeof new_val}) == Status::ok);
      arena_after_first = m.stats().arena_used;
      RL_ASSERT(m.put(mb::RwBytes{&kY, 8}, mb::RwBytes{y_val, sizeof y_val}) == Status::ok);
      return;
    }
    u64 got[5] = {}, sz = 0;
    RL_ASSERT(m.get(mb::RwBytes{&kV, 8}, got, sizeof got, &sz) == Status::ok);
    RL_ASSERT(sz == sizeof old_val || sz == sizeof new_val);
    for (u64 i = 0; i < sz / 8; ++i) RL_ASSERT(got[i] == (sz == sizeof old_val ? 0x11 : 0x22));
  }
  void after() {
    RL_ASSERT(m.stats().arena_used == arena_after_first);  // Y took V's old block: no new arena bytes
    check_quiescent();
  }
};

struct DeadValueHalfModel : DeadValueModel<DeadValueHalfModel, mb::rw_os::HookPoint::value_half_done> {};
struct DeadValueMetaModel : DeadValueModel<DeadValueMetaModel, mb::rw_os::HookPoint::value_meta_done> {};

using mb::models::Model;
using mb::models::run;

const Model kModels[] = {
    {"writers_2t", run<WritersModel>, rl::sched_full, 0},
    {"writers_wake_2t", run<WritersWakeModel>, rl::sched_full, 0},
    {"rwlock_wake_2t", run<RwLockWakeModel>, rl::sched_bound, 0, 8},
    {"readers_writer_wake_3t", run<ReadersWriterWakeModel>, rl::sched_random, 100000},
    {"rwlock_2t", run<ReadWriteLockModel>, rl::sched_full, 0},
    {"readers_writer_3t", run<ReadersWriterModel>, rl::sched_random, 100000},
    {"recovery_2t", run<RecoveryModel>, rl::sched_random, 20000},
    {"replaced_writer_2t", run<ReplacedWriterModel>, rl::sched_random, 100000},
    {"seqlock_2t", run<SeqlockModel>, rl::sched_random, 200000},
    {"dead_readers_3t", run<DeadReadersModel>, rl::sched_random, 200000},
    {"stray_bits_3t", run<StrayBitsModel>, rl::sched_random, 300000},
    {"incr_take_2t", run<IncrTakeModel>, rl::sched_bound, 0, 2},
    {"counters_3t", run<CountersModel>, rl::sched_random, 50000},
    {"lru_touch_2t", run<LruTouchModel>, rl::sched_bound, 0, 2},
    {"dead_mover_2t", run<DeadMoverModel>, rl::sched_random, 100000, 0, 10000},
    {"dead_mover_readers_2t", run<DeadMoverReadersModel>, rl::sched_random, 100000, 0, 10000},
    {"cursor_rehash_2t", run<CursorModel>, rl::sched_bound, 0, 2, 10000},
    {"dead_value_half_2t", run<DeadValueHalfModel>, rl::sched_random, 100000},
    {"dead_value_meta_2t", run<DeadValueMetaModel>, rl::sched_random, 100000},
    {"arena_reuse_2t", run<ArenaReuseModel>, rl::sched_random, 100000},
    {"join_snapshot_2t", run<JoinSnapshotModel>, rl::sched_bound, 0, 2, 20000},
    {"table_reuse_2t", run<TableReuseModel>, rl::sched_bound, 0, 2, 20000},
};

}  // namespace

int main(int argc, char** argv) { return mb::models::model_main(argc, argv, kModels); }
