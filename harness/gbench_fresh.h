// Tests and benchmarks only: a map made anew for every run of a Google
// Benchmark. A benchmark's writes change its map as they run (erases leave
// tombstones, inserts fill the key space and resize it), so a map kept
// across runs would give each benchmark a map shaped by the ones that ran
// before it, in whatever order they ran (a review found the robin-hood and
// chain target benchmarks doing that). Thread 0 makes the map before the
// threads' start barrier (deleting the previous run's); every thread takes
// it with get() inside its timing loop, after the barrier:
//
//   FreshMap<M>::make(state, [] { return prefilled_new_map(); });
//   M* m = nullptr;
//   for (auto _ : state) {
//     if (m == nullptr) m = FreshMap<M>::get();
//     ...
//   }
#ifndef MAPBENCH_HARNESS_GBENCH_FRESH_H_
#define MAPBENCH_HARNESS_GBENCH_FRESH_H_

#include <benchmark/benchmark.h>

namespace mb::harness {

template <class M>
class FreshMap {
 public:
  // make() returns a new M (owned here until the next run's make()).
  template <class Make>
  static M* make(benchmark::State& state, Make make) {
    if (state.thread_index() == 0) {
      delete cur_;
      cur_ = make();
    }
    return state.thread_index() == 0 ? cur_ : nullptr;
  }
  static M* get() { return cur_; }

 private:
  static inline M* cur_ = nullptr;
};

}  // namespace mb::harness

#endif  // MAPBENCH_HARNESS_GBENCH_FRESH_H_
