// The adapters themselves (see maps.h for the interface). Header-only so the
// runner and the Google Benchmark suite instantiate the same code.
#ifndef MAPBENCH_HARNESS_ADAPTERS_H_
#define MAPBENCH_HARNESS_ADAPTERS_H_

#include <absl/container/flat_hash_map.h>
#include <cds/container/feldman_hashmap_hp.h>
#include <cds/container/michael_kvlist_hp.h>
#include <cds/container/michael_map.h>
#include <cds/gc/hp.h>
#include <cds/init.h>
#include <libcuckoo/cuckoohash_map.hh>
#include <oneapi/tbb/concurrent_hash_map.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "core/alloc.h"
#include "core/region.h"
#include "core/status.h"
#include "harness/maps.h"
#include "variants/chain/chain_map.h"

namespace mb::harness {

inline R yes_no(bool b) { return b ? R::yes : R::no; }

// No per-thread set-up (every adapter but libcds').
struct NoThreadState {
  static void thread_enter() {}
  static void thread_exit() {}
};

// --- the chain map (variants/chain) ------------------------------------------

class ChainAdapter : public NoThreadState {
 public:
  static constexpr const char* kName = "chain";
  static constexpr const char* kWhat = "mapbench chained versioned map (seqlock chains, speculative reads), shared region";
  static constexpr bool kThreadSafe = true, kRegion = true;

  explicit ChainAdapter(u64 capacity) {
    std::string why;
    // Address space only (MAP_NORESERVE): pages are touched as the map fills.
    u64 size = std::max<u64>(u64{1} << 30, (capacity * 256 + (u64{1} << 30)) & ~u64{4095});
    if (Region::create_anon({"mapbench.chain", 1, size, 0}, {}, &region_, &why) != Status::ok ||
        Allocator::create(region_, AllocParams(), &a_, &why) != Status::ok ||
        ChainMap::create(a_, capacity, 1, &off_, &why) != Status::ok || ChainMap::join(a_, off_, &m_, &why) != Status::ok)
      fail("chain: " + why);
  }
  void rejoin() {
    std::string why;
    if (Allocator::join(region_, &a_, &why) != Status::ok || ChainMap::join(a_, off_, &m_, &why) != Status::ok)
      fail("chain rejoin: " + why);
  }
  R find(u64 k, u64* v) { return st(m_.find(k, v)); }
  R insert(u64 k, u64 v) { return st(m_.insert(k, v)); }
  R assign(u64 k, u64 v) {
    bool created = false;
    Status s = m_.insert_or_assign(k, v, &created);
    return s != Status::ok ? R::fail : yes_no(created);
  }
  R erase(u64 k) { return st(m_.erase(k)); }
  R update(u64 k, u64 v) { return st(m_.update(k, v)); }
  // The key's chain and the next three, locked together: a short consistent walk.
  u64 scan(u64 k, unsigned n) {
    u64 idx = m_.hash(Bytes{&k, 8}) & (m_.chain_cnt() - 1), seen = 0;
    struct Ctx { u64* seen; unsigned n; } ctx{&seen, n};
    auto visit = [](void* c, Bytes, Bytes) {
      auto* x = static_cast<Ctx*>(c);
      if (*x->seen < x->n) ++*x->seen;
    };
    if (m_.for_each_locked(idx, std::min(idx + 4, m_.chain_cnt()), 0, visit, &ctx) != Status::ok) return ~u64{0};
    return seen;
  }
  u64 size() { return m_.size(); }
  bool verify(std::string* why) { return m_.verify(why) == Status::ok; }
  u64 again() {
    ChainMap::Stats s = m_.stats();
    return s.query_again + s.lock_busy;
  }
  u64 bytes_used() {
    AllocStats s{};
    return a_.verify(&s) == Status::ok ? s.slot_bytes : 0;
  }

 private:
  static R st(Status s) {
    return s == Status::ok ? R::yes : s == Status::not_found || s == Status::exists ? R::no : R::fail;
  }
  [[noreturn]] static void fail(const std::string& why) {
    std::fprintf(stderr, "mapbench: %s\n", why.c_str());
    std::exit(1);
  }
  Region region_;
  Allocator a_;
  u64 off_ = 0;
  ChainMap m_;
};

// --- oneTBB --------------------------------------------------------------------

class TbbAdapter : public NoThreadState {
 public:
  static constexpr const char* kName = "tbb";
  static constexpr const char* kWhat = "oneapi::tbb::concurrent_hash_map (bucket locks, accessors)";
  static constexpr bool kThreadSafe = true, kRegion = false;
  using Map = tbb::concurrent_hash_map<u64, u64>;
  explicit TbbAdapter(u64 capacity) : m_(capacity) {}
  R find(u64 k, u64* v) {
    Map::const_accessor acc;
    if (!m_.find(acc, k)) return R::no;
    *v = acc->second;
    return R::yes;
  }
  R insert(u64 k, u64 v) { return yes_no(m_.insert({k, v})); }
  R assign(u64 k, u64 v) {
    Map::accessor acc;
    bool created = m_.insert(acc, k);
    acc->second = v;
    return yes_no(created);
  }
  R erase(u64 k) { return yes_no(m_.erase(k)); }
  R update(u64 k, u64 v) {
    Map::accessor acc;
    if (!m_.find(acc, k)) return R::no;
    acc->second = v;
    return R::yes;
  }
  u64 size() { return m_.size(); }
  bool verify(std::string*) { return true; }
  u64 again() { return 0; }

 private:
  Map m_;
};

// --- libcuckoo -------------------------------------------------------------------

class CuckooAdapter : public NoThreadState {
 public:
  static constexpr const char* kName = "libcuckoo";
  static constexpr const char* kWhat = "libcuckoo::cuckoohash_map (bucketized cuckoo, striped locks)";
  static constexpr bool kThreadSafe = true, kRegion = false;
  explicit CuckooAdapter(u64 capacity) : m_(capacity) {}
  R find(u64 k, u64* v) { return yes_no(m_.find(k, *v)); }
  R insert(u64 k, u64 v) { return yes_no(m_.insert(k, v)); }
  R assign(u64 k, u64 v) { return yes_no(m_.insert_or_assign(k, v)); }
  R erase(u64 k) { return yes_no(m_.erase(k)); }
  R update(u64 k, u64 v) { return yes_no(m_.update(k, v)); }
  u64 size() { return m_.size(); }
  bool verify(std::string*) { return true; }
  u64 again() { return 0; }

 private:
  libcuckoo::cuckoohash_map<u64, u64> m_;
};

// --- libcds ------------------------------------------------------------------------

// libcds needs the library initialized, one hazard-pointer GC per process,
// and every thread that touches a map attached. The thread that first makes
// a map (the driver's) stays attached: it prefills and destroys maps.
inline void cds_process_init() {
  static cds::gc::HP* gc = [] {
    cds::Initialize();
    auto* g = new cds::gc::HP(16, 256);
    cds::threading::Manager::attachThread();
    return g;
  }();
  (void)gc;
}

struct CdsThreadState {
  static inline thread_local bool attached_here = false;
  static void thread_enter() {
    cds_process_init();
    if (!cds::threading::Manager::isThreadAttached()) {
      cds::threading::Manager::attachThread();
      attached_here = true;
    }
  }
  static void thread_exit() {
    if (attached_here) cds::threading::Manager::detachThread(), attached_here = false;
  }
};

// Mapped values are read by find() while update() writes them in place: an
// atomic keeps that race-free.
struct AtomicU64 {
  std::atomic<u64> v;
  AtomicU64(u64 x = 0) : v(x) {}
  AtomicU64(const AtomicU64& o) : v(o.v.load(std::memory_order_relaxed)) {}
};

struct U64Hash {
  std::size_t operator()(u64 k) const { return std::size_t(k); }  // keys are already mixed
};

// What both libcds maps share. libcds' update() links a new node first and
// runs the functor after (the harness caught finds returning the default
// value), so a write inserts the value, or stores into the present node's
// atomic (the write linearizes at that store).
template <class Map>
class CdsAdapter : public CdsThreadState {
 public:
  static constexpr bool kThreadSafe = true, kRegion = false;
  template <class... Args>
  explicit CdsAdapter(Args... args) : m_((cds_process_init(), args)...) {}
  R find(u64 k, u64* v) {
    return yes_no(m_.find(k, [v](typename Map::value_type& e) { *v = e.second.v.load(std::memory_order_relaxed); }));
  }
  R insert(u64 k, u64 v) { return yes_no(m_.insert(k, v)); }
  R assign(u64 k, u64 v) {
    for (;;) {
      if (m_.insert(k, v)) return R::yes;
      if (store(k, v)) return R::no;
    }
  }
  R erase(u64 k) { return yes_no(m_.erase(k)); }
  R update(u64 k, u64 v) { return yes_no(store(k, v)); }
  u64 size() { return m_.size(); }
  bool verify(std::string*) { return true; }
  u64 again() { return 0; }

 private:
  bool store(u64 k, u64 v) {
    return m_.find(k, [v](typename Map::value_type& e) { e.second.v.store(v, std::memory_order_relaxed); });
  }
  Map m_;
};

struct CdsMichaelTraits {
  struct List : cds::container::michael_list::traits {
    typedef std::less<u64> less;
  };
  struct Map : cds::container::michael_map::traits {
    typedef U64Hash hash;
  };
};
using CdsMichaelMap = cds::container::MichaelHashMap<
    cds::gc::HP, cds::container::MichaelKVList<cds::gc::HP, u64, AtomicU64, CdsMichaelTraits::List>,
    CdsMichaelTraits::Map>;

class CdsMichaelAdapter : public CdsAdapter<CdsMichaelMap> {
 public:
  static constexpr const char* kName = "cds_michael";
  static constexpr const char* kWhat = "libcds MichaelHashMap (lock-free lists per bucket, hazard pointers)";
  // Expected item count, load factor 1.
  explicit CdsMichaelAdapter(u64 capacity) : CdsAdapter(std::size_t(capacity), std::size_t(1)) {}
};

class CdsFeldmanAdapter : public CdsAdapter<cds::container::FeldmanHashMap<cds::gc::HP, u64, AtomicU64>> {
 public:
  static constexpr const char* kName = "cds_feldman";
  static constexpr const char* kWhat = "libcds FeldmanHashMap (lock-free multi-level array of hash bits, hazard pointers)";
  // Head array of 2^16 slots, 2^8 per lower level (the key is its own hash).
  explicit CdsFeldmanAdapter(u64) : CdsAdapter(std::size_t(16), std::size_t(8)) {}
};

// --- std::unordered_map + std::shared_mutex --------------------------------------

class StdSharedMutexAdapter : public NoThreadState {
 public:
  static constexpr const char* kName = "std_shared_mutex";
  static constexpr const char* kWhat = "std::unordered_map behind one std::shared_mutex (shared for finds)";
  static constexpr bool kThreadSafe = true, kRegion = false;
  explicit StdSharedMutexAdapter(u64 capacity) { m_.reserve(capacity); }
  R find(u64 k, u64* v) {
    std::shared_lock g(mu_);
    auto it = m_.find(k);
    if (it == m_.end()) return R::no;
    *v = it->second;
    return R::yes;
  }
  R insert(u64 k, u64 v) {
    std::unique_lock g(mu_);
    return yes_no(m_.emplace(k, v).second);
  }
  R assign(u64 k, u64 v) {
    std::unique_lock g(mu_);
    return yes_no(m_.insert_or_assign(k, v).second);
  }
  R erase(u64 k) {
    std::unique_lock g(mu_);
    return yes_no(m_.erase(k) != 0);
  }
  R update(u64 k, u64 v) {
    std::unique_lock g(mu_);
    auto it = m_.find(k);
    if (it == m_.end()) return R::no;
    it->second = v;
    return R::yes;
  }
  u64 size() {
    std::shared_lock g(mu_);
    return m_.size();
  }
  bool verify(std::string*) { return true; }
  u64 again() { return 0; }

 private:
  std::shared_mutex mu_;
  std::unordered_map<u64, u64> m_;
};

// --- absl::flat_hash_map: the no-synchronization ceiling (1 thread) -----------------

class AbslAdapter : public NoThreadState {
 public:
  static constexpr const char* kName = "absl_flat";
  static constexpr const char* kWhat = "absl::flat_hash_map with no synchronization (1 thread only: the ceiling)";
  static constexpr bool kThreadSafe = false, kRegion = false;
  explicit AbslAdapter(u64 capacity) { m_.reserve(capacity); }
  R find(u64 k, u64* v) {
    auto it = m_.find(k);
    if (it == m_.end()) return R::no;
    *v = it->second;
    return R::yes;
  }
  R insert(u64 k, u64 v) { return yes_no(m_.emplace(k, v).second); }
  R assign(u64 k, u64 v) { return yes_no(m_.insert_or_assign(k, v).second); }
  R erase(u64 k) { return yes_no(m_.erase(k) != 0); }
  R update(u64 k, u64 v) {
    auto it = m_.find(k);
    if (it == m_.end()) return R::no;
    it->second = v;
    return R::yes;
  }
  u64 size() { return m_.size(); }
  bool verify(std::string*) { return true; }
  u64 again() { return 0; }

 private:
  absl::flat_hash_map<u64, u64> m_;
};

// Every adapter, in report order: a visitor calls f.template operator()<A>().
template <class F>
void for_each_adapter(F&& f) {
  f.template operator()<ChainAdapter>();
  f.template operator()<TbbAdapter>();
  f.template operator()<CuckooAdapter>();
  f.template operator()<CdsMichaelAdapter>();
  f.template operator()<CdsFeldmanAdapter>();
  f.template operator()<StdSharedMutexAdapter>();
  f.template operator()<AbslAdapter>();
}

}  // namespace mb::harness

#endif  // MAPBENCH_HARNESS_ADAPTERS_H_
