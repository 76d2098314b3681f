// Tests only: a chain map in an anonymous shared region (forked children
// share it).
#ifndef MAPBENCH_VARIANTS_CHAIN_CHAIN_TESTING_H_
#define MAPBENCH_VARIANTS_CHAIN_CHAIN_TESTING_H_

#include <cstdint>
#include <string>

#include "core/alloc.h"
#include "core/region.h"
#include "variants/chain/chain_map.h"

namespace mb {

struct AnonChain {
  explicit AnonChain(std::uint64_t ele_expected = 1024, std::uint64_t seed = 42, AllocParams p = AllocParams()) {
    s = Region::create_anon({"mapbench.chain", 1, std::uint64_t{1} << 30, 0}, {}, &region, &why);
    if (s == Status::ok) s = Allocator::create(region, p, &a, &why);
    if (s == Status::ok) s = ChainMap::create(a, ele_expected, seed, &off, &why);
    if (s == Status::ok) s = ChainMap::join(a, off, &m, &why);
  }
  Region region;
  Allocator a;
  std::uint64_t off = 0;
  ChainMap m;
  Status s = Status::ok;  // of the set-up; why says what failed
  std::string why;
};

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_CHAIN_CHAIN_TESTING_H_
