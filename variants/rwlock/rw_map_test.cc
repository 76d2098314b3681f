// Unit tests of RwMap (rw_map.h) and RwStore (rw_store.h): the shared
// conformance suite, an oracle test of every extra operation against
// std::unordered_map, sizes and limits, growth and rehash, iteration, and
// opening bad files (which must stay byte-identical).
#include "variants/rwlock/rw_map.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "models/map_conformance.h"
#include "variants/rwlock/internal/rw_test_util.h"
#include "variants/rwlock/rw_store.h"

namespace mb {
namespace {

using rw_test::seed_from_env;
using rw_test::slurp;
using rw_test::spit;
using rw_test::temp_path;

RwParams small_params(std::uint64_t cap_max = std::uint64_t{1} << 16) {
  RwParams p;
  p.cap_init = 8;  // start tiny: the suites force many grows
  p.cap_max = cap_max;
  p.arena_max = std::uint64_t{1} << 26;
  return p;
}

struct RwHarness {
  using Map = RwMap;
  RwHarness() {
    std::string why;
    EXPECT_EQ(RwStore::create_anon(small_params(), &store, &why), Status::ok) << why;
  }
  RwMap& map() { return store->map(); }
  RwStore::Ptr store;
};

INSTANTIATE_TYPED_TEST_SUITE_P(RwLock, MapConformance, ::testing::Types<RwHarness>);

// The map's header words (rw_map.h, LAYOUT), for tests that damage them.
std::uint64_t* header_words(RwHarness& h) {
  return h.store->region().at<std::uint64_t>(h.store->region().user_off());
}

RwBytes str(const std::string& s) { return RwBytes{s.data(), s.size()}; }

std::string get_str(RwMap& m, const std::string& k, Status* s, std::size_t cap = 4096) {
  std::vector<char> buf(cap);
  std::uint64_t sz = 0;
  *s = m.get(str(k), buf.data(), buf.size(), &sz);
  return *s == Status::ok ? std::string(buf.data(), sz) : std::string();
}

TEST(RwMap, U64ExtraOps) {
  RwHarness h;
  RwMap& m = h.map();
  std::uint64_t v = 0, old = 0;
  bool inserted = false;
  EXPECT_EQ(m.incr(7, &v), Status::ok);
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(m.incr_by(7, 10, &v), Status::ok);
  EXPECT_EQ(v, 11u);
  EXPECT_EQ(m.decr(7, &v), Status::ok);
  EXPECT_EQ(v, 10u);
  EXPECT_EQ(m.cas(7, 9, 100), Status::exists);
  EXPECT_EQ(m.cas(7, 10, 100), Status::ok);
  EXPECT_EQ(m.cas(8, 0, 1), Status::not_found);
  EXPECT_EQ(m.swap(7, 5, &old), Status::ok);
  EXPECT_EQ(old, 100u);
  EXPECT_EQ(m.swap(9, 90, &old), Status::not_found);  // inserted anyway
  EXPECT_TRUE(m.exists(9));
  EXPECT_EQ(m.get_or_set(9, 1, &v, &inserted), Status::ok);
  EXPECT_EQ(v, 90u);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(m.get_or_set(10, 1, &v, &inserted), Status::ok);
  EXPECT_EQ(v, 1u);
  EXPECT_TRUE(inserted);
  EXPECT_EQ(m.take(9, &v), Status::ok);
  EXPECT_EQ(v, 90u);
  EXPECT_FALSE(m.exists(9));
  EXPECT_EQ(m.take(9, &v), Status::not_found);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.verify(), Status::ok);
}

// u64 keys with byte-string values and the reverse: the same entries as
// the byte-string calls see (a u64 is its 8-byte little-endian string).
TEST(RwMap, MixedKeyAndValueTypes) {
  RwHarness h;
  RwMap& m = h.map();
  ASSERT_EQ(m.put(std::uint64_t{7}, str("hello")), Status::ok);
  char buf[16];
  std::uint64_t sz = 0, v = 99;
  ASSERT_EQ(m.get(std::uint64_t{7}, buf, sizeof buf, &sz), Status::ok);
  EXPECT_EQ(std::string(buf, sz), "hello");
  std::uint64_t seven = 7;
  ASSERT_EQ(m.get(RwBytes{&seven, 8}, buf, sizeof buf, &sz), Status::ok);  // the same entry
  EXPECT_EQ(std::string(buf, sz), "hello");
  EXPECT_EQ(m.get(std::uint64_t{7}, &v), Status::invalid);  // 5 bytes, not a u64
  EXPECT_EQ(m.get(std::uint64_t{7}, buf, 4, &sz), Status::invalid);  // too small a buffer
  EXPECT_EQ(sz, 5u);
  ASSERT_EQ(m.put(str("count"), std::uint64_t{42}), Status::ok);
  ASSERT_EQ(m.get(str("count"), &v), Status::ok);
  EXPECT_EQ(v, 42u);
  ASSERT_EQ(m.get(str("count"), buf, sizeof buf, &sz), Status::ok);
  ASSERT_EQ(sz, 8u);
  std::uint64_t le = 0;
  std::memcpy(&le, buf, 8);
  EXPECT_EQ(le, 42u);
  std::uint64_t inc = 0;
  ASSERT_EQ(m.incr_by(str("count"), 8, &inc), Status::ok);  // a counter like any other
  EXPECT_EQ(inc, 50u);
  ASSERT_EQ(m.put(str("text"), str("a longer value")), Status::ok);
  v = 99;
  EXPECT_EQ(m.get(str("text"), &v), Status::invalid);
  EXPECT_EQ(m.get(str("short"), &v), Status::not_found);
  EXPECT_EQ(v, 99u);  // untouched by both
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m.verify(), Status::ok);
}

// The u64 calls meet a value of another size: Status::invalid, and the
// ones that write (swap, take) change nothing (they used to remove or
// replace the value first and then say invalid).
TEST(RwMap, U64CallsOnAnotherSizeChangeNothing) {
  RwHarness h;
  RwMap& m = h.map();
  const std::string long_val(100, 'x');  // in the arena
  for (const std::string& val : {std::string("abc"), long_val}) {
    ASSERT_EQ(m.put(std::uint64_t{7}, str(val)), Status::ok);
    std::uint64_t v = 99;
    bool inserted = true;
    EXPECT_EQ(m.take(7, &v), Status::invalid);
    EXPECT_EQ(m.swap(7, 5, &v), Status::invalid);
    EXPECT_EQ(m.get_or_set(7, 5, &v, &inserted), Status::invalid);
    EXPECT_FALSE(inserted);
    std::uint64_t keys[2] = {7, 8}, vals[2] = {0, 0};
    bool found[2] = {true, true};
    ASSERT_EQ(m.put(8, 80), Status::ok);
    EXPECT_EQ(m.get_multi(keys, 2, vals, found), Status::invalid);
    EXPECT_FALSE(found[0]);
    EXPECT_TRUE(found[1] && vals[1] == 80);
    Status s = Status::ok;
    EXPECT_EQ(get_str(m, std::string(reinterpret_cast<const char*>(&keys[0]), 8), &s), val);
    EXPECT_EQ(s, Status::ok);
    EXPECT_EQ(m.size(), 2u);
    std::string why;
    EXPECT_EQ(m.verify(&why), Status::ok) << why;
  }
}

// A size word damaged low makes a shrink pick a table too small for the
// entries: the rebuild says corrupt (it used to probe forever holding the
// write lock) and the old table stays, with every entry.
TEST(RwMap, DamagedSizeCannotHangAShrink) {
  RwHarness h;
  RwMap& m = h.map();
  for (std::uint64_t k = 0; k < 300; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  const std::uint64_t cap = m.capacity();
  ASSERT_EQ(cap, 512u);
  std::uint64_t* hdr = header_words(h);
  hdr[25] = 1;  // damage: 300 entries said to be 1, so an insert shrinks into 8 slots
  EXPECT_EQ(m.put(1000, 1000), Status::ok);  // the shrink fails, the insert goes on
  EXPECT_EQ(m.capacity(), cap);
  // Damaged high, so that size * 4 wraps below the capacity and (size + 1)
  // * 2 exceeds every capacity: neither may send the shrink into a loop
  // with the write lock held (the test would hang).
  hdr[25] = (std::uint64_t{1} << 62) + 1;
  EXPECT_EQ(m.put(1001, 1001), Status::ok);
  EXPECT_EQ(m.capacity(), cap);
  hdr[25] = 302;
  std::uint64_t v = 0;
  for (std::uint64_t k = 0; k < 300; ++k) ASSERT_TRUE(m.get(k, &v) == Status::ok && v == k) << k;
  ASSERT_EQ(m.get(1000, &v), Status::ok);
  ASSERT_EQ(m.get(1001, &v), Status::ok);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// Reader bits that no slot owns (damage to the lock word: a free slot's
// bit, a bit past the map's reader slots) would hold every writer's drain
// for good (the test would hang, ended by its alarm); the drain's reclaim
// clears them, counted as reader recoveries.
TEST(RwMap, StrayReaderBitsAreCleared) {
  RwParams p = small_params();
  p.reader_slots = 8;
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(p, &st), Status::ok);
  RwMap& m = st->map();
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  std::uint64_t* hdr = st->region().at<std::uint64_t>(st->region().user_off());
  hdr[kRwLockWord] = std::uint64_t{1} << 3 | std::uint64_t{1} << 20;  // slot 3 is free; there is no slot 20
  alarm(60);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(m.put(100, 100), Status::ok);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  alarm(0);
  EXPECT_EQ(m.stats().read_recoveries, 2u);
  EXPECT_EQ(hdr[kRwLockWord], 0u);
  std::uint64_t v = 0;
  for (std::uint64_t k : {0, 9, 100}) EXPECT_TRUE(m.get(k, &v) == Status::ok && v == k) << k;
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RwMap, ByteStringsInlineAndArena) {
  RwHarness h;
  RwMap& m = h.map();
  std::string k24(24, 'k'), k25(25, 'K'), v24(24, 'v'), v25(25, 'V'), big(kRwValMax, 'b');
  big[777] = 'x';
  Status s;
  EXPECT_EQ(m.put(str(k24), str(v25)), Status::ok);
  EXPECT_EQ(m.put(str(k25), str(v24)), Status::ok);
  EXPECT_EQ(m.put(str("e"), str("")), Status::ok);
  EXPECT_EQ(m.put(str("big"), str(big)), Status::ok);
  EXPECT_EQ(get_str(m, k24, &s), v25);
  EXPECT_EQ(get_str(m, k25, &s), v24);
  EXPECT_EQ(get_str(m, "e", &s), "");
  EXPECT_EQ(s, Status::ok);
  EXPECT_EQ(get_str(m, "big", &s, kRwValMax), big);
  // Value size changes across the inline limit both ways.
  EXPECT_EQ(m.put(str(k24), str(v24)), Status::ok);
  EXPECT_EQ(get_str(m, k24, &s), v24);
  EXPECT_EQ(m.put(str(k24), str(big)), Status::ok);
  EXPECT_EQ(get_str(m, k24, &s, kRwValMax), big);
  char small[4];
  std::uint64_t sz = 0;
  EXPECT_EQ(m.get(str(k24), small, sizeof small, &sz), Status::invalid);
  EXPECT_EQ(sz, kRwValMax);
  EXPECT_EQ(m.put(str(""), str("x")), Status::invalid);
  EXPECT_EQ(m.put(str(std::string(kRwKeyMax + 1, 'k')), str("x")), Status::invalid);
  EXPECT_EQ(m.put(str("k"), str(std::string(kRwValMax + 1, 'v'))), Status::invalid);
  EXPECT_EQ(m.put(str(std::string(kRwKeyMax, 'k')), str("long key")), Status::ok);
  EXPECT_EQ(get_str(m, std::string(kRwKeyMax, 'k'), &s), "long key");
  EXPECT_EQ(m.incr_by(str(k25), 1, &sz), Status::invalid);  // not an 8-byte value
  EXPECT_EQ(m.size(), 5u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// put(u64, u64) has its own overwrite path; it must behave exactly like
// put() of the same 8-byte strings: two maps, one written each way, with
// TTLs, expiry, LRU accessed bits, 16-byte values and removals, compared
// after every step (values, sizes, expiration counts; remaining TTLs every
// fourth step), on a frozen clock that only the test moves, so both maps
// see the same seconds.
TEST(RwMap, PutU64MatchesPutOfBytes) {
  struct FrozenClock {
    std::uint64_t skew = rw_os::g_clock_skew_s;
    FrozenClock() { rw_os::g_clock_frozen_s = rw_os::now_s() - skew; }
    ~FrozenClock() {
      rw_os::g_clock_frozen_s = 0;
      rw_os::g_clock_skew_s = skew;
    }
  } frozen;
  // An overwrite counts as no lookup: after every key was read, the one
  // just overwritten is the clock's first victim, whichever put wrote it.
  for (int way = 0; way < 2; ++way) {
    for (std::uint64_t victim = 1; victim <= 4; ++victim) {
      RwParams p = small_params();
      p.lru_max = 4;
      RwStore::Ptr st;
      ASSERT_EQ(RwStore::create_anon(p, &st), Status::ok);
      RwMap& m = st->map();
      std::uint64_t v = 0;
      for (std::uint64_t k = 1; k <= 4; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
      for (std::uint64_t k = 1; k <= 4; ++k) ASSERT_EQ(m.get(k, &v), Status::ok);
      std::uint64_t nv = 100 + victim;
      ASSERT_EQ(way == 0 ? m.put(victim, nv) : m.put(RwBytes{&victim, 8}, RwBytes{&nv, 8}), Status::ok);
      ASSERT_EQ(m.put(9, 9), Status::ok);
      EXPECT_EQ(m.get(victim, &v), Status::not_found) << "way " << way << " victim " << victim;
    }
  }
  // The last map has neither LRU nor a default TTL: its get(u64) answers
  // from the straight run wherever it can.
  for (auto [lru, default_ttl] : {std::pair<std::uint64_t, std::uint64_t>{0, 30}, {24, 30}, {0, 0}}) {
    RwParams p = small_params();
    p.lru_max = lru;
    p.default_ttl = default_ttl;
    RwStore::Ptr a, b;
    ASSERT_EQ(RwStore::create_anon(p, &a), Status::ok);
    ASSERT_EQ(RwStore::create_anon(p, &b), Status::ok);
    const std::uint64_t seed = seed_from_env();
    std::mt19937_64 rng(seed);
    const std::uint64_t ttls[] = {kRwTtlDefault, 0, 5, 100};
    for (int step = 0; step < 20000; ++step) {
      std::uint64_t k = rng() % 40, v = rng(), ttl = ttls[rng() % 4];
      RwBytes kb{&k, 8};
      switch (rng() % 8) {
        case 0: case 1: case 2:
          ASSERT_EQ(a->map().put(k, v, ttl), b->map().put(kb, RwBytes{&v, 8}, ttl)) << "seed " << seed;
          break;
        case 3: {
          std::uint64_t wide[2] = {v, ~v};
          ASSERT_EQ(a->map().put(kb, RwBytes{wide, 16}), b->map().put(kb, RwBytes{wide, 16}));
          break;
        }
        case 4:
          ASSERT_EQ(a->map().remove(k), b->map().remove(k));
          break;
        case 5:
          if (rng() % 50 == 0) rw_os::g_clock_skew_s += 7;  // let some keys expire
          break;
        default: {  // reads set accessed bits in the LRU map
          std::uint64_t x[2] = {0, 0}, y[2] = {0, 0}, xs = 0, ys = 0;
          ASSERT_EQ(a->map().get(kb, x, sizeof x, &xs), b->map().get(kb, y, sizeof y, &ys));
          break;
        }
      }
      for (std::uint64_t q = 0; q < 40; ++q) {
        RwBytes qb{&q, 8};
        std::uint64_t x[2] = {0, 0}, y[2] = {0, 0}, xs = 0, ys = 0, xt = 0, yt = 0;
        ASSERT_EQ(a->map().get(qb, x, sizeof x, &xs), b->map().get(qb, y, sizeof y, &ys)) << "step " << step;
        ASSERT_EQ(xs, ys);
        ASSERT_EQ(std::memcmp(x, y, sizeof x), 0) << "key " << q << " step " << step << " seed " << seed;
        // Before ttl_remaining(), which removes an expired key (a writer).
        if (lru == 0) {  // (with LRU, a u64 get would set accessed bits in map a alone)
          std::uint64_t u = 0;
          const Status su = a->map().get(q, &u), want = xs == 16 ? Status::invalid : b->map().get(qb, y, 8, &ys);
          ASSERT_EQ(su, want) << "key " << q << " step " << step << " seed " << seed;
          if (su == Status::ok) {
            ASSERT_EQ(u, y[0]) << "key " << q << " step " << step << " seed " << seed;
          }
        }
        // Every fourth step: so that between those, puts meet expired keys
        // no one has removed yet.
        if (step % 4 == 0) {
          ASSERT_EQ(a->map().ttl_remaining(qb, &xt), b->map().ttl_remaining(qb, &yt));
          ASSERT_EQ(xt, yt) << "key " << q << " step " << step << " seed " << seed;
        }
      }
      ASSERT_EQ(a->map().size(), b->map().size());
      // A put that meets an expired key removes it first (an expiration),
      // then inserts: both ways count it.
      ASSERT_EQ(a->map().stats().expirations, b->map().stats().expirations) << "step " << step << " seed " << seed;
    }
    std::string why;
    EXPECT_EQ(a->map().verify(&why), Status::ok) << why;
  }
}

// Every key length from 1 to 40 and value length from 0 to 40: keys that
// differ only in their last byte stay apart, and a value is copied out
// exactly, without touching the byte after the caller's buffer.
TEST(RwMap, EveryShortLengthRoundTrips) {
  RwHarness h;
  RwMap& m = h.map();
  auto key_of = [](int len, char last) {
    std::string k;
    for (int i = 0; i + 1 < len; ++i) k += char('a' + (i * 7 + len) % 26);
    return k + last;
  };
  auto val_of = [](int len, char last) {
    std::string v;
    for (int i = 0; i < len; ++i) v += char('A' + (i * 5 + len + last) % 26);
    return v;
  };
  for (int len = 1; len <= 40; ++len)
    for (char last : {'x', 'y'}) ASSERT_EQ(m.put(str(key_of(len, last)), str(val_of((len * 7 + last) % 41, last))), Status::ok);
  EXPECT_EQ(m.size(), 80u);
  for (int len = 1; len <= 40; ++len) {
    for (char last : {'x', 'y'}) {
      std::string want = val_of((len * 7 + last) % 41, last);
      std::vector<char> buf(want.size() + 1, '#');
      std::uint64_t sz = 0;
      ASSERT_EQ(m.get(str(key_of(len, last)), buf.data(), want.size(), &sz), Status::ok) << len << last;
      EXPECT_EQ(sz, want.size());
      EXPECT_EQ(std::string(buf.data(), sz), want) << len << last;
      EXPECT_EQ(buf.back(), '#') << "wrote past the buffer at length " << len;
    }
    EXPECT_EQ(m.exists(str(key_of(len, 'z'))), false);
  }
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// Every extra operation against a reference map, with keys and values of
// lengths on both sides of the inline limit, and removals (tombstones).
TEST(RwMap, ExtraOpsMatchOracle) {
  RwHarness h;
  RwMap& m = h.map();
  std::uint64_t seed = seed_from_env();
  std::mt19937_64 rng(seed);
  std::unordered_map<std::string, std::string> ref;
  auto rand_str = [&](std::uint64_t max_len) {
    std::string s(rng() % (max_len + 1), 0);
    for (auto& c : s) c = char('a' + rng() % 3);
    return s;
  };
  auto key_of = [&] { return "k" + std::to_string(rng() % 600) + std::string(rng() % 2 ? 30 : 0, 'p'); };
  std::vector<char> buf(256);
  for (int step = 0; step < 40000; ++step) {
    std::string k = key_of(), v = rand_str(40), e;
    auto it = ref.find(k);
    bool present = it != ref.end();
    std::uint64_t sz = 0;
    bool inserted = false;
    switch (rng() % 9) {
      case 0:
        ASSERT_EQ(m.put(str(k), str(v)), Status::ok);
        ref[k] = v;
        break;
      case 1:
        ASSERT_EQ(m.add(str(k), str(v)), present ? Status::exists : Status::ok) << seed;
        if (!present) ref[k] = v;
        break;
      case 2:
        ASSERT_EQ(m.update(str(k), str(v)), present ? Status::ok : Status::not_found) << seed;
        if (present) ref[k] = v;
        break;
      case 3:
        ASSERT_EQ(m.swap(str(k), str(v), buf.data(), buf.size(), &sz), present ? Status::ok : Status::not_found)
            << seed;
        if (present) {
          ASSERT_EQ(std::string(buf.data(), sz), it->second) << seed;
        }
        ref[k] = v;
        break;
      case 4:
        ASSERT_EQ(m.take(str(k), buf.data(), buf.size(), &sz), present ? Status::ok : Status::not_found) << seed;
        if (present) {
          ASSERT_EQ(std::string(buf.data(), sz), it->second) << seed;
        }
        ref.erase(k);
        break;
      case 5:
        ASSERT_EQ(m.remove(str(k)), present ? Status::ok : Status::not_found) << seed;
        ref.erase(k);
        break;
      case 6:
        ASSERT_EQ(m.get_or_set(str(k), str(v), buf.data(), buf.size(), &sz, &inserted), Status::ok) << seed;
        ASSERT_EQ(inserted, !present) << seed;
        if (!present) ref[k] = v;
        ASSERT_EQ(std::string(buf.data(), sz), ref[k]) << seed;
        break;
      case 7:
        e = present && rng() % 2 ? it->second : rand_str(3);
        if (!present) {
          ASSERT_EQ(m.cas(str(k), str(e), str(v)), Status::not_found) << seed;
        } else if (e == it->second) {
          ASSERT_EQ(m.cas(str(k), str(e), str(v)), Status::ok) << seed;
          it->second = v;
        } else {
          ASSERT_EQ(m.cas(str(k), str(e), str(v)), Status::exists) << seed;
        }
        break;
      default: {
        Status s;
        std::string got = get_str(m, k, &s);
        ASSERT_EQ(s, present ? Status::ok : Status::not_found) << seed;
        if (present) {
          ASSERT_EQ(got, it->second) << seed;
        }
        ASSERT_EQ(m.exists(str(k)), present) << seed;
      }
    }
    if (step % 5000 == 0) {
      std::string why;
      ASSERT_EQ(m.verify(&why), Status::ok) << why << " seed " << seed;
      ASSERT_EQ(m.size(), ref.size());
    }
  }
  std::map<std::string, std::string> seen;
  ASSERT_EQ(m.for_each([](void* ctx, RwBytes k, RwBytes v) {
              (*static_cast<std::map<std::string, std::string>*>(ctx))[std::string(
                  static_cast<const char*>(k.data), k.size)] = std::string(static_cast<const char*>(v.data), v.size);
            }, &seen),
            Status::ok);
  const std::map<std::string, std::string> want(ref.begin(), ref.end());
  EXPECT_EQ(seen, want);
  EXPECT_GT(m.stats().grows, 0u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RwMap, IncrOracle) {
  RwHarness h;
  RwMap& m = h.map();
  std::mt19937_64 rng(seed_from_env());
  std::unordered_map<std::uint64_t, std::uint64_t> ref;
  for (int i = 0; i < 20000; ++i) {
    std::uint64_t k = rng() % 300, r = 0;
    std::int64_t d = std::int64_t(rng() % 7) - 3;
    ASSERT_EQ(m.incr_by(k, d, &r), Status::ok);
    ASSERT_EQ(r, ref[k] += std::uint64_t(d));
  }
  std::vector<std::uint64_t> keys, vals(300);
  for (std::uint64_t k = 0; k < 300; ++k) keys.push_back(k);
  bool found[300];
  ASSERT_EQ(m.get_multi(keys.data(), keys.size(), vals.data(), found), Status::ok);
  for (std::uint64_t k = 0; k < 300; ++k) {
    ASSERT_EQ(found[k], ref.count(k) != 0);
    if (found[k]) {
      ASSERT_EQ(vals[k], ref[k]);
    }
  }
}

// incr's fast path (read lock, atomic add) on present keys and its slow
// path (write lock) on absent, expired and non-counter keys.
TEST(RwMap, IncrFastAndSlowPaths) {
  RwHarness h;
  RwMap& m = h.map();
  std::uint64_t r = 0;
  ASSERT_EQ(m.put(std::uint64_t{4}, std::uint64_t{40}), Status::ok);
  ASSERT_EQ(m.incr_by(4, 2, &r), Status::ok);
  EXPECT_EQ(r, 42u);
  ASSERT_EQ(m.decr(4, &r), Status::ok);
  EXPECT_EQ(r, 41u);
  // A byte-string key holding an 8-byte value counts too.
  std::uint64_t eight = 7;
  ASSERT_EQ(m.put(str("hits"), RwBytes{&eight, 8}), Status::ok);
  ASSERT_EQ(m.incr_by(str("hits"), -3, &r), Status::ok);
  EXPECT_EQ(r, 4u);
  // Not a counter: invalid, value unchanged.
  ASSERT_EQ(m.put(str("name"), str("abc")), Status::ok);
  EXPECT_EQ(m.incr_by(str("name"), 1, &r), Status::invalid);
  Status s;
  EXPECT_EQ(get_str(m, "name", &s), "abc");
  // Absent: inserted as delta.
  ASSERT_EQ(m.incr_by(str("new"), 5, &r), Status::ok);
  EXPECT_EQ(r, 5u);
  // Expired: the slow path removes it and starts again from delta.
  ASSERT_EQ(m.put(str("old"), RwBytes{&eight, 8}, 10), Status::ok);
  rw_os::g_clock_skew_s += 11;
  ASSERT_EQ(m.incr_by(str("old"), 1, &r), Status::ok);
  rw_os::g_clock_skew_s -= 11;
  EXPECT_EQ(r, 1u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.lock().word(), 0u);  // every read lock released
}

std::vector<std::uint64_t> pop_all(RwMap& m, bool shift) {
  std::vector<std::uint64_t> got;
  std::uint64_t k = 0, v = 0;
  for (Status s; (s = shift ? m.shift(&k, &v) : m.pop(&k, &v)) != Status::not_found;) {
    EXPECT_EQ(s, Status::ok);
    EXPECT_EQ(v, k * 3);
    got.push_back(k);
  }
  return got;
}

TEST(RwMap, PopShiftDrainWithoutLru) {
  RwHarness h;
  RwMap& m = h.map();
  std::uint64_t k = 0, v = 0;
  EXPECT_EQ(m.pop(&k, &v), Status::not_found);
  EXPECT_EQ(m.shift(&k, &v), Status::not_found);
  for (bool shift : {false, true}) {
    for (std::uint64_t i = 0; i < 500; ++i) ASSERT_EQ(m.put(i, i * 3), Status::ok);
    std::vector<std::uint64_t> got = pop_all(m, shift);
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got.size(), 500u);
    for (std::uint64_t i = 0; i < 500; ++i) ASSERT_EQ(got[i], i);  // each exactly once
    EXPECT_EQ(m.size(), 0u);
    std::string why;
    EXPECT_EQ(m.verify(&why), Status::ok) << why;
  }
  // Pops sweep forward from the hand, shifts backward: a pop then a shift
  // take slots on opposite sides of the hand, and drain takes them in pop
  // order under one lock.
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_EQ(m.put(i, i * 3), Status::ok);
  std::map<std::uint64_t, std::uint64_t> drained;
  std::uint64_t removed = 0;
  ASSERT_EQ(m.drain(40, [](void* ctx, RwBytes key, RwBytes val) {
              std::uint64_t a = 0, b = 0;
              std::memcpy(&a, key.data, 8);
              std::memcpy(&b, val.data, 8);
              (*static_cast<std::map<std::uint64_t, std::uint64_t>*>(ctx))[a] = b;
            }, &drained, &removed),
            Status::ok);
  EXPECT_EQ(removed, 40u);
  EXPECT_EQ(drained.size(), 40u);
  for (auto& [dk, dv] : drained) {
    EXPECT_EQ(dv, dk * 3);
    EXPECT_EQ(m.get(dk, &v), Status::not_found);
  }
  EXPECT_EQ(m.size(), 60u);
  ASSERT_EQ(m.drain(1000, [](void*, RwBytes, RwBytes) {}, nullptr, &removed), Status::ok);
  EXPECT_EQ(removed, 60u);
  EXPECT_EQ(m.size(), 0u);
}

// A map in anonymous shared memory made with small_params() changed by
// `tweak`.
template <class Tweak>
RwStore::Ptr anon_store(Tweak tweak) {
  RwParams p = small_params();
  tweak(p);
  RwStore::Ptr st;
  EXPECT_EQ(RwStore::create_anon(p, &st), Status::ok);
  return st;
}

RwStore::Ptr lru_store(std::uint64_t lru_max) {
  return anon_store([&](RwParams& p) { p.lru_max = lru_max; });
}

TEST(RwMap, PopTakesTheLeastRecentlyUsedShiftTheMost) {
  RwStore::Ptr st = lru_store(1000);
  RwMap& m = st->map();
  std::uint64_t k = 0, v = 0;
  // A table that never shrinks under these pops (only an insert shrinks
  // it): a rebuild moves the keys under the clock hand, and the clock only
  // promises that one sweep takes the unused keys before the used.
  ASSERT_EQ(m.reserve(1000), Status::ok);
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_EQ(m.put(i, i * 3), Status::ok);
  for (std::uint64_t i = 0; i < 100; i += 2) ASSERT_EQ(m.get(i, &v), Status::ok);  // evens used
  // The 50 unused keys come out first, in any order.
  for (int n = 0; n < 50; ++n) {
    ASSERT_EQ(m.pop(&k, &v), Status::ok);
    EXPECT_EQ(k % 2, 1u) << "pop " << n << " returned a used key";
    EXPECT_EQ(v, k * 3);
  }
  // shift prefers a recently used key: use one, shift it out.
  ASSERT_EQ(m.put(1000, 3000), Status::ok);
  ASSERT_EQ(m.get(1000, &v), Status::ok);
  ASSERT_EQ(m.shift(&k, &v), Status::ok);
  EXPECT_EQ(k % 2, 0u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// With one key looked up (its accessed bit set), shift returns that key.
TEST(RwMap, ShiftTakesTheOneRecentlyUsedKey) {
  RwStore::Ptr st = lru_store(1000);
  RwMap& m = st->map();
  ASSERT_EQ(m.reserve(1000), Status::ok);
  for (std::uint64_t i = 0; i < 100; ++i) ASSERT_EQ(m.put(i, i * 3), Status::ok);
  std::uint64_t k = 0, v = 0;
  ASSERT_EQ(m.get(42, &v), Status::ok);
  ASSERT_EQ(m.shift(&k, &v), Status::ok);
  EXPECT_EQ(k, 42u);
  EXPECT_EQ(v, 126u);
  EXPECT_EQ(m.get(42, &v), Status::not_found);
  EXPECT_EQ(m.size(), 99u);
}

TEST(RwMap, PopLosesNothingOnSmallBuffersAndSkipsExpired) {
  RwHarness h;
  RwMap& m = h.map();
  ASSERT_EQ(m.put(str("key"), str(std::string(100, 'v'))), Status::ok);
  char kb[16], vb[16];
  std::uint64_t ks = 0, vs = 0, k = 0, v = 0;
  EXPECT_EQ(m.pop(kb, sizeof kb, &ks, vb, sizeof vb, &vs), Status::invalid);
  EXPECT_EQ(ks, 3u);
  EXPECT_EQ(vs, 100u);
  EXPECT_EQ(m.pop(&k, &v), Status::invalid);  // not a u64 -> u64 entry
  EXPECT_EQ(m.size(), 1u);
  std::vector<char> big(100);
  ASSERT_EQ(m.shift(kb, sizeof kb, &ks, big.data(), big.size(), &vs), Status::ok);
  EXPECT_EQ(std::string(kb, ks), "key");
  EXPECT_EQ(std::string(big.data(), vs), std::string(100, 'v'));
  // With several entries, a pop that failed on a small buffer leaves the
  // hand where it was: the retry returns the entry it refused.
  for (int i = 0; i < 20; ++i) {
    std::string key = "k" + std::to_string(i);
    ASSERT_EQ(m.put(str(key), str(std::string(i % 2 ? 100 : 4, char('a' + i)))), Status::ok);
  }
  for (int n = 0; n < 20; ++n) {
    Status s = m.pop(kb, sizeof kb, &ks, vb, sizeof vb, &vs);
    if (s == Status::invalid) {
      ASSERT_EQ(vs, 100u);
      const std::string refused(kb, ks);
      ASSERT_EQ(m.pop(kb, sizeof kb, &ks, big.data(), big.size(), &vs), Status::ok);
      EXPECT_EQ(std::string(kb, ks), refused);
    } else {
      ASSERT_EQ(s, Status::ok);
      EXPECT_EQ(vs, 4u);
    }
    int i = std::stoi(std::string(kb + 1, ks - 1));
    EXPECT_EQ((vs == 100 ? big.data() : vb)[0], char('a' + i)) << "pop returned another key's value";
    EXPECT_EQ(vs, i % 2 ? 100u : 4u);
  }
  EXPECT_EQ(m.size(), 0u);
  // An expired key is never returned: it is counted as expired instead.
  ASSERT_EQ(m.put(1, 3, 10), Status::ok);
  ASSERT_EQ(m.put(2, 6), Status::ok);
  rw_os::g_clock_skew_s += 11;
  EXPECT_EQ(m.pop(&k, &v), Status::ok);
  EXPECT_EQ(k, 2u);
  EXPECT_EQ(m.pop(&k, &v), Status::not_found);
  rw_os::g_clock_skew_s -= 11;
  EXPECT_EQ(m.stats().expirations, 1u);
}

TEST(RwMap, LruEvictsTheUnused) {
  RwStore::Ptr st = lru_store(100);
  RwMap& m = st->map();
  std::uint64_t v = 0;
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  for (std::uint64_t k = 0; k < 50; ++k) ASSERT_EQ(m.get(k, &v), Status::ok);  // used
  for (std::uint64_t k = 1000; k < 1050; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  EXPECT_EQ(m.size(), 100u);
  EXPECT_EQ(m.stats().evictions, 50u);
  // One sweep of the clock evicts 50 unused keys before any used one comes
  // round a second time.
  for (std::uint64_t k = 0; k < 50; ++k) EXPECT_EQ(m.get(k, &v), Status::ok) << k;
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  // Without LRU nothing is evicted.
  RwHarness h;
  for (std::uint64_t k = 0; k < 300; ++k) ASSERT_EQ(h.map().put(k, k), Status::ok);
  EXPECT_EQ(h.map().size(), 300u);
  EXPECT_EQ(h.map().stats().evictions, 0u);
}

// TTL with the clock moved forward by the test hook rw_os::g_clock_skew_s.
TEST(RwMap, TtlExpiresLazilyAndFlushes) {
  RwStore::Ptr st = anon_store([](RwParams& p) { p.default_ttl = 10; });
  ASSERT_TRUE(st);
  RwMap& m = st->map();
  std::uint64_t v = 0, secs = 0, removed = 0;
  ASSERT_EQ(m.put(1, 10, 5), Status::ok);
  ASSERT_EQ(m.put(2, 20, 0), Status::ok);  // never expires
  ASSERT_EQ(m.put(3, 30), Status::ok);     // the default: 10 s
  ASSERT_EQ(m.ttl_remaining(RwBytes{"\1\0\0\0\0\0\0\0", 8}, &secs), Status::ok);
  EXPECT_GE(secs, 4u);
  EXPECT_LE(secs, 5u);
  std::uint64_t k2 = 2, k3 = 3;
  ASSERT_EQ(m.ttl_remaining(RwBytes{&k2, 8}, &secs), Status::ok);
  EXPECT_EQ(secs, kRwTtlNever);
  ASSERT_EQ(m.persist(RwBytes{&k3, 8}), Status::ok);
  ASSERT_EQ(m.ttl_remaining(RwBytes{&k3, 8}, &secs), Status::ok);
  EXPECT_EQ(secs, kRwTtlNever);
  ASSERT_EQ(m.touch(RwBytes{&k3, 8}), Status::ok);  // the default again
  ASSERT_EQ(m.ttl_remaining(RwBytes{&k3, 8}, &secs), Status::ok);
  EXPECT_LE(secs, 10u);
  rw_os::g_clock_skew_s += 6;  // key 1 expired
  EXPECT_EQ(m.get(1, &v), Status::not_found);
  EXPECT_FALSE(m.exists(1));
  EXPECT_EQ(m.cas(1, 10, 11), Status::not_found);  // removes it
  EXPECT_EQ(m.stats().expirations, 1u);
  EXPECT_EQ(m.size(), 2u);
  rw_os::g_clock_skew_s += 5;  // key 3 expired too
  EXPECT_EQ(m.get(3, &v), Status::not_found);
  EXPECT_EQ(m.size(), 2u);  // lazily: still there
  // ... but neither iteration returns it.
  std::vector<std::uint64_t> listed;
  ASSERT_EQ(m.for_each([](void* ctx, RwBytes key, RwBytes) {
              std::uint64_t k = 0;
              std::memcpy(&k, key.data, 8);
              static_cast<std::vector<std::uint64_t>*>(ctx)->push_back(k);
            }, &listed),
            Status::ok);
  EXPECT_EQ(listed, std::vector<std::uint64_t>{2});
  {
    RwMap::Cursor c;
    std::uint64_t k = 0, ksz = 0, vsz = 0;
    listed.clear();
    while (m.next(&c, &k, 8, &ksz, &v, 8, &vsz) == Status::ok) listed.push_back(k);
    EXPECT_EQ(listed, std::vector<std::uint64_t>{2});
  }
  ASSERT_EQ(m.flush_expired(1000, &removed), Status::ok);
  EXPECT_EQ(removed, 1u);
  EXPECT_EQ(m.size(), 1u);
  ASSERT_EQ(m.get(2, &v), Status::ok);
  EXPECT_EQ(v, 20u);
  ASSERT_EQ(m.add(3, 33), Status::ok);  // a fresh key
  ASSERT_EQ(m.put(4, 40, 1), Status::ok);
  rw_os::g_clock_skew_s += 2;
  EXPECT_EQ(m.add(4, 41), Status::ok);  // the expired key counts as absent
  ASSERT_EQ(m.get(4, &v), Status::ok);
  EXPECT_EQ(v, 41u);
  EXPECT_EQ(m.stats().expirations, 3u);
  rw_os::g_clock_skew_s = 0;
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// flush_expired(limit) scans `limit` slots from where the last call
// stopped: repeated small calls sweep the whole table once.
TEST(RwMap, FlushExpiredResumesAtItsCursor) {
  RwHarness h;
  RwMap& m = h.map();
  for (std::uint64_t k = 0; k < 200; ++k) ASSERT_EQ(m.put(k, k, k % 2 ? 1 : 0), Status::ok);
  rw_os::g_clock_skew_s += 2;  // the 100 odd keys expired
  const std::uint64_t cap = m.capacity(), limit = 16;
  std::uint64_t total = 0, removed = 0, calls = 0;
  for (; calls < cap / limit; ++calls) {
    ASSERT_EQ(m.flush_expired(limit, &removed), Status::ok);
    ASSERT_LE(removed, limit);
    total += removed;
    if (calls == 0) {
      EXPECT_LT(total, 100u);
    }
  }
  EXPECT_EQ(total, 100u);  // one sweep, in cap / limit calls
  EXPECT_EQ(m.size(), 100u);
  ASSERT_EQ(m.flush_expired(cap, &removed), Status::ok);
  EXPECT_EQ(removed, 0u);
  rw_os::g_clock_skew_s = 0;
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RwMap, CursorToleratesRemoval) {
  RwHarness h;
  RwMap& m = h.map();
  ASSERT_EQ(m.reserve(2000), Status::ok);  // no grow during the walk
  for (std::uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(m.put(k, k * 2), Status::ok);
  RwMap::Cursor c;
  std::map<std::uint64_t, int> seen;
  std::uint64_t k = 0, v = 0, ksz = 0, vsz = 0;
  Status s;
  int steps = 0;
  while ((s = m.next(&c, &k, 8, &ksz, &v, 8, &vsz)) == Status::ok) {
    ASSERT_EQ(ksz, 8u);
    ASSERT_EQ(v, k * 2);
    ++seen[k];
    // Remove keys as we go: this one and one that may lie ahead.
    if (++steps % 3 == 0) { ASSERT_EQ(m.remove(k), Status::ok); }
    if (k % 2 == 0) m.remove(999 - k);
  }
  ASSERT_EQ(s, Status::not_found);
  for (auto& [key, n] : seen) ASSERT_EQ(n, 1) << key;  // never twice
  // Every key that was never removed was visited.
  for (std::uint64_t key = 0; key < 1000; ++key)
    if (m.exists(key)) { ASSERT_EQ(seen.count(key), 1u) << key; }
  // Removals that take a grown table below 25% load do not disturb a walk
  // either (the shrink waits for an insert); that insert is reported.
  {
    RwHarness g;
    RwMap& n = g.map();
    for (std::uint64_t key = 0; key < 1000; ++key) ASSERT_EQ(n.put(key, key), Status::ok);
    ASSERT_EQ(n.capacity(), 2048u);
    RwMap::Cursor cg;
    std::map<std::uint64_t, int> visited;
    while ((s = n.next(&cg, &k, 8, &ksz, &v, 8, &vsz)) == Status::ok) {
      ++visited[k];
      if (k % 10 != 0) { ASSERT_EQ(n.remove(k), Status::ok); }
    }
    ASSERT_EQ(s, Status::not_found);
    EXPECT_EQ(visited.size(), 1000u);  // every key once, though the load fell to 5%
    for (auto& [key, times] : visited) ASSERT_EQ(times, 1) << key;
    EXPECT_EQ(n.capacity(), 2048u);
    RwMap::Cursor cs;
    ASSERT_EQ(n.next(&cs, &k, 8, &ksz, &v, 8, &vsz), Status::ok);
    ASSERT_EQ(n.put(5000, 1), Status::ok);  // 101 entries: 256 slots
    EXPECT_EQ(n.capacity(), 256u);
    EXPECT_EQ(n.next(&cs, &k, 8, &ksz, &v, 8, &vsz), Status::again);
  }
  // A grow during the walk is reported.
  RwMap::Cursor c2;
  ASSERT_EQ(m.next(&c2, &k, 8, &ksz, &v, 8, &vsz), Status::ok);
  ASSERT_EQ(m.reserve(4000), Status::ok);
  EXPECT_EQ(m.next(&c2, &k, 8, &ksz, &v, 8, &vsz), Status::again);
  char tiny[2];
  RwMap::Cursor c3;
  EXPECT_EQ(m.next(&c3, tiny, sizeof tiny, &ksz, &v, 8, &vsz), Status::invalid);
  EXPECT_EQ(ksz, 8u);
}

// incr on a present counter takes the read lock, not the write lock: it
// completes while another thread holds a read lock (a for_each paused in
// its visitor), which a write would have to wait for.
TEST(RwMap, IncrOfAPresentCounterRunsBesideAReader) {
  RwHarness h;
  RwMap& m = h.map();
  ASSERT_EQ(m.put(7, 100), Status::ok);
  std::atomic<int> phase{0};  // 1: the visitor holds the read lock; 2: let it go
  // A thread whose for_each pauses in its visitor, holding the read lock,
  // until phase is 2; returns once the lock is held.
  auto hold_read_lock = [&] {
    phase.store(0);
    std::thread t([&] {
      m.for_each([](void* ctx, RwBytes, RwBytes) {
        auto* p = static_cast<std::atomic<int>*>(ctx);
        p->store(1);
        while (p->load() != 2) std::this_thread::yield();
      }, &phase);
    });
    while (phase.load() != 1) std::this_thread::yield();
    return t;
  };
  std::thread holder = hold_read_lock();
  auto incr = std::async(std::launch::async, [&] {
    std::uint64_t r = 0;
    return m.incr(7, &r) == Status::ok ? r : 0;
  });
  const bool done = incr.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  phase.store(2);
  holder.join();
  EXPECT_TRUE(done) << "incr waited for a read-lock holder: it took the write lock";
  EXPECT_EQ(incr.get(), 101u);
  // A write does wait for the reader: a put of a new key must not complete
  // while the reader holds on.
  holder = hold_read_lock();
  auto put = std::async(std::launch::async, [&] { return m.put(8, 1); });
  EXPECT_EQ(put.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  // Meanwhile gets take no lock: the writer holds the write lock and waits
  // for the reader to drain (seq is made odd only once it has), and a
  // get, which would wait behind that writer if it took the read lock (or
  // the write lock), goes through.
  auto get = std::async(std::launch::async, [&] {
    std::uint64_t v = 0;
    return m.get(7, &v) == Status::ok ? v : 0;
  });
  const bool got = get.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  EXPECT_EQ(put.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  phase.store(2);
  holder.join();
  EXPECT_TRUE(got) << "get waited behind a waiting writer: it took a lock";
  EXPECT_EQ(get.get(), 101u);
  EXPECT_EQ(put.get(), Status::ok);
}

// Byte-string batches: inline and arena sizes, the found flags and values
// through visit, counts, and a batch with a bad size refused whole.
TEST(RwMap, BytesBatches) {
  RwHarness h;
  RwMap& m = h.map();
  std::vector<std::string> ks, vs;
  for (int i = 0; i < 100; ++i) {
    ks.push_back("key-" + std::to_string(i) + std::string(i % 40, 'k'));
    vs.push_back(std::string(i * 37 % 300, char('a' + i % 26)));  // 0..299 bytes: inline and arena
  }
  std::vector<RwBytes> kb, vb;
  for (int i = 0; i < 100; ++i) {
    kb.push_back(str(ks[i]));
    vb.push_back(str(vs[i]));
  }
  ASSERT_EQ(m.set_multi(kb.data(), vb.data(), 100), Status::ok);
  EXPECT_EQ(m.size(), 100u);
  struct Got {
    std::vector<std::string> keys, vals;
  } got;
  auto collect = [](void* ctx, RwBytes k, RwBytes v) {
    auto* g = static_cast<Got*>(ctx);
    g->keys.emplace_back(static_cast<const char*>(k.data), k.size);
    g->vals.emplace_back(static_cast<const char*>(v.data), v.size);
  };
  bool found[100];
  ASSERT_EQ(m.get_multi(kb.data(), 100, found, collect, &got), Status::ok);
  ASSERT_EQ(got.vals.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(found[i]);
    ASSERT_EQ(got.keys[i], ks[i]);
    ASSERT_EQ(got.vals[i], vs[i]) << i;
  }
  std::uint64_t removed = 0;
  ASSERT_EQ(m.remove_multi(kb.data(), 60, &removed), Status::ok);
  EXPECT_EQ(removed, 60u);
  ASSERT_EQ(m.remove_multi(kb.data(), 70, &removed), Status::ok);
  EXPECT_EQ(removed, 10u);
  got = Got();
  ASSERT_EQ(m.get_multi(kb.data(), 100, found, collect, &got), Status::ok);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(found[i], i >= 70) << i;
  EXPECT_EQ(got.vals.size(), 30u);
  // A bad size anywhere: the whole batch is refused.
  std::vector<RwBytes> bad = {str("fresh"), RwBytes{"", 0}};
  std::vector<RwBytes> bad_vals = {str("v"), str("w")};
  EXPECT_EQ(m.put_multi(bad.data(), bad_vals.data(), 2), Status::invalid);
  EXPECT_FALSE(m.exists(str("fresh")));
  EXPECT_EQ(m.remove_multi(bad.data(), 2, &removed), Status::invalid);
  EXPECT_EQ(m.get_multi(bad.data(), 2, found, collect, &got), Status::invalid);
  EXPECT_EQ(m.size(), 30u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RwMap, Batches) {
  RwHarness h;
  RwMap& m = h.map();
  std::vector<std::uint64_t> keys, vals, got(300);
  for (std::uint64_t k = 0; k < 300; ++k) {
    keys.push_back(k * 11);
    vals.push_back(k + 5);
  }
  ASSERT_EQ(m.put_multi(keys.data(), vals.data(), keys.size()), Status::ok);
  EXPECT_EQ(m.size(), 300u);
  bool found[300];
  ASSERT_EQ(m.get_multi(keys.data(), keys.size(), got.data(), found), Status::ok);
  for (std::uint64_t i = 0; i < 300; ++i) {
    ASSERT_TRUE(found[i]);
    ASSERT_EQ(got[i], vals[i]);
  }
  std::uint64_t removed = 0;
  ASSERT_EQ(m.remove_multi(keys.data(), 150, &removed), Status::ok);
  EXPECT_EQ(removed, 150u);
  ASSERT_EQ(m.remove_multi(keys.data(), 160, &removed), Status::ok);
  EXPECT_EQ(removed, 10u);
  ASSERT_EQ(m.get_multi(keys.data(), keys.size(), got.data(), found), Status::ok);
  for (std::uint64_t i = 0; i < 300; ++i) ASSERT_EQ(found[i], i >= 160) << i;
  EXPECT_EQ(m.size(), 140u);
  // A batch that runs into the hard maximum keeps what fit.
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(small_params(16), &st), Status::ok);
  EXPECT_EQ(st->map().put_multi(keys.data(), vals.data(), 20), Status::full);
  EXPECT_EQ(st->map().size(), 12u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(st->map().verify(&why), Status::ok) << why;
}

TEST(RwMap, GrowRehashAndHardMaximum) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(small_params(64), &st), Status::ok);
  RwMap& m = st->map();
  EXPECT_EQ(m.capacity(), 8u);
  EXPECT_EQ(m.reserve(40), Status::ok);
  EXPECT_EQ(m.capacity(), 64u);  // 40 > 75% of 32
  EXPECT_EQ(m.reserve(49), Status::full);
  EXPECT_EQ(m.reserve(10), Status::ok);  // never shrinks
  EXPECT_EQ(m.capacity(), 64u);
  EXPECT_EQ(m.stats().grows, 1u);
  EXPECT_GT(m.stats().arena_used, 64u * 64);
  EXPECT_LE(m.stats().arena_used, m.stats().arena_capacity);
  std::uint64_t k = 0;
  for (; k < 48; ++k) ASSERT_EQ(m.put(k, k), Status::ok) << k;  // 75% of 64
  EXPECT_EQ(m.capacity(), 64u);
  EXPECT_EQ(m.put(k, k), Status::full);  // never beyond 75%
  EXPECT_EQ(m.size(), 48u);
  // Churn: removals leave tombstones; inserts of new keys rehash them away.
  for (int round = 0; round < 48; ++round) {
    ASSERT_EQ(m.remove(std::uint64_t(round)), Status::ok) << round << " size " << m.size() << " tomb " << m.tombstones();
    ASSERT_EQ(m.put(1000 + std::uint64_t(round), 1), Status::ok) << round;
    ASSERT_EQ(m.put(2000, 1), Status::full) << round;
    ASSERT_EQ(m.remove(1000 + std::uint64_t(round)), Status::ok);
    ASSERT_EQ(m.put(std::uint64_t(round), std::uint64_t(round)), Status::ok) << round;
  }
  EXPECT_EQ(m.capacity(), 64u);
  EXPECT_EQ(m.size(), 48u);
  EXPECT_GT(m.stats().rehashes, 0u);
  EXPECT_LE((m.size() + m.tombstones()) * 4, m.capacity() * 3);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  for (k = 0; k < 48; ++k) {
    std::uint64_t v = 99;
    ASSERT_EQ(m.get(k, &v), Status::ok);
    ASSERT_EQ(v, k);
  }
}

// Rehash is in place (Algorithm R): random churn on a table at its hard
// maximum, long keys included (their arena blocks move with the entries),
// against an oracle; every rehash leaves no tombstone, the table stays
// where it is (header word 24), every key keeps its value, verify() holds after every operation,
// and a cursor started before a rehash is told to restart.
// Arena blocks (long keys and values) come back on remove, take, swap,
// update and a put of another size: 20000 random writes to 10 keys of
// 41..45 bytes with values of 25..324 bytes add at most what 11 blocks of
// every class they use and the keys' blocks hold (each class's free list
// serves the next block of its size), where keeping them would take
// megabytes.
TEST(RwMap, ArenaBlocksComeBack) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(small_params(1024), &st), Status::ok);
  RwMap& m = st->map();
  ASSERT_EQ(m.reserve(64), Status::ok);  // the table stays: only blocks move arena_used
  const std::uint64_t start = m.stats().arena_used;
  std::mt19937_64 rng(11);
  std::map<std::string, std::string> oracle;
  std::vector<char> buf(512);
  for (int r = 0; r < 20000; ++r) {
    const std::string key = std::string(40, 'k') + std::to_string(rng() % 10);
    const std::string val(25 + rng() % 300, char('a' + r % 26));
    std::uint64_t sz = 0;
    Status s = Status::ok;
    switch (rng() % 5) {
      case 0:
        ASSERT_EQ(m.put(str(key), str(val)), Status::ok);
        oracle[key] = val;
        break;
      case 1:
        s = m.remove(str(key));
        ASSERT_EQ(s, oracle.erase(key) ? Status::ok : Status::not_found);
        break;
      case 2:
        s = m.take(str(key), buf.data(), buf.size(), &sz);
        ASSERT_EQ(s, oracle.count(key) ? Status::ok : Status::not_found);
        if (s == Status::ok) {
          ASSERT_EQ(std::string(buf.data(), sz), oracle[key]);
        }
        oracle.erase(key);
        break;
      case 3:
        s = m.swap(str(key), str(val), buf.data(), buf.size(), &sz);
        ASSERT_EQ(s, oracle.count(key) ? Status::ok : Status::not_found);
        oracle[key] = val;
        break;
      default:
        s = m.update(str(key), str(val));
        ASSERT_EQ(s, oracle.count(key) ? Status::ok : Status::not_found);
        if (s == Status::ok) oracle[key] = val;
    }
  }
  for (const auto& [k, v] : oracle) {
    Status s;
    EXPECT_EQ(get_str(m, k, &s), v);
  }
  const std::uint64_t grown = m.stats().arena_used - start;
  EXPECT_LE(grown, 11u * (32 + 64 + 128 + 256 + 512) + 11u * 64) << "arena blocks were not reused";
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// Below the hard maximum too, a table whose tombstones pile up is rehashed
// in place (tombstones an eighth of it or more at 75% load), not grown.
TEST(RwMap, TombstonesRehashInPlaceBelowTheMaximum) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(small_params(1 << 16), &st), Status::ok);
  RwMap& m = st->map();
  ASSERT_EQ(m.reserve(192), Status::ok);
  ASSERT_EQ(m.capacity(), 256u);
  const std::uint64_t grows = m.stats().grows;
  for (std::uint64_t k = 0; k < 150; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  for (std::uint64_t k = 150; k < 10150; ++k) {  // remove the oldest, insert a new one
    ASSERT_EQ(m.remove(k - 150), Status::ok);
    ASSERT_EQ(m.put(k, k), Status::ok);
  }
  EXPECT_EQ(m.capacity(), 256u);
  EXPECT_EQ(m.stats().grows, grows);
  EXPECT_GT(m.stats().rehashes, 0u);
  std::uint64_t v = 0;
  for (std::uint64_t k = 10000; k < 10150; ++k) ASSERT_TRUE(m.get(k, &v) == Status::ok && v == k) << k;
  EXPECT_EQ(m.size(), 150u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RwMap, RehashInPlaceKeepsEveryKeyAndTheTable) {
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::create_anon(small_params(256), &st), Status::ok);
  RwMap& m = st->map();
  ASSERT_EQ(m.reserve(192), Status::ok);
  ASSERT_EQ(m.capacity(), 256u);
  const std::uint64_t* hdr = st->region().at<std::uint64_t>(st->region().user_off());
  const std::uint64_t table = hdr[24];
  std::mt19937_64 rng(seed_from_env());
  std::map<std::string, std::string> oracle;
  auto key_of = [](std::uint64_t i) { return (i % 3 == 0 ? std::string(40, 'k') : std::string("k")) + std::to_string(i); };
  for (std::uint64_t i = 0; i < 180; ++i) {
    ASSERT_EQ(m.put(str(key_of(i)), str("v" + std::to_string(i))), Status::ok);
    oracle[key_of(i)] = "v" + std::to_string(i);
  }
  RwMap::Cursor c;
  std::string kb(64, 0), vb(64, 0);
  std::uint64_t ksz = 0, vsz = 0;
  ASSERT_EQ(m.next(&c, kb.data(), kb.size(), &ksz, vb.data(), vb.size(), &vsz), Status::ok);
  std::uint64_t rehashes = m.stats().rehashes;
  std::string why;
  for (int op = 0; op < 20000; ++op) {
    std::uint64_t i = rng() % 400;
    std::string k = key_of(i), v = "w" + std::to_string(op);
    if (rng() % 2 == 0) {
      Status s = m.put(str(k), str(v));
      if (oracle.count(k) != 0 || oracle.size() < 192) {
        ASSERT_EQ(s, Status::ok) << op;
        oracle[k] = v;
      } else {
        ASSERT_EQ(s, Status::full) << op;  // 75% of the hard maximum
      }
    } else {
      ASSERT_EQ(m.remove(str(k)), oracle.erase(k) != 0 ? Status::ok : Status::not_found) << op;
    }
    ASSERT_EQ(m.verify(&why), Status::ok) << op << ": " << why;
    if (m.stats().rehashes != rehashes) {
      rehashes = m.stats().rehashes;
      EXPECT_EQ(m.tombstones(), 0u) << op;
      ASSERT_EQ(hdr[24], table) << op << ": the rehash moved the table";
    }
  }
  EXPECT_GT(rehashes, 10u);
  EXPECT_EQ(m.stats().grows, 1u);  // the reserve only
  EXPECT_EQ(m.capacity(), 256u);
  EXPECT_EQ(m.next(&c, kb.data(), kb.size(), &ksz, vb.data(), vb.size(), &vsz), Status::again);
  ASSERT_EQ(m.size(), oracle.size());
  for (const auto& [k, v] : oracle) {
    Status s;
    EXPECT_EQ(get_str(m, k, &s), v) << k;
    EXPECT_EQ(s, Status::ok) << k;
  }
}

// A cursor started on a table that a grow retires and a shrink takes back
// off its free list: the table word is the cursor's again, but entries
// moved twice; the table epoch tells the cursor (review finding).
TEST(RwMap, CursorSeesAShrinkBackIntoARetiredTable) {
  RwHarness h;
  RwMap& m = h.map();
  for (std::uint64_t k = 0; k < 60; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  ASSERT_EQ(m.capacity(), 128u);
  const std::uint64_t* hdr = h.store->region().at<std::uint64_t>(h.store->region().user_off());
  const std::uint64_t table = hdr[24];
  RwMap::Cursor c;
  std::uint64_t k = 0, v = 0, ksz = 0, vsz = 0;
  ASSERT_EQ(m.next(&c, &k, 8, &ksz, &v, 8, &vsz), Status::ok);
  for (std::uint64_t j = 60; j < 100; ++j) ASSERT_EQ(m.put(j, j), Status::ok);  // grow: 128 -> 256
  ASSERT_EQ(m.capacity(), 256u);
  for (std::uint64_t j = 0; j < 60; ++j) ASSERT_EQ(m.remove(j), Status::ok);
  ASSERT_EQ(m.put(1000, 1000), Status::ok);  // 41 entries: back into the retired 128-slot table
  ASSERT_EQ(m.capacity(), 128u);
  ASSERT_EQ(hdr[24], table);  // the cursor's table word again
  EXPECT_EQ(m.next(&c, &k, 8, &ksz, &v, 8, &vsz), Status::again);
}

TEST(RwMap, ShrinksBelowQuarterLoad) {
  RwHarness h;
  RwMap& m = h.map();
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  EXPECT_EQ(m.capacity(), 256u);  // 100 > 75% of 128; every size from 8 up was used on the way
  const std::uint64_t used = m.stats().arena_used;
  std::uint64_t k = 0;
  for (; m.size() * 4 >= 256; ++k) ASSERT_EQ(m.remove(k), Status::ok);
  // Removals never move entries (a cursor may be walking the table), nor
  // does an overwrite; the next insert of a new key shrinks the table.
  EXPECT_EQ(m.capacity(), 256u);
  ASSERT_EQ(m.put(99, 99), Status::ok);
  EXPECT_EQ(m.capacity(), 256u);
  EXPECT_EQ(m.stats().shrinks, 0u);
  ASSERT_EQ(m.put(1000, 1000), Status::ok);
  // 64 entries (with the new one): into the retired 128-slot table.
  EXPECT_EQ(m.capacity(), 128u);
  EXPECT_EQ(m.stats().shrinks, 1u);
  ASSERT_EQ(m.remove(1000), Status::ok);
  // 10 entries and a new one: straight down to 32 slots, not one step.
  for (; k < 90; ++k) ASSERT_EQ(m.remove(k), Status::ok);
  ASSERT_EQ(m.put(1001, 1001), Status::ok);
  EXPECT_EQ(m.capacity(), 32u);
  EXPECT_EQ(m.stats().shrinks, 2u);
  ASSERT_EQ(m.remove(1001), Status::ok);
  for (std::uint64_t j = 0; j < 100; ++j) {
    std::uint64_t v = 0;
    ASSERT_EQ(m.get(j, &v), j < 90 ? Status::not_found : Status::ok) << j;
    if (j >= 90) { ASSERT_EQ(v, j); }
  }
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  // Every table came off a free list: no new memory.
  EXPECT_EQ(m.stats().arena_used, used);
  for (int round = 0; round < 5; ++round) {  // grow/shrink cycles reuse the same tables
    for (std::uint64_t j = 0; j < 100; ++j) ASSERT_EQ(m.put(j, j), Status::ok);
    EXPECT_EQ(m.capacity(), 256u);
    for (std::uint64_t j = 0; j < 98; ++j) ASSERT_EQ(m.remove(j), Status::ok);
    ASSERT_EQ(m.put(1002, 1002), Status::ok);  // 3 entries: down to 8 slots
    EXPECT_EQ(m.capacity(), 8u);
    ASSERT_EQ(m.remove(1002), Status::ok);
  }
  EXPECT_EQ(m.stats().arena_used, used);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// A shrink never goes below cap_init, nor below a size reserve() asked
// for (header word 28, the floor): the caller said how many entries to
// expect.
TEST(RwMap, ShrinkStopsAtCapInitAndReserve) {
  RwStore::Ptr st = anon_store([](RwParams& p) { p.cap_init = 1024; });
  ASSERT_TRUE(st);
  RwMap& m = st->map();
  for (std::uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  ASSERT_EQ(m.capacity(), 2048u);
  for (std::uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(m.remove(k), Status::ok);
  ASSERT_EQ(m.put(1, 1), Status::ok);
  EXPECT_EQ(m.capacity(), 1024u);  // cap_init's size, not 8
  EXPECT_EQ(m.stats().shrinks, 1u);
  ASSERT_EQ(m.reserve(3000), Status::ok);  // 4096 slots, and the floor from now on
  ASSERT_EQ(m.capacity(), 4096u);
  ASSERT_EQ(m.remove(1), Status::ok);
  ASSERT_EQ(m.put(2, 2), Status::ok);
  EXPECT_EQ(m.capacity(), 4096u);
  EXPECT_EQ(m.stats().shrinks, 1u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// A reserve() that needs no rebuild (the table is already that large)
// still raises the floor, and the floor is in the file: a process that
// joins later does not shrink below it either.
TEST(RwMap, ReserveWithoutRebuildRaisesTheFloor) {
  const std::string path = temp_path("rw_floor");
  std::string why;
  {
    RwParams p = small_params();
    p.cap_init = 1024;
    RwStore::Ptr st;
    ASSERT_EQ(RwStore::create_file(path, p, &st, &why), Status::ok) << why;
    RwMap& m = st->map();
    for (std::uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
    ASSERT_EQ(m.capacity(), 2048u);
    const std::uint64_t used = m.stats().arena_used;
    ASSERT_EQ(m.reserve(1500), Status::ok);  // 2048 slots hold 1536: no rebuild
    EXPECT_EQ(m.capacity(), 2048u);
    EXPECT_EQ(m.stats().arena_used, used);  // no table was made
  }
  RwStore::Ptr st;
  ASSERT_EQ(RwStore::join_file(path, &st, &why), Status::ok) << why;
  RwMap& m = st->map();
  for (std::uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(m.remove(k), Status::ok);
  ASSERT_EQ(m.put(1, 1), Status::ok);
  EXPECT_EQ(m.capacity(), 2048u);  // not cap_init's 1024
  EXPECT_EQ(m.stats().shrinks, 0u);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  std::remove(path.c_str());
}

// Damaged free lists of retired tables (header words 96..125; a list
// links through each table's slot 0 hash word): verify() names the damage,
// and the rebuild that would take from the list says corrupt and leaves
// the entries as they were (it checks the head and its link before it
// takes anything).
TEST(RwMap, DamagedTableListsAreReportedNotUsed) {
  RwHarness h;
  RwMap& m = h.map();
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  for (std::uint64_t k = 0; k < 98; ++k) ASSERT_EQ(m.remove(k), Status::ok);
  ASSERT_EQ(m.put(1000, 1000), Status::ok);
  ASSERT_EQ(m.capacity(), 8u);  // 8..128 were retired on the way up, 256 on the way down
  std::uint64_t* hdr = header_words(h);
  auto list = [&](unsigned log2) -> std::uint64_t& { return hdr[96 + log2 - 3]; };
  auto link = [&](std::uint64_t tw) -> std::uint64_t& {
    return h.store->region().at<std::uint64_t>(tw & ~std::uint64_t{63})[1];
  };
  const std::uint64_t cur = hdr[24];
  ASSERT_EQ(cur & 63, 3u);
  for (unsigned l = 4; l <= 8; ++l) ASSERT_NE(list(l), 0u) << l;
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  // Fill to 6 of 8 slots; the 7th key grows the table into list 4's head.
  std::uint64_t next = 2000;
  for (; m.size() < 6; ++next) ASSERT_EQ(m.put(next, next), Status::ok);
  const std::uint64_t keys = m.size();
  auto entries_intact = [&] {
    EXPECT_EQ(m.size(), keys);
    std::uint64_t v = 0;
    for (std::uint64_t k : {98ull, 99ull}) {
      EXPECT_EQ(m.get(k, &v), Status::ok) << k;
      EXPECT_EQ(v, k);
    }
    for (std::uint64_t k = 2000; k < next; ++k) {
      EXPECT_EQ(m.get(k, &v), Status::ok) << k;
      EXPECT_EQ(v, k);
    }
  };
  struct Case {
    const char* name;
    std::function<void()> plant, undo;
    const char* why;
  };
  const std::uint64_t head4 = list(4), link4 = link(head4);
  // A 16-slot table starting at an empty slot of the current 8-slot one,
  // whose hash word (unused in an empty slot) we set to 0: it reads as the
  // end of the list, so only the overlap check can refuse it.
  std::uint64_t empty = 0;
  for (std::uint64_t i = 1; i < 8 && empty == 0; ++i) {
    std::uint64_t* slot = h.store->region().at<std::uint64_t>((cur & ~std::uint64_t{63}) + 64 * i);
    if (slot[0] != 0) continue;
    slot[1] = 0;
    empty = (cur & ~std::uint64_t{63}) + 64 * i;
  }
  ASSERT_NE(empty, 0u);
  std::vector<Case> cases = {
      {"overlapping the current table", [&] { list(4) = empty | 4; }, [&] { list(4) = head4; },
       "free table list 4"},
      {"the current table itself", [&] { list(4) = (cur & ~std::uint64_t{63}) | 4; }, [&] { list(4) = head4; },
       "free table list 4"},
      {"of another size", [&] { list(4) = list(5); }, [&] { list(4) = head4; }, "free table list 4"},
      {"a link to itself", [&] { link(head4) = head4; }, [&] { link(head4) = link4; }, "free table list 4"},
      {"a link out of range", [&] { link(head4) = (std::uint64_t{1} << 40) | 4; }, [&] { link(head4) = link4; },
       "free table list 4"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    c.plant();
    EXPECT_EQ(m.verify(&why), Status::corrupt);
    EXPECT_NE(why.find(c.why), std::string::npos) << why;
    EXPECT_EQ(m.put(next, next), Status::corrupt);  // the growth into list 4 refuses it
    EXPECT_EQ(m.capacity(), 8u);
    entries_intact();
    c.undo();
    EXPECT_EQ(m.verify(&why), Status::ok) << why;
  }
  // A floor above the table's size.
  const std::uint64_t floor = hdr[28];
  hdr[28] = 4;
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("shrink floor"), std::string::npos) << why;
  hdr[28] = floor;
  // Undamaged, the same insert grows into list 4's table.
  ASSERT_EQ(m.put(next, next), Status::ok);
  EXPECT_EQ(m.capacity(), 16u);
  EXPECT_EQ(list(4), link4);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RwMap, VerifyReportsDamage) {
  RwHarness h;
  RwMap& m = h.map();
  for (std::uint64_t k = 0; k < 5; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  // Damage the size word (header word 25) and watch verify report it.
  std::uint64_t* hdr = header_words(h);
  hdr[25] += 1;
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("I2"), std::string::npos) << why;
  hdr[25] -= 1;
  // A key whose stored hash is wrong.
  std::uint64_t table = hdr[24] & ~std::uint64_t{63}, cap = std::uint64_t{1} << (hdr[24] & 63);
  for (std::uint64_t i = 0; i < cap; ++i) {
    std::uint64_t* slot = h.store->region().at<std::uint64_t>(table + 64 * i);
    if ((slot[0] & 3) != 1) continue;
    slot[1] ^= 1;
    EXPECT_EQ(m.verify(&why), Status::corrupt);
    EXPECT_NE(why.find("hash"), std::string::npos) << why;
    slot[1] ^= 1;
    break;
  }
  // A held lock and an odd sequence on a quiescent map.
  hdr[kRwSeqWord] += 1;
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("odd"), std::string::npos) << why;
  hdr[kRwSeqWord] += 1;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// A value length damaged past every arena class, or an arena offset
// damaged out of range: remove() used to link the "block" into a header
// word past the free-list heads (the statistics, the move journal) or write
// to the offset. The block is left alone now (a leak); the header and the
// other entries stay intact, and verify() reports the damage first.
TEST(RwMap, DamagedBlockIsNotFreedIntoTheHeader) {
  RwHarness h;
  RwMap& m = h.map();
  for (std::uint64_t k = 0; k < 5; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  std::uint64_t* hdr = header_words(h);
  const std::uint64_t table = hdr[24] & ~std::uint64_t{63}, cap = std::uint64_t{1} << (hdr[24] & 63);
  std::uint64_t* slot = nullptr;
  for (std::uint64_t i = 0; i < cap && slot == nullptr; ++i) {
    std::uint64_t* s = h.store->region().at<std::uint64_t>(table + 64 * i);
    if ((s[0] & 3) == 1) slot = s;
  }
  ASSERT_NE(slot, nullptr);
  slot[0] = (slot[0] & 0xffffffffULL) | std::uint64_t{1} << 31 << 32;  // a 2 GiB value (class 26)
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  const std::vector<std::uint64_t> before(hdr + 32, hdr + 64);  // free-list heads, statistics, journals
  for (std::uint64_t k = 0; k < 5; ++k) m.remove(k);
  EXPECT_EQ(std::vector<std::uint64_t>(hdr + 32, hdr + 64), before);
  EXPECT_EQ(m.put(7, 7), Status::ok);
  std::uint64_t v = 0;
  EXPECT_TRUE(m.get(7, &v) == Status::ok && v == 7);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;  // the damaged entry is gone
}

// A file-backed store for one test, its file removed when the test ends.
struct TempFileStore {
  explicit TempFileStore(const char* name) : path(temp_path(name)) {
    unlink(path.c_str());
    std::string why;
    EXPECT_EQ(RwStore::create_file(path, small_params(), &st, &why), Status::ok) << why;
  }
  ~TempFileStore() { unlink(path.c_str()); }
  std::uint64_t* header() { return st->region().at<std::uint64_t>(st->region().user_off()); }
  std::string path;
  RwStore::Ptr st;
};

// Every write section, each as one call (the u64 and byte-string forms
// share their sections).
std::vector<std::pair<const char*, std::function<Status()>>> every_write(RwMap& m) {
  static const std::string long_val(100, 'v');
  static std::uint64_t k8 = 0, n = 0;
  static std::vector<unsigned char> buf(256);
  const std::uint64_t keys[2] = {1, 2}, vals[2] = {5, 6};
  return {
      {"put", [&m] { return m.put(1, 9); }},
      {"put of a long value", [&m] { return m.put(str("long"), str(long_val)); }},
      {"put of a long key", [&m] { return m.put(str("a key longer than twenty-four bytes"), 7); }},
      {"add", [&m] { return m.add(1000, 1); }},
      {"update", [&m] { return m.update(1, 9); }},
      {"swap", [&m] { return m.swap(1, 9, &k8); }},
      {"remove", [&m] { return m.remove(1); }},
      {"take", [&m] { return m.take(1, &k8); }},
      {"cas", [&m] { return m.cas(1, 1, 9); }},
      {"get_or_set", [&m] { bool ins = false; return m.get_or_set(1000, 1, &k8, &ins); }},
      {"incr of an absent key", [&m] { return m.incr(1000, &k8); }},
      {"put_multi", [&m, keys, vals] { return m.put_multi(keys, vals, 2); }},
      {"remove_multi", [&m, keys] { return m.remove_multi(keys, 2, &n); }},
      {"touch", [&m] { return m.touch(str("long")); }},
      {"flush_expired", [&m] { return m.flush_expired(100, &n); }},
      {"pop", [&m] { return m.pop(&k8, &n); }},
      {"shift", [&m] { return m.shift(buf.data(), buf.size(), &k8, buf.data() + 128, 128, &n); }},
      {"drain", [&m] { return m.drain(2, [](void*, RwBytes, RwBytes) {}, nullptr, &n); }},
      {"reserve", [&m] { return m.reserve(100); }},
  };
}

// The header words writers follow, damaged after join (join() checks them;
// a peer with a stray store, or damage to a mapped file, can change them
// later). Before the checks of Writer, backed_checked() and bump(), a table word in
// the header let a put store into the header, one past the file's end made
// every write die of SIGBUS, a free-list head past the file (with top
// damaged above it) did the same, and a top in the header made the next
// new block or table overwrite it. Now each write returns corrupt and stores
// nothing; undone, the map is intact.
TEST(RwStore, WritersRefuseHeaderWordsDamagedAfterJoin) {
  TempFileStore f("rw_damaged_after_join");
  ASSERT_NE(f.st, nullptr);
  const std::string& path = f.path;
  RwMap& m = f.st->map();
  Region& r = f.st->region();
  std::string why;
  for (std::uint64_t k = 0; k < 40; ++k) ASSERT_EQ(m.put(k, k * 3), Status::ok);
  ASSERT_EQ(m.put(str("long"), str(std::string(100, 'v'))), Status::ok);
  ASSERT_EQ(m.remove(str("long")), Status::ok);  // its 128-byte block is free-list 2's head
  std::uint64_t* hdr = f.header();
  ASSERT_NE(hdr[32 + 2], 0u);
  const std::uint64_t file_end = (r.size() + 63) & ~std::uint64_t{63};
  ASSERT_LT(file_end + (std::uint64_t{1} << 20), hdr[4]);  // past the file, within mem_max
  struct Case {
    const char* name;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> words;  // header word, damaged value
    const char* verify_why;
    std::vector<std::string> ops;  // the writes that meet the damage (none: every one)
    bool readers_refuse = false;    // for_each (a reader) says corrupt too
  };
  const std::uint64_t above_top = (hdr[27] + 63) & ~std::uint64_t{63};
  ASSERT_LE(above_top + 256, hdr[29]);
  const Case cases[] = {
      {"table word naming the header", {{24, r.user_off() | 3}}, "table word", {}, true},
      {"table word past the file's end", {{24, file_end | 3}}, "table word", {}, true},
      // In bounds for readers, who find every key absent (its 4 slots lie
      // above top: zero); writers want a table of at least 8 slots. The
      // calls that read first (incr, get_or_set) reach their write
      // section this way.
      {"table word of 4 slots", {{24, above_top | 2}}, "table word", {}, false},
      {"top and a free-list head past the file's end",
       {{27, file_end + (std::uint64_t{1} << 20)}, {32 + 2, file_end + 4096}},
       "top/backed",
       {"put of a long value"}},
      // A bump allocation (a new string block, a table) would start in the
      // header.
      {"top inside the header", {{27, r.user_off() + 64}}, "table word", {"put of a long key", "reserve"}},
  };
  auto intact = [&] {
    std::uint64_t v = 0;
    for (std::uint64_t k = 0; k < 40; ++k) {
      EXPECT_EQ(m.get(k, &v), Status::ok) << k;
      EXPECT_EQ(v, k * 3);
    }
    EXPECT_EQ(m.size(), 40u);
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::uint64_t> saved;
    for (auto [w, v] : c.words) {
      saved.push_back(hdr[w]);
      hdr[w] = v;
    }
    EXPECT_EQ(m.verify(&why), Status::corrupt);
    EXPECT_NE(why.find(c.verify_why), std::string::npos) << why;
    const std::uint64_t file_size = r.size();
    const std::string before = slurp(path);
    for (auto& [name, write] : every_write(m)) {
      if (!c.ops.empty() && std::find(c.ops.begin(), c.ops.end(), name) == c.ops.end()) continue;
      SCOPED_TRACE(name);
      EXPECT_EQ(write(), Status::corrupt);
    }
    if (c.readers_refuse) {
      Status s = m.for_each([](void*, RwBytes, RwBytes) {}, nullptr);
      EXPECT_EQ(s, Status::corrupt);
    }
    // Nothing stored: the file is byte for byte the same but for the seq
    // word (header word 9: each refused section still opened and closed).
    std::string after = slurp(path);
    ASSERT_EQ(after.size(), before.size());
    EXPECT_EQ(r.size(), file_size);
    const std::size_t seq_at = r.user_off() + 8 * kRwSeqWord;
    after.replace(seq_at, 8, before, seq_at, 8);
    EXPECT_TRUE(after == before);
    for (std::size_t i = 0; i < c.words.size(); ++i) hdr[c.words[i].first] = saved[i];
    EXPECT_EQ(m.verify(&why), Status::ok) << why;
    intact();
  }
}

// The backed word (header word 29) damaged upward: a writer's bump
// allocation used to trust it and store past the file's end (SIGBUS). A
// writer now backs what the word claims before it trusts it (the file
// grows: that memory is the map's own), and the map stays whole.
TEST(RwStore, BackedWordDamagedUpwardIsBackedBeforeUse) {
  TempFileStore f("rw_backed_up");
  ASSERT_NE(f.st, nullptr);
  RwMap& m = f.st->map();
  Region& r = f.st->region();
  std::uint64_t* hdr = f.header();
  std::string why;
  ASSERT_EQ(m.put(1, 1), Status::ok);
  const std::uint64_t claimed = ((r.size() + (std::uint64_t{8} << 20)) & ~std::uint64_t{4095});
  ASSERT_LT(claimed, hdr[4]);
  const std::uint64_t was = r.size();
  hdr[29] = claimed;
  const std::string val(1000, 'x');
  std::uint64_t k = 0;
  bool crossed = false;
  for (; hdr[27] < claimed - 4096; ++k) {  // up to top near the claimed end
    const std::string key = "key" + std::to_string(k);
    ASSERT_EQ(m.put(str(key), str(val)), Status::ok) << k;
    if (!crossed && hdr[27] > was) {
      // The first block past the old backing: the claimed size got backed
      // (a grow of the writer's own would have added about 1 MiB).
      crossed = true;
      EXPECT_GE(r.size(), claimed) << k;
    }
  }
  EXPECT_TRUE(crossed);
  struct stat sb {};
  ASSERT_EQ(stat(f.path.c_str(), &sb), 0);
  EXPECT_GE(std::uint64_t(sb.st_size), claimed);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  Status s;
  EXPECT_EQ(get_str(m, "key0", &s), val);
  EXPECT_EQ(get_str(m, "key" + std::to_string(k - 1), &s), val);
}

// Two handles on one file: the second grows the arena past what the first
// has seen backed, and frees a block up there. The first handle's writes
// take that block and free another such block: a handle's own record of
// the backed size (checked only when something lies past it) must not
// make a peer's blocks look out of range (a review found that a first
// version of the range check did, on a sound map).
TEST(RwStore, AHandleTakesBlocksAPeerPlacedPastWhatItSawBacked) {
  TempFileStore f("rw_peer_blocks");
  ASSERT_NE(f.st, nullptr);
  RwStore::Ptr& a = f.st;
  RwStore::Ptr b;
  std::string why;
  ASSERT_EQ(a->map().reserve(2000), Status::ok);  // no rebuild below: the table stays low
  ASSERT_EQ(RwStore::join_file(f.path, &b, &why), Status::ok) << why;
  std::uint64_t* hdr = f.header();
  const std::uint64_t seen = hdr[29];  // what both handles know is backed
  const std::string val(1000, 'x');
  std::uint64_t n = 0;
  for (; hdr[27] < seen + (std::uint64_t{2} << 20); ++n)
    ASSERT_EQ(b->map().put(str("key" + std::to_string(n)), str(val)), Status::ok) << n;
  ASSERT_GT(hdr[29], seen);
  ASSERT_EQ(b->map().remove(str("key" + std::to_string(n - 1))), Status::ok);
  const std::uint64_t head = hdr[32 + 5];  // 1024-byte blocks
  ASSERT_GT(head, seen);
  EXPECT_EQ(a->map().put(str("new"), str(val)), Status::ok);
  EXPECT_NE(hdr[32 + 5], head);  // taken
  EXPECT_EQ(a->map().remove(str("key" + std::to_string(n - 2))), Status::ok);
  EXPECT_GT(hdr[32 + 5], seen);  // freed: the block past what `a` had seen
  Status s;
  EXPECT_EQ(get_str(a->map(), "new", &s), val);
  EXPECT_EQ(get_str(b->map(), "new", &s), val);
  EXPECT_EQ(a->map().verify(&why), Status::ok) << why;
}

// A table word naming memory past the map's own window (mem_max), where
// another map (another shard) lives: refused before any store, and the
// neighbour's bytes stay as they were.
TEST(RwMap, WritersStayInTheirWindow) {
  constexpr std::uint64_t kWindow = std::uint64_t{1} << 20;
  std::vector<std::uint64_t> mem(2 * kWindow / 8, 0);
  for (std::uint64_t i = kWindow / 8; i < mem.size(); ++i) mem[i] = 0x5a5a5a5a5a5a5a5aULL;
  RwParams p;
  p.cap_init = 8;
  p.cap_max = 1024;
  p.arena_max = 1 << 16;
  RwMap m;
  std::string why;
  ASSERT_EQ(RwMap::format(mem.data(), 0, kWindow, p, nullptr, nullptr, &m, &why), Status::ok) << why;
  for (std::uint64_t k = 0; k < 5; ++k) ASSERT_EQ(m.put(k, k), Status::ok);
  const std::vector<std::uint64_t> neighbour(mem.begin() + kWindow / 8, mem.end());
  const std::uint64_t table = mem[24], backed = mem[29];
  mem[24] = (kWindow + 4096) | 3;  // 8 slots in the neighbour's window
  for (auto& [name, write] : every_write(m)) {
    SCOPED_TRACE(name);
    EXPECT_EQ(write(), Status::corrupt);
  }
  // With the backed size damaged past the window too (readers bound the
  // table by it: the lock-free incr would add into the neighbour's slot).
  mem[29] = 2 * kWindow;
  for (auto& [name, write] : every_write(m)) {
    SCOPED_TRACE(std::string(name) + ", backed damaged too");
    EXPECT_EQ(write(), Status::corrupt);
  }
  EXPECT_TRUE(std::equal(neighbour.begin(), neighbour.end(), mem.begin() + kWindow / 8));
  mem[24] = table;
  mem[29] = backed;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  for (std::uint64_t k = 0; k < 5; ++k) EXPECT_TRUE(m.get(k, &v) == Status::ok && v == k) << k;
}

TEST(RwStore, FilePersistsAndMemfdJoins) {
  std::string path = temp_path("rw_file");
  unlink(path.c_str());
  {
    RwStore::Ptr st;
    std::string why;
    ASSERT_EQ(RwStore::create_file(path, small_params(), &st, &why), Status::ok) << why;
    const std::uint64_t backed0 = st->map().stats().backed;
    for (std::uint64_t k = 0; k < 20000; ++k) ASSERT_EQ(st->map().put(k, k * 7), Status::ok);
    ASSERT_EQ(st->map().put(str(std::string(100, 'L')), str(std::string(300, 'v'))), Status::ok);
    // stats().backed is the file's size in use: it grew with the table
    // (32768 slots of 64 bytes, past the first backing), and the file holds
    // it.
    struct stat sb {};
    ASSERT_EQ(stat(path.c_str(), &sb), 0);
    const std::uint64_t backed = st->map().stats().backed;
    EXPECT_GT(backed0, 0u);
    EXPECT_GT(backed, backed0);
    EXPECT_GE(backed, 32768 * kRwSlotSize);
    EXPECT_LE(backed, std::uint64_t(sb.st_size));
    RwStore::Ptr again;
    EXPECT_EQ(RwStore::create_file(path, small_params(), &again), Status::exists);
  }
  RwStore::Ptr st;
  std::string why;
  ASSERT_EQ(RwStore::open_file(path, small_params(), &st, &why), Status::ok) << why;
  EXPECT_EQ(st->map().size(), 20001u);
  std::uint64_t v = 0;
  ASSERT_EQ(st->map().get(19999, &v), Status::ok);
  EXPECT_EQ(v, 19999u * 7);
  Status s;
  EXPECT_EQ(get_str(st->map(), std::string(100, 'L'), &s), std::string(300, 'v'));
  EXPECT_EQ(st->map().verify(&why), Status::ok) << why;
  st.reset();
  EXPECT_EQ(Region::destroy_file(path, kRwRegionType), Status::ok);

  RwStore::Ptr a, b;
  ASSERT_EQ(RwStore::create_memfd(small_params(), &a), Status::ok);
  ASSERT_EQ(RwStore::join_fd(a->region().fd(), &b, &why), Status::ok) << why;
  ASSERT_EQ(a->map().put(5, 55), Status::ok);
  ASSERT_EQ(b->map().get(5, &v), Status::ok);  // another mapping of the same memory
  EXPECT_EQ(v, 55u);
}

// Each damage must be refused with a message and leave the file as it was.
TEST(RwStore, BadFilesAreRefusedAndLeftUntouched) {
  std::string good = temp_path("rw_good"), bad = temp_path("rw_bad");
  unlink(good.c_str());
  {
    RwStore::Ptr st;
    ASSERT_EQ(RwStore::create_file(good, small_params(), &st), Status::ok);
    for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(st->map().put(k, k), Status::ok);
  }
  const std::string bytes = slurp(good);
  ASSERT_GT(bytes.size(), 8192u);
  struct Damage {
    const char* what;
    std::string (*apply)(std::string);
  };
  const Damage damages[] = {
      {"truncated", [](std::string b) { return b.substr(0, 6000); }},
      {"truncated header", [](std::string b) { return b.substr(0, 100); }},
      {"damaged region type", [](std::string b) { b[16] = 'X'; return b; }},
      {"region magic", [](std::string b) { b[0] ^= 1; return b; }},
      {"map magic", [](std::string b) { b[4096] ^= 1; return b; }},
      {"map layout version", [](std::string b) { b[4096 + 8] = 99; return b; }},
      {"map header field", [](std::string b) { b[4096 + 16] ^= 4; return b; }},
      {"map backed size beyond the file", [](std::string b) { b[4096 + 8 * 29 + 5] = 0x7f; return b; }},
      {"map table word beyond the file", [](std::string b) { b[4096 + 8 * 24 + 4] = 0x7f; return b; }},
      {"map table word below the header", [](std::string b) { b[4096 + 8 * 24 + 1] = 0; b[4096 + 8 * 24 + 2] = 0; return b; }},
      {"map free table list head", [](std::string b) { b[4096 + 8 * (96 + 7 - 3) + 4] = 0x7f; return b; }},
      {"map shrink floor", [](std::string b) { b[4096 + 8 * 28] = 40; return b; }},
      {"map free list head", [](std::string b) { b[4096 + 8 * 35 + 3] = 0x7f; return b; }},
  };
  for (const Damage& d : damages) {
    std::string damaged = d.apply(bytes);
    spit(bad, damaged);
    RwStore::Ptr st;
    std::string why;
    Status s = RwStore::join_file(bad, &st, &why);
    EXPECT_TRUE(s == Status::invalid || s == Status::corrupt) << d.what << ": " << to_string(s);
    EXPECT_FALSE(why.empty()) << d.what;
    std::printf("%-32s -> %s: %s\n", d.what, to_string(s), why.c_str());
    if (std::string(d.what) == "map layout version") {  // another layout, named as such: not damage
      EXPECT_EQ(s, Status::invalid);
      EXPECT_NE(why.find("layout version"), std::string::npos) << why;
    }
    EXPECT_EQ(slurp(bad), damaged) << d.what << ": the file was modified";
  }
  // A valid region of another type, and of another type version.
  for (std::uint32_t version : {1u, 2u}) {
    unlink(bad.c_str());
    Region r;
    const char* type = version == 1 ? "mapbench.other" : kRwRegionType;
    ASSERT_EQ(Region::create_file(bad, {type, version, 1 << 20, 0}, {}, &r), Status::ok);
    r.leave();
    std::string before = slurp(bad), why;
    RwStore::Ptr st;
    EXPECT_EQ(RwStore::join_file(bad, &st, &why), Status::invalid) << type << " v" << version;
    std::printf("%s v%u -> %s\n", type, version, why.c_str());
    EXPECT_EQ(slurp(bad), before);
  }
  unlink(bad.c_str());
  unlink(good.c_str());
}

}  // namespace
}  // namespace mb
