// RwShards: 2^k RwMaps (shards) in one region behind one handle. A key's
// shard is picked by the HIGH bits of its hash; inside the shard the low bits
// pick the slot, so the two choices are independent. Each shard has its own
// write lock, seqlock and table: writers to different shards do not contend.
//
// LAYOUT (bytes from the region's base):
//   0      region header (core/region.h)
//   4096   directory: 0 magic "MBRWSHD1"  1 layout version  2 shard_log2
//          3 window (bytes per shard)  4 check = hash(words 1..3)
//   8192 + i * window   shard i's map header; the shard may use memory up to
//          the end of its window (RwMap's mem_max), never beyond.
// The directory is written before the region's magic is published and never
// changes; joining validates it (and each shard's header) and writes nothing.
//
// Per-shard operations are reached through map_for(key); the map concept's
// operations are forwarded. size() sums the shards (exact when quiescent);
// verify() verifies every shard and checks that each key lives in its shard.
#ifndef MAPBENCH_VARIANTS_RWLOCK_RW_SHARDS_H_
#define MAPBENCH_VARIANTS_RWLOCK_RW_SHARDS_H_

#include <memory>
#include <string>
#include <vector>

#include "core/region.h"
#include "core/status.h"
#include "variants/rwlock/rw_map.h"

namespace mb {

inline constexpr const char* kRwShardsRegionType = "mapbench.rwshards";
inline constexpr std::uint64_t kRwShardsMagic = 0x314448535752424dULL;  // "MBRWSHD1"
inline constexpr unsigned kRwShardLog2Max = 10;

class RwShards {
 public:
  using Ptr = std::unique_ptr<RwShards>;
  // `p` is per shard; shard_cnt is a power of two in [1, 2^kRwShardLog2Max].
  static Status create_anon(const RwParams& p, unsigned shard_cnt, Ptr* out, std::string* why = nullptr);
  static Status create_file(const std::string& path, const RwParams& p, unsigned shard_cnt, Ptr* out,
                            std::string* why = nullptr);
  static Status join_file(const std::string& path, Ptr* out, std::string* why = nullptr);
  // Anonymous memory a peer joins through the descriptor (region().fd()).
  static Status create_memfd(const RwParams& p, unsigned shard_cnt, Ptr* out, std::string* why = nullptr);
  static Status join_fd(int fd, Ptr* out, std::string* why = nullptr);
  // Join the file at path, or create it (with p and shard_cnt) when there is
  // none; an existing file keeps its own parameters and shard count.
  static Status open_file(const std::string& path, const RwParams& p, unsigned shard_cnt, Ptr* out,
                          std::string* why = nullptr);
  Region& region() { return region_; }

  unsigned shard_cnt() const { return unsigned(maps_.size()); }
  RwMap& shard(unsigned i) { return maps_[i]; }
  unsigned shard_of(RwBytes key) const;
  RwMap& map_for(RwBytes key) { return maps_[shard_of(key)]; }
  RwMap& map_for(const std::uint64_t& k) { return map_for(RwBytes{&k, 8}); }
  const RwMap& map_for(const std::uint64_t& k) const { return maps_[shard_of(RwBytes{&k, 8})]; }

  // Byte strings with the key hashed once: the hash picks the shard and the
  // slot inside it (every shard has one seed: join checks it); otherwise as
  // RwMap::get / put.
  Status get(RwBytes key, void* buf, std::uint64_t cap, std::uint64_t* val_sz) const;
  Status put(RwBytes key, RwBytes val);

  // The map concept (core/map_concept.h), forwarded to the key's shard.
  Status insert(std::uint64_t k, std::uint64_t v) { return map_for(k).add(k, v); }
  Status insert_or_assign(std::uint64_t k, std::uint64_t v) { return map_for(k).put(k, v); }
  Status update(std::uint64_t k, std::uint64_t v) { return map_for(k).update(k, v); }
  Status find(std::uint64_t k, std::uint64_t* v) const { return map_for(k).get(k, v); }
  Status erase(std::uint64_t k) { return map_for(k).remove(k); }
  // pop / drain over all shards: shard 0 first, then the next (each in its
  // own pop order); not_found when every shard is empty.
  Status pop(std::uint64_t* k, std::uint64_t* v);
  Status drain(std::uint64_t n, RwMap::Visit visit, void* ctx, std::uint64_t* removed);
  std::uint64_t size() const;
  // Every shard's statistics together: counters and arena bytes summed,
  // `backed` the furthest any shard has backed (they share one region).
  RwMap::Stats stats() const;
  Status verify(std::string* why) const;
  Status verify() const { return verify(nullptr); }

  RwShards(const RwShards&) = delete;
  RwShards& operator=(const RwShards&) = delete;

 private:
  RwShards() = default;
  unsigned shard_of_hash(std::uint64_t h) const;  // the shard of a key with hash h
  static RegionSpec spec(const RwParams& p, unsigned shard_cnt);
  static RegionInit init(const RwParams& p, unsigned shard_cnt, std::string* why);
  static Status finish(Region&& r, Ptr* out, std::string* why);
  static Status attach(Status made, Region&& r, Ptr* out, std::string* why);
  static Status grow(void* ctx, std::uint64_t bytes);
  static std::uint64_t backed(void* ctx);  // the region's backed size (RwMap::join_backed)

  Region region_;
  std::vector<RwMap> maps_;
  unsigned shard_log2_ = 0;
};

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_RWLOCK_RW_SHARDS_H_
