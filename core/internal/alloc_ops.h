// The allocator's lock-free primitives, one function each, so the Relacy
// models in models/ can drive them directly as well as through alloc/free.
// The layouts and invariants they maintain are described in core/alloc.h.
//
// Planted bugs (MB_PLANT_BUG, models only, see models/BUILD):
//   1  the stack head's version is not bumped (ABA on pop)
//   2  stack push publishes with a relaxed CAS instead of release
//   3  free() sets its free bit with relaxed instead of acq_rel order
//   (4, 5, 6 are the chain map's: see variants/chain/chain_map.cc)
#ifndef MAPBENCH_CORE_INTERNAL_ALLOC_OPS_H_
#define MAPBENCH_CORE_INTERNAL_ALLOC_OPS_H_

#include <cstdint>

#include "core/status.h"
#include "core/sync.h"

#ifndef MB_PLANT_BUG
#define MB_PLANT_BUG 0
#endif

namespace mb::alloc_ops {

using u64 = std::uint64_t;

// Versioned stack head word (one per stack):
//
//   63          32 31           0
//   +-------------+-------------+
//   |   version   |    item     |     item 0 = empty stack
//   +-------------+-------------+
//
// Every successful push and pop bumps the version, so a pop that read head H
// and next N can only succeed while no push or pop happened since: the ABA
// window needs 2^32 operations during one stalled pop.
inline constexpr unsigned kVerShift = 32;
inline constexpr u64 kItemMask = (u64{1} << kVerShift) - 1;
static_assert((kItemMask >> 31) == 1, "item field is 32 bits");

constexpr u64 head_item(u64 head) { return head & kItemMask; }
constexpr u64 head_next(u64 head, u64 item) {
#if MB_PLANT_BUG == 1
  return (head & ~kItemMask) | item;  // BUG: version kept, ABA possible
#else
  return (((head >> kVerShift) + 1) << kVerShift) | item;
#endif
}

// Push `item` (non-zero, owned exclusively by the caller) whose link word is
// at byte offset `link_off`. Lock-free.
// Linearization point: the successful CAS on the head.
inline void stack_push(void* base, u64 head_off, u64 item, u64 link_off) {
  auto head = sync::word(base, head_off);
  auto link = sync::word(base, link_off);
  u64 old = head.load_relaxed();
  for (;;) {
    // The link is published by the release CAS below; while it is not on
    // the stack nobody else writes it (the caller owns the item). Release
    // only for readers of reused memory (alloc.h, REUSED MEMORY).
    link.store_release(head_item(old));
#if MB_PLANT_BUG == 2
    if (head.cas_relaxed(old, head_next(old, item))) return;  // BUG: no release
#else
    // ORDER: release pairs with the acquire load/CAS in stack_pop: the
    // popper sees the link above and everything the owner wrote to the item
    // before pushing it (superblock header, free bits).
    if (head.cas_release(old, head_next(old, item))) return;
#endif
  }
}

// Pop an item into *item (0 when empty). `link_of(item)` gives the item's
// link-word offset, or 0 when the item is out of range (a damaged region:
// the pop detaches the whole stack, leaking its items so that the class
// keeps working, and returns Status::corrupt). Lock-free.
// Linearization point: the successful CAS (or the load that saw it empty).
template <class LinkOf>
inline Status stack_pop(void* base, u64 head_off, LinkOf link_of, u64* item) {
  auto head = sync::word(base, head_off);
  // ORDER: acquire pairs with the release CAS in stack_push so that the
  // link read below is the one the pusher of `old` wrote.
  u64 old = head.load_acquire();
  for (;;) {
    u64 top = head_item(old);
    if (top == 0) {
      *item = 0;
      return Status::ok;
    }
    u64 link_off = link_of(top);
    if (link_off == 0) {
      // A damaged item: detach the whole stack (its items are leaked) so the
      // class keeps working, and report it.
      if (head.cas_acquire(old, head_next(old, 0))) return Status::corrupt;
      continue;
    }
    // Relaxed, and possibly stale when `top` was popped and pushed again
    // meanwhile; then the version changed and the CAS below fails, so a
    // stale link is never installed.
    u64 next = sync::word(base, link_off).load_relaxed();
    if ((next & kItemMask) == top) {  // a self-loop: damaged, detach as above
      if (head.cas_acquire(old, head_next(old, 0))) return Status::corrupt;
      continue;
    }
    // ORDER: acquire (success and failure) for the same pairing as above,
    // on the value we install or retry with. The pop's own write needs no
    // release: it publishes nothing, and later pops still synchronize with
    // the pushes before it through the head's release sequence (all RMWs).
    if (head.cas_acquire(old, head_next(old, next & kItemMask))) {
      *item = top;
      return Status::ok;
    }
  }
}

// Put `sb` (0 allowed) into an active slot and take out whatever was there.
// Wait-free. Linearization point: the exchange.
inline u64 active_displace(void* base, u64 slot_off, u64 sb) {
  // ORDER: acq_rel: release publishes our writes to `sb` to its next taker;
  // acquire makes the previous owner's writes to the displaced one visible.
  return sync::word(base, slot_off).exchange_acq_rel(sb);
}

// Take the active slot's superblock, if any (test-and-test-and-set: a plain
// load first keeps an empty slot's cache line shared). Wait-free.
inline u64 active_take(void* base, u64 slot_off) {
  auto slot = sync::word(base, slot_off);
  if (slot.load_relaxed() == 0) return 0;
  // ORDER: acquire pairs with the release half of active_displace.
  return slot.exchange_acquire(0);
}

// Claim up to `max_n` (>= 1) of the lowest free slots of a superblock owned
// by the caller (only the owner clears bits; frees only set them, so every
// bit seen set stays set until we clear it). Returns the claimed bits (0 when
// none was free) and, in *left, the bits still free after the claim.
// Wait-free. Linearization point: the fetch_and.
inline u64 bits_claim(void* base, u64 bits_off, unsigned max_n, u64* left) {
  auto bits = sync::word(base, bits_off);
  // ORDER: acquire pairs with the release half of bits_release: the slots'
  // last owners finished with them before we hand them out again.
  u64 b = bits.load_acquire();
  u64 take = 0;
  for (unsigned n = 0; n < max_n && b != 0; ++n) {
    u64 low = b & (~b + 1);
    take |= low;
    b ^= low;
  }
  if (take == 0) {
    *left = 0;
    return 0;
  }
  // ORDER: acq_rel: acquire as above for frees that landed after our load;
  // release keeps the claim ordered before the owner republishes the block.
  u64 old = bits.fetch_and_acq_rel(~take);
  *left = old & ~take;
  // Only the superblock's one owner clears bits (frees only set them), so
  // every bit we saw set is still set: unless a damaged stack (a cycle)
  // handed the superblock to two owners at once. Then the slots the other
  // one took are not ours: take none (the caller reports corrupt), and
  // give back the ones that were still free.
  if ((old & take) != take) {
    bits.fetch_or_acq_rel(old & take);
    return 0;
  }
  return take;
}

// Mark the slots in `mask` free; returns the bits before. Wait-free.
// Linearization point: the fetch_or.
inline u64 bits_release(void* base, u64 bits_off, u64 mask) {
  auto bits = sync::word(base, bits_off);
#if MB_PLANT_BUG == 3
  return bits.fetch_or_relaxed(mask);  // BUG: no release
#else
  // ORDER: acq_rel: release pairs with bits_claim's acquire (our use of the
  // slots happens before their reuse); acquire because the caller may go on
  // to own the superblock (re-circulate or release it) on what it saw.
  return bits.fetch_or_acq_rel(mask);
#endif
}

}  // namespace mb::alloc_ops

#endif  // MAPBENCH_CORE_INTERNAL_ALLOC_OPS_H_
