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
  Region region;
  Allocator a;
  ChainMap m;
  std::uint64_t off = 0;
  ASSERT_EQ(Region::create_anon({"mapbench.chain", 1, std::uint64_t{1} << 30, 0}, {}, &region), Status::ok);
  AllocParams p;
  p.cgroup_cnt = 2;
  ASSERT_EQ(Allocator::create(region, p, &a), Status::ok);
  ASSERT_EQ(ChainMap::create(a, 256, seed, &off), Status::ok);  // few chains: contention
  ASSERT_EQ(ChainMap::join(a, off, &m), Status::ok);

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

}  // namespace
}  // namespace mb
