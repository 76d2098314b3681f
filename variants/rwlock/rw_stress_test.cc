// Threads on one RwMap (ThreadSanitizer runs this with no suppressions):
//   OwnSlicesExact  writers own key slices (t << 24 | n) and keep a private
//                   reference, readers check that every value they see
//                   encodes its key, a viewer takes the read lock (for_each,
//                   get_multi); at the end each slice matches exactly.
//   LruUnderThreads lock-free accessed bits against evicting writers.
//   CountersNeverLoseAnAdd  incrementers (the read-lock fast path) against
//                   a thread that takes the counters away (remove + return)
//                   and grows the table: every increment is either in a
//                   taken value or in the final one.
//   CountersWithOneReaderSlot  two incrementers, one reader slot: the
//                   one without it takes the write-lock path; sums exact.
//   NoTornReads     one writer alternates a key's value between lengths 8,
//                   24, 40 and 200 (inline and arena); readers never see a
//                   value whose bytes and length disagree.
//   BatchesAreAtomic  a writer sets three keys to one value with put_multi
//                   and removes them with remove_multi; readers' get_multi
//                   and for_each see all three equal, or all three absent.
//   CursorEndsUnderASteadyWriter  a cursor walks a large, nearly empty
//                   table while the seq moves as under a steady writer:
//                   it reaches the end, seeing every key once.
//   RehashInPlaceUnderReaders  two writers churn their own keys in a table
//                   at its hard maximum (so tombstones are rehashed in
//                   place, entries moving back along their probe paths)
//                   while two readers check every value they see; each
//                   writer's keys match its reference at the end.
//   JoinSeesOneSnapshotWhileAWriterResizes  joins of the map while a
//                   writer grows, shrinks and allocates arena blocks are
//                   all accepted.
//   WriteLocksAreKnownToThreadSanitizer  (TSan builds) two maps' write
//                   locks taken in opposite orders are reported as a
//                   lock-order inversion: TSan sees the lock through its
//                   annotations (the test fails with them compiled out).
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"
#include "variants/rwlock/rw_map.h"
#include "variants/rwlock/internal/rw_test_util.h"
#include "variants/rwlock/rw_store.h"

namespace mb {
namespace {

using rw_test::seed_from_env;

#if defined(MB_SANITIZER)
constexpr int kOps = 20000;
#else
constexpr int kOps = 200000;
#endif

RwParams params() {
  RwParams p;
  p.cap_init = 8;
  p.cap_max = std::uint64_t{1} << 18;
  p.arena_max = std::uint64_t{1} << 26;
  return p;
}

RwStore::Ptr anon_store(const RwParams& p) {
  RwStore::Ptr st;
  EXPECT_EQ(RwStore::create_anon(p, &st), Status::ok);
  return st;
}

// Values carry their key in the high half; versions and increments stay in
// the low half (fewer than 2^32 of them).
constexpr std::uint64_t value_for(std::uint64_t k, std::uint64_t ver) { return k << 32 | ver; }

// join() while a writer in the same memory grows and shrinks the table and
// bump-allocates and frees arena blocks: every join of the sound map is
// accepted (it checks its header words as one seqlock snapshot; loaded one
// by one, a retired table could overlap the table word loaded before its
// publish, about one join in 2600 before the fix).
TEST(RwStress, JoinSeesOneSnapshotWhileAWriterResizes) {
  RwParams p = params();
  p.cap_max = 1 << 12;
  RwStore::Ptr st = anon_store(p);
  ASSERT_TRUE(st);
  RwMap& m = st->map();
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    const std::string big(40, 'x');
    for (std::uint64_t base = 0; !stop.load(); base += 1000) {
      for (std::uint64_t k = 0; k < 100; ++k) m.put(base + k, k);  // grows
      for (std::uint64_t k = 0; k < 100; ++k) m.remove(base + k);  // shrinks
      const std::uint64_t key = std::uint64_t{1} << 40 | base;
      m.put(RwBytes{&key, 8}, RwBytes{big.data(), big.size()});  // an arena block
      m.remove(RwBytes{&key, 8});
    }
  });
  std::uint64_t joins = 0, refused = 0;
  std::string first_why;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < end) {
    RwMap other;
    std::string why;
    ++joins;
    if (RwMap::join(st->region().base(), st->region().user_off(), st->region().size(), nullptr, nullptr, &other,
                    &why) != Status::ok && refused++ == 0)
      first_why = why;
  }
  stop = true;
  writer.join();
  EXPECT_EQ(refused, 0u) << "of " << joins << " joins; first: " << first_why;
  EXPECT_GT(m.stats().grows, 1u);
  EXPECT_GT(m.stats().shrinks, 1u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RwStress, RehashInPlaceUnderReaders) {
  RwParams p = params();
  p.cap_max = 1024;
  RwStore::Ptr st = anon_store(p);
  ASSERT_NE(st, nullptr);
  RwMap& m = st->map();
  const std::uint64_t seed = seed_from_env();
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::unordered_map<std::uint64_t, std::uint64_t>> refs(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      auto& ref = refs[t];
      for (int i = 0; i < kOps || (m.stats().rehashes < 2 && i < 10 * kOps); ++i) {  // at least 2 rehashes
        std::uint64_t k = std::uint64_t(t + 1) << 24 | rng() % 500, v = value_for(k, i);
        if (rng() % 2 == 0) {
          // 1000 keys in all, 75% of 1024 holds 768: a put of a new key may
          // find the map full (then nothing changed); churn keeps about
          // half of the keys live, so tombstones pile up and are rehashed.
          Status s = m.put(k, v);
          if (s == Status::ok) ref[k] = v;
          else if (s != Status::full) ++bad;
        } else if (m.remove(k) != (ref.erase(k) ? Status::ok : Status::not_found)) {
          ++bad;
        }
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + 100 + t);
      while (!stop.load(std::memory_order_relaxed)) {
        std::uint64_t k = std::uint64_t(1 + rng() % 2) << 24 | rng() % 500, v = 0;
        Status s = m.get(k, &v);
        if ((s == Status::ok && (v >> 32) != k) || (s != Status::ok && s != Status::not_found)) ++bad;
      }
    });
  }
  threads[0].join();
  threads[1].join();
  stop = true;
  threads[2].join();
  threads[3].join();
  EXPECT_EQ(bad.load(), 0);
  std::printf("in-place rehashes: %llu\n", static_cast<unsigned long long>(m.stats().rehashes));
  EXPECT_GT(m.stats().rehashes, 0u);
  EXPECT_EQ(m.capacity(), 1024u);
  for (auto& ref : refs)
    for (auto& [k, v] : ref) {
      std::uint64_t got = 0;
      ASSERT_EQ(m.get(k, &got), Status::ok) << k;
      ASSERT_EQ(got, v) << k;
    }
  EXPECT_EQ(m.size(), refs[0].size() + refs[1].size());
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RwStress, OwnSlicesExact) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
  RwMap& m = st->map();
  const std::uint64_t seed = seed_from_env();
  constexpr int kWriters = 2;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::unordered_map<std::uint64_t, std::uint64_t>> refs(kWriters);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      auto& ref = refs[t];
      for (int i = 0; i < kOps; ++i) {
        std::uint64_t k = std::uint64_t(t + 1) << 24 | rng() % 2000, v = value_for(k, i), r = 0;
        switch (rng() % 4) {
          case 0: if (m.put(k, v) != Status::ok) ++bad; ref[k] = v; break;
          case 1: if (m.remove(k) != (ref.erase(k) ? Status::ok : Status::not_found)) ++bad; break;
          case 2: if (m.add(k, v) != (ref.count(k) ? Status::exists : Status::ok)) ++bad; ref.emplace(k, v); break;
          default:
            if (ref.count(k) && m.incr_by(k, 1, &r) == Status::ok && r == ref[k] + 1) ref[k] = r;
            else if (ref.count(k)) ++bad;
        }
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + 100 + t);
      std::uint64_t keys[8], vals[8];
      bool found[8];
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        if (t == 1 && i % 64 == 0) {  // the read lock: a consistent multi-key view
          for (auto& k : keys) k = std::uint64_t(1 + rng() % kWriters) << 24 | rng() % 2000;
          if (m.get_multi(keys, 8, vals, found) != Status::ok) ++bad;
          for (int j = 0; j < 8; ++j)
            if (found[j] && vals[j] >> 32 != keys[j]) ++bad;
          continue;
        }
        std::uint64_t k = std::uint64_t(1 + rng() % kWriters) << 24 | rng() % 2000, v = 0;
        Status s = m.get(k, &v);
        if (s == Status::ok && (v >> 32) != k) ++bad;
        if (s != Status::ok && s != Status::not_found) ++bad;
      }
    });
  }
  for (int t = 0; t < kWriters; ++t) threads[t].join();
  stop = true;
  for (std::size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(bad.load(), 0);
  std::uint64_t total = 0;
  for (auto& ref : refs) {
    total += ref.size();
    for (auto& [k, v] : ref) {
      std::uint64_t got = 0;
      ASSERT_EQ(m.get(k, &got), Status::ok) << k;
      ASSERT_EQ(got, v) << k;
    }
  }
  EXPECT_EQ(m.size(), total);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// LRU under threads: lookups set accessed bits without the lock while
// writers evict; values still encode their keys and the size stays bounded.
TEST(RwStress, LruUnderThreads) {
  RwParams p = params();
  p.lru_max = 500;
  RwStore::Ptr st = anon_store(p);
  RwMap& m = st->map();
  const std::uint64_t seed = seed_from_env();
  std::atomic<int> bad{0}, writers_left{2};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      for (int i = 0; t < 2 ? i < kOps / 4 : writers_left.load() > 0; ++i) {
        std::uint64_t k = rng() % 2000, v = 0;
        if (t < 2) {
          if (m.put(k, value_for(k, i)) != Status::ok) ++bad;
        } else {
          Status s = m.get(k, &v);
          if (s == Status::ok ? v >> 32 != k : s != Status::not_found) ++bad;
        }
      }
      if (t < 2) --writers_left;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_LE(m.size(), 500u);
  EXPECT_GT(m.stats().evictions, 0u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RwStress, CountersNeverLoseAnAdd) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
  RwMap& m = st->map();
  constexpr std::uint64_t kCounters = 16;
  constexpr int kIncrementers = 2;
  const std::uint64_t seed = seed_from_env();
  std::atomic<int> bad{0}, left{kIncrementers};
  std::atomic<std::uint64_t> taken{0}, takes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kIncrementers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      for (int i = 0; i < kOps / 2; ++i) {
        std::uint64_t r = 0;
        if (m.incr(rng() % kCounters, &r) != Status::ok || r == 0) ++bad;
      }
      // The taker may start late (a busy machine ran all increments before
      // it ran once): stay counted as running until it has taken a counter
      // (at most 10 s), so that takes > 0 below holds on any schedule.
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (takes.load() == 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
      --left;
    });
  }
  threads.emplace_back([&] {
    std::mt19937_64 rng(seed + 100);
    for (std::uint64_t i = 0; left.load() > 0; ++i) {
      std::uint64_t v = 0;
      Status s = m.take(rng() % kCounters, &v);
      if (s == Status::ok) {
        taken += v;
        ++takes;
      } else if (s != Status::not_found) {
        ++bad;
      }
      // Other keys grow the table (a rebuild moves every counter) and are
      // removed again (shrinks, tombstones).
      std::uint64_t other = 1000 + i % 4096;
      if (i % 8192 < 4096) {
        if (m.put(other, other) != Status::ok) ++bad;
      } else if (m.remove(other) != Status::ok) {
        ++bad;
      }
    }
  });
  for (auto& t : threads) t.join();
  std::uint64_t in_map = 0;
  for (std::uint64_t k = 0; k < kCounters; ++k) {
    std::uint64_t v = 0;
    if (m.get(k, &v) == Status::ok) in_map += v;
  }
  std::printf("%llu takes, %llu increments taken away, %llu left in the map\n",
              static_cast<unsigned long long>(takes.load()), static_cast<unsigned long long>(taken.load()),
              static_cast<unsigned long long>(in_map));
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(taken.load() + in_map, std::uint64_t{kIncrementers} * (kOps / 2));
  EXPECT_GT(takes.load(), 0u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// One reader slot for two incrementers: whoever finds it taken falls back
// to the write lock; the sums stay exact.
TEST(RwStress, CountersWithOneReaderSlot) {
  RwParams p = params();
  p.reader_slots = 1;
  RwStore::Ptr st = anon_store(p);
  RwMap& m = st->map();
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOps / 4; ++i) {
        std::uint64_t r = 0;
        if (m.incr(std::uint64_t(i + t) % 4, &r) != Status::ok) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::uint64_t sum = 0;
  for (std::uint64_t k = 0; k < 4; ++k) {
    std::uint64_t v = 0;
    ASSERT_EQ(m.get(k, &v), Status::ok);
    sum += v;
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(sum, std::uint64_t{2} * (kOps / 4));
  EXPECT_EQ(m.lock().word(), 0u);
}

TEST(RwStress, BatchesAreAtomic) {
  auto st = anon_store(params());
  RwMap& m = st->map();
  const std::uint64_t keys[3] = {11, 22, 33};
  for (std::uint64_t k = 100; k < 200; ++k) ASSERT_EQ(m.put(k, k), Status::ok);  // bystanders
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> mixed{0}, views{0};
  std::thread writer([&] {
    for (std::uint64_t i = 1; i <= std::uint64_t(kOps); ++i) {
      const std::uint64_t v[3] = {i, i, i};
      if (m.put_multi(keys, v, 3) != Status::ok) std::abort();
      if (i % 4 == 0) {
        std::uint64_t removed = 0;
        if (m.remove_multi(keys, 3, &removed) != Status::ok || removed != 3) std::abort();
      }
    }
    stop = true;
  });
  auto reader = [&](bool iterate) {
    while (!stop) {
      std::uint64_t v[3] = {0, 0, 0};
      bool found[3] = {false, false, false};
      if (iterate) {
        struct Seen {
          const std::uint64_t* keys;
          std::uint64_t* v;
          bool* found;
        } seen{keys, v, found};
        if (m.for_each([](void* ctx, RwBytes key, RwBytes val) {
              auto* s = static_cast<Seen*>(ctx);
              std::uint64_t k = 0;
              std::memcpy(&k, key.data, 8);
              for (int j = 0; j < 3; ++j)
                if (k == s->keys[j]) s->found[j] = true, std::memcpy(&s->v[j], val.data, 8);
            }, &seen) != Status::ok)
          std::abort();
      } else if (m.get_multi(keys, 3, v, found) != Status::ok) {
        std::abort();
      }
      const bool all = found[0] && found[1] && found[2], none = !found[0] && !found[1] && !found[2];
      if (!(all && v[0] == v[1] && v[1] == v[2]) && !none) ++mixed;
      ++views;
    }
  };
  std::thread r1(reader, false), r2(reader, true);
  writer.join();
  r1.join();
  r2.join();
  std::printf("views %llu\n", (unsigned long long)views.load());
  EXPECT_EQ(mixed.load(), 0u);
  EXPECT_GT(views.load(), 0u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// Each next() scans from the cursor to the next full slot under one
// seqlock read. Attempts the seq rejects used to start over from the
// cursor, so a long empty stretch was never crossed while writes kept
// coming. A thread here moves the seq as a steady writer does (an odd
// and an even store per write section, about one section a microsecond,
// nothing else changed): the walk over 2^20 slots must end within 10 s
// (measured: 20 s with the old next(), 3 ms with the new one) and see
// every key exactly once.
TEST(RwStress, CursorEndsUnderASteadyWriter) {
  RwParams p = params();
  p.cap_max = std::uint64_t{1} << 20;
  p.arena_max = std::uint64_t{1} << 28;
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(p, &st), Status::ok);
  RwMap& m = st->map();
  ASSERT_EQ(m.reserve(std::uint64_t{1} << 19), Status::ok);  // 2^20 slots (64 MiB), nearly all empty
  for (std::uint64_t k = 1; k <= 3; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  sync::Ref<std::uint64_t> seq = sync::word(st->region().base(), st->region().user_off() + 8 * kRwSeqWord);
  std::atomic<bool> stop{false};
  std::atomic<long> sections{0};
  std::thread writer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const std::uint64_t s0 = seq.load_relaxed();
      seq.store_relaxed(s0 + 1);  // odd: a section begins
      seq.store_release(s0 + 2);  // even: it ends
      sections.fetch_add(1, std::memory_order_relaxed);
      const auto t = std::chrono::steady_clock::now();
      while (std::chrono::steady_clock::now() - t < std::chrono::microseconds(1)) {
      }
    }
  });
  while (sections.load(std::memory_order_relaxed) < 100) std::this_thread::yield();
  const auto t0 = std::chrono::steady_clock::now();
  const long before = sections.load(std::memory_order_relaxed);
  RwMap::Cursor c;
  std::uint64_t k = 0, v = 0, ksz = 0, vsz = 0, sum = 0, entries = 0;
  Status s = Status::ok;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10) &&
         (s = m.next(&c, &k, 8, &ksz, &v, 8, &vsz)) == Status::ok) {
    ++entries;
    sum += k;
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long during = sections.load(std::memory_order_relaxed) - before;
  stop = true;
  writer.join();
  std::printf("walk: %.6f s, %ld write sections meanwhile, %u cpus\n", sec, during, std::thread::hardware_concurrency());
  EXPECT_EQ(s, Status::not_found);  // the end, not the time limit
  EXPECT_EQ(entries, 3u);
  EXPECT_EQ(sum, 6u);  // keys 1, 2, 3 once each
}

TEST(RwStress, NoTornReads) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(params(), &st), Status::ok);
  RwMap& m = st->map();
  const std::string key = "the key";
  const std::size_t lens[] = {8, 24, 40, 200};
  ASSERT_EQ(m.put(RwBytes{key.data(), key.size()}, RwBytes{"aaaaaaaa", 8}), Status::ok);
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, torn{0};
  std::thread writer([&] {
    // Run until the readers have had their share of the writes.
    for (int i = 0; i < kOps / 4 || reads.load(std::memory_order_relaxed) < kOps / 4; ++i) {
      std::string v(lens[i % 4], char('a' + i % 4));
      // Other keys move the table (grows) under the readers now and then.
      if (i % 50 == 0) m.put(std::uint64_t(i), std::uint64_t(i));
      if (m.put(RwBytes{key.data(), key.size()}, RwBytes{v.data(), v.size()}) != Status::ok) ++torn;
    }
    stop = true;
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      char buf[256];
      while (!stop.load(std::memory_order_relaxed)) {
        std::uint64_t sz = 0;
        if (m.get(RwBytes{key.data(), key.size()}, buf, sizeof buf, &sz) != Status::ok) {
          ++torn;
          continue;
        }
        char c = buf[0];
        bool ok = c >= 'a' && c <= 'd' && sz == lens[c - 'a'];
        for (std::uint64_t j = 0; ok && j < sz; ++j) ok = buf[j] == c;
        if (!ok) ++torn;
        ++reads;
      }
    });
  }
  writer.join();
  for (auto& r : readers) r.join();
  std::printf("%ld reads, %ld torn\n", reads.load(), torn.load());
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

#if defined(__SANITIZE_THREAD__)
// The write lock tells ThreadSanitizer about itself (the __tsan_mutex_*
// annotations in rw_lock.cc): two maps' write locks taken in opposite
// orders, by one thread after the other (nothing deadlocks), are reported
// as a lock-order inversion. Without the annotations TSan sees only the
// lock word's atomics and reports nothing. In a forked child: TSan's exit
// code (66, halt_on_error) is the verdict; 3 is a setup failure, 0 no
// report.
TEST(RwTsan, WriteLocksAreKnownToThreadSanitizer) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    RwStore::Ptr a, b;
    if (RwStore::create_anon(params(), &a) != Status::ok || RwStore::create_anon(params(), &b) != Status::ok) _exit(3);
    auto both = [](const RwLock& first, const RwLock& second) {
      first.write_lock();
      second.write_lock();
      second.write_unlock();
      first.write_unlock();
    };
    std::thread t1([&] { both(a->map().lock(), b->map().lock()); });
    t1.join();
    std::thread t2([&] { both(b->map().lock(), a->map().lock()); });
    t2.join();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 66) << "no lock-order inversion reported: TSan does not see the write lock";
}
#endif

}  // namespace
}  // namespace mb
