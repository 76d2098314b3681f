// Thread stress for the allocator (run under ThreadSanitizer by
// `tools/test.sh`; no suppressions exist). Each thread allocates objects of
// random sizes and alignments, fills them with bytes that encode (owner,
// sequence), and frees them after checking every byte; a third of the frees
// are of objects handed over by another thread through a shared exchange
// table. Meanwhile one thread adds volumes and trims. verify() must be clean
// at the end and report no live object. Not a benchmark.
#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "gtest/gtest.h"

namespace mb {
namespace {

#if defined(MB_SANITIZER)
constexpr int kOps = 20000;  // sanitizer builds are ~10x slower
#else
constexpr int kOps = 200000;
#endif
constexpr int kThreads = 4;
constexpr int kHandoff = 32;

std::uint64_t seed_from_env() {
  const char* s = std::getenv("MB_SEED");
  return s ? std::strtoull(s, nullptr, 0) : std::random_device{}();
}

// Object contents: word 0 = stamp, then bytes derived from it. Written and
// read with relaxed atomics, as alloc.h (REUSED MEMORY) asks of object
// memory: a stalled pop may load a word of it (a stale stack link, then
// discarded), and a plain store there would race with that load.
void stamp(const Allocator& a, std::uint64_t off, std::uint64_t size, std::uint64_t st) {
  auto* p = a.at<unsigned char>(off);
  if (size >= 8) std::atomic_ref<std::uint64_t>(*a.at<std::uint64_t>(off)).store(st, std::memory_order_relaxed);
  for (std::uint64_t i = size >= 8 ? 8 : 0; i < size; ++i)
    std::atomic_ref<unsigned char>(p[i]).store(static_cast<unsigned char>(st * 31 + i), std::memory_order_relaxed);
}
bool stamped(const Allocator& a, std::uint64_t off, std::uint64_t size, std::uint64_t st) {
  auto* p = a.at<unsigned char>(off);
  if (size >= 8 && std::atomic_ref<std::uint64_t>(*a.at<std::uint64_t>(off)).load(std::memory_order_relaxed) != st)
    return false;
  for (std::uint64_t i = size >= 8 ? 8 : 0; i < size; ++i)
    if (std::atomic_ref<unsigned char>(p[i]).load(std::memory_order_relaxed) != static_cast<unsigned char>(st * 31 + i))
      return false;
  return true;
}

struct Obj {
  std::uint64_t off, size, stamp;
};

TEST(AllocStress, ThreadsAllocFillCheckFree) {
  std::uint64_t seed = seed_from_env();
  std::printf("seed %llu (set MB_SEED to repeat)\n", static_cast<unsigned long long>(seed));
  Region region;
  Allocator a;
  ASSERT_EQ(Region::create_anon({"mapbench.alloc", 1, 256 << 20, 0}, {}, &region), Status::ok);
  AllocParams p;
  p.vol_sz = 1 << 20;  // small volumes: more carving, releasing and growth
  p.cgroup_cnt = 2;    // fewer groups than threads: slots are contended
  ASSERT_EQ(Allocator::create(region, p, &a), Status::ok);

  // Hand-off table: (offset, size, stamp) packed behind one atomic index word
  // per entry; the sender publishes with release, the taker acquires.
  struct Handoff {
    std::atomic<std::uint64_t> off{0};
    std::uint64_t size = 0, stamp = 0;
  };
  std::vector<Handoff> table(kHandoff);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};

  auto worker = [&](int t) {
    std::mt19937_64 rng(seed + t);
    // Odd threads go through a per-thread cache, even ones through the
    // shared path; hand-offs cross between the two.
    std::optional<AllocCache> cache;
    if (t % 2) cache.emplace(a, 8);
    auto alloc = [&](std::uint64_t al, std::uint64_t sz, std::uint64_t* o) {
      return cache ? cache->alloc(al, sz, std::uint32_t(t), o) : a.alloc(al, sz, std::uint32_t(t), o);
    };
    auto release = [&](std::uint64_t o) { return cache ? cache->free(o) : a.free(o); };
    std::vector<Obj> mine;
    for (int i = 0; i < kOps; ++i) {
      unsigned r = rng() % 100;
      if (r < 50 || mine.empty()) {
        std::uint64_t size = rng() % 4 == 0 ? rng() % 5000 : rng() % 200;
        std::uint64_t align = std::uint64_t{1} << (rng() % 7);
        std::uint64_t off = 0;
        Status s = alloc(align, size, &off);
        if (s == Status::full) continue;
        if (s != Status::ok || off % std::max<std::uint64_t>(align, 16) != 0) { failures++; continue; }
        std::uint64_t st = std::uint64_t(t) << 48 | std::uint64_t(i);
        stamp(a, off, size, st);
        mine.push_back({off, size, st});
      } else if (r < 80) {
        std::size_t k = rng() % mine.size();
        Obj o = mine[k];
        mine[k] = mine.back();
        mine.pop_back();
        if (!stamped(a, o.off, o.size, o.stamp) || release(o.off) != Status::ok) failures++;
      } else {
        // Give one away, and take whatever was in that entry.
        std::size_t k = rng() % mine.size();
        Obj o = mine[k];
        mine[k] = mine.back();
        mine.pop_back();
        Handoff& h = table[rng() % kHandoff];
        // Claim the entry empty (0) -> busy (1) before touching its fields.
        std::uint64_t cur = h.off.load(std::memory_order_acquire);
        if (cur == 1 || !h.off.compare_exchange_strong(cur, 1, std::memory_order_acq_rel)) {
          mine.push_back(o);
          continue;
        }
        if (cur != 0) mine.push_back({cur, h.size, h.stamp});  // now ours
        h.size = o.size;
        h.stamp = o.stamp;
        h.off.store(o.off, std::memory_order_release);
      }
    }
    for (const Obj& o : mine)
      if (!stamped(a, o.off, o.size, o.stamp) || release(o.off) != Status::ok) failures++;
  };
  std::thread grower([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      a.trim();
      a.add_volumes(1);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  stop = true;
  grower.join();
  for (Handoff& h : table) {
    std::uint64_t off = h.off.load(std::memory_order_acquire);
    if (off > 1) {
      EXPECT_TRUE(stamped(a, off, h.size, h.stamp)) << "handed-off object damaged";
      EXPECT_EQ(a.free(off), Status::ok);
    }
  }
  EXPECT_EQ(failures.load(), 0) << "seed " << seed;
  AllocStats st;
  std::string why;
  ASSERT_EQ(a.verify(&st, &why), Status::ok) << why << " seed " << seed;
  EXPECT_EQ(st.obj_cnt, 0u);
  a.trim();
  ASSERT_EQ(a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.vol_free, st.vol_cnt) << "memory did not flow back to the volumes";
  std::printf("volumes %llu, superblocks carved %llu released %llu\n",
              static_cast<unsigned long long>(st.vol_cnt),
              static_cast<unsigned long long>(st.sb_carved),
              static_cast<unsigned long long>(st.sb_released));
}

}  // namespace
}  // namespace mb
