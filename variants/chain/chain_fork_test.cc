// Cross-process: forked processes work on one chain map in a file-backed
// region, each joined at its own address. Each owns a key slice (id << 24 |
// n) and runs a seeded op sequence; the parent replays every sequence on a
// std::map to know the exact expected contents, then checks them and
// verify(). All processes also hammer a shared hot range whose values encode
// their keys (checked on every read).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>

#include "core/alloc.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "variants/chain/chain_map.h"

namespace mb {
namespace {

constexpr int kProcs = 3;
#if defined(MB_SANITIZER)
constexpr int kOps = 5000;
#else
constexpr int kOps = 50000;
#endif
const RegionSpec kSpec{"mapbench.chain", 1, std::uint64_t{1} << 30, 0};

// The op sequence of process `id`; apply() runs it on the map (returns 0 or
// a failure code), and the same sequence on a std::map gives the expected
// slice.
template <class Apply>
int run_ops(int id, std::uint64_t seed, Apply&& apply) {
  std::mt19937_64 rng(seed + id);
  for (int i = 0; i < kOps; ++i) {
    std::uint64_t r = rng(), n = rng() % 500, k = std::uint64_t(id) << 24 | n, v = rng();
    int code = apply(r % 4, k, v, rng());
    if (code != 0) return code;
  }
  return 0;
}

int child(const std::string& path, int id, std::uint64_t seed) {
  Region r;
  Allocator a;
  ChainMap m;
  if (Region::join_file(path, kSpec.type, kSpec.type_version, &r) != Status::ok) return 10;
  if (Allocator::join(r, &a) != Status::ok) return 11;
  if (ChainMap::join(a, r.root_off().load_acquire(), &m) != Status::ok) return 12;
  return run_ops(id, seed, [&](std::uint64_t op, std::uint64_t k, std::uint64_t v, std::uint64_t hot) -> int {
    std::uint64_t got = 0, hk = 1ull << 40 | hot % 32;
    if (m.insert_or_assign(hk, hk * 3) != Status::ok) return 20;
    if (m.find(hk, &got) == Status::ok && got != hk * 3) return 21;
    switch (op) {
      case 0: return m.insert_or_assign(k, v) == Status::ok ? 0 : 22;
      case 1: { Status s = m.erase(k); return s == Status::ok || s == Status::not_found ? 0 : 23; }
      case 2: { Status s = m.insert(k, v); return s == Status::ok || s == Status::exists ? 0 : 24; }
      default: { Status s = m.find(k, &got); return s == Status::ok || s == Status::not_found ? 0 : 25; }
    }
  });
}

TEST(ChainFork, ProcessesShareOneMapFile) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/chain_fork." + std::to_string(getpid());
  unlink(path.c_str());
  std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  Region r;
  ASSERT_EQ(Region::create_file(path, kSpec, [](Region& reg) {
              Allocator a;
              std::uint64_t off = 0;
              Status s = Allocator::create(reg, AllocParams(), &a);
              if (s == Status::ok) s = ChainMap::create(a, 4096, 9, &off);
              if (s == Status::ok) reg.root_off().store_release(off);
              return s;
            }, &r), Status::ok);
  r.leave();
  std::vector<pid_t> kids;
  for (int id = 0; id < kProcs; ++id) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(child(path, id, seed));
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed (see codes in child())";
  }
  Allocator a;
  ChainMap m;
  ASSERT_EQ(Region::join_file(path, kSpec.type, kSpec.type_version, &r), Status::ok);
  ASSERT_EQ(Allocator::join(r, &a), Status::ok);
  ASSERT_EQ(ChainMap::join(a, r.root_off().load_acquire(), &m), Status::ok);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t expect_cnt = 32;  // the hot range, all present
  for (int id = 0; id < kProcs; ++id) {
    std::map<std::uint64_t, std::uint64_t> ref;
    run_ops(id, seed, [&](std::uint64_t op, std::uint64_t k, std::uint64_t v, std::uint64_t) -> int {
      if (op == 0) ref[k] = v;
      else if (op == 1) ref.erase(k);
      else if (op == 2) ref.emplace(k, v);
      return 0;
    });
    for (std::uint64_t n = 0; n < 500; ++n) {
      std::uint64_t k = std::uint64_t(id) << 24 | n, got = 0;
      auto it = ref.find(k);
      ASSERT_EQ(m.find(k, &got), it == ref.end() ? Status::not_found : Status::ok) << k;
      if (it != ref.end()) ASSERT_EQ(got, it->second) << k;
    }
    expect_cnt += ref.size();
  }
  EXPECT_EQ(m.size(), expect_cnt);
  AllocStats st;
  ASSERT_EQ(a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(Region::destroy_file(path, kSpec.type), Status::ok);
}

}  // namespace
}  // namespace mb
