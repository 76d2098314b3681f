// The map x workload x threads grid as a Google Benchmark suite, over the
// same adapters and generator as `mapbench run` (a second, independent
// measurement method: Google Benchmark picks iteration counts and reports
// its own statistics).
//
//   <workload>/<map>/threads:N   items_per_second = operations per second
//
// Each (map, workload) pair gets one map, prefilled once; each benchmark
// thread replays its own pre-generated stream (workload.h), and every find
// checks that the value encodes its key (a failed check aborts the run).
//
// Usage: gbench_suite [--mb_keys=N] [--mb_workloads=B,mix95] [benchmark flags,
// e.g. --benchmark_format=json --benchmark_filter=chain]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "harness/adapters.h"
#include "harness/workload.h"

namespace mb::harness {
namespace {

u64 g_keys = 0;  // 0: the workload's own key space

struct Streams {
  std::vector<u64> prefill;
  std::map<int, std::vector<Stream>> by_threads;
};

const Stream& stream_for(const WorkloadSpec& w, int thread, int threads) {
  static std::mutex mu;
  static std::map<std::string, Streams> cache;
  std::lock_guard<std::mutex> g(mu);
  Streams& s = cache[w.name];
  if (s.prefill.empty()) s.prefill = prefill_ids(w, 1);
  auto& v = s.by_threads[threads];
  if (v.empty())
    for (int t = 0; t < threads; ++t) v.push_back(make_stream(w, 1, unsigned(t), unsigned(threads), 1 << 20, s.prefill));
  return v[std::size_t(thread)];
}

// A freshly prefilled map for each (workload, thread count): the threads of
// one run share it. Kept across one benchmark's runs (Google Benchmark's
// trial runs to size the iteration count), rebuilt when the thread count or
// workload changes, so no map is measured after another cell's inserts
// grew it (it used to be one map per workload for both thread counts).
// Benchmarks run one after another, so the map being replaced is idle.
template <class A>
A& map_for(const WorkloadSpec& w, int threads) {
  static std::mutex mu;
  static std::unique_ptr<A> m;
  static std::string key;
  std::lock_guard<std::mutex> g(mu);
  const std::string want = w.name + "/" + std::to_string(threads);
  if (!m || key != want) {
    m.reset();
    A::thread_enter();
    m = std::make_unique<A>(w.key_space);
    for (u64 id : prefill_ids(w, 1)) m->insert(key_of(id), value_of(key_of(id), 0));
    A::thread_exit();
    key = want;
  }
  return *m;
}

template <class A>
void run(benchmark::State& state, WorkloadSpec w) {
  A& m = map_for<A>(w, state.threads());
  const Stream& s = stream_for(w, state.thread_index(), state.threads());
  A::thread_enter();
  const u64 n = s.keys.size();
  u64 i = 0, seq = u64(state.thread_index()) << 24, v = 0;
  for (auto _ : state) {
    u64 k = s.keys[i];
    switch (s.ops[i]) {
      case Op::find:
        if (m.find(k, &v) == R::yes && !value_ok(k, v)) {
          std::fprintf(stderr, "gbench_suite: %s returned a value that does not encode its key\n", A::kName);
          std::abort();
        }
        break;
      case Op::insert: m.insert(k, value_of(k, ++seq)); break;
      case Op::assign: m.assign(k, value_of(k, ++seq)); break;
      case Op::erase: m.erase(k); break;
      case Op::update: m.update(k, value_of(k, ++seq)); break;
      case Op::rmw:
        if (m.find(k, &v) == R::yes) m.update(k, value_of(k, v + 1));
        break;
      case Op::scan: break;  // not in the suite's workloads
    }
    i = i + 1 == n ? 0 : i + 1;
  }
  A::thread_exit();
  state.SetItemsProcessed(state.iterations());
}

void register_all(const std::vector<std::string>& workloads) {
  for (const std::string& name : workloads) {
    WorkloadSpec w;
    if (!preset(name, &w) || w.mix[int(Op::scan)] != 0) {
      std::fprintf(stderr, "gbench_suite: workload '%s' is unknown or needs scans\n", name.c_str());
      std::exit(2);
    }
    if (g_keys != 0) w.key_space = g_keys;
    for_each_adapter([&]<class A>() {
      auto* b = benchmark::RegisterBenchmark((name + "/" + A::kName).c_str(), run<A>, w);
      b->UseRealTime();
      if (A::kThreadSafe) b->Threads(1)->Threads(2);
      else b->Threads(1);
    });
  }
}

}  // namespace
}  // namespace mb::harness

int main(int argc, char** argv) {
  std::vector<std::string> workloads{"B", "mix95", "mix50"};
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--mb_keys=", 0) == 0) {
      mb::harness::g_keys = std::strtoull(a.c_str() + 10, nullptr, 10);
    } else if (a.rfind("--mb_workloads=", 0) == 0) {
      workloads.clear();
      std::string cur;
      for (char c : a.substr(15) + ",") {
        if (c == ',') {
          if (!cur.empty()) workloads.push_back(cur);
          cur.clear();
        } else {
          cur += c;
        }
      }
    } else {
      rest.push_back(argv[i]);
    }
  }
  int n = int(rest.size());
  mb::harness::register_all(workloads);
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
