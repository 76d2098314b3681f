// RwShards: see rw_shards.h for the layout.
#include "variants/rwlock/rw_shards.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "core/internal/hash.h"

namespace mb {
namespace {

using u64 = std::uint64_t;
constexpr u64 kDirOff = kRegionHeaderSize;
constexpr u64 kShard0Off = kDirOff + 4096;
constexpr u64 kShardsVersion = 1;

u64 window_of(const RwParams& p) { return (RwMap::mem_needed(0, p) + 4095) & ~u64{4095}; }

u64 dir_check(const u64* w) { return internal::hash_bytes(w + 1, 3 * 8, kRwShardsMagic); }

Status fail(std::string* why, Status s, const std::string& msg) {
  if (why != nullptr) *why = msg;
  return s;
}

}  // namespace

Status RwShards::grow(void* ctx, u64 bytes) { return static_cast<Region*>(ctx)->grow(bytes); }
u64 RwShards::backed(void* ctx) { return static_cast<const Region*>(ctx)->size(); }

RegionSpec RwShards::spec(const RwParams& p, unsigned shard_cnt) {
  return RegionSpec{kRwShardsRegionType, 1, kShard0Off + shard_cnt * window_of(p), kShard0Off + 4096};
}

RegionInit RwShards::init(const RwParams& p, unsigned shard_cnt, std::string* why) {
  return [p, shard_cnt, why](Region& r) {
    unsigned log2 = 0;
    while ((1u << log2) < shard_cnt) ++log2;
    if ((1u << log2) != shard_cnt || log2 > kRwShardLog2Max)
      return fail(why, Status::invalid, "shard count must be a power of two <= 1024");
    u64 window = window_of(p);
    for (unsigned i = 0; i < shard_cnt; ++i) {
      u64 hdr = kShard0Off + i * window;
      RwMap m;
      Status s = r.grow(hdr + kRwHeaderSize);  // format writes the header first
      if (s != Status::ok) return fail(why, s, "cannot back shard " + std::to_string(i));
      s = RwMap::format(r.base(), hdr, hdr + window, p, &RwShards::grow, &r, &m, why);
      if (s != Status::ok) return s;
    }
    // Not yet shared (the region's magic publishes it): relaxed stores.
    u64 w[5] = {kRwShardsMagic, kShardsVersion, log2, window, 0};
    w[4] = dir_check(w);
    for (u64 i = 0; i < 5; ++i) sync::word(r.base(), kDirOff + 8 * i).store_relaxed(w[i]);
    r.root_off().store_release(kDirOff);
    return Status::ok;
  };
}

Status RwShards::finish(Region&& r, Ptr* out, std::string* why) {
  Ptr st(new RwShards());
  st->region_ = std::move(r);
  Region& reg = st->region_;
  if (reg.root_off().load_acquire() != kDirOff || reg.size() < kShard0Off)
    return fail(why, Status::corrupt, "region holds no shard directory");
  u64 w[5];
  for (u64 i = 0; i < 5; ++i) w[i] = sync::word(reg.base(), kDirOff + 8 * i).load_acquire();
  if (w[0] != kRwShardsMagic) return fail(why, Status::invalid, "not an rwlock shard directory (bad magic)");
  if (w[1] != kShardsVersion)
    return fail(why, Status::invalid, "shard directory layout version " + std::to_string(w[1]));
  if (w[4] != dir_check(w)) return fail(why, Status::corrupt, "shard directory damaged (check mismatch)");
  if (w[2] > kRwShardLog2Max || w[3] % 4096 != 0 || kShard0Off + (w[3] << w[2]) > reg.size_max())
    return fail(why, Status::corrupt, "shard directory fields out of range");
  st->shard_log2_ = unsigned(w[2]);
  st->maps_.resize(std::size_t{1} << w[2]);
  for (u64 i = 0; i < st->maps_.size(); ++i) {
    std::string m_why;
    Status s = RwMap::join_backed(reg.base(), kShard0Off + i * w[3], &RwShards::backed, &RwShards::grow, &reg,
                                  &st->maps_[i], &m_why);
    if (s != Status::ok) return fail(why, s, "shard " + std::to_string(i) + ": " + m_why);
    // One seed for all (as created): get / put hash a key once for both the
    // shard and the slot.
    if (st->maps_[i].seed() != st->maps_[0].seed())
      return fail(why, Status::corrupt, "shard " + std::to_string(i) + " has another hash seed than shard 0");
  }
  *out = std::move(st);
  return Status::ok;
}

// Every constructor: make the region (`made` is its status), then attach.
Status RwShards::attach(Status made, Region&& r, Ptr* out, std::string* why) {
  return made == Status::ok ? finish(std::move(r), out, why) : made;
}

Status RwShards::create_anon(const RwParams& p, unsigned shard_cnt, Ptr* out, std::string* why) {
  Region r;
  return attach(Region::create_anon(spec(p, shard_cnt), init(p, shard_cnt, why), &r, why), std::move(r), out, why);
}

Status RwShards::create_file(const std::string& path, const RwParams& p, unsigned shard_cnt, Ptr* out,
                             std::string* why) {
  Region r;
  return attach(Region::create_file(path, spec(p, shard_cnt), init(p, shard_cnt, why), &r, why), std::move(r),
                out, why);
}

Status RwShards::open_file(const std::string& path, const RwParams& p, unsigned shard_cnt, Ptr* out,
                           std::string* why) {
  Region r;
  return attach(Region::open_file(path, spec(p, shard_cnt), init(p, shard_cnt, why), &r, why), std::move(r),
                out, why);
}

Status RwShards::create_memfd(const RwParams& p, unsigned shard_cnt, Ptr* out, std::string* why) {
  Region r;
  return attach(Region::create_memfd(spec(p, shard_cnt), init(p, shard_cnt, why), &r, why), std::move(r), out, why);
}

Status RwShards::join_file(const std::string& path, Ptr* out, std::string* why) {
  Region r;
  return attach(Region::join_file(path, kRwShardsRegionType, 1, &r, why), std::move(r), out, why);
}

Status RwShards::join_fd(int fd, Ptr* out, std::string* why) {
  Region r;
  return attach(Region::join_fd(fd, kRwShardsRegionType, 1, &r, why), std::move(r), out, why);
}

RwMap::Stats RwShards::stats() const {
  RwMap::Stats t{};
  for (const RwMap& m : maps_) {
    RwMap::Stats s = m.stats();
    t.write_recoveries += s.write_recoveries;
    t.read_recoveries += s.read_recoveries;
    t.seq_repairs += s.seq_repairs;
    t.grows += s.grows;
    t.rehashes += s.rehashes;
    t.shrinks += s.shrinks;
    t.move_repairs += s.move_repairs;
    t.evictions += s.evictions;
    t.expirations += s.expirations;
    t.arena_used += s.arena_used;
    t.arena_capacity += s.arena_capacity;
    t.backed = std::max(t.backed, s.backed);
  }
  return t;
}

Status RwShards::get(RwBytes key, void* buf, u64 cap, u64* val_sz) const {
  if (key.size == 0 || key.size > kRwKeyMax) return Status::invalid;
  const u64 h = maps_[0].hash(key);  // every shard's (one seed: checked at join)
  return maps_[shard_of_hash(h)].get_hashed(key, h, buf, cap, val_sz);
}

Status RwShards::put(RwBytes key, RwBytes val) {
  if (key.size == 0 || key.size > kRwKeyMax) return Status::invalid;
  const u64 h = maps_[0].hash(key);  // every shard's (one seed: checked at join)
  return maps_[shard_of_hash(h)].put_hashed(key, h, val);
}

unsigned RwShards::shard_of(RwBytes key) const { return shard_of_hash(maps_[0].hash(key)); }

unsigned RwShards::shard_of_hash(u64 h) const {
  // The HIGH hash bits: the low ones pick the slot inside the shard.
  return shard_log2_ == 0 ? 0u : unsigned(h >> (64 - shard_log2_));
}

u64 RwShards::size() const {
  u64 n = 0;
  for (const RwMap& m : maps_) n += m.size();
  return n;
}

Status RwShards::verify(std::string* why) const {
  for (unsigned i = 0; i < maps_.size(); ++i) {
    std::string m_why;
    if (maps_[i].verify(&m_why) != Status::ok)
      return fail(why, Status::corrupt, "shard " + std::to_string(i) + ": " + m_why);
    struct Ctx {
      const RwShards* self;
      unsigned shard;
      bool misplaced;
    } ctx{this, i, false};
    maps_[i].for_each([](void* c, RwBytes k, RwBytes) {
      auto* x = static_cast<Ctx*>(c);
      x->misplaced |= x->self->shard_of(k) != x->shard;
    }, &ctx);
    if (ctx.misplaced) return fail(why, Status::corrupt, "shard " + std::to_string(i) + " holds another shard's key");
  }
  return Status::ok;
}

Status RwShards::pop(std::uint64_t* k, std::uint64_t* v) {
  for (RwMap& m : maps_) {
    Status s = m.pop(k, v);
    if (s != Status::not_found) return s;
  }
  return Status::not_found;
}

Status RwShards::drain(std::uint64_t n, RwMap::Visit visit, void* ctx, std::uint64_t* removed) {
  std::uint64_t total = 0;
  for (RwMap& m : maps_) {
    std::uint64_t got = 0;
    Status s = m.drain(n - total, visit, ctx, &got);
    total += got;
    if (s != Status::ok) {
      if (removed != nullptr) *removed = total;
      return s;
    }
    if (total == n) break;
  }
  if (removed != nullptr) *removed = total;
  return Status::ok;
}

}  // namespace mb
