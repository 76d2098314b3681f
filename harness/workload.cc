#include "harness/workload.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace mb::harness {

namespace {

constexpr const char* kOpNames[kOpCount] = {"find", "insert", "assign", "erase", "update", "rmw", "scan"};

struct Preset {
  const char* name;
  const char* what;
  Mix mix;
  Dist dist;
  u64 key_space;
  double prefill;
  bool new_keys;
};

// YCSB core workloads (Cooper et al., SoCC 2010) as map operations: "read"
// is find, "update" is update (the key is a loaded record), "insert" is
// insert of a new key, "read-modify-write" is find + update, "scan" is a
// short iteration.
constexpr Preset kPresets[] = {
    {"A", "YCSB A: 50% find, 50% update, zipfian", {50, 0, 0, 0, 50, 0, 0}, Dist::zipfian, u64{1} << 20, 1.0, false},
    {"B", "YCSB B: 95% find, 5% update, zipfian", {95, 0, 0, 0, 5, 0, 0}, Dist::zipfian, u64{1} << 20, 1.0, false},
    {"C", "YCSB C: 100% find, zipfian", {100, 0, 0, 0, 0, 0, 0}, Dist::zipfian, u64{1} << 20, 1.0, false},
    {"D", "YCSB D: 95% find, 5% insert of new keys, latest", {95, 5, 0, 0, 0, 0, 0}, Dist::latest, u64{1} << 20, 1.0,
     true},
    {"E", "YCSB E: 95% short scan, 5% insert of new keys, zipfian (maps with iteration)", {0, 5, 0, 0, 0, 0, 95},
     Dist::zipfian, u64{1} << 20, 1.0, true},
    {"F", "YCSB F: 50% find, 50% read-modify-write, zipfian", {50, 0, 0, 0, 0, 50, 0}, Dist::zipfian, u64{1} << 20,
     1.0, false},
    {"mix95", "95% find, 5% insert_or_assign, 1M keys of a 2M space, uniform", {95, 0, 5, 0, 0, 0, 0}, Dist::uniform,
     u64{1} << 21, 0.5, false},
    {"mix50", "50% find, 25% insert, 25% erase, 1M keys of a 2M space, uniform", {50, 25, 0, 25, 0, 0, 0},
     Dist::uniform, u64{1} << 21, 0.5, false},
};

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(*out);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) out.push_back(cur), cur.clear();
    else cur += c;
  }
  out.push_back(cur);
  return out;
}

}  // namespace

const char* op_name(Op op) { return kOpNames[static_cast<int>(op)]; }

const char* dist_name(Dist d) {
  switch (d) {
    case Dist::uniform: return "uniform";
    case Dist::zipfian: return "zipfian";
    case Dist::latest: return "latest";
    case Dist::hotspot: return "hotspot";
  }
  return "?";
}

bool preset(const std::string& name, WorkloadSpec* out) {
  for (const Preset& p : kPresets) {
    if (name != p.name) continue;
    *out = WorkloadSpec{};
    out->name = p.name;
    out->mix = p.mix;
    out->dist = p.dist;
    out->key_space = p.key_space;
    out->prefill = p.prefill;
    out->new_keys = p.new_keys;
    return true;
  }
  return false;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const Preset& p : kPresets) out.push_back(p.name);
  return out;
}

std::string preset_description(const std::string& name) {
  for (const Preset& p : kPresets)
    if (name == p.name) return p.what;
  return "";
}

std::string parse_mix(const std::string& text, Mix* out) {
  Mix m{};
  bool seen[kOpCount] = {};
  for (const std::string& part : split(text, ',')) {
    auto eq = part.find('=');
    if (eq == std::string::npos) return "mix entry '" + part + "' is not op=percent";
    std::string op = part.substr(0, eq), num = part.substr(eq + 1);
    int i = 0;
    while (i < kOpCount && op != kOpNames[i]) ++i;
    if (i == kOpCount) return "unknown op '" + op + "' (ops: find insert assign erase update rmw scan)";
    if (seen[i]) return "op '" + op + "' given twice";
    seen[i] = true;
    char* end = nullptr;
    long v = std::strtol(num.c_str(), &end, 10);
    if (num.empty() || *end != '\0' || v < 0 || v > 100) return "percent '" + num + "' for " + op + " is not 0..100";
    m[i] = unsigned(v);
  }
  unsigned sum = 0;
  for (unsigned v : m) sum += v;
  if (sum != 100) return "mix percentages sum to " + std::to_string(sum) + ", not 100";
  *out = m;
  return "";
}

std::string parse_dist(const std::string& text, WorkloadSpec* spec) {
  std::vector<std::string> p = split(text, ':');
  double a = 0, b = 0;
  if (p[0] == "uniform" && p.size() == 1) {
    spec->dist = Dist::uniform;
  } else if ((p[0] == "zipfian" || p[0] == "latest") && p.size() <= 2) {
    spec->dist = p[0] == "zipfian" ? Dist::zipfian : Dist::latest;
    if (p.size() == 2) {
      if (!parse_double(p[1], &a) || a <= 0 || a >= 1 || a == 1.0)
        return "zipfian theta '" + p[1] + "' is not in (0, 1)";
      spec->theta = a;
    }
  } else if (p[0] == "hotspot" && (p.size() == 1 || p.size() == 3)) {
    spec->dist = Dist::hotspot;
    if (p.size() == 3) {
      if (!parse_double(p[1], &a) || !parse_double(p[2], &b) || a <= 0 || a >= 1 || b <= 0 || b >= 1)
        return "hotspot fractions '" + p[1] + ":" + p[2] + "' are not both in (0, 1)";
      spec->hot_set = a, spec->hot_ops = b;
    }
  } else {
    return "unknown distribution '" + text + "' (uniform, zipfian[:theta], latest[:theta], hotspot[:set:ops])";
  }
  return "";
}

std::string mix_string(const Mix& m) {
  std::string out;
  for (int i = 0; i < kOpCount; ++i) {
    if (m[i] == 0) continue;
    if (!out.empty()) out += ',';
    out += std::string(kOpNames[i]) + "=" + std::to_string(m[i]);
  }
  return out;
}

std::string dist_string(const WorkloadSpec& s) {
  std::ostringstream o;
  o << dist_name(s.dist);
  if (s.dist == Dist::zipfian || s.dist == Dist::latest) o << ':' << s.theta;
  if (s.dist == Dist::hotspot) o << ':' << s.hot_set << ':' << s.hot_ops;
  return o.str();
}

// --- Zipfian -----------------------------------------------------------------

Zipfian::Zipfian(u64 n, double theta) : cdf_(std::max<u64>(n, 1)) {
  double sum = 0;
  for (u64 i = 0; i < cdf_.size(); ++i) cdf_[i] = sum += std::pow(double(i + 1), -theta);
  for (double& c : cdf_) c /= sum;
  cdf_.back() = 1.0;
}

u64 Zipfian::next(std::mt19937_64& rng) const {
  double u = double(rng() >> 11) * 0x1.0p-53;  // [0, 1)
  return u64(std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
}

// --- streams -------------------------------------------------------------------

std::vector<u64> prefill_ids(const WorkloadSpec& spec, u64 seed) {
  u64 n = spec.key_space, want = u64(spec.prefill * double(n) + 0.5);
  std::vector<u64> perm(n);
  for (u64 i = 0; i < n; ++i) perm[i] = i;
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  for (u64 i = 0; i < want && i + 1 < n; ++i) std::swap(perm[i], perm[i + rng() % (n - i)]);
  perm.resize(std::min(want, n));
  return perm;
}

Stream make_stream(const WorkloadSpec& spec, u64 seed, unsigned t, unsigned threads, u64 n,
                   const std::vector<u64>& prefill) {
  Stream s;
  s.keys.resize(n);
  s.ops.resize(n);
  std::mt19937_64 rng(internal::mix64(seed * 1000003 + t + 1));
  const u64 space = spec.key_space, pre = prefill.size();
  Zipfian zipf(spec.dist == Dist::zipfian || spec.dist == Dist::latest ? space : 1, spec.theta);
  unsigned cum[kOpCount];
  for (unsigned i = 0, c = 0; i < kOpCount; ++i) cum[i] = c += spec.mix[i];
  const u64 hot_n = std::max<u64>(1, u64(spec.hot_set * double(space)));
  u64 inserted = 0;  // this thread's new-key inserts so far
  if (spec.new_keys) {
    s.new_ids.assign(n, 0);
    s.new_id_pass = n * threads;  // pass p's ids: space + p * n * threads + [0, n * threads)
  }
  for (u64 i = 0; i < n; ++i) {
    unsigned r = unsigned(rng() % 100), o = 0;
    while (r >= cum[o]) ++o;
    Op op = static_cast<Op>(o);
    u64 id = 0;
    if (op == Op::insert && spec.new_keys) {
      id = space + inserted * threads + t;  // insertion order pre + inserted*threads + t
      s.new_ids[i] = id;
      ++inserted;
    } else {
      switch (spec.dist) {
        case Dist::uniform: id = rng() % space; break;
        case Dist::zipfian: id = internal::mix64(zipf.next(rng)) % space; break;
        case Dist::hotspot: {
          bool hot = double(rng() >> 11) * 0x1.0p-53 < spec.hot_ops;
          id = hot || hot_n == space ? rng() % hot_n : hot_n + rng() % (space - hot_n);
          break;
        }
        case Dist::latest: {
          // Insertion order so far, assuming threads insert at equal rates:
          // order index x < pre is prefill[x], else new id space + (x - pre).
          u64 count = pre + inserted * threads, rank = zipf.next(rng);
          if (count == 0) break;  // nothing inserted yet: id 0, a miss
          u64 x = count - 1 - rank % count;
          id = x < pre ? prefill[x] : space + (x - pre);
          break;
        }
      }
    }
    s.ops[i] = op;
    s.keys[i] = key_of(id);
  }
  return s;
}

}  // namespace mb::harness
