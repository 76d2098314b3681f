// The runner: drives maps through workloads and writes one JSON document.
//
// A run is a grid of cells (map x workload x thread count, plus map x
// workload x process count for maps that live in a shared region). A cell is
// `reps` repetitions; each repetition builds a fresh map, prefills it, starts
// every worker at one barrier (creating threads or forking processes is never
// timed), warms up for `warmup` seconds, then measures for `duration`
// seconds (or `ops` operations per worker), and finally checks the map:
//   - every value a find returned encodes its key (workload.h),
//   - size() == prefill + successful inserts + created assigns - erases,
//   - verify() passes,
//   - every forked worker exited cleanly.
// A repetition that fails a check is reported as incorrect (and the run's
// exit status says so); its throughput is still shown.
//
// Latency: after the measured phase, each worker goes on for a latency phase
// (`latency_share` of the measured phase's seconds or operations) in which
// every `latency_every`-th operation is timed with CLOCK_MONOTONIC into its
// own log-linear histogram (histogram.h); the histograms of all workers and
// repetitions of a cell are merged. The measured phase reads no clock, so
// sampling costs the throughput nothing; the latency phase's operations are
// checked like the others but not counted in the throughput.
#ifndef MAPBENCH_HARNESS_RUNNER_H_
#define MAPBENCH_HARNESS_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/json.h"
#include "harness/workload.h"

namespace mb::harness {

struct RunConfig {
  std::vector<std::string> maps;
  std::vector<WorkloadSpec> workloads;
  std::vector<unsigned> threads{1, 2};
  std::vector<unsigned> procs;    // process counts (region maps only)
  double duration = 1.0;          // seconds per repetition, when ops == 0
  std::uint64_t ops = 0;          // operations per worker per repetition
  double warmup = 0.2;            // seconds
  unsigned reps = 3;
  bool pin = false;               // worker i on CPU i % cores
  std::uint64_t seed = 1;
  unsigned latency_every = 8;     // 0: no latency sampling (and no latency phase)
  double latency_share = 0.25;    // the latency phase's length, a share of the measured phase
  std::uint64_t stream_len = std::uint64_t{1} << 20;  // per worker, cycled (duration mode)
  std::string commit;             // recorded as given (e.g. git rev-parse HEAD)
  std::string command;            // the command line, recorded
  // Tests only: damage every map right after its prefill, to prove the checks
  // fire. 1: one key's value is replaced by another key's value (finds of it
  // fail the value check); 2: one key is erased behind the runner's back (the
  // size check fails); 3: the last worker process exits before the start
  // barrier (the repetition fails, the run does not hang); 4: as 1, but the
  // (only) worker puts the value right after the warm-up, so only warm-up
  // reads can see it.
  unsigned plant_fault = 0;
};

// Runs the grid; `progress` gets one line per repetition. Returns the run
// document; *all_correct is false when any repetition failed a check.
Json run(const RunConfig& cfg, const std::function<void(const std::string&)>& progress, bool* all_correct);

// What the document records about this machine and this build.
Json machine_info();
Json build_info();

// Two-sided 95% confidence interval of the mean (Student's t): {lo, hi}.
std::pair<double, double> ci95(const std::vector<double>& xs);
double median(std::vector<double> xs);

}  // namespace mb::harness

#endif  // MAPBENCH_HARNESS_RUNNER_H_
