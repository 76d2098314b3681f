// The production sync facade, and a canary proving the sanitizer configs
// bite: under ThreadSanitizer a child process runs a planted data race and
// must be reported (so "TSan clean" elsewhere means something).
#include "core/sync.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <thread>

#include "gtest/gtest.h"

namespace mb::sync {
namespace {

TEST(Sync, NamedOperationsOnAtomics) {
  atomic<std::uint64_t> a(5);
  EXPECT_EQ(a.load_relaxed(), 5u);
  a.store_release(6);
  EXPECT_EQ(a.load_acquire(), 6u);
  EXPECT_EQ(a.exchange_acq_rel(7), 6u);
  std::uint64_t expected = 1;
  EXPECT_FALSE(a.cas_acq_rel(expected, 9));
  EXPECT_EQ(expected, 7u);  // failure reports the current value
  EXPECT_TRUE(a.cas_release(expected, 9));
  EXPECT_EQ(a.fetch_or_acq_rel(0x10), 9u);
  EXPECT_EQ(a.fetch_and_acq_rel(~std::uint64_t{1}), 0x19u);
  EXPECT_EQ(a.fetch_add_relaxed(2), 0x18u);
  EXPECT_EQ(a.fetch_sub_acq_rel(1), 0x1au);
  EXPECT_EQ(a.load_relaxed(), 0x19u);
}

TEST(Sync, RefViewsRawMemory) {
  alignas(8) unsigned char mem[32] = {};
  Ref<std::uint64_t> w = word(mem, 8);
  w.store_relaxed(0x0102030405060708ULL);
  std::uint64_t raw;
  __builtin_memcpy(&raw, mem + 8, 8);
  EXPECT_EQ(raw, 0x0102030405060708ULL);
  EXPECT_EQ(w.exchange_acquire(3), 0x0102030405060708ULL);
  EXPECT_EQ(word(mem, 8).load_acquire(), 3u);
}

TEST(Sync, FutexWakesAWaiter) {
  alignas(4) std::uint32_t flag = 0;
  Ref<std::uint32_t> f(&flag);
  std::thread waker([&] {
    f.store_release(1);
    futex_wake(f, 1);
  });
  while (f.load_acquire() == 0) futex_wait(f, 0, 1000000);  // 1 ms bound per wait
  waker.join();
  EXPECT_EQ(f.load_relaxed(), 1u);
}

TEST(Sync, ThreadHintIsStable) {
  unsigned h = thread_hint();
  EXPECT_LT(h, 4096u);
  EXPECT_EQ(kModelBuild, false);
  EXPECT_GT(kSpin.pause_max, 0u);
}

#if defined(__SANITIZE_THREAD__)
int racy_counter = 0;  // plain int written by two threads: a data race
TEST(SanitizerCanary, ThreadSanitizerReportsAPlantedRace) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::thread a([] { for (int i = 0; i < 1000; ++i) racy_counter++; });
    std::thread b([] { for (int i = 0; i < 1000; ++i) racy_counter++; });
    a.join();
    b.join();
    _exit(0);  // TSan's halt_on_error / exitcode makes this non-zero
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      << "ThreadSanitizer did not report a planted data race: the tsan config is not working";
}
#endif

}  // namespace
}  // namespace mb::sync
