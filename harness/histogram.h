// A log-linear latency histogram (HDR-style) in nanoseconds.
//
// Values below 2^kSubBits land in exact buckets; above, each power of two
// [2^e, 2^(e+1)) is split into 2^kSubBits equal buckets, so a bucket's width
// is at most 1/2^kSubBits (3.1%) of its lower bound. value_at(q) returns the
// upper bound of the bucket holding the q-quantile, so a reported percentile
// overstates the true one by at most that relative error, never understates
// it (except `max`, which is exact). Recording is one shift, one add and a
// count increment; histograms of threads merge by adding counts.
#ifndef MAPBENCH_HARNESS_HISTOGRAM_H_
#define MAPBENCH_HARNESS_HISTOGRAM_H_

#include <array>
#include <bit>
#include <cstdint>
#include <utility>
#include <vector>

namespace mb::harness {

class Histogram {
 public:
  static constexpr unsigned kSubBits = 5;
  static constexpr unsigned kSub = 1u << kSubBits;
  // Covers values up to 2^40 ns (18 minutes); larger values clamp to the top.
  static constexpr unsigned kMaxExp = 40;
  static constexpr unsigned kBuckets = kSub + (kMaxExp - kSubBits) * kSub;

  void record(std::uint64_t v) {
    ++counts_[bucket_of(v)];
    ++count_;
    if (v > max_) max_ = v;
    if (v < min_) min_ = v;
    sum_ += v;
  }
  void merge(const Histogram& o);

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return count_ ? max_ : 0; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  double mean() const { return count_ ? double(sum_) / double(count_) : 0; }
  // The q-quantile (0 < q <= 1): the upper bound of its bucket, capped at max.
  std::uint64_t value_at(double q) const;

  static unsigned bucket_of(std::uint64_t v) {
    if (v < kSub) return unsigned(v);
    unsigned e = unsigned(std::bit_width(v)) - 1;  // 2^e <= v < 2^(e+1), e >= kSubBits
    if (e >= kMaxExp) return kBuckets - 1;
    return kSub + (e - kSubBits) * kSub + unsigned((v >> (e - kSubBits)) - kSub);
  }
  // [lo, hi] of the values bucket b holds.
  static std::pair<std::uint64_t, std::uint64_t> bucket_range(unsigned b);

  // Non-empty buckets as (upper bound, count), ascending: the CDF's points.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> nonzero() const;

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0, max_ = 0, min_ = ~std::uint64_t{0}, sum_ = 0;
};

}  // namespace mb::harness

#endif  // MAPBENCH_HARNESS_HISTOGRAM_H_
