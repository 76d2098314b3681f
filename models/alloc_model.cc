// Relacy models of the allocator's lock-free parts, run on core/alloc.cc
// itself compiled with the model sync policy (-DMB_SYNC_MODEL=1): every
// atomic word of the allocator's region is an rl::atomic<u64>.
//
// Models (name: what it checks, scheduler):
//   stack_2t       inactive-stack push/pop from 2 threads; a node is never held
//                  by two threads, and payload hand-off is ordered. Full search.
//   slot_bits_2t   two allocs against one free on one superblock: active-slot
//                  take/displace, free-bit claim/release, re-circulation of a
//                  full superblock (A1, A2, A4). Full search.
//   alloc_free_2t  whole alloc/free API, cross-thread free, superblock carving
//                  from a parent class and volumes; verify() and a full trim()
//                  after. Random search (300k schedules): context-bound search
//                  of this model did not finish in minutes.
//   alloc_free_3t  the same with 3 threads sharing 2 concurrency groups,
//                  thread 2 through an AllocCache of depth 4 (batched claims
//                  and releases). Random search.
//   trim_2t        trim() (entirely free superblocks given back, from the
//                  inactive stack and the active slots) against allocations
//                  and frees in two groups. Planted bug 44 reads an active
//                  slot instead of taking it. Random search (200k).
//   grow_join_2t   a file-backed space (a model file word: grow() raises
//                  it, backed() reads it) grows two volumes under one
//                  thread's allocations while another joins through the
//                  backed callback: the join accepts. Planted bugs 51 (a
//                  volume counted before it is backed) and 52 (join()'s
//                  count load relaxed) fail it. Random search (300k; a
//                  search of every schedule with 1 preemption did not end
//                  in 2 minutes).
// Ownership is checked with rl::var per 16-byte unit of region memory: two
// holders of one object, or a reuse not ordered after the free, is a data
// race Relacy reports.
//
// Usage: alloc_model [--expect-failure=NAME] [--only=NAME]
//   --expect-failure: exit 0 only if model NAME fails (planted-bug targets).
#include "core/alloc.h"
#include "core/internal/alloc_ops.h"
#include "core/sync.h"
#include "models/model_main.h"

namespace {

using mb::Allocator;
using mb::Status;
using u64 = std::uint64_t;

// Tiny configuration: 512-byte volumes; class 0 has 48-byte slots, 2 per
// superblock, carved from class 1 (160-byte slots, 2 per volume superblock).
constexpr u64 kHdrOff = 64;
constexpr unsigned kWords = 368;  // 2944 bytes: header + 5 volumes
using Memory = mb::sync::ModelMemory<kWords>;

mb::AllocParams tiny_params(unsigned cgroups) {
  mb::AllocParams p;
  p.vol_sz = 512;
  p.vol_init = 0;
  p.cgroup_cnt = cgroups;
  p.obj_cnt_max = 2;
  p.footprint_cnt = 2;
  p.footprints[0] = 48;
  p.footprints[1] = 160;
  return p;
}

// Ownership marks: one plain variable per 16-byte unit.
struct Owners {
  rl::var<int> unit[kWords / 2];
  void take(u64 off, int who) { unit[off / 16]($) = who; }
  void check(u64 off, int who) { RL_ASSERT(unit[off / 16]($) == who); }
};

// --- stack_2t --------------------------------------------------------------

struct StackModel : rl::test_suite<StackModel, 2> {
  static constexpr u64 kHead = 8, kNode0 = 64, kNodes = 3;
  mb::sync::ModelMemory<24> mem;
  Owners own;

  static u64 link_of(u64 item) { return (item << 4) + 8; }
  void before() {
    for (u64 i = 0; i < kNodes; ++i) {
      u64 item = (kNode0 + 32 * i) >> 4;
      mb::alloc_ops::stack_push(mem.base(), kHead, item, link_of(item));
    }
  }
  u64 pop() {
    u64 item = 0;
    Status s = mb::alloc_ops::stack_pop(mem.base(), kHead, link_of, &item);
    RL_ASSERT(s == Status::ok);
    return item;
  }
  // Thread 0 pops one node, thread 1 two: enough for thread 1 to pop A and
  // B and push A back while thread 0 is between reading A's link and its CAS
  // (the ABA schedule the version tag defeats).
  void thread(unsigned t) {
    u64 x = pop(), y = t == 1 ? pop() : 0;
    if (x) own.take(x << 4, int(t) + 1);
    if (y) own.take(y << 4, int(t) + 1);
    if (x) {
      own.check(x << 4, int(t) + 1);
      mb::alloc_ops::stack_push(mem.base(), kHead, x, link_of(x));
    }
    if (y) {
      own.check(y << 4, int(t) + 1);
      mb::alloc_ops::stack_push(mem.base(), kHead, y, link_of(y));
    }
  }
  void after() {
    // All nodes are back, each exactly once.
    u64 seen = 0, n = 0;
    for (u64 item = pop(); item != 0; item = pop(), ++n) {
      RL_ASSERT(n < kNodes);
      RL_ASSERT(!(seen & (u64{1} << (item & 63))));
      seen |= u64{1} << (item & 63);
    }
    RL_ASSERT(n == kNodes);
  }
};

// --- allocator-level models --------------------------------------------------

template <class Derived, unsigned Threads, unsigned Groups>
struct AllocModelBase : rl::test_suite<Derived, Threads> {
  Memory mem;
  Owners own;
  Allocator a;

  void setup() {
    Status s = Allocator::create(mem.base(), kHdrOff, Memory::size(), tiny_params(Groups),
                                 nullptr, nullptr, &a);
    RL_ASSERT(s == Status::ok);
  }
  // Thread 2 (in the 3-thread model) goes through an AllocCache of depth 4:
  // batched claims (two bits in one fetch_and) and batched releases.
  std::optional<mb::AllocCache> cache;
  u64 alloc(unsigned t, u64 size = 20) {
    u64 off = 0;
    Status s = t == 2 && cache ? cache->alloc(0, size, t, &off) : a.alloc_in(t, 0, size, t, &off);
    RL_ASSERT(s == Status::ok);
    own.take(off, int(t) + 1);
    return off;
  }
  void release(unsigned t, u64 off, int owner) {
    own.check(off, owner);
    own.take(off, int(t) + 1);  // the freeing thread writes it last
    Status s = t == 2 && cache ? cache->free(off) : a.free_in(t, off);
    RL_ASSERT(s == Status::ok);
  }
  void check_quiescent() {
    if (cache) cache->flush();
    mb::AllocStats st;
    std::string why;
    Status s = a.verify(&st, &why);
    if (s != Status::ok) std::printf("verify: %s\n", why.c_str());
    RL_ASSERT(s == Status::ok);
    RL_ASSERT(st.obj_cnt == 0);
    a.trim();
    s = a.verify(&st, &why);
    RL_ASSERT(s == Status::ok);
    RL_ASSERT(st.vol_free == st.vol_cnt);  // every volume came back
  }
};

// --- slot_bits_2t ------------------------------------------------------------
// The active-slot and free-bit protocol on one superblock S of 2 slots, with
// the primitives alloc_slot / free_slot are made of. S starts in the active
// slot with slot 0 free and slot 1 held by thread 1. Thread 0 allocates twice
// (take S, claim a bit, put S back if bits are left); thread 1 frees slot 1
// (set its bit; if S was full, put S back into circulation).
struct SlotBitsModel : rl::test_suite<SlotBitsModel, 2> {
  static constexpr u64 kSlot = 8, kHead = 16, kSb = 64, kBits = kSb + 16;
  mb::sync::ModelMemory<16> mem;
  Owners own;
  int got = 0;

  void* base() { return mem.base(); }
  static u64 link_of(u64 item) { return (item << 4) + 24; }
  static u64 obj(int i) { return kSb + 64 + 16 * u64(i); }  // ownership unit of slot i
  void before() {
    mb::sync::word(base(), kBits).store_relaxed(0b01);
    mb::sync::word(base(), kSlot).store_release(kSb);
    own.take(obj(1), 2);
  }
  void alloc_once() {
    namespace ops = mb::alloc_ops;
    u64 sb = ops::active_take(base(), kSlot);
    if (sb == 0) {
      u64 item = 0;
      RL_ASSERT(ops::stack_pop(base(), kHead, link_of, &item) == Status::ok);
      sb = item << 4;
    }
    if (sb == 0) return;  // nothing in circulation: S is full
    RL_ASSERT(sb == kSb);
    u64 left = 0;
    u64 claimed = ops::bits_claim(base(), kBits, 1, &left);
    RL_ASSERT(claimed == 1 || claimed == 2);  // A2: a circulating superblock has a free bit
    int i = __builtin_ctzll(claimed);
    own.take(obj(i), 1);
    ++got;
    if (left != 0) {
      u64 d = ops::active_displace(base(), kSlot, sb);
      if (d != 0) ops::stack_push(base(), kHead, d >> 4, link_of(d >> 4));
    }
  }
  void thread(unsigned t) {
    namespace ops = mb::alloc_ops;
    if (t == 0) {
      alloc_once();
      alloc_once();
      return;
    }
    own.check(obj(1), 2);
    u64 old = ops::bits_release(base(), kBits, u64{1} << 1);
    RL_ASSERT(!(old & 0b10));
    if (old == 0) {  // S was full, out of circulation: put it back
      u64 d = ops::active_displace(base(), kSlot, kSb);
      if (d != 0) ops::stack_push(base(), kHead, d >> 4, link_of(d >> 4));
    }
  }
  void after() {
    // A1/A2/A4: S is in circulation exactly when it has a free bit.
    u64 bits = mb::sync::word(base(), kBits).load_relaxed();
    u64 in_slot = mb::sync::word(base(), kSlot).load_relaxed() == kSb;
    u64 in_stack = mb::alloc_ops::head_item(mb::sync::word(base(), kHead).load_relaxed()) == (kSb >> 4);
    RL_ASSERT(in_slot + in_stack == (bits != 0 ? 1u : 0u));
    RL_ASSERT(__builtin_popcountll(bits) == 2 - got);
  }
};

// Each thread allocates two objects, hands one to the other thread through a
// mailbox, and frees what it holds and what it received.
template <unsigned Threads>
struct AllocFreeModel : AllocModelBase<AllocFreeModel<Threads>, Threads, 2> {
  using Base = AllocModelBase<AllocFreeModel<Threads>, Threads, 2>;
  rl::atomic<u64> mailbox[Threads];
  void before() {
    this->setup();
    if (Threads > 2) this->cache.emplace(this->a, 4);  // claims up to 2 slots at once
    for (auto& m : mailbox) m($).store(0, rl::mo_relaxed);
  }
  void thread(unsigned t) {
    u64 mine = this->alloc(t, t == 0 ? 20 : 100);  // two classes when t > 0
    u64 gift = this->alloc(t);
    mailbox[(t + 1) % Threads]($).store(gift, rl::mo_release);
    this->release(t, mine, int(t) + 1);
    // No waiting (a spin loop would blow up the search): take the gift if it
    // has arrived; after() frees the ones that had not.
    u64 got = mailbox[t]($).exchange(0, rl::mo_acquire);
    if (got != 0) this->release(t, got, int((t + Threads - 1) % Threads) + 1);
    if (t == 2 && this->cache) this->cache->flush();  // batched release, racing the others
  }
  void after() {
    for (unsigned t = 0; t < Threads; ++t) {
      u64 got = mailbox[t]($).exchange(0, rl::mo_acquire);
      if (got != 0) this->release(t, got, int((t + Threads - 1) % Threads) + 1);
    }
    this->check_quiescent();
  }
};

// trim() against allocations and frees. before(): two class-0 superblocks
// of group 0, entirely free again: S1 in group 0's active slot, S2 on the
// class's inactive stack (three objects allocated, S1 full and S2 carved
// into the slot; the first free puts S1 back, displacing S2 onto the
// stack). Thread 0 trims (both go back to their parent, and the parent's
// volume when that empties too) and then allocates in group 0; thread 1
// allocates two objects in group 1 (its first pops the inactive stack
// trim is emptying, or carves from the volume trim gives back) and frees
// one. No object has two holders (the ownership marks), and
// afterwards verify() is clean and every volume comes back. Planted bug 44
// makes trim's pass over the active slots read a slot instead of taking
// it: the superblock it gives back stays where an allocation takes it.
struct TrimModel : AllocModelBase<TrimModel, 2, 2> {
  u64 held[2] = {0, 0};
  void before() {
    setup();
    u64 x = alloc(0), y = alloc(0), z = alloc(0);
    release(0, x, 1);
    release(0, y, 1);
    release(0, z, 1);
  }
  void thread(unsigned t) {
    if (t == 0) {
      a.trim();
      held[0] = alloc(0);
      return;
    }
    u64 x = alloc(1), y = alloc(1);
    release(1, x, 2);
    held[1] = y;
  }
  void after() {
    release(0, held[0], 1);
    release(1, held[1], 2);
    check_quiescent();
  }
};

// --- grow_join_2t --------------------------------------------------------------
// A file-backed allocator as processes share it: the "file" is a model word
// that only grows (grow(): raised, as by posix_fallocate; backed(): read, as
// by fstat). The allocator starts with no volume. Thread 0 allocates three
// 100-byte objects (class 1, two to a volume: volumes 1 and 2 are backed,
// then counted, volume_grow); thread 1 joins meanwhile through the backed
// callback, as another process would: the join must accept the allocator
// (its own check compares the volume count with the backed size read after
// it). Planted bug 51 counts a volume before backing it, and 52 loads the
// count relaxed in join() (the size read next may then predate the
// growth): the join finds "allocator volume count exceeds the backed
// space".
struct GrowJoinModel : rl::test_suite<GrowJoinModel, 2> {
  Memory mem;
  Allocator a;
  mb::sync::atomic<u64> file;  // backed bytes

  static Status grow(void* ctx, u64 bytes) {
    const auto& f = static_cast<GrowJoinModel*>(ctx)->file;
    if (bytes > Memory::size()) return Status::full;
    // The kernel's file size: raised, never lowered (acq_rel: a model of
    // the syscalls' order, which is at least this).
    for (u64 cur = f.load_acquire(); cur < bytes && !f.cas_acq_rel(cur, bytes);) {
    }
    return Status::ok;
  }
  static u64 backed(void* ctx) { return static_cast<GrowJoinModel*>(ctx)->file.load_acquire(); }

  void before() {
    RL_ASSERT(Allocator::create(mem.base(), kHdrOff, Memory::size(), tiny_params(1), grow, this, &a) ==
              Status::ok);
  }
  void thread(unsigned t) {
    if (t == 0) {
      for (int i = 0; i < 3; ++i) {
        u64 off = 0;
        RL_ASSERT(a.alloc(0, 100, 1, &off) == Status::ok);
      }
      return;
    }
    Allocator j;
    std::string why;
    const Status s = Allocator::join(mem.base(), kHdrOff, Memory::size(), backed, grow, this, &j, &why);
    if (s != Status::ok) std::printf("join: %s\n", why.c_str());
    RL_ASSERT(s == Status::ok);
  }
  void after() {
    mb::AllocStats st;
    std::string why;
    RL_ASSERT(a.verify(&st, &why) == Status::ok);
    RL_ASSERT(st.vol_cnt == 2 && st.obj_cnt == 3);
    RL_ASSERT(a.space_end() <= backed(this));
  }
};

using mb::models::Model;
using mb::models::run;

const Model kModels[] = {
    {"stack_2t", run<StackModel>, rl::sched_full, 0},
    {"slot_bits_2t", run<SlotBitsModel>, rl::sched_full, 0},
    {"alloc_free_2t", run<AllocFreeModel<2>>, rl::sched_random, 300000},
    {"alloc_free_3t", run<AllocFreeModel<3>>, rl::sched_random, 200000},
    {"trim_2t", run<TrimModel>, rl::sched_random, 200000},
    {"grow_join_2t", run<GrowJoinModel>, rl::sched_random, 300000},
};

}  // namespace

int main(int argc, char** argv) { return mb::models::model_main(argc, argv, kModels); }
