// Tests only: a chain map in an anonymous shared region (forked children
// share it), and the owner-table plumbing of the recovery tests.
#ifndef MAPBENCH_VARIANTS_CHAIN_CHAIN_TESTING_H_
#define MAPBENCH_VARIANTS_CHAIN_CHAIN_TESTING_H_

#include <cstdint>
#include <string>

#include "core/alloc.h"
#include "core/region.h"
#include "variants/chain/chain_map.h"
#include "variants/rwlock/internal/park_testing.h"

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

using rw_os::testing::dead_pid;  // a dead owner for an owner table word

// Lock chain word `word` as a dead process holding owner index `owner`
// would have left it (the lock bit, the owner in version bits 1..8).
inline void stamp_dead_lock(std::uint64_t& word, unsigned owner) {
  word = (word & ~(std::uint64_t{0xff} << 45)) | ChainMap::kWordLockBit | std::uint64_t{owner} << 45;
}

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_CHAIN_CHAIN_TESTING_H_
