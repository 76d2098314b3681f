// The robin-hood map at its real capacity bound, kRhCapMax = 2^26 slots
// (rh_map.h, LIMITS): the packing at its top (a table word naming a
// 2^26-slot table, a directory of 1024 segments, refs across 0.8 GB of
// slabs), `full` at exactly 3/4 of the bound with every entry kept, and the
// same-size rebuild that clears tombstones at the bound. rh_map_test runs
// the same rules at small bounds; this one needs about 2 GB of memory and
// tens of seconds, so the sanitizer configurations skip it.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "variants/robinhood/rh_map.h"
#include "variants/robinhood/rh_testing.h"

namespace mb {
namespace {

using u64 = std::uint64_t;

u64 value_of(u64 k) { return k * 7 + 3; }

TEST(RhCapMax, FullAtThreeQuartersOfTheBoundKeepsEveryEntry) {
  // Slabs for 3/4 * 2^26 entries (768 MiB) and, during the last growth,
  // the old and the new table (256 + 512 MiB): 3 GiB is room enough.
  RhHarness h(4, 0, kRhCapMax, u64{3} << 30);
  ASSERT_FALSE(::testing::Test::HasFailure());
  RhMap& m = h.m;
  std::string why;

  const u64 most = kRhCapMax / 4 * 3;
  u64 n = 0;
  Status s = Status::ok;
  for (; n <= most; ++n) {
    s = m.insert(n + 1, value_of(n + 1));
    if (s != Status::ok) break;
  }
  EXPECT_EQ(s, Status::full) << "after " << n << " inserts";
  EXPECT_EQ(n, most);
  EXPECT_EQ(m.capacity(), kRhCapMax);
  EXPECT_EQ(m.size(), most);
  // full changed nothing: the refused key is absent, the next insert is
  // refused too, and the entries are there with their values (every 61st
  // here; all of them, and verify(), at the end: each pass over 2^26 slots
  // takes seconds).
  u64 v = 0;
  EXPECT_EQ(m.find(most + 1, &v), Status::not_found);
  EXPECT_EQ(m.insert(most + 2, 1), Status::full);
  u64 wrong = 0;
  for (u64 k = 1; k <= most; k += 61) wrong += m.find(k, &v) != Status::ok || v != value_of(k);
  EXPECT_EQ(wrong, 0u);

  // Erase a quarter and a bit (live entries below 5/8 of the bound), then
  // insert new keys: the tombstones fill the table to 3/4 again, and the
  // insert that finds it so rebuilds it at the same size instead of
  // returning full.
  const u64 erased = kRhCapMax / 8 + kRhCapMax / 64;
  for (u64 k = 1; k <= erased; ++k) ASSERT_EQ(m.erase(k), Status::ok) << k;
  const u64 resizes = m.resizes();
  u64 added = 0;
  for (u64 k = most + 10; added < erased; ++k, ++added) {
    s = m.insert(k, value_of(k));
    if (s != Status::ok) break;
  }
  EXPECT_EQ(s, Status::ok) << "after " << added << " new keys";
  EXPECT_GT(m.resizes(), resizes);  // the same-size rebuild ran
  EXPECT_EQ(m.capacity(), kRhCapMax);
  EXPECT_EQ(m.size(), most);
  wrong = 0;
  for (u64 k = erased + 1; k <= most; ++k) wrong += m.find(k, &v) != Status::ok || v != value_of(k);
  for (u64 k = 1; k <= erased; ++k) wrong += m.find(k, &v) != Status::not_found;
  EXPECT_EQ(wrong, 0u);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.destroy(), Status::ok);
}

}  // namespace
}  // namespace mb
