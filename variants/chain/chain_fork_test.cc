// Cross-process: forked processes work on one chain map in a file-backed
// region, each joined at its own address. Each owns a key slice (id << 24 |
// n) and runs a seeded op sequence; the parent replays every sequence on a
// std::map to know the exact expected contents, then checks them and
// verify(). All processes also hammer a shared hot range whose values encode
// their keys (checked on every read).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "variants/chain/chain_map.h"
#include "variants/chain/chain_testing.h"
#include "variants/chain/chain_txn.h"
#include "variants/rwlock/internal/park_testing.h"
#include "variants/rwlock/internal/rw_os.h"

namespace mb {
namespace {

constexpr int kProcs = 3;
#if defined(MB_SANITIZER)
constexpr int kOps = 5000;
#else
constexpr int kOps = 50000;
#endif
const RegionSpec kSpec{"mapbench.chain", 1, std::uint64_t{1} << 30, 0};

// The op sequence of process `id`; apply() runs it on the map (returns 0 or
// a failure code), and the same sequence on a std::map gives the expected
// slice.
template <class Apply>
int run_ops(int id, std::uint64_t seed, Apply&& apply) {
  std::mt19937_64 rng(seed + id);
  for (int i = 0; i < kOps; ++i) {
    std::uint64_t r = rng(), n = rng() % 500, k = std::uint64_t(id) << 24 | n, v = rng();
    int code = apply(r % 4, k, v, rng());
    if (code != 0) return code;
  }
  return 0;
}

int child(const std::string& path, int id, std::uint64_t seed) {
  Region r;
  Allocator a;
  ChainMap m;
  if (Region::join_file(path, kSpec.type, kSpec.type_version, &r) != Status::ok) return 10;
  if (Allocator::join(r, &a) != Status::ok) return 11;
  if (ChainMap::join(a, r.root_off().load_acquire(), &m) != Status::ok) return 12;
  return run_ops(id, seed, [&](std::uint64_t op, std::uint64_t k, std::uint64_t v, std::uint64_t hot) -> int {
    std::uint64_t got = 0, hk = 1ull << 40 | hot % 32;
    if (m.insert_or_assign(hk, hk * 3) != Status::ok) return 20;
    if (m.find(hk, &got) == Status::ok && got != hk * 3) return 21;
    switch (op) {
      case 0: return m.insert_or_assign(k, v) == Status::ok ? 0 : 22;
      case 1: { Status s = m.erase(k); return s == Status::ok || s == Status::not_found ? 0 : 23; }
      case 2: { Status s = m.insert(k, v); return s == Status::ok || s == Status::exists ? 0 : 24; }
      default: { Status s = m.find(k, &got); return s == Status::ok || s == Status::not_found ? 0 : 25; }
    }
  });
}

TEST(ChainFork, ProcessesShareOneMapFile) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/chain_fork." + std::to_string(getpid());
  unlink(path.c_str());
  std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  Region r;
  ASSERT_EQ(Region::create_file(path, kSpec, [](Region& reg) {
              Allocator a;
              std::uint64_t off = 0;
              Status s = Allocator::create(reg, AllocParams(), &a);
              if (s == Status::ok) s = ChainMap::create(a, 4096, 9, &off);
              if (s == Status::ok) reg.root_off().store_release(off);
              return s;
            }, &r), Status::ok);
  r.leave();
  std::vector<pid_t> kids;
  for (int id = 0; id < kProcs; ++id) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(child(path, id, seed));
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed (see codes in child())";
  }
  Allocator a;
  ChainMap m;
  ASSERT_EQ(Region::join_file(path, kSpec.type, kSpec.type_version, &r), Status::ok);
  ASSERT_EQ(Allocator::join(r, &a), Status::ok);
  ASSERT_EQ(ChainMap::join(a, r.root_off().load_acquire(), &m), Status::ok);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t expect_cnt = 32;  // the hot range, all present
  for (int id = 0; id < kProcs; ++id) {
    std::map<std::uint64_t, std::uint64_t> ref;
    run_ops(id, seed, [&](std::uint64_t op, std::uint64_t k, std::uint64_t v, std::uint64_t) -> int {
      if (op == 0) ref[k] = v;
      else if (op == 1) ref.erase(k);
      else if (op == 2) ref.emplace(k, v);
      return 0;
    });
    for (std::uint64_t n = 0; n < 500; ++n) {
      std::uint64_t k = std::uint64_t(id) << 24 | n, got = 0;
      auto it = ref.find(k);
      ASSERT_EQ(m.find(k, &got), it == ref.end() ? Status::not_found : Status::ok) << k;
      if (it != ref.end()) {
        ASSERT_EQ(got, it->second) << k;
      }
    }
    expect_cnt += ref.size();
  }
  EXPECT_EQ(m.size(), expect_cnt);
  AllocStats st;
  ASSERT_EQ(a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(Region::destroy_file(path, kSpec.type), Status::ok);
}

// --- killed lock holders (RECOVERY in chain_map.h) ---------------------------

const std::uint64_t kTwo = 2;

struct Joined {
  Region r;
  Allocator a;
  ChainMap m;
};

Status join_map(const std::string& path, Joined* j) {
  Status s = Region::join_file(path, kSpec.type, kSpec.type_version, &j->r);
  if (s == Status::ok) s = Allocator::join(j->r, &j->a);
  if (s == Status::ok) s = ChainMap::join(j->a, j->r.root_off().load_acquire(), &j->m);
  return s;
}

// A map file made for one test, joined by the parent; removed at the end.
struct MapFile {
  MapFile(const char* name, std::uint64_t ele_expected) {
    const char* dir = std::getenv("TEST_TMPDIR");
    path = std::string(dir ? dir : "/tmp") + "/" + name + "." + std::to_string(getpid());
    unlink(path.c_str());
    Region r;
    Status s = Region::create_file(path, kSpec, [ele_expected](Region& reg) {
      Allocator a;
      std::uint64_t off = 0;
      Status st = Allocator::create(reg, AllocParams(), &a);
      if (st == Status::ok) st = ChainMap::create(a, ele_expected, 9, &off);
      if (st == Status::ok) reg.root_off().store_release(off);
      return st;
    }, &r);
    r.leave();
    if (s == Status::ok) s = join_map(path, &j);
    EXPECT_EQ(s, Status::ok);
  }
  ~MapFile() {
    j.r.leave();
    EXPECT_EQ(Region::destroy_file(path, kSpec.type), Status::ok);
  }
  std::string path;
  Joined j;
};

// A child that locks the chains of `keys` (a transaction), runs `work` on
// it (by default: assigns the first key `assign`, in place), tells the
// parent through the pipe, and waits to be killed. Returns the child's pid,
// once it holds the locks.
pid_t hold_and_wait(const std::string& path, std::vector<std::uint64_t> keys, std::uint64_t assign,
                    std::function<bool(ChainTxn&)> work = nullptr) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Joined j;
    if (join_map(path, &j) != Status::ok) _exit(10);
    ChainTxn t(j.m);
    for (std::uint64_t k : keys)
      if (t.add(k, true) != Status::ok) _exit(11);
    if (t.try_lock() != Status::ok) _exit(12);
    if (work ? !work(t) : t.insert_or_assign(keys[0], assign) != Status::ok) _exit(13);
    char c = 1;
    if (write(fds[1], &c, 1) != 1) _exit(14);
    for (;;) pause();
  }
  close(fds[1]);
  char c = 0;
  bool ready = pid > 0 && read(fds[0], &c, 1) == 1;
  close(fds[0]);
  if (pid > 0 && !ready) {
    int st = 0;
    waitpid(pid, &st, 0);
    std::printf("holder child exited early: code %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return -1;
  }
  return pid;
}

void kill_and_reap(pid_t pid) {
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
}

TEST(ChainFork, KilledLockHolderIsRecovered) {
  MapFile f("chain_dead", 1);  // one chain: every key shares it
  const std::string& path = f.path;
  ChainMap& m = f.j.m;
  ASSERT_EQ(m.chain_cnt(), 1u);
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.insert(k, k * 10), Status::ok);  // inline slot and list

  // 1. A reader meets the dead holder's lock: it recovers the chain and
  // reads on; the value the holder wrote in place before dying is kept.
  pid_t pid = hold_and_wait(path, {3}, 333);
  ASSERT_GT(pid, 0);
  kill_and_reap(pid);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("dead"), std::string::npos) << why;
  std::uint64_t v = 0;
  ASSERT_EQ(m.find(0, &v), Status::ok);
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(m.stats().recoveries, 1u);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  ASSERT_EQ(m.find(3, &v), Status::ok);
  EXPECT_EQ(v, 333u);
  for (std::uint64_t k = 0; k < 10; ++k)
    if (k != 3) {
      ASSERT_TRUE(m.find(k, &v) == Status::ok && v == k * 10) << k;
    }

  // 2. A writer meets it: it recovers the chain and does its own write.
  pid = hold_and_wait(path, {9}, 99);
  ASSERT_GT(pid, 0);
  kill_and_reap(pid);
  ASSERT_EQ(m.insert(100, 1000), Status::ok);
  EXPECT_EQ(m.stats().recoveries, 2u);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.size(), 11u);

  // 3. recover_dead() sweeps without waiting.
  pid = hold_and_wait(path, {5}, 55);
  ASSERT_GT(pid, 0);
  kill_and_reap(pid);
  Status worst = Status::invalid;
  EXPECT_EQ(m.recover_dead(&worst), 1u);
  EXPECT_EQ(worst, Status::ok);
  EXPECT_EQ(m.recover_dead(), 0u);  // nothing left
  EXPECT_EQ(m.stats().recoveries, 3u);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  ASSERT_TRUE(m.find(5, &v) == Status::ok && v == 55);
  ASSERT_TRUE(m.find(9, &v) == Status::ok && v == 99);
  ASSERT_TRUE(m.find(100, &v) == Status::ok && v == 1000);
}

// A live holder is never taken over: a waiter on its chain gets `again`
// (non-blocking) and the chain stays its.
TEST(ChainFork, LiveLockHolderIsNotTakenOver) {
  MapFile f("chain_live", 1);
  ChainMap& m = f.j.m;
  ASSERT_EQ(m.insert(1, 10), Status::ok);
  pid_t pid = hold_and_wait(f.path, {1}, 11);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(m.recover_dead(), 0u);
  const std::uint64_t k2 = 2, v2 = 20;
  EXPECT_EQ(m.insert(Bytes{&k2, 8}, Bytes{&v2, 8}, kChainNonBlocking), Status::again);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_EQ(why.find("dead"), std::string::npos) << why;
  // A blocking find and a blocking insert wait past their pauses and look
  // at the holder again and again (every 64 yields) for 200 ms: still its.
  std::atomic<int> done{0};
  std::uint64_t found = 0;
  std::thread reader([&] {
    if (m.find(1, &found) == Status::ok) done.fetch_add(1);
  });
  std::thread writer([&] {
    if (m.insert(k2, v2) == Status::ok) done.fetch_add(1);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(done.load(), 0);
  EXPECT_EQ(m.stats().recoveries, 0u);
  kill_and_reap(pid);  // now they take it over (one of them), and finish
  reader.join();
  writer.join();
  EXPECT_EQ(done.load(), 2);
  EXPECT_EQ(found, 11u);
  EXPECT_EQ(m.stats().recoveries, 1u);
  EXPECT_EQ(m.recover_dead(), 0u);
  std::uint64_t v = 0;
  ASSERT_TRUE(m.find(2, &v) == Status::ok && v == 20);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
}

// A transaction killed after it erased a key from the list's head and
// inserted it again (into the inline slot): the recovery finds the key
// once, with its new value (the head in memory follows every unlink), and
// a chain damaged under a dead holder is unlocked as found and reported.
TEST(ChainFork, KilledTransactionLeavesNoDuplicate) {
  MapFile f("chain_txn_dead", 1);
  ChainMap& m = f.j.m;
  ASSERT_EQ(m.insert(1, 10), Status::ok);  // inline
  ASSERT_EQ(m.insert(2, 20), Status::ok);  // the list's head
  ASSERT_EQ(m.erase(1), Status::ok);       // the slot is free
  pid_t pid = hold_and_wait(f.path, {2}, 0, [](ChainTxn& t) {
    return t.erase(Bytes{&kTwo, 8}) == Status::ok && t.insert_or_assign(kTwo, 22) == Status::ok;
  });
  ASSERT_GT(pid, 0);
  kill_and_reap(pid);
  Status worst = Status::invalid;
  EXPECT_EQ(m.recover_dead(&worst), 1u);
  EXPECT_EQ(worst, Status::ok);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  ASSERT_TRUE(m.find(2, &v) == Status::ok && v == 22);
  EXPECT_EQ(m.size(), 1u);
  ASSERT_EQ(m.erase(2), Status::ok);
  EXPECT_EQ(m.find(2, &v), Status::not_found);  // no older copy comes back

  // Damage under a dead holder: its list's element is not an element.
  ASSERT_EQ(m.insert(3, 30), Status::ok);
  ASSERT_EQ(m.insert(4, 40), Status::ok);  // the list
  pid = hold_and_wait(f.path, {4}, 41);
  ASSERT_GT(pid, 0);
  kill_and_reap(pid);
  std::uint64_t* hdr = f.j.a.at<std::uint64_t>(f.j.r.root_off().load_acquire());
  std::uint64_t& word = *f.j.a.at<std::uint64_t>(hdr[10]);
  const std::uint64_t saved = word;
  word = (word & ~0xffffffffULL) | ((word & 0xffffffffULL) + 1);  // the head ref 16 bytes on
  EXPECT_EQ(m.recover_dead(&worst), 1u);
  EXPECT_EQ(worst, Status::corrupt);
  EXPECT_EQ(word & ChainMap::kWordLockBit, 0u);  // unlocked as found
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_EQ(why.find("locked"), std::string::npos) << why;
  word = (word & ~0xffffffffULL) | (saved & 0xffffffffULL);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  ASSERT_TRUE(m.find(4, &v) == Status::ok && v == 41);
}

// A writer killed between the two copies of the key it writes: the
// recovery keeps one whole value, the new one where both copies were
// linked (a move from the inline slot to the list, a move to the front),
// the old one where the new copy was not linked yet (a copy-on-write in
// the list's middle or at its head).
// Elements of h's one-chain map that nothing holds: live allocator objects
// beyond `base` (the empty map's own) and the chain's list elements (every
// key not in the inline slot). -1000 when the allocator does not verify.
std::int64_t leaked(AnonChain& h, std::uint64_t base) {
  AllocStats st{};
  std::string why;
  if (h.a.verify(&st, &why) != Status::ok) return -1000;
  const std::uint64_t* hdr = h.a.at<std::uint64_t>(h.off);
  const bool inl = h.a.at<std::uint64_t>(hdr[10])[1] != 0;  // chain 0's inline meta word
  return std::int64_t(st.obj_cnt) - std::int64_t(base) - std::int64_t(h.m.size() - (inl ? 1 : 0));
}

// A new handle's first write (key k, value v) claims an owner index: with
// every index held by a live process but dead ones', one of those, which
// it sweeps (settling its journal). The index is then marked held by pid 1,
// so that the next call claims another.
void claim_a_dead_index(AnonChain& h, std::uint64_t k, Bytes v) {
  ChainMap next;
  ASSERT_EQ(ChainMap::join(h.a, h.off, &next), Status::ok);
  ASSERT_EQ(next.insert(Bytes{&k, 8}, v), Status::ok);
  const std::uint64_t* hdr = h.a.at<std::uint64_t>(h.off);
  std::uint64_t* own = h.a.at<std::uint64_t>(hdr[8]);
  for (unsigned i = 1; i <= hdr[9]; ++i)
    if (own[i] == rw_os::self_ident()) own[i] = 1;
}

std::uint64_t live_objects(AnonChain& h) {
  AllocStats st{};
  std::string why;
  EXPECT_EQ(h.a.verify(&st, &why), Status::ok) << why;
  return st.obj_cnt;
}

TEST(ChainFork, KilledBetweenTwoCopiesKeepsOneWholeValue) {
  struct Case {
    const char* what;
    std::uint64_t key;    // written by the child
    std::uint64_t bytes;  // of the child's new value (8: a u64)
    unsigned flags;
    bool new_kept;
  };
  const Case cases[] = {
      {"inline slot to list", 0, 24, 0, true},
      {"inline slot, a new size", 0, 4, 0, true},
      {"move to front", 1, 8, kChainMoveToFront, true},
      {"copy on write, middle", 2, 24, 0, false},
      {"copy on write, head", 3, 16, 0, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    AnonChain h(1, 7);  // one chain
    ASSERT_EQ(h.s, Status::ok) << h.why;
    ChainMap& m = h.m;
    const std::uint64_t base = live_objects(h);
    // Key 0 in the inline slot; the list is 3, 2, 1 (head first). Key 2's
    // value is 3 words, the others' one.
    auto old_value = [](std::uint64_t k) {
      return std::vector<std::uint64_t>(k == 2 ? 3 : 1, k * 10 + 1);
    };
    for (std::uint64_t k = 0; k < 4; ++k) {
      std::vector<std::uint64_t> v = old_value(k);
      ASSERT_EQ(m.insert(Bytes{&k, 8}, Bytes{v.data(), 8 * v.size()}), Status::ok);
    }
    const std::vector<std::uint64_t> fresh((c.bytes + 7) / 8, c.key * 100 + 7);
    // The child parks where its write has made the key's new copy and not
    // yet unlinked the old one, and waits to be killed.
    pid_t pid = rw_os::testing::park_child(rw_os::HookPoint::chain_copy_made, [&] {
      (void)m.insert_or_assign(Bytes{&c.key, 8}, Bytes{fresh.data(), c.bytes}, c.flags);
    });
    ASSERT_GT(pid, 0) << "the write never reached the hook";
    kill_and_reap(pid);
    std::uint64_t got[4] = {}, sz = 0;
    ASSERT_EQ(m.find(Bytes{&c.key, 8}, got, sizeof got, &sz), Status::ok);  // recovers the chain
    EXPECT_EQ(m.stats().recoveries, 1u);
    const std::vector<std::uint64_t> want = c.new_kept ? fresh : old_value(c.key);
    const std::uint64_t want_sz = c.new_kept ? c.bytes : 8 * want.size();
    ASSERT_EQ(sz, want_sz);
    EXPECT_EQ(std::memcmp(got, want.data(), want_sz), 0);
    // The copy the recovery dropped, or the new one never linked, is freed
    // (the journal names it, or repair() unlinked it).
    EXPECT_EQ(leaked(h, base), 0);
    std::string why;
    ASSERT_EQ(m.verify(&why), Status::ok) << why;
    EXPECT_EQ(m.size(), 4u);
    for (std::uint64_t k = 0; k < 4; ++k) {
      if (k == c.key) continue;
      std::vector<std::uint64_t> v = old_value(k);
      ASSERT_EQ(m.find(Bytes{&k, 8}, got, sizeof got, &sz), Status::ok) << k;
      EXPECT_EQ(std::vector<std::uint64_t>(got, got + sz / 8), v) << k;
    }
  }
}

// A process that needs an owner index and finds only a dead process's
// claims it marked as sweeping and recovers that process's chains first.
// Killed while it holds one of them, it leaves the chain stamped with an
// index whose owner word names it (dead, still marked): a waiter on the
// chain takes it over, or the next process that claims the index sweeps
// again; either way nothing stays locked and every key is kept.
TEST(ChainFork, KilledSweeperIsSweptAgain) {
  for (bool waiter : {true, false}) {
    SCOPED_TRACE(waiter ? "a waiter recovers the chain" : "the next claim recovers the chain");
    AnonChain h(1, 7);  // one chain
    ASSERT_EQ(h.s, Status::ok) << h.why;
    ChainMap& m = h.m;
    for (std::uint64_t k = 0; k < 5; ++k) ASSERT_EQ(m.insert(k, k * 10), Status::ok);  // claims our index
    std::uint64_t* hdr = h.a.at<std::uint64_t>(h.off);
    std::uint64_t* own = h.a.at<std::uint64_t>(hdr[8]);
    std::uint64_t& word = *h.a.at<std::uint64_t>(hdr[10]);
    // Every index held by a live process (pid 1) but 7, whose process (a
    // reaped child) died holding the chain.
    for (unsigned i = 1; i <= hdr[9]; ++i) own[i] = 1;
    const pid_t dead = dead_pid();
    ASSERT_GT(dead, 0);
    own[7] = std::uint64_t(dead);
    stamp_dead_lock(word, 7);
    const std::uint64_t before = word;
    // A new handle's first lock (in a child) must claim index 7; the child
    // is killed while its sweep holds the chain.
    pid_t sweeper = rw_os::testing::park_child(rw_os::HookPoint::chain_sweeping, [&] {
      ChainMap fresh;
      if (ChainMap::join(h.a, h.off, &fresh) == Status::ok) (void)fresh.insert(100, 1000);
    });
    ASSERT_GT(sweeper, 0) << "the claim never swept";
    // Parked: the claim is marked, the chain is the sweeper's (a newer
    // version, index 7's stamp kept).
    EXPECT_EQ(std::uint32_t(own[7]) & 0x7fffffffu, std::uint32_t(sweeper));
    EXPECT_NE(std::uint32_t(own[7]) >> 31, 0u) << "the claim is marked as sweeping";
    EXPECT_TRUE(word & ChainMap::kWordLockBit);
    EXPECT_EQ((word >> 45) & 0xff, 7u);
    EXPECT_NE(word, before) << "the sweeper took the chain";
    EXPECT_EQ(m.stats().recoveries, 1u);  // counted when it took the chain
    // While it lives, nobody takes the chain from it: recover_dead() passes
    // it by, and a blocking find looks at the holder again and again.
    EXPECT_EQ(m.recover_dead(), 0u);
    std::atomic<bool> found{false};
    std::thread reader;
    if (waiter) {
      reader = std::thread([&] {
        std::uint64_t v = 1;
        found = m.find(0, &v) == Status::ok && v == 0;
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      EXPECT_FALSE(found.load());
    }
    EXPECT_EQ(m.stats().recoveries, 1u);
    kill_and_reap(sweeper);
    std::string why;
    if (waiter) {
      reader.join();  // it finds the holder dead, takes the chain over, reads
      EXPECT_TRUE(found.load());
      ASSERT_EQ(m.verify(&why), Status::ok) << why;
    } else {
      EXPECT_EQ(m.verify(&why), Status::corrupt);
      EXPECT_NE(why.find("sweeping, dead"), std::string::npos) << why;
    }
    std::uint64_t v = 0;
    // A new handle (it asks the table) claims index 7 again.
    ChainMap again;
    ASSERT_EQ(ChainMap::join(h.a, h.off, &again), Status::ok);
    ASSERT_EQ(again.insert(200, 2000), Status::ok);
    EXPECT_EQ(own[7], rw_os::self_ident()) << "claimed, the mark gone";
    EXPECT_EQ(m.stats().recoveries, 2u);  // the killed sweep's, and ours
    ASSERT_EQ(m.verify(&why), Status::ok) << why;
    for (std::uint64_t k = 0; k < 5; ++k) ASSERT_TRUE(m.find(k, &v) == Status::ok && v == k * 10) << k;
    ASSERT_TRUE(m.find(200, &v) == Status::ok && v == 2000);
    EXPECT_EQ(m.find(100, &v), Status::not_found);  // the killed child's insert never got its lock
    EXPECT_EQ(m.size(), 6u);
  }
}

// A writer killed with an element allocated and not yet linked (an insert
// into the list), or after its unlock with the element its erase unlinked
// not yet freed: the first is freed by the chain's recoverer, the second by
// the process that claims the dead writer's owner index (its journal). No
// element leaks; without the journal both would.
TEST(ChainFork, KilledWriterLeaksNoElement) {
  AnonChain h(1, 7);  // one chain
  ASSERT_EQ(h.s, Status::ok) << h.why;
  ChainMap& m = h.m;
  const std::uint64_t base = live_objects(h);
  const std::vector<std::uint64_t> big = {1, 2, 3};  // 24 bytes: never inline
  for (std::uint64_t k = 0; k < 6; ++k) ASSERT_EQ(m.insert(Bytes{&k, 8}, Bytes{big.data(), 24}), Status::ok);
  ASSERT_EQ(leaked(h, base), 0);
  // 1. The insert's element made, journaled, not linked; the chain locked.
  pid_t pid = rw_os::testing::park_child(rw_os::HookPoint::chain_element_made, [&] {
    const std::uint64_t k = 100;
    (void)m.insert(Bytes{&k, 8}, Bytes{big.data(), 24});
  });
  ASSERT_GT(pid, 0) << "the insert never reached the hook";
  kill_and_reap(pid);
  EXPECT_EQ(leaked(h, base), 1);
  EXPECT_EQ(m.recover_dead(), 1u);  // recovers the chain, frees the element
  EXPECT_EQ(m.stats().recoveries, 1u);
  EXPECT_EQ(leaked(h, base), 0);
  std::uint64_t vb[3] = {}, sz = 0;
  const std::uint64_t absent = 100;
  EXPECT_EQ(m.find(Bytes{&absent, 8}, vb, sizeof vb, &sz), Status::not_found);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  // 2. An erase unlinked its element and unlocked, and died before the
  // free: the chain is whole, the element waits in the dead index's
  // journal.
  pid = rw_os::testing::park_child(rw_os::HookPoint::chain_unlocked_unfreed, [&] {
    const std::uint64_t k = 3;
    (void)m.erase(Bytes{&k, 8});
  });
  ASSERT_GT(pid, 0) << "the erase never reached the hook";
  kill_and_reap(pid);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.size(), 5u);
  EXPECT_EQ(leaked(h, base), 1);
  // Every owner index held by a live process (pid 1) but the dead
  // children's: a new handle claims one of theirs, sweeps it, and frees
  // what its journal names.
  std::uint64_t* hdr = h.a.at<std::uint64_t>(h.off);
  std::uint64_t* own = h.a.at<std::uint64_t>(hdr[8]);
  for (unsigned i = 1; i <= hdr[9]; ++i)
    if (own[i] == 0 || rw_os::alive_ident(own[i])) own[i] = 1;
  for (std::uint64_t k : {200, 201})  // the two children's indices, one claim each
    ASSERT_NO_FATAL_FAILURE(claim_a_dead_index(h, k, Bytes{big.data(), 24}));
  EXPECT_EQ(leaked(h, base), 0);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.size(), 7u);
}

// A transaction asks for its owner index once, before its first lock. A
// handle that found the owner table full (index 0) asks again after
// the retry interval; asked inside try_lock, while it held chain 0 and had
// waited past that on chain 1, the claim of a dead process's index swept
// it there, and the sweep waited (seconds) on chain 0, held by its own
// thread, then left the dead index's journal entry in an index now ours:
// its element leaked. Now the index stays the dead process's through the
// transaction, and the handle's next write claims and sweeps it.
TEST(ChainFork, TransactionAsksForItsOwnerIndexOnce) {
  AnonChain h(4, 7);  // four chains
  ASSERT_EQ(h.s, Status::ok) << h.why;
  ChainMap& m = h.m;
  const std::uint64_t base = live_objects(h);
  std::uint64_t key[3] = {};  // one key on each of chains 0, 1, 2
  for (std::uint64_t k = 1, found = 0; found != 7; ++k) {
    const std::uint64_t c = m.hash(Bytes{&k, 8}) & 3;
    if (c < 3 && (found & 1u << c) == 0) key[c] = k, found |= 1u << c;
  }
  std::uint64_t extra = 1000;  // another key on chain 0
  while ((m.hash(Bytes{&extra, 8}) & 3) != 0) ++extra;
  const std::vector<std::uint64_t> big = {1, 2, 3};  // 24 bytes: never inline
  for (std::uint64_t k : {key[0], key[1], key[2], extra}) ASSERT_EQ(m.insert(Bytes{&k, 8}, Bytes{big.data(), 24}), Status::ok);
  // A child's erase of `extra` dies after its unlock, before its free: the
  // element waits in its index's journal (kJOld).
  const pid_t pid = rw_os::testing::park_child(rw_os::HookPoint::chain_unlocked_unfreed, [&] {
    (void)m.erase(Bytes{&extra, 8});
  });
  ASSERT_GT(pid, 0) << "the erase never reached the hook";
  kill_and_reap(pid);
  EXPECT_EQ(leaked(h, base), 1);
  std::uint64_t* hdr = h.a.at<std::uint64_t>(h.off);
  std::uint64_t* own = h.a.at<std::uint64_t>(hdr[8]);
  unsigned dead = 0;
  for (unsigned i = 1; i <= hdr[9]; ++i)
    if (std::uint32_t(own[i]) == std::uint32_t(pid)) dead = i;
  ASSERT_NE(dead, 0u);
  const std::uint64_t dead_word = own[dead];
  // A new handle finds every index held by a live process (pid 1): it
  // writes as index 0 and asks again only after the retry interval, here
  // 50 ms (a blocked lock gives up after 2^22 yields, 0.6 s or more).
  const std::uint64_t saved_retry = g_chain_owner_retry_ms;
  g_chain_owner_retry_ms = 50;
  for (unsigned i = 1; i <= hdr[9]; ++i) own[i] = 1;
  ChainMap fresh;
  ASSERT_EQ(ChainMap::join(h.a, h.off, &fresh), Status::ok);
  ASSERT_EQ(fresh.insert_or_assign(key[2], 5), Status::ok);
  own[dead] = dead_word;
  // Chain 1 held by a live process with no index (owner 0) for longer than
  // the retry interval, so that the transaction's wait outlasts it.
  std::uint64_t& word1 = *h.a.at<std::uint64_t>(hdr[10] + 32 * 1);
  const std::uint64_t unlocked = word1;
  word1 = unlocked | ChainMap::kWordLockBit;
  std::thread holder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(g_chain_owner_retry_ms + 100));
    sync::word(&word1, 0).store_release(unlocked);
  });
  ChainTxn t(fresh);
  for (std::uint64_t k : key) ASSERT_EQ(t.add(k, true), Status::ok);
  EXPECT_EQ(t.try_lock(), Status::ok);
  holder.join();
  g_chain_owner_retry_ms = saved_retry;
  EXPECT_EQ(own[dead], dead_word) << "the transaction claimed (and swept) an index while it held chains";
  EXPECT_EQ(t.test(), Status::ok);
  // The handle's next write asks again: it claims the dead index and
  // sweeps it, freeing the erased element.
  const std::uint64_t k = 2000;
  ASSERT_EQ(fresh.insert(Bytes{&k, 8}, Bytes{big.data(), 24}), Status::ok);
  EXPECT_EQ(own[dead], rw_os::self_ident());
  EXPECT_EQ(leaked(h, base), 0);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// A taker killed after it won the chain (take_over's step 3) and before
// its repair settled the dead writer's journal leaves that journal's entry
// behind, marked kJTaken: the chain is recovered through the taker's index
// instead, and the process that later claims the writer's index must
// forget the entry, not free its element. Here the entry names the key's
// new copy, which the recovery keeps and a live writer then erases: a
// sweep that freed it would free it under that writer, which frees it too.
TEST(ChainFork, KilledTakerLeavesNothingToFreeTwice) {
  AnonChain h(1, 7);  // one chain
  ASSERT_EQ(h.s, Status::ok) << h.why;
  ChainMap& m = h.m;
  const std::uint64_t base = live_objects(h);
  for (std::uint64_t k = 0; k < 4; ++k) ASSERT_EQ(m.insert(k, k * 10 + 1), Status::ok);  // 0 inline; 3, 2, 1
  std::uint64_t* hdr = h.a.at<std::uint64_t>(h.off);
  std::uint64_t* own = h.a.at<std::uint64_t>(hdr[8]);
  const unsigned owners = unsigned(hdr[9]);
  auto index_of = [&](pid_t pid) {
    for (unsigned i = 1; i <= owners; ++i)
      if (std::uint32_t(own[i]) == std::uint32_t(pid)) return i;
    return 0u;
  };
  // Index i's kJNew journal word (chain_map.h, owner table), and the
  // kJTaken mark (bit 0).
  auto jnew = [&](unsigned i) -> std::uint64_t& { return own[owners + 1 + 2 * (i - 1)]; };
  constexpr std::uint64_t kTaken = 1;
  // 1. A writer moves key 0 from the inline slot to the list: the new copy
  // linked and journaled (kJNew), the inline one not yet emptied; killed.
  const std::vector<std::uint64_t> fresh = {7, 7, 7};
  const std::uint64_t key0 = 0;
  pid_t writer = rw_os::testing::park_child(rw_os::HookPoint::chain_copy_made, [&] {
    (void)m.insert_or_assign(Bytes{&key0, 8}, Bytes{fresh.data(), 24});
  });
  ASSERT_GT(writer, 0) << "the write never reached the hook";
  const unsigned o = index_of(writer);
  ASSERT_NE(o, 0u);
  const std::uint64_t n = jnew(o);
  ASSERT_NE(n, 0u);
  kill_and_reap(writer);
  // 2. A reader takes the chain over and is killed before its repair.
  pid_t taker = rw_os::testing::park_child(rw_os::HookPoint::chain_taken_over, [&] {
    std::uint64_t got[3] = {}, sz = 0;
    (void)m.find(Bytes{&key0, 8}, got, sizeof got, &sz);
  });
  ASSERT_GT(taker, 0) << "the reader never took the chain over";
  const unsigned r = index_of(taker);
  ASSERT_NE(r, 0u);
  EXPECT_EQ(jnew(o), n | kTaken) << "the taker marks the dead writer's entry";
  kill_and_reap(taker);
  // 3. Recovered through the taker's index: the list's copy (the new
  // value) kept, the entry left in the writer's journal.
  std::uint64_t got[3] = {}, sz = 0;
  ASSERT_EQ(m.find(Bytes{&key0, 8}, got, sizeof got, &sz), Status::ok);
  ASSERT_EQ(sz, 24u);
  EXPECT_EQ(std::vector<std::uint64_t>(got, got + 3), fresh);
  EXPECT_EQ(m.stats().recoveries, 2u);
  EXPECT_EQ(jnew(o), n | kTaken);
  EXPECT_EQ(leaked(h, base), 0);
  // 4. A live writer erases key 0 (the element n) and is parked after its
  // unlock, before its free.
  pid_t eraser = rw_os::testing::park_child(rw_os::HookPoint::chain_unlocked_unfreed, [&] {
    (void)m.erase(Bytes{&key0, 8});
  });
  ASSERT_GT(eraser, 0) << "the erase never reached the hook";
  const unsigned e = index_of(eraser);
  ASSERT_NE(e, 0u);
  const std::uint64_t eraser_word = own[e];
  EXPECT_EQ(leaked(h, base), 1);  // n: unlinked, the eraser's to free
  // 5. Every index held by a live process (pid 1) but the dead writer's
  // and the dead taker's: two new handles claim them and sweep. Neither
  // may free n.
  for (unsigned i = 1; i <= owners; ++i)
    if (i != o && i != r) own[i] = 1;
  for (std::uint64_t k : {100, 101}) ASSERT_NO_FATAL_FAILURE(claim_a_dead_index(h, k, Bytes{&k, 8}));
  EXPECT_EQ(jnew(o), 0u) << "forgotten";
  EXPECT_EQ(leaked(h, base), 1) << "a claim freed the element a live writer is about to free";
  // 6. The eraser dies before its free: its own index's journal names n
  // (unmarked), and the claim of that index frees it, once.
  kill_and_reap(eraser);
  own[e] = eraser_word;
  const std::uint64_t last = 102;
  ASSERT_NO_FATAL_FAILURE(claim_a_dead_index(h, last, Bytes{&last, 8}));
  EXPECT_EQ(leaked(h, base), 0);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.size(), 6u);  // 1, 2, 3 and the three claims' keys
  std::uint64_t v = 0;
  EXPECT_EQ(m.find(key0, &v), Status::not_found);
  for (std::uint64_t k = 1; k < 4; ++k) ASSERT_TRUE(m.find(k, &v) == Status::ok && v == k * 10 + 1) << k;
}

// Writers SIGKILLed at random moments: after recover_dead() the map
// verifies, every key they did not write is intact, and each key they
// wrote holds one whole value written to it (or is absent).
TEST(ChainFork, KilledWritersLoseNoOtherKey) {
  MapFile f("chain_kill", 64);
  const std::string& path = f.path;
  ChainMap& m = f.j.m;
  constexpr std::uint64_t kStable = 300, kHot = 200;
  auto stable = [](std::uint64_t i) { return std::uint64_t{1} << 40 | i; };
  for (std::uint64_t i = 0; i < kStable; ++i) ASSERT_EQ(m.insert(stable(i), stable(i) * 3), Status::ok);
  std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  constexpr int kRounds = 30;
  std::uint64_t swept = 0;
  for (int round = 0; round < kRounds; ++round) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      Joined c;
      if (join_map(path, &c) != Status::ok) _exit(10);
      std::mt19937_64 r(seed + round);
      for (std::uint64_t gen = 1;; ++gen) {
        // A u64 value, or three words that must stay whole (every way a
        // value changes: in place, slot to list, copy on write, to front).
        std::uint64_t k = r() % kHot, v = k << 32 | (gen & 0xffffffff), big[3] = {v, gen & 0xffffffff, k ^ gen};
        std::uint32_t small = std::uint32_t(k << 16 | (gen & 0xffff));  // an inline value of another size
        const std::uint64_t pick = r() % 3;
        const Bytes key{&k, 8}, val = pick == 0 ? Bytes{&v, 8} : pick == 1 ? Bytes{big, 24} : Bytes{&small, 4};
        switch (r() % 4) {
          case 0: (void)c.m.insert_or_assign(key, val); break;
          case 1: (void)c.m.erase(k); break;
          case 2: (void)c.m.insert_or_assign(key, val, kChainMoveToFront); break;
          default: (void)c.m.insert(key, val); break;
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 3000));
    kill_and_reap(pid);
    Status worst = Status::invalid;
    swept += m.recover_dead(&worst);
    ASSERT_EQ(worst, Status::ok) << "round " << round;
    ASSERT_EQ(swept, m.stats().recoveries) << "recover_dead() counts every recovery it makes";
    std::string why;
    ASSERT_EQ(m.verify(&why), Status::ok) << "round " << round << ": " << why;
    for (std::uint64_t i = 0; i < kStable; ++i) {
      std::uint64_t v = 0;
      ASSERT_EQ(m.find(stable(i), &v), Status::ok) << "round " << round;
      ASSERT_EQ(v, stable(i) * 3);
    }
    for (std::uint64_t k = 0; k < kHot; ++k) {
      std::uint64_t v[3] = {}, sz = 0;
      Status s = m.find(Bytes{&k, 8}, v, sizeof v, &sz);
      ASSERT_TRUE(s == Status::ok || s == Status::not_found) << k;
      if (s != Status::ok) continue;
      ASSERT_TRUE(sz == 4 || sz == 8 || sz == 24) << sz;
      if (sz == 4) {
        ASSERT_EQ((v[0] & 0xffffffff) >> 16, k) << "a value of another key, or torn";
        continue;
      }
      ASSERT_EQ(v[0] >> 32, k) << "a value of another key";
      if (sz == 24) {
        ASSERT_EQ(v[1], v[0] & 0xffffffff) << "a torn value";
        ASSERT_EQ(v[2], k ^ v[1]) << "a torn value";
      }
    }
  }
  // A child spends most of its time inside write sections: with 30 kills,
  // some must have landed in one.
  std::printf("recoveries: %llu of %d kills\n", static_cast<unsigned long long>(m.stats().recoveries), kRounds);
  EXPECT_GT(m.stats().recoveries, 0u);
}

}  // namespace
}  // namespace mb
