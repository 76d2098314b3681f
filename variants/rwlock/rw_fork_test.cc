// Cross-process tests of RwMap: forked processes share one map (anonymous
// shared memory or a file), each joined at its own address where it matters.
//   CountersSumExactly       N processes incr shared counters; sums exact.
//   ExactlyOneWinner         processes, started together (a barrier in
//                            shared memory), race add / cas on 256 keys a
//                            round: one winner per key.
//   CreateOrOpenRacesToOneMap  processes, started together, create-or-open
//                            one new file: all get one map.
//   KilledWriterIsRecovered  a child parked inside a write (test hook) is
//                            SIGKILLed; a reader and a writer get through
//                            within 2 s, the odd seq is repaired, verify ok.
//   KilledReaderIsRecovered  same for a child holding the read lock.
//   ReusedPidIsToldFromTheDeadHolder  the lock word and the stamp name a
//                            writer that died inside a write and whose pid
//                            a later process has (this one: without the
//                            stamp it waited for itself forever): a reader
//                            and a writer get through within 2 s. A live
//                            child named with its own start key is waited
//                            for, until the stamp's key says another
//                            process; a reader slot naming a live child
//                            with another start key is reclaimed; a child
//                            holding the lock stamps its own key and is
//                            waited for until killed.
//   RecovererLeavesALiveProcesssStampAlone  the lock word names a dead
//                            pid and the stamp a live child (S4): a writer
//                            waits while the child lives, then recovers.
//   AProcessWhoseMainThreadExitedIsAlive  a child whose main thread exited
//                            alone (a zombie leader in /proc) while
//                            another thread runs is alive; dead once that
//                            thread ends the process, before it is reaped.
//   RecoveryReportsADamagedMap  the killed writer had damaged the map:
//                            last_recovery() and verify() say corrupt.
//   KilledRehashMoveIsRepaired  a child killed inside an in-place rehash,
//                            between a move's copy and its source's
//                            tombstone (the key in two slots): the next
//                            writer's repair ends the move, verify ok,
//                            every key once with its value.
//   KilledValueChangeIsRepaired  a child killed inside a change of an
//                            arena value to another size, between the new
//                            value word and the meta word: the repair gives
//                            the key its old value back, verify ok.
//   KillDuringPuts           SIGKILL at a random point of the first half
//                            of a child's 100k puts (after a random number
//                            of them, so every kill lands mid-run); after each, the map
//                            verifies and holds a prefix of the child's keys
//                            with exact values, at least as long as the
//                            child's count of completed puts.
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "variants/rwlock/rw_map.h"
#include "variants/rwlock/internal/park_testing.h"
#include "variants/rwlock/internal/rw_test_util.h"
#include "variants/rwlock/rw_store.h"

namespace mb {
namespace {

using rw_test::temp_path;

#if defined(MB_SANITIZER)
constexpr int kScale = 5;
#else
constexpr int kScale = 1;
#endif

RwParams params() {
  RwParams p;
  p.cap_init = 8;
  p.cap_max = std::uint64_t{1} << 20;
  p.arena_max = std::uint64_t{1} << 26;
  return p;
}

// Fork n children running fn(id) (its return value is the exit code) and
// return their exit codes.
template <class Fn>
std::vector<int> run_children(int n, Fn&& fn) {
  std::vector<pid_t> kids;
  for (int id = 0; id < n; ++id) {
    pid_t pid = fork();
    if (pid == 0) _exit(fn(id));
    kids.push_back(pid);
  }
  std::vector<int> codes;
  for (pid_t pid : kids) {
    int status = 0;
    waitpid(pid, &status, 0);
    codes.push_back(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  return codes;
}

TEST(RwFork, CountersSumExactly) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
  RwMap& m = st->map();
  constexpr int kProcs = 4, kCounters = 16;
  const int iters = 20000 / kScale;
  auto codes = run_children(kProcs, [&](int id) {
    std::mt19937_64 rng(id);
    for (int i = 0; i < iters; ++i) {
      std::uint64_t r = 0, k = rng() % kCounters;
      if (m.incr(k, &r) != Status::ok) return 1;
      // Private keys churn the table (grows, tombstones) meanwhile.
      std::uint64_t own = std::uint64_t(id + 1) << 32 | (i / 3 % 512);
      if (i % 3 == 0 && m.put(own, i) != Status::ok) return 2;
      if (i % 3 == 2 && m.remove(own) != Status::ok) return 3;
      std::uint64_t v = 0;
      if (m.get(k, &v) != Status::ok || v == 0) return 4;
    }
    return 0;
  });
  for (int c : codes) EXPECT_EQ(c, 0);
  std::uint64_t sum = 0;
  for (std::uint64_t k = 0; k < kCounters; ++k) {
    std::uint64_t v = 0;
    ASSERT_EQ(m.get(k, &v), Status::ok);
    sum += v;
  }
  EXPECT_EQ(sum, std::uint64_t(kProcs) * iters);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// A barrier for n forked children in shared memory (`ready` starts at 0):
// each returns once all have arrived.
void start_together(std::atomic<int>& ready, int n) {
  ready.fetch_add(1);
  while (ready.load() < n) {
  }
}

// Start together: each child joins the file, then waits at a barrier in
// shared memory until all have joined, and races add and cas on kKeys keys
// (a fresh pair per round), recording what it won there.
TEST(RwFork, ExactlyOneWinner) {
  std::string path = temp_path("rw_race");
  unlink(path.c_str());
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_file(path, params(), &st), Status::ok);
  RwMap& m = st->map();
  constexpr int kProcs = 4;
  constexpr std::uint64_t kKeys = 256, kCasBase = 1u << 20;
  struct Shared {
    std::atomic<int> ready;
    std::atomic<int> add_wins[kKeys], cas_wins[kKeys];
  };
  void* mem = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto* sh = new (mem) Shared();
  for (std::uint64_t round = 0; round < 5; ++round) {
    sh->ready.store(0);
    for (std::uint64_t k = 0; k < kKeys; ++k) {
      sh->add_wins[k].store(0);
      sh->cas_wins[k].store(0);
      ASSERT_EQ(m.put(kCasBase + round * kKeys + k, 0), Status::ok);
    }
    auto codes = run_children(kProcs, [&](int id) {
      RwStore::Ptr mine;  // its own mapping of the file
      if (RwStore::join_file(path, &mine) != Status::ok) return 100;
      start_together(sh->ready, kProcs);
      for (std::uint64_t k = 0; k < kKeys; ++k) {
        const std::uint64_t key = round * kKeys + k;
        Status a = mine->map().add(key, std::uint64_t(id));
        Status c = mine->map().cas(kCasBase + key, 0, std::uint64_t(id) + 1);
        if ((a != Status::ok && a != Status::exists) || (c != Status::ok && c != Status::exists)) return 101;
        if (a == Status::ok) sh->add_wins[k].fetch_add(1);
        if (c == Status::ok) sh->cas_wins[k].fetch_add(1);
      }
      return 0;
    });
    for (int id = 0; id < kProcs; ++id) ASSERT_EQ(codes[id], 0) << "child " << id;
    for (std::uint64_t k = 0; k < kKeys; ++k) {
      const std::uint64_t key = round * kKeys + k;
      ASSERT_EQ(sh->add_wins[k].load(), 1) << key;
      ASSERT_EQ(sh->cas_wins[k].load(), 1) << key;
      std::uint64_t v = 0, w = 0;
      ASSERT_EQ(m.get(key, &v), Status::ok);
      EXPECT_LT(v, std::uint64_t(kProcs));
      ASSERT_EQ(m.get(kCasBase + key, &w), Status::ok);
      EXPECT_TRUE(w >= 1 && w <= std::uint64_t(kProcs)) << w;
    }
  }
  munmap(mem, sizeof(Shared));
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  st.reset();
  unlink(path.c_str());
}

// Processes that start together and all create-or-open one new file
// (O_CREAT|O_EXCL for the first, a join for the others, which wait for
// the creator's flock) all get the same map: each puts its id, and the
// parent finds every one.
TEST(RwFork, CreateOrOpenRacesToOneMap) {
  constexpr int kProcs = 4;
  for (int round = 0; round < 5; ++round) {
    std::string path = temp_path("rw_open_race");
    unlink(path.c_str());
    void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    auto* ready = new (mem) std::atomic<int>(0);
    auto codes = run_children(kProcs, [&](int id) {
      start_together(*ready, kProcs);
      RwStore::Ptr mine;
      std::string why;
      if (RwStore::open_file(path, params(), &mine, &why) != Status::ok) {
        std::fprintf(stderr, "child %d: %s\n", id, why.c_str());
        return 100;
      }
      return mine->map().put(std::uint64_t(id), std::uint64_t(id) * 7) == Status::ok ? 0 : 101;
    });
    for (int id = 0; id < kProcs; ++id) EXPECT_EQ(codes[id], 0) << "child " << id;
    RwStore::Ptr st;
    ASSERT_EQ(RwStore::join_file(path, &st), Status::ok);
    EXPECT_EQ(st->map().size(), std::uint64_t(kProcs));
    for (int id = 0; id < kProcs; ++id) {
      std::uint64_t v = 0;
      EXPECT_TRUE(st->map().get(std::uint64_t(id), &v) == Status::ok && v == std::uint64_t(id) * 7) << id;
    }
    std::string why;
    EXPECT_EQ(st->map().verify(&why), Status::ok) << why;
    st.reset();
    munmap(mem, 4096);
    unlink(path.c_str());
  }
}

using rw_os::testing::park_child;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Past a writer that died inside a write (seq odd, lock held): in round 0 a
// lock-free reader gets key 5, in round 1 a writer puts 55 there. Returns
// the seconds it took.
double get_through(RwMap& m, int round) {
  auto t0 = std::chrono::steady_clock::now();
  std::uint64_t v = 0;
  if (round == 0) {
    EXPECT_EQ(m.get(5, &v), Status::ok);
    EXPECT_EQ(v, 5u);
  } else {
    EXPECT_EQ(m.put(5, 55), Status::ok);
  }
  return seconds_since(t0);
}

TEST(RwFork, KilledWriterIsRecovered) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
  RwMap& m = st->map();
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  // Round 0: a lock-free reader meets the odd seq; round 1: a writer.
  for (int round = 0; round < 2; ++round) {
    pid_t pid = park_child(rw_os::HookPoint::write_locked, [&] { m.put(7, 777); });
    ASSERT_GT(pid, 0);
    EXPECT_NE(m.lock().word() & kRwPidMask, 0u);
    ASSERT_EQ(kill(pid, SIGKILL), 0);  // not reaped yet: a zombie must count as dead
    double took = get_through(m, round);
    std::printf("round %d: recovered in %.3f s\n", round, took);
    EXPECT_LT(took, 2.0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFSIGNALED(status));
  }
  RwMap::Stats s = m.stats();
  EXPECT_EQ(s.write_recoveries, 2u);
  EXPECT_EQ(s.seq_repairs, 2u);
  std::string why;
  EXPECT_EQ(m.last_recovery(&why), Status::ok) << why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  ASSERT_EQ(m.get(7, &v), Status::ok);
  EXPECT_EQ(v, 7u);  // the killed writes never happened
  ASSERT_EQ(m.get(5, &v), Status::ok);
  EXPECT_EQ(v, 55u);
}

// A writer that dies after damaging the map (here: a stored hash, flipped
// before it parks inside its write) leaves a map the recovery's verify()
// finds damaged: last_recovery() says so, and the map keeps working.
TEST(RwFork, RecoveryReportsADamagedMap) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
  RwMap& m = st->map();
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  auto* hdr = st->region().at<std::uint64_t>(st->region().user_off());
  const std::uint64_t table = hdr[24] & ~std::uint64_t{63}, cap = std::uint64_t{1} << (hdr[24] & 63);
  std::uint64_t* victim = nullptr;
  for (std::uint64_t i = 0; i < cap && victim == nullptr; ++i) {
    std::uint64_t* slot = st->region().at<std::uint64_t>(table + 64 * i);
    if ((slot[0] & 3) == 1) victim = slot;
  }
  ASSERT_NE(victim, nullptr);
  pid_t pid = park_child(rw_os::HookPoint::write_locked, [&] {
    victim[1] ^= 1;  // the stored hash no longer matches the key
    m.put(7, 777);
  });
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(m.put(5, 55), Status::ok);  // recovers the lock, repairs, verifies
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(m.stats().write_recoveries, 1u);
  std::string why;
  EXPECT_EQ(m.last_recovery(&why), Status::corrupt);
  EXPECT_FALSE(why.empty());
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("hash"), std::string::npos) << why;
  victim[1] ^= 1;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  ASSERT_EQ(m.get(5, &v), Status::ok);
  EXPECT_EQ(v, 55u);
}

TEST(RwFork, KilledReaderIsRecovered) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
  RwMap& m = st->map();
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  pid_t pid = park_child(rw_os::HookPoint::read_locked,
                         [&] { m.for_each([](void*, RwBytes, RwBytes) {}, nullptr); });
  ASSERT_GT(pid, 0);
  EXPECT_NE(m.lock().word() & kRwReaderMask, 0u);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(m.put(3, 33), Status::ok);  // must drain the dead reader
  double took = seconds_since(t0);
  std::printf("recovered in %.3f s\n", took);
  EXPECT_LT(took, 2.0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(m.stats().read_recoveries, 1u);
  EXPECT_EQ(m.lock().word(), 0u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  ASSERT_EQ(m.get(3, &v), Status::ok);
  EXPECT_EQ(v, 33u);
}

// The writer that died holding the lock had pid `pid`, which a later
// process now has (start key `key` is the dead one's): as a writer leaves
// the map when killed inside a write (seq odd).
void plant_dead_writer(RwStore& st, std::uint32_t pid, std::uint32_t key) {
  auto word = [&](std::uint64_t i) { return sync::word(st.region().base(), st.region().user_off() + 8 * i); };
  word(kRwSeqWord).store_release(word(kRwSeqWord).load_acquire() + 1);
  word(kRwStampWord).store_release(std::uint64_t{pid} | std::uint64_t{key} << 32);
  word(kRwLockWord).store_release(std::uint64_t{pid} << kRwPidShift);
}

TEST(RwFork, ReusedPidIsToldFromTheDeadHolder) {
  const std::uint32_t me = rw_os::self_pid(), my_key = rw_os::self_start_key();
  if (my_key == 0) GTEST_SKIP() << "no /proc here: a pid's reuse cannot be told";
  rw_os::testing::AlarmGuard alarm_guard(60);  // without the stamp, round 0 waits for itself forever
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
  RwMap& m = st->map();
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  auto word = [&](std::uint64_t i) { return sync::word(st->region().base(), st->region().user_off() + 8 * i); };
  // Round 0: a lock-free reader meets the odd seq; round 1: a writer. The
  // dead holder had our pid, with another start key.
  for (int round = 0; round < 2; ++round) {
    plant_dead_writer(*st, me, my_key ^ 1);
    EXPECT_LT(get_through(m, round), 2.0);
    EXPECT_EQ(m.stats().write_recoveries, round + 1u);
  }
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;  // the stamp is clear again
  // A live holder, named with its own start key, is waited for; once the
  // stamp names its pid with another key it is a dead one's pid reused.
  int release = -1;
  const pid_t child = rw_os::testing::idle_child(&release);
  ASSERT_GT(child, 0);
  const std::uint32_t child_key = rw_os::start_key(std::uint32_t(child));
  ASSERT_NE(child_key, 0u);
  plant_dead_writer(*st, std::uint32_t(child), child_key);
  rw_os::testing::BlockedCall writer([&] { EXPECT_EQ(m.put(6, 66), Status::ok); });
  EXPECT_TRUE(writer.waited(std::chrono::milliseconds(500))) << "a live holder's lock was taken over";
  auto t0 = std::chrono::steady_clock::now();
  word(kRwStampWord).store_release(std::uint64_t(child) | std::uint64_t{child_key ^ 1} << 32);
  writer.join();
  EXPECT_LT(seconds_since(t0), 2.0);
  EXPECT_EQ(m.stats().write_recoveries, 3u);
  // A reader slot (and its bit) naming the live child with another start
  // key is a dead reader's: the next writer reclaims it.
  word(64).store_release(std::uint64_t(child) << 32 | (child_key ^ 1));
  word(kRwLockWord).store_release(1);
  t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(m.put(7, 77), Status::ok);
  EXPECT_LT(seconds_since(t0), 2.0);
  EXPECT_EQ(m.stats().read_recoveries, 1u);
  rw_os::testing::end_idle_child(child, release);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  // A child that takes the lock itself stamps it with its own start key
  // (its cached key was reset at fork): a waiter does not take it over
  // while it lives, and does once it is killed.
  const pid_t holder = park_child(rw_os::HookPoint::write_locked, [&] { m.put(8, 88); });
  ASSERT_GT(holder, 0);
  EXPECT_EQ(word(kRwStampWord).load_acquire(),
            std::uint64_t(holder) | std::uint64_t{rw_os::start_key(std::uint32_t(holder))} << 32);
  rw_os::testing::BlockedCall waiter([&] { EXPECT_EQ(m.put(9, 99), Status::ok); });
  EXPECT_TRUE(waiter.waited(std::chrono::milliseconds(500))) << "a live holder's lock was taken over";
  ASSERT_EQ(kill(holder, SIGKILL), 0);
  t0 = std::chrono::steady_clock::now();
  waiter.join();  // a waiter already asleep when the holder died: within 2 s too
  EXPECT_LT(seconds_since(t0), 2.0);
  int status = 0;
  ASSERT_EQ(waitpid(holder, &status, 0), holder);
  EXPECT_EQ(m.stats().write_recoveries, 4u);
  std::uint64_t v = 0;
  ASSERT_EQ(m.get(6, &v), Status::ok);
  EXPECT_EQ(v, 66u);
  ASSERT_EQ(m.get(7, &v), Status::ok);
  EXPECT_EQ(v, 77u);
}

// A recoverer of a dead holder leaves a stamp that names a live process
// alone (S4 in rw_lock.h: another recoverer's, or a later holder's that was
// given the dead pid): it waits while that process lives and takes the lock
// over once it is gone. Without the rule it takes the stamp at once.
TEST(RwFork, RecovererLeavesALiveProcesssStampAlone) {
  if (rw_os::self_start_key() == 0) GTEST_SKIP() << "no /proc here: start keys cannot be read";
  rw_os::testing::AlarmGuard alarm_guard(60);
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
  RwMap& m = st->map();
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  auto word = [&](std::uint64_t i) { return sync::word(st->region().base(), st->region().user_off() + 8 * i); };
  const pid_t gone = rw_os::testing::dead_pid();
  ASSERT_GT(gone, 0);
  int release = -1;
  const pid_t live = rw_os::testing::idle_child(&release);
  ASSERT_GT(live, 0);
  const std::uint64_t live_ident = std::uint64_t(live) | std::uint64_t{rw_os::start_key(std::uint32_t(live))} << 32;
  plant_dead_writer(*st, std::uint32_t(gone), 0);
  word(kRwStampWord).store_release(live_ident);
  ASSERT_FALSE(rw_os::alive(std::uint32_t(gone))) << "the planted holder's pid " << gone << " was reused at once";
  rw_os::testing::BlockedCall writer([&] { EXPECT_EQ(m.put(3, 33), Status::ok); });
  EXPECT_TRUE(writer.waited(std::chrono::milliseconds(500))) << "a live process's stamp was taken";
  EXPECT_EQ(word(kRwStampWord).load_acquire(), live_ident);
  EXPECT_EQ(m.stats().write_recoveries, 0u);
  const auto t0 = std::chrono::steady_clock::now();
  rw_os::testing::end_idle_child(live, release);  // the stamp now names a dead process
  writer.join();
  EXPECT_LT(seconds_since(t0), 2.0);
  EXPECT_EQ(m.stats().write_recoveries, 1u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;  // seq repaired, lock and stamp clear
  std::uint64_t v = 0;
  ASSERT_EQ(m.get(3, &v), Status::ok);
  EXPECT_EQ(v, 33u);
}

// A process whose main thread exited alone (pthread_exit) is a zombie thread group
// leader in /proc while its other threads run (one of them could hold a
// lock): alive() must say alive, and dead once the last thread is gone,
// before the parent reaps it.
TEST(RwFork, AProcessWhoseMainThreadExitedIsAlive) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  if (child == 0) {
    close(fds[1]);
    const int in = fds[0];
    pthread_t t;
    if (pthread_create(&t, nullptr, [](void* fd) -> void* {
          char c;
          (void)!read(int(reinterpret_cast<std::intptr_t>(fd)), &c, 1);  // EOF: the parent let go
          _exit(0);
        }, reinterpret_cast<void*>(std::intptr_t{in})) != 0) {
      _exit(3);
    }
    // The leader thread alone exits (pthread_exit would unwind through
    // gtest, which catches the unwind and aborts).
    syscall(SYS_exit, 0);
  }
  ASSERT_GT(child, 0);
  close(fds[0]);
  // Wait for the leader to be a zombie ('Z' after the last ')' of stat).
  char state = 0;
  for (int i = 0; i < 5000 && state != 'Z'; ++i) {
    char path[64], buf[512] = {};
    std::snprintf(path, sizeof path, "/proc/%d/stat", int(child));
    if (FILE* f = std::fopen(path, "r")) {
      const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
      std::fclose(f);
      buf[n] = 0;
      const char* p = std::strrchr(buf, ')');
      if (p != nullptr && p[1] == ' ') state = p[2];
    }
    if (state != 'Z') std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (state != 'Z') {
    close(fds[1]);
    waitpid(child, nullptr, 0);
    GTEST_SKIP() << "no /proc here, or the leader never showed as a zombie";
  }
  EXPECT_TRUE(rw_os::alive(std::uint32_t(child))) << "a process with a running thread was called dead";
  close(fds[1]);  // its thread ends the process
  bool dead = false;
  for (int i = 0; i < 2000 && !dead; ++i) {
    dead = !rw_os::alive(std::uint32_t(child));
    if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(dead) << "an exited, unreaped process was called alive";
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(RwFork, KilledRehashMoveIsRepaired) {
  RwParams p = params();
  p.cap_max = 64;  // at the hard maximum, tombstones are rehashed in place
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(p, &st), Status::ok);
  RwMap& m = st->map();
  ASSERT_EQ(m.reserve(48), Status::ok);
  for (std::uint64_t k = 0; k < 48; ++k) ASSERT_EQ(m.put(k, k * 10), Status::ok);
  for (std::uint64_t k = 0; k < 48; k += 3) ASSERT_EQ(m.remove(k), Status::ok);
  ASSERT_GT(m.tombstones(), 0u);
  const std::uint64_t rehashes = m.stats().rehashes;
  RwMap::Cursor c;  // started before the rehash that dies: it must be told
  std::uint64_t ck = 0, cv = 0, ksz = 0, vsz = 0;
  ASSERT_EQ(m.next(&c, &ck, 8, &ksz, &cv, 8, &vsz), Status::ok);
  // The child's inserts of new keys reach 75% (size + tombstones): the
  // rehash moves entries, and the child parks inside the first move.
  pid_t pid = park_child(rw_os::HookPoint::move_half_done, [&] {
    for (std::uint64_t k = 100; k < 200; ++k) m.put(k, k * 10);
  });
  ASSERT_GT(pid, 0) << "the child finished without a rehash move";
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  ASSERT_EQ(m.put(7, 77), Status::ok);  // recovers the lock, repairs the move
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(m.stats().write_recoveries, 1u);
  EXPECT_EQ(m.stats().move_repairs, 1u);
  EXPECT_EQ(m.stats().rehashes, rehashes);  // the killed one never finished
  EXPECT_EQ(m.next(&c, &ck, 8, &ksz, &cv, 8, &vsz), Status::again);  // but its moves stay
  std::string why;
  EXPECT_EQ(m.last_recovery(&why), Status::ok) << why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;  // no key in two slots (I3)
  std::uint64_t v = 0, present = 0;
  for (std::uint64_t k = 0; k < 48; ++k) {
    Status s = m.get(k, &v);
    if (k % 3 == 0) {
      EXPECT_EQ(s, Status::not_found) << k;
      continue;
    }
    ASSERT_EQ(s, Status::ok) << k;
    EXPECT_EQ(v, k == 7 ? 77 : k * 10) << k;
    ++present;
  }
  for (std::uint64_t k = 100; k < 200; ++k) {
    if (m.get(k, &v) != Status::ok) continue;
    EXPECT_EQ(v, k * 10) << k;
    ++present;
  }
  EXPECT_EQ(m.size(), present);
  // The map goes on: a removal and more inserts rehash again, completely.
  ASSERT_EQ(m.remove(8), Status::ok);
  for (std::uint64_t k = 300; m.put(k, k) == Status::ok; ++k) {}
  EXPECT_GT(m.stats().rehashes, rehashes);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// A child killed inside a change of an arena value to another size, with
// the new value written and the meta word not yet (the old length beside
// the new value word): the next writer's repair gives the key its old value
// back, whole, and the arena stays consistent (the key is changed and
// removed again, verify checks the free lists).
TEST(RwFork, KilledValueChangeIsRepaired) {
  // Parked before the meta store: the key keeps its old value. After it
  // (the journal still open): the key has its new value, and the repair
  // frees the old block (a later value of that size reuses it: the arena
  // does not grow).
  for (rw_os::HookPoint at : {rw_os::HookPoint::value_half_done, rw_os::HookPoint::value_meta_done})
    for (std::size_t new_len : {std::size_t{5}, std::size_t{100}, std::size_t{200}}) {  // inline, same size, another class
      const bool after = at == rw_os::HookPoint::value_meta_done;
      RwStore::Ptr st;
      ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
      RwMap& m = st->map();
      const std::string key = "the key", old_val(100, 'o'), new_val(new_len, 'n');
      auto b = [](const std::string& x) { return RwBytes{x.data(), x.size()}; };
      auto get = [&](const std::string& k) {
        std::string out(512, 0);
        std::uint64_t sz = 0;
        return m.get(b(k), out.data(), out.size(), &sz) == Status::ok ? out.substr(0, sz) : "(absent)";
      };
      ASSERT_EQ(m.put(b(key), b(old_val)), Status::ok);
      pid_t pid = park_child(at, [&] { m.put(b(key), b(new_val)); });
      ASSERT_GT(pid, 0) << "the child never reached the hook";
      ASSERT_EQ(kill(pid, SIGKILL), 0);
      ASSERT_EQ(m.put(b("another"), b("x")), Status::ok);  // recovers the lock, repairs
      int status = 0;
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      EXPECT_EQ(m.stats().write_recoveries, 1u);
      EXPECT_EQ(m.stats().move_repairs, 1u) << new_len;
      std::string why;
      EXPECT_EQ(m.last_recovery(&why), Status::ok) << why;
      EXPECT_EQ(m.verify(&why), Status::ok) << why;
      EXPECT_EQ(get(key), after && new_len != 100 ? new_val : old_val) << new_len << " after " << after;
      if (after && new_len != 100) {  // the old block was freed: a 100-byte value reuses it
        const std::uint64_t used = m.stats().arena_used;
        ASSERT_EQ(m.put(b("third"), b(old_val)), Status::ok);
        EXPECT_EQ(m.stats().arena_used, used) << new_len;
      }
      ASSERT_EQ(m.put(b(key), b(new_val)), Status::ok);
      EXPECT_EQ(get(key), new_val);
      ASSERT_EQ(m.remove(b(key)), Status::ok);
      for (int i = 0; i < 4; ++i) ASSERT_EQ(m.put(b(key + std::to_string(i)), b(old_val)), Status::ok);
      for (int i = 0; i < 4; ++i) EXPECT_EQ(get(key + std::to_string(i)), old_val);
      EXPECT_EQ(m.verify(&why), Status::ok) << why;
    }
}

std::string value_of(std::uint64_t k) {
  // Alternate inline (8 bytes) and arena (40 bytes) values.
  std::string v = std::to_string(k * 2654435761u);
  v.resize(k % 3 == 0 ? 40 : 8, char('a' + k % 26));
  return v;
}

// A writer killed inside a rebuild (a grow or a shrink) at each step of
// its table handling: the table it took off a free list and had not
// published, the old table it had not yet retired, or the old table half
// linked onto its list. The next writer recovers the lock, verify() (which
// walks the free lists) is clean, every entry is there, and the map leaks
// that one table at most: later grow/shrink cycles take no more memory.
TEST(RwFork, KilledRebuildLeaksAtMostOneTable) {
  const rw_os::HookPoint points[] = {rw_os::HookPoint::rw_table_taken, rw_os::HookPoint::rw_table_published,
                                     rw_os::HookPoint::rw_table_linked};
  for (bool shrink : {true, false}) {
    for (rw_os::HookPoint at : points) {
      SCOPED_TRACE(std::string(shrink ? "shrink" : "grow") + ", hook " + std::to_string(unsigned(at)));
      RwStore::Ptr st;
      ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
      RwMap& m = st->map();
      for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
      for (std::uint64_t k = 0; k < 90; ++k) ASSERT_EQ(m.remove(k), Status::ok);
      auto cycle = [&] {  // up to 512 slots and back down to 32
        for (std::uint64_t k = 5000; k < 5200; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
        ASSERT_EQ(m.capacity(), 512u);
        for (std::uint64_t k = 5000; k < 5200; ++k) ASSERT_EQ(m.remove(k), Status::ok);
        ASSERT_EQ(m.put(6000, 6), Status::ok);  // 11 entries: shrinks to 32
        ASSERT_EQ(m.capacity(), 32u);
        ASSERT_EQ(m.remove(6000), Status::ok);
      };
      cycle();  // every size from 8 to 512 made once
      if (shrink) {  // back up to 512, emptied again: the child's insert shrinks it
        for (std::uint64_t k = 5000; k < 5200; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
        for (std::uint64_t k = 5000; k < 5200; ++k) ASSERT_EQ(m.remove(k), Status::ok);
      }
      const std::uint64_t cap = m.capacity(), before = m.stats().arena_used;
      // What the kill may leak: the table taken or the one left, whichever is larger.
      const std::uint64_t leak_max = kRwSlotSize * std::max<std::uint64_t>(cap, shrink ? 32 : 64) + 63;
      pid_t pid = park_child(at, [&] {
        if (shrink) {
          (void)m.put(2000, 1);  // 11 entries: shrinks 512 -> 32 first
        } else {
          for (std::uint64_t k = 3000; k < 3100; ++k) (void)m.put(k, k);  // the 15th grows 32 -> 64
        }
      });
      ASSERT_GT(pid, 0) << "the rebuild never reached the hook";
      ASSERT_EQ(kill(pid, SIGKILL), 0);
      int status = 0;
      ASSERT_EQ(waitpid(pid, &status, 0), pid);
      EXPECT_EQ(m.capacity(), at == rw_os::HookPoint::rw_table_taken ? cap : shrink ? 32u : 64u);
      ASSERT_EQ(m.put(4000, 4), Status::ok);  // takes the lock over, repairs, rebuilds if it must
      EXPECT_EQ(m.stats().write_recoveries, 1u);
      std::string why;
      EXPECT_EQ(m.last_recovery(&why), Status::ok) << why;
      ASSERT_EQ(m.verify(&why), Status::ok) << why;
      std::uint64_t v = 0;
      for (std::uint64_t k = 90; k < 100; ++k) ASSERT_TRUE(m.get(k, &v) == Status::ok && v == k) << k;
      ASSERT_TRUE(m.get(4000, &v) == Status::ok && v == 4);
      EXPECT_EQ(m.exists(2000), false);  // the killed put never got to its insert
      for (std::uint64_t k = 3000; k < 3100; ++k) (void)m.remove(k);  // the puts the grow's child made
      // Grow/shrink cycles: the first may replace the leaked table, the rest
      // take nothing more; one table's memory at most, in all.
      std::uint64_t after_first = 0;
      for (int round = 0; round < 4; ++round) {
        cycle();
        EXPECT_LE(m.stats().arena_used - before, leak_max) << round;
        if (round == 0) after_first = m.stats().arena_used;
        EXPECT_EQ(m.stats().arena_used, after_first) << round;
      }
      ASSERT_EQ(m.verify(&why), Status::ok) << why;
    }
  }
}

TEST(RwFork, KillDuringPuts) {
  std::string path = temp_path("rw_kill");
  unlink(path.c_str());
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_file(path, params(), &st), Status::ok);
  RwMap& m = st->map();
  const std::uint64_t kPuts = 100000 / kScale, kRuns = 12;
  std::mt19937_64 rng(std::random_device{}());
  // The child's count of completed puts, in memory both processes share.
  void* shared = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  auto* done = new (shared) std::atomic<std::uint64_t>(0);
  // kRuns kills, and more (up to 4 * kRuns) until one has landed inside
  // the write lock (see the end).
  std::uint64_t run = 0;
  for (; run < kRuns || (m.stats().write_recoveries == 0 && run < 4 * kRuns); ++run) {
    done->store(0);
    // At most halfway: the child still has thousands of puts to go when the
    // signal is sent, so it cannot finish first.
    const std::uint64_t kill_after = 1 + rng() % (kPuts / 2);
    std::fflush(stdout);  // a child must not inherit (and flush) our output
    pid_t pid = fork();
    if (pid == 0) {
      RwStore::Ptr mine;
      if (RwStore::join_file(path, &mine) != Status::ok) _exit(100);
      for (std::uint64_t n = 0; n < kPuts; ++n) {
        std::uint64_t k = run << 32 | n;
        std::string v = value_of(k);
        if (mine->map().put(RwBytes{&k, 8}, RwBytes{v.data(), v.size()}) != Status::ok) _exit(101);
        done->store(n + 1, std::memory_order_release);
      }
      _exit(0);
    }
    // Kill once the child has completed kill_after puts: mid-run, at a
    // moment that falls anywhere in a put, inside the lock or not.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (done->load(std::memory_order_acquire) < kill_after && std::chrono::steady_clock::now() < deadline) {
    }
    kill(pid, SIGKILL);
    const std::uint64_t completed = done->load(std::memory_order_acquire);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_FALSE(WIFEXITED(status)) << "the child was not killed mid-run: exit " << WEXITSTATUS(status);
    ASSERT_EQ(m.put(~std::uint64_t{0}, run), Status::ok);  // takes the lock: recovers if needed
    std::string why;
    ASSERT_EQ(m.verify(&why), Status::ok) << "run " << run << ": " << why;
    // The keys present are a prefix of the child's sequence, with exact values.
    std::uint64_t present = 0;
    std::vector<char> buf(64);
    for (std::uint64_t n = 0; n < kPuts; ++n) {
      std::uint64_t k = run << 32 | n, sz = 0;
      Status s = m.get(RwBytes{&k, 8}, buf.data(), buf.size(), &sz);
      if (s == Status::not_found) break;
      ASSERT_EQ(s, Status::ok);
      ASSERT_EQ(std::string(buf.data(), sz), value_of(k)) << "run " << run << " key " << n;
      ++present;
    }
    ASSERT_GE(present, completed) << "run " << run << ": a completed put was lost";
    for (std::uint64_t n = present + 1; n < kPuts; ++n) {
      std::uint64_t k = run << 32 | n;
      ASSERT_FALSE(m.exists(RwBytes{&k, 8})) << "gap before key " << n;
    }
    std::printf("run %llu: killed after %llu puts, %llu landed\n", (unsigned long long)run,
                (unsigned long long)completed, (unsigned long long)present);
  }
  // Most of a put's time is inside the write lock, so some kill lands
  // there: recovered (counted) by the parent's next put. (Forty-eight
  // kills that all miss the lock would be chance of about 0.5^48; with
  // twelve, the test's first bound, about 0.5^12: a rare red run.)
  const std::uint64_t recoveries = m.stats().write_recoveries;
  std::printf("write recoveries: %llu of %llu kills\n", (unsigned long long)recoveries, (unsigned long long)run);
  EXPECT_GE(recoveries, 1u);
  munmap(shared, 4096);
  st.reset();
  unlink(path.c_str());
}

}  // namespace
}  // namespace mb
