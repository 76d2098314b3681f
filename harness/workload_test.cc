#include "harness/workload.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "gtest/gtest.h"

namespace mb::harness {
namespace {

// id of every key of the key space (and of the first `extra` new ids).
std::unordered_map<u64, u64> ids_of(u64 space, u64 extra = 0) {
  std::unordered_map<u64, u64> m;
  for (u64 id = 0; id < space + extra; ++id) m[key_of(id)] = id;
  return m;
}

WorkloadSpec spec(const char* name) {
  WorkloadSpec w;
  EXPECT_TRUE(preset(name, &w)) << name;
  return w;
}

TEST(Workload, ParseMix) {
  Mix m{};
  EXPECT_EQ(parse_mix("find=90,insert=5,erase=5", &m), "");
  EXPECT_EQ(m[int(Op::find)], 90u);
  EXPECT_EQ(m[int(Op::insert)], 5u);
  EXPECT_EQ(m[int(Op::erase)], 5u);
  EXPECT_EQ(mix_string(m), "find=90,insert=5,erase=5");
  EXPECT_NE(parse_mix("find=90,insert=5", &m).find("sum to 95"), std::string::npos);
  EXPECT_NE(parse_mix("find=90,fly=10", &m).find("unknown op 'fly'"), std::string::npos);
  EXPECT_NE(parse_mix("find=50,find=50", &m).find("twice"), std::string::npos);
  EXPECT_NE(parse_mix("find=x", &m).find("not 0..100"), std::string::npos);
  EXPECT_NE(parse_mix("find", &m).find("not op=percent"), std::string::npos);
  EXPECT_NE(parse_mix("find=-5,update=105", &m), "");
  EXPECT_EQ(m[int(Op::find)], 90u) << "a failed parse leaves the mix alone";
}

TEST(Workload, ParseDist) {
  WorkloadSpec w;
  EXPECT_EQ(parse_dist("zipfian:0.8", &w), "");
  EXPECT_EQ(w.dist, Dist::zipfian);
  EXPECT_DOUBLE_EQ(w.theta, 0.8);
  EXPECT_EQ(dist_string(w), "zipfian:0.8");
  EXPECT_EQ(parse_dist("hotspot:0.1:0.9", &w), "");
  EXPECT_EQ(w.dist, Dist::hotspot);
  EXPECT_DOUBLE_EQ(w.hot_ops, 0.9);
  EXPECT_EQ(parse_dist("uniform", &w), "");
  EXPECT_NE(parse_dist("zipfian:1.5", &w), "");
  EXPECT_NE(parse_dist("zipfian:abc", &w), "");
  EXPECT_NE(parse_dist("hotspot:0.5", &w), "");
  EXPECT_NE(parse_dist("gaussian", &w).find("unknown distribution"), std::string::npos);
}

TEST(Workload, PresetsSumTo100) {
  for (const std::string& n : preset_names()) {
    WorkloadSpec w = spec(n.c_str());
    unsigned sum = 0;
    for (unsigned x : w.mix) sum += x;
    EXPECT_EQ(sum, 100u) << n;
    EXPECT_FALSE(preset_description(n).empty());
  }
  WorkloadSpec w;
  EXPECT_FALSE(preset("Z", &w));
}

TEST(Workload, ValuesEncodeTheirKeys) {
  for (u64 id = 0; id < 1000; ++id) {
    u64 k = key_of(id);
    EXPECT_NE(k, 0u);
    EXPECT_TRUE(value_ok(k, value_of(k, id * 7)));
    EXPECT_FALSE(value_ok(k, value_of(key_of(id + 1), 3)));
    EXPECT_FALSE(value_ok(k, value_of(k, 1) ^ (u64{1} << 40)));
  }
}

TEST(Workload, PrefillIsDistinctAndSized) {
  WorkloadSpec w = spec("mix95");
  w.key_space = 10000;
  std::vector<u64> p = prefill_ids(w, 5);
  EXPECT_EQ(p.size(), 5000u);
  std::unordered_set<u64> s(p.begin(), p.end());
  EXPECT_EQ(s.size(), p.size());
  EXPECT_LT(*std::max_element(p.begin(), p.end()), w.key_space);
  EXPECT_EQ(prefill_ids(w, 5), p);
  EXPECT_NE(prefill_ids(w, 6), p);
}

TEST(Workload, DeterministicBySeedAndThread) {
  WorkloadSpec w = spec("A");
  w.key_space = 4096;
  auto pre = prefill_ids(w, 1);
  Stream a = make_stream(w, 1, 0, 2, 5000, pre), b = make_stream(w, 1, 0, 2, 5000, pre);
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.ops, b.ops);
  EXPECT_NE(make_stream(w, 2, 0, 2, 5000, pre).keys, a.keys);
  EXPECT_NE(make_stream(w, 1, 1, 2, 5000, pre).keys, a.keys);
}

TEST(Workload, MixProportions) {
  WorkloadSpec w;
  ASSERT_EQ(parse_mix("find=40,insert=10,assign=10,erase=10,update=10,rmw=10,scan=10", &w.mix), "");
  w.key_space = 1000;
  w.dist = Dist::uniform;
  Stream s = make_stream(w, 3, 0, 1, 200000, prefill_ids(w, 3));
  u64 count[kOpCount] = {};
  for (Op op : s.ops) ++count[int(op)];
  for (int i = 0; i < kOpCount; ++i)
    EXPECT_NEAR(double(count[i]) / 200000, w.mix[i] / 100.0, 0.005) << op_name(Op(i));
}

// Pearson's chi-square over 64 equally likely ids: the 0.999 quantile of
// chi-square with 63 degrees of freedom is 103.4.
TEST(Workload, UniformPassesChiSquare) {
  WorkloadSpec w = spec("mix95");
  w.key_space = 64;
  auto ids = ids_of(64);
  Stream s = make_stream(w, 11, 0, 1, 128000, prefill_ids(w, 11));
  std::vector<double> count(64, 0);
  for (u64 k : s.keys) ++count[ids.at(k)];
  double chi = 0, expect = 128000.0 / 64;
  for (double c : count) chi += (c - expect) * (c - expect) / expect;
  EXPECT_LT(chi, 103.4);
  EXPECT_GT(chi, 30.0) << "suspiciously even (the 0.001 quantile is 37.8)";
}

// Rank-frequency: P(rank r) is proportional to 1/(r+1)^theta.
TEST(Workload, ZipfianRankFrequency) {
  const u64 n = 1000;
  for (double theta : {0.5, 0.99}) {
    Zipfian z(n, theta);
    std::mt19937_64 rng(7);
    std::vector<double> count(n, 0);
    const int draws = 2000000;
    for (int i = 0; i < draws; ++i) ++count[z.next(rng)];
    double zeta = 0;
    for (u64 i = 1; i <= n; ++i) zeta += 1 / std::pow(double(i), theta);
    for (u64 r : {0, 1, 2, 5, 20}) {
      double expect = 1 / std::pow(double(r + 1), theta) / zeta;
      EXPECT_NEAR(count[r] / draws, expect, 0.05 * expect + 0.0005) << "theta " << theta << " rank " << r;
    }
  }
}

// Scrambled: the hottest ids are spread over the space, not ids 0, 1, 2...
TEST(Workload, ZipfianIsScrambled) {
  WorkloadSpec w = spec("C");
  w.key_space = 1 << 16;
  auto ids = ids_of(w.key_space);
  Stream s = make_stream(w, 1, 0, 1, 200000, prefill_ids(w, 1));
  std::unordered_map<u64, u64> freq;
  for (u64 k : s.keys) ++freq[ids.at(k)];
  std::vector<std::pair<u64, u64>> top(freq.begin(), freq.end());
  std::sort(top.begin(), top.end(), [](auto& a, auto& b) { return a.second > b.second; });
  // The hottest id gets about 1/zeta(2^16, 0.99) = 8% of the draws.
  EXPECT_NEAR(double(top[0].second) / 200000, 0.083, 0.02);
  u64 lo = ~u64{0}, hi = 0;
  for (int i = 0; i < 8; ++i) lo = std::min(lo, top[i].first), hi = std::max(hi, top[i].first);
  EXPECT_GT(hi - lo, w.key_space / 4);
}

TEST(Workload, HotspotShare) {
  WorkloadSpec w = spec("mix95");
  w.key_space = 10000;
  ASSERT_EQ(parse_dist("hotspot:0.1:0.9", &w), "");
  auto ids = ids_of(w.key_space);
  Stream s = make_stream(w, 4, 0, 1, 100000, prefill_ids(w, 4));
  u64 hot = 0;
  for (u64 k : s.keys) hot += ids.at(k) < 1000;
  EXPECT_NEAR(double(hot) / 100000, 0.9, 0.01);
}

// YCSB D: inserts take fresh ids, disjoint between threads; reads favour the
// most recent records.
TEST(Workload, LatestReadsRecentInserts) {
  WorkloadSpec w = spec("D");
  w.key_space = 10000;
  auto pre = prefill_ids(w, 2);
  auto ids = ids_of(w.key_space, 40000);
  std::unordered_set<u64> new0, new1;
  Stream s0 = make_stream(w, 2, 0, 2, 100000, pre), s1 = make_stream(w, 2, 1, 2, 100000, pre);
  for (u64 i = 0; i < s0.keys.size(); ++i)
    if (s0.ops[i] == Op::insert) { EXPECT_TRUE(new0.insert(s0.keys[i]).second); }
  for (u64 i = 0; i < s1.keys.size(); ++i)
    if (s1.ops[i] == Op::insert) new1.insert(s1.keys[i]);
  for (u64 k : new0) {
    EXPECT_GE(ids.at(k), w.key_space);
    EXPECT_EQ(new1.count(k), 0u);
  }
  // Reads in the last quarter of the stream: most hit keys inserted lately
  // (new ids, or the last 10% of the prefill order).
  std::unordered_set<u64> late_prefill;
  for (u64 x = pre.size() * 9 / 10; x < pre.size(); ++x) late_prefill.insert(key_of(pre[x]));
  u64 reads = 0, recent = 0;
  for (u64 i = s0.keys.size() * 3 / 4; i < s0.keys.size(); ++i) {
    if (s0.ops[i] != Op::find) continue;
    ++reads;
    recent += ids.at(s0.keys[i]) >= w.key_space || late_prefill.count(s0.keys[i]);
  }
  EXPECT_GT(double(recent) / double(reads), 0.6);
}

}  // namespace
}  // namespace mb::harness
