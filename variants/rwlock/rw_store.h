// RwStore: an RwMap in a region of its own (core/region.h): a file mapped
// MAP_SHARED (shared by path), anonymous shared memory (shared with fork
// children) or a memfd (shared by descriptor). The map's header sits at the
// region's user area and is named by the region's root word.
//
// Files are created complete under a temporary name and linked into place
// (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 by default; core/region.h), under an
// exclusive flock until published; joining validates under a shared flock,
// so it never races a destroy (core/region.h, file locks). Joining
// validates the region header (magic, layout version, type, check, size
// against the file) and then the map header, and writes nothing on failure:
// a truncated, foreign, other-version or damaged file gives Status::invalid
// or Status::corrupt with a message and stays byte-identical.
#ifndef MAPBENCH_VARIANTS_RWLOCK_RW_STORE_H_
#define MAPBENCH_VARIANTS_RWLOCK_RW_STORE_H_

#include <memory>
#include <string>

#include "core/region.h"
#include "core/status.h"
#include "variants/rwlock/rw_map.h"

namespace mb {

inline constexpr const char* kRwRegionType = "mapbench.rwlock";
inline constexpr std::uint32_t kRwRegionVersion = 1;

class RwStore {
 public:
  using Ptr = std::unique_ptr<RwStore>;
  static Status create_anon(const RwParams& p, Ptr* out, std::string* why = nullptr);
  static Status create_memfd(const RwParams& p, Ptr* out, std::string* why = nullptr);
  static Status create_file(const std::string& path, const RwParams& p, Ptr* out,
                            std::string* why = nullptr, unsigned mode = 0600);
  // Join `path` if it exists, else create it with `p`.
  static Status open_file(const std::string& path, const RwParams& p, Ptr* out,
                          std::string* why = nullptr);
  static Status join_file(const std::string& path, Ptr* out, std::string* why = nullptr);
  static Status join_fd(int fd, Ptr* out, std::string* why = nullptr);

  RwMap& map() { return map_; }
  Region& region() { return region_; }

  RwStore(const RwStore&) = delete;
  RwStore& operator=(const RwStore&) = delete;

 private:
  RwStore() = default;
  static Status grow(void* ctx, std::uint64_t bytes);
  static std::uint64_t backed(void* ctx);  // the region's backed size (RwMap::join_backed)
  static RegionSpec spec(const RwParams& p);
  static RegionInit init(const RwParams& p, std::string* why);
  static Status finish(Region&& r, Ptr* out, std::string* why);

  Region region_;
  RwMap map_;
};

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_RWLOCK_RW_STORE_H_
