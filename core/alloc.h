// mapbench's one allocator: lock-free, size-classed, offset-addressed, shared
// by processes. All three map variants allocate elements, keys and values here.
//
// ALGORITHM. Memory comes in volumes (vol_sz bytes each, carved from the
// region; more can be added while in use). Every object lives in a superblock
// of up to 64 equal slots of one size class; a superblock is itself an object
// of a larger "parent" class, or fills a whole volume when no class is large
// enough. Each superblock keeps a 64-bit free bitfield. For each (size class,
// concurrency group) there is one active-superblock slot, and for each class a
// versioned lock-free stack of inactive superblocks. A thread allocating in
// class c takes the active slot's superblock by atomic exchange (so it owns it
// alone), else pops one from the inactive stack, else carves a new one out of
// the parent class (recursively) or a volume; with no volume left either, it
// takes the other groups' active superblocks of class c in turn before it
// returns full (free slots there are not stranded). It claims a free bit and, if
// bits remain, exchanges the superblock back into the active slot (pushing
// whatever it displaced onto the inactive stack). A superblock whose last free
// bit was claimed leaves circulation; the free() that sets its first bit again
// puts it back. A free() that leaves its superblock completely free pops one
// inactive superblock and, if that one is completely free, releases it to its
// parent class (or returns its volume): memory flows back up.
// Re-designed from the description of Firedancer's groove data allocator.
//
// LAYOUT (byte offsets from the region base; every word is a u64 accessed
// through core/sync.h):
//
//   Allocator header at hdr_off (word index: meaning):
//     0 magic "MBALLOC1"          1 layout version     2 vol0_off
//     3 vol_sz                    4 vol_max            5 cgroup_cnt
//     6 szc_cnt                   7 check (hash of words 1..6 + class table)
//     8 vol_cnt (atomic)          9 vol_free stack head (atomic, see ops)
//     10 superblocks carved      11 superblocks released  12 volumes added
//     16 .. 16+szc_cnt-1          class table: footprint:32 | obj_cnt:8 <<32 | parent:8 <<40
//     then inactive[szc]          inactive-stack heads: version:32 | (sb_off >> 4):32
//     then active[cg][szc]        active superblock offset or 0; each group's
//                                 row padded to 64 bytes (no false sharing)
//
//   Volume v at vol0_off + v * vol_sz (64-aligned): one superblock.
//
//   Superblock at sb (16-aligned), 64-byte header then the slots:
//     +0  hdr0   object header word 0 of the slot it fills (type 'S')
//     +8  hdr1   object header word 1: tag = the superblock's own class
//     +16 bits   bit i set <=> slot i is free
//     +24 link   next item while on a stack (sb_off >> 4, or vol_idx + 1)
//     +64 + i * footprint: slot i
//
//   Object header (2 words at the slot's start):
//     hdr0  [7:0] type ('O' live, 'F' freed, 'S' superblock, 'C' held by an
//           AllocCache)  [15:8] szc
//           [23:16] idx in superblock  [31:24] log2 align  [63:32] size
//     hdr1  [31:0] tag  [47:32] pad = payload - slot start  [63:48] check
//     check = hash16(hdr0 without its type byte, hdr1[47:0]).
//   The payload starts at slot + pad (pad = 16 unless align > 16). When pad >
//   16 the two words before the payload are a redirect ('R', pad in [63:32],
//   hdr1 = its check) so free(payload) finds the slot.
//
// INVARIANTS (checked by verify(); the model checks A1..A3 under all
// interleavings it explores):
//   A1  Every superblock is in at most one place: one active slot, its class's
//       inactive stack, or out of circulation; exactly one thread owns it while
//       it is in none of them.
//   A2  A superblock in an active slot or on an inactive stack has a free bit.
//   A3  A slot's bit is clear exactly while the slot is handed out (a live
//       object, a child superblock, or a slot held by an AllocCache); only the
//       superblock's owner clears bits.
//   A4  A quiescent superblock with a free bit is in an active slot or on its
//       class's inactive stack (none is lost from circulation).
//   A5  vol_cnt <= vol_max; the free-volume stack holds distinct volumes below
//       vol_cnt; the volumes not on it each hold one valid superblock tree.
//
// PROGRESS and LINEARIZATION. alloc and free are lock-free (CAS loops on the
// stacks, on vol_cnt in volume_grow (which may call fallocate) and free's
// one header CAS; everything else is a single exchange / fetch_and /
// fetch_or). alloc
// linearizes at the fetch_and that clears its bit, free at the fetch_or that
// sets it. Memory orders are argued at each call in core/internal/alloc_ops.h.
//
// REUSED MEMORY. Every plain store the allocator makes into memory that may
// have been an object before (object, redirect and superblock headers, stack
// links, cache marks) is a release store, although the allocator itself
// needs no more than relaxed there: the maps' lock-free readers may load a
// freed object's words speculatively (with acquire loads) and rely on this
// rule: whoever stores into reused memory stores with release, so a reader
// that reads such a word synchronizes with the store and its re-checks see
// whatever unlinked the object before it was freed (DESIGN.md; chain_map.h
// READS, rh_map.h MEMORY ORDERS). The same holds for an object's own header:
// free() marks it freed with a release CAS, and info() (with free()'s own
// check) reads headers with acquire loads, so a caller that finds an object
// freed or its memory reused sees whatever its freer did before the free
// (a map's join() checking a table that a peer's resize retired then reads
// the new table word: rh_map.cc, join()). The maps keep the rule in their
// operations (elements, tables, slabs, blocks, values), not everywhere:
// create() stores a new map's header words and zeroes a chain map's
// segments and filters relaxed (published by the magic's release), and
// counters are relaxed; a reader of freed memory that reads one of those
// words synchronizes with nothing. On x86 and ARMv8 a release store costs what
// a relaxed one does. The other way round, a stalled pop may load a stale
// stack link (a relaxed load whose value its CAS then discards) from memory
// that has become an object meanwhile: users write object memory through
// atomics (core/sync.h; the maps do, and so do this library's tests), or
// that load is a data race by the letter of the standard.
//
// ERRORS. Out of space: Status::full, no live object changed (alloc trims
// entirely free superblocks first, and the backing may have been extended).
// A foreign or misaligned offset, a double free: Status::invalid (a stale
// free of a slot that was meanwhile handed out again with an identical header
// cannot be told from a valid one, as with malloc). A damaged header or stack
// word: Status::corrupt; the damaged object or superblock is left alone
// (leaked) and never followed out of range; a damaged stack link detaches the
// rest of that stack (leaked too) so the class keeps working.
#ifndef MAPBENCH_CORE_ALLOC_H_
#define MAPBENCH_CORE_ALLOC_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/sync.h"

namespace mb {

class Region;

inline constexpr std::uint64_t kAllocMagic = 0x31434f4c4c41424dULL;  // "MBALLOC1"
inline constexpr std::uint64_t kAllocLayoutVersion = 1;
inline constexpr unsigned kSzcMax = 64;          // size classes at most
inline constexpr unsigned kCgroupMax = 64;       // concurrency groups at most
inline constexpr std::uint64_t kAlignMax = 4096;  // largest alignment alloc() takes
inline constexpr std::uint64_t kSbHdrSize = 64;
inline constexpr std::uint64_t kObjHdrSize = 16;
// Model builds (MB_SYNC_MODEL) only: what free() writes over the first
// kModelPoisonBytes of the payload it frees (alloc.cc, Allocator::free_in):
// all of a u64 chain element, of a robin-hood bytes block with short key
// and value, of a model's four-slot table segment; a robin-hood slab's
// link words and first block.
inline constexpr std::uint64_t kModelPoison = 0xdeadbeefdeadbeefULL;
inline constexpr std::uint64_t kModelPoisonBytes = 32;
// The standard ladder's slack at powers of two (see AllocParams): the object
// header (16) plus up to 48 bytes of padding to a 64-byte alignment.
inline constexpr std::uint64_t kPow2Slack = 64;
inline constexpr std::uint64_t kAllocSpaceMax = std::uint64_t{1} << 36;  // 64 GiB: 32-bit (off >> 4)

struct AllocParams {
  std::uint64_t vol_sz = std::uint64_t{8} << 20;  // bytes per volume (multiple of 64)
  std::uint64_t vol_init = 1;                     // volumes formatted by create
  unsigned cgroup_cnt = 8;                        // power of two <= kCgroupMax
  unsigned obj_cnt_max = 64;                      // slots per superblock, 2..64
  // Slot footprints (header included), ascending multiples of 16, >= 32.
  // Empty: the standard ladder, 4 classes per doubling up to vol_sz / 8;
  // from 4 KiB on, the class at a power of two p is p + kPow2Slack (so the
  // top one may be vol_sz / 8 + kPow2Slack), so that an object of p bytes
  // (a table segment, a slab), aligned to up to 64, fits one with its header.
  unsigned footprint_cnt = 0;
  std::uint32_t footprints[kSzcMax] = {};
};

// One size class as the allocator uses it.
struct SizeClass {
  std::uint32_t footprint;  // slot bytes, header included
  std::uint32_t obj_cnt;    // slots per superblock
  std::uint32_t parent;     // parent class, or kVolumeParent
};
inline constexpr std::uint32_t kVolumeParent = 0xff;

struct AllocStats {
  std::uint64_t vol_cnt, vol_max, vol_free;
  std::uint64_t sb_cnt;          // superblocks reachable
  std::uint64_t obj_cnt;         // live objects
  std::uint64_t obj_bytes;       // bytes requested by live objects
  std::uint64_t slot_bytes;      // footprint bytes of live objects
  std::uint64_t cached_cnt;      // slots held by AllocCache objects
  std::uint64_t sb_carved, sb_released, vol_added;
};

// A process-local join of the allocator state that lives in shared memory.
// Thread-safe: any number of threads (and processes, each with its own join)
// may call alloc/free concurrently.
class Allocator {
 public:
  using GrowFn = Status (*)(void* ctx, std::uint64_t bytes);

  Allocator() = default;

  // Format an allocator at byte offset hdr_off of the memory at `base`, which
  // may use bytes up to space_end. `grow(ctx, n)` must make the first n bytes
  // backed (nullptr: all of them are).
  static Status create(void* base, std::uint64_t hdr_off, std::uint64_t space_end,
                       const AllocParams& params, GrowFn grow, void* grow_ctx, Allocator* out,
                       std::string* why = nullptr);
  // Join one. `backed(grow_ctx)` tells how many bytes are backed now
  // (nullptr: all up to space_end). It is called after the volume count is
  // read, so a peer that backs and publishes a volume meanwhile (in that
  // order, volume_grow) never makes a healthy allocator look truncated.
  using BackedFn = std::uint64_t (*)(void* ctx);
  static Status join(void* base, std::uint64_t hdr_off, std::uint64_t space_end, BackedFn backed,
                     GrowFn grow, void* grow_ctx, Allocator* out, std::string* why = nullptr);
  // The same, at region.user_off() of a Region (growing the region's file).
  static Status create(Region& region, const AllocParams& params, Allocator* out,
                       std::string* why = nullptr);
  // On a read-only region (Region::join_file_read_only) the allocator only
  // reads: alloc, free, add_volumes (and an AllocCache's alloc and free)
  // return Status::invalid, trim releases nothing, and create refuses the
  // region (read_only() says so). The raw join above cannot know how its
  // memory is mapped: its handle is never read-only.
  static Status join(Region& region, Allocator* out, std::string* why = nullptr);
  bool read_only() const { return read_only_; }
  // Bytes of header the allocator needs for these parameters.
  static std::uint64_t header_size(const AllocParams& params);

  // Allocate `size` bytes aligned to `align` (a power of two <= kAlignMax; 0
  // means 16) tagged with `tag`; *off receives the payload's offset.
  // Status::full when no memory is left, Status::invalid on bad arguments.
  Status alloc(std::uint64_t align, std::uint64_t size, std::uint32_t tag, std::uint64_t* off);
  // The same, in an explicit concurrency group (the plain call uses the
  // thread's hint).
  Status alloc_in(unsigned cgroup, std::uint64_t align, std::uint64_t size, std::uint32_t tag,
                  std::uint64_t* off);
  // Free an object. Status::invalid for an offset that is not a live object
  // of this allocator (double free, foreign offset), Status::corrupt when its
  // headers are damaged. Nothing else is affected either way.
  Status free(std::uint64_t off);
  Status free_in(unsigned cgroup, std::uint64_t off);

  // Size and tag of a live object (Status::invalid / corrupt as for free).
  Status info(std::uint64_t off, std::uint64_t* size, std::uint32_t* tag) const;

  // Give every entirely free superblock back to its parent class or volume
  // (alloc() does this by itself before it reports Status::full). Returns
  // how many superblocks were released. Lock-free; safe at any time.
  std::uint64_t trim();

  // Format `n` more volumes now and put them on the free-volume stack.
  // Status::full when fewer than n fit (those that fit are added).
  Status add_volumes(std::uint64_t n);

  // Walk everything (quiescent state only) and check A1..A5 and every header.
  // Returns Status::corrupt with a message in *why on the first violation.
  Status verify(AllocStats* stats = nullptr, std::string* why = nullptr) const;
  // Check one volume's superblock tree alone (safe to call on a damaged
  // region; quiescent state only).
  Status verify_volume(std::uint64_t vol_idx, std::string* why = nullptr) const;

  // Whether [off, off + n) lies inside the formatted volumes (so reading it
  // cannot fault, whatever it holds).
  bool contains(std::uint64_t off, std::uint64_t n) const {
    std::uint64_t end = space_end();
    return off >= vol0_off_ && off <= end && n <= end - off;  // no overflow for any off, n
  }
  // The formatted volumes are [space_begin(), space_end()); the end only grows.
  std::uint64_t space_begin() const { return vol0_off_; }
  std::uint64_t space_end() const { return vol0_off_ + vol_cnt() * vol_sz_; }
  void* base() const { return base_; }
  template <class T>
  T* at(std::uint64_t off) const {
    return reinterpret_cast<T*>(static_cast<char*>(base_) + off);
  }
  unsigned szc_cnt() const { return szc_cnt_; }
  const SizeClass& size_class(unsigned szc) const { return szc_[szc]; }
  unsigned cgroup_cnt() const { return cgroup_mask_ + 1; }
  std::uint64_t vol_sz() const { return vol_sz_; }
  std::uint64_t vol_max() const { return vol_max_; }
  std::uint64_t hdr_off() const { return hdr_off_; }
  // Largest `size` alloc() accepts with align <= 16.
  std::uint64_t size_max() const;

  // Offsets of the shared words, for the models and verify().
  std::uint64_t active_off(unsigned cgroup, unsigned szc) const;
  std::uint64_t inactive_off(unsigned szc) const;
  std::uint64_t vol_free_off() const;

 private:
  struct Walk;
  sync::Ref<std::uint64_t> hdr_word(unsigned idx) const;
  friend class AllocCache;
  Status alloc_slots(unsigned szc, unsigned cg, unsigned max_n, std::uint64_t* sb, std::uint64_t* mask);
  // carve = false: only a superblock already in circulation (group cg's
  // active one, or an inactive one), never a new one; Status::full if none.
  Status claim_slots(unsigned szc, unsigned cg, unsigned max_n, std::uint64_t* sb, std::uint64_t* mask,
                     bool carve = true);
  Status alloc_slot(unsigned szc, unsigned cg, std::uint64_t* slot_off, unsigned* idx);
  Status class_for(std::uint64_t align, std::uint64_t size, unsigned* szc) const;
  // type: the header's type byte, 'O' (live) unless given ('C': a slot
  // going into an AllocCache, never visible as live to a racing free).
  std::uint64_t place(std::uint64_t slot, unsigned szc, unsigned idx, std::uint64_t align,
                      std::uint64_t size, std::uint32_t tag, std::uint64_t type = 'O');
  Status carve(unsigned szc, unsigned cg, std::uint64_t* sb_off);
  Status free_slots(unsigned szc, unsigned cg, std::uint64_t sb, std::uint64_t mask);
  Status release_sb(unsigned szc, unsigned cg, std::uint64_t sb);
  Status volume_take(std::uint64_t* vol_off);
  Status volume_grow(std::uint64_t* vol_idx);
  Status check_sb(std::uint64_t sb, unsigned szc) const;
  Status find_slot(std::uint64_t off, std::uint64_t* slot, std::uint64_t* hdr0,
                   std::uint64_t* hdr1) const;
  std::uint64_t sb_link_of(std::uint64_t item) const;
  std::uint64_t vol_link_of(std::uint64_t item) const;
  std::uint64_t vol_cnt() const;
  std::uint64_t backed_vols() const;
  int szc_for(std::uint64_t need) const;

  void* base_ = nullptr;
  std::uint64_t hdr_off_ = 0;
  std::uint64_t vol0_off_ = 0;
  std::uint64_t vol_sz_ = 0;
  std::uint64_t vol_max_ = 0;
  std::uint64_t active0_off_ = 0;   // active[0][0]
  std::uint64_t active_row_ = 0;    // bytes per concurrency group's row
  unsigned szc_cnt_ = 0;
  unsigned cgroup_mask_ = 0;
  GrowFn grow_ = nullptr;
  void* grow_ctx_ = nullptr;
  BackedFn backed_fn_ = nullptr;  // null: the whole space is backed
  // The volumes the backed space held when last asked (vol_cnt() caps the
  // shared count at it, asking again when the count passes it): a count
  // word damaged after join cannot make contains() accept, or verify()
  // walk, memory past the end of a file. Relaxed: a cache of a size that
  // only grows.
#if defined(MB_SYNC_MODEL) && MB_SYNC_MODEL
  // Models: a plain cache, as every handle is used by one model thread (a
  // handle shared by model threads would need an atomic: a plain raise
  // there is a race Relacy would not see).
  struct BackedVols {
    std::uint64_t get() const { return n; }
    void raise(std::uint64_t to) { n = n < to ? to : n; }
    std::uint64_t n = 0;
  };
#else
  struct BackedVols {
    std::uint64_t get() const { return n.load(std::memory_order_relaxed); }
    void raise(std::uint64_t to) {
      std::uint64_t seen = get();
      while (seen < to && !n.compare_exchange_weak(seen, to, std::memory_order_relaxed)) {
      }
    }
    std::atomic<std::uint64_t> n{0};
    BackedVols() = default;
    BackedVols(const BackedVols& o) : n(o.n.load(std::memory_order_relaxed)) {}
    BackedVols& operator=(const BackedVols& o) {
      n.store(o.n.load(std::memory_order_relaxed), std::memory_order_relaxed);
      return *this;
    }
  };
#endif
  mutable BackedVols backed_vols_;
  bool read_only_ = false;
  SizeClass szc_[kSzcMax] = {};
  std::uint64_t full_mask_[kSzcMax] = {};
  // szc_by_need_[(need + 15) / 16] for need <= kSmallNeedMax.
  static constexpr std::uint64_t kSmallNeedMax = 4096 + 32;
  std::uint8_t szc_by_need_[kSmallNeedMax / 16 + 1] = {};
};

// A per-thread cache in front of an Allocator (see core/alloc_cache.cc):
// alloc and free touch only this object and the slot's header until a class
// runs empty or full, then it claims or releases up to depth/2 slots of one
// superblock with one atomic operation. Not thread-safe: one per thread. It
// must be destroyed (or flush()ed) before the allocator's region is left;
// slots it holds are counted by verify() as cached_cnt.
class AllocCache {
 public:
  static constexpr unsigned kDepthMax = 64;
  explicit AllocCache(Allocator& a, unsigned depth = kDepthMax);
  ~AllocCache() { flush(); }
  AllocCache(const AllocCache&) = delete;
  AllocCache& operator=(const AllocCache&) = delete;

  // As Allocator::alloc / free; objects may be freed through any cache or
  // through the Allocator itself, in any process.
  Status alloc(std::uint64_t align, std::uint64_t size, std::uint32_t tag, std::uint64_t* off);
  Status free(std::uint64_t off);
  // Give every cached slot back to its superblock.
  void flush();
  std::uint64_t cached() const;

 private:
  Status refill(unsigned szc);
  void flush_class(unsigned szc, unsigned n);

  Allocator* a_;
  unsigned depth_;
  std::uint32_t cnt_[kSzcMax] = {};
  std::uint64_t slot_[kSzcMax][kDepthMax];  // a stack per class, top at cnt_ - 1
};

// The class table that `params` describes (what create() stores). Returns
// Status::invalid with a message when the parameters do not make a table.
Status alloc_size_classes(const AllocParams& params, SizeClass* out, unsigned* cnt,
                          std::string* why = nullptr);

}  // namespace mb

#endif  // MAPBENCH_CORE_ALLOC_H_
