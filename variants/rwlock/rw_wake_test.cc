// Wakes of the rwlock's futex waits (rw_lock.h). A waiter sleeps at most one
// wait slice and then looks again, so a wake that never comes costs it one
// slice (20 ms): no test can tell that from a slow wake. Here the slice is a
// minute, so a lost wake is a stall of a minute, and each case asserts that
// its sleepers get through within 2 s of the release they wait for.
//   SleepersOnAWriterAreWoken  two readers and a writer sleep on a write lock
//                  holder (the sleepers bit set, then 300 ms more); its
//                  unlock must wake all three.
//   DrainingWriterIsWoken  a writer that took the lock while a reader held
//                  it sleeps on the reader bits; read_unlock must wake it.
// Built three times: rw_wake_test (the lock as it is), rw_wake_test_bug_34
// (unlock_writer without its wake) and rw_wake_test_bug_35 (read_unlock
// without its wake). A planted build expects its own case to stall, and then
// wakes the sleepers itself: it proves that the plain build's assertion can
// fail.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "variants/rwlock/internal/rw_os.h"
#include "variants/rwlock/rw_lock.h"

#ifndef MB_PLANT_BUG
#define MB_PLANT_BUG 0
#endif

namespace mb {
namespace {

using Clock = std::chrono::steady_clock;
using rw_os::Half;

constexpr long kMinuteNs = 60L * 1000 * 1000 * 1000;

// One lock in a buffer of words: the lock word, 4 reader slots, counters,
// a stamp. The slice is set before any thread starts.
class WakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_slice_ = rw_os::g_wait_slice_ns;
    rw_os::g_wait_slice_ns = kMinuteNs;
    RwLock::Words w;
    w.lock_off = 8;
    w.slots_off = 64;
    w.slot_cnt = 4;
    w.counters_off = 128;
    w.stamp_off = 192;
    lock_ = RwLock(words_, w);
  }
  void TearDown() override { rw_os::g_wait_slice_ns = saved_slice_; }

  sync::Ref<std::uint64_t> lock_word() { return sync::word(words_, 8); }

  // Waits until done reaches n or `limit` passes; whether it did.
  static bool all_done(const std::atomic<int>& done, int n, std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (done.load() < n) {
      if (Clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  // Waits (10 s at most) for a bit of `mask` in the lock word, then 300 ms
  // more: time for every waiter to fall asleep (each spins about 20 us).
  void settle(std::uint64_t mask) {
    const auto end = Clock::now() + std::chrono::seconds(10);
    while ((lock_word().load_acquire() & mask) == 0 && Clock::now() < end) std::this_thread::yield();
    ASSERT_NE(lock_word().load_acquire() & mask, 0u) << "no waiter got as far as its sleep";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }

  // After the release: the n waiters must be through within 2 s, or, in
  // the build that plants `bug`, still stalled after 3 s. Then wakes them
  // by hand (both halves, until all are through) so that the test ends.
  void expect_woken(const std::atomic<int>& done, int n, int bug) {
    if (MB_PLANT_BUG == bug) {
      EXPECT_FALSE(all_done(done, n, std::chrono::seconds(3))) << "planted bug " << bug << " stalled no waiter";
    } else {
      EXPECT_TRUE(all_done(done, n, std::chrono::seconds(2))) << "a waiter was not woken by the release";
    }
    while (done.load() < n) {
      rw_os::wake(lock_word(), Half::high, 1 << 30);
      rw_os::wake(lock_word(), Half::low, 1 << 30);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  alignas(64) std::uint64_t words_[32] = {};
  RwLock lock_;
  long saved_slice_ = 0;
};

TEST_F(WakeTest, SleepersOnAWriterAreWoken) {
  lock_.write_lock();
  std::atomic<int> done{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 2; ++i) {
    ts.emplace_back([&] {
      unsigned slot = lock_.read_lock(nullptr, nullptr);
      lock_.read_unlock(slot);
      done.fetch_add(1);
    });
  }
  ts.emplace_back([&] {
    lock_.write_lock();
    lock_.write_unlock();
    done.fetch_add(1);
  });
  // The first sleeper sets the sleepers bit just before its futex wait.
  settle(kRwSleepers);
  EXPECT_EQ(done.load(), 0);
  lock_.write_unlock();
  expect_woken(done, 3, 34);
  for (auto& t : ts) t.join();
  EXPECT_EQ(lock_word().load_acquire(), 0u);
}

TEST_F(WakeTest, DrainingWriterIsWoken) {
  const unsigned slot = lock_.read_lock(nullptr, nullptr);
  std::atomic<int> done{0};
  std::thread writer([&] {
    lock_.write_lock();
    lock_.write_unlock();
    done.fetch_add(1);
  });
  // The writer's CAS puts its pid into the word; its drain then sleeps on
  // the reader bits at once.
  settle(kRwPidMask);
  EXPECT_EQ(done.load(), 0);
  lock_.read_unlock(slot);
  expect_woken(done, 1, 35);
  writer.join();
  EXPECT_EQ(lock_word().load_acquire(), 0u);
}

}  // namespace
}  // namespace mb
