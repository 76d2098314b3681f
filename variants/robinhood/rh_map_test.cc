#include "variants/robinhood/rh_map.h"

#include <cstring>
#include <string>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "models/map_conformance.h"

namespace mb {
namespace {

// A fresh robin-hood map in an anonymous region.
struct RhHarness {
  using Map = RhMap;
  explicit RhHarness(std::uint64_t cap_min = 4) {
    std::string why;
    EXPECT_EQ(Region::create_anon({"mapbench.robinhood", 1, std::uint64_t{1} << 31, 0}, {}, &region, &why),
              Status::ok) << why;
    EXPECT_EQ(Allocator::create(region, AllocParams(), &a, &why), Status::ok) << why;
    EXPECT_EQ(RhMap::create(a, cap_min, 42, &off, &why), Status::ok) << why;
    EXPECT_EQ(RhMap::join(a, off, &m, &why), Status::ok) << why;
  }
  RhMap& map() { return m; }
  Region region;
  Allocator a;
  std::uint64_t off = 0;
  RhMap m;
};

INSTANTIATE_TYPED_TEST_SUITE_P(RobinHood, MapConformance, ::testing::Types<RhHarness>);

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
  // 2. a reference to something that is not a block (the map header).
  sync::word(h.a.base(), seg + 8 * live_idx)
      .store_relaxed((saved[live_idx] & ~0xffffffffULL) | (h.off >> 4));
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("RH2"), std::string::npos) << why;
  restore();
  // 3. the live count.
  sync::word(h.a.base(), h.off + 72).store_relaxed(11);
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("RH3"), std::string::npos) << why;
  sync::word(h.a.base(), h.off + 72).store_relaxed(10);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

}  // namespace
}  // namespace mb
