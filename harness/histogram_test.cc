#include "harness/histogram.h"

#include <algorithm>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace mb::harness {
namespace {

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (std::uint64_t v = 0; v < 32; ++v) h.record(v);
  EXPECT_EQ(h.count(), 32u);
  EXPECT_EQ(h.value_at(0.5), 15u);
  EXPECT_EQ(h.value_at(1.0), 31u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 31u);
  EXPECT_DOUBLE_EQ(h.mean(), 15.5);
}

TEST(Histogram, BucketsCoverEveryValueWithBoundedWidth) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    std::uint64_t v = rng() >> (rng() % 40 + 24);
    auto [lo, hi] = Histogram::bucket_range(Histogram::bucket_of(v));
    ASSERT_LE(lo, v);
    ASSERT_GE(hi, v);
    ASSERT_LE(double(hi - lo), double(lo) / Histogram::kSub + 0.5) << v;
  }
  // Consecutive buckets tile the line.
  for (unsigned b = 0; b + 1 < Histogram::kBuckets; ++b)
    ASSERT_EQ(Histogram::bucket_range(b).second + 1, Histogram::bucket_range(b + 1).first) << b;
}

// Percentiles of 1..100000 (each once) against the exact order statistics:
// never below, at most one bucket (3.1%) above.
TEST(Histogram, PercentilesOfKnownData) {
  Histogram h;
  std::vector<std::uint64_t> data;
  for (std::uint64_t v = 1; v <= 100000; ++v) data.push_back(v);
  std::shuffle(data.begin(), data.end(), std::mt19937_64(3));
  for (std::uint64_t v : data) h.record(v);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    double exact = q * 100000;
    EXPECT_GE(double(h.value_at(q)), exact) << q;
    EXPECT_LE(double(h.value_at(q)), exact * (1 + 1.0 / Histogram::kSub)) << q;
  }
  EXPECT_EQ(h.value_at(1.0), 100000u);
  EXPECT_EQ(h.max(), 100000u);
}

TEST(Histogram, SkewedData) {
  // 99% at 100 ns, 1% at 1 ms: p99 is 100 ns-ish, p99.9 is 1 ms-ish.
  Histogram h;
  for (int i = 0; i < 9900; ++i) h.record(100);
  for (int i = 0; i < 100; ++i) h.record(1000000);
  EXPECT_LE(h.value_at(0.99), 103u);
  EXPECT_GE(h.value_at(0.99), 100u);
  EXPECT_GE(h.value_at(0.999), 1000000u * 31 / 32);
  EXPECT_LE(h.value_at(0.999), 1000000u);
}

TEST(Histogram, MergeEqualsRecordingTogether) {
  Histogram a, b, both;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 50000; ++i) {
    std::uint64_t v = rng() % 1000000;
    (i % 3 ? a : b).record(v);
    both.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), both.count());
  EXPECT_EQ(a.max(), both.max());
  EXPECT_EQ(a.min(), both.min());
  for (double q : {0.1, 0.5, 0.9, 0.99}) EXPECT_EQ(a.value_at(q), both.value_at(q));
  EXPECT_EQ(a.nonzero(), both.nonzero());
}

TEST(Histogram, HugeValuesClampToTheTop) {
  Histogram h;
  h.record(~std::uint64_t{0});
  EXPECT_EQ(Histogram::bucket_of(~std::uint64_t{0}), Histogram::kBuckets - 1);
  EXPECT_EQ(h.max(), ~std::uint64_t{0});
  EXPECT_EQ(h.value_at(0.5), h.max());
  Histogram empty;
  EXPECT_EQ(empty.value_at(0.5), 0u);
}

}  // namespace
}  // namespace mb::harness
