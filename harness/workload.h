// The workload generator: operation mixes, key distributions, and the
// per-thread key and operation streams a run replays.
//
// Everything a timed phase needs is generated before it starts: the prefill
// key list and, for every thread, a stream of (op, key) pairs. Generation is
// deterministic in (spec, seed, thread), so a run can be repeated exactly and
// two maps in one run see the same streams.
//
// Keys. Key ids are 0 .. key_space-1 (the prefill picks a fraction of them)
// plus, for workloads that insert new records (YCSB D), ids key_space,
// key_space+1, ... handed out round-robin to threads. An id becomes the map
// key key_of(id) = mix64(id + 1): a bijection, so keys are distinct, never 0,
// and spread over 64 bits whatever hash the map uses (std::hash<u64> is the
// identity).
//
// Values encode their keys: value_of(key, seq) has mix64(key)'s high 32 bits
// and the writer's sequence number in the low 32, so every read checks that
// the value belongs to its key (value_ok) and writes still change the value.
#ifndef MAPBENCH_HARNESS_WORKLOAD_H_
#define MAPBENCH_HARNESS_WORKLOAD_H_

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/internal/hash.h"

namespace mb::harness {

using u64 = std::uint64_t;

enum class Op : std::uint8_t {
  find,    // find(k): check the value if present
  insert,  // insert(k, v): exists when present
  assign,  // insert_or_assign(k, v)
  erase,   // erase(k)
  update,  // update(k, v): not_found when absent
  rmw,     // find(k), then update(k, v') if found (YCSB F)
  scan,    // a short iteration near k (YCSB E; maps that can)
};
inline constexpr int kOpCount = 7;
const char* op_name(Op op);

// Percentages per op, in Op order; they sum to 100.
using Mix = std::array<unsigned, kOpCount>;

enum class Dist : std::uint8_t {
  uniform,  // every id of the key space equally likely
  zipfian,  // YCSB's Zipfian over ranks (theta), ranks scrambled over the space
  latest,   // Zipfian over recency: the most recently inserted ids are hottest
  hotspot,  // hot_set of the space takes hot_ops of the operations
};
const char* dist_name(Dist d);

struct WorkloadSpec {
  std::string name = "B";
  Mix mix{95, 0, 0, 0, 5, 0, 0};
  Dist dist = Dist::zipfian;
  double theta = 0.99;     // zipfian, latest
  double hot_set = 0.2;    // hotspot: fraction of the key space that is hot
  double hot_ops = 0.8;    // hotspot: fraction of operations on the hot set
  u64 key_space = u64{1} << 20;
  double prefill = 1.0;    // fraction of the key space inserted before timing
  bool new_keys = false;   // inserts take fresh ids beyond the key space (YCSB D)
  unsigned key_size = 8;   // bytes; 8 = u64 keys
  unsigned value_size = 8; // bytes; 8 = u64 values
};

// The named workloads: YCSB A B C D E F (core workloads mapped to map
// operations) and the mixes the variant issues name: mix95 (95% find, 5%
// insert_or_assign, 2^21 key space half prefilled) and mix50 (50% find, 25%
// insert, 25% erase, same space). Returns false for an unknown name.
bool preset(const std::string& name, WorkloadSpec* out);
std::vector<std::string> preset_names();
std::string preset_description(const std::string& name);

// "find=90,insert=5,erase=5": the ops not named get 0. Returns an error
// message (empty when ok): unknown op, bad number, or a sum other than 100.
std::string parse_mix(const std::string& text, Mix* out);
// "uniform", "zipfian[:theta]", "latest[:theta]", "hotspot[:set:ops]".
std::string parse_dist(const std::string& text, WorkloadSpec* spec);
std::string mix_string(const Mix& m);
std::string dist_string(const WorkloadSpec& s);

inline u64 key_of(u64 id) { return internal::mix64(id + 1); }
inline u64 value_of(u64 key, u64 seq) {
  return (internal::mix64(key) & ~u64{0xffffffff}) | (seq & 0xffffffff);
}
inline bool value_ok(u64 key, u64 v) { return ((internal::mix64(key) ^ v) >> 32) == 0; }

// Zipfian over ranks [0, n): P(rank r) = (r+1)^-theta / zeta(n, theta),
// sampled exactly by inverting the cumulative distribution (a table of n
// doubles, built once per stream). YCSB's closed-form approximation (Gray et
// al.) is faster but off by up to ~17% at ranks 2..10, which the
// rank-frequency test would (and did) catch.
class Zipfian {
 public:
  Zipfian(u64 n, double theta);
  u64 next(std::mt19937_64& rng) const;
  u64 n() const { return cdf_.size(); }

 private:
  std::vector<double> cdf_;  // cdf_[r] = P(rank <= r)
};

struct Stream {
  std::vector<u64> keys;
  std::vector<Op> ops;
  // New-key inserts (spec.new_keys): each such op's id (0 for every other
  // op; empty when the spec has none), and the span of ids one pass over
  // the stream can hand out across all threads. A worker that wraps around
  // its stream inserts key_of(new_ids[i] + pass * new_id_pass) on pass
  // `pass`: a key no pass inserted before (replayed, it would find the key
  // present and insert nothing, and the workload would turn into reads).
  std::vector<u64> new_ids;
  u64 new_id_pass = 0;
  // The key of op i on pass `pass` (0: the first) over the stream.
  u64 key_at(u64 i, u64 pass) const {
    return pass == 0 || new_ids.empty() || new_ids[i] == 0 ? keys[i] : key_of(new_ids[i] + pass * new_id_pass);
  }
};

// Ids of the prefill, in insertion order: the first prefill * key_space ids
// of a seeded permutation of the key space.
std::vector<u64> prefill_ids(const WorkloadSpec& spec, u64 seed);

// Thread `t` of `threads`: `n` operations. Needs the prefill (for "latest"
// and for scrambling): pass prefill_ids(spec, seed).
Stream make_stream(const WorkloadSpec& spec, u64 seed, unsigned t, unsigned threads, u64 n,
                   const std::vector<u64>& prefill);

}  // namespace mb::harness

#endif  // MAPBENCH_HARNESS_WORKLOAD_H_
