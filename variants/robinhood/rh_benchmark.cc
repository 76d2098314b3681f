// RhMap against libcuckoo::cuckoohash_map in one binary (the robin-hood
// issue's benchmark; the full comparison grid is harness/'s).
//
//   <mix>/<map>/<dist>  u64 -> u64, 1M keys prefilled from a 2M key space
//                       (harness/workload.h presets): mix95 = 95% find / 5%
//                       insert_or_assign, mix50 = 50% find / 25% insert /
//                       25% erase; keys uniform or Zipfian (theta 0.99);
//                       1 and 2 threads.
// Streams come from harness/workload.h and are generated before timing;
// values encode their keys and every hit is checked (a bad value aborts).
// Every run starts from a new prefilled map (run()). The RhMap rows report
// bytes_per_key: allocator footprint of the table, the blocks and the
// header over the live keys, and load (keys / slots), taken right after the
// prefill (1M keys in 2M slots: 50% load).
#include <benchmark/benchmark.h>

#include <libcuckoo/cuckoohash_map.hh>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "harness/gbench_fresh.h"
#include "harness/workload.h"
#include "variants/robinhood/rh_map.h"

namespace {

using mb::harness::Op;
using u64 = std::uint64_t;
constexpr u64 kStreamLen = 1 << 20;

mb::harness::WorkloadSpec spec_of(const std::string& mix, bool zipf) {
  mb::harness::WorkloadSpec w;
  if (!mb::harness::preset(mix, &w)) std::abort();
  w.dist = zipf ? mb::harness::Dist::zipfian : mb::harness::Dist::uniform;
  return w;
}

// Both presets prefill the same ids of the same space.
const std::vector<u64>& prefill() {
  static const std::vector<u64> ids = mb::harness::prefill_ids(spec_of("mix95", false), 1);
  return ids;
}

const mb::harness::Stream& stream(const std::string& mix, bool zipf, int t, int threads) {
  static std::mutex mu;
  static std::map<std::string, mb::harness::Stream> cache;
  std::lock_guard<std::mutex> g(mu);
  std::string key = mix + (zipf ? "z" : "u") + std::to_string(t) + "/" + std::to_string(threads);
  auto it = cache.find(key);
  if (it == cache.end())
    it = cache.emplace(key, mb::harness::make_stream(spec_of(mix, zipf), 1, unsigned(t), unsigned(threads),
                                                     kStreamLen, prefill())).first;
  return it->second;
}

struct Rh {
  static const char* name() { return "robinhood"; }
  mb::Region region;
  mb::Allocator a;
  mb::RhMap m;
  Rh() {
    u64 off = 0;
    mb::RegionSpec spec{"mapbench.robinhood", 1, u64{8} << 30, 0};
    if (mb::Region::create_anon(spec, {}, &region) != mb::Status::ok ||
        mb::Allocator::create(region, mb::AllocParams(), &a) != mb::Status::ok ||
        mb::RhMap::create(a, 4, 1, &off) != mb::Status::ok || mb::RhMap::join(a, off, &m) != mb::Status::ok)
      std::abort();
  }
  bool find(u64 k, u64* v) { return m.find(k, v) == mb::Status::ok; }
  void assign(u64 k, u64 v) {
    if (m.insert_or_assign(k, v) != mb::Status::ok) std::abort();
  }
  void insert(u64 k, u64 v) {
    mb::Status s = m.insert(k, v);
    if (s != mb::Status::ok && s != mb::Status::exists) std::abort();
  }
  void erase(u64 k) {
    mb::Status s = m.erase(k);
    if (s != mb::Status::ok && s != mb::Status::not_found) std::abort();
  }
  void report(benchmark::State& st) {  // right after the prefill
    mb::AllocStats s;
    if (a.verify(&s) != mb::Status::ok) std::abort();
    st.counters["bytes_per_key"] = double(s.slot_bytes) / double(m.size());
    st.counters["load"] = double(m.size()) / double(m.capacity());
  }
};

struct Cuckoo {
  static const char* name() { return "libcuckoo"; }
  libcuckoo::cuckoohash_map<u64, u64> m;
  bool find(u64 k, u64* v) { return m.find(k, *v); }
  void assign(u64 k, u64 v) { m.insert_or_assign(k, v); }
  void insert(u64 k, u64 v) { m.insert(k, v); }
  void erase(u64 k) { m.erase(k); }
  void report(benchmark::State&) {}
};

// A new map holding the prefill.
template <class M>
M* prefilled() {
  auto* x = new M;
  for (u64 id : prefill()) {
    u64 k = mb::harness::key_of(id);
    x->insert(k, mb::harness::value_of(k, 0));
  }
  return x;
}

// Every run of a benchmark starts from a new prefilled map
// (harness/gbench_fresh.h).
template <class M>
void run(benchmark::State& state, const std::string& mix, bool zipf) {
  if (M* fresh = mb::harness::FreshMap<M>::make(state, [] { return prefilled<M>(); })) fresh->report(state);
  const mb::harness::Stream& s = stream(mix, zipf, state.thread_index(), state.threads());
  M* m = nullptr;
  u64 i = 0, seq = 0;
  for (auto _ : state) {
    if (m == nullptr) m = mb::harness::FreshMap<M>::get();  // after the start barrier
    u64 k = s.keys[i], v = 0;
    switch (s.ops[i]) {
      case Op::find:
        if (m->find(k, &v) && !mb::harness::value_ok(k, v)) std::abort();
        break;
      case Op::assign: m->assign(k, mb::harness::value_of(k, ++seq)); break;
      case Op::insert: m->insert(k, mb::harness::value_of(k, ++seq)); break;
      case Op::erase: m->erase(k); break;
      default: std::abort();
    }
    i = (i + 1) & (kStreamLen - 1);
  }
  state.SetItemsProcessed(state.iterations());
}

template <class M>
void register_map() {
  for (const char* mix : {"mix95", "mix50"})
    for (bool zipf : {false, true}) {
      std::string name = std::string(mix) + "/" + M::name() + (zipf ? "/zipfian" : "/uniform");
      std::string mx = mix;
      benchmark::RegisterBenchmark(name.c_str(), [mx, zipf](benchmark::State& st) { run<M>(st, mx, zipf); })
          ->Threads(1)->Threads(2)->UseRealTime();
    }
}

}  // namespace

int main(int argc, char** argv) {
  register_map<Rh>();
  register_map<Cuckoo>();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
