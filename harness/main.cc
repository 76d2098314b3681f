// mapbench: the command-line driver (see `mapbench --help`).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "harness/maps.h"
#include "harness/runner.h"
#include "harness/workload.h"

namespace {

using u64 = std::uint64_t;
using mb::harness::RunConfig;
using mb::harness::WorkloadSpec;

const char kUsage[] = R"(mapbench: concurrent hash maps under YCSB-style workloads, against peers.

usage:
  mapbench list                 maps, workloads and distributions
  mapbench run [options]        run a grid and write one JSON document
  mapbench --help

run options (defaults in brackets):
  --maps=a,b,...        maps to run, or "all" [all]
  --workloads=A,B,...   named workloads (see list) [B]
  --mix=op=N,...        a custom workload instead: ops find insert assign
                        erase update rmw scan; percentages sum to 100
  --dist=D              override the key distribution: uniform,
                        zipfian[:theta], latest[:theta], hotspot[:set:ops]
  --keys=N              key space size (overrides the workload's)
  --prefill=F           fraction of the key space inserted first, 0..1
  --key-size=N          key bytes, 8..255 [8: u64 keys]; other sizes make
                        byte-string keys (maps marked [bytes] in list)
  --value-size=N        value bytes, 8..65536 [8: u64 values]
  --threads=1,2         worker thread counts [1,2]
  --procs=1,2           also run worker *processes* (fork, one shared
                        region) for maps that live in a region [none]
  --duration=S          measured seconds per repetition [1]
  --ops=N               measured operations per worker instead of --duration
  --warmup=S            warm-up seconds before measuring [0.2]
  --reps=N              repetitions per cell (median and 95% CI) [3]
  --pin                 pin worker i to CPU i mod cores
  --seed=N              generator seed, below 2^53 [1]
  --latency-every=N     time one operation in N (0: none) [8], in a latency
                        phase after the measured one (which reads no clock)
  --latency-share=F     the latency phase's length, a share of the measured
                        phase's seconds or operations, 0.01..10 [0.25]
  --out=FILE            write the JSON here [stdout]
  --commit=SHA          record the source revision in the document
  --quiet               no progress lines

Exit status: 0 when every repetition passed its checks, 1 when one did not,
2 for a bad command line.
)";

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "mapbench: %s\n(see mapbench --help)\n", msg.c_str());
  std::exit(2);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') out.push_back(cur), cur.clear();
    else cur += c;
  }
  out.push_back(cur);
  return out;
}

std::uint64_t parse_u64(const std::string& opt, const std::string& v, std::uint64_t lo, std::uint64_t hi) {
  char* end = nullptr;
  errno = 0;
  unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || v[0] == '-' || x < lo || x > hi)
    die(opt + "=" + v + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

double parse_double(const std::string& opt, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !(x >= lo && x <= hi))
    die(opt + "=" + v + ": expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

std::vector<unsigned> parse_counts(const std::string& opt, const std::string& v) {
  std::vector<unsigned> out;
  for (const std::string& x : split(v)) out.push_back(unsigned(parse_u64(opt, x, 1, 1024)));
  return out;
}

int list() {
  std::printf("maps:\n");
  for (const auto& m : mb::harness::map_list())
    std::printf("  %-17s %s%s%s%s%s\n", m.name, m.what, m.thread_safe ? "" : " [1 thread]",
                m.region ? " [region: --procs]" : "", m.scan ? " [scan]" : "", m.bytes ? " [bytes]" : "");
  std::printf("workloads:\n");
  for (const std::string& n : mb::harness::preset_names())
    std::printf("  %-17s %s\n", n.c_str(), mb::harness::preset_description(n).c_str());
  std::printf("distributions:\n  uniform, zipfian[:theta] (0.99, scrambled), latest[:theta], hotspot[:set:ops] (0.2:0.8)\n");
  return 0;
}

int run(int argc, char** argv, const std::string& command) {
  RunConfig cfg;
  cfg.command = command;
  std::string maps = "all", workloads = "B", mix, dist, out;
  long long keys = -1, key_size = -1, value_size = -1;
  double prefill = -1;
  bool quiet = false, have_duration = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i], opt = a, v;
    auto eq = a.find('=');
    if (eq != std::string::npos) opt = a.substr(0, eq), v = a.substr(eq + 1);
    auto need = [&] {
      if (eq == std::string::npos) die(opt + " needs a value (" + opt + "=...)");
    };
    if (opt == "--maps") need(), maps = v;
    else if (opt == "--workloads") need(), workloads = v;
    else if (opt == "--mix") need(), mix = v;
    else if (opt == "--dist") need(), dist = v;
    else if (opt == "--keys") need(), keys = (long long)parse_u64(opt, v, 16, u64{1} << 30);
    else if (opt == "--prefill") need(), prefill = parse_double(opt, v, 0, 1);
    else if (opt == "--key-size") need(), key_size = (long long)parse_u64(opt, v, 8, 255);
    else if (opt == "--value-size") need(), value_size = (long long)parse_u64(opt, v, 8, 65536);
    else if (opt == "--threads") need(), cfg.threads = parse_counts(opt, v);
    else if (opt == "--procs") need(), cfg.procs = parse_counts(opt, v);
    else if (opt == "--duration") need(), cfg.duration = parse_double(opt, v, 0.001, 3600), have_duration = true;
    else if (opt == "--ops") need(), cfg.ops = parse_u64(opt, v, 1, u64{1} << 40);
    else if (opt == "--warmup") need(), cfg.warmup = parse_double(opt, v, 0, 3600);
    else if (opt == "--reps") need(), cfg.reps = unsigned(parse_u64(opt, v, 1, 1000));
    else if (opt == "--seed") need(), cfg.seed = parse_u64(opt, v, 0, (u64{1} << 53) - 1);  // JSON numbers are doubles
    else if (opt == "--latency-every") need(), cfg.latency_every = unsigned(parse_u64(opt, v, 0, 1u << 20));
    else if (opt == "--latency-share") need(), cfg.latency_share = parse_double(opt, v, 0.01, 10);
    else if (opt == "--out") need(), out = v;
    else if (opt == "--commit") need(), cfg.commit = v;
    else if (a == "--pin") cfg.pin = true;
    else if (a == "--quiet") quiet = true;
    else die("unknown option '" + a + "'");
  }
  if (have_duration && cfg.ops != 0) die("--duration and --ops exclude each other");

  if (maps == "all") {
    for (const auto& m : mb::harness::map_list()) cfg.maps.push_back(m.name);
  } else {
    std::set<std::string> seen;
    for (const std::string& m : split(maps)) {
      if (mb::harness::map_info(m) == nullptr) {
        std::string known;
        for (const auto& x : mb::harness::map_list()) known += std::string(" ") + x.name;
        die("unknown map '" + m + "' (maps:" + known + ")");
      }
      if (!seen.insert(m).second) die("map '" + m + "' given twice");
      cfg.maps.push_back(m);
    }
  }

  if (!mix.empty()) {
    WorkloadSpec w;
    w.name = "custom";
    w.dist = mb::harness::Dist::uniform;
    w.prefill = 0.5;
    std::string err = mb::harness::parse_mix(mix, &w.mix);
    if (!err.empty()) die("--mix: " + err);
    cfg.workloads.push_back(w);
  } else {
    for (const std::string& n : split(workloads)) {
      WorkloadSpec w;
      if (!mb::harness::preset(n, &w)) {
        std::string known;
        for (const std::string& x : mb::harness::preset_names()) known += " " + x;
        die("unknown workload '" + n + "' (workloads:" + known + "; or --mix=...)");
      }
      cfg.workloads.push_back(w);
    }
  }
  for (WorkloadSpec& w : cfg.workloads) {
    if (!dist.empty()) {
      std::string err = mb::harness::parse_dist(dist, &w);
      if (!err.empty()) die("--dist: " + err);
    }
    if (keys > 0) w.key_space = u64(keys);
    if (prefill >= 0) w.prefill = prefill;
    if (key_size > 0) w.key_size = unsigned(key_size);
    if (value_size > 0) w.value_size = unsigned(value_size);
  }

  std::ofstream file;
  if (!out.empty()) {
    file.open(out + ".tmp");
    if (!file) die("--out=" + out + ": cannot write " + out + ".tmp");
  }
  bool tty = isatty(2);
  auto progress = [&](const std::string& line) {
    if (quiet) return;
    std::fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", line.c_str());
    std::fflush(stderr);
  };
  bool correct = true;
  mb::harness::Json doc = mb::harness::run(cfg, progress, &correct);
  if (tty && !quiet) std::fprintf(stderr, "\n");
  std::string text = doc.dump();
  if (out.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    file << text;
    file.close();
    if (!file || std::rename((out + ".tmp").c_str(), out.c_str()) != 0) die("--out=" + out + ": write failed");
    if (!quiet) std::fprintf(stderr, "mapbench: wrote %s\n", out.c_str());
  }
  if (!correct) std::fprintf(stderr, "mapbench: some repetitions FAILED their correctness checks (see \"problem\")\n");
  return correct ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string verb = argv[1];
  if (verb == "--help" || verb == "-h" || verb == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (verb == "list") return list();
  if (verb == "run") return run(argc, argv, command);
  die("unknown command '" + verb + "' (list, run)");
}
