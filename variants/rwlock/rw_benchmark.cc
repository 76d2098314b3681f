// RwMap against its peers, in one binary, side by side (issue 4's targets).
//
//   Single process, 1 thread (Google Benchmark):
//     get/<map>/<keys>   u64 -> u64, <keys> present (25K or 1M), gets of
//                        present keys in a pre-generated random order
//     put/<map>/<keys>   overwrites of present keys, same order
//     <map>: rw (RwMap in anonymous shared memory) or tbb
//     (tbb::concurrent_hash_map<u64, u64>).
//   Counters, 1 and 2 threads on one map of 25K keys (threads:N):
//     incr/<map>   incr of present keys (rw: the read-lock fast path, one
//                  atomic add; tbb: a write accessor and ++)
//     put/rw_shared  put of present keys on the same map: what an increment
//                  under the write lock costs (the path incr took before).
//     get_while_incr/rw  (2 threads) gets on one thread while the other
//                  increments: gets/s, to set against get/rw/25000.
//   Cross-process (run after the benchmarks; --cross_only skips them,
//   --no_cross skips it):
//     2 forked processes, 25K string keys ("key:%08u", 12 bytes) with
//     16-byte values, phases reads / writes / 50-50 of 1 s each, against
//     LMDB opened with WRITEMAP|NOSYNC|NOMETASYNC|NORDAHEAD (one read
//     transaction, reset and renewed, per get; one write transaction per put).
//     --cross_rounds=N (default 5) rounds per phase, each running both
//     stores back to back. Prints one JSON line with the medians over the
//     rounds of ops/s, of the per-round ratios (with their min and max),
//     and of the slowest process's share of each phase's ops (0.5 = fair).
//     --cross_shards=N (a power of two, default 1): the rwlock side is an
//     RwShards of N shards (one write lock each) in the file instead of one
//     RwMap; the JSON line says which ("rw_shards").
// Key and op streams are generated before timing; every get checks its value.
#include <benchmark/benchmark.h>
#include <lmdb.h>
#include <oneapi/tbb/concurrent_hash_map.h>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "variants/rwlock/rw_map.h"
#include "variants/rwlock/rw_shards.h"
#include "variants/rwlock/rw_store.h"

namespace {

using u64 = std::uint64_t;
constexpr u64 kStream = 1 << 20;

u64 value_of(u64 k) { return k * 3 + 1; }

// The keys present, and a stream of them in random order.
struct Keys {
  std::vector<u64> present, stream;
};
const Keys& keys_for(u64 n) {
  static std::vector<std::pair<u64, Keys>> cache;
  for (auto& [m, k] : cache)
    if (m == n) return k;
  Keys k;
  std::mt19937_64 rng(n);
  for (u64 i = 0; i < n; ++i) k.present.push_back(rng());
  for (u64 i = 0; i < kStream; ++i) k.stream.push_back(k.present[rng() % n]);
  cache.emplace_back(n, std::move(k));
  return cache.back().second;
}

mb::RwStore::Ptr rw_filled(u64 n) {
  mb::RwParams p;
  p.cap_init = std::bit_ceil(2 * n);  // the benchmark measures gets and puts, not growth
  p.cap_max = p.cap_init;
  p.arena_max = 1 << 20;
  mb::RwStore::Ptr st;
  if (mb::RwStore::create_anon(p, &st) != mb::Status::ok) std::abort();
  for (u64 k : keys_for(n).present)
    if (st->map().put(k, value_of(k)) != mb::Status::ok) std::abort();
  return st;
}

using Tbb = tbb::concurrent_hash_map<u64, u64>;
void tbb_fill(Tbb& t, u64 n) {
  for (u64 k : keys_for(n).present) {
    Tbb::accessor a;
    t.insert(a, k);
    a->second = value_of(k);
  }
}

void BM_RwGet(benchmark::State& state) {
  u64 n = u64(state.range(0));
  auto st = rw_filled(n);
  const auto& s = keys_for(n).stream;
  u64 i = 0;
  for (auto _ : state) {
    u64 k = s[i++ & (kStream - 1)], v = 0;
    if (st->map().get(k, &v) != mb::Status::ok || v != value_of(k)) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RwPut(benchmark::State& state) {
  u64 n = u64(state.range(0));
  auto st = rw_filled(n);
  const auto& s = keys_for(n).stream;
  u64 i = 0;
  for (auto _ : state) {
    u64 k = s[i++ & (kStream - 1)];
    if (st->map().put(k, value_of(k)) != mb::Status::ok) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_TbbGet(benchmark::State& state) {
  u64 n = u64(state.range(0));
  Tbb t;
  tbb_fill(t, n);
  const auto& s = keys_for(n).stream;
  u64 i = 0;
  for (auto _ : state) {
    u64 k = s[i++ & (kStream - 1)];
    Tbb::const_accessor a;
    if (!t.find(a, k) || a->second != value_of(k)) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_TbbPut(benchmark::State& state) {
  u64 n = u64(state.range(0));
  Tbb t;
  tbb_fill(t, n);
  const auto& s = keys_for(n).stream;
  u64 i = 0;
  for (auto _ : state) {
    u64 k = s[i++ & (kStream - 1)];
    Tbb::accessor a;
    t.insert(a, k);
    a->second = value_of(k);
  }
  state.SetItemsProcessed(state.iterations());
}

// One map per process for the threaded counter benchmarks (the first
// thread's call creates it; later ones wait for the static's init).
constexpr u64 kCounterKeys = 25000;
mb::RwMap& shared_rw() {
  static mb::RwStore::Ptr st = rw_filled(kCounterKeys);
  return st->map();
}
Tbb& shared_tbb() {
  static Tbb* t = [] {
    auto* p = new Tbb;
    tbb_fill(*p, kCounterKeys);
    return p;
  }();
  return *t;
}

void BM_RwIncr(benchmark::State& state) {
  mb::RwMap& m = shared_rw();
  const auto& s = keys_for(kCounterKeys).stream;
  u64 i = u64(state.thread_index()) * 7919;
  for (auto _ : state) {
    u64 r = 0;
    if (m.incr(s[i++ & (kStream - 1)], &r) != mb::Status::ok) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RwPutShared(benchmark::State& state) {
  mb::RwMap& m = shared_rw();
  const auto& s = keys_for(kCounterKeys).stream;
  u64 i = u64(state.thread_index()) * 7919;
  for (auto _ : state) {
    u64 k = s[i++ & (kStream - 1)];
    if (m.put(k, value_of(k)) != mb::Status::ok) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
}

// Thread 0 gets while thread 1 increments other keys of the same map: what
// the counters' read lock (two atomic operations on the lock word's line,
// which also holds seq) costs the lock-free readers. Counts thread 0's gets.
void BM_RwGetWhileIncr(benchmark::State& state) {
  static mb::RwStore::Ptr st = rw_filled(kCounterKeys);
  mb::RwMap& m = st->map();
  const auto& s = keys_for(kCounterKeys).stream;
  const bool getter = state.thread_index() == 0;
  u64 i = u64(state.thread_index()) * 7919;
  for (auto _ : state) {
    u64 k = s[i++ & (kStream - 1)], r = 0;
    if ((getter ? m.get(k, &r) : m.incr(k, &r)) != mb::Status::ok) std::abort();
  }
  state.SetItemsProcessed(getter ? state.iterations() : 0);
}

void BM_TbbIncr(benchmark::State& state) {
  Tbb& t = shared_tbb();
  const auto& s = keys_for(kCounterKeys).stream;
  u64 i = u64(state.thread_index()) * 7919;
  for (auto _ : state) {
    Tbb::accessor a;
    if (!t.find(a, s[i++ & (kStream - 1)])) std::abort();
    ++a->second;
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_RwGet)->Name("get/rw")->Arg(25000)->Arg(1 << 20);
BENCHMARK(BM_TbbGet)->Name("get/tbb")->Arg(25000)->Arg(1 << 20);
BENCHMARK(BM_RwPut)->Name("put/rw")->Arg(25000)->Arg(1 << 20);
BENCHMARK(BM_TbbPut)->Name("put/tbb")->Arg(25000)->Arg(1 << 20);
BENCHMARK(BM_RwIncr)->Name("incr/rw/25000")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_RwPutShared)->Name("put/rw_shared/25000")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_TbbIncr)->Name("incr/tbb/25000")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_RwGetWhileIncr)->Name("get_while_incr/rw/25000")->Threads(2)->UseRealTime();

// ---- cross-process -----------------------------------------------------------

constexpr unsigned kProcs = 2;
constexpr u64 kStrKeys = 25000;
constexpr double kPhaseSec = 1.0;

// Keys and values are formatted once, before any timing (forked children
// inherit them), into one flat array of 32-byte records (key, then value):
// what the timed loop touches besides the store is one line per operation,
// the same for both stores.
constexpr u64 kKeyLen = 12, kValLen = 16, kRecLen = 32;  // "key:%08u", "val:%012u"
struct Strings {
  std::vector<char> recs;
  Strings() : recs(kStrKeys * kRecLen) {
    char b[32];
    for (u64 i = 0; i < kStrKeys; ++i) {
      std::snprintf(b, sizeof b, "key:%08llu", static_cast<unsigned long long>(i));
      std::memcpy(&recs[i * kRecLen], b, kKeyLen);
      std::snprintf(b, sizeof b, "val:%012llu", static_cast<unsigned long long>(i * 7));
      std::memcpy(&recs[i * kRecLen + kKeyLen], b, kValLen);
    }
  }
  const char* key(u64 i) const { return &recs[i * kRecLen]; }
  const char* val(u64 i) const { return &recs[i * kRecLen + kKeyLen]; }
};
const Strings& strings() {
  static const Strings s;
  return s;
}

// One phase's result: ops/s of all processes together, and the slowest
// process's share of them (0.5 is fair for 2; an unfair lock can trade
// fairness for throughput, so the report shows both).
struct Phase {
  double total = 0, min_share = 0;
};

// One phase: each of kProcs forked processes runs `op(i, write)` for
// kPhaseSec over a pre-generated stream (write_pct percent writes) and
// reports its ops/s through shared memory.
template <class Setup, class Op>
Phase run_phase(unsigned write_pct, Setup&& setup, Op&& op) {
  auto* counts = static_cast<u64*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  std::vector<pid_t> kids;
  auto t0 = std::chrono::steady_clock::now();
  for (unsigned p = 0; p < kProcs; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      auto ctx = setup();
      std::mt19937_64 rng(p + 1);
      std::vector<std::uint32_t> stream(1 << 16);
      for (auto& s : stream) s = std::uint32_t(rng() % kStrKeys) << 1 | (rng() % 100 < write_pct ? 1 : 0);
      u64 n = 0;
      auto start = std::chrono::steady_clock::now();
      for (;;) {
        for (int j = 0; j < 256; ++j, ++n) {
          std::uint32_t s = stream[n & 0xffff];
          op(ctx, s >> 1, (s & 1) != 0);
        }
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= kPhaseSec) break;
      }
      double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      counts[p] = u64(double(n) / sec);
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::abort();
  }
  (void)t0;
  Phase r;
  double min = 0;
  for (unsigned p = 0; p < kProcs; ++p) {
    r.total += double(counts[p]);
    min = p == 0 || double(counts[p]) < min ? double(counts[p]) : min;
  }
  r.min_share = r.total > 0 ? min / r.total : 0;
  munmap(counts, 4096);
  return r;
}

struct Lmdb {
  MDB_env* env = nullptr;
  MDB_dbi dbi = 0;
  MDB_txn* rtxn = nullptr;
};

void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "lmdb %s: %s\n", what, mdb_strerror(rc));
    std::abort();
  }
}

Lmdb lmdb_open(const std::string& dir) {
  Lmdb l;
  check(mdb_env_create(&l.env), "env_create");
  check(mdb_env_set_mapsize(l.env, size_t{1} << 30), "set_mapsize");
  check(mdb_env_open(l.env, dir.c_str(), MDB_WRITEMAP | MDB_NOSYNC | MDB_NOMETASYNC | MDB_NORDAHEAD | MDB_NOTLS, 0600),
        "env_open");
  MDB_txn* t = nullptr;
  check(mdb_txn_begin(l.env, nullptr, 0, &t), "txn_begin");
  check(mdb_dbi_open(t, nullptr, 0, &l.dbi), "dbi_open");
  check(mdb_txn_commit(t), "commit");
  check(mdb_txn_begin(l.env, nullptr, MDB_RDONLY, &l.rtxn), "read txn");
  mdb_txn_reset(l.rtxn);
  return l;
}

void lmdb_op(Lmdb& l, u64 i, bool write) {
  const char *k = strings().key(i), *v = strings().val(i);
  MDB_val key{kKeyLen, const_cast<char*>(k)}, val{kValLen, const_cast<char*>(v)};
  if (write) {
    MDB_txn* t = nullptr;
    check(mdb_txn_begin(l.env, nullptr, 0, &t), "txn_begin");
    check(mdb_put(t, l.dbi, &key, &val, 0), "put");
    check(mdb_txn_commit(t), "commit");
    return;
  }
  check(mdb_txn_renew(l.rtxn), "renew");
  MDB_val got;
  check(mdb_get(l.rtxn, l.dbi, &key, &got), "get");
  if (got.mv_size != kValLen || std::memcmp(got.mv_data, v, kValLen) != 0) std::abort();
  mdb_txn_reset(l.rtxn);
}

void rw_op(mb::RwMap& m, u64 i, bool write) {
  const char *k = strings().key(i), *v = strings().val(i);
  if (write) {
    if (m.put(mb::RwBytes{k, kKeyLen}, mb::RwBytes{v, kValLen}) != mb::Status::ok) std::abort();
    return;
  }
  char buf[64];
  u64 sz = 0;
  if (m.get(mb::RwBytes{k, kKeyLen}, buf, sizeof buf, &sz) != mb::Status::ok || sz != kValLen ||
      std::memcmp(buf, v, kValLen) != 0)
    std::abort();
}

// The rwlock side of the cross-process phases: one map, or shards.
struct RwSide {
  mb::RwStore::Ptr one;
  mb::RwShards::Ptr shards;
  // A string key's get or put, checked: through the one map, or through the
  // shards' own get / put (the key hashed once for shard and slot).
  void op(u64 i, bool write) {
    if (one) return rw_op(one->map(), i, write);
    const char *k = strings().key(i), *v = strings().val(i);
    if (write) {
      if (shards->put(mb::RwBytes{k, kKeyLen}, mb::RwBytes{v, kValLen}) != mb::Status::ok) std::abort();
      return;
    }
    char buf[64];
    u64 sz = 0;
    if (shards->get(mb::RwBytes{k, kKeyLen}, buf, sizeof buf, &sz) != mb::Status::ok || sz != kValLen ||
        std::memcmp(buf, v, kValLen) != 0)
      std::abort();
  }
};

void cross_process(unsigned rounds, unsigned shards) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp ? tmp : "/tmp") + "/rw_bench." + std::to_string(getpid());
  std::string file = dir + "/map";
  strings();  // formatted before the children fork
  std::string mkdir = "mkdir -p " + dir;
  if (std::system(mkdir.c_str()) != 0) std::abort();
  // RwMap in a file, as processes that do not share a parent would use it.
  mb::RwParams p;  // per shard
  p.cap_init = 65536 / shards;
  p.cap_max = 65536 / shards;
  p.arena_max = (1 << 20) / shards;
  {
    RwSide side;
    if (shards == 1 ? mb::RwStore::create_file(file, p, &side.one) != mb::Status::ok
                    : mb::RwShards::create_file(file, p, shards, &side.shards) != mb::Status::ok)
      std::abort();
    for (u64 i = 0; i < kStrKeys; ++i) side.op(i, true);
  }
  {
    Lmdb l = lmdb_open(dir);
    for (u64 i = 0; i < kStrKeys; ++i) lmdb_op(l, i, true);
    mdb_env_close(l.env);
  }
  auto rw_setup = [&] {
    RwSide side;
    if (shards == 1 ? mb::RwStore::join_file(file, &side.one) != mb::Status::ok
                    : mb::RwShards::join_file(file, &side.shards) != mb::Status::ok)
      std::abort();
    return side;
  };
  auto rw_run = [](RwSide& side, u64 i, bool w) { side.op(i, w); };
  auto lmdb_setup = [&] { return lmdb_open(dir); };
  auto lmdb_run = [](Lmdb& l, u64 i, bool w) { lmdb_op(l, i, w); };
  const unsigned pcts[] = {0, 100, 50};
  const char* names[] = {"reads", "writes", "mixed50"};
  std::string json = "{\"bench\":\"rwlock_cross_process\",\"procs\":2,\"keys\":25000,\"rounds\":" +
                     std::to_string(rounds) + ",\"cores\":" + std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) +
                     ",\"rw_shards\":" + std::to_string(shards);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  for (int i = 0; i < 3; ++i) {
    // Each round runs both stores back to back (which one first alternates),
    // so a round's ratio compares phases a second apart; the medians are
    // over the rounds.
    std::vector<double> rw_ops, lm_ops, ratios, rw_share, lm_share;
    for (unsigned r = 0; r < rounds; ++r) {
      Phase rw, lm;
      if (r % 2 == 0) {
        rw = run_phase(pcts[i], rw_setup, rw_run);
        lm = run_phase(pcts[i], lmdb_setup, lmdb_run);
      } else {
        lm = run_phase(pcts[i], lmdb_setup, lmdb_run);
        rw = run_phase(pcts[i], rw_setup, rw_run);
      }
      rw_ops.push_back(rw.total);
      lm_ops.push_back(lm.total);
      ratios.push_back(rw.total / lm.total);
      rw_share.push_back(rw.min_share);
      lm_share.push_back(lm.min_share);
    }
    char b[400];
    std::snprintf(b, sizeof b,
                  ",\"%s\":{\"rw_ops\":%.0f,\"lmdb_ops\":%.0f,\"ratio\":%.2f,\"ratio_min\":%.2f,"
                  "\"ratio_max\":%.2f,\"rw_min_share\":%.3f,\"lmdb_min_share\":%.3f}",
                  names[i], median(rw_ops), median(lm_ops), median(ratios),
                  *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()),
                  median(rw_share), median(lm_share));
    json += b;
  }
  json += "}";
  std::printf("%s\n", json.c_str());
  std::string rm = "rm -rf " + dir;
  if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "cannot remove %s\n", dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  bool cross_only = false, no_cross = false;
  unsigned rounds = 5, shards = 1;
  for (int i = 1; i < argc; ++i) {
    cross_only |= std::strcmp(argv[i], "--cross_only") == 0;
    no_cross |= std::strcmp(argv[i], "--no_cross") == 0;
    if (std::strncmp(argv[i], "--cross_rounds=", 15) == 0) rounds = unsigned(std::max(1L, std::atol(argv[i] + 15)));
    if (std::strncmp(argv[i], "--cross_shards=", 15) == 0) shards = unsigned(std::max(1L, std::atol(argv[i] + 15)));
  }
  if (!cross_only) {
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
  }
  if (shards & (shards - 1)) {
    std::fprintf(stderr, "rw_benchmark: --cross_shards must be a power of two\n");
    return 2;
  }
  if (!no_cross) cross_process(rounds, shards);
  return 0;
}
