// The shared driver of every Relacy model binary: runs a table of models and
// implements the command line the BUILD targets use.
//
//   MODEL [--only=NAME] [--expect-failure=NAME]
//
// Without --expect-failure it exits 0 when every model passes. With it, only
// model NAME runs, and the exit is 0 only when that model FAILS: this is how
// the planted-bug targets prove a model is not vacuous.
#ifndef MAPBENCH_MODELS_MODEL_MAIN_H_
#define MAPBENCH_MODELS_MODEL_MAIN_H_

#include "core/sync.h"  // Relacy, with the standard headers first

#ifndef MB_PLANT_BUG
#define MB_PLANT_BUG 0
#endif

namespace mb::models {

struct Model {
  const char* name;
  bool (*run)(rl::test_params&);
  rl::scheduler_type_e sched;
  rl::iteration_t iterations;  // random search only
  unsigned context_bound = 0;  // context-bound search only: preemptions per schedule (0: Relacy's 1)
  unsigned depth_limit = 0;    // steps one execution may take before Relacy calls it a livelock (0: its 2000)
};

template <class T>
bool run(rl::test_params& p) { return rl::simulate<T>(p); }

template <std::size_t N>
int model_main(int argc, char** argv, const Model (&models)[N]) {
  std::string expect_failure, only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--expect-failure=", 0) == 0) expect_failure = a.substr(17);
    else if (a.rfind("--only=", 0) == 0) only = a.substr(7);
    else {
      std::fprintf(stderr, "usage: %s [--expect-failure=NAME] [--only=NAME]\n", argv[0]);
      return 2;
    }
  }
  std::printf("planted bug: MB_PLANT_BUG=%d\n", MB_PLANT_BUG);
  int failed = 0;
  bool expected_seen = false;
  for (const Model& m : models) {
    if (!only.empty() && only != m.name) continue;
    if (!expect_failure.empty() && expect_failure != m.name) continue;
    rl::test_params p;
    p.search_type = m.sched;
    if (m.iterations) p.iteration_count = m.iterations;
    if (m.context_bound) p.context_bound = m.context_bound;
    if (m.depth_limit) p.execution_depth_limit = m.depth_limit;
    p.output_history = false;
    // A failed iteration leaves its test object undestroyed (Relacy jumps
    // out of it), so a model futex it installed would outlive it: no
    // model starts with one.
    mb::sync::ModelFutex::current() = nullptr;
    bool ok = m.run(p);
    std::printf("model %-17s %s  (%s, %llu iterations)\n", m.name, ok ? "PASSED" : "FAILED",
                rl::format(m.sched), static_cast<unsigned long long>(p.stop_iteration));
    std::fflush(stdout);
    if (!ok) ++failed;
    if (m.name == expect_failure) expected_seen = !ok;
  }
  if (!expect_failure.empty()) {
    std::printf(expected_seen ? "planted bug detected: model %s failed as it must\n"
                              : "planted bug NOT detected: model %s passed\n",
                expect_failure.c_str());
    return expected_seen ? 0 : 1;
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace mb::models

#endif  // MAPBENCH_MODELS_MODEL_MAIN_H_
