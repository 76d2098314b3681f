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

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string_view>
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
#include "variants/robinhood/rh_map.h"
#include "variants/rwlock/rw_map.h"
#include "variants/rwlock/rw_store.h"

namespace mb::harness {

inline R yes_no(bool b) { return b ? R::yes : R::no; }

// A region map's Status as the runner's answer: ok is yes, not_found or
// exists is no, anything else a failure.
inline R st(Status s) {
  return s == Status::ok ? R::yes : s == Status::not_found || s == Status::exists ? R::no : R::fail;
}

// No per-thread set-up (every adapter but libcds').
struct NoThreadState {
  static void thread_enter() {}
  static void thread_exit() {}
};

// --- key and value codecs ------------------------------------------------------
//
// The runner speaks u64 keys and values (workload.h). In byte-string mode
// (WorkloadSpec key_size / value_size other than 8) an adapter's codec turns
// them into strings of exactly those sizes: the u64 in the first 8 bytes (the
// whole string when shorter), then bytes derived from it. A read decodes the
// value and checks its size and every derived byte; a damaged value decodes
// to one that fails value_ok(), so the runner counts it as a bad read.

struct U64Codec {
  using Key = u64;
  using Val = u64;
  static constexpr bool kBytes = false;
  static Key key(u64 k) { return k; }
  static Val val(u64 v) { return v; }
  static u64 read(u64, Val v) { return v; }
};

struct StrCodec {
  using Key = std::string;
  using Val = std::string;
  static constexpr bool kBytes = true;
  static inline unsigned key_size = 16, value_size = 32;  // set by the runner before a map is built

  static void fill(u64 x, unsigned n, std::string* out) {
    out->resize(n);
    char* p = out->data();
    std::memcpy(p, &x, std::min(8u, n));
    for (unsigned i = 8; i < n; ++i) p[i] = char((x >> (8 * (i % 8))) ^ (i * 0x9d));
  }
  static const std::string& key(u64 k) {
    static thread_local std::string buf;
    fill(k, key_size, &buf);
    return buf;
  }
  static const std::string& val(u64 v) {
    static thread_local std::string buf;
    fill(v, value_size, &buf);
    return buf;
  }
  static u64 read(u64, std::string_view v) {
    u64 x = 0;
    std::memcpy(&x, v.data(), std::min<std::size_t>(8, v.size()));
    if (v.size() != value_size) return ~x;
    for (unsigned i = 8; i < value_size; ++i)
      if (v[i] != char((x >> (8 * (i % 8))) ^ (i * 0x9d))) return ~x;
    return x;
  }
};

// A region map's byte-string find through get(key, buf, cap, &size): the
// value lands in a thread-local buffer that holds the largest value the
// runner makes (--value-size <= 64 KiB), and the codec decodes and checks it.
template <class C, class Get>
R find_bytes(u64 k, u64* v, Get get) {
  static thread_local std::string buf(kChainValMax, '\0');
  u64 sz = 0;
  R r = st(get(C::key(k), buf.data(), buf.size(), &sz));
  if (r == R::yes) *v = C::read(k, std::string_view(buf.data(), sz));
  return r;
}

// --- the chain map (variants/chain) ------------------------------------------

template <class C>
class ChainAdapterT : public NoThreadState {
 public:
  static constexpr const char* kName = "chain";
  static constexpr const char* kWhat = "mapbench chained versioned map (seqlock chains, speculative reads), shared region";
  static constexpr bool kThreadSafe = true, kRegion = true;

  explicit ChainAdapterT(u64 capacity) {
    std::string why;
    // Address space only (MAP_NORESERVE): pages are touched as the map fills.
    u64 per_key = 256;
    if constexpr (C::kBytes) per_key = 512 + 2 * (C::key_size + C::value_size);
    u64 size = std::max<u64>(u64{1} << 30, (capacity * per_key + (u64{1} << 30)) & ~u64{4095});
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
  R find(u64 k, u64* v) {
    if constexpr (C::kBytes) {
      return find_bytes<C>(k, v, [&](const std::string& key, char* b, u64 cap, u64* sz) {
        return m_.find(bytes(key), b, cap, sz);
      });
    } else {
      return st(m_.find(k, v));
    }
  }
  R insert(u64 k, u64 v) { return st(m_.insert(kb(k), vb(v))); }
  R assign(u64 k, u64 v) {
    bool created = false;
    Status s = m_.insert_or_assign(kb(k), vb(v), &created);
    return s != Status::ok ? R::fail : yes_no(created);
  }
  R erase(u64 k) { return st(m_.erase(kb(k))); }
  R update(u64 k, u64 v) { return st(m_.update(kb(k), vb(v))); }
  // The key's chain and the next three, locked together: a short consistent walk.
  u64 scan(u64 k, unsigned n) {
    u64 idx = m_.hash(kb(k)) & (m_.chain_cnt() - 1), seen = 0;
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
  static Bytes bytes(const std::string& s) { return Bytes{s.data(), s.size()}; }
  static Bytes bytes(const u64& x) { return Bytes{&x, 8}; }
  // Views of the codec's (thread-local) key and value; a u64 stays in the
  // adapter for the call's duration.
  struct Held {
    typename C::Key x;
    operator Bytes() const { return bytes(x); }
  };
  static auto kb(u64 k) {
    if constexpr (C::kBytes) return bytes(C::key(k));
    else return Held{k};
  }
  static auto vb(u64 v) {
    if constexpr (C::kBytes) return bytes(C::val(v));
    else return Held{v};
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

// --- the rwlock map (variants/rwlock) ----------------------------------------

template <class C>
class RwAdapterT : public NoThreadState {
 public:
  static constexpr const char* kName = "rwlock";
  static constexpr const char* kWhat =
      "mapbench futex rwlock map (open addressing, seqlock readers, pid-carrying write lock), shared region";
  static constexpr bool kThreadSafe = true, kRegion = true;

  explicit RwAdapterT(u64 capacity) {
    RwParams p;
    u64 slots = 64;
    while (slots < capacity * 2) slots <<= 1;  // room to stay under 75% load without growing
    p.cap_init = slots;
    p.cap_max = std::max<u64>(p.cap_max, slots * 4);
    if constexpr (C::kBytes) p.arena_max = std::max<u64>(p.arena_max, 8 * capacity * (C::key_size + C::value_size));
    std::string why;
    if (RwStore::create_anon(p, &store_, &why) != Status::ok) {
      std::fprintf(stderr, "mapbench: rwlock: %s\n", why.c_str());
      std::exit(1);
    }
  }
  R find(u64 k, u64* v) {
    if constexpr (C::kBytes) {
      return find_bytes<C>(k, v, [&](const std::string& key, char* b, u64 cap, u64* sz) {
        return m().get(rb(key), b, cap, sz);
      });
    } else {
      return st(m().get(k, v));
    }
  }
  R insert(u64 k, u64 v) {
    if constexpr (C::kBytes) return st(m().add(rb(C::key(k)), rb(C::val(v))));
    else return st(m().add(k, v));
  }
  // swap() stores and says whether the key was there (not_found: inserted).
  R assign(u64 k, u64 v) {
    Status s;
    if constexpr (C::kBytes) {
      static thread_local std::string old(kChainValMax, '\0');
      u64 sz = 0;
      s = m().swap(rb(C::key(k)), rb(C::val(v)), old.data(), old.size(), &sz);
    } else {
      u64 old = 0;
      s = m().swap(k, v, &old);
    }
    return s == Status::not_found ? R::yes : s == Status::ok ? R::no : R::fail;
  }
  R erase(u64 k) {
    if constexpr (C::kBytes) return st(m().remove(rb(C::key(k))));
    else return st(m().remove(k));
  }
  R update(u64 k, u64 v) {
    if constexpr (C::kBytes) return st(m().update(rb(C::key(k)), rb(C::val(v))));
    else return st(m().update(k, v));
  }
  u64 size() { return m().size(); }
  bool verify(std::string* why) { return m().verify(why) == Status::ok; }
  u64 again() { return 0; }
  u64 bytes_used() { return m().stats().arena_used; }

 private:
  RwMap& m() { return store_->map(); }
  static RwBytes rb(const std::string& s) { return RwBytes{s.data(), s.size()}; }
  RwStore::Ptr store_;
};

// --- the robin-hood map (variants/robinhood) -------------------------------------

template <class C>
class RobinhoodAdapterT : public NoThreadState {
 public:
  static constexpr const char* kName = "robinhood";
  static constexpr const char* kWhat =
      "mapbench robin-hood map (lock-free finds, one writer lock, copy-on-write resize), shared region";
  static constexpr bool kThreadSafe = true, kRegion = true;

  explicit RobinhoodAdapterT(u64 capacity) {
    std::string why;
    u64 per_key = 256;
    if constexpr (C::kBytes) per_key = 512 + 2 * (C::key_size + C::value_size);
    u64 size = std::max<u64>(u64{1} << 30, (capacity * per_key + (u64{1} << 30)) & ~u64{4095});
    const unsigned flags = C::kBytes ? kRhBytes : 0;
    if (Region::create_anon({"mapbench.robinhood", 1, size, 0}, {}, &region_, &why) != Status::ok ||
        Allocator::create(region_, AllocParams(), &a_, &why) != Status::ok ||
        RhMap::create(a_, 2 * capacity, 1, &off_, &why, flags) != Status::ok ||
        RhMap::join(a_, off_, &m_, &why) != Status::ok) {
      std::fprintf(stderr, "mapbench: robinhood: %s\n", why.c_str());
      std::exit(1);
    }
  }
  void rejoin() {
    std::string why;
    if (Allocator::join(region_, &a_, &why) != Status::ok || RhMap::join(a_, off_, &m_, &why) != Status::ok) {
      std::fprintf(stderr, "mapbench: robinhood rejoin: %s\n", why.c_str());
      std::exit(1);
    }
  }
  R find(u64 k, u64* v) {
    if constexpr (C::kBytes) {
      return find_bytes<C>(k, v, [&](const std::string& key, char* b, u64 cap, u64* sz) {
        return m_.find(rb(key), b, cap, sz);
      });
    } else {
      return st(m_.find(k, v));
    }
  }
  R insert(u64 k, u64 v) {
    if constexpr (C::kBytes) return st(m_.insert(rb(C::key(k)), rb(C::val(v))));
    else return st(m_.insert(k, v));
  }
  R assign(u64 k, u64 v) {
    bool created = false;
    Status s;
    if constexpr (C::kBytes) s = m_.insert_or_assign(rb(C::key(k)), rb(C::val(v)), &created);
    else s = m_.insert_or_assign(k, v, &created);
    return s != Status::ok ? R::fail : yes_no(created);
  }
  R erase(u64 k) {
    if constexpr (C::kBytes) return st(m_.erase(rb(C::key(k))));
    else return st(m_.erase(k));
  }
  R update(u64 k, u64 v) {
    if constexpr (C::kBytes) return st(m_.update(rb(C::key(k)), rb(C::val(v))));
    else return st(m_.update(k, v));
  }
  u64 size() { return m_.size(); }
  bool verify(std::string* why) { return m_.verify(why) == Status::ok; }
  u64 again() { return 0; }
  u64 bytes_used() {
    AllocStats s{};
    return a_.verify(&s) == Status::ok ? s.slot_bytes : 0;
  }

 private:
  static RhBytes rb(const std::string& s) { return RhBytes{s.data(), s.size()}; }
  Region region_;
  Allocator a_;
  u64 off_ = 0;
  RhMap m_;
};

// --- oneTBB --------------------------------------------------------------------

template <class C>
class TbbAdapterT : public NoThreadState {
 public:
  static constexpr const char* kName = "tbb";
  static constexpr const char* kWhat = "oneapi::tbb::concurrent_hash_map (bucket locks, accessors)";
  static constexpr bool kThreadSafe = true, kRegion = false;
  using Map = tbb::concurrent_hash_map<typename C::Key, typename C::Val>;
  explicit TbbAdapterT(u64 capacity) : m_(capacity) {}
  R find(u64 k, u64* v) {
    typename Map::const_accessor acc;
    if (!m_.find(acc, C::key(k))) return R::no;
    *v = C::read(k, acc->second);
    return R::yes;
  }
  R insert(u64 k, u64 v) { return yes_no(m_.insert({C::key(k), C::val(v)})); }
  R assign(u64 k, u64 v) {
    typename Map::accessor acc;
    bool created = m_.insert(acc, C::key(k));
    acc->second = C::val(v);
    return yes_no(created);
  }
  R erase(u64 k) { return yes_no(m_.erase(C::key(k))); }
  R update(u64 k, u64 v) {
    typename Map::accessor acc;
    if (!m_.find(acc, C::key(k))) return R::no;
    acc->second = C::val(v);
    return R::yes;
  }
  u64 size() { return m_.size(); }
  bool verify(std::string*) { return true; }
  u64 again() { return 0; }

 private:
  Map m_;
};

// --- libcuckoo -------------------------------------------------------------------

template <class C>
class CuckooAdapterT : public NoThreadState {
 public:
  static constexpr const char* kName = "libcuckoo";
  static constexpr const char* kWhat = "libcuckoo::cuckoohash_map (bucketized cuckoo, striped locks)";
  static constexpr bool kThreadSafe = true, kRegion = false;
  explicit CuckooAdapterT(u64 capacity) : m_(capacity) {}
  R find(u64 k, u64* v) {
    return yes_no(m_.find_fn(C::key(k), [&](const typename C::Val& x) { *v = C::read(k, x); }));
  }
  R insert(u64 k, u64 v) { return yes_no(m_.insert(C::key(k), C::val(v))); }
  R assign(u64 k, u64 v) { return yes_no(m_.insert_or_assign(C::key(k), C::val(v))); }
  R erase(u64 k) { return yes_no(m_.erase(C::key(k))); }
  R update(u64 k, u64 v) { return yes_no(m_.update(C::key(k), C::val(v))); }
  u64 size() { return m_.size(); }
  bool verify(std::string*) { return true; }
  u64 again() { return 0; }

 private:
  libcuckoo::cuckoohash_map<typename C::Key, typename C::Val> m_;
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

template <class C>
class StdSharedMutexAdapterT : public NoThreadState {
 public:
  static constexpr const char* kName = "std_shared_mutex";
  static constexpr const char* kWhat = "std::unordered_map behind one std::shared_mutex (shared for finds)";
  static constexpr bool kThreadSafe = true, kRegion = false;
  explicit StdSharedMutexAdapterT(u64 capacity) { m_.reserve(capacity); }
  R find(u64 k, u64* v) {
    std::shared_lock g(mu_);
    auto it = m_.find(C::key(k));
    if (it == m_.end()) return R::no;
    *v = C::read(k, it->second);
    return R::yes;
  }
  R insert(u64 k, u64 v) {
    std::unique_lock g(mu_);
    return yes_no(m_.emplace(C::key(k), C::val(v)).second);
  }
  R assign(u64 k, u64 v) {
    std::unique_lock g(mu_);
    return yes_no(m_.insert_or_assign(C::key(k), C::val(v)).second);
  }
  R erase(u64 k) {
    std::unique_lock g(mu_);
    return yes_no(m_.erase(C::key(k)) != 0);
  }
  R update(u64 k, u64 v) {
    std::unique_lock g(mu_);
    auto it = m_.find(C::key(k));
    if (it == m_.end()) return R::no;
    it->second = C::val(v);
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
  std::unordered_map<typename C::Key, typename C::Val> m_;
};

// --- absl::flat_hash_map: the no-synchronization ceiling (1 thread) -----------------

template <class C>
class AbslAdapterT : public NoThreadState {
 public:
  static constexpr const char* kName = "absl_flat";
  static constexpr const char* kWhat = "absl::flat_hash_map with no synchronization (1 thread only: the ceiling)";
  static constexpr bool kThreadSafe = false, kRegion = false;
  explicit AbslAdapterT(u64 capacity) { m_.reserve(capacity); }
  R find(u64 k, u64* v) {
    auto it = m_.find(C::key(k));
    if (it == m_.end()) return R::no;
    *v = C::read(k, it->second);
    return R::yes;
  }
  R insert(u64 k, u64 v) { return yes_no(m_.emplace(C::key(k), C::val(v)).second); }
  R assign(u64 k, u64 v) { return yes_no(m_.insert_or_assign(C::key(k), C::val(v)).second); }
  R erase(u64 k) { return yes_no(m_.erase(C::key(k)) != 0); }
  R update(u64 k, u64 v) {
    auto it = m_.find(C::key(k));
    if (it == m_.end()) return R::no;
    it->second = C::val(v);
    return R::yes;
  }
  u64 size() { return m_.size(); }
  bool verify(std::string*) { return true; }
  u64 again() { return 0; }

 private:
  absl::flat_hash_map<typename C::Key, typename C::Val> m_;
};

// The u64 adapters, each with its byte-string twin (BytesVersion; libcds'
// maps are driven with u64 keys only).
#define MB_ADAPTER_PAIR(name, tmpl)             \
  struct name : tmpl<U64Codec> {                \
    using tmpl<U64Codec>::tmpl;                 \
    using BytesVersion = tmpl<StrCodec>;        \
  };
MB_ADAPTER_PAIR(ChainAdapter, ChainAdapterT)
MB_ADAPTER_PAIR(RwAdapter, RwAdapterT)
MB_ADAPTER_PAIR(RobinhoodAdapter, RobinhoodAdapterT)
MB_ADAPTER_PAIR(TbbAdapter, TbbAdapterT)
MB_ADAPTER_PAIR(CuckooAdapter, CuckooAdapterT)
MB_ADAPTER_PAIR(StdSharedMutexAdapter, StdSharedMutexAdapterT)
MB_ADAPTER_PAIR(AbslAdapter, AbslAdapterT)
#undef MB_ADAPTER_PAIR

// Every adapter, in report order: a visitor calls f.template operator()<A>().
template <class F>
void for_each_adapter(F&& f) {
  f.template operator()<ChainAdapter>();
  f.template operator()<RwAdapter>();
  f.template operator()<RobinhoodAdapter>();
  f.template operator()<TbbAdapter>();
  f.template operator()<CuckooAdapter>();
  f.template operator()<CdsMichaelAdapter>();
  f.template operator()<CdsFeldmanAdapter>();
  f.template operator()<StdSharedMutexAdapter>();
  f.template operator()<AbslAdapter>();
}

}  // namespace mb::harness

#endif  // MAPBENCH_HARNESS_ADAPTERS_H_
