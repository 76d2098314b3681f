// Thread stress for RhMap (run under ThreadSanitizer and AddressSanitizer by
// tools/test.sh, no suppressions). Not a benchmark. Each test's comment
// says what it checks; the first:
//
// GrowShrinkUnderReaders: a set of permanent keys is inserted first; then
// writer threads each grow their own key slice from nothing to many keys
// (forcing copy-on-write resizes from a tiny table), overwrite and erase it
// (forcing shrinks and tombstone reuse), while reader threads look the
// permanent keys up without pause: every lookup must find its key with its
// value (a robin-hood shift or a resize must never hide a present key), and
// lookups of writer keys must return a value that encodes that key (a value
// read from a block that was freed and reused for another key would not).
// Writers know their slices exactly; verify() and the allocator's object
// count are checked at the end (no block leaked, none freed twice), and
// the slab count (the last shrinks compacted the blocks into one slab,
// under the readers). GrowShrinkToMillionsUnderReaders runs the same with
// two slices of 2^20 keys, once (optimized builds only).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "variants/robinhood/rh_map.h"

namespace mb {
namespace {

// Sizes: TSan runs ~10x slower than ASan, which runs ~3x slower than -O2.
#if defined(__SANITIZE_THREAD__)
constexpr std::uint64_t kSlice = 12000;
constexpr int kRounds = 3;
constexpr int kHotOps = 150000;
constexpr std::uint64_t kMultiKeys = 6000;
#elif defined(MB_SANITIZER)
constexpr std::uint64_t kSlice = 30000;
constexpr int kRounds = 3;
constexpr int kHotOps = 400000;
constexpr std::uint64_t kMultiKeys = 15000;
#else
constexpr int kHotOps = 600000;
constexpr std::uint64_t kMultiKeys = 30000;
constexpr std::uint64_t kSlice = 60000;
constexpr int kRounds = 4;
#endif
constexpr int kWriters = 2, kReaders = 2;
constexpr std::uint64_t kPermanent = 500;

std::uint64_t value_for(std::uint64_t k, std::uint64_t gen) { return k << 20 | (gen & 0xfffff); }

// A fresh map in an anonymous region (allocator with two concurrency groups).
struct Fresh {
  Fresh(std::uint64_t cap_min, std::uint64_t seed, unsigned flags = 0) {
    AllocParams p;
    p.cgroup_cnt = 2;
    ok = Region::create_anon({"mapbench.robinhood", 1, std::uint64_t{1} << 31, 0}, {}, &region) == Status::ok &&
         Allocator::create(region, p, &a) == Status::ok &&
         RhMap::create(a, cap_min, seed, &off, nullptr, flags) == Status::ok && RhMap::join(a, off, &m) == Status::ok;
  }
  Region region;
  Allocator a;
  std::uint64_t off = 0;
  RhMap m;
  bool ok = false;
};

// Start every worker, wait for all.
template <class... Fns>
void run_threads(Fns&&... fns) {
  std::vector<std::thread> threads;
  (threads.emplace_back(fns), ...);
  for (auto& th : threads) th.join();
}

// The body of GrowShrinkUnderReaders (and ToMillions): each writer's slice
// holds `slice` keys, grown and emptied `rounds` times.
void grow_shrink_under_readers(std::uint64_t slice, int rounds) {
  const char* env = std::getenv("MB_SEED");
  std::uint64_t seed = env ? std::strtoull(env, nullptr, 0) : std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  Fresh f(4, seed);
  ASSERT_TRUE(f.ok);
  Allocator& a = f.a;
  RhMap& m = f.m;
  for (std::uint64_t k = 0; k < kPermanent; ++k) ASSERT_EQ(m.insert(3ull << 40 | k, value_for(3ull << 40 | k, 7)), Status::ok);

  std::atomic<int> writers_left{kWriters};
  std::vector<int> failures(kWriters + kReaders, 0);
  std::vector<std::uint64_t> reads(kReaders, 0);
  auto writer = [&](int t) {
    std::mt19937_64 rng(seed + t);
    std::vector<std::uint64_t> mine(slice, 0);  // 0 = absent, else the value
    auto key = [&](std::uint64_t n) { return std::uint64_t(t + 1) << 32 | n; };
    for (int round = 0; round < rounds; ++round) {
      for (std::uint64_t n = 0; n < slice; ++n) {  // grow
        std::uint64_t v = value_for(key(n), round * 4 + 1);
        Status s = rng() % 2 ? m.insert(key(n), v) : m.insert_or_assign(key(n), v);
        if (s != Status::ok) failures[t]++;
        mine[n] = v;
      }
      for (std::uint64_t i = 0; i < slice; ++i) {  // mixed ops on the full slice
        std::uint64_t n = rng() % slice, v = 0;
        Status s;
        switch (rng() % 4) {
          case 0:
            v = value_for(key(n), round * 4 + 2);
            s = m.update(key(n), v);
            if (s != (mine[n] ? Status::ok : Status::not_found)) failures[t]++;
            if (mine[n]) mine[n] = v;
            break;
          case 1:
            s = m.erase(key(n));
            if (s != (mine[n] ? Status::ok : Status::not_found)) failures[t]++;
            mine[n] = 0;
            break;
          default:
            s = m.find(key(n), &v);
            if (s != (mine[n] ? Status::ok : Status::not_found) || (mine[n] && v != mine[n])) failures[t]++;
        }
      }
      for (std::uint64_t n = 0; n < slice; ++n) {  // shrink
        Status s = m.erase(key(n));
        if (s != (mine[n] ? Status::ok : Status::not_found)) failures[t]++;
        mine[n] = 0;
      }
    }
    writers_left.fetch_sub(1);
  };
  auto reader = [&](int r) {
    std::mt19937_64 rng(seed + 100 + r);
    int f = 0;
    while (writers_left.load() > 0) {
      for (int i = 0; i < 256; ++i) {
        std::uint64_t v = 0, k = 3ull << 40 | rng() % kPermanent;
        if (m.find(k, &v) != Status::ok || v != value_for(k, 7)) ++f;
        k = std::uint64_t(rng() % kWriters + 1) << 32 | rng() % slice;
        Status s = m.find(k, &v);
        if (s == Status::ok ? (v >> 20) != k : s != Status::not_found) ++f;
        reads[r] += 2;
      }
    }
    failures[kWriters + r] = f;
  };
  static_assert(kWriters == 2 && kReaders == 2);
  run_threads([&] { writer(0); }, [&] { writer(1); }, [&] { reader(0); }, [&] { reader(1); });
  for (int t = 0; t < kWriters + kReaders; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t << " seed " << seed;
  for (int r = 0; r < kReaders; ++r) EXPECT_GT(reads[r], 0u);
  EXPECT_GT(m.resizes(), 2u * rounds);  // grew and shrank each round
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why << " seed " << seed;
  EXPECT_EQ(m.size(), kPermanent);
  // The slices took several slabs; the shrinks after their erases moved
  // the entries left into one (a compaction under the readers).
  EXPECT_EQ(m.slab_count(), 1u);
  for (std::uint64_t k = 0; k < kPermanent; ++k) {
    std::uint64_t v = 0;
    ASSERT_EQ(m.find(3ull << 40 | k, &v), Status::ok);
  }
  ASSERT_EQ(m.destroy(), Status::ok);
  AllocStats st;
  ASSERT_EQ(a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 0u);
}

TEST(RhStress, GrowShrinkUnderReaders) { grow_shrink_under_readers(kSlice, kRounds); }

#if !defined(__SANITIZE_THREAD__) && !defined(MB_SANITIZER)
// Growth to millions of keys under readers (optimized builds only: the
// sanitizers' slices stay below one 64K-slot segment): two slices of 2^20
// keys, a table of 2^22 slots in 64 segments whose directory every grow
// and shrink rebuilds while the readers read.
TEST(RhStress, GrowShrinkToMillionsUnderReaders) { grow_shrink_under_readers(std::uint64_t{1} << 20, 1); }
#endif

// A small hot key range: writers insert, overwrite and erase the same keys,
// so blocks are freed and reused at once while readers hold their
// references; a reader must never return a value that does not encode its
// key (the reclamation rule, checked under ASan and TSan).
TEST(RhStress, HotKeysBlockReuse) {
  Fresh f(16, 9);
  ASSERT_TRUE(f.ok);
  RhMap& m = f.m;
  constexpr int kOps = kHotOps;
  std::vector<int> failures(4, 0);
  auto worker = [&](int t) {
    std::mt19937_64 rng(t);
    for (int i = 1; i <= kOps; ++i) {
      std::uint64_t k = 1 + rng() % 24, v = 0;
      unsigned r = rng() % 8;
      if (t >= 2 || r >= 4) {
        Status s = m.find(k, &v);
        if (s == Status::ok ? (v >> 20) != k : s != Status::not_found) failures[t]++;
      } else if (r < 2) {
        if (m.insert_or_assign(k, value_for(k, i)) != Status::ok) failures[t]++;
      } else {
        Status s = m.erase(k);
        if (s != Status::ok && s != Status::not_found) failures[t]++;
      }
    }
  };
  run_threads([&] { worker(0); }, [&] { worker(1); }, [&] { worker(2); }, [&] { worker(3); });
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
}

// join() while a peer resizes: join checks that the table's directory and
// segments are allocator objects of their tags and sizes, and a resize
// frees the old table right after it publishes the new one, so a join can
// meet a freed segment. It must look again (at the new table) instead of
// calling the map damaged: every join succeeds, and each joined handle
// finds the permanent key.
TEST(RhStress, JoinWhileAPeerResizes) {
  Fresh f(16, 12);
  ASSERT_TRUE(f.ok);
  ASSERT_EQ(f.m.insert(~std::uint64_t{0}, 7), Status::ok);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> joins{0};
  std::vector<std::string> failures;
  // Up to 2^21 slots (32 segments, a longer check) and back, twice; under
  // the sanitizers kSlice keys (2^16 slots under ASan, 2^14 under TSan:
  // one segment).
  const std::uint64_t keys = kSlice < 60000 ? kSlice : std::uint64_t{1} << 20;
  auto resizer = [&] {
    for (int r = 0; r < 2; ++r) {
      for (std::uint64_t k = 0; k < keys; ++k)
        if (f.m.insert(k, k) != Status::ok) failures.push_back("insert");
      for (std::uint64_t k = 0; k < keys; ++k)
        if (f.m.erase(k) != Status::ok) failures.push_back("erase");
    }
    done.store(true);
  };
  std::string joiner_failure;
  auto joiner = [&] {
    while (!done.load()) {
      RhMap j;
      std::string why;
      std::uint64_t v = 0;
      const Status s = RhMap::join(f.a, f.off, &j, &why);
      if (s != Status::ok && joiner_failure.empty()) joiner_failure = std::string(to_string(s)) + ": " + why;
      if (s == Status::ok && (j.find(~std::uint64_t{0}, &v) != Status::ok || v != 7) && joiner_failure.empty())
        joiner_failure = "the joined handle lost the permanent key";
      joins.fetch_add(1);
    }
  };
  run_threads(resizer, joiner);
  EXPECT_TRUE(failures.empty()) << failures.size() << " writes failed, the first: " << failures[0];
  EXPECT_EQ(joiner_failure, "") << "after " << joins.load() << " joins";
  std::printf("JoinWhileAPeerResizes: %llu joins\n", static_cast<unsigned long long>(joins.load()));
  std::string why;
  EXPECT_EQ(f.m.verify(&why), Status::ok) << why;
}

// Byte strings: a hot set of keys whose values change length on every write
// (so each assign puts a new block in the slot and frees the old one, which
// the next write may get back), while writer 0 also grows and shrinks the
// table with batches of other keys. Every value a reader gets must be one
// that was written for its key, whole: its first 8 bytes name the write,
// which fixes its length and every other byte.
std::string bytes_key(std::uint64_t n) { return "hot-" + std::string(n % 40, char('a' + n % 26)) + std::to_string(n); }
std::string bytes_value(std::uint64_t n, std::uint64_t gen) {
  std::string v(8 + (gen * 37 + n) % 300, '\0');
  std::uint64_t tag = n << 40 | gen;
  std::memcpy(v.data(), &tag, 8);
  for (std::size_t i = 8; i < v.size(); ++i) v[i] = char(n * 31 + gen * 7 + i);
  return v;
}

TEST(RhStress, BytesValuesNeverTorn) {
  Fresh f(4, 11, kRhBytes);
  ASSERT_TRUE(f.ok);
  RhMap& m = f.m;
  constexpr std::uint64_t kHot = 32;
  const int ops = kHotOps / 4;
  std::vector<int> failures(4, 0);
  std::atomic<int> writers_left{2};
  auto check_read = [&](std::uint64_t n, int t) {
    const std::string k = bytes_key(n);
    char buf[400];
    std::uint64_t sz = 0, tag = 0;
    Status s = m.find(RhBytes{k.data(), k.size()}, buf, sizeof buf, &sz);
    if (s == Status::not_found) return;
    if (s != Status::ok || sz < 8) {
      failures[t]++;
      return;
    }
    std::memcpy(&tag, buf, 8);
    if (tag >> 40 != n || bytes_value(n, tag & 0xffffffffffULL) != std::string(buf, sz)) failures[t]++;
  };
  auto writer = [&](int t) {
    std::mt19937_64 rng(t + 1);
    for (int i = 1; i <= ops; ++i) {
      std::uint64_t n = rng() % kHot;
      const std::string k = bytes_key(n), v = bytes_value(n, std::uint64_t(i) << 1 | t);
      switch (rng() % 4) {
        case 0: case 1:
          if (m.insert_or_assign(RhBytes{k.data(), k.size()}, RhBytes{v.data(), v.size()}) != Status::ok)
            failures[t]++;
          break;
        case 2: {
          Status s = m.erase(RhBytes{k.data(), k.size()});
          if (s != Status::ok && s != Status::not_found) failures[t]++;
          break;
        }
        default:
          check_read(n, t);
      }
      if (t == 0 && i % 2000 == 0) {  // grow, then shrink, under the readers
        for (int pass = 0; pass < 2; ++pass)
          for (std::uint64_t x = 0; x < 600; ++x) {
            const std::string fk = "fill-" + std::to_string(x);
            Status s = pass == 0 ? m.insert(RhBytes{fk.data(), fk.size()}, RhBytes{fk.data(), fk.size()})
                                 : m.erase(RhBytes{fk.data(), fk.size()});
            if (s != Status::ok) failures[t]++;
          }
      }
    }
    writers_left.fetch_sub(1);
  };
  auto reader = [&](int t) {
    std::mt19937_64 rng(t + 1);
    while (writers_left.load() > 0) check_read(rng() % kHot, t);
  };
  run_threads([&] { writer(0); }, [&] { writer(1); }, [&] { reader(2); }, [&] { reader(3); });
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  EXPECT_GT(m.resizes(), 2u);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  ASSERT_EQ(m.destroy(), Status::ok);
  AllocStats st;
  ASSERT_EQ(f.a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 0u);  // every replaced block was freed, none twice
}

// Multimap snapshots: key K holds exactly three values while writers add and
// erase many other keys (robin-hood shifts through K's run, resizes): every
// lock-free values() call must return exactly K's three values (never one
// twice, from an entry seen in both of its slots mid-shift, never one missed).
// The windows are a few instructions wide, so this run rarely hits them; the
// sharp check is the Relacy model multi_snapshot_2t (and planted bug 14).
// BytesMultimapSnapshotsUnderShifts (last) is the same for byte strings.
TEST(RhStress, MultimapSnapshotsUnderShifts) {
  Fresh f(4, 5, kRhMultimap);
  ASSERT_TRUE(f.ok);
  RhMap& m = f.m;
  constexpr std::uint64_t kKey = 1ull << 50;
  for (std::uint64_t v : {1, 2, 3}) ASSERT_EQ(m.insert_multi(kKey, v), Status::ok);
  constexpr std::uint64_t kKeys = kMultiKeys;
  std::atomic<int> writers_left{2};
  std::vector<int> failures(4, 0);
  auto writer = [&](int t) {
    for (int round = 0; round < 3; ++round) {
      for (std::uint64_t n = 0; n < kKeys; ++n)
        if (m.insert_multi(std::uint64_t(t) << 32 | n % (kKeys / 3), n) != Status::ok) failures[t]++;
      for (std::uint64_t n = 0; n < kKeys / 3; ++n)
        if (m.erase_all(std::uint64_t(t) << 32 | n) != Status::ok) failures[t]++;
    }
    writers_left.fetch_sub(1);
  };
  auto reader = [&](int r) {
    std::uint64_t vals[8], n = 0;
    while (writers_left.load() > 0) {
      if (m.values(kKey, vals, 8, &n) != Status::ok || n != 3) {
        failures[r]++;
        continue;
      }
      std::sort(vals, vals + 3);
      if (vals[0] != 1 || vals[1] != 2 || vals[2] != 3) failures[r]++;
    }
  };
  run_threads([&] { writer(0); }, [&] { writer(1); }, [&] { reader(2); }, [&] { reader(3); });
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.size(), 3u);
}

// The same for a multimap of byte strings: key K holds three values of
// different lengths while writers add many values to other keys and erase
// them again (shifts through K's run, resizes, bytes blocks freed and
// reused at once): every values(K) returns exactly K's three values, whole.
TEST(RhStress, BytesMultimapSnapshotsUnderShifts) {
  Fresh f(4, 7, kRhMultimap | kRhBytes);
  ASSERT_TRUE(f.ok);
  RhMap& m = f.m;
  const std::string key = "the-key-of-three";
  const std::vector<std::string> want = {"", "one", std::string(100, 'z')};
  for (const std::string& v : want) ASSERT_EQ(m.insert_multi(RhBytes{key.data(), key.size()}, RhBytes{v.data(), v.size()}), Status::ok);
  const std::uint64_t keys = kMultiKeys / 4;
  std::atomic<int> writers_left{2};
  std::vector<int> failures(4, 0);
  auto writer = [&](int t) {
    for (int round = 0; round < 3; ++round) {
      for (std::uint64_t n = 0; n < keys; ++n) {
        const std::string k = "w" + std::to_string(t) + "-" + std::to_string(n % (keys / 3)), v(n % 50, 'v');
        if (m.insert_multi(RhBytes{k.data(), k.size()}, RhBytes{v.data(), v.size()}) != Status::ok) failures[t]++;
      }
      for (std::uint64_t n = 0; n < keys / 3; ++n) {
        const std::string k = "w" + std::to_string(t) + "-" + std::to_string(n);
        if (m.erase_all(RhBytes{k.data(), k.size()}) != Status::ok) failures[t]++;
      }
    }
    writers_left.fetch_sub(1);
  };
  auto reader = [&](int r) {
    std::vector<std::string> got;
    while (writers_left.load() > 0) {
      if (m.values(RhBytes{key.data(), key.size()}, &got) != Status::ok) {
        failures[r]++;
        continue;
      }
      std::sort(got.begin(), got.end());
      if (got != want) failures[r]++;
    }
  };
  run_threads([&] { writer(0); }, [&] { writer(1); }, [&] { reader(2); }, [&] { reader(3); });
  for (int t = 0; t < 4; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  EXPECT_GT(m.resizes(), 2u);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.size(), 3u);
  ASSERT_EQ(m.destroy(), Status::ok);
  AllocStats st;
  ASSERT_EQ(f.a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 0u);  // every erased block was freed, none twice
}

}  // namespace
}  // namespace mb
