#include "harness/histogram.h"

#include <algorithm>
#include <cmath>

namespace mb::harness {

void Histogram::merge(const Histogram& o) {
  for (unsigned b = 0; b < kBuckets; ++b) counts_[b] += o.counts_[b];
  count_ += o.count_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
  min_ = std::min(min_, o.min_);
}

std::pair<std::uint64_t, std::uint64_t> Histogram::bucket_range(unsigned b) {
  if (b < kSub) return {b, b};
  unsigned e = kSubBits + (b - kSub) / kSub, sub = (b - kSub) % kSub;
  std::uint64_t width = std::uint64_t{1} << (e - kSubBits);
  std::uint64_t lo = (std::uint64_t{kSub} + sub) << (e - kSubBits);
  return {lo, lo + width - 1};
}

std::uint64_t Histogram::value_at(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the q-quantile: the smallest r with r >= q * count, r >= 1.
  std::uint64_t rank = std::max<std::uint64_t>(1, std::uint64_t(std::ceil(q * double(count_))));
  std::uint64_t seen = 0;
  for (unsigned b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= rank) return b == kBuckets - 1 ? max_ : std::min(bucket_range(b).second, max_);
  }
  return max_;
}

std::vector<std::pair<std::uint64_t, std::uint64_t>> Histogram::nonzero() const {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
  for (unsigned b = 0; b < kBuckets; ++b)
    if (counts_[b] != 0) out.emplace_back(std::min(bucket_range(b).second, max_), counts_[b]);
  return out;
}

}  // namespace mb::harness
