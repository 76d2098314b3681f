#include "variants/robinhood/rh_map.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/internal/hash.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "models/map_conformance.h"
#include "variants/robinhood/rh_testing.h"

namespace mb {
namespace {

INSTANTIATE_TYPED_TEST_SUITE_P(RobinHood, MapConformance, ::testing::Types<RhHarness>);

// A random test's checkpoint: the map holds `size` entries and verifies.
void check_map(const RhMap& m, std::uint64_t size, std::uint64_t seed) {
  ASSERT_EQ(m.size(), size) << "seed " << seed;
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why << " seed " << seed;
}

TEST(RhMap, InsertOrAssignSaysWhetherItCreated) {
  RhHarness h;
  bool created = false;
  EXPECT_EQ(h.m.insert_or_assign(7, 70, &created), Status::ok);
  EXPECT_TRUE(created);
  EXPECT_EQ(h.m.insert_or_assign(7, 71, &created), Status::ok);
  EXPECT_FALSE(created);
  std::uint64_t v = 0;
  ASSERT_EQ(h.m.find(7, &v), Status::ok);
  EXPECT_EQ(v, 71u);
  EXPECT_EQ(h.m.size(), 1u);
}

TEST(RhMap, GrowsFromTinyToManyThenShrinks) {
  RhHarness h;
  RhMap& m = h.m;
  EXPECT_EQ(m.capacity(), 4u);
  const std::uint64_t n = 200000;
  for (std::uint64_t k = 0; k < n; ++k) ASSERT_EQ(m.insert(k * 7919, k), Status::ok) << k;
  EXPECT_EQ(m.size(), n);
  EXPECT_GE(m.capacity(), n * 4 / 3);
  EXPECT_GT(m.resizes(), 10u);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t k = 0; k < n; ++k) {
    std::uint64_t v = ~0ULL;
    ASSERT_EQ(m.find(k * 7919, &v), Status::ok);
    ASSERT_EQ(v, k);
  }
  const std::uint64_t big = m.capacity();
  for (std::uint64_t k = 0; k < n; ++k)
    if (k % 100 != 0) {
      ASSERT_EQ(m.erase(k * 7919), Status::ok);
    }
  EXPECT_EQ(m.size(), n / 100);
  EXPECT_LE(m.capacity() * 8, big);  // shrank
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t k = 0; k < n; ++k) {
    std::uint64_t v = 0;
    ASSERT_EQ(m.find(k * 7919, &v), k % 100 == 0 ? Status::ok : Status::not_found);
  }
}

// After a mass erase the shrinks move the entries left into new slabs and
// free the old ones: the allocator's live bytes fall back near what the
// entries need, every entry keeps its value, and the map goes on (grows,
// erases down to nothing, which leaves at most one slab).
TEST(RhMap, MassEraseFreesSlabs) {
  RhHarness h;
  RhMap& m = h.m;
  auto live_bytes = [&] {
    AllocStats st{};
    EXPECT_EQ(h.a.verify(&st), Status::ok);
    return st.obj_bytes;
  };
  const std::uint64_t empty = live_bytes(), n = 300000;
  for (std::uint64_t k = 0; k < n; ++k) ASSERT_EQ(m.insert(k * 7919, k), Status::ok);
  const std::uint64_t full = live_bytes(), slabs = m.slab_count();
  EXPECT_GE(slabs, 10u);  // 16 bytes a block, 256 KiB slabs
  for (std::uint64_t k = 0; k < n; ++k)
    if (k % 300 != 0) { ASSERT_EQ(m.erase(k * 7919), Status::ok); }
  EXPECT_EQ(m.size(), n / 300);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_LE(m.slab_count(), 1u);
  EXPECT_LT(live_bytes() - empty, (full - empty) / 20) << "after the erase " << live_bytes() << ", full " << full;
  std::uint64_t v = 0;
  for (std::uint64_t k = 0; k < n; k += 300) {
    ASSERT_EQ(m.find(k * 7919, &v), Status::ok) << k;
    ASSERT_EQ(v, k);
  }
  // The map goes on: grow again, update in place, erase everything.
  for (std::uint64_t k = n; k < 2 * n; ++k) ASSERT_EQ(m.insert(k * 7919, k), Status::ok);
  for (std::uint64_t k = 0; k < 2 * n; k += 300) ASSERT_EQ(m.insert_or_assign(k * 7919, k + 1), Status::ok);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t k = 0; k < 2 * n; ++k) {
    if (k < n && k % 300 != 0) continue;
    ASSERT_EQ(m.find(k * 7919, &v), Status::ok) << k;
    ASSERT_EQ(v, k % 300 == 0 ? k + 1 : k);
    ASSERT_EQ(m.erase(k * 7919), Status::ok);
  }
  EXPECT_EQ(m.size(), 0u);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_LE(m.slab_count(), 1u);  // one slab may stay, as the minimum capacity's table does
  EXPECT_LT(live_bytes() - empty, std::uint64_t{320} << 10);
  ASSERT_EQ(m.insert(1, 2), Status::ok);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
}

// A compacting shrink that cannot get its new slabs shrinks without
// compacting (it used to fail, and the table never shrank): the allocator
// is filled with slab-sized objects but one, so the compaction's first new
// slab comes and its second does not.
TEST(RhMap, ShrinkWithoutMemoryForSlabsStillShrinks) {
  RhHarness h(4, 0, kRhCapMax, std::uint64_t{64} << 20);
  Allocator& a = h.a;
  RhMap& m = h.m;
  std::string why;
  constexpr std::uint64_t kKeys = 140000;  // 9 slabs (the 4x rule needs 9 at the first shrink), 262144 slots
  for (std::uint64_t k = 0; k < kKeys; ++k) ASSERT_EQ(m.insert(k, k + 1), Status::ok);
  ASSERT_EQ(m.capacity(), 262144u);
  const std::uint64_t slabs = m.slab_count();
  ASSERT_GE(slabs, 9u);
  std::uint64_t k = 0;
  for (; m.size() > m.capacity() / 8; ++k) ASSERT_EQ(m.erase(k), Status::ok);
  // The next erase shrinks; 32767 entries need 3 new slabs. Fill the slab
  // size class, then give one object back.
  std::vector<std::uint64_t> fill;
  for (std::uint64_t o = 0; a.alloc(16, std::uint64_t{256} << 10, 0x7e570001, &o) == Status::ok;) fill.push_back(o);
  ASSERT_GT(fill.size(), 0u);
  ASSERT_EQ(a.free(fill.back()), Status::ok);
  fill.pop_back();
  ASSERT_EQ(m.erase(k++), Status::ok);
  EXPECT_EQ(m.capacity(), 65536u);  // shrank
  EXPECT_EQ(m.slab_count(), slabs);  // without compacting
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  for (std::uint64_t j = k; j < kKeys; ++j) ASSERT_TRUE(m.find(j, &v) == Status::ok && v == j + 1) << j;
  // With the memory back, the next shrink compacts.
  for (std::uint64_t o : fill) ASSERT_EQ(a.free(o), Status::ok);
  for (const std::uint64_t cap = m.capacity(); m.capacity() == cap && k < kKeys; ++k) ASSERT_EQ(m.erase(k), Status::ok);
  EXPECT_EQ(m.capacity(), 16384u);
  EXPECT_EQ(m.slab_count(), 1u);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t j = k; j < kKeys; ++j) ASSERT_TRUE(m.find(j, &v) == Status::ok && v == j + 1) << j;
}

TEST(RhMap, TombstonesAreReusedWithoutGrowing) {
  RhHarness h(64);
  RhMap& m = h.m;
  for (int round = 0; round < 2000; ++round) {
    for (std::uint64_t k = 0; k < 20; ++k) ASSERT_EQ(m.insert(round * 100 + k, k), Status::ok);
    for (std::uint64_t k = 0; k < 20; ++k) ASSERT_EQ(m.erase(round * 100 + k), Status::ok);
  }
  EXPECT_EQ(m.capacity(), 64u);
  EXPECT_EQ(m.size(), 0u);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
}

// A map created with a maximum capacity grows to it and no further: it
// takes 3/4 of it, then inserts say full and every entry stays, with its
// value, changeable in place. After erases, inserts say full while the
// live entries stay at 5/8 of the maximum or more (the tombstones would
// need a same-size rebuild too soon after the last), and go in again below
// that. A joined handle reads the bound from the header. Plain, byte-string
// and multimap maps alike.
TEST(RhMap, MaximumCapacityGivesFullAndKeepsEveryEntry) {
  constexpr std::uint64_t kMax = 1024, kMost = kMax * 3 / 4;
  for (unsigned flags : {0u, kRhBytes, kRhMultimap, kRhMultimap | kRhBytes}) {
    SCOPED_TRACE(flags);
    RhHarness h(4, flags, kMax - 100);  // rounded up to kMax
    RhMap& m = h.m;
    EXPECT_EQ(m.capacity_max(), kMax);
    std::unordered_map<std::uint64_t, std::uint64_t> want;
    auto key_of = [](std::uint64_t k) { return "key-" + std::to_string(k); };
    auto val_of = [](std::uint64_t v) { return "value-" + std::to_string(v); };
    auto put = [&](std::uint64_t k, std::uint64_t v, bool assign) {
      if (!(flags & kRhBytes)) return assign ? m.insert_or_assign(k, v) : m.insert(k, v);
      const std::string kb = key_of(k), vb = val_of(v);
      const RhBytes kr{kb.data(), kb.size()}, vr{vb.data(), vb.size()};
      return assign ? m.insert_or_assign(kr, vr) : m.insert(kr, vr);
    };
    auto erase = [&](std::uint64_t k) {
      const std::string kb = key_of(k);
      return flags & kRhBytes ? m.erase(RhBytes{kb.data(), kb.size()}) : m.erase(k);
    };
    auto check = [&](const RhMap& r) {
      ASSERT_EQ(r.size(), want.size());
      for (auto [k, v] : want) {
        if (flags & kRhBytes) {
          const std::string kb = key_of(k), vb = val_of(v);
          char buf[64];
          std::uint64_t sz = 0;
          ASSERT_EQ(r.find(RhBytes{kb.data(), kb.size()}, buf, sizeof buf, &sz), Status::ok) << k;
          ASSERT_EQ(std::string(buf, sz), vb);
        } else {
          std::uint64_t got = 0;
          ASSERT_EQ(r.find(k, &got), Status::ok) << k;
          ASSERT_EQ(got, v);
        }
      }
      std::string why;
      ASSERT_EQ(r.verify(&why), Status::ok) << why;
    };
    std::uint64_t next = 0;
    Status s = Status::ok;
    for (; next < 10 * kMax && (s = put(next * 7919, next, false)) == Status::ok; ++next) want[next * 7919] = next;
    EXPECT_EQ(s, Status::full);
    EXPECT_EQ(want.size(), kMost);
    EXPECT_EQ(m.capacity(), kMax);
    EXPECT_EQ(put(next * 7919, next, true), Status::full);  // a new key by assign: full too
    ASSERT_NO_FATAL_FAILURE(check(m));
    for (std::uint64_t i = 0; i < 50; ++i) {  // present keys change at full
      ASSERT_EQ(put(i * 7919, i + 100000, true), Status::ok);
      want[i * 7919] = i + 100000;
    }
    EXPECT_EQ(put(0, 1, false), Status::exists);
    RhMap joined;
    ASSERT_EQ(RhMap::join(h.a, h.off, &joined), Status::ok);
    EXPECT_EQ(joined.capacity_max(), kMax);
    ASSERT_NO_FATAL_FAILURE(check(joined));
    // Erase down to just above 5/8: still full, nothing lost.
    std::uint64_t gone = 0;
    for (; want.size() > kMax * 5 / 8; ++gone) {
      ASSERT_EQ(erase(gone * 7919), Status::ok);
      want.erase(gone * 7919);
    }
    EXPECT_EQ(put(next * 7919, next, false), Status::full);
    EXPECT_EQ(joined.insert_or_assign(next * 7919, next), flags & kRhBytes ? Status::invalid : Status::full);
    ASSERT_NO_FATAL_FAILURE(check(m));
    // One more erase: the next insert rebuilds at the same size, clearing
    // the tombstones, and inserts go in again up to 3/4.
    ASSERT_EQ(erase(gone * 7919), Status::ok);
    want.erase(gone * 7919);
    const std::uint64_t rebuilt = m.resizes();
    for (; (s = put(next * 7919, next, false)) == Status::ok; ++next) want[next * 7919] = next;
    EXPECT_EQ(s, Status::full);
    EXPECT_EQ(want.size(), kMost);
    EXPECT_EQ(m.resizes(), rebuilt + 1);
    EXPECT_EQ(m.capacity(), kMax);
    ASSERT_NO_FATAL_FAILURE(check(m));
  }
}

// Bad bounds are refused at creation; a header whose bound is damaged (0,
// below the minimum, above kRhCapMax) is refused at join; a layout version
// 3 map (no bound) reads as bounded by kRhCapMax.
// Relabel the map header at `off` with layout version `version` and word 3
// `w3`, sealed with a matching check word (rh_map.cc's header_check), so
// that only what the caller changed is wrong.
void reseal_header(Allocator& a, std::uint64_t off, std::uint64_t version, std::uint64_t w3) {
  std::uint64_t w[5];
  for (unsigned i = 0; i < 5; ++i) w[i] = sync::word(a.base(), off + 8 * i).load_relaxed();
  w[1] = version;
  w[3] = w3;
  w[4] = internal::hash_bytes(w + 1, 3 * sizeof(std::uint64_t), kRhMagic);
  for (unsigned i = 1; i < 5; ++i) sync::word(a.base(), off + 8 * i).store_relaxed(w[i]);
}

TEST(RhMap, MaximumCapacityIsChecked) {
  Region region;
  Allocator a;
  ASSERT_EQ(Region::create_anon({"mapbench.robinhood", 1, std::uint64_t{1} << 30, 0}, {}, &region), Status::ok);
  ASSERT_EQ(Allocator::create(region, AllocParams(), &a), Status::ok);
  std::uint64_t off = 0;
  std::string why;
  EXPECT_EQ(RhMap::create(a, 1024, 1, &off, &why, 0, 512), Status::invalid);
  EXPECT_NE(why.find("cap_max"), std::string::npos) << why;
  EXPECT_EQ(RhMap::create(a, 4, 1, &off, &why, 0, kRhCapMax * 2), Status::invalid);
  ASSERT_EQ(RhMap::create(a, 64, 1, &off, &why, 0, 64), Status::ok) << why;
  RhMap m;
  ASSERT_EQ(RhMap::join(a, off, &m), Status::ok);
  EXPECT_EQ(m.capacity(), 64u);
  EXPECT_EQ(m.capacity_max(), 64u);
  auto w1 = sync::word(a.base(), off + 8), w3 = sync::word(a.base(), off + 24), w4 = sync::word(a.base(), off + 32);
  const std::uint64_t good3 = w3.load_relaxed(), good4 = w4.load_relaxed();
  // Re-sealed with a consistent check, so that only the bound (or the
  // layout version) is wrong.
  auto reseal = [&](std::uint64_t v3, std::uint64_t version = kRhLayoutVersion) {
    reseal_header(a, off, version, v3);
  };
  for (std::uint64_t bad_log2 : {std::uint64_t{0}, std::uint64_t{5}, std::uint64_t{kRhCapLog2Max + 1}}) {
    reseal((good3 & ~(std::uint64_t{0xff} << 16)) | bad_log2 << 16);
    RhMap other;
    EXPECT_EQ(RhMap::join(a, off, &other, &why), Status::corrupt) << bad_log2;
    EXPECT_NE(why.find("header damaged"), std::string::npos) << why;
  }
  // Layout version 3 (before bounds) reads as kRhCapMax; version 5 is
  // refused as another layout, not as damage.
  reseal(good3 & ~(std::uint64_t{0xff} << 16), 3);
  RhMap old;
  ASSERT_EQ(RhMap::join(a, off, &old), Status::ok);
  EXPECT_EQ(old.capacity_max(), kRhCapMax);
  reseal(good3, kRhLayoutVersion + 1);
  EXPECT_EQ(RhMap::join(a, off, &old, &why), Status::invalid);
  EXPECT_NE(why.find("layout version"), std::string::npos) << why;
  w1.store_relaxed(kRhLayoutVersion);
  w3.store_relaxed(good3);
  w4.store_relaxed(good4);
  ASSERT_EQ(RhMap::join(a, off, &old), Status::ok);
  EXPECT_EQ(old.capacity_max(), 64u);
}

// A layout version 4 map has a two-line header and no journal: this build
// reads and writes it without touching the words past the header's 16
// (another object's memory in a real version 4 map: here sentinels).
TEST(RhMap, LayoutVersion4IsWrittenWithoutAJournal) {
  for (unsigned flags : {0u, kRhBytes}) {
    SCOPED_TRACE(flags);
    RhHarness h(4, flags);
    Allocator& a = h.a;
    const std::uint64_t off = h.off;
    EXPECT_EQ(off % 64, 0u) << "a standard ladder gives the header whole lines (LAYOUT)";
    reseal_header(a, off, 4, sync::word(a.base(), off + 24).load_relaxed());
    constexpr std::uint64_t kSentinel = 0x5e5e5e5e5e5e5e5eULL;
    for (unsigned i = 16; i < 22; ++i) sync::word(a.base(), off + 8 * i).store_relaxed(kSentinel + i);
    RhMap m;
    std::string why;
    ASSERT_EQ(RhMap::join(a, off, &m, &why), Status::ok) << why;
    auto key = [](std::uint64_t k) { return "k" + std::to_string(k); };
    for (std::uint64_t k = 0; k < 3000; ++k) {  // grows, assigns, erases, shrinks (compacting for u64)
      const std::string s = key(k);
      if (flags == 0) {
        ASSERT_EQ(m.insert(k, k), Status::ok);
        ASSERT_EQ(m.insert_or_assign(k, k + 1), Status::ok);
      } else {
        ASSERT_EQ(m.insert(RhBytes{s.data(), s.size()}, RhBytes{s.data(), s.size()}), Status::ok);
        ASSERT_EQ(m.insert_or_assign(RhBytes{s.data(), s.size()}, RhBytes{"v", 1}), Status::ok);
      }
    }
    for (std::uint64_t k = 0; k < 2990; ++k) {
      const std::string s = key(k);
      ASSERT_EQ(flags == 0 ? m.erase(k) : m.erase(RhBytes{s.data(), s.size()}), Status::ok);
    }
    EXPECT_GT(m.resizes(), 4u);
    EXPECT_EQ(m.verify(&why), Status::ok) << why;
    for (unsigned i = 16; i < 22; ++i) EXPECT_EQ(sync::word(a.base(), off + 8 * i).load_relaxed(), kSentinel + i) << i;
  }
}

// A real version 4 header: a 128-byte object (two lines) holding a map's
// words 0..15, relabelled version 4. join() takes it (and the map works
// through it); labelled version 5, the same object is too small.
TEST(RhMap, A128ByteVersion4HeaderJoins) {
  RhHarness h(4);
  Allocator& a = h.a;
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(h.m.insert(k, k * 2), Status::ok);
  std::uint64_t old4 = 0;
  ASSERT_EQ(a.alloc(64, 128, kRhTagHeader, &old4), Status::ok);
  for (unsigned i = 0; i < 16; ++i)
    sync::word(a.base(), old4 + 8 * i).store_relaxed(sync::word(a.base(), h.off + 8 * i).load_relaxed());
  const std::uint64_t w3 = sync::word(a.base(), old4 + 24).load_relaxed();
  auto seal = [&](std::uint64_t version) { reseal_header(a, old4, version, w3); };
  seal(kRhLayoutVersion);
  RhMap m;
  std::string why;
  EXPECT_EQ(RhMap::join(a, old4, &m, &why), Status::corrupt);
  EXPECT_NE(why.find("too small"), std::string::npos) << why;
  seal(4);
  ASSERT_EQ(RhMap::join(a, old4, &m, &why), Status::ok) << why;
  std::uint64_t v = 0;
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_TRUE(m.find(k, &v) == Status::ok && v == k * 2) << k;
  for (std::uint64_t k = 100; k < 1000; ++k) ASSERT_EQ(m.insert(k, k * 2), Status::ok);  // grows
  for (std::uint64_t k = 0; k < 990; ++k) ASSERT_EQ(m.erase(k), Status::ok);              // shrinks
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.size(), 10u);
}

TEST(RhMap, JoinRejectsAForeignOffsetAndSeesTheSameMap) {
  RhHarness h;
  ASSERT_EQ(h.m.insert(1, 2), Status::ok);
  RhMap other;
  EXPECT_EQ(RhMap::join(h.a, h.off + 16, &other), Status::invalid);
  ASSERT_EQ(RhMap::join(h.a, h.off, &other), Status::ok);
  std::uint64_t v = 0;
  ASSERT_EQ(other.find(1, &v), Status::ok);
  EXPECT_EQ(v, 2u);
  EXPECT_EQ(h.m.destroy(), Status::ok);
  EXPECT_EQ(RhMap::join(h.a, h.off, &other), Status::invalid);
}

// verify() reports damage (a broken robin-hood order, a foreign block, a
// wrong count) as corrupt and never crashes; find() stays bounded.
TEST(RhMap, VerifyCatchesDamage) {
  RhHarness h(16);
  RhMap& m = h.m;
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.insert(k, k), Status::ok);
  ASSERT_EQ(m.verify(), Status::ok);
  // Find the table's one segment: the directory is named by the table word.
  std::uint64_t tw = sync::word(h.a.base(), h.off + 40).load_relaxed();
  std::uint64_t dir = (tw & 0xffffffffULL) << 4;
  std::uint64_t seg = sync::word(h.a.base(), dir).load_relaxed();
  std::vector<std::uint64_t> saved(16);
  for (int i = 0; i < 16; ++i) saved[i] = sync::word(h.a.base(), seg + 8 * i).load_relaxed();
  auto restore = [&] {
    for (int i = 0; i < 16; ++i) sync::word(h.a.base(), seg + 8 * i).store_relaxed(saved[i]);
  };
  std::string why;
  int live_idx = -1;
  for (int i = 0; i < 16; ++i)
    if (saved[i] != 0 && live_idx < 0) live_idx = i;
  ASSERT_GE(live_idx, 0);
  // 1. a distance far larger than its predecessor allows.
  sync::word(h.a.base(), seg + 8 * live_idx).store_relaxed(saved[live_idx] | (std::uint64_t{200} << 32));
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  std::uint64_t v = 0;
  for (std::uint64_t k = 0; k < 10; ++k) m.find(k, &v);  // bounded, no crash
  restore();
  // 1b. RH1 alone: a live entry moved one slot right into an EMPTY slot,
  // its distance one more (home and tag still right: RH2 holds), the slot
  // it left EMPTY, so it follows an EMPTY slot with a distance above 0.
  int moved = -1;
  for (int i = 0; i < 15 && moved < 0; ++i)
    if (saved[i] != 0 && (saved[i] >> 63) == 0 && saved[i + 1] == 0) moved = i;
  ASSERT_GE(moved, 0) << "no live slot followed by an empty one";
  sync::word(h.a.base(), seg + 8 * moved).store_relaxed(0);
  sync::word(h.a.base(), seg + 8 * (moved + 1)).store_relaxed(saved[moved] + (std::uint64_t{1} << 32));
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("RH1"), std::string::npos) << why;
  restore();
  // 2. a reference to something that is not a block (the map header).
  sync::word(h.a.base(), seg + 8 * live_idx)
      .store_relaxed((saved[live_idx] & ~0xffffffffULL) | (h.off >> 4));
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("RH2"), std::string::npos) << why;
  restore();
  // 2b. a reference outside the allocator's memory: find says corrupt.
  sync::word(h.a.base(), seg + 8 * live_idx).store_relaxed((saved[live_idx] & ~0xffffffffULL) | 0xfffffff0ULL);
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  std::uint64_t k_at = 0;
  while (k_at < 10 && m.find(k_at, &v) != Status::corrupt) ++k_at;
  EXPECT_LT(k_at, 10u);  // the damaged slot's key
  // Writers meet it too: corrupt, not a fault (they used to read the block
  // unchecked), and nothing changes.
  EXPECT_EQ(m.update(k_at, 1), Status::corrupt);
  EXPECT_EQ(m.insert(k_at, 1), Status::corrupt);
  EXPECT_EQ(m.erase(k_at), Status::corrupt);
  restore();
  // So does a resize: with 12 entries the next insert passes 3/4 of the 16
  // slots; it says corrupt, and the old table stays current, every entry in it.
  ASSERT_EQ(m.insert(100, 100), Status::ok);
  ASSERT_EQ(m.insert(101, 101), Status::ok);
  const std::uint64_t cap = m.capacity();
  auto damaged = sync::word(h.a.base(), seg + 8 * live_idx);
  const std::uint64_t before = damaged.load_relaxed();
  ASSERT_NE(before & 0xffffffffULL, 0u);  // still a live slot
  damaged.store_relaxed((before & ~0xffffffffULL) | 0xfffffff0ULL);
  EXPECT_EQ(m.insert(102, 102), Status::corrupt);
  EXPECT_EQ(m.capacity(), cap);
  damaged.store_relaxed(before);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t k : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 101})
    EXPECT_TRUE(m.find(k, &v) == Status::ok && v == k) << k;
  EXPECT_EQ(m.find(102, &v), Status::not_found);  // the insert that failed added nothing
  ASSERT_EQ(m.erase(100), Status::ok);
  ASSERT_EQ(m.erase(101), Status::ok);
  ASSERT_EQ(m.size(), 10u);
  // 3. the live count.
  sync::word(h.a.base(), h.off + 72).store_relaxed(11);
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("RH3"), std::string::npos) << why;
  sync::word(h.a.base(), h.off + 72).store_relaxed(10);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// u64 blocks come 16 bytes each from 256 KiB slabs (which fit an allocator
// class exactly), erased blocks are reused before any new one, and destroy
// gives everything back.
TEST(RhMap, BlocksComeFromSlabsAndAreReused) {
  Region region;
  Allocator a;
  std::string why;
  ASSERT_EQ(Region::create_anon({"mapbench.robinhood", 1, std::uint64_t{1} << 31, 0}, {}, &region, &why),
            Status::ok) << why;
  ASSERT_EQ(Allocator::create(region, AllocParams(), &a, &why), Status::ok) << why;
  AllocStats empty, before, after;
  ASSERT_EQ(a.verify(&empty, &why), Status::ok) << why;
  std::uint64_t off = 0;
  RhMap m;
  ASSERT_EQ(RhMap::create(a, 131072, 42, &off, &why), Status::ok) << why;  // no resize: 3/4 is 98304
  ASSERT_EQ(RhMap::join(a, off, &m, &why), Status::ok) << why;
  ASSERT_EQ(a.verify(&before, &why), Status::ok) << why;
  const std::uint64_t n = 40000, per_slab = ((std::uint64_t{256} << 10) - 16) / 16;
  for (std::uint64_t k = 0; k < n; ++k) ASSERT_EQ(m.insert(k, k), Status::ok);
  ASSERT_EQ(a.verify(&after, &why), Status::ok) << why;
  const std::uint64_t slabs = (n + per_slab - 1) / per_slab;
  EXPECT_EQ(after.obj_cnt - before.obj_cnt, slabs);
  EXPECT_EQ(after.slot_bytes - before.slot_bytes, slabs * ((std::uint64_t{256} << 10) + kPow2Slack));
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t k = 0; k < n; k += 2) ASSERT_EQ(m.erase(k), Status::ok);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;  // the erased blocks are on the free stack
  for (std::uint64_t k = n; k < n + n / 2; ++k) ASSERT_EQ(m.insert(k, k + 1), Status::ok);
  AllocStats again;
  ASSERT_EQ(a.verify(&again, &why), Status::ok) << why;
  EXPECT_EQ(again.obj_cnt, after.obj_cnt);  // reused: no new slab
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t k = 0; k < n + n / 2; ++k) {
    std::uint64_t v = 0;
    if (k < n && k % 2 == 0) {
      ASSERT_EQ(m.find(k, &v), Status::not_found) << k;
    } else {
      ASSERT_EQ(m.find(k, &v), Status::ok) << k;
      ASSERT_EQ(v, k < n ? k : k + 1);
    }
  }
  ASSERT_EQ(m.destroy(), Status::ok);
  ASSERT_EQ(a.verify(&after, &why), Status::ok) << why;
  EXPECT_EQ(after.obj_cnt, empty.obj_cnt);
}

// A directory entry naming a misaligned segment, or a table word naming a
// directory past the allocator's space: the u64 find says corrupt (its own
// loop over the home segment leaves both to the general probe, which
// checks them; a misaligned segment used to be read, halves of two slot
// words at a time).
TEST(RhMap, DamagedDirectoryGivesCorrupt) {
  RhHarness h(16);
  RhMap& m = h.m;
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.insert(k, k), Status::ok);
  auto table = sync::word(h.a.base(), h.off + 40);
  const std::uint64_t tw = table.load_relaxed();
  auto dir = sync::word(h.a.base(), (tw & 0xffffffffULL) << 4);
  const std::uint64_t seg = dir.load_relaxed();
  std::uint64_t v = 0;
  dir.store_relaxed(seg + 4);
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_EQ(m.find(k, &v), Status::corrupt) << k;
  dir.store_relaxed(seg);
  table.store_relaxed(tw | 0xffffffffULL);  // the directory at 64 GiB
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_EQ(m.find(k, &v), Status::corrupt) << k;
  table.store_relaxed(tw);
  // A directory that is not a directory object (its one entry copied into
  // another object, which the table word then names): verify() names it,
  // as join() and the writers refuse it.
  std::uint64_t fake = 0;
  ASSERT_EQ(h.a.alloc(16, 8, 77, &fake), Status::ok);
  sync::word(h.a.base(), fake).store_relaxed(seg);
  table.store_relaxed((tw & ~0xffffffffULL) | fake >> 4);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("the directory is not a directory object"), std::string::npos) << why;
  table.store_relaxed(tw);
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_TRUE(m.find(k, &v) == Status::ok && v == k) << k;
  EXPECT_EQ(m.verify(), Status::ok);
}

// An allocator object (tag 77) of `words` words, each `fill`, for damage
// to point a map's words at; untouched() says whether it still holds them.
struct Victim {
  Victim(Allocator& a, std::uint64_t words, std::uint64_t fill) : a(a), n(words), fill(fill) {
    EXPECT_EQ(a.alloc(16, 8 * words, 77, &off), Status::ok);
    for (std::uint64_t i = 0; i < n; ++i) sync::word(a.base(), off + 8 * i).store_relaxed(fill);
  }
  bool untouched() const {
    for (std::uint64_t i = 0; i < n; ++i)
      if (sync::word(a.base(), off + 8 * i).load_relaxed() != fill) return false;
    return true;
  }
  Allocator& a;
  std::uint64_t n, fill, off = 0;
};

// Damage a writer would store through, refused before any store (each
// used to be followed): a table whose capacity is outside the map's
// bounds or whose directory names something that is not a segment of its
// size (join() refuses it, naming what is wrong; a writer refuses it when
// the table word changes under its handle); live or tombstone counts past
// the capacity (a live count of 2^62 + 2^40 wrapped the occupancy test into
// a rebuild whose size loop never ended, the writer lock held); a bump
// pointer outside the newest slab's blocks. The victim object the damage
// points at stays as it was, and so does every key.
TEST(RhMap, DamageAWriterWouldStoreThroughIsRefused) {
  RhHarness h(16);
  RhMap& m = h.m;
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.insert(k, k), Status::ok);
  const Victim target(h.a, 1024, 0);  // the size of a 1024-slot segment
  const std::uint64_t victim = target.off;
  auto victim_untouched = [&] { return target.untouched(); };
  auto word = [&](unsigned i) { return sync::word(h.a.base(), h.off + 8 * i); };
  const unsigned kTable = 5, kSlab = 6, kLive = 9, kTomb = 10, kBump = 12, kBumpEnd = 13;
  const std::uint64_t tw = word(kTable).load_relaxed();
  auto dir0 = sync::word(h.a.base(), (tw & 0xffffffffULL) << 4);
  const std::uint64_t seg = dir0.load_relaxed();
  std::string why;
  RhMap other;
  auto refused = [&](const char* what) {
    EXPECT_EQ(m.insert(100, 1), Status::corrupt) << what;
    EXPECT_EQ(m.insert_or_assign(3, 33), Status::corrupt) << what;
    EXPECT_EQ(m.erase(4), Status::corrupt) << what;
    EXPECT_TRUE(victim_untouched()) << what;
  };
  // 1. The directory names the victim: join() refuses the table. (This
  // handle checked the table word before; the word is unchanged, so its
  // writers do not look again: verify() reports it.)
  dir0.store_relaxed(victim);
  EXPECT_EQ(RhMap::join(h.a, h.off, &other, &why), Status::corrupt);
  EXPECT_NE(why.find("segment 0 is not a segment object"), std::string::npos) << why;
  EXPECT_EQ(m.verify(), Status::corrupt);
  dir0.store_relaxed(seg);
  // 2. The capacity raised from 16 to 1024 slots: the real segment is too
  // small, and the victim (large enough) is not a segment.
  const std::uint64_t tw1024 = (tw & ~(std::uint64_t{63} << 32)) | std::uint64_t{10} << 32;
  word(kTable).store_relaxed(tw1024);
  EXPECT_EQ(RhMap::join(h.a, h.off, &other, &why), Status::corrupt);
  EXPECT_NE(why.find("not a segment object of its size"), std::string::npos) << why;
  refused("capacity 1024");
  dir0.store_relaxed(victim);
  refused("capacity 1024, the victim as segment 0");
  dir0.store_relaxed(seg);
  // 3. Capacities outside the map's bounds (its minimum is 16 slots).
  word(kTable).store_relaxed((tw & ~(std::uint64_t{63} << 32)) | std::uint64_t{3} << 32);
  EXPECT_EQ(RhMap::join(h.a, h.off, &other, &why), Status::corrupt);
  refused("capacity 8");
  word(kTable).store_relaxed(tw);
  // 4. The counts (a damaged live count is also what verify() reports).
  for (auto [idx, bad] : {std::pair<unsigned, std::uint64_t>{kLive, 0x4000010000000000ULL},
                          {kLive, 0x6000000000000001ULL}, {kLive, 17}, {kTomb, 7}, {kTomb, ~std::uint64_t{0}}}) {
    const std::uint64_t good = word(idx).load_relaxed();
    word(idx).store_relaxed(bad);
    refused(idx == kLive ? "live count" : "tombstone count");
    word(idx).store_relaxed(good);
  }
  // 5. The bump pointer: into the victim (with its end), or onto the
  // newest slab's own header.
  const std::uint64_t bump = word(kBump).load_relaxed(), end = word(kBumpEnd).load_relaxed(),
                      slab = word(kSlab).load_relaxed();
  ASSERT_NE(bump, end);  // 10 blocks used: the slab has room
  word(kBump).store_relaxed(victim);
  word(kBumpEnd).store_relaxed(victim + 16);
  EXPECT_EQ(m.insert(100, 1), Status::corrupt);
  EXPECT_TRUE(victim_untouched());
  word(kBumpEnd).store_relaxed(end);
  word(kBump).store_relaxed(slab);
  EXPECT_EQ(m.insert(100, 1), Status::corrupt);
  word(kBump).store_relaxed(bump);
  // Undamaged again: every key, and writes.
  std::uint64_t v = 0;
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_TRUE(m.find(k, &v) == Status::ok && v == k) << k;
  EXPECT_EQ(m.insert(100, 1), Status::ok);
  EXPECT_EQ(m.erase(4), Status::ok);
  EXPECT_EQ(RhMap::join(h.a, h.off, &other, &why), Status::ok) << why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_TRUE(victim_untouched());
}

// The slot word of map `off` (capacity up to one segment) whose block holds
// key word `key`, or 0; *blk receives the block.
sync::Ref<std::uint64_t> slot_of_key(Allocator& a, std::uint64_t off, std::uint64_t key, std::uint64_t* blk) {
  const std::uint64_t tw = sync::word(a.base(), off + 8 * 5).load_relaxed();
  const std::uint64_t seg = sync::word(a.base(), (tw & 0xffffffffULL) << 4).load_relaxed();
  for (std::uint64_t i = 0; i < (std::uint64_t{1} << ((tw >> 32) & 63)); ++i) {
    sync::Ref<std::uint64_t> r = sync::word(a.base(), seg + 8 * i);
    const std::uint64_t w = r.load_relaxed();
    if ((w & 0xffffffffULL) == 0 || (w >> 63) != 0) continue;
    *blk = (w & 0xffffffffULL) << 4;
    if (sync::word(a.base(), *blk).load_relaxed() == key) return r;
  }
  *blk = 0;
  return sync::Ref<std::uint64_t>(nullptr);
}

// Two maps in one allocator (the second under another seed), keys 0..9 in
// each (values k and 1000 + k), plain and multimap (the parameter): for
// damage in the first that must not reach the second.
class RhTwoMaps : public ::testing::TestWithParam<unsigned> {
 protected:
  RhTwoMaps() : h(16, GetParam()), m(h.m) {
    EXPECT_EQ(RhMap::create(h.a, 16, 7, &off2), Status::ok);
    EXPECT_EQ(RhMap::join(h.a, off2, &other), Status::ok);
    for (std::uint64_t k = 0; k < 10; ++k) {
      EXPECT_EQ(m.insert(k, k), Status::ok);
      EXPECT_EQ(other.insert(k, 1000 + k), Status::ok);
    }
  }
  bool multimap() const { return (GetParam() & kRhMultimap) != 0; }
  RhHarness h;
  RhMap& m;
  std::uint64_t off2 = 0, v = 0;
  RhMap other;
};
INSTANTIATE_TEST_SUITE_P(PlainAndMultimap, RhTwoMaps, ::testing::Values(0u, unsigned(kRhMultimap)));

// A directory entry damaged after the handle checked its table (here it
// names the other map's segment: a live segment object of the same size,
// which the object checks accept) gets corrupt from the writers that would
// reach a slot through it; the other map keeps its entries, and once the
// entry is put back the map is whole. (The old code's insert shifted the
// other map's entries to make room in its segment.)
TEST_P(RhTwoMaps, WritersRefuseADirectoryChangedSinceTheirCheck) {
  auto first_entry = [&](std::uint64_t map_off) {  // directory entry 0 (header word 5: the table word)
    const std::uint64_t tw = sync::word(h.a.base(), map_off + 8 * 5).load_relaxed();
    return sync::word(h.a.base(), (tw & 0xffffffffULL) << 4);
  };
  sync::Ref<std::uint64_t> mine = first_entry(h.off);
  const std::uint64_t seg = mine.load_relaxed();
  mine.store_relaxed(first_entry(off2).load_relaxed());
  EXPECT_EQ(m.insert(100, 1), Status::corrupt);
  EXPECT_EQ(m.insert_or_assign(101, 1), Status::corrupt);
  EXPECT_EQ(m.insert_or_assign(3, 33), Status::corrupt);
  EXPECT_EQ(m.erase(4), Status::corrupt);
  if (multimap()) {
    EXPECT_EQ(m.insert_multi(5, 55), Status::corrupt);
  }
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_TRUE(other.find(k, &v) == Status::ok && v == 1000 + k) << k;
  EXPECT_EQ(other.verify(), Status::ok);
  EXPECT_EQ(m.verify(), Status::corrupt);  // its readers see the other map's entries
  mine.store_relaxed(seg);
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_TRUE(m.find(k, &v) == Status::ok && v == k) << k;
  EXPECT_EQ(m.insert(100, 1), Status::ok);
  EXPECT_EQ(m.verify(), Status::ok);
  // A peer's handle grows the table (a new directory and segments): m's
  // writers check the new table and take its segments, and the check
  // still holds there.
  RhMap peer;
  ASSERT_EQ(RhMap::join(h.a, h.off, &peer), Status::ok);
  for (std::uint64_t k = 200; k < 240; ++k) ASSERT_EQ(peer.insert(k, k), Status::ok);
  EXPECT_EQ(m.insert(101, 1), Status::ok);  // no false refusal after the peer's resize
  sync::Ref<std::uint64_t> grown = first_entry(h.off);
  const std::uint64_t seg2 = grown.load_relaxed();
  ASSERT_NE(seg2, seg);
  grown.store_relaxed(first_entry(off2).load_relaxed());
  EXPECT_EQ(m.insert(102, 1), Status::corrupt);
  grown.store_relaxed(seg2);
  EXPECT_EQ(m.insert(102, 1), Status::ok);
  EXPECT_EQ(m.verify(), Status::ok);
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_TRUE(other.find(k, &v) == Status::ok && v == 1000 + k) << k;
}

// A slot or free-stack link naming memory that is not one of the map's
// blocks (a block of a second map in the same allocator, whose key word
// matches; that map's header) is refused by the writer that would store
// through it or hand it out: the second map keeps its entries. (The old code wrote the new value into the second map's
// block, or pushed it onto the first map's free stack, from where an
// insert overwrote it.)
TEST_P(RhTwoMaps, WritersRefuseBlocksThatAreNotTheMaps) {
  auto other_intact = [&] {
    for (std::uint64_t k = 0; k < 10; ++k)
      if (other.find(k, &v) != Status::ok || v != 1000 + k) return false;
    return other.verify() == Status::ok;
  };
  std::uint64_t blk3 = 0, foreign3 = 0, foreign0 = 0;
  sync::Ref<std::uint64_t> slot3 = slot_of_key(h.a, h.off, 3, &blk3);
  slot_of_key(h.a, off2, 3, &foreign3);
  slot_of_key(h.a, off2, 0, &foreign0);  // its first word, key 0, reads as a free-stack link
  ASSERT_TRUE(blk3 != 0 && foreign3 != 0 && foreign0 != 0);
  const std::uint64_t w3 = slot3.load_relaxed();
  auto name = [&](std::uint64_t blk) { slot3.store_relaxed((w3 & ~0xffffffffULL) | blk >> 4); };
  auto refused = [&](const char* what) {
    EXPECT_EQ(m.insert_or_assign(3, 33), Status::corrupt) << what;
    EXPECT_EQ(m.update(3, 33), Status::corrupt) << what;
    EXPECT_EQ(m.erase(3), Status::corrupt) << what;
    if (multimap()) {
      std::uint64_t n = 0;
      EXPECT_EQ(m.erase_all(3, &n), Status::corrupt) << what;
      const std::uint64_t held = sync::word(h.a.base(), ((slot3.load_relaxed() & 0xffffffffULL) << 4) + 8).load_relaxed();
      EXPECT_EQ(m.erase_one(3, held), Status::corrupt) << what;
    }
    EXPECT_TRUE(other_intact()) << what;
  };
  // 1. Key 3's slot names the other map's block of key 3.
  name(foreign3);
  refused("a block of another map");
  // 2. It names the other map's header from word 4 (its check word, made
  // to read as key 3): a put would store 33 into its table word.
  auto check_word = sync::word(h.a.base(), off2 + 8 * 4), table_word = sync::word(h.a.base(), off2 + 8 * 5);
  const std::uint64_t check = check_word.load_relaxed(), tw2 = table_word.load_relaxed();
  check_word.store_relaxed(3);
  name(off2 + 8 * 4);
  EXPECT_EQ(m.insert_or_assign(3, 33), Status::corrupt);
  EXPECT_EQ(m.update(3, 33), Status::corrupt);
  EXPECT_EQ(table_word.load_relaxed(), tw2);
  EXPECT_EQ(check_word.load_relaxed(), 3u);  // a multimap's copy on write would push it: a link there
  check_word.store_relaxed(check);
  EXPECT_TRUE(other_intact());
  name(blk3);
  // 3. The free stack's top, then the link a pop makes the top, names the
  // other map's block (two blocks on the stack: 6's, then 5's).
  ASSERT_EQ(m.erase(5), Status::ok);
  ASSERT_EQ(m.erase(6), Status::ok);
  auto top = sync::word(h.a.base(), h.off + 8 * 7);
  const std::uint64_t freed = top.load_relaxed(), link = sync::word(h.a.base(), freed).load_relaxed();
  top.store_relaxed(foreign0);
  EXPECT_EQ(m.insert(100, 1), Status::corrupt);  // the old code wrote key 100 into it
  EXPECT_TRUE(other_intact());
  top.store_relaxed(freed);
  sync::word(h.a.base(), freed).store_relaxed(foreign0);
  EXPECT_EQ(m.insert(100, 1), Status::ok);       // pops 6's block: the damaged link becomes the top
  EXPECT_EQ(m.insert(101, 1), Status::corrupt);  // the old code wrote key 101 into it here
  EXPECT_TRUE(other_intact());
  top.store_relaxed(link);
  // Undamaged again: every key, and writes.
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_EQ(m.find(k, &v) == Status::ok, k != 5 && k != 6) << k;
  EXPECT_EQ(m.insert_or_assign(3, 33), Status::ok);
  EXPECT_EQ(m.insert(101, 1), Status::ok);
  EXPECT_EQ(m.erase(4), Status::ok);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_TRUE(other_intact());
}

// The writer that takes the lock over from a dead holder repairs the table
// through its directory: a directory entry damaged to name another object
// (here one that reads like two copies of an entry, which the repair would
// tombstone) is refused, by the repair and by the writer after it, even in a
// handle that had checked the table word before (the repair forgets that).
TEST(RhMap, RepairRefusesADamagedDirectory) {
  RhHarness h(16);
  RhMap& m = h.m;
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.insert(k, k), Status::ok);
  // The size of a 16-slot segment, every word a live slot word (ref 0x10,
  // distance 0).
  const Victim target(h.a, 16, 0x10);
  const std::uint64_t victim = target.off;
  auto victim_untouched = [&] { return target.untouched(); };
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(0);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  const std::uint64_t tw = sync::word(h.a.base(), h.off + 8 * 5).load_relaxed();
  auto dir0 = sync::word(h.a.base(), (tw & 0xffffffffULL) << 4);
  const std::uint64_t seg = dir0.load_relaxed();
  dir0.store_relaxed(victim);
  auto lock = sync::word(h.a.base(), h.off + 8 * 8);
  lock.store_relaxed(std::uint64_t(pid));  // held by a process that is gone (start key unknown)
  EXPECT_EQ(m.insert(100, 1), Status::corrupt);
  EXPECT_EQ(m.recoveries(), 1u);
  EXPECT_EQ(lock.load_relaxed(), 0u);
  EXPECT_TRUE(victim_untouched());
  EXPECT_EQ(m.insert_or_assign(3, 33), Status::corrupt);
  EXPECT_TRUE(victim_untouched());
  dir0.store_relaxed(seg);
  std::uint64_t v = 0;
  for (std::uint64_t k = 0; k < 10; ++k) EXPECT_TRUE(m.find(k, &v) == Status::ok && v == k) << k;
  EXPECT_EQ(m.insert(100, 1), Status::ok);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// A bytes map frees the block of a slot an assign or erase changes: the
// block must be a bytes object. An object of another tag made to read like
// key k3's block is refused, not freed.
TEST(RhMap, BytesWritersFreeOnlyBytesBlocks) {
  RhHarness h(16, kRhBytes);
  RhMap& m = h.m;
  const std::string k3 = "key three", v3 = "value";
  ASSERT_EQ(m.insert(RhBytes{k3.data(), k3.size()}, RhBytes{v3.data(), v3.size()}), Status::ok);
  const std::uint64_t tw = sync::word(h.a.base(), h.off + 8 * 5).load_relaxed();
  const std::uint64_t seg = sync::word(h.a.base(), (tw & 0xffffffffULL) << 4).load_relaxed();
  sync::Ref<std::uint64_t> slot(nullptr);
  std::uint64_t blk = 0;
  for (std::uint64_t i = 0; i < 16 && blk == 0; ++i) {
    slot = sync::word(h.a.base(), seg + 8 * i);
    if ((slot.load_relaxed() & 0xffffffffULL) != 0) blk = (slot.load_relaxed() & 0xffffffffULL) << 4;
  }
  ASSERT_NE(blk, 0u);
  std::uint64_t size = 0, victim = 0;
  std::uint32_t tag = 0;
  ASSERT_EQ(h.a.info(blk, &size, &tag), Status::ok);
  ASSERT_EQ(h.a.alloc(16, size, 77, &victim), Status::ok);
  for (std::uint64_t i = 0; i < size / 8; ++i)
    sync::word(h.a.base(), victim + 8 * i).store_relaxed(sync::word(h.a.base(), blk + 8 * i).load_relaxed());
  const std::uint64_t w = slot.load_relaxed();
  slot.store_relaxed((w & ~0xffffffffULL) | victim >> 4);
  char buf[16];
  std::uint64_t sz = 0;
  ASSERT_EQ(m.find(RhBytes{k3.data(), k3.size()}, buf, sizeof buf, &sz), Status::ok);  // it reads like the block
  const std::string v4 = "other";
  EXPECT_EQ(m.insert_or_assign(RhBytes{k3.data(), k3.size()}, RhBytes{v4.data(), v4.size()}), Status::corrupt);
  EXPECT_EQ(m.erase(RhBytes{k3.data(), k3.size()}), Status::corrupt);
  EXPECT_EQ(h.a.info(victim, &size, &tag), Status::ok);  // not freed
  EXPECT_EQ(tag, 77u);
  slot.store_relaxed(w);
  EXPECT_EQ(m.erase(RhBytes{k3.data(), k3.size()}), Status::ok);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// Damage to the slab list, the bump pointer or the free stack is reported by
// verify() and refused by writers, never followed into a crash.
TEST(RhMap, VerifyCatchesSlabAndFreeStackDamage) {
  RhHarness h(64);
  RhMap& m = h.m;
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.insert(k, k), Status::ok);
  for (std::uint64_t k = 0; k < 3; ++k) ASSERT_EQ(m.erase(k), Status::ok);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  auto word = [&](unsigned i) { return sync::word(h.a.base(), h.off + 8 * i); };
  const unsigned kSlab = 6, kFree = 7, kBump = 12, kBumpEnd = 13, kFreeCnt = 14;
  auto expect_corrupt = [&](const char* what, const char* msg) {
    EXPECT_EQ(m.verify(&why), Status::corrupt) << what;
    EXPECT_NE(why.find(msg), std::string::npos) << what << ": " << why;
  };
  // 1. the free count.
  word(kFreeCnt).store_relaxed(4);
  expect_corrupt("count + 1", "shorter than its count");
  word(kFreeCnt).store_relaxed(3);
  // 2. a cycle in the free stack.
  const std::uint64_t head = word(kFree).load_relaxed(), second = sync::word(h.a.base(), head).load_relaxed();
  const std::uint64_t last = sync::word(h.a.base(), second).load_relaxed();
  ASSERT_NE(last, 0u);
  ASSERT_EQ(sync::word(h.a.base(), last).load_relaxed(), 0u);
  sync::word(h.a.base(), last).store_relaxed(head);
  expect_corrupt("cycle", "longer than its count");
  sync::word(h.a.base(), last).store_relaxed(0);
  // 3. a free stack that names memory outside the allocator, or a count of
  // 0 over a non-empty stack: writers refuse it.
  word(kFree).store_relaxed(0xfffffff0ULL);
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_EQ(m.insert(100, 1), Status::corrupt);
  word(kFree).store_relaxed(head);
  word(kFreeCnt).store_relaxed(0);
  EXPECT_EQ(m.insert(100, 1), Status::corrupt);
  word(kFreeCnt).store_relaxed(3);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  // 4. a bump pointer moved on: blocks handed out that nothing holds.
  word(kBump).store_relaxed(word(kBump).load_relaxed() + 32);
  expect_corrupt("bump + 2", "2 handed-out blocks are neither live nor free");
  word(kBump).store_relaxed(word(kBump).load_relaxed() - 32);
  // 5. a bump pointer past the slab's end: verify says so, and an insert
  // that would take a new block from there (empty stack) refuses.
  const std::uint64_t bump = word(kBump).load_relaxed(), bump_end = word(kBumpEnd).load_relaxed();
  word(kBump).store_relaxed(bump_end + 16);
  expect_corrupt("bump past the end", "bump pointer outside the newest slab");
  word(kFree).store_relaxed(0);
  word(kFreeCnt).store_relaxed(0);
  EXPECT_EQ(m.insert(100, 1), Status::corrupt);
  word(kFree).store_relaxed(head);
  word(kFreeCnt).store_relaxed(3);
  word(kBump).store_relaxed(bump);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  // 6. a slab list that names the map header, or loops.
  const std::uint64_t slab = word(kSlab).load_relaxed();
  word(kSlab).store_relaxed(h.off);
  expect_corrupt("foreign slab", "not a live slab object");
  word(kSlab).store_relaxed(slab);
  const std::uint64_t older = sync::word(h.a.base(), slab).load_relaxed();
  sync::word(h.a.base(), slab).store_relaxed(slab);
  expect_corrupt("slab cycle", "the slab list has a cycle");
  sync::word(h.a.base(), slab).store_relaxed(older);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  // 7. a free stack that names a live block. Key 0's insert takes the
  // stack's top, whose key word (0) then ends a stack; link it after the
  // stack's last block.
  ASSERT_EQ(m.insert(0, 0), Status::ok);
  ASSERT_EQ(word(kFree).load_relaxed(), second);
  sync::word(h.a.base(), last).store_relaxed(head);
  word(kFreeCnt).store_relaxed(3);
  expect_corrupt("live block on the stack", "both free and live");
  sync::word(h.a.base(), last).store_relaxed(0);
  word(kFreeCnt).store_relaxed(2);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  ASSERT_EQ(m.erase(0), Status::ok);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t k = 3; k < 10; ++k) {
    std::uint64_t v = 0;
    ASSERT_EQ(m.find(k, &v), Status::ok);
    EXPECT_EQ(v, k);
  }
}

TEST(RhMultimap, BasicsAndPlainMapsRefuseIt) {
  RhHarness plain;
  EXPECT_EQ(plain.m.insert_multi(1, 1), Status::invalid);
  EXPECT_EQ(plain.m.erase_all(1), Status::invalid);
  RhHarness h(4, kRhMultimap);
  RhMap& m = h.m;
  EXPECT_TRUE(m.multimap());
  std::uint64_t n = 9, vals[8];
  EXPECT_EQ(m.count(5, &n), Status::not_found);
  EXPECT_EQ(n, 0u);
  for (std::uint64_t v : {50, 51, 52, 51}) ASSERT_EQ(m.insert_multi(5, v), Status::ok);
  ASSERT_EQ(m.insert_multi(6, 60), Status::ok);
  ASSERT_EQ(m.count(5, &n), Status::ok);
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(m.values(5, vals, 2, &n), Status::invalid);  // buffer too small
  EXPECT_EQ(n, 4u);
  ASSERT_EQ(m.values(5, vals, 8, &n), Status::ok);
  ASSERT_LE(n, 8u);
  std::sort(vals, vals + std::min<std::uint64_t>(n, 8));
  EXPECT_EQ(std::vector<std::uint64_t>(vals, vals + n), (std::vector<std::uint64_t>{50, 51, 51, 52}));
  EXPECT_EQ(m.erase_one(5, 51), Status::ok);
  EXPECT_EQ(m.erase_one(5, 99), Status::not_found);
  ASSERT_EQ(m.count(5, &n), Status::ok);
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(m.insert(5, 1), Status::exists);  // the map calls see one entry
  std::uint64_t erased = 0;
  EXPECT_EQ(m.erase_all(5, &erased), Status::ok);
  EXPECT_EQ(erased, 3u);
  EXPECT_EQ(m.count(5, &n), Status::not_found);
  EXPECT_EQ(m.size(), 1u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  RhMap joined;
  ASSERT_EQ(RhMap::join(h.a, h.off, &joined), Status::ok);
  EXPECT_TRUE(joined.multimap());
}

// One key's values fill every probe distance by themselves at
// kRhDistMax + 1: the next insert_multi says full at once, without growing
// the table (it used to double it up to kRhCapMax first), and every value
// stays; other keys still go in.
TEST(RhMultimap, OneKeyHoldsAtMost251Values) {
  for (unsigned flags : {kRhMultimap, kRhMultimap | kRhBytes}) {
    RhHarness h(4, flags);
    RhMap& m = h.m;
    const std::string bk = "key";
    auto add = [&](std::uint64_t k, std::uint64_t v) {
      const std::string kb = bk + std::to_string(k), vb = std::to_string(v);
      return flags & kRhBytes ? m.insert_multi(RhBytes{kb.data(), kb.size()}, RhBytes{vb.data(), vb.size()})
                              : m.insert_multi(k, v);
    };
    std::uint64_t n = 0;
    Status s = Status::ok;
    while (n < 1000 && (s = add(5, n)) == Status::ok) ++n;
    EXPECT_EQ(s, Status::full);
    EXPECT_EQ(n, kRhDistMax + 1);
    EXPECT_LE(m.capacity(), 1024u);
    const std::uint64_t cap = m.capacity();
    std::uint64_t cnt = 0;
    const std::string k5 = bk + "5";
    ASSERT_EQ(flags & kRhBytes ? m.count(RhBytes{k5.data(), k5.size()}, &cnt) : m.count(5, &cnt), Status::ok);
    EXPECT_EQ(cnt, kRhDistMax + 1);
    EXPECT_EQ(add(6, 1), Status::ok);
    EXPECT_EQ(add(5, 999), Status::full);
    EXPECT_EQ(m.capacity(), cap);
    std::string why;
    EXPECT_EQ(m.verify(&why), Status::ok) << why;
  }
}

// A multimap slot whose reference points outside the allocator's memory,
// or a directory naming a segment there: values() and count() say corrupt
// (they used to retry forever), u64 and bytes alike.
TEST(RhMultimap, DamagedReferenceGivesCorrupt) {
  for (unsigned flags : {kRhMultimap, kRhMultimap | kRhBytes}) {
    RhHarness h(16, flags);
    RhMap& m = h.m;
    const std::string bk = "key";
    const RhBytes b{bk.data(), bk.size()};
    ASSERT_EQ(flags & kRhBytes ? m.insert_multi(b, b) : m.insert_multi(7, 70), Status::ok);
    const std::uint64_t tw = sync::word(h.a.base(), h.off + 40).load_relaxed();
    const std::uint64_t seg = sync::word(h.a.base(), (tw & 0xffffffffULL) << 4).load_relaxed();
    int live = -1;
    for (int i = 0; i < 16 && live < 0; ++i)
      if (sync::word(h.a.base(), seg + 8 * i).load_relaxed() != 0) live = i;
    ASSERT_GE(live, 0);
    auto slot = sync::word(h.a.base(), seg + 8 * live);
    const std::uint64_t saved = slot.load_relaxed();
    slot.store_relaxed((saved & ~0xffffffffULL) | 0xfffffff0ULL);
    std::uint64_t n = 0, vals[4];
    std::vector<std::string> got;
    EXPECT_EQ(flags & kRhBytes ? m.values(b, &got) : m.values(7, vals, 4, &n), Status::corrupt);
    EXPECT_EQ(flags & kRhBytes ? m.count(b, &n) : m.count(7, &n), Status::corrupt);
    // Writers too (the u64 ones used to read the block unchecked).
    EXPECT_EQ(flags & kRhBytes ? m.erase_all(b) : m.erase_all(7), Status::corrupt);
    EXPECT_EQ(flags & kRhBytes ? m.update(b, b) : m.update(7, 1), Status::corrupt);
    slot.store_relaxed(saved);
    EXPECT_EQ(flags & kRhBytes ? m.count(b, &n) : m.count(7, &n), Status::ok);
    EXPECT_EQ(n, 1u);
    // The directory's segment offset out of range: corrupt too (review finding).
    auto dir = sync::word(h.a.base(), (tw & 0xffffffffULL) << 4);
    dir.store_relaxed(0xfffffff0ULL);
    EXPECT_EQ(flags & kRhBytes ? m.count(b, &n) : m.count(7, &n), Status::corrupt);
    dir.store_relaxed(seg);
  }
}

// Random multimap operations against std::unordered_multimap.
TEST(RhMultimap, RandomOpsMatchStdUnorderedMultimap) {
  RhHarness h(4, kRhMultimap);
  RhMap& m = h.m;
  const char* env = std::getenv("MB_SEED");
  std::uint64_t seed = env ? std::strtoull(env, nullptr, 0) : std::random_device{}();
  std::printf("seed %llu (set MB_SEED to repeat)\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::unordered_multimap<std::uint64_t, std::uint64_t> ref;
  auto ref_values = [&](std::uint64_t k) {
    std::vector<std::uint64_t> v;
    auto [b, e] = ref.equal_range(k);
    for (auto it = b; it != e; ++it) v.push_back(it->second);
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<std::uint64_t> buf(256);
  for (int step = 0; step < 40000; ++step) {
    std::uint64_t k = rng() % 300, v = rng() % 8, n = 0;
    switch (rng() % 8) {
      case 0:
      case 1:
      case 2:
        ASSERT_EQ(m.insert_multi(k, v), Status::ok);
        ref.emplace(k, v);
        break;
      case 3: {
        auto [b, e] = ref.equal_range(k);
        auto it = std::find_if(b, e, [&](auto& kv) { return kv.second == v; });
        ASSERT_EQ(m.erase_one(k, v), it != e ? Status::ok : Status::not_found) << "seed " << seed;
        if (it != e) ref.erase(it);
        break;
      }
      case 4: {
        std::uint64_t erased = 0;
        std::uint64_t want = ref.erase(k);
        ASSERT_EQ(m.erase_all(k, &erased), want ? Status::ok : Status::not_found) << "seed " << seed;
        ASSERT_EQ(erased, want);
        break;
      }
      case 5: {
        // find returns the first value and update changes that same entry
        // (copy-on-write in a multimap): one (k, got) becomes (k, v).
        std::uint64_t got = 0;
        auto want = ref_values(k);
        ASSERT_EQ(m.find(k, &got), want.empty() ? Status::not_found : Status::ok);
        if (want.empty()) {
          ASSERT_EQ(m.update(k, v), Status::not_found);
          break;
        }
        ASSERT_TRUE(std::binary_search(want.begin(), want.end(), got));
        ASSERT_EQ(rng() % 2 ? m.update(k, v) : m.insert_or_assign(k, v), Status::ok) << "seed " << seed;
        auto [b, e] = ref.equal_range(k);
        std::find_if(b, e, [&](auto& kv) { return kv.second == got; })->second = v;
        break;
      }
      default: {
        auto want = ref_values(k);
        Status s = m.values(k, buf.data(), buf.size(), &n);
        ASSERT_EQ(s, want.empty() ? Status::not_found : Status::ok) << "seed " << seed;
        std::sort(buf.begin(), buf.begin() + n);
        ASSERT_EQ(std::vector<std::uint64_t>(buf.begin(), buf.begin() + n), want) << "seed " << seed;
      }
    }
    if (step % 5000 == 0) { ASSERT_NO_FATAL_FAILURE(check_map(m, ref.size(), seed)); }
  }
  ASSERT_NO_FATAL_FAILURE(check_map(m, ref.size(), seed));
}

// A multimap of byte strings: random operations against
// std::unordered_multimap<string, string>, keys of 1..40 bytes sharing
// prefixes (and 8-byte boundaries), values from a small set so that
// erase_one finds its pairs; the u64 multimap calls are refused on it and
// its calls on a u64 multimap.
TEST(RhBytesMultimap, RandomOpsMatchStdUnorderedMultimap) {
  RhHarness h(4, kRhMultimap | kRhBytes);
  RhMap& m = h.m;
  EXPECT_TRUE(m.multimap() && m.bytes());
  std::uint64_t n = 0;
  EXPECT_EQ(m.insert_multi(1, 1), Status::invalid);
  EXPECT_EQ(m.count(1, &n), Status::invalid);
  RhHarness u(4, kRhMultimap);
  EXPECT_EQ(u.m.insert_multi(RhBytes{"k", 1}, RhBytes{"v", 1}), Status::invalid);
  EXPECT_EQ(u.m.erase_all(RhBytes{"k", 1}), Status::invalid);
  const char* env = std::getenv("MB_SEED");
  std::uint64_t seed = env ? std::strtoull(env, nullptr, 0) : std::random_device{}();
  std::printf("seed %llu (set MB_SEED to repeat)\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::unordered_multimap<std::string, std::string> ref;
  auto key_of = [](std::uint64_t i) { return std::string(i % 5 * 8 + 1 + i % 3, 'p') + std::to_string(i); };
  auto val_of = [](std::uint64_t j) { return std::string(j * 5, char('a' + j)); };  // j = 0: empty
  auto bytes = [](const std::string& x) { return RhBytes{x.data(), x.size()}; };
  auto ref_values = [&](const std::string& k) {
    std::vector<std::string> v;
    auto [b, e] = ref.equal_range(k);
    for (auto it = b; it != e; ++it) v.push_back(it->second);
    std::sort(v.begin(), v.end());
    return v;
  };
  std::vector<std::string> got;
  for (int step = 0; step < 30000; ++step) {
    const std::string k = key_of(rng() % 200), v = val_of(rng() % 6);
    switch (rng() % 7) {
      case 0:
      case 1:
      case 2:
        ASSERT_EQ(m.insert_multi(bytes(k), bytes(v)), Status::ok);
        ref.emplace(k, v);
        break;
      case 3: {
        auto [b, e] = ref.equal_range(k);
        auto it = std::find_if(b, e, [&](auto& kv) { return kv.second == v; });
        ASSERT_EQ(m.erase_one(bytes(k), bytes(v)), it != e ? Status::ok : Status::not_found) << "seed " << seed;
        if (it != e) ref.erase(it);
        break;
      }
      case 4: {
        std::uint64_t erased = 0, want = ref.erase(k);
        ASSERT_EQ(m.erase_all(bytes(k), &erased), want ? Status::ok : Status::not_found) << "seed " << seed;
        ASSERT_EQ(erased, want);
        break;
      }
      case 5: {
        auto want = ref_values(k);
        ASSERT_EQ(m.count(bytes(k), &n), want.empty() ? Status::not_found : Status::ok) << "seed " << seed;
        ASSERT_EQ(n, want.size()) << "seed " << seed;
        std::string buf(64, '\0');
        std::uint64_t sz = 0;
        Status s = m.find(bytes(k), buf.data(), buf.size(), &sz);  // the first value
        ASSERT_EQ(s, want.empty() ? Status::not_found : Status::ok) << "seed " << seed;
        if (s == Status::ok) { ASSERT_TRUE(std::binary_search(want.begin(), want.end(), buf.substr(0, sz))); }
        break;
      }
      default: {
        auto want = ref_values(k);
        ASSERT_EQ(m.values(bytes(k), &got), want.empty() ? Status::not_found : Status::ok) << "seed " << seed;
        std::sort(got.begin(), got.end());
        ASSERT_EQ(got, want) << "seed " << seed;
      }
    }
    if (step % 3000 == 0) { ASSERT_NO_FATAL_FAILURE(check_map(m, ref.size(), seed)); }
  }
  ASSERT_NO_FATAL_FAILURE(check_map(m, ref.size(), seed));
}

// Byte strings: random operations against std::unordered_map<string,
// string>, keys of 1..255 bytes (many sharing prefixes, some differing only
// in their last byte), values of 0..600 bytes and now and then 64 KiB, the
// table grown from 4 slots and shrunk again.
TEST(RhBytes, RandomOpsMatchStdUnorderedMap) {
  RhHarness h(4, kRhBytes);
  RhMap& m = h.m;
  ASSERT_TRUE(m.bytes());
  const char* env = std::getenv("MB_SEED");
  std::uint64_t seed = env ? std::strtoull(env, nullptr, 0) : std::random_device{}();
  std::printf("seed %llu (set MB_SEED to repeat)\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::unordered_map<std::string, std::string> ref;
  auto key_of = [](std::uint64_t n) {
    std::string k(1 + (n * 7) % 255, char('a' + n % 3));
    k.back() = char('0' + n % 10);  // n and n + 10*j (same length) differ only here... or not at all:
    k += std::to_string(n);         // so the number makes every key unique
    return k.size() > kRhKeyMax ? k.substr(k.size() - kRhKeyMax) : k;
  };
  auto val_of = [&](std::uint64_t n) {
    std::size_t len = rng() % 64 == 0 ? kRhValMax : rng() % 600;
    std::string v(len, '\0');
    for (std::size_t i = 0; i < len; ++i) v[i] = char(n * 13 + i * 7 + len);
    return v;
  };
  auto b = [](const std::string& x) { return RhBytes{x.data(), x.size()}; };
  std::vector<char> buf(kRhValMax + 8);
  const std::uint64_t phases[] = {400, 4000, 60};  // key ranges: grow, then shrink
  int step = 0;
  for (std::uint64_t range : phases) {
    for (int i = 0; i < 12000; ++i, ++step) {
      const std::uint64_t n = rng() % range;
      const std::string k = key_of(n);
      auto it = ref.find(k);
      switch (rng() % 8) {
        case 0: {
          std::string v = val_of(n);
          ASSERT_EQ(m.insert(b(k), b(v)), it == ref.end() ? Status::ok : Status::exists) << "seed " << seed;
          ref.emplace(k, v);
          break;
        }
        case 1: {
          std::string v = val_of(n);
          bool created = true;
          ASSERT_EQ(m.insert_or_assign(b(k), b(v), &created), Status::ok);
          ASSERT_EQ(created, it == ref.end());
          ref[k] = v;
          break;
        }
        case 2: {
          std::string v = val_of(n);
          ASSERT_EQ(m.update(b(k), b(v)), it == ref.end() ? Status::not_found : Status::ok);
          if (it != ref.end()) it->second = v;
          break;
        }
        case 3:
        case 4:
          ASSERT_EQ(m.erase(b(k)), it == ref.end() ? Status::not_found : Status::ok) << "seed " << seed;
          ref.erase(k);
          break;
        default: {
          std::uint64_t sz = 7;
          const std::uint64_t cap = rng() % 16 == 0 ? rng() % 8 : buf.size();  // sometimes too small
          Status s = m.find(b(k), buf.data(), cap, &sz);
          if (it == ref.end()) {
            ASSERT_EQ(s, Status::not_found) << "seed " << seed;
          } else if (it->second.size() > cap) {
            ASSERT_EQ(s, Status::invalid);
            ASSERT_EQ(sz, it->second.size());
          } else {
            ASSERT_EQ(s, Status::ok) << "seed " << seed;
            ASSERT_EQ(std::string(buf.data(), sz), it->second) << "seed " << seed << " step " << step;
          }
        }
      }
    }
    ASSERT_EQ(m.size(), ref.size());
    std::string why;
    ASSERT_EQ(m.verify(&why), Status::ok) << why << " seed " << seed;
  }
  EXPECT_GT(m.resizes(), 4u);  // grew past 4000 keys' worth and shrank back
  for (auto& [k, v] : ref) {
    std::uint64_t sz = 0;
    ASSERT_EQ(m.find(b(k), buf.data(), buf.size(), &sz), Status::ok);
    ASSERT_EQ(std::string(buf.data(), sz), v);
  }
  ASSERT_EQ(m.destroy(), Status::ok);
  AllocStats st;
  std::string why;
  ASSERT_EQ(h.a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 0u);  // every block freed once
}

TEST(RhBytes, FlagsLimitsAndTheOtherKindOfCall) {
  RhHarness h(4, kRhBytes);
  RhMap& m = h.m;
  std::uint64_t v = 0, sz = 0;
  const std::string key(kRhKeyMax, 'k'), big(kRhValMax, 'v');
  EXPECT_EQ(m.insert(RhBytes{key.data(), key.size()}, RhBytes{big.data(), big.size()}), Status::ok);
  EXPECT_EQ(m.insert(RhBytes{"", 0}, RhBytes{"x", 1}), Status::invalid);
  EXPECT_EQ(m.insert(RhBytes{key.data(), kRhKeyMax + 1}, RhBytes{"x", 1}), Status::invalid);
  EXPECT_EQ(m.insert(RhBytes{"k", 1}, RhBytes{big.data(), kRhValMax + 1}), Status::invalid);
  EXPECT_EQ(m.insert(RhBytes{"e", 1}, RhBytes{nullptr, 0}), Status::ok);  // empty values are values
  EXPECT_EQ(m.find(RhBytes{"e", 1}, nullptr, 0, &sz), Status::ok);
  EXPECT_EQ(sz, 0u);
  // u64 calls on a bytes map, and bytes calls on a u64 map, are refused.
  EXPECT_EQ(m.insert(1, 1), Status::invalid);
  EXPECT_EQ(m.find(1, &v), Status::invalid);
  EXPECT_EQ(m.erase(1), Status::invalid);
  EXPECT_EQ(m.count(1, &v), Status::invalid);
  RhHarness u;
  EXPECT_EQ(u.m.insert(RhBytes{"k", 1}, RhBytes{"v", 1}), Status::invalid);
  EXPECT_EQ(u.m.find(RhBytes{"k", 1}, nullptr, 0, &sz), Status::invalid);
  // Unknown flags are refused.
  std::uint64_t off = 0;
  std::string why;
  EXPECT_EQ(RhMap::create(h.a, 4, 1, &off, &why, 8), Status::invalid);
  // A joined handle sees the same byte strings.
  RhMap j;
  ASSERT_EQ(RhMap::join(h.a, h.off, &j, &why), Status::ok) << why;
  EXPECT_TRUE(j.bytes());
  std::vector<char> buf(kRhValMax);
  ASSERT_EQ(j.find(RhBytes{key.data(), key.size()}, buf.data(), buf.size(), &sz), Status::ok);
  EXPECT_EQ(std::string(buf.data(), sz), big);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// destroy() checks everything it would free before it frees anything: a
// slot naming another map's header (it used to free it) or a directory
// naming no segment (it used to free the first segment's blocks, then
// stop) leaves both maps whole and gives corrupt.
TEST(RhBytes, DestroyChecksBeforeItFrees) {
  RhHarness h(std::uint64_t{1} << 17, kRhBytes);  // two segments
  RhMap& m = h.m;
  const std::string k = "key", v = "value";
  ASSERT_EQ(m.insert(RhBytes{k.data(), k.size()}, RhBytes{v.data(), v.size()}), Status::ok);
  std::uint64_t off2 = 0;
  ASSERT_EQ(RhMap::create(h.a, 4, 7, &off2, nullptr, kRhBytes), Status::ok);
  const std::uint64_t tw = sync::word(h.a.base(), h.off + 40).load_relaxed();
  const std::uint64_t dir = (tw & 0xffffffffULL) << 4;
  auto dir1 = sync::word(h.a.base(), dir + 8);
  const std::uint64_t seg1 = dir1.load_relaxed();
  // The key's slot, in either segment.
  std::uint64_t slot_off = 0;
  for (std::uint64_t d = 0; d < 2 && slot_off == 0; ++d) {
    const std::uint64_t seg = sync::word(h.a.base(), dir + 8 * d).load_relaxed();
    for (std::uint64_t i = 0; i < (std::uint64_t{1} << 16) && slot_off == 0; ++i)
      if ((sync::word(h.a.base(), seg + 8 * i).load_relaxed() & 0xffffffffULL) != 0) slot_off = seg + 8 * i;
  }
  ASSERT_NE(slot_off, 0u);
  auto slot = sync::word(h.a.base(), slot_off);
  const std::uint64_t good = slot.load_relaxed(), blk = (good & 0xffffffffULL) << 4;
  std::uint64_t size = 0;
  std::uint32_t tag = 0;
  RhMap other;
  slot.store_relaxed((good & ~0xffffffffULL) | off2 >> 4);
  EXPECT_EQ(m.destroy(), Status::corrupt);
  EXPECT_EQ(RhMap::join(h.a, off2, &other), Status::ok);  // its header is still a header
  EXPECT_EQ(h.a.info(blk, &size, &tag), Status::ok);
  slot.store_relaxed(good);
  dir1.store_relaxed(0xfffffff0);
  EXPECT_EQ(m.destroy(), Status::corrupt);
  EXPECT_EQ(h.a.info(blk, &size, &tag), Status::ok);  // the key's block was not freed
  dir1.store_relaxed(seg1);
  char buf[16];
  std::uint64_t sz = 0;
  EXPECT_EQ(m.find(RhBytes{k.data(), k.size()}, buf, sizeof buf, &sz), Status::ok);
  EXPECT_EQ(std::string(buf, sz), v);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.destroy(), Status::ok);
  EXPECT_EQ(other.destroy(), Status::ok);
}

// A damaged bytes block: verify() says what is wrong, and find() returns
// corrupt (a current slot names an impossible block) instead of reading
// past it or retrying forever.
TEST(RhBytes, DamagedBlocksAreReportedNotFollowed) {
  RhHarness h(16, kRhBytes);
  RhMap& m = h.m;
  const std::string k = "some key!", v(40, 'v');  // 9 bytes: the key's second word is padded
  ASSERT_EQ(m.insert(RhBytes{k.data(), k.size()}, RhBytes{v.data(), v.size()}), Status::ok);
  std::uint64_t tw = sync::word(h.a.base(), h.off + 40).load_relaxed();
  std::uint64_t seg = sync::word(h.a.base(), (tw & 0xffffffffULL) << 4).load_relaxed(), blk = 0;
  for (int i = 0; i < 16 && blk == 0; ++i) blk = (sync::word(h.a.base(), seg + 8 * i).load_relaxed() & 0xffffffffULL) << 4;
  ASSERT_NE(blk, 0u);
  auto lens = sync::word(h.a.base(), blk + 8), hash = sync::word(h.a.base(), blk);
  const std::uint64_t good_lens = lens.load_relaxed(), good_hash = hash.load_relaxed();
  char buf[64];
  std::uint64_t sz = 0;
  std::string why;
  lens.store_relaxed(good_lens | std::uint64_t{1} << 60);  // a value size past kRhValMax
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("sizes"), std::string::npos) << why;
  EXPECT_EQ(m.find(RhBytes{k.data(), k.size()}, buf, sizeof buf, &sz), Status::corrupt);
  // A value size within the limits but past the block's end: only verify()
  // can tell (it asks the allocator); find() stays inside allocator space.
  lens.store_relaxed(good_lens + (std::uint64_t{256} << 32));
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("sizes"), std::string::npos) << why;
  EXPECT_EQ(m.find(RhBytes{k.data(), k.size()}, buf, sizeof buf, &sz), Status::invalid);
  EXPECT_EQ(sz, v.size() + 256);
  lens.store_relaxed(good_lens);
  hash.store_relaxed(good_hash ^ 1);
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("stored hash"), std::string::npos) << why;
  EXPECT_EQ(m.find(RhBytes{k.data(), k.size()}, buf, sizeof buf, &sz), Status::not_found);
  hash.store_relaxed(good_hash);
  auto pad = sync::word(h.a.base(), blk + 24);  // the key's second word: '!' then zeros
  pad.store_relaxed(pad.load_relaxed() | std::uint64_t{0x7f} << 56);
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("padding"), std::string::npos) << why;
  pad.store_relaxed(pad.load_relaxed() & ~(std::uint64_t{0x7f} << 56));
  ASSERT_EQ(m.find(RhBytes{k.data(), k.size()}, buf, sizeof buf, &sz), Status::ok);
  EXPECT_EQ(std::string(buf, sz), v);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

}  // namespace
}  // namespace mb
