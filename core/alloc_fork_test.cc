// Cross-process test: several forked processes allocate and free in one
// file-backed region at the same time, each through its own join (so at its
// own mapping address). Each keeps some objects alive at exit and records
// them in a table that is itself allocated in the region. The parent then
// checks that verify() is clean and that every surviving object holds what
// its writer wrote, and frees them all.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "gtest/gtest.h"

namespace mb {
namespace {

constexpr int kProcs = 3;
constexpr int kKeep = 200;  // objects each process leaves alive
#if defined(MB_SANITIZER)
constexpr int kOps = 5000;
#else
constexpr int kOps = 50000;
#endif
const RegionSpec kSpec{"mapbench.alloc", 1, 256 << 20, 0};

struct Entry {
  std::uint64_t off, size, stamp;
};

std::uint64_t byte_of(std::uint64_t stamp, std::uint64_t i) { return (stamp * 0x9e3779b97f4a7c15ULL + i) >> 56; }

// The child's whole life; returns its exit code.
int child(const std::string& path, int id, std::uint64_t table_off, std::uint64_t seed) {
  Region r;
  Allocator a;
  if (Region::join_file(path, kSpec.type, kSpec.type_version, &r) != Status::ok) return 10;
  if (Allocator::join(r, &a) != Status::ok) return 11;
  auto* go = a.at<std::uint64_t>(table_off);  // start barrier counter
  __atomic_add_fetch(go, 1, __ATOMIC_ACQ_REL);
  while (__atomic_load_n(go, __ATOMIC_ACQUIRE) < kProcs) sched_yield();
  std::mt19937_64 rng(seed + id);
  std::vector<Entry> live;
  // Process 0 allocates and frees through a per-thread cache; the others
  // through the shared path (objects cross between the two in the parent).
  std::optional<AllocCache> cache;
  if (id == 0) cache.emplace(a, 16);
  auto alloc = [&](std::uint64_t size, std::uint64_t* off) {
    return cache ? cache->alloc(0, size, std::uint32_t(id), off) : a.alloc(0, size, std::uint32_t(id), off);
  };
  auto release = [&](std::uint64_t off) { return cache ? cache->free(off) : a.free(off); };
  for (int i = 0; i < kOps; ++i) {
    if (live.size() < kKeep || rng() % 2) {
      std::uint64_t size = 8 + rng() % 600, off = 0;
      if (alloc(size, &off) != Status::ok) return 12;
      std::uint64_t st = std::uint64_t(id) << 40 | std::uint64_t(i);
      auto* p = a.at<unsigned char>(off);
      for (std::uint64_t k = 0; k < size; ++k) p[k] = static_cast<unsigned char>(byte_of(st, k));
      live.push_back({off, size, st});
    } else {
      std::size_t k = rng() % live.size();
      Entry e = live[k];
      live[k] = live.back();
      live.pop_back();
      auto* p = a.at<unsigned char>(e.off);
      for (std::uint64_t j = 0; j < e.size; ++j)
        if (p[j] != static_cast<unsigned char>(byte_of(e.stamp, j))) return 13;
      if (release(e.off) != Status::ok) return 14;
    }
  }
  while (live.size() > kKeep) {
    if (release(live.back().off) != Status::ok) return 14;
    live.pop_back();
  }
  if (cache) cache->flush();  // cached slots go back before the process exits
  auto* table = a.at<Entry>(table_off + 64 + std::uint64_t(id) * kKeep * sizeof(Entry));
  for (std::size_t k = 0; k < live.size(); ++k) table[k] = live[k];
  return 0;
}

TEST(AllocFork, ProcessesShareOneFileRegion) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/alloc_fork." + std::to_string(getpid());
  unlink(path.c_str());
  std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));

  Region r;
  AllocParams p;
  p.vol_sz = 1 << 20;
  p.cgroup_cnt = 4;
  ASSERT_EQ(Region::create_file(path, kSpec, [&](Region& reg) {
              Allocator a;
              return Allocator::create(reg, p, &a);
            }, &r), Status::ok);
  Allocator a;
  ASSERT_EQ(Allocator::join(r, &a), Status::ok);
  std::uint64_t table_off = 0;
  std::uint64_t table_sz = 64 + kProcs * kKeep * sizeof(Entry);
  ASSERT_EQ(a.alloc(64, table_sz, 0xab, &table_off), Status::ok);
  std::memset(a.at<char>(table_off), 0, table_sz);
  r.root_off().store_release(table_off);
  r.leave();  // children join by path at their own addresses; so do we later

  std::vector<pid_t> kids;
  for (int id = 0; id < kProcs; ++id) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(child(path, id, table_off, seed));
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed (10 join, 12 alloc, 13 content, 14 free)";
  }

  ASSERT_EQ(Region::join_file(path, kSpec.type, kSpec.type_version, &r), Status::ok);
  ASSERT_EQ(Allocator::join(r, &a), Status::ok);
  ASSERT_EQ(r.root_off().load_acquire(), table_off);
  AllocStats st;
  std::string why;
  ASSERT_EQ(a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 1u + kProcs * kKeep);
  auto* table = a.at<Entry>(table_off + 64);
  for (int k = 0; k < kProcs * kKeep; ++k) {
    const Entry& e = table[k];
    ASSERT_NE(e.off, 0u);
    auto* p = a.at<unsigned char>(e.off);
    for (std::uint64_t j = 0; j < e.size; ++j)
      ASSERT_EQ(p[j], static_cast<unsigned char>(byte_of(e.stamp, j))) << "object " << k;
    ASSERT_EQ(a.free(e.off), Status::ok);
  }
  ASSERT_EQ(a.free(table_off), Status::ok);
  ASSERT_EQ(a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 0u);
  EXPECT_EQ(Region::destroy_file(path, kSpec.type), Status::ok);
}

}  // namespace
}  // namespace mb
