// ChainMap against the maps people already use, in one binary, side by side
// (the chain issue's benchmark; the full workload harness is harness/'s).
//
//   mix95/<map>/<dist>   u64 -> u64, 1M keys prefilled uniformly from a 2M
//                        key space, 95% find / 5% insert_or_assign, keys
//                        uniform or Zipfian (theta 0.99, ranks scrambled
//                        over the space), 1 and 2 threads: the mix95
//                        preset of harness/workload.h, its streams and keys.
//   find100/<map>        1 thread, 100% find over the key space (about half
//                        of the keys present): ChainMap
//                        against absl::flat_hash_map with no synchronization.
//   find100/<map>/present, /absent: the same finds split in two, every key
//                        present (drawn from the prefill) or every key absent
//                        (drawn from past the key space, where no benchmark
//                        writes): where the uniform figure's time goes.
//   find100/<chain map>/present_inline, /present_list: the present finds
//                        split again by where the key sits: in its bucket's
//                        inline slot (the first prefill key of its chain)
//                        or on the chain's list (every later one); counter
//                        `share`: the prefill's fraction of such keys.
// Every thread's key and op streams are generated before timing starts
// (harness/workload.h, as in mapbench and rh_benchmark); values encode
// their keys and each find checks it (a failed check aborts).
// Every run of a benchmark starts from a new prefilled map
// (harness/gbench_fresh.h): the mix95 writes grow a map they share.
#include <benchmark/benchmark.h>

#include <absl/container/flat_hash_map.h>
#include <libcuckoo/cuckoohash_map.hh>
#include <oneapi/tbb/concurrent_hash_map.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "harness/gbench_fresh.h"
#include "harness/workload.h"
#include "variants/chain/chain_map.h"

namespace {

using mb::harness::Op;
using u64 = std::uint64_t;
constexpr u64 kKeys = 1 << 20, kStream = 1 << 20;

// --- workload streams --------------------------------------------------------
//
// harness/workload.h's, as mapbench and rh_benchmark use them: keys are
// key_of(id) for ids of the 2M key space, values value_of(key, seq), which
// value_ok() checks; Zipfian ranks are sampled exactly and scrambled over
// the space.

// mix95 (find_pct 95) or 100% find over the same space and prefill.
mb::harness::WorkloadSpec spec_of(bool zipf, unsigned find_pct) {
  mb::harness::WorkloadSpec w;
  if (!mb::harness::preset("mix95", &w)) std::abort();
  w.dist = zipf ? mb::harness::Dist::zipfian : mb::harness::Dist::uniform;
  w.mix = mb::harness::Mix{find_pct, 0, 100 - find_pct, 0, 0, 0, 0};
  return w;
}

// The prefill: the ids of kKeys distinct keys of the key space (the same
// for every spec above: it depends on the space and the seed alone).
const std::vector<u64>& prefill_ids() {
  static const std::vector<u64> ids = mb::harness::prefill_ids(spec_of(false, 95), 1);
  return ids;
}

const mb::harness::Stream& stream(int t, int threads, bool zipf, unsigned find_pct) {
  static std::mutex mu;
  static std::map<std::string, mb::harness::Stream> cache;  // a node map: references stay valid
  std::lock_guard<std::mutex> g(mu);
  const std::string name = std::to_string(t) + "/" + std::to_string(threads) + (zipf ? "z" : "u") +
                           std::to_string(find_pct);
  auto it = cache.find(name);
  if (it == cache.end())
    it = cache.emplace(name, mb::harness::make_stream(spec_of(zipf, find_pct), 1, unsigned(t), unsigned(threads),
                                                      kStream, prefill_ids())).first;
  return it->second;
}

// kStream keys drawn uniformly from the prefill (present: no benchmark
// erases a key), or keys of the next 2M ids past the key space (absent:
// the write streams stay inside it, so the mix95 runs before cannot have
// inserted them).
const std::vector<u64>& split_stream(bool present) {
  static std::vector<u64> out[2];
  static std::once_flag once;
  std::call_once(once, [] {
    const auto& ids = prefill_ids();
    const u64 space = spec_of(false, 95).key_space;
    std::mt19937_64 rng(7);
    for (int p = 0; p < 2; ++p) {
      out[p].resize(kStream);
      for (u64& k : out[p]) k = mb::harness::key_of(p == 1 ? ids[rng() % ids.size()] : space + rng() % space);
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
  for (u64 id : prefill_ids()) {
    const u64 k = mb::harness::key_of(id);
    x->put(k, mb::harness::value_of(k, 0));
  }
  return x;
}

// --- benchmarks ----------------------------------------------------------------

template <class M>
void mix(benchmark::State& state, bool zipf, unsigned find_pct) {
  mb::harness::FreshMap<M>::make(state, [] { return prefilled<M>(); });
  const mb::harness::Stream& s = stream(state.thread_index(), state.threads(), zipf, find_pct);
  M* m = nullptr;
  u64 i = 0, hits = 0, seq = 0;
  for (auto _ : state) {
    if (m == nullptr) m = mb::harness::FreshMap<M>::get();  // after the start barrier
    u64 k = s.keys[i], v = 0;
    if (s.ops[i] == Op::assign) {
      m->put(k, mb::harness::value_of(k, ++seq));
    } else if (m->find(k, &v)) {
      if (!mb::harness::value_ok(k, v)) std::abort();  // values encode their keys
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
    if (m->find(k, &v) != present || (present && !mb::harness::value_ok(k, v))) std::abort();
    i = (i + 1) & (kStream - 1);
  }
  state.SetItemsProcessed(state.iterations());
}

// find100/<chain map>/present_inline or /present_list: present keys only,
// each of them in its bucket's inline slot, or each on its chain's list
// (the prefill inserts in prefill_ids() order, and an insert takes the
// inline slot when it is empty).
template <class M>
void find_where(benchmark::State& state, bool on_list) {
  M* made = mb::harness::FreshMap<M>::make(state, [] { return prefilled<M>(); });
  static std::vector<u64> keys[2];  // one map's hash and chain count serve every run
  static double share[2];
  if (keys[0].empty()) {
    std::vector<u64> where[2];
    std::vector<char> taken(made->m.chain_cnt());
    for (u64 id : prefill_ids()) {
      const u64 k = mb::harness::key_of(id);
      const u64 idx = made->m.hash(mb::Bytes{&k, 8}) & (made->m.chain_cnt() - 1);
      where[taken[idx] != 0].push_back(k);
      taken[idx] = 1;
    }
    std::mt19937_64 rng(7);
    for (int p = 0; p < 2; ++p) {
      share[p] = double(where[p].size()) / double(prefill_ids().size());
      keys[p].resize(kStream);
      for (u64& k : keys[p]) k = where[p][rng() % where[p].size()];
    }
  }
  const std::vector<u64>& ks = keys[on_list];
  M* m = nullptr;
  u64 i = 0;
  for (auto _ : state) {
    if (m == nullptr) m = mb::harness::FreshMap<M>::get();
    u64 k = ks[i], v = 0;
    if (!m->find(k, &v) || !mb::harness::value_ok(k, v)) std::abort();
    i = (i + 1) & (kStream - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["share"] = share[on_list];
}

// thread_safe = false (absl): 1 thread only, it has no synchronization.
template <class M>
void register_map(bool thread_safe) {
  for (bool zipf : {false, true}) {
    std::string name = std::string("mix95/") + M::name() + (zipf ? "/zipf" : "/uniform");
    auto* b = benchmark::RegisterBenchmark(name.c_str(), [zipf](benchmark::State& st) { mix<M>(st, zipf, 95); });
    b->Threads(1)->UseRealTime();
    if (thread_safe) b->Threads(2);
  }
  std::string name = std::string("find100/") + M::name() + "/uniform";
  benchmark::RegisterBenchmark(name.c_str(), [](benchmark::State& st) { mix<M>(st, false, 100); })
      ->Threads(1)->UseRealTime();
  for (bool present : {true, false}) {
    name = std::string("find100/") + M::name() + (present ? "/present" : "/absent");
    benchmark::RegisterBenchmark(name.c_str(), [present](benchmark::State& st) { find_split<M>(st, present); })
        ->Threads(1)->UseRealTime();
  }
  if constexpr (std::is_same_v<M, Chain<false>> || std::is_same_v<M, Chain<true>>) {
    for (bool on_list : {false, true}) {
      name = std::string("find100/") + M::name() + (on_list ? "/present_list" : "/present_inline");
      benchmark::RegisterBenchmark(name.c_str(), [on_list](benchmark::State& st) { find_where<M>(st, on_list); })
          ->Threads(1)->UseRealTime();
    }
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
