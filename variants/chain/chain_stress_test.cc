// Thread stress for ChainMap (run under ThreadSanitizer by tools/test.sh, no
// suppressions). Each thread owns a key slice (t << 24 | n) so it knows the
// exact expected contents, plus a shared hot range where values always encode
// their key (v = key * 2^20 + counter), and 16-byte values written as two
// equal words so a torn read is caught. verify() and exact contents after.
// Not a benchmark.
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "variants/chain/chain_map.h"
#include "variants/chain/chain_testing.h"
#include "variants/chain/chain_txn.h"

namespace mb {
namespace {

#if defined(MB_SANITIZER)
constexpr int kOps = 20000;
#else
constexpr int kOps = 200000;
#endif
constexpr int kThreads = 4;
constexpr std::uint64_t kOwn = 2000, kHot = 64;

TEST(ChainStress, OwnedSlicesAndAHotRange) {
  const char* env = std::getenv("MB_SEED");
  std::uint64_t seed = env ? std::strtoull(env, nullptr, 0) : std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  AllocParams p;
  p.cgroup_cnt = 2;
  AnonChain h(256, seed, p);  // few chains: contention
  ASSERT_EQ(h.s, Status::ok) << h.why;
  Allocator& a = h.a;
  ChainMap& m = h.m;

  std::vector<std::vector<std::uint64_t>> truth(kThreads, std::vector<std::uint64_t>(kOwn, 0));
  std::vector<int> failures(kThreads, 0);
  auto worker = [&](int t) {
    std::mt19937_64 rng(seed + t);
    auto& mine = truth[t];  // 0 = absent, else the value
    for (int i = 1; i <= kOps; ++i) {
      unsigned r = rng() % 100;
      if (r < 40) {  // own slice
        std::uint64_t n = rng() % kOwn, k = std::uint64_t(t) << 24 | n, v = 0;
        Status s;
        switch (rng() % 4) {
          case 0:
            s = m.insert_or_assign(k, std::uint64_t(i));
            if (s == Status::ok) mine[n] = i; else failures[t]++;
            break;
          case 1:
            s = m.erase(k);
            if (s != (mine[n] ? Status::ok : Status::not_found)) failures[t]++;
            mine[n] = 0;
            break;
          default:
            s = m.find(k, &v);
            if (s != (mine[n] ? Status::ok : Status::not_found) || (mine[n] && v != mine[n])) failures[t]++;
        }
      } else if (r < 80) {  // hot range, u64 values that encode their key
        std::uint64_t k = 1ull << 40 | rng() % kHot, v = 0;
        if (rng() % 2) {
          if (m.insert_or_assign(k, k << 20 | (i & 0xfffff)) != Status::ok) failures[t]++;
        } else if (rng() % 4 == 0) {
          Status s = m.erase(k);
          if (s != Status::ok && s != Status::not_found) failures[t]++;
        } else {
          Status s = m.find(k, &v);
          if (s == Status::ok ? (v >> 20) != k : s != Status::not_found) failures[t]++;
        }
      } else {  // hot range, 16-byte values as two equal words (torn-read check)
        std::uint64_t k = 2ull << 40 | rng() % kHot;
        std::uint64_t val[2] = {std::uint64_t(i) << 8 | std::uint64_t(t), 0}, got[2] = {1, 2}, sz = 0;
        val[1] = val[0];
        if (rng() % 2) {
          if (m.insert_or_assign(Bytes{&k, 8}, Bytes{val, 16}) != Status::ok) failures[t]++;
        } else {
          Status s = m.find(Bytes{&k, 8}, got, sizeof got, &sz);
          if (s == Status::ok ? (sz != 16 || got[0] != got[1]) : s != Status::not_found) failures[t]++;
        }
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t << " seed " << seed;
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why << " seed " << seed;
  std::uint64_t expect = 0;
  for (int t = 0; t < kThreads; ++t)
    for (std::uint64_t n = 0; n < kOwn; ++n) {
      std::uint64_t v = 0, k = std::uint64_t(t) << 24 | n;
      Status s = m.find(k, &v);
      ASSERT_EQ(s, truth[t][n] ? Status::ok : Status::not_found) << k;
      if (truth[t][n]) {
        ASSERT_EQ(v, truth[t][n]);
        ++expect;
      }
    }
  EXPECT_GE(m.size(), expect);
  EXPECT_LE(m.size(), expect + 2 * kHot);
  ASSERT_EQ(m.destroy(), Status::ok);
  AllocStats st;
  ASSERT_EQ(a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 0u);
}

// Transfers between two random accounts from several threads, each in a
// transaction that locks both: the total never changes, and a reader that
// snapshots every account in one transaction (all locked) sees it whole.
TEST(ChainStress, TransfersKeepTheTotal) {
  AnonChain h(8, 3);  // 8 chains for 12 accounts
  ASSERT_EQ(h.s, Status::ok) << h.why;
  ChainMap& m = h.m;
  constexpr std::uint64_t kAccounts = 12, kStart = 1000;
  for (std::uint64_t k = 0; k < kAccounts; ++k) ASSERT_EQ(m.insert(k, kStart), Status::ok);
  std::vector<int> failures(kThreads, 0);
  auto worker = [&](int t) {
    std::mt19937_64 rng(t);
    for (int i = 0; i < kOps / 10; ++i) {
      ChainTxn x(m);
      if (t == 0 && i % 50 == 0) {  // an audit: all accounts locked at once
        for (std::uint64_t k = 0; k < kAccounts; ++k) x.add(k, true);
        if (x.try_lock() != Status::ok) { failures[t]++; continue; }
        std::uint64_t sum = 0, v = 0;
        for (std::uint64_t k = 0; k < kAccounts; ++k) sum += x.find(k, &v) == Status::ok ? v : 0;
        if (sum != kAccounts * kStart) failures[t]++;
        x.test();
        continue;
      }
      std::uint64_t from = rng() % kAccounts, to = rng() % kAccounts, a1 = 0, a2 = 0;
      if (from == to) continue;
      x.add(from, true);
      x.add(to, true);
      if (x.try_lock(rng() % 2 ? kChainNonBlocking : 0) != Status::ok) continue;  // again: skip
      if (x.find(from, &a1) != Status::ok || x.find(to, &a2) != Status::ok) failures[t]++;
      std::uint64_t amount = a1 ? rng() % (a1 + 1) : 0;
      if (x.insert_or_assign(from, a1 - amount) != Status::ok || x.insert_or_assign(to, a2 + amount) != Status::ok)
        failures[t]++;
      if (x.test() != Status::ok) failures[t]++;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  std::uint64_t sum = 0, v = 0;
  for (std::uint64_t k = 0; k < kAccounts; ++k) {
    ASSERT_EQ(m.find(k, &v), Status::ok);
    sum += v;
  }
  EXPECT_EQ(sum, kAccounts * kStart);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

}  // namespace
}  // namespace mb
