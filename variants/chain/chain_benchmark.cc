// ChainMap against the maps people already use, in one binary, side by side
// (the chain issue's benchmark; the full workload harness is harness/'s).
//
//   mix95/<map>/<dist>   u64 -> u64, 1M keys prefilled uniformly from a 2M
//                        key space, 95% find / 5% insert_or_assign, keys
//                        uniform or Zipfian (theta 0.99, scrambled as YCSB
//                        does), 1 and 2 threads.
//   find100/<map>        1 thread, 100% find over the key space (about half
//                        of the keys present): ChainMap
//                        against absl::flat_hash_map with no synchronization.
//   find100/<map>/present, /absent: the same finds split in two, every key
//                        present (drawn from the prefill) or every key absent
//                        (drawn from past the key space, where no benchmark
//                        writes): where the uniform figure's time goes.
// Every thread's key and op streams are generated before timing starts;
// values encode their keys and each find checks it (a failed check aborts).
// Every run of a benchmark starts from a new prefilled map
// (harness/gbench_fresh.h): the mix95 writes grow a map they share.
#include <benchmark/benchmark.h>

#include <absl/container/flat_hash_map.h>
#include <libcuckoo/cuckoohash_map.hh>
#include <oneapi/tbb/concurrent_hash_map.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "core/alloc.h"
#include "core/internal/hash.h"
#include "core/region.h"
#include "harness/gbench_fresh.h"
#include "variants/chain/chain_map.h"

namespace {

using u64 = std::uint64_t;
constexpr u64 kKeys = 1 << 20, kSpace = 2 * kKeys, kStream = 1 << 20;

u64 value_of(u64 k) { return k * 3 + 1; }

// --- workload streams --------------------------------------------------------

struct Stream {
  std::vector<u64> keys;
  std::vector<std::uint8_t> write;  // 1 = insert_or_assign
};

// YCSB's Zipfian generator over [0, n), ranks scrambled by a hash so hot keys
// spread over the space.
class Zipf {
 public:
  Zipf(u64 n, double theta) : n_(n), theta_(theta) {
    for (u64 i = 1; i <= n; ++i) zetan_ += 1.0 / std::pow(double(i), theta);
    double zeta2 = 1.0 + 1.0 / std::pow(2.0, theta);
    alpha_ = 1.0 / (1.0 - theta);
    eta_ = (1.0 - std::pow(2.0 / double(n), 1.0 - theta)) / (1.0 - zeta2 / zetan_);
  }
  u64 next(std::mt19937_64& rng) {
    double u = std::uniform_real_distribution<double>(0, 1)(rng), uz = u * zetan_;
    u64 rank = uz < 1.0 ? 0 : uz < 1.0 + std::pow(0.5, theta_) ? 1
                      : u64(double(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
    return mb::internal::mix64(std::min(rank, n_ - 1)) % n_;
  }

 private:
  u64 n_;
  double theta_, zetan_ = 0, alpha_, eta_;
};

const Stream& stream(int thread, bool zipf, int write_pct) {
  static std::mutex mu;
  static std::vector<std::pair<std::string, Stream>> cache;
  std::lock_guard<std::mutex> g(mu);
  std::string name = std::to_string(thread) + (zipf ? "z" : "u") + std::to_string(write_pct);
  for (auto& [n, s] : cache)
    if (n == name) return s;
  static Zipf* z = new Zipf(kSpace, 0.99);
  std::mt19937_64 rng(1000 + thread * 7 + (zipf ? 1 : 0));
  Stream s;
  s.keys.resize(kStream);
  s.write.resize(kStream);
  for (u64 i = 0; i < kStream; ++i) {
    s.keys[i] = zipf ? z->next(rng) : rng() % kSpace;
    s.write[i] = rng() % 100 < u64(write_pct);
  }
  cache.emplace_back(name, std::move(s));
  return cache.back().second;
}

// The prefill: kKeys distinct keys drawn uniformly from the key space.
const std::vector<u64>& prefill_keys() {
  static std::vector<u64> keys = [] {
    std::vector<char> taken(kSpace, 0);
    std::vector<u64> out;
    std::mt19937_64 rng(42);
    while (out.size() < kKeys) {
      u64 k = rng() % kSpace;
      if (!taken[k]) taken[k] = 1, out.push_back(k);
    }
    return out;
  }();
  return keys;
}

// kStream keys drawn uniformly from the prefill (present: no benchmark
// erases a key, and every write stores value_of(key)), or from the next
// kSpace keys past the key space (absent: the write streams stay inside
// it, so the mix95 runs before cannot have inserted them).
const std::vector<u64>& split_stream(bool present) {
  static std::vector<u64> out[2];
  static std::once_flag once;
  std::call_once(once, [] {
    const auto& keys = prefill_keys();
    std::mt19937_64 rng(7);
    for (int p = 0; p < 2; ++p) {
      out[p].resize(kStream);
      for (u64& k : out[p]) k = p == 1 ? keys[rng() % keys.size()] : kSpace + rng() % kSpace;
    }
  });
  return out[present];
}

// --- maps --------------------------------------------------------------------

// The chain map in a shared region (as processes would use it: 4 KiB pages
// where the kernel gives shared memory no huge pages), and in a private one
// (huge pages advised with madvise). The peers' malloc'd memory gets huge
// pages only where transparent huge pages are "always": on the development
// machine ("madvise") a libcuckoo process had none (AnonHugePages 0 in
// /proc/PID/smaps_rollup), so the private row has an advantage the peers
// lack; the targets are quoted from the shared-region row.
template <bool Private>
struct Chain {
  static const char* name() { return Private ? "chain_private" : "chain"; }
  mb::Region region;
  mb::Allocator a;
  mb::ChainMap m;
  Chain() {
    u64 off = 0;  // sized for 2 * kKeys elements, as tbb and libcuckoo are below
    mb::RegionSpec spec{"mapbench.chain", 1, u64{8} << 30, 0};
    mb::Status s = Private ? mb::Region::create_private(spec, {}, &region) : mb::Region::create_anon(spec, {}, &region);
    if (s != mb::Status::ok ||
        mb::Allocator::create(region, mb::AllocParams(), &a) != mb::Status::ok ||
        mb::ChainMap::create(a, 2 * kKeys, 1, &off) != mb::Status::ok || mb::ChainMap::join(a, off, &m) != mb::Status::ok)
      std::abort();
  }
  bool find(u64 k, u64* v) { return m.find(k, v) == mb::Status::ok; }
  void put(u64 k, u64 v) {
    if (m.insert_or_assign(k, v) != mb::Status::ok) std::abort();
  }
};

struct Tbb {
  static const char* name() { return "tbb"; }
  tbb::concurrent_hash_map<u64, u64> m{2 * kKeys};
  bool find(u64 k, u64* v) {
    tbb::concurrent_hash_map<u64, u64>::const_accessor acc;
    if (!m.find(acc, k)) return false;
    *v = acc->second;
    return true;
  }
  void put(u64 k, u64 v) {
    tbb::concurrent_hash_map<u64, u64>::accessor acc;
    m.insert(acc, k);
    acc->second = v;
  }
};

struct Cuckoo {
  static const char* name() { return "libcuckoo"; }
  libcuckoo::cuckoohash_map<u64, u64> m{2 * kKeys};
  bool find(u64 k, u64* v) { return m.find(k, *v); }
  void put(u64 k, u64 v) { m.insert_or_assign(k, v); }
};

struct Absl {
  static const char* name() { return "absl_flat"; }
  absl::flat_hash_map<u64, u64> m;
  Absl() { m.reserve(2 * kKeys); }
  bool find(u64 k, u64* v) {
    auto it = m.find(k);
    if (it == m.end()) return false;
    *v = it->second;
    return true;
  }
  void put(u64 k, u64 v) { m.insert_or_assign(k, v); }
};

// A new map holding the prefill: every run of a benchmark starts from one
// (harness/gbench_fresh.h).
template <class M>
M* prefilled() {
  auto* x = new M;
  for (u64 k : prefill_keys()) x->put(k, value_of(k));
  return x;
}

// --- benchmarks ----------------------------------------------------------------

template <class M>
void mix(benchmark::State& state, bool zipf, int write_pct) {
  mb::harness::FreshMap<M>::make(state, [] { return prefilled<M>(); });
  const Stream& s = stream(state.thread_index(), zipf, write_pct);
  M* m = nullptr;
  u64 i = 0, hits = 0;
  for (auto _ : state) {
    if (m == nullptr) m = mb::harness::FreshMap<M>::get();  // after the start barrier
    u64 k = s.keys[i], v = 0;
    if (s.write[i]) {
      m->put(k, value_of(k));
    } else if (m->find(k, &v)) {
      if (v != value_of(k)) std::abort();  // values encode their keys
      ++hits;
    }
    i = (i + 1) & (kStream - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["hit_rate"] = benchmark::Counter(double(hits), benchmark::Counter::kAvgIterations);
}

// find100/<map>/present or /absent: each find must hit (with the key's
// value) or miss, else the run aborts.
template <class M>
void find_split(benchmark::State& state, bool present) {
  mb::harness::FreshMap<M>::make(state, [] { return prefilled<M>(); });
  const std::vector<u64>& keys = split_stream(present);
  M* m = nullptr;
  u64 i = 0;
  for (auto _ : state) {
    if (m == nullptr) m = mb::harness::FreshMap<M>::get();
    u64 k = keys[i], v = 0;
    if (m->find(k, &v) != present || (present && v != value_of(k))) std::abort();
    i = (i + 1) & (kStream - 1);
  }
  state.SetItemsProcessed(state.iterations());
}

// thread_safe = false (absl): 1 thread only, it has no synchronization.
template <class M>
void register_map(bool thread_safe) {
  for (bool zipf : {false, true}) {
    std::string name = std::string("mix95/") + M::name() + (zipf ? "/zipf" : "/uniform");
    auto* b = benchmark::RegisterBenchmark(name.c_str(), [zipf](benchmark::State& st) { mix<M>(st, zipf, 5); });
    b->Threads(1)->UseRealTime();
    if (thread_safe) b->Threads(2);
  }
  std::string name = std::string("find100/") + M::name() + "/uniform";
  benchmark::RegisterBenchmark(name.c_str(), [](benchmark::State& st) { mix<M>(st, false, 0); })
      ->Threads(1)->UseRealTime();
  for (bool present : {true, false}) {
    name = std::string("find100/") + M::name() + (present ? "/present" : "/absent");
    benchmark::RegisterBenchmark(name.c_str(), [present](benchmark::State& st) { find_split<M>(st, present); })
        ->Threads(1)->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_map<Chain<false>>(true);
  register_map<Chain<true>>(true);
  register_map<Tbb>(true);
  register_map<Cuckoo>(true);
  register_map<Absl>(false);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
