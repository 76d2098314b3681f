// Allocator benchmark: mapbench's allocator (shared path "mapbench", and
// through a per-thread AllocCache "mbcache") against the malloc linked into
// this binary (glibc, jemalloc, mimalloc or tcmalloc: each peer replaces
// malloc for the whole binary, so each gets a binary of its own, see
// core/BUILD; tools/alloc_bench.sh runs them back to back and merges JSON).
//
//   pair/SIZE     alloc then free, one object at a time
//   batch/SIZE    alloc 1024 objects, then free them all (time per object)
// at 1 and 2 threads. Every object's first byte is written, so no allocator
// can skip touching its memory. Work is fixed per iteration; nothing is timed
// outside the loop.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#ifdef MB_BENCH_SELF
#include "core/alloc.h"
#include "core/region.h"
#endif

#ifndef MB_PEER
#define MB_PEER "glibc"
#endif

namespace {

constexpr int kBatch = 1024;

struct Malloc {
  static const char* name() { return MB_PEER; }
  void* alloc(std::size_t n) { return std::malloc(n); }
  void free(void* p) { std::free(p); }
};

#ifdef MB_BENCH_SELF
// One allocator in an anonymous shared region, shared by all threads (as it
// would be by processes).
mb::Allocator& shared_allocator() {
  static mb::Region region;
  static mb::Allocator a = [] {
    mb::Allocator out;
    mb::Region::create_anon({"mapbench.alloc", 1, std::uint64_t{4} << 30, 0}, {}, &region);
    mb::Allocator::create(region, mb::AllocParams(), &out);
    return out;
  }();
  return a;
}

struct Mapbench {
  static const char* name() { return "mapbench"; }
  mb::Allocator& a = shared_allocator();
  void* alloc(std::size_t n) {
    std::uint64_t off = 0;
    if (a.alloc(0, n, 0, &off) != mb::Status::ok) std::abort();
    return a.at<void>(off);
  }
  void free(void* p) {
    std::uint64_t off = std::uint64_t(static_cast<char*>(p) - static_cast<char*>(a.base()));
    if (a.free(off) != mb::Status::ok) std::abort();
  }
};

// The same allocator through a per-thread AllocCache (one per benchmark
// thread; its destructor flushes).
struct MapbenchCached {
  static const char* name() { return "mbcache"; }
  mb::Allocator& a = shared_allocator();
  mb::AllocCache c{a};
  void* alloc(std::size_t n) {
    std::uint64_t off = 0;
    if (c.alloc(0, n, 0, &off) != mb::Status::ok) std::abort();
    return a.at<void>(off);
  }
  void free(void* p) {
    std::uint64_t off = std::uint64_t(static_cast<char*>(p) - static_cast<char*>(a.base()));
    if (c.free(off) != mb::Status::ok) std::abort();
  }
};
#endif

template <class A>
void pair(benchmark::State& state) {
  A a;
  std::size_t n = std::size_t(state.range(0));
  for (auto _ : state) {
    auto* p = static_cast<char*>(a.alloc(n));
    p[0] = 1;
    benchmark::DoNotOptimize(p);
    a.free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

template <class A>
void batch(benchmark::State& state) {
  A a;
  std::size_t n = std::size_t(state.range(0));
  std::vector<char*> ptrs(kBatch);
  for (auto _ : state) {
    for (auto& p : ptrs) {
      p = static_cast<char*>(a.alloc(n));
      p[0] = 1;
    }
    benchmark::DoNotOptimize(ptrs.data());
    for (char* p : ptrs) a.free(p);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

template <class A>
void register_all() {
  for (auto [pattern, fn] : {std::pair{"pair", &pair<A>}, std::pair{"batch", &batch<A>}}) {
    std::string name = std::string(pattern) + "/" + A::name();
    auto* b = benchmark::RegisterBenchmark(name.c_str(), fn);
    for (int size : {16, 64, 256, 1024, 4096}) b->Arg(size);
    b->Threads(1)->Threads(2)->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
#ifdef MB_BENCH_SELF
  register_all<Mapbench>();
  register_all<MapbenchCached>();
#endif
  register_all<Malloc>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
