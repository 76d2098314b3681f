// AllocCache: a per-thread cache of claimed slots in front of the shared
// allocator (core/alloc.h). It holds, per size class, a stack of slot offsets
// whose bits are clear in their superblocks (A3) and whose headers say 'C'.
// Nothing here is shared: the only atomic operations are the batched claims
// (Allocator::alloc_slots, one fetch_and for up to depth/2 slots) and the
// batched releases (Allocator::free_slots, one fetch_or per superblock), whose
// orders are argued in core/internal/alloc_ops.h.
//
// Invariants:
//   C1  every offset in slot_[c] is a slot of class c with header type 'C';
//   C2  cnt_[c] <= depth_.
// A slot's header is written 'C' before it enters the cache and 'O' (by
// place) or 'F' (by flush) before it leaves, so verify() can tell a cached
// slot from a lost one.
#include <algorithm>

#include "core/alloc.h"
#include "core/internal/alloc_ops.h"
#include "core/sync.h"

namespace mb {
namespace {

using u64 = std::uint64_t;
constexpr u64 kTypeCached = 'C', kTypeFree = 'F';

u64 with_type(u64 h0, u64 type) { return (h0 & ~u64{0xff}) | type; }

}  // namespace

AllocCache::AllocCache(Allocator& a, unsigned depth)
    : a_(&a), depth_(std::clamp(depth, 2u, kDepthMax)) {}

u64 AllocCache::cached() const {
  u64 n = 0;
  for (unsigned c = 0; c < kSzcMax; ++c) n += cnt_[c];
  return n;
}

Status AllocCache::refill(unsigned szc) {
  const SizeClass& c = a_->szc_[szc];
  unsigned cg = sync::thread_hint() & a_->cgroup_mask_;
  u64 sb = 0, mask = 0;
  Status s = a_->alloc_slots(szc, cg, depth_ / 2, &sb, &mask);  // trims and retries when full
  if (s != Status::ok) return s;
  // Highest index first, so the lowest is on top and handed out first.
  for (int i = 63; i >= 0; --i) {
    if (!(mask >> i & 1)) continue;
    u64 slot = sb + kSbHdrSize + u64(i) * c.footprint;
    // A valid header (size 0) typed 'C' from its first store: typed 'O'
    // first, a racing stale free() (a caller's double free) could take it
    // to 'F' and set its bit while the slot sits in the cache.
    a_->place(slot, szc, unsigned(i), 16, 0, 0, kTypeCached);  // alloc.h, REUSED MEMORY
    slot_[szc][cnt_[szc]++] = slot;
  }
  return Status::ok;
}

Status AllocCache::alloc(u64 align, u64 size, std::uint32_t tag, u64* off) {
  if (a_->read_only_) return Status::invalid;
  if (align == 0) align = 16;
  unsigned szc = 0;
  Status s = off == nullptr ? Status::invalid : a_->class_for(align, size, &szc);
  if (s != Status::ok) return s;
  if (cnt_[szc] == 0 && (s = refill(szc)) != Status::ok) return s;
  u64 slot = slot_[szc][--cnt_[szc]];
  unsigned idx = (sync::word(a_->base_, slot).load_relaxed() >> 16) & 0xff;
  *off = a_->place(slot, szc, idx, align, size, tag);
  return Status::ok;
}

Status AllocCache::free(u64 off) {
  if (a_->read_only_) return Status::invalid;
  u64 slot, h0, h1;
  Status s = a_->find_slot(off, &slot, &h0, &h1);
  if (s != Status::ok) return s;
  if ((h0 & 0xff) != 'O') return Status::invalid;  // freed already, cached, or a superblock
  unsigned szc = (h0 >> 8) & 0xff;
  // A plain store, not a CAS: two threads freeing one object at the same
  // time is a data race in the caller (as with malloc); a sequential double
  // free still sees 'C' or 'F' here and is refused.
  sync::word(a_->base_, slot).store_release(with_type(h0, kTypeCached));  // alloc.h, REUSED MEMORY
  if (cnt_[szc] == depth_) flush_class(szc, depth_ / 2);
  slot_[szc][cnt_[szc]++] = slot;
  return Status::ok;
}

void AllocCache::flush_class(unsigned szc, unsigned n) {
  const SizeClass& c = a_->szc_[szc];
  n = std::min(n, cnt_[szc]);
  u64* v = slot_[szc];
  // The n oldest (bottom of the stack) go back, grouped by superblock.
  std::sort(v, v + n);
  unsigned cg = sync::thread_hint() & a_->cgroup_mask_;
  for (unsigned i = 0; i < n;) {
    u64 h0 = sync::word(a_->base_, v[i]).load_relaxed();
    u64 idx = (h0 >> 16) & 0xff;
    u64 sb = v[i] - kSbHdrSize - idx * c.footprint;
    u64 mask = 0;
    for (; i < n; ++i) {
      u64 hi = sync::word(a_->base_, v[i]).load_relaxed();
      u64 k = (hi >> 16) & 0xff;
      if ((hi & 0xff) != kTypeCached || k >= c.obj_cnt || v[i] != sb + kSbHdrSize + k * c.footprint)
        break;
      // Release, as every store into reused memory (alloc.h, REUSED MEMORY);
      // the slot itself is published by the release in free_slots' fetch_or.
      sync::word(a_->base_, v[i]).store_release(with_type(hi, kTypeFree));  // alloc.h, REUSED MEMORY
      mask |= u64{1} << k;
    }
    if (mask == 0) {
      ++i;  // a damaged header: leave the slot out (leaked, never reused)
      continue;
    }
    if (a_->check_sb(sb, szc) == Status::ok) a_->free_slots(szc, cg, sb, mask);
  }
  std::copy(v + n, v + cnt_[szc], v);
  cnt_[szc] -= n;
}

void AllocCache::flush() {
  for (unsigned c = 0; c < a_->szc_cnt_; ++c)
    if (cnt_[c] != 0) flush_class(c, cnt_[c]);
}

}  // namespace mb
