#include "harness/runner.h"

#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <sstream>
#include <thread>

#include "harness/adapters.h"
#include "harness/histogram.h"

namespace mb::harness {

namespace {

u64 now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return u64(ts.tv_sec) * 1000000000 + u64(ts.tv_nsec);
}

// Start barrier and stop flag; lives in shared memory when workers are
// processes (lock-free atomics work across processes).
struct Control {
  std::atomic<unsigned> ready{0};
  std::atomic<u64> go_ns{0};      // 0 until every worker is ready; then the start time
  // Duration mode: the driver sets 1 to end the measured phase and 2 to end
  // the latency phase after it.
  std::atomic<unsigned> stop{0};
  // Workers past their measured phase: in ops mode, none starts its latency
  // phase (clock reads, and load on the map) until every one has finished
  // measuring.
  std::atomic<unsigned> measured{0};
};
static_assert(std::atomic<u64>::is_always_lock_free);

// One worker's results (also in shared memory for processes).
struct WorkerResult {
  u64 ops = 0, failed = 0, bad_reads = 0, scanned = 0;
  u64 inserted = 0, created = 0, erased = 0;  // size accounting, warm-up and latency phase included
  u64 t_start = 0, t_end = 0;                 // measured phase, CLOCK_MONOTONIC ns
  u64 passes = 0;  // passes over the stream begun by the measured phase's end (1: it never wrapped)
  bool gave_up_waiting = false;  // began its latency phase before every worker had finished measuring
  bool done = false;
  Histogram hist;
};

struct Params {
  double warmup, duration;
  u64 ops;
  unsigned latency_every;
  double latency_share;  // the latency phase's length, a share of the measured one's
  u64 latency_ops;       // ops mode: the latency phase's operations per worker
  bool pin;
  unsigned plant_fault;
  u64 fault_key = 0;  // plant_fault 4: the damaged key, put right after the warm-up
  unsigned workers = 0;  // in the repetition (the latency phase's barrier)
};

template <class A>
concept Scans = requires(A a, u64 k) { a.scan(k, 1u); };
template <class A>
concept Measured = requires(A a) { a.bytes_used(); };
template <class A>
concept HasBytes = requires { typename A::BytesVersion; };
template <class A>
concept Rejoins = requires(A a) { a.rejoin(); };

void pin_to(unsigned i) {
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(i % cores, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

template <class A>
inline void one_op(A& m, Op op, u64 k, u64* seq, WorkerResult& r) {
  u64 v = 0;
  switch (op) {
    case Op::find: {
      R x = m.find(k, &v);
      if (x == R::yes && !value_ok(k, v)) ++r.bad_reads;
      r.failed += x == R::fail;
      break;
    }
    case Op::insert: {
      R x = m.insert(k, value_of(k, ++*seq));
      r.inserted += x == R::yes, r.failed += x == R::fail;
      break;
    }
    case Op::assign: {
      R x = m.assign(k, value_of(k, ++*seq));
      r.created += x == R::yes, r.failed += x == R::fail;
      break;
    }
    case Op::erase: {
      R x = m.erase(k);
      r.erased += x == R::yes, r.failed += x == R::fail;
      break;
    }
    case Op::update: {
      r.failed += m.update(k, value_of(k, ++*seq)) == R::fail;
      break;
    }
    case Op::rmw: {
      R x = m.find(k, &v);
      if (x == R::yes) {
        if (!value_ok(k, v)) ++r.bad_reads;
        x = m.update(k, value_of(k, (v & 0xffffffff) + 1));
      }
      r.failed += x == R::fail;
      break;
    }
    case Op::scan: {
      if constexpr (Scans<A>) {
        u64 n = m.scan(k, 10);
        if (n == ~u64{0}) ++r.failed;
        else r.scanned += n;
      }
      break;
    }
  }
}

// A worker: barrier, warm-up, measured phase. Runs in a thread or a child.
template <class A>
void worker(A& m, const Stream& s, Control& c, WorkerResult& r, const Params& p, unsigned idx) {
  A::thread_enter();
  if (p.pin) pin_to(idx);
  c.ready.fetch_add(1, std::memory_order_acq_rel);
  u64 go = 0;
  while ((go = c.go_ns.load(std::memory_order_acquire)) == 0) sched_yield();
  const u64 n = s.keys.size(), warm_end = go + u64(p.warmup * 1e9);
  u64 i = 0, seq = u64(idx) << 24, pass = 0;
  // The next op; a wrap starts another pass (new-key inserts get new keys).
  auto next = [&] {
    if (++i == n) i = 0, ++pass;
  };
  WorkerResult warm;  // warm-up counters: the size accounting and the checks are kept
  while (now_ns() < warm_end) {
    for (int j = 0; j < 64; ++j, next()) one_op(m, s.ops[i], s.key_at(i, pass), &seq, warm);
  }
  r.inserted = warm.inserted, r.created = warm.created, r.erased = warm.erased;
  // A read that fails its check in the warm-up fails the repetition too.
  r.failed = warm.failed, r.bad_reads = warm.bad_reads;
  if (p.plant_fault == 4 && idx == 0) m.assign(p.fault_key, value_of(p.fault_key, 0));  // tests: warm-up only
  r.t_start = now_ns();
  for (u64 done = 0;; ++done, next()) {
    if (p.ops != 0 ? done == p.ops : (done & 255) == 0 && c.stop.load(std::memory_order_relaxed) != 0) {
      r.ops = done;
      break;
    }
    one_op(m, s.ops[i], s.key_at(i, pass), &seq, r);
  }
  r.t_end = now_ns();
  // What the measured phase saw (the latency phase adds to the counters).
  const u64 scanned = r.scanned, passes = pass + 1;
  // The latency phase: the measured phase takes no clock reads (two of them
  // per sample cost 5-9 ns here, 5-15% of the fastest maps' throughput), so
  // samples are taken after it, on the same stream and the same map, once
  // every worker has finished measuring, or after 10 s (a worker process
  // that died mid-phase must not hold the others for ever: the repetition
  // fails then anyway; a live one that is that far behind, with --ops, is
  // measured beside this worker's sampling, and the run records it as
  // latency_waits_given_up). Its operations count for the checks, not for
  // the throughput.
  c.measured.fetch_add(1, std::memory_order_acq_rel);
  if (const unsigned every = p.latency_every; every != 0) {
    const u64 give_up = r.t_end + u64{10'000'000'000};
    while (c.measured.load(std::memory_order_acquire) < p.workers && c.stop.load(std::memory_order_relaxed) < 2) {
      if (now_ns() >= give_up) {
        r.gave_up_waiting = true;
        break;
      }
      sched_yield();
    }
    unsigned until_sample = every;
    for (u64 done = 0;; ++done, next()) {
      if (p.ops != 0 ? done == p.latency_ops
                     : (done & 255) == 0 && c.stop.load(std::memory_order_relaxed) >= 2)
        break;
      if (--until_sample == 0) {
        until_sample = every;
        u64 t0 = now_ns();
        one_op(m, s.ops[i], s.key_at(i, pass), &seq, r);
        r.hist.record(now_ns() - t0);
      } else {
        one_op(m, s.ops[i], s.key_at(i, pass), &seq, r);
      }
    }
  }
  r.scanned = scanned, r.passes = passes;
  r.done = true;
  A::thread_exit();
}

u64 heap_bytes() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

u64 rss_bytes() {
  std::ifstream f("/proc/self/statm");
  u64 size = 0, resident = 0;
  f >> size >> resident;
  return resident * u64(sysconf(_SC_PAGESIZE));
}

struct Rep {
  bool correct = true;
  std::string problem;
  double mops = 0, seconds = 0;
  u64 ops = 0, failed = 0, bad_reads = 0, again = 0, size = 0, expected = 0, scanned = 0;
  u64 stream_passes = 0;  // the most passes a worker began over its stream (warm-up and measured phase)
  u64 latency_waits_given_up = 0;  // workers that sampled while another still measured
  std::vector<u64> per_worker;
  double bytes_per_key = 0;
  std::string bytes_method;
  u64 prefill_ns = 0;
};

// Until n workers wait at the start barrier. Worker processes (pids) are
// watched meanwhile: one that exits before it gets there (a failed rejoin,
// a crash) ends the wait with false, its wait status in *dead (the caller
// reports it instead of hanging).
bool wait_for_ready(Control& c, unsigned n, const std::vector<pid_t>* pids = nullptr,
                    std::vector<int>* dead = nullptr) {
  while (c.ready.load(std::memory_order_acquire) < n) {
    for (std::size_t i = 0; pids != nullptr && i < pids->size(); ++i) {
      int st = 0;
      if ((*dead)[i] == -1 && waitpid((*pids)[i], &st, WNOHANG) == (*pids)[i]) {
        (*dead)[i] = st;
        return false;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return true;
}

// Sleeps through the warm-up, the measured phase and the latency phase
// (duration mode).
void drive(Control& c, const Params& p) {
  c.go_ns.store(now_ns(), std::memory_order_release);
  if (p.ops == 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(p.warmup + p.duration));
    c.stop.store(1, std::memory_order_relaxed);
    if (p.latency_every != 0) std::this_thread::sleep_for(std::chrono::duration<double>(p.duration * p.latency_share));
    c.stop.store(2, std::memory_order_relaxed);
  }
}


template <class A>
void finish_rep(A& m, u64 prefill_n, const WorkerResult* res, unsigned workers, Histogram* hist, Rep* rep) {
  u64 t0 = ~u64{0}, t1 = 0, inserted = 0, created = 0, erased = 0;
  for (unsigned w = 0; w < workers; ++w) {
    const WorkerResult& r = res[w];
    if (!r.done) {
      rep->correct = false;
      rep->problem = "worker " + std::to_string(w) + " did not finish";
      continue;
    }
    rep->ops += r.ops, rep->failed += r.failed, rep->bad_reads += r.bad_reads, rep->scanned += r.scanned;
    inserted += r.inserted, created += r.created, erased += r.erased;
    t0 = std::min(t0, r.t_start), t1 = std::max(t1, r.t_end);
    rep->per_worker.push_back(r.ops);
    rep->stream_passes = std::max(rep->stream_passes, r.passes);
    rep->latency_waits_given_up += r.gave_up_waiting;
    hist->merge(r.hist);
  }
  rep->seconds = t1 > t0 ? double(t1 - t0) / 1e9 : 0;
  rep->mops = rep->seconds > 0 ? double(rep->ops) / rep->seconds / 1e6 : 0;
  rep->size = m.size();
  rep->expected = prefill_n + inserted + created - erased;
  rep->again = m.again();
  std::string why;
  if (rep->bad_reads != 0) {
    rep->correct = false;
    rep->problem = std::to_string(rep->bad_reads) + " finds returned a value that does not encode its key";
  } else if (rep->size != rep->expected) {
    rep->correct = false;
    rep->problem = "size " + std::to_string(rep->size) + " != expected " + std::to_string(rep->expected);
  } else if (!m.verify(&why)) {
    rep->correct = false;
    rep->problem = "verify: " + why;
  }
}

template <class A>
std::unique_ptr<A> build(const WorkloadSpec& w, const std::vector<u64>& prefill, unsigned fault, Rep* rep) {
  // Free memory back to the system first, so that the resident set's growth
  // below is this map's (an earlier map's freed pages would hide it). An
  // allocator with pools of its own (tbb's scalable allocator) can still
  // reuse what an earlier map freed: make_plots.py takes each map's
  // largest figure for that reason.
  malloc_trim(0);
  u64 heap0 = heap_bytes(), rss0 = rss_bytes(), t0 = now_ns();
  A::thread_enter();
  auto m = std::make_unique<A>(w.key_space);
  for (u64 id : prefill) {
    u64 k = key_of(id);
    if (m->insert(k, value_of(k, 0)) != R::yes) {
      rep->correct = false;
      rep->problem = "prefill insert failed";
      break;
    }
  }
  if (fault != 0 && prefill.size() >= 2) {  // RunConfig::plant_fault
    u64 k = key_of(prefill[0]);
    if (fault == 1 || fault == 4) m->assign(k, value_of(key_of(prefill[1]), 0));
    if (fault == 2) m->erase(k);
  }
  A::thread_exit();
  rep->prefill_ns = now_ns() - t0;
  double keys = double(std::max<u64>(1, prefill.size()));
  if constexpr (Measured<A>) {
    rep->bytes_per_key = double(m->bytes_used()) / keys;
    rep->bytes_method = "allocator footprint of live objects";
  } else {
    u64 heap = heap_bytes() - std::min(heap0, heap_bytes()), rss = rss_bytes() - std::min(rss0, rss_bytes());
    rep->bytes_per_key = double(std::max(heap, rss)) / keys;
    rep->bytes_method = heap >= rss ? "malloc in-use growth (mallinfo2)" : "resident set growth";
  }
  return m;
}

template <class A>
Rep rep_threads(const WorkloadSpec& w, const std::vector<u64>& prefill, const std::vector<Stream>& streams,
                const Params& p, Histogram* hist) {
  Rep rep;
  auto m = build<A>(w, prefill, p.plant_fault, &rep);
  unsigned n = unsigned(streams.size());
  Control c;
  std::vector<WorkerResult> res(n);
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < n; ++t) ts.emplace_back([&, t] { worker(*m, streams[t], c, res[t], p, t); });
  wait_for_ready(c, n);
  drive(c, p);
  for (auto& t : ts) t.join();
  finish_rep(*m, prefill.size(), res.data(), n, hist, &rep);
  return rep;
}

// A re-joined region is a fresh mapping: the child's first touch of each of
// its pages is a page fault, which in this project's VM costs enough that a
// 2-process rwlock cell (a 256 MiB table) ran at half its 2-thread rate in
// 0.4-s repetitions and at 0.93 of it in 3-s ones. Finding every prefilled
// key once, before the start barrier, populates the child's page tables
// outside the warm-up and the measured phase, so processes are measured in
// the same steady state as threads.
template <class A>
void touch_region(A& m, const std::vector<u64>& keys) {
  u64 v = 0;
  for (u64 k : keys) (void)m.find(k, &v);
}

// Workers as fork'ed processes over the map's shared region: each child
// re-joins the region (as an unrelated process would, by offset), touches
// it (touch_region) and runs one worker; results come back through a
// shared anonymous mapping.
template <class A>
Rep rep_procs(const WorkloadSpec& w, const std::vector<u64>& prefill, const std::vector<Stream>& streams,
              const Params& p, Histogram* hist) {
  Rep rep;
  auto m = build<A>(w, prefill, p.plant_fault, &rep);
  unsigned n = unsigned(streams.size());
  std::size_t bytes = sizeof(Control) + n * sizeof(WorkerResult);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    rep.correct = false, rep.problem = "mmap of the result area failed";
    return rep;
  }
  auto* c = new (mem) Control;
  auto* res = reinterpret_cast<WorkerResult*>(static_cast<char*>(mem) + sizeof(Control));
  for (unsigned i = 0; i < n; ++i) new (&res[i]) WorkerResult;
  std::vector<pid_t> pids;
  std::fflush(nullptr);
  for (unsigned i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      if (p.plant_fault == 3 && i == n - 1) _exit(7);  // tests: a worker dies before the barrier
      if constexpr (Rejoins<A>) m->rejoin();
      touch_region(*m, prefill);
      worker(*m, streams[i], *c, res[i], p, i);
      _exit(0);
    }
    if (pid < 0) break;
    pids.push_back(pid);
  }
  std::vector<int> reaped(pids.size(), -1);  // wait statuses of children already reaped
  bool started = false;
  if (pids.size() != n) {
    rep.correct = false, rep.problem = "fork failed";
  } else if (wait_for_ready(*c, n, &pids, &reaped)) {
    drive(*c, p);
    started = true;
  }
  if (!started)
    for (unsigned i = 0; i < pids.size(); ++i)
      if (reaped[i] == -1) kill(pids[i], SIGKILL);  // the others wait at the barrier
  for (unsigned i = 0; i < pids.size(); ++i) {
    int st = reaped[i];
    if (st == -1) waitpid(pids[i], &st, 0);
    if (!started && reaped[i] == -1) continue;  // killed by us: the dead one is the news
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      rep.correct = false;
      rep.problem = "worker process " + std::to_string(i) +
                    (WIFSIGNALED(st) ? " killed by signal " + std::to_string(WTERMSIG(st)) : " exited non-zero");
    }
  }
  if (started) finish_rep(*m, prefill.size(), res, n, hist, &rep);
  else if (rep.problem.empty()) rep.correct = false, rep.problem = "a worker process exited before the start";
  munmap(mem, bytes);
  return rep;
}

Json summary(const std::vector<double>& xs) {
  Json j = Json::object();
  auto [lo, hi] = ci95(xs);
  double mean = 0;
  for (double x : xs) mean += x;
  mean /= double(std::max<std::size_t>(1, xs.size()));
  j.set("median", median(xs));
  j.set("mean", mean);
  Json ci = Json::array();
  ci.push(lo), ci.push(hi);
  j.set("ci95", ci);
  j.set("min", *std::min_element(xs.begin(), xs.end()));
  j.set("max", *std::max_element(xs.begin(), xs.end()));
  return j;
}

Json latency_json(const Histogram& h, unsigned every) {
  Json j = Json::object();
  j.set("sample_every", every);
  j.set("samples", h.count());
  j.set("p50", h.value_at(0.50));
  j.set("p90", h.value_at(0.90));
  j.set("p99", h.value_at(0.99));
  j.set("p999", h.value_at(0.999));
  j.set("max", h.max());
  j.set("mean", h.mean());
  // The CDF at every non-empty bucket's upper bound: [ns, fraction <= ns].
  Json cdf = Json::array();
  u64 seen = 0;
  for (auto [ns, cnt] : h.nonzero()) {
    seen += cnt;
    Json pt = Json::array();
    pt.push(ns), pt.push(double(seen) / double(h.count()));
    cdf.push(pt);
  }
  j.set("cdf", cdf);
  return j;
}

struct Cell {
  const MapInfo* map;
  const WorkloadSpec* w;
  unsigned workers;
  bool procs;
};

template <class A>
Json run_cell(const Cell& cell, const RunConfig& cfg, const std::vector<u64>& prefill,
              const std::vector<Stream>& streams, const std::function<void(const std::string&)>& progress,
              const std::string& label, bool* correct) {
  u64 latency_ops = u64(std::ceil(double(cfg.ops) * cfg.latency_share));
  Params p{cfg.warmup, cfg.duration, cfg.ops, cfg.latency_every, cfg.latency_share, latency_ops, cfg.pin,
           cfg.plant_fault};
  if (!prefill.empty()) p.fault_key = key_of(prefill[0]);
  p.workers = unsigned(streams.size());
  Histogram hist;
  std::vector<double> mops;
  Json reps = Json::array();
  bool ok = true;
  double bytes_per_key = 0;
  std::string bytes_method;
  for (unsigned r = 0; r < cfg.reps; ++r) {
    Rep rep;
    if constexpr (A::kRegion) {
      rep = cell.procs ? rep_procs<A>(*cell.w, prefill, streams, p, &hist)
                       : rep_threads<A>(*cell.w, prefill, streams, p, &hist);
    } else {
      rep = rep_threads<A>(*cell.w, prefill, streams, p, &hist);
    }
    ok = ok && rep.correct;
    mops.push_back(rep.mops);
    if (r == 0) bytes_per_key = rep.bytes_per_key, bytes_method = rep.bytes_method;
    Json j = Json::object();
    j.set("mops", rep.mops);
    j.set("seconds", rep.seconds);
    j.set("ops", rep.ops);
    j.set("per_worker_ops", Json::array_of(rep.per_worker));
    j.set("failed_ops", rep.failed);
    j.set("again", rep.again);
    j.set("bad_reads", rep.bad_reads);
    j.set("final_size", rep.size);
    j.set("stream_passes", rep.stream_passes);
    if (rep.latency_waits_given_up != 0) j.set("latency_waits_given_up", rep.latency_waits_given_up);
    j.set("expected_size", rep.expected);
    if (cell.w->mix[int(Op::scan)] != 0) j.set("scanned", rep.scanned);
    j.set("prefill_seconds", double(rep.prefill_ns) / 1e9);
    j.set("correct", rep.correct);
    if (!rep.correct) j.set("problem", rep.problem);
    reps.push(j);
    char line[256];
    std::snprintf(line, sizeof line, "%s rep %u/%u: %.2f Mops/s%s%s", label.c_str(), r + 1, cfg.reps, rep.mops,
                  rep.correct ? "" : "  INCORRECT: ", rep.correct ? "" : rep.problem.c_str());
    progress(line);
  }
  *correct = *correct && ok;
  Json j = Json::object();
  j.set("mops", summary(mops));
  j.set("latency_ns", latency_json(hist, cfg.latency_every));
  // null when nothing measurable grew (a peer reusing memory freed earlier)
  j.set("bytes_per_key", bytes_per_key > 0 ? Json(bytes_per_key) : Json());
  j.set("bytes_method", bytes_method);
  j.set("correct", ok);
  j.set("reps", reps);
  return j;
}

Json dispatch(const Cell& cell, const RunConfig& cfg, const std::vector<u64>& prefill,
              const std::vector<Stream>& streams, const std::function<void(const std::string&)>& progress,
              const std::string& label, bool* correct) {
  Json out;
  bool bytes = cell.w->key_size != 8 || cell.w->value_size != 8;
  StrCodec::key_size = cell.w->key_size, StrCodec::value_size = cell.w->value_size;
  for_each_adapter([&]<class A>() {
    if (cell.map->name != std::string(A::kName)) return;
    if (!bytes) {
      out = run_cell<A>(cell, cfg, prefill, streams, progress, label, correct);
    } else if constexpr (HasBytes<A>) {
      out = run_cell<typename A::BytesVersion>(cell, cfg, prefill, streams, progress, label, correct);
    }
  });
  return out;
}

Json workload_json(const WorkloadSpec& w) {
  Json j = Json::object();
  j.set("name", w.name);
  j.set("mix", mix_string(w.mix));
  j.set("dist", dist_string(w));
  j.set("key_space", w.key_space);
  j.set("prefill", w.prefill);
  j.set("new_keys", w.new_keys);
  j.set("key_size", w.key_size);
  j.set("value_size", w.value_size);
  return j;
}

std::string read_first(const char* path, const std::string& prefix) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(prefix, 0) == 0) {
      auto colon = line.find(':');
      std::string v = colon == std::string::npos ? line : line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return "";
}

}  // namespace

const std::vector<MapInfo>& map_list() {
  static const std::vector<MapInfo> list = [] {
    std::vector<MapInfo> v;
    for_each_adapter([&]<class A>() { v.push_back({A::kName, A::kWhat, A::kThreadSafe, A::kRegion, Scans<A>, HasBytes<A>}); });
    return v;
  }();
  return list;
}

const MapInfo* map_info(const std::string& name) {
  for (const MapInfo& m : map_list())
    if (name == m.name) return &m;
  return nullptr;
}

double median(std::vector<double> xs) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  std::size_t n = xs.size();
  return n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

std::pair<double, double> ci95(const std::vector<double>& xs) {
  std::size_t n = xs.size();
  if (n == 0) return {0, 0};
  double mean = 0, var = 0;
  for (double x : xs) mean += x;
  mean /= double(n);
  if (n == 1) return {mean, mean};
  for (double x : xs) var += (x - mean) * (x - mean);
  var /= double(n - 1);
  // Student's t, 97.5th percentile, for n-1 = 1..30 degrees of freedom.
  static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                             2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                             2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  double tv = n - 1 <= 30 ? t[n - 2] : 1.96, half = tv * std::sqrt(var / double(n));
  return {mean - half, mean + half};
}

Json machine_info() {
  Json j = Json::object();
  j.set("cpu_model", read_first("/proc/cpuinfo", "model name"));
  j.set("cores", std::thread::hardware_concurrency());
  utsname u{};
  uname(&u);
  j.set("kernel", std::string(u.sysname) + " " + u.release + " " + u.machine);
  j.set("hostname", std::string(u.nodename));
  j.set("memory", read_first("/proc/meminfo", "MemTotal"));
  return j;
}

Json build_info() {
  Json j = Json::object();
#if defined(__clang__)
  j.set("compiler", "clang " __VERSION__);
#else
  j.set("compiler", "g++ " __VERSION__);
#endif
#ifdef __OPTIMIZE__
  j.set("optimized", true);
#else
  j.set("optimized", false);
#endif
#ifdef NDEBUG
  j.set("ndebug", true);
#else
  j.set("ndebug", false);
#endif
#if defined(MB_SANITIZER) && MB_SANITIZER
  j.set("sanitizer", true);
#else
  j.set("sanitizer", false);
#endif
  j.set("cplusplus", long(__cplusplus));
  j.set("flags", "bazel -c opt, -std=c++20 (flags in .bazelrc)");
  return j;
}

Json run(const RunConfig& cfg, const std::function<void(const std::string&)>& progress, bool* all_correct) {
  *all_correct = true;
  Json doc = Json::object();
  doc.set("schema", "mapbench.run/1");
  char when[64];
  time_t t = time(nullptr);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  doc.set("created", std::string(when));
  doc.set("command", cfg.command);
  Json conf = Json::object();
  conf.set("maps", Json::array_of(cfg.maps));
  Json ws = Json::array();
  for (const WorkloadSpec& w : cfg.workloads) ws.push(workload_json(w));
  conf.set("workloads", ws);
  conf.set("threads", Json::array_of(cfg.threads));
  conf.set("procs", Json::array_of(cfg.procs));
  conf.set("duration_s", cfg.ops ? Json() : Json(cfg.duration));
  conf.set("ops_per_worker", cfg.ops ? Json(cfg.ops) : Json());
  conf.set("warmup_s", cfg.warmup);
  conf.set("reps", cfg.reps);
  conf.set("pin", cfg.pin);
  conf.set("seed", cfg.seed);
  conf.set("latency_sample_every", cfg.latency_every);
  conf.set("latency_share", cfg.latency_share);
  conf.set("stream_len", cfg.stream_len);
  conf.set("commit", cfg.commit);
  doc.set("config", conf);
  doc.set("machine", machine_info());
  doc.set("build", build_info());

  // The grid; count the runnable cells first for the progress lines.
  std::vector<Cell> cells;
  Json results = Json::array();
  for (const WorkloadSpec& w : cfg.workloads)
    for (const std::string& name : cfg.maps) {
      const MapInfo* mi = map_info(name);
      auto skip = [&](unsigned n, bool procs, const std::string& why) {
        Json j = Json::object();
        j.set("map", name), j.set("workload", w.name), j.set("mode", procs ? "procs" : "threads");
        j.set("workers", n), j.set("skipped", why);
        results.push(j);
      };
      bool bytes = w.key_size != 8 || w.value_size != 8;
      for (unsigned n : cfg.threads) {
        if (bytes && !mi->bytes) skip(n, false, "u64 keys and values only");
        else if (!mi->thread_safe && n > 1) skip(n, false, "not thread-safe: 1 thread only");
        else if (w.mix[int(Op::scan)] != 0 && !mi->scan) skip(n, false, "no iteration (YCSB E needs a scan)");
        else cells.push_back({mi, &w, n, false});
      }
      for (unsigned n : cfg.procs) {
        if (bytes && !mi->bytes) skip(n, true, "u64 keys and values only");
        else if (!mi->region) skip(n, true, "does not live in a shared region: threads only");
        else if (w.mix[int(Op::scan)] != 0 && !mi->scan) skip(n, true, "no iteration (YCSB E needs a scan)");
        else cells.push_back({mi, &w, n, true});
      }
    }

  // Streams are built once per (workload, worker count), outside any timing,
  // and shared by every map: each map replays exactly the same operations.
  const WorkloadSpec* cur_w = nullptr;
  std::vector<u64> prefill;
  std::vector<std::vector<Stream>> streams_by_n(1);
  unsigned idx = 0;
  for (const Cell& cell : cells) {
    ++idx;
    if (cell.w != cur_w) {
      cur_w = cell.w;
      prefill = prefill_ids(*cur_w, cfg.seed);
      streams_by_n.assign(1, {});
    }
    if (streams_by_n.size() <= cell.workers) streams_by_n.resize(cell.workers + 1);
    auto& streams = streams_by_n[cell.workers];
    if (streams.empty()) {
      u64 len = cfg.ops ? std::min<u64>(cfg.ops, u64{1} << 26) : cfg.stream_len;
      for (unsigned t = 0; t < cell.workers; ++t)
        streams.push_back(make_stream(*cur_w, cfg.seed, t, cell.workers, len, prefill));
    }
    std::string label = "[" + std::to_string(idx) + "/" + std::to_string(cells.size()) + "] " + cell.map->name + " " +
                        cell.w->name + " " + std::to_string(cell.workers) + (cell.procs ? "p" : "t");
    Json j = Json::object();
    j.set("map", cell.map->name);
    j.set("workload", cell.w->name);
    j.set("mode", cell.procs ? "procs" : "threads");
    j.set("workers", cell.workers);
    Json body = dispatch(cell, cfg, prefill, streams, progress, label, all_correct);
    for (auto& [k, v] : body.items()) j.set(k, v);
    results.push(j);
  }
  doc.set("results", results);
  doc.set("correct", *all_correct);
  return doc;
}

}  // namespace mb::harness
