// Relacy models of the robin-hood map's protocol, run on
// variants/robinhood/rh_map.cc and core/alloc*.cc themselves, compiled with
// the model sync policy (-DMB_SYNC_MODEL=1).
//
// Models (name: what it checks, scheduler):
//   displace_2t     a writer inserts a key whose robin-hood placement shifts
//                   a present key E one slot right, while a reader looks E
//                   up: the reader always finds E with its value (an entry
//                   is in some slot at every instant, RH5).
//   erase_reuse_2t  a writer erases key K (freeing its block) and inserts
//                   K2 (the map's free stack hands the freed block back), while a
//                   reader looks K up: the reader returns K's value or
//                   not_found, never K2's value (the slot recheck rejects a
//                   read from a freed and reused block).
//   multi_snapshot_2t  a multimap key K sits in a run that two inserts shift
//                   right (twice), while a reader takes values(K): exactly
//                   K's one value, never twice (the double collect and the
//                   in-transit dedupe).
//   bytes_multi_snapshot_2t  multi_snapshot_2t for a multimap of byte
//                   strings: values(K) is exactly K's one value, whole.
//   multi_assign_2t a multimap key K has one value, 1; a writer updates it
//                   to 10 and then adds the value 2, while a reader takes
//                   values(K): {1}, {10} or {10, 2}, never {1, 2} (an
//                   assign in a multimap is copy-on-write, so the double
//                   collect sees it in the slot word).
//   erase_all_2t    a multimap key K has three values in adjacent slots; a
//                   writer's erase_all(K) tombstones them in probe order
//                   while a reader takes values(K): the last n of them in
//                   probe order (a prefix erased), never a value with one
//                   before it already gone (planted bug 14, a single
//                   collect, fails it).
//   bytes_assign_2t a byte-string key K is assigned (the assign puts a new
//                   block in K's slot and frees the old one), then a key L
//                   is inserted (its block is K's old one, handed back)
//                   while a reader looks K up: always found (present
//                   throughout: the block of another key is no proof of
//                   absence), and the value is one whole written value,
//                   never two mixed.
//   dead_writer_2t  the writer lock names a dead process; two writers
//                   insert a key each: exactly one takes the lock over
//                   (one recovery, its repair), the other waits for it,
//                   both keys and the one before are found, verify() clean
//                   (planted bug 22 takes the lock with a store: two
//                   recoveries).
//   replaced_writer_2t  dead_writer_2t where the dead holder's pid (1) now
//                   names a later process, thread 0 (another start key):
//                   the lock word's start key tells them apart, and the
//                   take-over CAS changes the word even for thread 0.
//                   Planted bug 22 fails it too (two recoveries).
//   dead_shift_2t   a writer died mid-shift (played in before() through
//                   the test hook: entry E in two adjacent slots, one
//                   block); a writer takes the lock over and repairs while
//                   a reader looks E up with no lock: E always found with
//                   its value, one recovery, verify() clean. Planted bug 41
//                   empties E's left copy instead of tombing it (verify()
//                   then finds the robin-hood order broken). Random
//                   search (200k schedules): the bounded one had not ended
//                   after 4 minutes (the repair's free-stack rebuild and
//                   the insert's resize are long).
//   resize_2t       a writer's insert triggers a copy-on-write resize (new
//                   table built, published, old table freed) while a reader
//                   looks up a present key: always found, and verify() is
//                   clean afterwards.
//   join_resize_2t  resize_2t's grow while the other thread joins the map
//                   (as a peer process would) and looks a key up through
//                   its own handle: join() may check a directory or
//                   segment the grow has just freed, and must then read
//                   the new table word and succeed (planted bug 54 calls
//                   the first failed check damage: join returns corrupt).
//   shrink_compact_2t  a writer's erase shrinks the table and, the slabs
//                   being far larger than the one entry left, moves that
//                   entry into a new slab and frees the old slabs, while a
//                   reader looks the entry up: always found with its value,
//                   verify() clean, one slab left (planted bug 26 keeps the
//                   old blocks in the new table: the reader, in the new
//                   table, reads a freed block; planted bug 27 frees the
//                   old slabs before the publish: the reader, still in the
//                   current table, reads a block the model's build wrote
//                   over as the memory's next owner would, and its rechecks
//                   pass).
//
// Every model but dead_shift_2t runs Relacy's context-bound scheduler (one
// forced preemption anywhere, every interleaving of that shape): a random
// schedule almost never stops a reader inside the few-step window these
// bugs need, a bounded one tries each window; full search does not finish
// in 300 s here.
//
// Usage: robinhood_model [--expect-failure=NAME] [--only=NAME]
#include "core/alloc.h"
#include "core/sync.h"
#include "models/crash_play.h"
#include "models/model_main.h"
#include "variants/robinhood/rh_map.h"
#include "variants/rwlock/internal/rw_os.h"

namespace {

using mb::Allocator;
using mb::RhMap;
using mb::Status;
using u64 = std::uint64_t;

constexpr u64 kHdrOff = 64;
constexpr unsigned kWords = 600;  // allocator header + 8 volumes of 512 bytes
using Memory = mb::sync::ModelMemory<kWords>;

// Directories, small table segments and bytes blocks take 64-byte slots;
// the map header, larger segments and a u64 map's slab (176 bytes: 10
// blocks, so the free stack and reuse happen within a model's few inserts)
// take 192-byte slots, which also hold 64-byte superblocks.
mb::AllocParams rh_params() {
  mb::AllocParams p;
  p.vol_sz = 512;
  p.vol_init = 0;
  p.cgroup_cnt = 2;
  p.obj_cnt_max = 2;
  p.footprint_cnt = 2;
  p.footprints[0] = 64;
  p.footprints[1] = 192;
  return p;
}

template <class Derived>
struct RhModelBase : rl::test_suite<Derived, 2> {
  Memory mem;
  Allocator a;
  RhMap m;

  u64 off = 0;  // the map header
  void setup(u64 cap = 4, unsigned flags = 0) {
    for (auto& k : mb::rw_os::g_model_start_key) k = 0;  // no start keys unless a model sets them
    RL_ASSERT(Allocator::create(mem.base(), kHdrOff, Memory::size(), rh_params(), nullptr, nullptr, &a) ==
              Status::ok);
    RL_ASSERT(RhMap::create(a, cap, 7, &off, nullptr, flags) == Status::ok);
    RL_ASSERT(RhMap::join(a, off, &m) == Status::ok);
    RL_ASSERT(m.capacity() == cap);
  }
  // The first key from `from` whose home slot in a 4-slot table is `home`.
  u64 key_with_home(u64 home, u64 from = 1) {
    u64 k = from;
    while ((m.hash(k) & 3) != home) ++k;
    return k;
  }
  void check_quiescent() {
    std::string why;
    Status s = m.verify(&why);
    if (s != Status::ok) std::printf("verify: %s\n", why.c_str());
    RL_ASSERT(s == Status::ok);
  }
};

// Slots: 0 = A (home 0), 1 = E (home 1). N (home 0) goes to slot 1 and
// shifts E to slot 2.
struct DisplaceModel : RhModelBase<DisplaceModel> {
  u64 ka = 0, ke = 0, kn = 0;
  void before() {
    setup();
    ka = key_with_home(0);
    ke = key_with_home(1);
    kn = key_with_home(0, ka + 1);
    RL_ASSERT(m.insert(ka, 10) == Status::ok);
    RL_ASSERT(m.insert(ke, 20) == Status::ok);
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.insert(kn, 30) == Status::ok);
      return;
    }
    u64 v = 0;
    Status s = m.find(ke, &v);
    RL_ASSERT(s == Status::ok);  // present throughout: never hidden by the shift
    RL_ASSERT(v == 20);
  }
  void after() {
    check_quiescent();
    RL_ASSERT(m.capacity() == 4);  // the model is about the shift, not a resize
  }
};

struct EraseReuseModel : RhModelBase<EraseReuseModel> {
  u64 k = 0, k2 = 0;
  void before() {
    setup();
    k = key_with_home(1);
    k2 = key_with_home(1, k + 1);  // same home: it takes K's tombstone
    RL_ASSERT(m.insert(k, 100) == Status::ok);
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.erase(k) == Status::ok);
      RL_ASSERT(m.insert(k2, 200) == Status::ok);
      return;
    }
    u64 v = 0;
    Status s = m.find(k, &v);
    RL_ASSERT(s == Status::ok || s == Status::not_found);
    if (s == Status::ok) RL_ASSERT(v == 100);  // never K2's value from the reused block
  }
  void after() {
    check_quiescent();
    u64 v = 0;
    RL_ASSERT(m.find(k, &v) == Status::not_found);
    RL_ASSERT(m.find(k2, &v) == Status::ok && v == 200);
  }
};

// Multimap, 8 slots: 0 = A (home 0), 1 = K (home 1). N1 and N2 (home 0)
// each go to slot 1 and shift K right. Two blocks are allocated and freed
// first, so the writer's allocations are short (a smaller model).
struct MultiSnapshotModel : RhModelBase<MultiSnapshotModel> {
  u64 ka = 0, kk = 0, kn = 0, kn2 = 0;
  void before() {
    setup(8, mb::kRhMultimap);
    u64 k = 1;
    while ((m.hash(k) & 7) != 0) ++k;
    ka = k++;
    while ((m.hash(k) & 7) != 0) ++k;
    kn = k++;
    while ((m.hash(k) & 7) != 0) ++k;
    kn2 = k;
    k = 1;
    while ((m.hash(k) & 7) != 1) ++k;
    kk = k;
    RL_ASSERT(m.insert_multi(ka, 10) == Status::ok);
    RL_ASSERT(m.insert_multi(kk, 1) == Status::ok);
    u64 x = 1;
    while ((m.hash(x) & 7) != 5) ++x;
    RL_ASSERT(m.insert_multi(x, 1) == Status::ok);
    RL_ASSERT(m.insert_multi(x, 2) == Status::ok);
    RL_ASSERT(m.erase_all(x) == Status::ok);
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.insert_multi(kn, 30) == Status::ok);
      RL_ASSERT(m.insert_multi(kn2, 40) == Status::ok);
      return;
    }
    u64 v[4] = {0, 0, 0, 0}, n = 0;
    RL_ASSERT(m.values(kk, v, 4, &n) == Status::ok);
    RL_ASSERT(n == 1);
    RL_ASSERT(v[0] == 1);
  }
  void after() {
    check_quiescent();
    RL_ASSERT(m.capacity() == 8);
  }
};

// K (home 0) holds 1 in slot 0. The writer's update of K and then its new
// value 2 (slot 1); the reader's values(K) must be a set K had.
struct MultiAssignModel : RhModelBase<MultiAssignModel> {
  u64 kk = 0;
  void before() {
    setup(4, mb::kRhMultimap);
    kk = key_with_home(0);
    RL_ASSERT(m.insert_multi(kk, 1) == Status::ok);
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.update(kk, 10) == Status::ok);
      RL_ASSERT(m.insert_multi(kk, 2) == Status::ok);
      return;
    }
    u64 v[4] = {0, 0, 0, 0}, n = 0;
    RL_ASSERT(m.values(kk, v, 4, &n) == Status::ok);
    if (n == 2 && v[0] > v[1]) std::swap(v[0], v[1]);
    RL_ASSERT((n == 1 && (v[0] == 1 || v[0] == 10)) || (n == 2 && v[0] == 2 && v[1] == 10));
  }
  void after() {
    check_quiescent();
    RL_ASSERT(m.size() == 2);
  }
};

// Multimap, 8 slots: A (home 0) in slot 0, K (home 1) with the values 1,
// 2 and 3 in slots 1-3. The writer's erase_all(K) tombstones them one by
// one, in probe order, in one critical section (erase_matching); the
// reader's values(K) sees a prefix of them erased (rh_map.h: erase_all is
// a sequence of erase_one linearization points), so what it returns is
// the last n of K's values in probe order, never a value with one before
// it erased.
struct EraseAllModel : RhModelBase<EraseAllModel> {
  u64 ka = 0, kk = 0;
  u64 ord[3] = {0, 0, 0};  // K's values in probe order
  void before() {
    setup(8, mb::kRhMultimap);
    u64 k = 1;
    while ((m.hash(k) & 7) != 0) ++k;
    ka = k;
    k = 1;
    while ((m.hash(k) & 7) != 1) ++k;
    kk = k;
    RL_ASSERT(m.insert_multi(ka, 10) == Status::ok);
    for (u64 v = 1; v <= 3; ++v) RL_ASSERT(m.insert_multi(kk, v) == Status::ok);
    u64 n = 0;
    RL_ASSERT(m.values(kk, ord, 3, &n) == Status::ok && n == 3);
  }
  void thread(unsigned t) {
    if (t == 0) {
      u64 erased = 0;
      RL_ASSERT(m.erase_all(kk, &erased) == Status::ok && erased == 3);
      return;
    }
    u64 v[4] = {0, 0, 0, 0}, n = 0;
    const Status s = m.values(kk, v, 4, &n);
    RL_ASSERT(s == Status::ok || s == Status::not_found);
    if (s == Status::not_found) return;
    RL_ASSERT(n >= 1 && n <= 3);
    for (u64 i = 0; i < n; ++i) RL_ASSERT(v[i] == ord[3 - n + i]);  // the last n, none before them
  }
  void after() {
    check_quiescent();
    u64 n = 0, v = 0;
    RL_ASSERT(m.values(kk, &v, 1, &n) == Status::not_found);
    RL_ASSERT(m.values(ka, &v, 1, &n) == Status::ok && n == 1 && v == 10);
  }
};

// The same for byte strings: keys "k<n>" with homes 0 (A, N1, N2) and 1 (K).
struct BytesMultiSnapshotModel : RhModelBase<BytesMultiSnapshotModel> {
  std::string ka, kk, kn, kn2;
  std::string key_with(u64 home, u64* from) {
    for (;; ++*from) {
      std::string k = "k" + std::to_string(*from);
      if ((m.hash(mb::RhBytes{k.data(), k.size()}) & 7) == home) return ++*from, k;
    }
  }
  static mb::RhBytes b(const std::string& x) { return mb::RhBytes{x.data(), x.size()}; }
  void before() {
    setup(8, mb::kRhMultimap | mb::kRhBytes);
    u64 from = 0;
    ka = key_with(0, &from);
    kn = key_with(0, &from);
    kn2 = key_with(0, &from);
    from = 0;
    kk = key_with(1, &from);
    from = 0;
    std::string x = key_with(5, &from);
    RL_ASSERT(m.insert_multi(b(ka), b("a")) == Status::ok);
    RL_ASSERT(m.insert_multi(b(kk), b("value-of-K")) == Status::ok);
    RL_ASSERT(m.insert_multi(b(x), b("1")) == Status::ok);  // two blocks allocated and freed: the
    RL_ASSERT(m.insert_multi(b(x), b("2")) == Status::ok);  // writer's allocations are short
    RL_ASSERT(m.erase_all(b(x)) == Status::ok);
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.insert_multi(b(kn), b("n1")) == Status::ok);
      RL_ASSERT(m.insert_multi(b(kn2), b("n2")) == Status::ok);
      return;
    }
    std::vector<std::string> got;
    RL_ASSERT(m.values(b(kk), &got) == Status::ok);
    RL_ASSERT(got.size() == 1);
    RL_ASSERT(got[0] == "value-of-K");
  }
  void after() {
    check_quiescent();
    RL_ASSERT(m.capacity() == 8);
  }
};

struct BytesAssignModel : RhModelBase<BytesAssignModel> {
  static constexpr char kKey[] = "key K", kOther[] = "key L";
  static mb::RhBytes key() { return mb::RhBytes{kKey, sizeof kKey - 1}; }
  static std::string val(char c) { return std::string(16, c); }  // two words: a torn copy shows
  void before() {
    setup(4, mb::kRhBytes);
    std::string v = val('a');
    RL_ASSERT(m.insert(key(), mb::RhBytes{v.data(), v.size()}) == Status::ok);
  }
  void thread(unsigned t) {
    if (t == 0) {
      std::string b = val('b'), c = val('c');
      RL_ASSERT(m.insert_or_assign(key(), mb::RhBytes{b.data(), b.size()}) == Status::ok);
      RL_ASSERT(m.insert(mb::RhBytes{kOther, sizeof kOther - 1}, mb::RhBytes{c.data(), c.size()}) == Status::ok);
      return;
    }
    char buf[16];
    u64 sz = 0;
    RL_ASSERT(m.find(key(), buf, sizeof buf, &sz) == Status::ok);  // present throughout
    RL_ASSERT(sz == 16);
    std::string got(buf, sz);
    RL_ASSERT(got == val('a') || got == val('b'));
  }
  void after() {
    check_quiescent();
    char buf[16];
    u64 sz = 0;
    RL_ASSERT(m.find(key(), buf, sizeof buf, &sz) == Status::ok && std::string(buf, sz) == val('b'));
    RL_ASSERT(m.size() == 2);
  }
};

// Header word 8 is the writer lock: a dead process (kModelDeadPid) holds it.
template <class Derived>
struct DeadWriterBase : RhModelBase<Derived> {
  using RhModelBase<Derived>::m;
  using RhModelBase<Derived>::mem;
  using RhModelBase<Derived>::off;
  void before() {
    this->setup(8);
    RL_ASSERT(m.insert(1, 10) == Status::ok);
    mb::sync::word(mem.base(), off + 8 * 8).store_relaxed(mb::rw_os::kModelDeadPid);
  }
  void thread(unsigned t) { RL_ASSERT(m.insert(100 + t, t) == Status::ok); }
  void after() {
    RL_ASSERT(m.recoveries() == 1);
    this->check_quiescent();
    u64 v = 0;
    RL_ASSERT(m.find(1, &v) == Status::ok && v == 10);
    RL_ASSERT(m.find(100, &v) == Status::ok && v == 0);
    RL_ASSERT(m.find(101, &v) == Status::ok && v == 1);
    RL_ASSERT(m.size() == 3);
  }
};

struct DeadWriterModel : DeadWriterBase<DeadWriterModel> {};

// The writer lock names a dead process by pid 1 and start key 7; pid 1 is
// now thread 0's (start key 11): a later process given the dead one's pid.
struct ReplacedWriterModel : DeadWriterBase<ReplacedWriterModel> {
  void before() {
    DeadWriterBase<ReplacedWriterModel>::before();
    mb::rw_os::g_model_start_key[1] = 11;
    mb::rw_os::g_model_start_key[2] = 12;
    mb::sync::word(mem.base(), off + 8 * 8).store_relaxed(1 | u64{7} << 32);
  }
};

// Three entries fill 3/4 of the 4-slot table: thread 0's fourth insert
// (grow()) rebuilds it.
template <class Derived>
struct GrowBase : RhModelBase<Derived> {
  u64 keys[4] = {1, 2, 3, 4};
  void before() {
    this->setup();
    for (u64 i = 0; i < 3; ++i) RL_ASSERT(this->m.insert(keys[i], keys[i] * 10) == Status::ok);
  }
  void grow() { RL_ASSERT(this->m.insert(keys[3], keys[3] * 10) == Status::ok); }
  void after() {
    this->check_quiescent();
    RL_ASSERT(this->m.capacity() == 8 && this->m.resizes() == 1);
    for (u64 i = 0; i < 4; ++i) {
      u64 v = 0;
      RL_ASSERT(this->m.find(keys[i], &v) == Status::ok && v == keys[i] * 10);
    }
  }
};

// The grow while thread 1 looks up two of the keys.
struct ResizeModel : GrowBase<ResizeModel> {
  void thread(unsigned t) {
    if (t == 0) return grow();
    for (u64 i = 0; i < 3; i += 2) {
      u64 v = 0;
      RL_ASSERT(m.find(keys[i], &v) == Status::ok);
      RL_ASSERT(v == keys[i] * 10);
    }
  }
};

// The grow while thread 1 joins the map (as a peer process would) and
// looks a key up through its own handle: join() checks the table's
// directory and segments, which the grow frees after publishing its new
// table word, so the check may meet a freed object; it must then read the
// new word and succeed, never call the map damaged.
struct JoinResizeModel : GrowBase<JoinResizeModel> {
  void thread(unsigned t) {
    if (t == 0) return grow();
    RhMap j;
    std::string why;
    const Status s = RhMap::join(a, off, &j, &why);
    if (s != Status::ok) std::printf("join: %s\n", why.c_str());
    RL_ASSERT(s == Status::ok);
    u64 v = 0;
    RL_ASSERT(j.find(keys[1], &v) == Status::ok && v == keys[1] * 10);
  }
};

// Eleven keys fill two slabs (10 blocks each) and a 16-slot table; nine
// are erased before the threads start. Thread 0 erases one more: the table
// shrinks to 4 slots and, the slabs holding 20 blocks for one entry, the
// shrink moves that entry into a new slab and frees both old ones, while
// thread 1 looks it up.
struct ShrinkCompactModel : RhModelBase<ShrinkCompactModel> {
  void before() {
    setup();
    for (u64 k = 1; k <= 11; ++k) RL_ASSERT(m.insert(k, k * 10) == Status::ok);
    RL_ASSERT(m.capacity() == 16 && m.slab_count() == 2);
    for (u64 k = 1; k <= 9; ++k) RL_ASSERT(m.erase(k) == Status::ok);
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.erase(10) == Status::ok);
      return;
    }
    u64 v = 0;
    RL_ASSERT(m.find(11, &v) == Status::ok);
    RL_ASSERT(v == 110);
  }
  void after() {
    check_quiescent();
    RL_ASSERT(m.capacity() == 4 && m.slab_count() == 1);
    u64 v = 0;
    RL_ASSERT(m.find(11, &v) == Status::ok && v == 110);
    RL_ASSERT(m.find(10, &v) == Status::not_found);
  }
};

// A writer that died mid-shift, played in before(): the test hook copies
// the memory when the insert of N has copied E one slot right (E in slots 1
// and 2, the same block) and the insert runs on; the copy is then put back
// and the lock word names a dead process. Thread 0 inserts M (taking the
// lock over: repair() tombs E's left copy, recounts, rebuilds the free
// stack) while thread 1 looks E and A up with no lock: both always found
// with their values. Afterwards one recovery, N absent (its insert died
// before its linearization point), verify() clean. Planted bug 41 empties
// E's left copy instead of tombing it: verify() finds RH1 broken (E's
// right copy, distance 1, after an empty slot).
struct DeadShiftModel : RhModelBase<DeadShiftModel> {
  u64 ka = 0, ke = 0, kn = 0, km = 0;
  void before() {
    setup();
    ka = key_with_home(0);
    ke = key_with_home(1);
    kn = key_with_home(0, ka + 1);
    km = key_with_home(3);
    RL_ASSERT(m.insert(ka, 10) == Status::ok);
    RL_ASSERT(m.insert(ke, 20) == Status::ok);
    mb::models::CrashPlay<Memory>::inside(mem, mb::rw_os::HookPoint::rh_shift_half_done,
                                          [&] { RL_ASSERT(m.insert(kn, 30) == Status::ok); });
    mb::sync::word(mem.base(), off + 8 * 8).store_relaxed(mb::rw_os::kModelDeadPid);
  }
  void thread(unsigned t) {
    if (t == 0) {
      RL_ASSERT(m.insert(km, 40) == Status::ok);
      return;
    }
    u64 v = 0;
    RL_ASSERT(m.find(ke, &v) == Status::ok && v == 20);
    RL_ASSERT(m.find(ka, &v) == Status::ok && v == 10);
  }
  void after() {
    RL_ASSERT(m.recoveries() == 1);
    check_quiescent();
    u64 v = 0;
    RL_ASSERT(m.find(ke, &v) == Status::ok && v == 20);
    RL_ASSERT(m.find(km, &v) == Status::ok && v == 40);
    RL_ASSERT(m.find(kn, &v) == Status::not_found);
    RL_ASSERT(m.size() == 3);
  }
};

using mb::models::Model;
using mb::models::run;

const Model kModels[] = {
    {"displace_2t", run<DisplaceModel>, rl::sched_bound, 0},
    {"erase_reuse_2t", run<EraseReuseModel>, rl::sched_bound, 0},
    {"multi_snapshot_2t", run<MultiSnapshotModel>, rl::sched_bound, 0},
    {"multi_assign_2t", run<MultiAssignModel>, rl::sched_bound, 0},
    {"erase_all_2t", run<EraseAllModel>, rl::sched_bound, 0},
    {"resize_2t", run<ResizeModel>, rl::sched_bound, 0},
    {"join_resize_2t", run<JoinResizeModel>, rl::sched_bound, 0},
    // Eleven inserts and nine erases before the threads, and a verify after
    // them, take more than Relacy's default 2000 steps.
    {"shrink_compact_2t", run<ShrinkCompactModel>, rl::sched_bound, 0, 0, 20000},
    {"dead_writer_2t", run<DeadWriterModel>, rl::sched_bound, 0},
    {"replaced_writer_2t", run<ReplacedWriterModel>, rl::sched_bound, 0},
    {"bytes_assign_2t", run<BytesAssignModel>, rl::sched_bound, 0},
    {"bytes_multi_snapshot_2t", run<BytesMultiSnapshotModel>, rl::sched_bound, 0},
    {"dead_shift_2t", run<DeadShiftModel>, rl::sched_random, 200000, 0, 20000},
};

}  // namespace

int main(int argc, char** argv) { return mb::models::model_main(argc, argv, kModels); }
