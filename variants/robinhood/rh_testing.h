// Tests only: a fresh robin-hood map in an anonymous region.
#ifndef MAPBENCH_VARIANTS_ROBINHOOD_RH_TESTING_H_
#define MAPBENCH_VARIANTS_ROBINHOOD_RH_TESTING_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/alloc.h"
#include "core/region.h"
#include "variants/robinhood/rh_map.h"

namespace mb {

struct RhHarness {
  using Map = RhMap;
  explicit RhHarness(std::uint64_t cap_min = 4, unsigned flags = 0, std::uint64_t cap_max = kRhCapMax,
                     std::uint64_t region_bytes = std::uint64_t{1} << 31) {
    std::string why;
    EXPECT_EQ(Region::create_anon({"mapbench.robinhood", 1, region_bytes, 0}, {}, &region, &why),
              Status::ok) << why;
    EXPECT_EQ(Allocator::create(region, AllocParams(), &a, &why), Status::ok) << why;
    EXPECT_EQ(RhMap::create(a, cap_min, 42, &off, &why, flags, cap_max), Status::ok) << why;
    EXPECT_EQ(RhMap::join(a, off, &m, &why), Status::ok) << why;
  }
  RhMap& map() { return m; }
  Region region;
  Allocator a;
  std::uint64_t off = 0;
  RhMap m;
};

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_ROBINHOOD_RH_TESTING_H_
