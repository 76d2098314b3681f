// The allocator: see core/alloc.h for the algorithm, layout and invariants,
// and core/internal/alloc_ops.h for the lock-free primitives and their orders.
#include "core/alloc.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "core/internal/alloc_ops.h"
#include "core/internal/hash.h"
#include "core/region.h"

namespace mb {
namespace {

using u64 = std::uint64_t;
namespace ops = alloc_ops;

// Allocator header words (see the layout in alloc.h).
enum : unsigned {
  kWMagic = 0, kWVersion, kWVol0, kWVolSz, kWVolMax, kWCgroupCnt, kWSzcCnt, kWCheck,
  kWVolCnt, kWVolFree, kWCarved, kWReleased, kWVolAdded, kWClassTable = 16,
};

// Object header fields.
constexpr u64 kPow2Exact = 4096;  // standard ladder: see alloc_size_classes
constexpr u64 kTypeLive = 'O', kTypeFree = 'F', kTypeSb = 'S', kTypeRedirect = 'R', kTypeCached = 'C';
constexpr u64 h0_type(u64 h0) { return h0 & 0xff; }
constexpr unsigned h0_szc(u64 h0) { return unsigned(h0 >> 8) & 0xff; }
constexpr unsigned h0_idx(u64 h0) { return unsigned(h0 >> 16) & 0xff; }
constexpr unsigned h0_align_lg(u64 h0) { return unsigned(h0 >> 24) & 0xff; }
constexpr u64 h0_size(u64 h0) { return h0 >> 32; }
constexpr u64 h0_make(u64 type, u64 szc, u64 idx, u64 align_lg, u64 size) {
  return type | szc << 8 | idx << 16 | align_lg << 24 | size << 32;
}
constexpr std::uint32_t h1_tag(u64 h1) { return std::uint32_t(h1); }
constexpr u64 h1_pad(u64 h1) { return (h1 >> 32) & 0xffff; }
// Two multiplies by odd constants (no 16-bit run of zeros in either), top 16
// bits kept: a flipped bit changes the sum's top bits unless a carry cancels
// it exactly. Cheap because alloc and free compute it on every call.
constexpr u64 obj_check(u64 h0, u64 h1_low48) {
  return ((h0 & ~u64{0xff}) * 0x9e3779b97f4a7c15ULL + h1_low48 * 0xc2b2ae3d27d4eb4fULL) >> 48;
}
constexpr u64 h1_make(u64 tag, u64 pad, u64 h0) {
  u64 low = tag | pad << 32;
  return low | obj_check(h0, low) << 48;
}
constexpr bool h_check_ok(u64 h0, u64 h1) {
  return (h1 >> 48) == obj_check(h0, h1 & ((u64{1} << 48) - 1));
}
// The fields fit what they hold (STYLE item 2).
static_assert(kSzcMax <= 0xff && kVolumeParent == 0xff && kVolumeParent >= kSzcMax,
              "szc field (8 bits) holds every class and the volume marker");
static_assert(64 <= 0xff, "idx field (8 bits) holds a slot index < 64");
static_assert(kAlignMax <= 0xffff, "pad field (16 bits) holds pad <= kAlignMax");
static_assert(h0_size(h0_make(kTypeLive, 0xff, 0xff, 0xff, 0xffffffffu)) == 0xffffffffu &&
                  h0_type(h0_make(kTypeLive, 0xff, 0xff, 0xff, 0xffffffffu)) == kTypeLive,
              "hdr0 fields do not overlap");
static_assert(kAllocSpaceMax >> 4 <= ops::kItemMask + 1, "stack items hold off >> 4");

constexpr u64 redirect_check(u64 r0) { return internal::mix64(r0 ^ kAllocMagic); }

constexpr u64 align_up(u64 x, u64 a) { return (x + a - 1) & ~(a - 1); }
constexpr u64 class_word(const SizeClass& c) {
  return u64{c.footprint} | u64{c.obj_cnt} << 32 | u64{c.parent} << 40;
}
constexpr SizeClass class_of_word(u64 w) {
  return SizeClass{std::uint32_t(w), std::uint32_t(w >> 32) & 0xff, std::uint32_t(w >> 40) & 0xff};
}
constexpr u64 sb_size(const SizeClass& c) { return kSbHdrSize + u64{c.obj_cnt} * c.footprint; }
constexpr u64 mask_of(unsigned cnt) { return cnt >= 64 ? ~u64{0} : (u64{1} << cnt) - 1; }

Status fail(std::string* why, Status s, const std::string& msg) {
  if (why != nullptr) *why = msg;
  return s;
}
std::string hex(u64 v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

struct Layout {
  u64 table_off, inactive_off, active0_off, active_row, vol0_off;
};
Layout layout_for(u64 hdr_off, unsigned szc_cnt, unsigned cgroup_cnt, u64 vol_sz) {
  Layout l;
  l.table_off = hdr_off + 8 * kWClassTable;
  l.inactive_off = l.table_off + 8 * u64{szc_cnt};
  l.active0_off = align_up(l.inactive_off + 8 * u64{szc_cnt}, 64);
  l.active_row = align_up(8 * u64{szc_cnt}, 64);
  u64 end = l.active0_off + l.active_row * cgroup_cnt;
  l.vol0_off = align_up(end, vol_sz % 4096 == 0 ? 4096 : 64);
  return l;
}

u64 header_check(const u64* words, unsigned szc_cnt, const u64* table) {
  u64 h = internal::hash_bytes(words + kWVersion, 6 * sizeof(u64), kAllocMagic);
  return internal::hash_bytes(table, szc_cnt * sizeof(u64), h);
}

}  // namespace

Status alloc_size_classes(const AllocParams& p, SizeClass* out, unsigned* cnt, std::string* why) {
  if (p.vol_sz < 256 || p.vol_sz % 64 != 0)
    return fail(why, Status::invalid, "vol_sz must be a multiple of 64, at least 256");
  if (p.obj_cnt_max < 2 || p.obj_cnt_max > 64)
    return fail(why, Status::invalid, "obj_cnt_max must be in [2, 64]");
  std::uint32_t fp[kSzcMax];
  unsigned n = 0;
  if (p.footprint_cnt == 0) {
    // The standard ladder: 4 classes per doubling, up to vol_sz / 8. From
    // 4 KiB on, the class at each power of two is kPow2Slack bytes larger,
    // so that an object of a power-of-two size (a table segment, a slab),
    // 64-aligned or less, fits it with its header and padding instead of
    // taking the next class (25% more).
    for (u64 pow = 32; n < kSzcMax; pow *= 2) {
      bool done = false;
      for (u64 q = 4; q < 8 && n < kSzcMax; ++q) {
        const u64 extra = q == 4 && pow >= kPow2Exact ? kPow2Slack : 0, f = align_up(pow * q / 4, 16) + extra;
        if (f - extra > p.vol_sz / 8) { done = true; break; }
        if (n == 0 || f > fp[n - 1]) fp[n++] = std::uint32_t(f);
      }
      if (done) break;
    }
  } else {
    if (p.footprint_cnt > kSzcMax) return fail(why, Status::invalid, "too many size classes");
    n = p.footprint_cnt;
    std::copy(p.footprints, p.footprints + n, fp);
  }
  if (n == 0) return fail(why, Status::invalid, "no size class fits the volume");
  for (unsigned i = 0; i < n; ++i) {
    if (fp[i] < 32 || fp[i] % 16 != 0 || (i > 0 && fp[i] <= fp[i - 1]))
      return fail(why, Status::invalid, "footprints must ascend, be multiples of 16 and >= 32");
  }
  for (unsigned i = 0; i < n; ++i) {
    SizeClass c{fp[i], 0, kVolumeParent};
    // (0 when the largest footprint cannot even hold a superblock header:
    // every class is then carved from volumes directly.)
    u64 fit_last = fp[n - 1] > kSbHdrSize ? (fp[n - 1] - kSbHdrSize) / fp[i] : 0;
    u64 k = std::min<u64>(p.obj_cnt_max, fit_last);
    if (i + 1 < n && k >= 2) {
      u64 s = kSbHdrSize + k * fp[i];
      unsigned j = i + 1;
      while (j + 1 < n && fp[j] < s) ++j;  // fp[n-1] >= s: k <= fit_last
      c.parent = j;
      c.obj_cnt = std::uint32_t(std::min<u64>(p.obj_cnt_max, (fp[j] - kSbHdrSize) / fp[i]));
    } else {
      c.obj_cnt = std::uint32_t(std::min<u64>(p.obj_cnt_max, (p.vol_sz - kSbHdrSize) / fp[i]));
      if (c.obj_cnt < 2)
        return fail(why, Status::invalid,
                    "footprint " + std::to_string(fp[i]) + " leaves < 2 slots per volume");
    }
    // A superblock's header keeps its size in 32 bits (h0).
    if (kSbHdrSize + u64{c.obj_cnt} * c.footprint > 0xffffffffULL)
      return fail(why, Status::invalid,
                  "size class " + std::to_string(i) + ": a superblock of 4 GiB or more (fewer, smaller slots)");
    out[i] = c;
  }
  *cnt = n;
  return Status::ok;
}

u64 Allocator::header_size(const AllocParams& p) {
  SizeClass t[kSzcMax];
  unsigned n = 0;
  if (alloc_size_classes(p, t, &n) != Status::ok) return 0;
  return layout_for(0, n, p.cgroup_cnt, p.vol_sz).vol0_off;
}

sync::Ref<u64> Allocator::hdr_word(unsigned idx) const { return sync::word(base_, hdr_off_ + 8 * idx); }
u64 Allocator::active_off(unsigned cg, unsigned szc) const { return active0_off_ + cg * active_row_ + 8 * szc; }
u64 Allocator::inactive_off(unsigned szc) const { return hdr_off_ + 8 * (kWClassTable + szc_cnt_ + szc); }
u64 Allocator::vol_free_off() const { return hdr_off_ + 8 * kWVolFree; }
u64 Allocator::vol_cnt() const {
  // ORDER: acquire pairs with the CAS in volume_grow: the volume is backed
  // (so backed_vols(), asked after this load, counts it).
  const u64 n = std::min(hdr_word(kWVolCnt).load_acquire(), vol_max_);
  if (n <= backed_vols_.get()) return n;
  return std::min(n, backed_vols());  // a peer grew the space, or the word is damaged
}

// The whole volumes the backed space holds now (cached, see BackedVols).
u64 Allocator::backed_vols() const {
  const u64 backed = backed_fn_ != nullptr ? backed_fn_(grow_ctx_) : ~u64{0};
  // 0: unknown (the region's fstat failed): the count word is trusted, as
  // it was before the cap, and nothing is cached.
  if (backed == 0) return vol_max_;
  const u64 n = backed <= vol0_off_ ? 0 : std::min((backed - vol0_off_) / vol_sz_, vol_max_);
  backed_vols_.raise(n);
  return n;
}
u64 Allocator::size_max() const { return szc_[szc_cnt_ - 1].footprint - kObjHdrSize; }

u64 Allocator::sb_link_of(u64 item) const {
  u64 sb = item << 4;
  if (sb < vol0_off_ || sb + kSbHdrSize > vol0_off_ + vol_cnt() * vol_sz_) return 0;
  return sb + 24;
}
u64 Allocator::vol_link_of(u64 item) const {
  if (item == 0 || item > vol_cnt()) return 0;
  return vol0_off_ + (item - 1) * vol_sz_ + 24;
}

int Allocator::szc_for(u64 need) const {
  if (need <= kSmallNeedMax) {
    unsigned s = szc_by_need_[(need + 15) / 16];
    return s == 0xff ? -1 : int(s);
  }
  for (unsigned i = 0; i < szc_cnt_; ++i)
    if (szc_[i].footprint >= need) return int(i);
  return -1;
}

// --- lifecycle -------------------------------------------------------------

Status Allocator::create(void* base, u64 hdr_off, u64 space_end, const AllocParams& p,
                         GrowFn grow, void* grow_ctx, Allocator* out, std::string* why) {
  SizeClass table[kSzcMax];
  unsigned n = 0;
  Status s = alloc_size_classes(p, table, &n, why);
  if (s != Status::ok) return s;
  if (p.cgroup_cnt == 0 || p.cgroup_cnt > kCgroupMax || (p.cgroup_cnt & (p.cgroup_cnt - 1)))
    return fail(why, Status::invalid, "cgroup_cnt must be a power of two in [1, 64]");
  if (hdr_off % 64 != 0) return fail(why, Status::invalid, "hdr_off must be 64-aligned");
  if (space_end > kAllocSpaceMax)
    return fail(why, Status::invalid, "allocator space is limited to 64 GiB (32-bit off >> 4)");
  Layout l = layout_for(hdr_off, n, p.cgroup_cnt, p.vol_sz);
  if (l.vol0_off + p.vol_sz > space_end)
    return fail(why, Status::full, "space ends at " + std::to_string(space_end) +
                                       ", too small for the header and one volume");
  u64 vol_max = (space_end - l.vol0_off) / p.vol_sz;
  if (grow != nullptr && (s = grow(grow_ctx, l.vol0_off)) != Status::ok)
    return fail(why, s, "cannot back the allocator header");

  Allocator a;
  a.base_ = base;
  a.hdr_off_ = hdr_off;
  u64 w[kWClassTable] = {};
  w[kWVersion] = kAllocLayoutVersion;
  w[kWVol0] = l.vol0_off;
  w[kWVolSz] = p.vol_sz;
  w[kWVolMax] = vol_max;
  w[kWCgroupCnt] = p.cgroup_cnt;
  w[kWSzcCnt] = n;
  u64 tw[kSzcMax];
  for (unsigned i = 0; i < n; ++i) tw[i] = class_word(table[i]);
  w[kWCheck] = header_check(w, n, tw);
  // Plain relaxed stores: nobody can see this allocator before the release
  // store of the magic below.
  for (unsigned i = 1; i < kWClassTable; ++i) a.hdr_word(i).store_relaxed(w[i]);
  for (unsigned i = 0; i < n; ++i) sync::word(base, l.table_off + 8 * i).store_relaxed(tw[i]);
  for (u64 off = l.inactive_off; off < l.vol0_off; off += 8) sync::word(base, off).store_relaxed(0);
  // ORDER: release pairs with the acquire load of the magic in join().
  a.hdr_word(kWMagic).store_release(kAllocMagic);
  s = join(base, hdr_off, space_end, nullptr, grow, grow_ctx, out, why);  // just formatted: backed
  if (s != Status::ok) return s;
  return out->add_volumes(p.vol_init);
}

Status Allocator::join(void* base, u64 hdr_off, u64 space_end, BackedFn backed_fn, GrowFn grow,
                       void* grow_ctx, Allocator* out, std::string* why) {
  u64 backed = backed_fn != nullptr ? backed_fn(grow_ctx) : space_end;
  if (base == nullptr || hdr_off % 64 != 0 || hdr_off + 8 * kWClassTable > backed)
    return fail(why, Status::invalid, "no allocator header fits at this offset");
  Allocator a;
  a.base_ = base;
  a.hdr_off_ = hdr_off;
  if (a.hdr_word(kWMagic).load_acquire() != kAllocMagic)
    return fail(why, Status::invalid, "no allocator here (bad magic)");
  u64 w[kWClassTable];
  for (unsigned i = 0; i < kWClassTable; ++i) w[i] = a.hdr_word(i).load_relaxed();
  if (w[kWVersion] != kAllocLayoutVersion)
    return fail(why, Status::invalid, "allocator layout version " + std::to_string(w[kWVersion]) +
                                          ", this build reads " + std::to_string(kAllocLayoutVersion));
  unsigned n = unsigned(w[kWSzcCnt]);
  u64 cg = w[kWCgroupCnt];
  if (n == 0 || n > kSzcMax || cg == 0 || cg > kCgroupMax || (cg & (cg - 1)) ||
      w[kWVolSz] < 256 || w[kWVolSz] % 64 != 0)
    return fail(why, Status::corrupt, "allocator header fields out of range");
  Layout l = layout_for(hdr_off, n, unsigned(cg), w[kWVolSz]);
  if (l.vol0_off > backed) return fail(why, Status::corrupt, "allocator header truncated");
  u64 tw[kSzcMax];
  for (unsigned i = 0; i < n; ++i) tw[i] = sync::word(base, l.table_off + 8 * i).load_relaxed();
  if (w[kWCheck] != header_check(w, n, tw))
    return fail(why, Status::corrupt, "allocator header damaged (check mismatch)");
  // ORDER: acquire pairs with the CAS in volume_grow, which backs a volume
  // before it counts it: the backed size read after this load covers every
  // volume counted (a size read before it may not: a peer grows meanwhile).
#if MB_PLANT_BUG == 52
  w[kWVolCnt] = a.hdr_word(kWVolCnt).load_relaxed();  // Planted bug 52 (model grow_join_2t)
#else
  w[kWVolCnt] = a.hdr_word(kWVolCnt).load_acquire();
#endif
  if (backed_fn != nullptr) backed = backed_fn(grow_ctx);
  if (w[kWVol0] != l.vol0_off || w[kWVolMax] != (space_end - l.vol0_off) / w[kWVolSz])
    return fail(why, Status::invalid, "allocator was made for a space of another size");
  if (w[kWVolCnt] > w[kWVolMax] || l.vol0_off + w[kWVolCnt] * w[kWVolSz] > backed)
    return fail(why, Status::corrupt, "allocator volume count exceeds the backed space");
  a.szc_cnt_ = n;
  a.cgroup_mask_ = unsigned(cg - 1);
  a.vol0_off_ = l.vol0_off;
  a.vol_sz_ = w[kWVolSz];
  a.vol_max_ = w[kWVolMax];
  a.active0_off_ = l.active0_off;
  a.active_row_ = l.active_row;
  a.grow_ = grow;
  a.grow_ctx_ = grow_ctx;
  a.backed_fn_ = backed_fn;
  a.backed_vols();
  for (unsigned i = 0; i < n; ++i) {
    SizeClass c = class_of_word(tw[i]);
    bool ok = c.footprint >= 32 && c.footprint % 16 == 0 && c.obj_cnt >= 2 && c.obj_cnt <= 64 &&
              (i == 0 || c.footprint > a.szc_[i - 1].footprint) && sb_size(c) <= 0xffffffffULL;
    if (c.parent == kVolumeParent) {
      ok = ok && sb_size(c) <= a.vol_sz_;
    } else {
      ok = ok && c.parent > i && c.parent < n &&
           sb_size(c) <= class_of_word(tw[c.parent]).footprint;
    }
    if (!ok) return fail(why, Status::corrupt, "size class " + std::to_string(i) + " is damaged");
    a.szc_[i] = c;
    a.full_mask_[i] = mask_of(c.obj_cnt);
  }
  for (u64 k = 0; k <= kSmallNeedMax / 16; ++k) {
    int s = -1;
    for (unsigned i = 0; i < n && s < 0; ++i)
      if (a.szc_[i].footprint >= k * 16) s = int(i);
    a.szc_by_need_[k] = s < 0 ? 0xff : std::uint8_t(s);
  }
  *out = a;
  return Status::ok;
}

#if !(defined(MB_SYNC_MODEL) && MB_SYNC_MODEL)  // models have no Region
namespace {
Status region_grow(void* ctx, u64 bytes) { return static_cast<Region*>(ctx)->grow(bytes); }
u64 region_backed(void* ctx) {
  const Region& r = *static_cast<const Region*>(ctx);
  return std::min(r.size(), r.file_size());
}
}  // namespace

Status Allocator::create(Region& r, const AllocParams& p, Allocator* out, std::string* why) {
  if (r.read_only()) return fail(why, Status::invalid, "cannot create an allocator in a read-only region");
  u64 end = std::min(r.size_max(), kAllocSpaceMax);
  return create(r.base(), r.user_off(), end, p, region_grow, &r, out, why);
}

Status Allocator::join(Region& r, Allocator* out, std::string* why) {
  u64 end = std::min(r.size_max(), kAllocSpaceMax);
  Status s = join(r.base(), r.user_off(), end, region_backed, region_grow, &r, out, why);
  if (s == Status::ok) out->read_only_ = r.read_only();
  return s;
}
#endif

// --- volumes ---------------------------------------------------------------

Status Allocator::volume_take(u64* vol_off) {
  u64 item = 0;
  Status s = ops::stack_pop(base_, vol_free_off(), [this](u64 i) { return vol_link_of(i); }, &item);
  if (s != Status::ok) return s;
  if (item != 0) {
    *vol_off = vol0_off_ + (item - 1) * vol_sz_;
    return Status::ok;
  }
  u64 idx = 0;
  if ((s = volume_grow(&idx)) != Status::ok) return s;
  *vol_off = vol0_off_ + idx * vol_sz_;
  return Status::ok;
}

Status Allocator::volume_grow(u64* vol_idx) {
  auto cnt = hdr_word(kWVolCnt);
  u64 n = cnt.load_acquire();
  for (;;) {
    if (n >= vol_max_) return Status::full;
#if MB_PLANT_BUG == 51
    // Planted bug 51: the volume is counted before it is backed (model
    // grow_join_2t: a peer's join sees a count past the backed space).
    if (cnt.cas_acq_rel(n, n + 1)) {
      if (grow_ != nullptr && grow_(grow_ctx_, vol0_off_ + (n + 1) * vol_sz_) != Status::ok)
        return Status::full;
#else
    // Back the volume before anyone can see it (R3 in region.h): a peer that
    // reads vol_cnt > n may touch it at once.
    if (grow_ != nullptr && grow_(grow_ctx_, vol0_off_ + (n + 1) * vol_sz_) != Status::ok)
      return Status::full;
    // ORDER: acq_rel: release publishes the backing to peers' acquire loads
    // of vol_cnt; acquire on failure re-reads a count we may build on.
    if (cnt.cas_acq_rel(n, n + 1)) {
#endif
      hdr_word(kWVolAdded).fetch_add_relaxed(1);
      *vol_idx = n;
      return Status::ok;
    }
  }
}

Status Allocator::add_volumes(u64 n) {
  if (read_only_) return Status::invalid;
  for (u64 i = 0; i < n; ++i) {
    u64 idx = 0;
    Status s = volume_grow(&idx);
    if (s != Status::ok) return s;
    ops::stack_push(base_, vol_free_off(), idx + 1, vol_link_of(idx + 1));
  }
  return Status::ok;
}

// --- alloc -----------------------------------------------------------------

Status Allocator::check_sb(u64 sb, unsigned szc) const {
  if (sb % 16 != 0 || !contains(sb, kSbHdrSize)) return Status::corrupt;
  u64 h0 = sync::word(base_, sb).load_relaxed();
  u64 h1 = sync::word(base_, sb + 8).load_relaxed();
  if (h0_type(h0) != kTypeSb || h1_tag(h1) != szc || !h_check_ok(h0, h1) ||
      h0_size(h0) != sb_size(szc_[szc]) || h0_szc(h0) != szc_[szc].parent)
    return Status::corrupt;
  if (szc_[szc].parent == kVolumeParent ? (sb - vol0_off_) % vol_sz_ != 0
                                        : h0_idx(h0) >= szc_[szc_[szc].parent].obj_cnt)
    return Status::corrupt;
  return Status::ok;
}

Status Allocator::carve(unsigned szc, unsigned cg, u64* sb_off) {
  const SizeClass& c = szc_[szc];
  u64 at = 0;
  unsigned pidx = 0;
  Status s = c.parent == kVolumeParent ? volume_take(&at) : alloc_slot(c.parent, cg, &at, &pidx);
  if (s != Status::ok) return s;
  u64 h0 = h0_make(kTypeSb, c.parent, pidx, 4, sb_size(c));
  // The superblock is ours alone; the release exchange or push that puts it
  // into circulation publishes these words. Release for readers of reused
  // memory (alloc.h, REUSED MEMORY).
  sync::word(base_, at + 8).store_release(h1_make(szc, kObjHdrSize, h0));
  sync::word(base_, at).store_release(h0);
  sync::word(base_, at + 16).store_release(full_mask_[szc]);
  sync::word(base_, at + 24).store_release(0);
  hdr_word(kWCarved).fetch_add_relaxed(1);
  *sb_off = at;
  return Status::ok;
}

// Out of space: give entirely free superblocks back (trim) and try once more.
Status Allocator::alloc_slots(unsigned szc, unsigned cg, unsigned max_n, u64* sb_off, u64* mask) {
  Status s = claim_slots(szc, cg, max_n, sb_off, mask);
  if (s == Status::full && trim() > 0) s = claim_slots(szc, cg, max_n, sb_off, mask);
  // Before saying full: another group's active superblock of this class may
  // have free slots (left there by a thread that ran on another CPU, or
  // freed into since). Taking it is what that group's own threads do (an
  // exchange makes it ours alone), so the protocol is unchanged.
  for (unsigned i = 1; s == Status::full && i <= cgroup_mask_; ++i)
    s = claim_slots(szc, (cg + i) & cgroup_mask_, max_n, sb_off, mask, false);
  return s;
}

Status Allocator::claim_slots(unsigned szc, unsigned cg, unsigned max_n, u64* sb_off, u64* mask, bool carve_ok) {
  const u64 slot = active_off(cg, szc);
  u64 sb = ops::active_take(base_, slot);
  Status s;
  if (sb == 0) {
    u64 item = 0;
    s = ops::stack_pop(base_, inactive_off(szc), [this](u64 i) { return sb_link_of(i); }, &item);
    if (s != Status::ok) return s;
    sb = item << 4;
  }
  if (sb == 0) {
    if (!carve_ok) return Status::full;
    if ((s = carve(szc, cg, &sb)) != Status::ok) return s;
  } else if (check_sb(sb, szc) != Status::ok) {
    return Status::corrupt;  // damaged superblock: left out of circulation
  }
  u64 left = 0;
  u64 got = ops::bits_claim(base_, sb + 16, max_n, &left);
  if (got == 0 || (got & ~full_mask_[szc]) != 0) return Status::corrupt;  // A2 / A3 broken
  if (left != 0) {
    u64 displaced = ops::active_displace(base_, slot, sb);
    if (displaced != 0) ops::stack_push(base_, inactive_off(szc), displaced >> 4, displaced + 24);
  }
  *sb_off = sb;
  *mask = got;
  return Status::ok;
}

Status Allocator::alloc_slot(unsigned szc, unsigned cg, u64* slot_off, unsigned* idx) {
  u64 sb = 0, mask = 0;
  Status s = alloc_slots(szc, cg, 1, &sb, &mask);
  if (s != Status::ok) return s;
  *idx = unsigned(__builtin_ctzll(mask));
  *slot_off = sb + kSbHdrSize + u64(*idx) * szc_[szc].footprint;
  return Status::ok;
}

Status Allocator::class_for(u64 align, u64 size, unsigned* szc) const {
  if ((align & (align - 1)) != 0 || align > kAlignMax || size > 0xffffffffu) return Status::invalid;
  int c = szc_for(size + std::max<u64>(kObjHdrSize, align));
  if (c < 0) return Status::invalid;  // larger than the largest class
  *szc = unsigned(c);
  return Status::ok;
}

u64 Allocator::place(u64 slot, unsigned szc, unsigned idx, u64 align, u64 size, std::uint32_t tag, u64 type) {
  static_assert(kTypeLive == 'O', "place()'s default type");
  u64 payload = align_up(slot + kObjHdrSize, align);
  u64 pad = payload - slot;
  u64 h0 = h0_make(type, szc, idx, u64(__builtin_ctzll(align)), size);
  // Whoever frees or inspects this object later is ordered after us by the
  // caller's own hand-off of the offset. Release for readers of reused
  // memory (alloc.h, REUSED MEMORY).
  sync::word(base_, slot + 8).store_release(h1_make(tag, pad, h0));
  sync::word(base_, slot).store_release(h0);
  if (pad > kObjHdrSize) {
    u64 r0 = h0_make(kTypeRedirect, 0, 0, 0, pad);
    sync::word(base_, payload - 16).store_release(r0);
    sync::word(base_, payload - 8).store_release(redirect_check(r0));
  }
  return payload;
}

Status Allocator::alloc(u64 align, u64 size, std::uint32_t tag, u64* off) {
  return alloc_in(sync::thread_hint(), align, size, tag, off);
}

Status Allocator::alloc_in(unsigned cgroup, u64 align, u64 size, std::uint32_t tag, u64* off) {
  if (read_only_) return Status::invalid;
  if (align == 0) align = 16;
  unsigned szc = 0;
  Status s = off == nullptr ? Status::invalid : class_for(align, size, &szc);
  if (s != Status::ok) return s;
  u64 slot = 0;
  unsigned idx = 0;
  if ((s = alloc_slot(szc, cgroup & cgroup_mask_, &slot, &idx)) != Status::ok) return s;
  *off = place(slot, szc, idx, align, size, tag);
  return Status::ok;
}

// --- free ------------------------------------------------------------------

Status Allocator::find_slot(u64 off, u64* slot, u64* h0, u64* h1) const {
  u64 end = vol0_off_ + vol_cnt() * vol_sz_;
  if (off % 16 != 0 || off < vol0_off_ + kSbHdrSize + kObjHdrSize || off >= end)
    return Status::invalid;  // not inside any formatted volume
  // ORDER: acquire, every header load: a caller that finds the object freed
  // (free()'s release claim) or its memory reused (place()'s release
  // stores) synchronizes with that free, and so with whatever its freer did
  // before it (REUSED MEMORY: a map's join() then sees the table word that
  // retired the object).
  u64 r0 = sync::word(base_, off - 16).load_acquire();
  u64 r1 = sync::word(base_, off - 8).load_acquire();
  u64 pad = kObjHdrSize;
  if (h0_type(r0) == kTypeRedirect) {
    pad = h0_size(r0);
    if (r1 != redirect_check(r0) || pad % 16 != 0 || pad <= kObjHdrSize || pad > kAlignMax ||
        off - pad < vol0_off_)
      return Status::corrupt;
    r0 = sync::word(base_, off - pad).load_acquire();
    r1 = sync::word(base_, off - pad + 8).load_acquire();
  }
  u64 t = h0_type(r0);
  // No object header here: nothing, or a superblock's (whose class field
  // names its parent, 0xff for a volume): an offset no alloc() returned.
  if (t != kTypeLive && t != kTypeFree) return Status::invalid;
  if (!h_check_ok(r0, r1) || h1_pad(r1) != pad || h0_szc(r0) >= szc_cnt_)
    return Status::corrupt;
  const SizeClass& c = szc_[h0_szc(r0)];
  if (h0_idx(r0) >= c.obj_cnt || h0_size(r0) + pad > c.footprint) return Status::corrupt;
  *slot = off - pad;
  *h0 = r0;
  *h1 = r1;
  return Status::ok;
}

Status Allocator::free(u64 off) { return free_in(sync::thread_hint(), off); }

Status Allocator::free_in(unsigned cgroup, u64 off) {
  if (read_only_) return Status::invalid;
  u64 slot, h0, h1;
  Status s = find_slot(off, &slot, &h0, &h1);
  if (s != Status::ok) return s;
  if (h0_type(h0) != kTypeLive) return Status::invalid;  // freed already, or a superblock
  unsigned szc = h0_szc(h0), idx = h0_idx(h0);
  if (slot - vol0_off_ < kSbHdrSize + u64(idx) * szc_[szc].footprint) return Status::corrupt;
  u64 sb = slot - kSbHdrSize - u64(idx) * szc_[szc].footprint;
  if (check_sb(sb, szc) != Status::ok) return Status::corrupt;
  // Claim the free: of two racing frees of one object, one loses here.
  // ORDER: release, although the bit release below publishes the object's
  // end of life to the allocator: for the maps' readers of object headers
  // (find_slot()'s acquire loads; REUSED MEMORY).
  if (!sync::word(base_, slot).cas_release(h0, (h0 & ~u64{0xff}) | kTypeFree))
    return Status::invalid;
#if defined(MB_SYNC_MODEL) && MB_SYNC_MODEL
  // Model builds only: write over the payload's first kModelPoisonBytes,
  // as the memory's next owner would (release, as every map's stores into
  // its objects are). Without it a freed object keeps its words until
  // someone reuses it, and a model's reader that trusts memory freed under
  // it (a missing recheck, a free before the unpublish) would still read
  // what it expects and the model could not fail. Only a prefix: each
  // store is one more step for Relacy's context-bounded search, and the
  // whole payload made the robin-hood shrink model 8 times slower.
  for (u64 w = 0; w + 8 <= h0_size(h0) && w < kModelPoisonBytes; w += 8)
    sync::word(base_, off + w).store_release(kModelPoison);
#endif
  return free_slots(szc, cgroup & cgroup_mask_, sb, u64{1} << idx);
}

Status Allocator::free_slots(unsigned szc, unsigned cg, u64 sb, u64 bit) {
  u64 old = ops::bits_release(base_, sb + 16, bit);
  if (old & bit) return Status::corrupt;  // A3: a slot was free already
  if (old == 0) {
    // The superblock was full, hence out of circulation (A4): we are the one
    // thread that saw it go from full to not full, so we put it back.
    u64 displaced = ops::active_displace(base_, active_off(cg, szc), sb);
    if (displaced != 0) ops::stack_push(base_, inactive_off(szc), displaced >> 4, displaced + 24);
    return Status::ok;
  }
  if ((old | bit) != full_mask_[szc]) return Status::ok;
  // Our superblock is entirely free now (it stays in circulation). Memory
  // flows back up: take one inactive superblock and, if it is entirely free
  // too, release it to its parent; owning it (popped) means nobody can
  // allocate from it, and having no live objects nobody frees into it.
  u64 item = 0;
  if (ops::stack_pop(base_, inactive_off(szc), [this](u64 i) { return sb_link_of(i); }, &item) !=
          Status::ok ||
      item == 0)
    return Status::ok;
  u64 c = item << 4;
  if (check_sb(c, szc) != Status::ok) return Status::ok;  // damaged: leave it out
  // Keep one spare: when the stack is empty now, the next alloc that finds
  // its active slot taken would carve a new superblock at once; releasing
  // this one would make two threads that share a group carve and release on
  // every few calls.
  bool last = ops::head_item(sync::word(base_, inactive_off(szc)).load_relaxed()) == 0;
  // ORDER: acquire pairs with the frees' release of these bits.
  if (last || sync::word(base_, c + 16).load_acquire() != full_mask_[szc]) {
    ops::stack_push(base_, inactive_off(szc), item, c + 24);
    return Status::ok;
  }
  return release_sb(szc, cg, c);
}

Status Allocator::release_sb(unsigned szc, unsigned cg, u64 sb) {
  u64 h0 = sync::word(base_, sb).load_relaxed();  // checked by check_sb
  hdr_word(kWReleased).fetch_add_relaxed(1);
  unsigned pszc = szc_[szc].parent;
  if (pszc == kVolumeParent) {
    u64 item = (sb - vol0_off_) / vol_sz_ + 1;
    ops::stack_push(base_, vol_free_off(), item, sb + 24);
    return Status::ok;
  }
  unsigned pidx = h0_idx(h0);
  // Published by the parent's bit release in free_slots; release for readers
  // of reused memory (alloc.h, REUSED MEMORY).
  sync::word(base_, sb).store_release((h0 & ~u64{0xff}) | kTypeFree);
  u64 psb = sb - kSbHdrSize - u64(pidx) * szc_[pszc].footprint;
  return free_slots(pszc, cg, psb, u64{1} << pidx);
}

u64 Allocator::trim() {
  if (read_only_) return 0;
  u64 released = 0;
  // Smallest class first: releasing a superblock frees a slot of its parent
  // class (a larger one), which may leave that parent entirely free in turn.
  for (unsigned szc = 0; szc < szc_cnt_; ++szc) {
    // Empty the inactive stack into a private chain (linked through the same
    // link words: the superblocks are ours while off the stack), releasing
    // every entirely free one; then push the rest back.
    u64 keep = 0, kept = 0;
    // Bounded: a damaged stack (a link cycle) cannot keep us here.
    u64 pops_max = vol_cnt() * vol_sz_ / kSbHdrSize + 1;
    for (u64 pops = 0; pops < pops_max; ++pops) {
      u64 item = 0;
      if (ops::stack_pop(base_, inactive_off(szc), [this](u64 i) { return sb_link_of(i); }, &item) !=
              Status::ok ||
          item == 0)
        break;
      u64 sb = item << 4;
      if (check_sb(sb, szc) != Status::ok) continue;  // damaged: leave it out
      // ORDER: acquire pairs with the frees' release of these bits.
      if (sync::word(base_, sb + 16).load_acquire() == full_mask_[szc]) {
        release_sb(szc, 0, sb);
        ++released;
      } else {
        sync::word(base_, sb + 24).store_release(keep);  // alloc.h, REUSED MEMORY
        keep = item;
        ++kept;
      }
    }
    for (; keep != 0 && kept > 0; --kept) {  // bounded too (a damaged stack may repeat items)
      u64 next = sync::word(base_, (keep << 4) + 24).load_relaxed();
      ops::stack_push(base_, inactive_off(szc), keep, (keep << 4) + 24);
      keep = next;
    }
    // Entirely free superblocks parked in active slots, any group's.
    for (unsigned cg = 0; cg <= cgroup_mask_; ++cg) {
#if MB_PLANT_BUG == 44
      // Planted bug 44: the slot read, not taken: the superblock stays there.
      u64 sb = sync::word(base_, active_off(cg, szc)).load_acquire();
#else
      u64 sb = ops::active_take(base_, active_off(cg, szc));
#endif
      if (sb == 0 || check_sb(sb, szc) != Status::ok) continue;
      if (sync::word(base_, sb + 16).load_acquire() == full_mask_[szc]) {
        release_sb(szc, cg, sb);
        ++released;
      } else {
        u64 displaced = ops::active_displace(base_, active_off(cg, szc), sb);
        if (displaced != 0) ops::stack_push(base_, inactive_off(szc), displaced >> 4, displaced + 24);
      }
    }
  }
  return released;
}

Status Allocator::info(u64 off, u64* size, std::uint32_t* tag) const {
  u64 slot, h0, h1;
  Status s = find_slot(off, &slot, &h0, &h1);
  if (s != Status::ok) return s;
  if (h0_type(h0) != kTypeLive) return Status::invalid;
  if (size != nullptr) *size = h0_size(h0);
  if (tag != nullptr) *tag = h1_tag(h1);
  return Status::ok;
}

// --- verify ----------------------------------------------------------------

struct Allocator::Walk {
  const Allocator& a;
  std::string* why;
  bool check_circ = false;
  std::vector<u64> circ;   // superblocks in active slots / inactive stacks, sorted
  std::vector<char> seen;  // circ[i] reached from a volume
  AllocStats st{};

  Status bad(const std::string& msg) { return fail(why, Status::corrupt, msg); }

  // Check the superblock at sb (class szc, header already checked) and,
  // recursively, every live object and child superblock in it. Depth is
  // bounded: a child's class is strictly smaller than its parent's.
  Status tree(u64 sb, unsigned szc) {
    const SizeClass& c = a.szc_[szc];
    u64 bits = sync::word(a.base_, sb + 16).load_relaxed();
    std::string where = "superblock " + hex(sb) + " (class " + std::to_string(szc) + ")";
    if (bits & ~a.full_mask_[szc]) return bad(where + ": free bits beyond its slot count");
    ++st.sb_cnt;
    if (check_circ) {
      auto it = std::lower_bound(circ.begin(), circ.end(), sb);
      bool in = it != circ.end() && *it == sb;
      if (in) seen[std::size_t(it - circ.begin())] = 1;
      if (bits != 0 && !in) return bad(where + ": has free slots but is in no active slot or stack (A4)");
      if (bits == 0 && in) return bad(where + ": is full but in circulation (A2)");  // also caught above
    }
    for (unsigned i = 0; i < c.obj_cnt; ++i) {
      u64 slot = sb + kSbHdrSize + u64(i) * c.footprint;
      u64 h0 = sync::word(a.base_, slot).load_relaxed();
      u64 h1 = sync::word(a.base_, slot + 8).load_relaxed();
      std::string at = where + " slot " + std::to_string(i) + " at " + hex(slot);
      if (bits >> i & 1) {
        // A free slot's header is 'F' or stale bytes from another life of
        // this memory; a valid live header of this very slot means a lost
        // object (A3).
        if (h0_type(h0) == kTypeLive && h_check_ok(h0, h1) && h0_idx(h0) == i && h0_szc(h0) == szc)
          return bad(at + ": slot is marked free but holds a live object (A3)");
        continue;
      }
      if (!h_check_ok(h0, h1) || h0_idx(h0) != i || h0_szc(h0) != szc)
        return bad(at + ": object header damaged");
      if (h0_type(h0) == kTypeLive) {
        u64 pad = h1_pad(h1);
        if (pad < kObjHdrSize || pad % 16 != 0 || pad > kAlignMax || h0_size(h0) + pad > c.footprint)
          return bad(at + ": object size/alignment out of range");
        if (pad > kObjHdrSize) {
          u64 r0 = sync::word(a.base_, slot + pad - 16).load_relaxed();
          u64 r1 = sync::word(a.base_, slot + pad - 8).load_relaxed();
          if (h0_type(r0) != kTypeRedirect || h0_size(r0) != pad || r1 != redirect_check(r0))
            return bad(at + ": alignment redirect damaged");
        }
        ++st.obj_cnt;
        st.obj_bytes += h0_size(h0);
        st.slot_bytes += c.footprint;
      } else if (h0_type(h0) == kTypeSb) {
        unsigned t = h1_tag(h1);
        if (t >= a.szc_cnt_ || a.szc_[t].parent != szc || a.check_sb(slot, t) != Status::ok)
          return bad(at + ": child superblock header damaged");
        Status s = tree(slot, t);
        if (s != Status::ok) return s;
      } else if (h0_type(h0) == kTypeCached) {
        ++st.cached_cnt;  // held by some AllocCache
      } else {
        return bad(at + ": slot is handed out but its header says it is free (A3)");
      }
    }
    return Status::ok;
  }

  // The volumes on the free-volume stack, as a bitmap; corrupt on a cycle or
  // an out-of-range entry.
  Status free_volumes(u64 vol_cnt, std::vector<char>* is_free) {
    is_free->assign(vol_cnt, 0);
    u64 item = ops::head_item(sync::word(a.base_, a.vol_free_off()).load_relaxed());
    for (u64 steps = 0; item != 0; ++steps) {
      if (item > vol_cnt || steps >= vol_cnt || (*is_free)[item - 1])
        return bad("free-volume stack damaged at item " + std::to_string(item) + " (A5)");
      (*is_free)[item - 1] = 1;
      st.vol_free++;
      item = sync::word(a.base_, a.vol_link_of(item)).load_relaxed() & ops::kItemMask;
    }
    return Status::ok;
  }

  Status volume(u64 v) {
    u64 sb = a.vol0_off_ + v * a.vol_sz_;
    unsigned szc = h1_tag(sync::word(a.base_, sb + 8).load_relaxed());
    if (szc >= a.szc_cnt_ || a.szc_[szc].parent != kVolumeParent || a.check_sb(sb, szc) != Status::ok)
      return bad("volume " + std::to_string(v) + ": superblock header damaged");
    return tree(sb, szc);
  }
};

Status Allocator::verify(AllocStats* stats, std::string* why) const {
  if (base_ == nullptr) return fail(why, Status::invalid, "not joined");
  Walk w{*this, why, false, {}, {}, {}};
  u64 words[kWClassTable];
  for (unsigned i = 0; i < kWClassTable; ++i) words[i] = hdr_word(i).load_relaxed();
  u64 tw[kSzcMax];
  for (unsigned i = 0; i < szc_cnt_; ++i) tw[i] = sync::word(base_, hdr_off_ + 8 * (kWClassTable + i)).load_relaxed();
  if (words[kWMagic] != kAllocMagic || words[kWSzcCnt] != szc_cnt_ ||
      words[kWCheck] != header_check(words, szc_cnt_, tw))
    return w.bad("allocator header damaged");
  u64 vc = words[kWVolCnt];
  if (vc > vol_max_) return w.bad("volume count " + std::to_string(vc) + " exceeds vol_max (A5)");
  if (const u64 held = backed_vols(); vc > held)
    return w.bad("volume count " + std::to_string(vc) + " exceeds the " + std::to_string(held) +
                 " volumes the backed space holds (A5)");
  std::vector<char> is_free;
  Status s = w.free_volumes(vc, &is_free);
  if (s != Status::ok) return s;

  // Everything in circulation: valid, with a free slot (A2), in one place (A1).
  u64 step_max = vc * vol_sz_ / kSbHdrSize + 1;
  w.check_circ = true;
  for (unsigned szc = 0; szc < szc_cnt_; ++szc) {
    auto take = [&](u64 sb, const char* from) -> Status {
      if (check_sb(sb, szc) != Status::ok)
        return w.bad(std::string(from) + " of class " + std::to_string(szc) + " holds a damaged superblock " + hex(sb));
      if (sync::word(base_, sb + 16).load_relaxed() == 0)
        return w.bad(std::string(from) + " of class " + std::to_string(szc) + " holds full superblock " + hex(sb) + " (A2)");
      w.circ.push_back(sb);
      return Status::ok;
    };
    for (unsigned cg = 0; cg <= cgroup_mask_; ++cg) {
      u64 sb = sync::word(base_, active_off(cg, szc)).load_relaxed();
      if (sb != 0 && (s = take(sb, "an active slot")) != Status::ok) return s;
    }
    u64 item = ops::head_item(sync::word(base_, inactive_off(szc)).load_relaxed());
    for (u64 steps = 0; item != 0; ++steps) {
      u64 link = sb_link_of(item);
      if (link == 0 || steps >= step_max)
        return w.bad("inactive stack of class " + std::to_string(szc) + " damaged (range or cycle)");
      if ((s = take(item << 4, "the inactive stack")) != Status::ok) return s;
      item = sync::word(base_, link).load_relaxed() & ops::kItemMask;
    }
  }
  std::sort(w.circ.begin(), w.circ.end());
  if (std::adjacent_find(w.circ.begin(), w.circ.end()) != w.circ.end())
    return w.bad("a superblock is in circulation twice (A1)");
  w.seen.assign(w.circ.size(), 0);

  for (u64 v = 0; v < vc; ++v) {
    if (is_free[v]) continue;
    if ((s = w.volume(v)) != Status::ok) return s;
  }
  for (std::size_t i = 0; i < w.circ.size(); ++i)
    if (!w.seen[i]) return w.bad("superblock " + hex(w.circ[i]) + " is in circulation but in no volume's tree (A1)");

  if (stats != nullptr) {
    w.st.vol_cnt = vc;
    w.st.vol_max = vol_max_;
    w.st.sb_carved = words[kWCarved];
    w.st.sb_released = words[kWReleased];
    w.st.vol_added = words[kWVolAdded];
    *stats = w.st;
  }
  return Status::ok;
}

Status Allocator::verify_volume(u64 vol_idx, std::string* why) const {
  if (base_ == nullptr) return fail(why, Status::invalid, "not joined");
  Walk w{*this, why, false, {}, {}, {}};
  u64 vc = vol_cnt();
  if (vol_idx >= vc) return fail(why, Status::invalid, "no volume " + std::to_string(vol_idx));
  std::vector<char> is_free;
  Status s = w.free_volumes(vc, &is_free);
  if (s != Status::ok) return s;
  return is_free[vol_idx] ? Status::ok : w.volume(vol_idx);
}

}  // namespace mb
