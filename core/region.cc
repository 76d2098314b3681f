// Region: see core/region.h for the layout, the invariants (R1..R3) and the
// error contract. Only create, grow and destroy_file (which zeroes the magic
// before it unlinks) write to a region; join reads and maps.
#include "core/region.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/internal/hash.h"

namespace mb {
namespace {

Status fail(std::string* why, Status s, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
Status fail(std::string* why, Status s, const char* fmt, ...) {
  if (why != nullptr) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *why = buf;
  }
  return s;
}

// flock(fd, op) (LOCK_SH or LOCK_EX), waiting at most g_region_lock_wait_ms
// for a peer that holds a conflicting lock.
Status lock_file(int fd, int op, const std::string& path, std::string* why) {
  for (unsigned waited_ms = 0;; ++waited_ms) {
    if (flock(fd, op | LOCK_NB) == 0) return Status::ok;
    if (errno != EWOULDBLOCK && errno != EINTR)
      return fail(why, Status::invalid, "cannot lock %s: %s", path.c_str(), strerror(errno));
    if (waited_ms >= g_region_lock_wait_ms)
      return fail(why, Status::again,
                  "%s is locked by another process (creating, validating or destroying it) "
                  "for over %u ms",
                  path.c_str(), g_region_lock_wait_ms);
    usleep(1000);
  }
}

std::uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

void* map(int fd, std::uint64_t size_max, bool priv = false, bool read_only = false) {
  int flags = (priv ? MAP_PRIVATE : MAP_SHARED) | MAP_NORESERVE | (fd < 0 ? MAP_ANONYMOUS : 0);
  void* p = mmap(nullptr, size_max, read_only ? PROT_READ : PROT_READ | PROT_WRITE, flags, fd, 0);
  if (p == MAP_FAILED) return nullptr;
  if (priv) madvise(p, size_max, MADV_HUGEPAGE);  // advice only: failure is harmless
  return p;
}

std::string type_of(const RegionHeader& h) {
  std::size_t n = strnlen(h.type, kRegionTypeMax);
  return std::string(h.type, n);
}

}  // namespace

std::uint64_t region_header_check(const RegionHeader& h) {
  const char* first = reinterpret_cast<const char*>(&h.layout_version);
  const char* last = reinterpret_cast<const char*>(&h.check);
  return internal::hash_bytes(first, std::size_t(last - first), kRegionMagic);
}

Region& Region::operator=(Region&& o) noexcept {
  if (this != &o) {
    leave();
    base_ = o.base_;
    size_max_ = o.size_max_;
    fd_ = o.fd_;
    kind_ = o.kind_;
    read_only_ = o.read_only_;
    path_ = static_cast<std::string&&>(o.path_);
    o.base_ = nullptr;
    o.fd_ = -1;
    o.kind_ = RegionKind::none;
    o.read_only_ = false;
  }
  return *this;
}

void Region::leave() {
  if (base_ != nullptr) munmap(base_, size_max_);
  if (fd_ >= 0) close(fd_);
  base_ = nullptr;
  fd_ = -1;
  kind_ = RegionKind::none;
  read_only_ = false;
  size_max_ = 0;
  path_.clear();
}

std::uint64_t Region::size() const {
  // ORDER: acquire pairs with the release CAS in grow(): bytes below the size
  // we read are backed.
  return sync::word(base_, offsetof(RegionHeader, size)).load_acquire();
}

std::uint64_t Region::file_size() const {
  if (fd_ < 0) return size_max_;
  struct stat st;
  if (fstat(fd_, &st) != 0) return 0;
  return std::uint64_t(st.st_size);
}

sync::Ref<std::uint64_t> Region::root_off() const {
  return sync::word(base_, offsetof(RegionHeader, root_off));
}

Status Region::grow(std::uint64_t bytes) {
  if (read_only_) return Status::invalid;
  if (bytes > size_max_) return Status::full;
  if (fd_ >= 0) {
    // posix_fallocate only extends: a peer growing less at the same time can
    // never shrink the file under us (R3).
    int e = posix_fallocate(fd_, 0, off_t(bytes));
    if (e == ENOSPC || e == EFBIG) return Status::full;
    if (e != 0) return Status::invalid;
  }
  auto size = sync::word(base_, offsetof(RegionHeader, size));
  std::uint64_t cur = size.load_relaxed();
  // ORDER: release pairs with the acquire load in size().
  while (cur < bytes && !size.cas_release(cur, bytes)) {
  }
  return Status::ok;
}

Status Region::create_on_fd(int fd, RegionKind kind, const RegionSpec& spec,
                            const RegionInit& init, Region* out, std::string* why) {
  if (spec.type.empty() || spec.type.size() >= kRegionTypeMax)
    return fail(why, Status::invalid, "region type must be 1..%zu bytes", kRegionTypeMax - 1);
  if (spec.size_max < 2 * kRegionHeaderSize || spec.size_max % 4096 != 0 ||
      spec.size_max > kRegionSizeMax)
    return fail(why, Status::invalid,
                "size_max %" PRIu64 " must be a multiple of 4096 in [8192, 2^40]", spec.size_max);
  std::uint64_t size_init = spec.size_init ? spec.size_init : kRegionHeaderSize;
  if (size_init < kRegionHeaderSize || size_init > spec.size_max)
    return fail(why, Status::invalid, "size_init %" PRIu64 " must be in [4096, size_max]",
                size_init);
  if (fd >= 0) {
    int e = posix_fallocate(fd, 0, off_t(size_init));
    if (e != 0)
      return fail(why, e == ENOSPC ? Status::full : Status::invalid,
                  "cannot back %" PRIu64 " bytes: %s", size_init, strerror(e));
  }
  void* base = map(fd, spec.size_max, kind == RegionKind::priv);
  if (base == nullptr)
    return fail(why, Status::full, "mmap of %" PRIu64 " bytes failed: %s", spec.size_max,
                strerror(errno));

  auto* h = static_cast<RegionHeader*>(base);
  std::memset(h, 0, sizeof *h);
  h->layout_version = kRegionLayoutVersion;
  h->header_size = kRegionHeaderSize;
  std::memcpy(h->type, spec.type.data(), spec.type.size());
  h->type_version = spec.type_version;
  h->kind = std::uint32_t(kind);
  h->size_max = spec.size_max;
  h->user_off = kRegionHeaderSize;
  h->create_time_ns = now_ns();
  h->check = region_header_check(*h);
  h->size = size_init;

  Region r;
  r.base_ = base;
  r.size_max_ = spec.size_max;
  r.fd_ = fd;
  r.kind_ = kind;
  if (init) {
    Status s = init(r);
    if (s != Status::ok) {
      r.fd_ = -1;  // the caller owns fd on failure
      return fail(why, s, "region init failed: %s", to_string(s));
    }
  }
  // R1. ORDER: release, for whoever reads the magic through this mapping
  // (a fork child of an anonymous region reads the user's root word, which
  // its creator publishes the same way); file joiners read the header with
  // pread under the file lock and see a complete file anyway.
  sync::word(base, offsetof(RegionHeader, magic)).store_release(kRegionMagic);
  *out = static_cast<Region&&>(r);
  return Status::ok;
}

Status Region::create_anon(const RegionSpec& spec, const RegionInit& init, Region* out,
                           std::string* why) {
  return create_on_fd(-1, RegionKind::anon, spec, init, out, why);
}

Status Region::create_private(const RegionSpec& spec, const RegionInit& init, Region* out,
                              std::string* why) {
  return create_on_fd(-1, RegionKind::priv, spec, init, out, why);
}

Status Region::create_memfd(const RegionSpec& spec, const RegionInit& init, Region* out,
                            std::string* why) {
  int fd = memfd_create("mapbench-region", MFD_CLOEXEC);
  if (fd < 0) return fail(why, Status::invalid, "memfd_create failed: %s", strerror(errno));
  Status s = create_on_fd(fd, RegionKind::memfd, spec, init, out, why);
  if (s != Status::ok) close(fd);
  return s;
}

sync::atomic<std::uint64_t> g_region_temp_serial{0};

Status Region::create_file(const std::string& path, const RegionSpec& spec,
                           const RegionInit& init, Region* out, std::string* why,
                           unsigned mode) {
  // A name of our own: pid and serial. A process killed inside its init()
  // leaves its temporary file behind, and a later process given its pid
  // finds the name taken: it moves on to the next serial.
  std::string tmp;
  int fd = -1;
  for (int tries = 0; fd < 0 && tries < 1000; ++tries) {
    tmp = path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(g_region_temp_serial.fetch_add_relaxed(1));
    fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0)
    return fail(why, Status::invalid, "cannot create %s: %s", tmp.c_str(), strerror(errno));
  Region r;
  // Nobody else can hold a lock on a file this open just created.
  Status s = lock_file(fd, LOCK_EX, tmp, why);
  if (s == Status::ok) s = create_on_fd(fd, RegionKind::file, spec, init, &r, why);
  if (s != Status::ok) {
    close(fd);
    unlink(tmp.c_str());
    return s;
  }
  // Publish the complete file under its name; link() refuses to replace.
  int rc = link(tmp.c_str(), path.c_str());
  int e = errno;
  unlink(tmp.c_str());
  flock(r.fd_, LOCK_UN);  // published complete: joiners may validate it
  if (rc != 0)
    return fail(why, e == EEXIST ? Status::exists : Status::invalid, "cannot create %s: %s",
                path.c_str(), strerror(e));
  r.path_ = path;
  *out = static_cast<Region&&>(r);
  return Status::ok;
}

Status Region::open_file(const std::string& path, const RegionSpec& spec,
                         const RegionInit& init, Region* out, std::string* why) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (access(path.c_str(), F_OK) == 0) {
      Status s = join_file(path, spec.type, spec.type_version, out, why);
      if (s != Status::not_found) return s;  // else: a peer destroyed it meanwhile; create it
      continue;
    }
    Status s = create_file(path, spec, init, out, why);
    if (s != Status::exists) return s;  // else: a peer created it first; join theirs
  }
  return fail(why, Status::again, "%s keeps appearing and disappearing", path.c_str());
}

Status Region::join_file(const std::string& path, std::string_view type,
                         std::uint32_t type_version, Region* out, std::string* why) {
  return join_path(path, type, type_version, out, why, false);
}

Status Region::join_file_read_only(const std::string& path, std::string_view type,
                                   std::uint32_t type_version, Region* out, std::string* why) {
  return join_path(path, type, type_version, out, why, true);
}

Status Region::join_path(const std::string& path, std::string_view type, std::uint32_t type_version,
                         Region* out, std::string* why, bool read_only) {
  // O_NONBLOCK: a FIFO at the path would block the open until a writer
  // came (it changes nothing for a regular file).
  int fd = open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return fail(why, errno == ENOENT ? Status::not_found : Status::invalid, "cannot open %s: %s",
                path.c_str(), strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return fail(why, Status::invalid, "%s is not a regular file", path.c_str());
  }
  Status s = lock_file(fd, LOCK_SH, path, why);
  if (s != Status::ok) {
    close(fd);
    return s;
  }
  // A destroy_file() that held its exclusive lock while we waited for ours
  // has unlinked the file: gone, as if we had come after it (open_file()
  // then creates a new one).
  if (fstat(fd, &st) == 0 && st.st_nlink == 0) {
    close(fd);
    return fail(why, Status::not_found, "%s was destroyed while we opened it", path.c_str());
  }
  s = join_on_fd(fd, RegionKind::file, type, type_version, out, why, read_only);
  if (s != Status::ok) {
    close(fd);  // releases the lock
    if (why != nullptr) *why = path + ": " + *why;
    return s;
  }
  flock(fd, LOCK_UN);  // validated and mapped
  out->path_ = path;
  return s;
}

Status Region::join_fd(int fd, std::string_view type, std::uint32_t type_version, Region* out,
                       std::string* why) {
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return fail(why, Status::invalid, "bad descriptor %d: %s", fd, strerror(errno));
  Status s = join_on_fd(own, RegionKind::memfd, type, type_version, out, why);
  if (s != Status::ok) close(own);
  return s;
}

Status Region::join_on_fd(int fd, RegionKind kind, std::string_view type,
                          std::uint32_t type_version, Region* out, std::string* why, bool read_only) {
  // The header first, the file's size after: a peer's grow() extends the
  // file before it raises header.size (R3), so a size read after the header
  // covers it (read before, a concurrent grow looks like truncation).
  RegionHeader h;
  ssize_t got = pread(fd, &h, sizeof h, 0);
  if (got < 0) return fail(why, Status::invalid, "cannot read the region header: %s", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(why, Status::invalid, "fstat: %s", strerror(errno));
  std::uint64_t file_sz = std::uint64_t(st.st_size);
  if (file_sz < kRegionHeaderSize || got != ssize_t(sizeof h))
    return fail(why, Status::invalid,
                "truncated: %" PRIu64 " bytes, smaller than a region header (%" PRIu64 ")",
                file_sz, kRegionHeaderSize);
  if (h.magic != kRegionMagic)
    return fail(why, Status::invalid,
                h.magic == 0 ? "not a live mapbench region (magic is 0: destroyed or unfinished)"
                             : "not a mapbench region (bad magic)");
  if (h.layout_version != kRegionLayoutVersion)
    return fail(why, Status::invalid, "region layout version %u, this build reads %u",
                h.layout_version, kRegionLayoutVersion);
  if (h.check != region_header_check(h))
    return fail(why, Status::corrupt, "region header damaged (check mismatch)");
  if (h.header_size != kRegionHeaderSize || h.user_off != kRegionHeaderSize ||
      h.size_max % 4096 != 0 || h.size_max > kRegionSizeMax || h.size_max < 2 * kRegionHeaderSize)
    return fail(why, Status::corrupt, "region header fields out of range");
  std::string have = type_of(h);
  if (have != type)
    return fail(why, Status::invalid, "region holds '%s', expected '%.*s'", have.c_str(),
                int(type.size()), type.data());
  if (h.type_version != type_version)
    return fail(why, Status::invalid, "region '%s' has layout version %u, this build reads %u",
                have.c_str(), h.type_version, type_version);
  if (h.size < kRegionHeaderSize || h.size > h.size_max)
    return fail(why, Status::corrupt, "region size field %" PRIu64 " out of range", h.size);
  if (h.size > file_sz)
    return fail(why, Status::invalid,
                "truncated: file has %" PRIu64 " bytes, header says %" PRIu64 " are in use",
                file_sz, h.size);
  void* base = map(fd, h.size_max, false, read_only);
  if (base == nullptr)
    return fail(why, Status::full, "mmap of %" PRIu64 " bytes failed: %s", h.size_max,
                strerror(errno));
  out->leave();
  out->base_ = base;
  out->size_max_ = h.size_max;
  out->fd_ = fd;
  out->kind_ = kind;
  out->read_only_ = read_only;
  return Status::ok;
}

Status Region::destroy_file(const std::string& path, std::string_view type, std::string* why) {
  int fd = open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return fail(why, errno == ENOENT ? Status::not_found : Status::invalid, "cannot open %s: %s",
                path.c_str(), strerror(errno));
  // Held through the unlink: no join validates the file while it is taken
  // apart.
  Status locked = lock_file(fd, LOCK_EX, path, why);
  if (locked != Status::ok) {
    close(fd);
    return locked;
  }
  RegionHeader h;
  bool ok = pread(fd, &h, sizeof h, 0) == ssize_t(sizeof h) && h.magic == kRegionMagic &&
            h.check == region_header_check(h) && type_of(h) == type;
  if (!ok) {
    close(fd);
    return fail(why, Status::invalid, "%s is not a live region of type '%.*s'; left untouched",
                path.c_str(), int(type.size()), type.data());
  }
  std::uint64_t dead = 0;
  struct stat mine, named;
  const char* err = nullptr;
  // Joined peers mapping the file see magic 0 on their next join attempt.
  if (pwrite(fd, &dead, sizeof dead, 0) != ssize_t(sizeof dead))
    err = strerror(errno);
  // Unlink under the lock, and only the file we validated (not one another
  // process renamed into place meanwhile).
  else if (fstat(fd, &mine) != 0 || stat(path.c_str(), &named) != 0 || mine.st_dev != named.st_dev ||
           mine.st_ino != named.st_ino)
    err = "the name now points to another file";
  else if (unlink(path.c_str()) != 0)
    err = strerror(errno);
  close(fd);
  if (err != nullptr) return fail(why, Status::invalid, "cannot destroy %s: %s", path.c_str(), err);
  return Status::ok;
}

}  // namespace mb
