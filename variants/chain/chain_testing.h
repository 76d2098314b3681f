// Tests only: a chain map in an anonymous shared region (forked children
// share it), and the owner-table plumbing of the recovery tests.
#ifndef MAPBENCH_VARIANTS_CHAIN_CHAIN_TESTING_H_
#define MAPBENCH_VARIANTS_CHAIN_CHAIN_TESTING_H_

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

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

// The pid of a process that has exited and been reaped (a dead owner for
// an owner table word), or -1 when fork failed.
inline pid_t dead_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int st = 0;
  return pid > 0 && waitpid(pid, &st, 0) == pid ? pid : -1;
}

// Lock chain word `word` as a dead process holding owner index `owner`
// would have left it (the lock bit, the owner in version bits 1..8).
inline void stamp_dead_lock(std::uint64_t& word, unsigned owner) {
  word = (word & ~(std::uint64_t{0xff} << 45)) | ChainMap::kWordLockBit | std::uint64_t{owner} << 45;
}

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_CHAIN_CHAIN_TESTING_H_
