// RwStore: see rw_store.h.
#include "variants/rwlock/rw_store.h"

#include <utility>

namespace mb {

Status RwStore::grow(void* ctx, std::uint64_t bytes) { return static_cast<Region*>(ctx)->grow(bytes); }
std::uint64_t RwStore::backed(void* ctx) { return static_cast<const Region*>(ctx)->size(); }

RegionSpec RwStore::spec(const RwParams& p) {
  std::uint64_t need = RwMap::mem_needed(kRegionHeaderSize, p);
  return RegionSpec{kRwRegionType, kRwRegionVersion, (need + 4095) & ~std::uint64_t{4095},
                    kRegionHeaderSize + 4096};
}

RegionInit RwStore::init(const RwParams& p, std::string* why) {
  return [p, why](Region& r) {
    RwMap m;
    Status s = RwMap::format(r.base(), r.user_off(), r.size_max(), p, &RwStore::grow, &r, &m, why);
    // ORDER: release pairs with the acquire root load in finish() (fork
    // children of an anonymous region); files are published complete.
    if (s == Status::ok) r.root_off().store_release(r.user_off());
    return s;
  };
}

Status RwStore::finish(Region&& r, Ptr* out, std::string* why) {
  Ptr st(new RwStore());
  st->region_ = std::move(r);
  Region& reg = st->region_;
  std::uint64_t root = reg.root_off().load_acquire();
  if (root != reg.user_off()) {
    if (why != nullptr) *why = "region holds no rwlock map (root offset " + std::to_string(root) + ")";
    return Status::corrupt;
  }
  Status s = RwMap::join_backed(reg.base(), root, &RwStore::backed, &RwStore::grow, &reg, &st->map_, why);
  if (s != Status::ok) return s;
  *out = std::move(st);
  return Status::ok;
}

Status RwStore::create_anon(const RwParams& p, Ptr* out, std::string* why) {
  Region r;
  Status s = Region::create_anon(spec(p), init(p, why), &r, why);
  return s == Status::ok ? finish(std::move(r), out, why) : s;
}

Status RwStore::create_memfd(const RwParams& p, Ptr* out, std::string* why) {
  Region r;
  Status s = Region::create_memfd(spec(p), init(p, why), &r, why);
  return s == Status::ok ? finish(std::move(r), out, why) : s;
}

Status RwStore::create_file(const std::string& path, const RwParams& p, Ptr* out, std::string* why,
                            unsigned mode) {
  Region r;
  Status s = Region::create_file(path, spec(p), init(p, why), &r, why, mode);
  return s == Status::ok ? finish(std::move(r), out, why) : s;
}

Status RwStore::open_file(const std::string& path, const RwParams& p, Ptr* out, std::string* why) {
  Region r;
  Status s = Region::open_file(path, spec(p), init(p, why), &r, why);
  return s == Status::ok ? finish(std::move(r), out, why) : s;
}

Status RwStore::join_file(const std::string& path, Ptr* out, std::string* why) {
  Region r;
  Status s = Region::join_file(path, kRwRegionType, kRwRegionVersion, &r, why);
  return s == Status::ok ? finish(std::move(r), out, why) : s;
}

Status RwStore::join_fd(int fd, Ptr* out, std::string* why) {
  Region r;
  Status s = Region::join_fd(fd, kRwRegionType, kRwRegionVersion, &r, why);
  return s == Status::ok ? finish(std::move(r), out, why) : s;
}

}  // namespace mb
