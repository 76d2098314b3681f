// Region: one contiguous memory mapping that holds a structure's whole state.
//
// A region is anonymous shared memory (inherited by fork children), a memfd
// (shared by passing the descriptor), or a file mapped MAP_SHARED (shared by
// path). Nothing inside a region is a raw pointer: everything refers to
// everything else by byte offset from the region's start, so processes may map
// it at different addresses and a file may be copied and re-joined.
//
// Layout (offsets in bytes):
//
//   0     RegionHeader (below), kHeaderSize bytes reserved
//   4096  user area: the owner (allocator, map) formats it in `init`
//   ...   up to size_max; only the first `size` bytes are backed
//
// The mapping always covers size_max bytes (MAP_NORESERVE); backing grows with
// grow(), which only ever extends a file (posix_fallocate), so a peer's mapping
// stays valid. Touching bytes beyond `size` in a file region would raise
// SIGBUS: owners keep every offset they follow below size().
//
// Invariants:
//   R1  magic == kRegionMagic only once the header and the user area's `init`
//       are complete (create writes it last, with release order; a file is
//       linked into place only after that).
//   R2  check == hash(immutable header fields); a mismatch means damage.
//   R3  header.size <= file size and header.size <= size_max, size only grows.
//
// File locks (flock, advisory, released by the kernel when the holder dies,
// so a crashed process never leaves one behind): create holds LOCK_EX on the
// new file from its open until it is linked into place; join holds LOCK_SH
// while it validates the header and maps the file; destroy holds LOCK_EX
// while it validates, marks the region dead and unlinks it. So a join never
// validates a file a destroy is taking apart (it fails cleanly, before or
// after), and two joins validate in parallel. A lock still held by a peer
// after g_region_lock_wait_ms gives Status::again with a message.
//
// create_* formats a new region and runs `init` on it before publishing it.
// join_* validates a region and changes nothing in it when validation fails:
// a truncated file, a wrong magic, layout version or type, or damaged header
// fields all return Status::invalid or Status::corrupt with a message.
#ifndef MAPBENCH_CORE_REGION_H_
#define MAPBENCH_CORE_REGION_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/sync.h"

namespace mb {

inline constexpr std::uint64_t kRegionMagic = 0x314e4745524d424dULL;  // "MBMREGN1"
inline constexpr std::uint32_t kRegionLayoutVersion = 1;
inline constexpr std::uint64_t kRegionHeaderSize = 4096;
inline constexpr std::size_t kRegionTypeMax = 32;
inline constexpr std::uint64_t kRegionSizeMax = std::uint64_t{1} << 40;  // 1 TiB
// How long join/destroy wait for a peer's file lock (milliseconds; tests may
// lower it, before starting threads).
inline unsigned g_region_lock_wait_ms = 2000;
// The serial in create_file()'s temporary names (path.tmp.<pid>.<serial>),
// per process; a fork child inherits its parent's count (a test resets it).
// Defined in region.cc: a header definition would be constructed in every
// program including this header, the Relacy models too, where it is a
// model atomic that must not exist outside a model run.
extern sync::atomic<std::uint64_t> g_region_temp_serial;

struct RegionHeader {
  std::uint64_t magic;           // kRegionMagic (R1)
  std::uint32_t layout_version;  // kRegionLayoutVersion
  std::uint32_t header_size;     // kRegionHeaderSize
  char type[kRegionTypeMax];     // what lives here, NUL-padded ("mapbench.alloc")
  std::uint32_t type_version;    // the owner's own layout version
  std::uint32_t kind;            // RegionKind at creation
  std::uint64_t size_max;        // bytes every join maps
  std::uint64_t user_off;        // first byte of the user area
  std::uint64_t create_time_ns;  // CLOCK_REALTIME at creation
  std::uint64_t check;           // R2: hash of layout_version..create_time_ns
  // Mutable words, accessed through sync::Ref only:
  std::uint64_t size;            // bytes backed (R3)
  std::uint64_t root_off;        // owner's root object, 0 = none
};
static_assert(sizeof(RegionHeader) <= kRegionHeaderSize);

enum class RegionKind : std::uint32_t { none = 0, anon = 1, memfd = 2, file = 3, priv = 4 };

struct RegionSpec {
  std::string_view type;           // at most kRegionTypeMax - 1 bytes
  std::uint32_t type_version = 1;
  std::uint64_t size_max = 0;      // mapped bytes, multiple of 4096
  std::uint64_t size_init = 0;     // initially backed bytes (>= kRegionHeaderSize)
};

class Region;
using RegionInit = std::function<Status(Region&)>;

class Region {
 public:
  Region() = default;
  ~Region() { leave(); }
  Region(Region&& o) noexcept { *this = static_cast<Region&&>(o); }
  Region& operator=(Region&& o) noexcept;
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  // Each create runs `init` (may be empty) on the new region before
  // publishing its magic. `why` (optional) receives a message on failure.
  static Status create_anon(const RegionSpec& spec, const RegionInit& init, Region* out,
                            std::string* why = nullptr);
  // Private anonymous memory (MAP_PRIVATE, transparent huge pages advised):
  // for one process's threads only (a fork child gets a copy, not a share).
  // Kernels that never give huge pages to shared memory (shmem_enabled =
  // never) still give them here, as they do to malloc'd memory.
  static Status create_private(const RegionSpec& spec, const RegionInit& init, Region* out,
                               std::string* why = nullptr);
  static Status create_memfd(const RegionSpec& spec, const RegionInit& init, Region* out,
                             std::string* why = nullptr);
  // Fails with Status::exists when `path` exists. The file appears at `path`
  // only once complete (it is built under a temporary name and linked).
  static Status create_file(const std::string& path, const RegionSpec& spec,
                            const RegionInit& init, Region* out, std::string* why = nullptr,
                            unsigned mode = 0600);
  // Create-or-join: joins `path` if it exists, else creates it.
  static Status open_file(const std::string& path, const RegionSpec& spec,
                          const RegionInit& init, Region* out, std::string* why = nullptr);
  // Join an existing region; `type`/`type_version` must match the header.
  static Status join_file(const std::string& path, std::string_view type,
                          std::uint32_t type_version, Region* out, std::string* why = nullptr);
  static Status join_fd(int fd, std::string_view type, std::uint32_t type_version, Region* out,
                        std::string* why = nullptr);
  // Join read-only: the file is opened O_RDONLY (read permission is enough)
  // and mapped PROT_READ, so a store through the mapping would fault. Only
  // read paths may run on it: grow() returns Status::invalid, an Allocator
  // joined on it refuses to allocate or free (Status::invalid), and maps
  // joined through that allocator refuse their writers.
  static Status join_file_read_only(const std::string& path, std::string_view type,
                                    std::uint32_t type_version, Region* out, std::string* why = nullptr);
  // Validates that `path` is a region of `type`, marks it dead (magic = 0) and
  // unlinks it. Joined peers keep their mapping until they leave.
  static Status destroy_file(const std::string& path, std::string_view type,
                             std::string* why = nullptr);

  // Unmap and close. Safe to call twice.
  void leave();

  // Make at least `bytes` of the region backed. Status::full if bytes >
  // size_max or the file system has no room; never shrinks.
  Status grow(std::uint64_t bytes);

  bool joined() const { return base_ != nullptr; }
  bool read_only() const { return read_only_; }
  void* base() const { return base_; }
  RegionKind kind() const { return kind_; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  std::uint64_t size_max() const { return size_max_; }
  std::uint64_t user_off() const { return kRegionHeaderSize; }
  std::uint64_t size() const;              // bytes backed, from the header
  std::uint64_t file_size() const;         // bytes the fd really holds (fstat)
  sync::Ref<std::uint64_t> root_off() const;  // the owner's root object word

  template <class T>
  T* at(std::uint64_t off) const {
    return reinterpret_cast<T*>(static_cast<char*>(base_) + off);
  }

 private:
  static Status create_on_fd(int fd, RegionKind kind, const RegionSpec& spec,
                             const RegionInit& init, Region* out, std::string* why);
  static Status join_on_fd(int fd, RegionKind kind, std::string_view type,
                           std::uint32_t type_version, Region* out, std::string* why,
                           bool read_only = false);
  static Status join_path(const std::string& path, std::string_view type, std::uint32_t type_version,
                          Region* out, std::string* why, bool read_only);

  void* base_ = nullptr;
  std::uint64_t size_max_ = 0;
  int fd_ = -1;
  RegionKind kind_ = RegionKind::none;
  bool read_only_ = false;
  std::string path_;
};

// The header's check value (R2) over its immutable fields.
std::uint64_t region_header_check(const RegionHeader& h);

}  // namespace mb

#endif  // MAPBENCH_CORE_REGION_H_
