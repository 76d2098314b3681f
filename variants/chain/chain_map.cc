// ChainMap: see chain_map.h for the algorithm, layout, invariants and the
// memory-order argument.
#include "variants/chain/chain_map.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "core/internal/hash.h"
#include "variants/rwlock/internal/rw_os.h"

// Planted bugs (MB_PLANT_BUG, models only, see models/BUILD):
//   4  value words stored relaxed instead of release (M5)
//   5  unlock stores the chain word relaxed instead of release
//   6  readers skip the re-load of the chain word
//   18 an insert sets its filter bit after the unlock instead of before (M7)
//   19 an erase clears filter bits relaxed instead of release
//   23 find(u64)'s common case alone skips the re-load (the loop keeps it)
//   24 a waiter takes a dead holder's lock over with stores, not CASes
//   31 a dead process's owner index is claimed without the sweeping mark
//   32 a marked owner word is taken for a live process even when dead
//   33 a recovery frees the element the dead writer journaled even when linked
//   43 a sweep forgets a dead erase's journaled element without freeing it
//   46 a move to front unlinks the key's old copy before it links the new one
#ifndef MB_PLANT_BUG
#define MB_PLANT_BUG 0
#endif

namespace mb {
namespace {

using u64 = std::uint64_t;

// Chain word fields.
constexpr u64 kRefMask = 0xffffffffULL;
constexpr unsigned kCntShift = 32;
constexpr u64 kCntMask = 0xfffULL << kCntShift;
constexpr unsigned kVerShift = 44;
constexpr u64 kLockBit = u64{1} << kVerShift;
static_assert(kLockBit == ChainMap::kWordLockBit, "one lock bit");
constexpr u64 kVerMask = ~u64{0} << kVerShift;
static_assert(kChainCntMax == (kCntMask >> kCntShift), "cnt field holds kChainCntMax");
static_assert((kRefMask & kCntMask) == 0 && (kCntMask & kVerMask) == 0, "fields overlap");
static_assert(kAllocSpaceMax >> 4 <= kRefMask + 1, "refs hold ele_off >> 4");
// A locked word's owner index (version bits 1..8), and the version bits the
// lock leaves alone (RECOVERY).
constexpr unsigned kOwnerShift = kVerShift + 1;
constexpr u64 kOwnerMask = u64{0xff} << kOwnerShift;
constexpr u64 kVerTopUnit = u64{1} << (kOwnerShift + 8);
constexpr u64 kVerTopMask = ~(kVerTopUnit - 1);
static_assert(kChainOwnerMax <= (kOwnerMask >> kOwnerShift), "owner indices fit the word");
constexpr unsigned owner_of(u64 w) { return unsigned((w & kOwnerMask) >> kOwnerShift); }

// An owner table word is rw_os::self_ident() of the owning process: its
// pid and the low 32 bits of its start time (0: unknown), which tell it
// from a later process given the same pid; rw_os::alive_ident says whether
// it still runs. kOwnerSweeping, a pid bit no Linux pid has (they stay
// below PID_MAX_LIMIT, 2^22), marks a word whose process has claimed the
// index from a dead one and is still recovering that one's chains
// (claim_owner): it counts as that process for liveness, and nobody locks
// with the index until the mark is gone.
constexpr u64 kOwnerSweeping = u64{1} << 31;
#if !(defined(MB_SYNC_MODEL) && MB_SYNC_MODEL)
// Sweeps of owner indices this process runs now (claim_owner). Our own
// marked owner word while none runs is a sweep whose thread is gone: an
// exec (the new image keeps the pid and start time), a sweep that threw,
// or our pid given to us after a process known by its pid alone died
// sweeping. A thread that meets one adopts it, one at a time (g_adopt_mu).
// A fork child inherits a count its own marks never meet (another pid).
// Not in the models: they have no exec, and the wait they check is the
// sibling's wait for a running sweep.
sync::atomic<unsigned> g_sweeps_running{0};
std::mutex g_adopt_mu;
struct SweepRunning {
  // ORDER: acq_rel both ways: a thread that reads 0 after our decrement
  // also reads our final owner word store (claim_owner), made before it.
  SweepRunning() { g_sweeps_running.fetch_add_acq_rel(1); }
  ~SweepRunning() { g_sweeps_running.fetch_sub_acq_rel(1); }
};
#endif

bool owner_alive(u64 ow) {
#if MB_PLANT_BUG == 32
  return rw_os::alive_ident(ow);  // BUG: a dead sweeper's marked word reads as another, live, process
#else
  return rw_os::alive_ident(ow & ~kOwnerSweeping);
#endif
}

constexpr u64 head_of(u64 w) { return w & kRefMask; }
constexpr u64 cnt_of(u64 w) { return (w & kCntMask) >> kCntShift; }

// Element w0 fields.
constexpr u64 next_of(u64 w0) { return w0 & kRefMask; }
constexpr u64 key_sz_of(u64 w0) { return (w0 >> 32) & 0xff; }
constexpr u64 val_sz_of(u64 w0) { return w0 >> 40; }
constexpr u64 ele_w0(u64 next, u64 key_sz, u64 val_sz) { return next | key_sz << 32 | val_sz << 40; }
static_assert(val_sz_of(ele_w0(0, 255, kChainValMax)) == kChainValMax, "val_sz field holds 64 KiB");

// Map header words.
constexpr unsigned kStatAgain = 6, kStatBusy = 7, kOwnWord = 8, kOwnCntWord = 9, kSegWord = 10;

// The inline slot: bucket word offsets and meta fields.
constexpr u64 kMeta = 8, kInKey = 16, kInVal = 24, kInlineMax = 8;
constexpr u64 inline_meta(u64 h, u64 key_sz, u64 val_sz) { return (h & ~u64{0xff}) | key_sz << 4 | val_sz; }
constexpr u64 meta_ks(u64 m) { return (m >> 4) & 0xf; }
constexpr u64 meta_vs(u64 m) { return m & 0xf; }
// A full slot's meta is well formed (M6).
constexpr bool meta_ok(u64 m) { return meta_ks(m) >= 1 && meta_ks(m) <= kInlineMax && meta_vs(m) <= kInlineMax; }
// The meta names a key of key_sz bytes with hash h (its hash bits and key
// size match). Exact for every key_sz: a longer key would spill into the
// hash bits of inline_meta.
constexpr bool meta_names(u64 m, u64 h, u64 key_sz) {
  return key_sz <= kInlineMax && (m >> 4) == (inline_meta(h, key_sz, 0) >> 4);
}
static_assert(ChainMap::kBucketBytes == kInVal + 8, "a bucket is its four words");

// *n = the length of a chain's list: its count less a full inline slot
// (meta m). false when the slot is damaged or not counted (M6, M1).
constexpr bool list_len(u64 cnt, u64 m, u64* n) {
  if (m != 0 && (!meta_ok(m) || cnt == 0)) return false;
  *n = cnt - (m != 0);
  return true;
}

// Copy an inline value (word v, vs bytes) into buf (cap bytes).
Status copy_inline(u64 v, u64 vs, void* buf, u64 cap, u64* val_sz) {
  *val_sz = vs;
  if (vs > cap) return Status::invalid;
  if (vs != 0) std::memcpy(buf, &v, vs);
  return Status::ok;
}

constexpr u64 words(u64 bytes) { return (bytes + 7) / 8; }
// A filter object's bytes for `chains` chains: one each, whole words.
constexpr u64 filter_bytes(u64 chains) { return 8 * words(chains); }
constexpr u64 ele_size(u64 key_sz, u64 val_sz) { return 16 + 8 * (words(key_sz) + words(val_sz)); }

// Copy element e's key (ks bytes, whole words) into key[] (ks + 7 bytes
// at least); returns the last word read (0 for none), whose bytes past ks
// are the key's padding. Relaxed loads: the caller holds the chain's lock
// or the map is quiescent.
u64 copy_element_key(void* base, u64 e, u64 ks, unsigned char* key) {
  u64 kw = 0;
  for (u64 j = 0; j < words(ks); ++j) {
    kw = sync::word(base, e + 16 + 8 * j).load_relaxed();
    std::memcpy(key + 8 * j, &kw, 8);
  }
  return kw;
}

// Whether an element's word 0, w0, names sizes that make an element of
// `size` bytes (M2).
constexpr bool element_sizes_fit(u64 w0, u64 size) {
  return key_sz_of(w0) != 0 && val_sz_of(w0) <= kChainValMax && ele_size(key_sz_of(w0), val_sz_of(w0)) == size;
}

Status fail(std::string* why, Status s, const std::string& msg) {
  if (why != nullptr) *why = msg;
  return s;
}

// The key as zero-padded words (for word-wise compares and stores).
struct KeyWords {
  // Precondition: k.size <= kChainKeyMax (every caller checks it first).
  // Kept branch-free: clamping here made finds 2x slower (measured).
  explicit KeyWords(Bytes k) : n(words(k.size)) {
    if (n != 0) w[n - 1] = 0;  // the padding of the last word
    std::memcpy(w, k.data, k.size);
  }
  u64 w[words(kChainKeyMax)];
  u64 n;
};

u64 header_check(const u64* w) { return internal::hash_bytes(w + 1, 4 * sizeof(u64), kChainMagic); }

}  // namespace

// --- lifecycle -------------------------------------------------------------

Status ChainMap::create(Allocator& a, u64 ele_expected, u64 seed, u64* map_off, std::string* why) {
  // Buckets per segment: up to kChainSegChains, as many as the allocator's
  // largest class holds 64-aligned (fewer with small volumes).
  u64 seg_max = kChainSegChains;
  while (seg_max > 0 && kBucketBytes * seg_max + 64 > a.size_max() + kObjHdrSize) seg_max >>= 1;
  if (seg_max == 0) return fail(why, Status::invalid, "the allocator's classes cannot hold a chain segment");
  u64 chains = 1;
  while (chains < ele_expected && chains < seg_max * kChainSegMax) chains <<= 1;
  u64 seg_chains = std::min(chains, seg_max);
  u64 seg_cnt = chains / seg_chains;
  u64 hdr = 0;
  Status s = a.alloc(64, 8 * (kSegWord + 2 * seg_cnt), kChainTagHeader, &hdr);
  if (s != Status::ok) return fail(why, s, "cannot allocate the map header");
  u64 w[6] = {kChainMagic, kChainLayoutVersion, chains, seed, seg_cnt, 0};
  // The owner table: word 0 (recoveries), one word per owner index, then
  // two journal words per owner index.
  const u64 owners = std::min<u64>(kChainOwnerMax, (a.size_max() / 8 - 1) / 3);
  u64 own = 0;
  if ((s = a.alloc(8, 8 * (3 * owners + 1), kChainTagOwners, &own)) != Status::ok) {
    a.free(hdr);
    return fail(why, s, "cannot allocate the owner table");
  }
  for (u64 i = 0; i <= 3 * owners; ++i) sync::word(a.base(), own + 8 * i).store_relaxed(0);
  sync::word(a.base(), hdr + 8 * kOwnWord).store_relaxed(own);
  sync::word(a.base(), hdr + 8 * kOwnCntWord).store_relaxed(owners);
  auto undo = [&](u64 segs, u64 filters) {
    for (u64 j = 0; j < segs; ++j) a.free(sync::word(a.base(), hdr + 8 * (kSegWord + j)).load_relaxed());
    for (u64 j = 0; j < filters; ++j) a.free(sync::word(a.base(), hdr + 8 * (kSegWord + seg_cnt + j)).load_relaxed());
    a.free(own);
    a.free(hdr);
  };
  for (u64 i = 0; i < seg_cnt; ++i) {
    u64 seg = 0;
    // 64-aligned: a bucket never straddles a cache line (a 512 KiB segment
    // fits the allocator class of exactly that plus kPow2Slack).
    if ((s = a.alloc(64, ChainMap::kBucketBytes * seg_chains, kChainTagSegment, &seg)) != Status::ok) {
      undo(i, 0);
      return fail(why, s, "cannot allocate chain segment " + std::to_string(i));
    }
    for (u64 c = 0; c < ChainMap::kBucketBytes / 8 * seg_chains; ++c) sync::word(a.base(), seg + 8 * c).store_relaxed(0);
    sync::word(a.base(), hdr + 8 * (kSegWord + i)).store_relaxed(seg);
  }
  for (u64 i = 0; i < seg_cnt; ++i) {
    u64 flt = 0;
    if ((s = a.alloc(8, filter_bytes(seg_chains), kChainTagFilter, &flt)) != Status::ok) {
      undo(seg_cnt, i);
      return fail(why, s, "cannot allocate chain filter " + std::to_string(i));
    }
    for (u64 c = 0; c < filter_bytes(seg_chains) / 8; ++c) sync::word(a.base(), flt + 8 * c).store_relaxed(0);
    sync::word(a.base(), hdr + 8 * (kSegWord + seg_cnt + i)).store_relaxed(flt);
  }
  w[5] = header_check(w);
  for (unsigned i = 1; i < 6; ++i) sync::word(a.base(), hdr + 8 * i).store_relaxed(w[i]);
  sync::word(a.base(), hdr + 8 * kStatAgain).store_relaxed(0);
  sync::word(a.base(), hdr + 8 * kStatBusy).store_relaxed(0);
  // ORDER: release pairs with the acquire load of the magic in join().
  sync::word(a.base(), hdr).store_release(kChainMagic);
  *map_off = hdr;
  return Status::ok;
}

Status ChainMap::join(Allocator& a, u64 map_off, ChainMap* out, std::string* why) {
  u64 size = 0;
  std::uint32_t tag = 0;
  if (a.info(map_off, &size, &tag) != Status::ok || tag != kChainTagHeader || size < 48)
    return fail(why, Status::invalid, "no chain map header at this offset");
  if (sync::word(a.base(), map_off).load_acquire() != kChainMagic)
    return fail(why, Status::invalid, "not a chain map (bad magic)");
  u64 w[6];
  for (unsigned i = 0; i < 6; ++i) w[i] = sync::word(a.base(), map_off + 8 * i).load_relaxed();
  if (w[1] != kChainLayoutVersion)
    return fail(why, Status::invalid, "chain map layout version " + std::to_string(w[1]));
  if (w[5] != header_check(w)) return fail(why, Status::corrupt, "chain map header damaged");
  u64 chains = w[2], seg_cnt = w[4];
  if (chains == 0 || (chains & (chains - 1)) || seg_cnt == 0 || (seg_cnt & (seg_cnt - 1)) ||
      seg_cnt > kChainSegMax || seg_cnt > chains || chains / seg_cnt > kChainSegChains ||
      size < 8 * (kSegWord + 2 * seg_cnt))
    return fail(why, Status::corrupt, "chain map geometry damaged");
  const u64 seg_chains = chains / seg_cnt;
  const u64 own = sync::word(a.base(), map_off + 8 * kOwnWord).load_relaxed(),
            owners = sync::word(a.base(), map_off + 8 * kOwnCntWord).load_relaxed();
  if (owners == 0 || owners > kChainOwnerMax || a.info(own, &size, &tag) != Status::ok || tag != kChainTagOwners ||
      size < 8 * (3 * owners + 1) || own % 8 != 0)
    return fail(why, Status::corrupt, "chain map owner table damaged");
  ChainMap m;
  m.a_ = &a;
  m.own_off_ = own;
  m.own_cnt_ = unsigned(owners);
  m.base_ = a.base();
  m.hdr_off_ = map_off;
  m.chain_cnt_ = chains;
  m.seed_ = w[3];
  m.hash8_ = internal::mix64(m.seed_ ^ 8);
  m.seg_cnt_ = seg_cnt;
  m.seg_shift_ = unsigned(__builtin_ctzll(seg_chains));
  for (u64 i = 0; i < seg_cnt; ++i) {
    u64 seg = sync::word(a.base(), map_off + 8 * (kSegWord + i)).load_relaxed();
    if (a.info(seg, &size, &tag) != Status::ok || tag != kChainTagSegment ||
        size < kBucketBytes * seg_chains || seg % 64 != 0)
      return fail(why, Status::corrupt, "chain segment " + std::to_string(i) + " damaged");
    m.seg_off_[i] = seg;
    u64 flt = sync::word(a.base(), map_off + 8 * (kSegWord + seg_cnt + i)).load_relaxed();
    if (a.info(flt, &size, &tag) != Status::ok || tag != kChainTagFilter || size < filter_bytes(seg_chains) ||
        flt % 8 != 0)
      return fail(why, Status::corrupt, "chain filter " + std::to_string(i) + " damaged");
    m.flt_off_[i] = flt;
  }
  *out = m;
  return Status::ok;
}

Status ChainMap::destroy() {
  // Every chain is checked before anything is freed: a damaged one leaves
  // the map whole (Status::corrupt), not half freed.
  std::vector<u64> dead(kChainCntMax);
  u64 n = 0;
  for (u64 idx = 0; idx < chain_cnt_; ++idx)
    if (!chain_elements(idx, chain(idx).load_acquire(), dead.data(), &n)) return Status::corrupt;
  for (u64 idx = 0; idx < chain_cnt_; ++idx) {
    // True again: freeing other chains' elements changes nothing this walk reads.
    chain_elements(idx, chain(idx).load_acquire(), dead.data(), &n);
    for (u64 i = 0; i < n; ++i) a_->free(dead[i]);
    chain(idx).store_relaxed(0);
    sync::word(base_, bucket(idx) + kMeta).store_relaxed(0);
  }
  sync::word(base_, hdr_off_).store_release(0);
  for (u64 i = 0; i < seg_cnt_; ++i) a_->free(seg_off_[i]), a_->free(flt_off_[i]);
  a_->free(own_off_);
  a_->free(hdr_off_);
  *this = ChainMap();
  return Status::ok;
}

// --- helpers ---------------------------------------------------------------

// Public: a key too long to be stored hashes to 0 (every operation refuses
// it anyway) instead of overflowing KeyWords.
u64 ChainMap::hash(Bytes key) const { return key.size <= kChainKeyMax ? hash_of(key) : 0; }

u64 ChainMap::hash_of(Bytes key) const {
  KeyWords k(key);
  u64 h = internal::mix64(seed_ ^ key.size);
  for (u64 i = 0; i < k.n; ++i) h = internal::mix64(h ^ k.w[i]);
  return h;
}

// An element offset a reader may dereference (its two header words): 16-
// aligned and inside the allocator's volumes, so reading it never faults,
// whatever it holds now. Longer reads check their own extent.
bool ChainMap::ele_ok(u64 e) const { return e % 16 == 0 && a_->contains(e, 16); }

void ChainMap::filter_add(u64 idx, u64 h) const {
  auto f = filter(idx);
  const u64 bit = filter_bit(idx, h);
  // Relaxed load: only holders of this chain's lock change its byte, and we
  // acquired the last one's unlock. Relaxed RMW: sequenced before our
  // unlock's release, which publishes it (FILTER in the header).
  if (!(f.load_relaxed() & bit)) f.fetch_or_relaxed(bit);
}

void ChainMap::filter_refresh(u64 idx, u64 w) const {
  // Relaxed loads: we hold the lock (M4).
  const u64 m = sync::word(base_, bucket(idx) + kMeta).load_relaxed();
  u64 bits = m != 0 ? filter_bit(idx, m) : 0, n = 0, ref = head_of(w);  // meta keeps hash[63:8]
  if (!list_len(cnt_of(w), m, &n)) return;  // damaged: keep every bit
  for (; n > 0; --n) {
    u64 e = ref << 4;
    if (!ele_ok(e)) return;
    bits |= filter_bit(idx, sync::word(base_, e + 8).load_relaxed());
    ref = next_of(sync::word(base_, e).load_relaxed());
  }
  if (ref != 0) return;
  auto f = filter(idx);
  const u64 stale = f.load_relaxed() & (u64{0xff} << 8 * (idx & 7)) & ~bits;
#if MB_PLANT_BUG == 19
  if (stale != 0) f.fetch_and_relaxed(~stale);  // BUG: a reader of the clear learns nothing of our lock
#else
  // ORDER: release: a reader whose acquire load reads this clear then sees
  // our lock (or what followed it) on the chain word (FILTER).
  if (stale != 0) f.fetch_and_release(~stale);
#endif
}

Status ChainMap::lock(u64 idx, unsigned flags, u64* word, unsigned* stamped) const {
  unsigned me = 0;
  if (Status s = lock_owner(flags, &me); s != Status::ok) return s;
  if (stamped != nullptr) *stamped = me;  // the index to journal under (0: none)
  return lock_as(idx, flags, me, word);
}

// The owner index to lock with. A caller that takes several locks at once
// (a transaction, for_each_locked) asks once, before its first lock, and
// locks with lock_as: asked again while it held chains, owner() could
// claim a dead process's index and sweep it, and the sweep would wait on
// a chain this very thread holds. A non-blocking writer does not wait for
// a sweep of ours (claim_owner): Status::again.
Status ChainMap::lock_owner(unsigned flags, unsigned* me) const {
  *me = owner(nullptr, nullptr, !(flags & kChainNonBlocking));
  return *me == kOwnerBusy ? Status::again : Status::ok;
}

// lock() with owner index `me` (a sweep locks with the index it claims).
Status ChainMap::lock_as(u64 idx, unsigned flags, unsigned me, u64* word) const {
  auto c = chain(idx);
  const u64 stamp = u64{me} << kOwnerShift;
  // ORDER: acquire (here and below): take_over reads the owner table after
  // it, and must see the claim of whoever stamped the word.
  u64 w = c.load_acquire();
  for (u64 spins = 0;; ++spins) {
    if (spins == kChainWaitMax) return Status::again;  // see find()
    // ORDER: acq_rel. Acquire pairs with the release store in unlock(): we
    // see every element write of the chain's previous holder. Release: a
    // recoverer that reads our stamp (acquire) also sees our owner index's
    // claim, so it never takes us for the dead process that held the index
    // before (claim_owner).
    if (!(w & kLockBit) && c.cas_acq_rel(w, (w & ~kOwnerMask) | kLockBit | stamp)) {
      *word = w | kLockBit;  // the full version: unlock() counts from it
      return Status::ok;
    }
    if (spins == 0) sync::word(base_, hdr_off_ + 8 * kStatBusy).fetch_add_relaxed(1);
    if (flags & kChainNonBlocking) return Status::again;
    Status s = Status::ok;
    if (wait_step(w, spins) && take_over(idx, w, me, word, &s)) {  // we hold it now, repaired
      if (s != Status::ok) unlock_unchanged(idx, *word);
      return s;
    }
    w = c.load_acquire();
  }
}

// --- recovery (RECOVERY in the header) -------------------------------------------

unsigned ChainMap::owner(u64* swept, Status* worst, bool may_wait) const {
  const std::uint32_t pid = rw_os::self_pid();
#if !(defined(MB_SYNC_MODEL) && MB_SYNC_MODEL)
  // This process's answer, kept in the handle (pid << 32 | index): a fork
  // child has another pid and asks again. ORDER: acquire pairs with the
  // release below, after the claim: our stamps then carry the claim to
  // recoverers (lock()). Index 0 (none free) is kept too, for
  // kChainOwnerRetryMs: a process that found the table full does not scan
  // it on every lock.
  const u64 c = owner_cache_.a.load(std::memory_order_acquire);
  if (c >> 32 == pid &&
      ((c & 0xff) != 0 || rw_os::now_ms() < owner_cache_.retry_ms.load(std::memory_order_relaxed)))
    return unsigned(c & 0xff);
#endif
  const u64 me = rw_os::self_ident();
  const unsigned home = 1 + pid % own_cnt_;
  // ORDER: acquire pairs with claim_owner's CAS or, for an index taken
  // from a dead process, its store after the sweep (another thread of this
  // process may have claimed the index), as above.
  unsigned i = owner_word(home).load_acquire() == me ? home : claim_owner(me, swept, worst, may_wait);
  if (i == kOwnerBusy) return i;  // not kept: asked again next time
#if !(defined(MB_SYNC_MODEL) && MB_SYNC_MODEL)
  // None free: asked again after kChainOwnerRetryMs (a process that held
  // one may have died), not on every lock.
  if (i == 0) owner_cache_.retry_ms.store(rw_os::now_ms() + g_chain_owner_retry_ms, std::memory_order_relaxed);
  owner_cache_.a.store(u64{pid} << 32 | i, std::memory_order_release);
#endif
  return i;
}

// Indices are claimed in probe order from pid's home and never freed, only
// taken over from dead processes, so a process's index comes before any
// free one on its probe: the first index holding our owner word (me) or
// free is the answer. A dead process's index is claimed marked as being
// swept (me | kOwnerSweeping) before its chains are recovered, and the mark
// goes once none is left: from the claim on, every waiter takes the chains
// still stamped with the index for ours (alive: they wait, and no taker
// can get in between), a sweep killed halfway leaves them stamped with a
// dead process's index (the next waiter or claimer recovers them), and no
// thread of ours locks with the index while a chain stamped with it is
// still the dead process's: another thread of ours that meets the mark
// waits for the sweep.
unsigned ChainMap::claim_owner(u64 me, u64* swept, Status* worst, bool may_wait) const {
  const std::uint32_t pid = std::uint32_t(me);
  for (unsigned pass = 0; pass < 2; ++pass) {
    for (unsigned n = 0; n < own_cnt_; ++n) {
      const unsigned i = 1 + (pid + n) % own_cnt_;
      // ORDER: acquire pairs with the claims' CASes and the sweep's end
      // (below; another thread of this process may have claimed i).
      u64 o = owner_word(i).load_acquire();
      for (;;) {
        while (o == (me | kOwnerSweeping)) {  // a thread of ours sweeps i for us
          if (!may_wait) return kOwnerBusy;
#if !(defined(MB_SYNC_MODEL) && MB_SYNC_MODEL)
          // ORDER: acquire, with the decrement's release (SweepRunning).
          if (g_sweeps_running.load_acquire() == 0) {  // none does: adopt the sweep
            std::lock_guard<std::mutex> g(g_adopt_mu);
            if (owner_word(i).load_acquire() == (me | kOwnerSweeping)) {
              SweepRunning running;
              sweep(i, swept, worst);
              owner_word(i).store_release(me);  // ORDER: release, as below
            }
          }
#endif
          sync::yield();
          o = owner_word(i).load_acquire();
        }
        if (o == me) return i;
        if (pass == 0 ? o != 0 : o == 0 || owner_alive(o)) break;
#if MB_PLANT_BUG == 31
        // BUG: the index is ours before its chains are: another thread of
        // ours locks with it, and the sweep takes that lock for a dead one's.
        const u64 claim = me;
#else
        const u64 claim = o == 0 ? me : me | kOwnerSweeping;
#endif
#if !(defined(MB_SYNC_MODEL) && MB_SYNC_MODEL)
        SweepRunning running;  // before the claim: a sibling never takes a live sweep for a lost one
#endif
        // ORDER: acq_rel: release publishes the claim to this process's
        // other threads (owner()'s acquire) and, through their stamps (or
        // the sweep's CASes) to recoverers, who must see it to leave our
        // chains alone; acquire pairs with the previous claim. On failure
        // o is the word stored first (another thread of ours, maybe:
        // above).
        if (!owner_word(i).cas_acq_rel(o, claim)) continue;
        if (o != 0) {
          sweep(i, swept, worst);
          // ORDER: release: a thread of ours that reads it (acquire,
          // above) sees every chain we swept unlocked.
          owner_word(i).store_release(me);
        }
        return i;
      }
    }
  }
  return 0;  // every index held by a live process: locks we take cannot be recovered for now
}

// Recover every chain still stamped with index i, which we have claimed
// marked as being swept (claim_owner): only the dead process that held it
// before (or a sweeper of it that died) stamped those, and a taker's step 1
// keeps the stamp. Each takes one CAS: nobody else takes a chain whose
// index names us, and of takers that found the holder dead before our
// claim, whichever CAS comes second fails (take_over's step 3, or ours:
// the chain then carries the taker's stamp and is its to repair).
void ChainMap::sweep(unsigned i, u64* swept, Status* worst) const {
  for (u64 idx = 0; idx < chain_cnt_; ++idx) {
    auto c = chain(idx);
    // ORDER: acquire, as the waiters' loads before take_over.
    u64 w = c.load_acquire();
    while ((w & kLockBit) && owner_of(w) == i) {
      // The next top version, the stamp (i, ours now) kept.
      const u64 mine = ((w & kVerTopMask) + kVerTopUnit) | (w & ~kVerTopMask);
      // ORDER: acq_rel, as take_over's step 1: acquire, the dead holder's
      // stores, as there; release, a waiter that reads our word (acquire)
      // also sees our marked claim, which names a live process. On
      // failure w is reloaded.
      if (!c.cas_acq_rel(w, mine)) continue;
      owner_word(0).fetch_add_relaxed(1);  // recoveries
      rw_os::hook(rw_os::HookPoint::chain_sweeping);
      u64 word = 0;
      const Status s = repair(idx, mine, i, &word);
      unlock_unchanged(idx, word);
      if (swept != nullptr) ++*swept;
      if (s != Status::ok && worst != nullptr) *worst = s;
      break;
    }
  }
  // What the journal still names is on chains unlocked (or locked by a
  // live taker still repairing, whom lock_as below waits for). A kJOld entry
  // unmarked: an element the dead process unlinked, unlocked and died
  // before freeing; settled under its chain's lock, taken with index i
  // (ours, marked). Anything else is forgotten, never freed: a kJNew entry
  // (a writer clears it before its unlock, so one left on an unlocked
  // chain was stranded by a taker that died before settling it, and its
  // element may be linked, or unlinked since by a live writer about to
  // free it), a kJTaken one (the same, marked by the taker), and damage.
  for (unsigned slot = 0; slot < 2; ++slot) {
    u64 e = jword(i, slot).load_acquire();
    if (e == 0) continue;
    // ele_ok first: the hash word is read only inside the space.
    const u64 named = e & ~kJTaken;
    const u64 idx = ele_ok(named) ? sync::word(base_, named + 8).load_acquire() & (chain_cnt_ - 1) : 0;
#if MB_PLANT_BUG == 43
    const bool stranded = true;  // planted bug 43: an unmarked kJOld entry forgotten, its element leaked
#else
    const bool stranded = slot == kJNew || (e & kJTaken) != 0;
#endif
    if (stranded || !element_of_chain(named, idx)) {
      // Forgotten, never freed. The index is ours, but a taker of one of
      // the dead process's locks may mark this entry meanwhile (mark_taken,
      // which only adds kJTaken): the CAS is retried, or a marked entry
      // would outlive the sweep in an index we now use. ORDER: acq_rel, as
      // every journal CAS; on failure e is reloaded.
      while (e != 0 && !jword(i, slot).cas_acq_rel(e, 0)) {
      }
      continue;
    }
    u64 w = 0;
    if (lock_as(idx, 0, i, &w) != Status::ok) continue;  // left for a later claim
    // The list, walked whole (its count, ending at 0), or nothing settled.
    std::vector<u64> kept;
    u64 ref = head_of(w);
    while (ref != 0 && kept.size() < cnt_of(w) && ele_ok(ref << 4)) {
      kept.push_back(ref << 4);
      ref = next_of(sync::word(base_, ref << 4).load_acquire());
    }
    if (ref == 0) settle(i, idx, kept, {});
    unlock_unchanged(idx, w);
  }
}

// Under chain idx's lock, its list `kept` final, owner index o's process
// dead: what o's journal names on this chain (RECOVERY) is forgotten, and
// freed when it is not on the list; so is `dropped` (elements a repair
// unlinked). A journal word is cleared with a CAS before its element is
// freed: of two recoverers, one frees. Freed
// under the lock, not after the unlock (M4's exception): a reader that
// reached the element read the chain word before the dead writer locked
// it, and its re-load fails.
void ChainMap::settle(unsigned o, u64 idx, const std::vector<u64>& kept, const std::vector<u64>& dropped) const {
  auto listed = [](const std::vector<u64>& v, u64 e) { return std::find(v.begin(), v.end(), e) != v.end(); };
  std::vector<u64> gone, keep_out;  // to free; not ours to free (a journal word another cleared)
  for (unsigned slot = 0; o != 0 && o <= own_cnt_ && slot < 2; ++slot) {
    auto j = jword(o, slot);
    u64 e = j.load_acquire();  // kJTaken: marked by our take_over (mark_taken)
    if (e == 0) continue;
    const u64 named = e & ~kJTaken;
    const bool here = listed(dropped, named) || element_of_chain(named, idx);
    if (!here) continue;  // another chain's (settled under that chain's lock), or damage
    // ORDER: acq_rel, as unjournal()'s: of two recoverers, one frees.
    if (!j.cas_acq_rel(e, 0)) {
      keep_out.push_back(named);
      continue;
    }
#if MB_PLANT_BUG == 33
    gone.push_back(named);  // BUG: frees a journaled element the list still holds
#else
    if (!listed(kept, named) && !listed(gone, named)) gone.push_back(named);  // (both words naming it: once)
#endif
  }
  for (u64 e : dropped)
    if (!listed(kept, e) && !listed(gone, e) && !listed(keep_out, e)) gone.push_back(e);
  for (u64 e : gone) a_->free(e);
}

// Whether e is a whole element (a live allocator object tagged as one,
// sizes that fit it, M2) filed under chain idx: what repair() asks of every
// element on the list, and settle() of every element a journal names.
bool ChainMap::element_of_chain(u64 e, u64 idx) const {
  u64 size = 0;
  std::uint32_t tag = 0;
  if (!ele_ok(e) || a_->info(e, &size, &tag) != Status::ok || tag != kChainTagElement) return false;
  return element_sizes_fit(sync::word(base_, e).load_acquire(), size) &&
         (sync::word(base_, e + 8).load_acquire() & (chain_cnt_ - 1)) == idx;
}

// Whether e, whose word 0 the lock holder read as w0, is a live element
// object of the size w0's key and value sizes give (locate()'s test: the
// rest of element_of_chain() it has from its walk).
bool ChainMap::element_object(u64 e, u64 w0) const {
  u64 size = 0;
  std::uint32_t tag = 0;
  return a_->info(e, &size, &tag) == Status::ok && tag == kChainTagElement && element_sizes_fit(w0, size);
}

// Recover chain idx, stamping it with owner index me while we repair it,
// for as long as its holder is dead (a taker that loses to another killed
// after its step 1 finds the chain still to take). *n counts a recovery,
// *worst is corrupt if the chain was damaged (either may be null).
void ChainMap::recover_chain(u64 idx, unsigned me, u64* n, Status* worst) const {
  for (;;) {
    // ORDER: acquire, as the waiters' loads before take_over.
    const u64 w = chain(idx).load_acquire();
    if (!(w & kLockBit)) return;
    const u64 ow = holder_of(w);
    if (ow == 0 || owner_alive(ow)) return;  // an unknown or live holder
    u64 word = 0;
    Status s = Status::ok;
    if (take_over(idx, w, me, &word, &s)) {
      unlock_unchanged(idx, word);
      if (n != nullptr) ++*n;
      if (s != Status::ok && worst != nullptr) *worst = s;
      return;
    }
    sync::yield();
  }
}

u64 ChainMap::holder_of(u64 w) const {
  const unsigned o = owner_of(w);
  // ORDER: acquire pairs with the holder's claim (through its stamp, which
  // our caller read with acquire).
  return o != 0 && o <= own_cnt_ ? owner_word(o).load_acquire() : 0;
}

bool ChainMap::wait_step(u64 w, u64 spins) const {
  if (spins < sync::kSpin.pause_max) {
    sync::pause();
    return false;
  }
  sync::yield();
  // The model looks at every step; a process now and then (a kill() per
  // look).
  constexpr u64 poll = sync::kModelBuild ? 1 : kChainOwnerPoll;
  return (w & kLockBit) && (spins - sync::kSpin.pause_max) % poll == 0;
}

bool ChainMap::take_over(u64 idx, u64 seen, unsigned me, u64* word, Status* s) const {
  const unsigned o = owner_of(seen);
  const u64 dead = holder_of(seen);
  if (dead == 0 || owner_alive(dead)) return false;  // an unknown or live holder: wait
  auto c = chain(idx);
  // Step 1: the next top version, the stamp left as it is. A locked word
  // keeps only the top 11 version bits, so `seen` could be a live holder's
  // word, equal bit for bit to the dead one's (its index given to a new
  // process, or the dead pid reused); this step does not change who holds
  // it (the holder's unlock stores a whole word of its own; its
  // set_head_locked keeps these bits), and a taker killed after it leaves
  // a word whose stamp still names the holder.
  u64 prov = ((seen & kVerTopMask) + kVerTopUnit) | (seen & ~kVerTopMask), expect = seen;
  // ORDER: acq_rel, as lock()'s CAS. Acquire: the dead holder's CAS
  // continued the release sequence of the unlock before it, so we see the
  // chain as of `seen`; what the dead process stored after its CAS we see
  // because its death (which alive() observed through the kernel) came
  // after it (repair() reads with acquire for what that leaves to the
  // language); and if the word was a live holder's, we now see its claim
  // of index o (its lock CAS released it), which step 2 reads.
#if MB_PLANT_BUG == 24
  c.store_relaxed(prov);  // BUG: stores, not CASes: every taker that saw the dead word takes it
#else
  if (!c.cas_acq_rel(expect, prov)) return false;
#endif
  // Our index, before step 2 (claiming one may take a while: step 2's
  // answer must be fresh at step 3). Only now: a reader that waits on a
  // live holder claims nothing.
  if (me == kOwnerLazy) me = owner();
  // Step 2: with the word's writer now known to us, is index o still the
  // dead process's, and is it still dead?
  // ORDER: acquire, as above.
  if (owner_word(o).load_acquire() != dead || owner_alive(dead)) return false;
  // Step 3: ours. Of several takers, only one whose step 3 follows its own
  // step 1 with no other step 1 between can win (all may fail, and retry).
  const u64 mine = (prov & ~kOwnerMask) | u64{me} << kOwnerShift;
#if MB_PLANT_BUG == 24
  c.store_relaxed(mine);
#else
  expect = prov;
  // ORDER: acq_rel, as step 1.
  if (!c.cas_acq_rel(expect, mine)) return false;
#endif
  owner_word(0).fetch_add_relaxed(1);  // recoveries
  mark_taken(o, idx);
  rw_os::hook(rw_os::HookPoint::chain_taken_over);
  *s = repair(idx, mine, o, word);
  return true;
}

// After take_over's step 3 (chain idx ours, stamped with our index; o the
// dead holder's): mark what o's journal names on this chain kJTaken. Only
// o's dead process wrote those (no other process can have held idx since
// it died: a sweep of o would have taken the chain first and failed our
// step 3). repair() settles them; if we die first, whoever takes the chain
// from us settles our index, not o, and the claim that later sweeps o
// must not act on entries whose elements the chain may still hold, or a
// live writer may since have unlinked and be about to free: it forgets
// the marked ones (sweep()). A taker killed between its step 3 and these
// CASes leaves them unmarked (RECOVERY).
void ChainMap::mark_taken(unsigned o, u64 idx) const {
  for (unsigned slot = 0; o != 0 && o <= own_cnt_ && slot < 2; ++slot) {
    auto j = jword(o, slot);
    u64 e = j.load_acquire();
    // ORDER: acq_rel, as settle()'s CAS (one word, several recoverers).
    if (e != 0 && (e & kJTaken) == 0 && element_of_chain(e, idx)) j.cas_acq_rel(e, e | kJTaken);
  }
}

// Under the lock taken over from a dead holder; `seen` is the locked word
// as we took it: its head is the list as the dead holder left it (it kept
// the head in memory current, set_head_locked), its count is stale. *word:
// the locked word to go on with, with the count of what is there now and a
// version no reader has seen (RECOVERY).
Status ChainMap::repair(u64 idx, u64 seen, unsigned dead_owner, u64* word) const {
  const u64 ver = ((seen & kVerTopMask) + kVerTopUnit) | kLockBit;  // wraps with the top bits
  *word = ver | (seen & (kCntMask | kRefMask));
  const u64 b = bucket(idx);
  // Acquire loads (off the hot path): what the dead holder stored, we
  // see once we see its last store into a word (take_over).
  u64 m = sync::word(base_, b + kMeta).load_acquire(), in_h = 0;
  const u64 in_key = sync::word(base_, b + kInKey).load_acquire();
  if (m != 0) {  // its meta word is an insert's last store: whole, or damaged
    const u64 ks = meta_ks(m);
    if (!meta_ok(m) || (ks < 8 && in_key >> (8 * ks) != 0)) return Status::corrupt;
    in_h = hash_of(Bytes{&in_key, ks});
    if (!meta_names(m, in_h, ks) || (in_h & (chain_cnt_ - 1)) != idx) return Status::corrupt;
  }
  std::vector<u64> list;  // the elements, in order
  for (u64 ref = head_of(seen); ref != 0;) {
    const u64 e = ref << 4;
    // kChainCntMax + 1: a move to the front killed between its two stores
    // leaves the list one longer, until the older copy goes below.
    if (list.size() == kChainCntMax + 1 || !element_of_chain(e, idx))
      return Status::corrupt;  // too long (or a cycle), or not a whole element of this chain
    list.push_back(e);
    ref = next_of(sync::word(base_, e).load_acquire());
  }
  // A key in two places is a write that died between linking its new copy
  // and unlinking the old one: the list's copy (the first) is the new one.
  for (u64 e : list) {
    if (m == 0) break;
    if (sync::word(base_, e + 8).load_acquire() == in_h && key_sz_of(sync::word(base_, e).load_acquire()) == meta_ks(m) &&
        sync::word(base_, e + 16).load_acquire() == in_key) {
      // ORDER: release (M5), as in write_inline.
      sync::word(base_, b + kMeta).store_release(0);
      m = 0;
    }
  }
  std::vector<u64> dropped;  // older copies unlinked below
  for (u64 i = 1; i < list.size(); ++i) {
    const u64 e = list[i], w0 = sync::word(base_, e).load_acquire(), ks = key_sz_of(w0);
    bool dup = false;
    for (u64 j = 0; j < i && !dup; ++j) {
      const u64 f = list[j];
      dup = sync::word(base_, f + 8).load_acquire() == sync::word(base_, e + 8).load_acquire() &&
            key_sz_of(sync::word(base_, f).load_acquire()) == ks;
      for (u64 x = 0; x < words(ks) && dup; ++x)
        dup = sync::word(base_, f + 16 + 8 * x).load_acquire() == sync::word(base_, e + 16 + 8 * x).load_acquire();
    }
    if (!dup) continue;
    const u64 p = list[i - 1], pw0 = sync::word(base_, p).load_acquire();
    // ORDER: release (M5), as in write_value. The old copy is freed below.
    sync::word(base_, p).store_release((pw0 & ~kRefMask) | next_of(w0));
    dropped.push_back(e);
    list.erase(list.begin() + std::ptrdiff_t(i));
    --i;
  }
  if (m != 0) filter_add(idx, in_h);
  for (u64 e : list) filter_add(idx, sync::word(base_, e + 8).load_acquire());  // an insert that died before setting it (M7)
  if (list.size() + (m != 0) > kChainCntMax) return Status::corrupt;
  *word = ver | (list.size() + (m != 0)) << kCntShift | head_of(seen);  // the first copy stays
  settle(dead_owner, idx, list, dropped);  // what the dead writer allocated or unlinked
  return Status::ok;
}

void ChainMap::reader_wait(u64 idx, u64 w, u64 spins) const {
  u64 word = 0;
  Status s = Status::ok;
  if (wait_step(w, spins) && take_over(idx, w, kOwnerLazy, &word, &s))
    unlock_unchanged(idx, word);  // recovered: release it at once
}

u64 ChainMap::recover_dead(Status* worst) const {
  u64 n = 0;
  if (worst != nullptr) *worst = Status::ok;
  // Our index first: claiming one may itself sweep a dead process's chains.
  const unsigned me = owner(&n, worst);
  for (u64 idx = 0; idx < chain_cnt_; ++idx) recover_chain(idx, me, &n, worst);
  return n;
}

void ChainMap::unlock(u64 idx, u64 locked, u64 head_ref, u64 cnt) const {
  // The next (even) version: adding the lock bit to an odd version carries.
  u64 w = ((locked + kLockBit) & kVerMask) | cnt << kCntShift | head_ref;
#if MB_PLANT_BUG == 5
  chain(idx).store_relaxed(w);  // BUG: no release
#else
  // ORDER: release pairs with lock()'s acquire and with readers' loads.
  chain(idx).store_release(w);
#endif
}

void ChainMap::unlock_unchanged(u64 idx, u64 locked) const {
  // Nothing changed: the version seen before locking stays valid.
  chain(idx).store_release(locked & ~kLockBit);
}

// Under the chain's lock: find `key`; *ele = its element (0 if absent),
// *prev = the element before it (0 if it is the head). Status::corrupt
// for a damaged list, or a found element or its predecessor that is not
// an element object of this chain.
Status ChainMap::locate(u64 word, u64 h, Bytes key, u64* prev, u64* ele, bool* inl) const {
  KeyWords k(key);
  const u64 b = bucket(h & (chain_cnt_ - 1));
  // Relaxed: we hold the lock (M4).
  const u64 m = sync::word(base_, b + kMeta).load_relaxed();
  u64 p = 0, p_w0 = 0, p_hash = 0, ref = head_of(word), n = 0;
  *inl = false;
  if (!list_len(cnt_of(word), m, &n)) return Status::corrupt;
  if (meta_names(m, h, key.size) && sync::word(base_, b + kInKey).load_relaxed() == k.w[0]) {
    *prev = 0;
    *ele = b;
    *inl = true;
    return Status::ok;
  }
  for (; n > 0; --n) {
    u64 e = ref << 4;
    if (!ele_ok(e)) return Status::corrupt;
    // Relaxed: we hold the lock (M4), so these words are stable and ours.
    const u64 w0 = sync::word(base_, e).load_relaxed(), eh = sync::word(base_, e + 8).load_relaxed();
    if (eh == h && key_sz_of(w0) == key.size && a_->contains(e, ele_size(key.size, 0))) {
      bool same = true;
      for (u64 i = 0; i < k.n && same; ++i) same = sync::word(base_, e + 16 + 8 * i).load_relaxed() == k.w[i];
      if (same) {
        // The caller stores through e (a value in place) or frees it, and
        // stores through p (an unlink): each must be an element object of
        // the chain (element_of_chain()'s test, from the words the walk
        // read), not another object a damaged link names (the walk's
        // checks only keep its own reads inside the allocator's space).
        if (!element_object(e, w0) ||
            (p != 0 && (!element_object(p, p_w0) || (p_hash & (chain_cnt_ - 1)) != (h & (chain_cnt_ - 1)))))
          return Status::corrupt;
        *prev = p;
        *ele = e;
        return Status::ok;
      }
    }
    p = e;
    p_w0 = w0;
    p_hash = eh;
    ref = next_of(w0);
  }
  *prev = p;
  *ele = 0;
  return ref == 0 ? Status::ok : Status::corrupt;  // M1: the list ends at cnt
}

void ChainMap::write_value(u64 ele, u64 key_sz, Bytes val) const {
  u64 at = ele + 16 + 8 * words(key_sz);
  auto* src = static_cast<const unsigned char*>(val.data);
  for (u64 i = 0; i < words(val.size); ++i) {
    u64 v = 0;
    std::memcpy(&v, src + 8 * i, std::min<u64>(8, val.size - 8 * i));
#if MB_PLANT_BUG == 4
    sync::word(base_, at + 8 * i).store_relaxed(v);  // BUG: readers need release (M5)
#else
    // ORDER: release (M5): a reader that copies this word synchronizes with
    // us, so its re-load of the chain word sees our lock.
    sync::word(base_, at + 8 * i).store_release(v);
#endif
  }
}

Status ChainMap::make_element(Bytes key, Bytes val, u64 h, u64 next, u64* ele) {
  u64 e = 0;
  Status s = a_->alloc(16, ele_size(key.size, val.size), kChainTagElement, &e);
  if (s != Status::ok) return s;
  KeyWords k(key);
  // Release stores (M5): this memory may be a freed element a stale reader
  // is still walking; see READS in the header.
  sync::word(base_, e).store_release(ele_w0(next, key.size, val.size));
  sync::word(base_, e + 8).store_release(h);
  for (u64 i = 0; i < k.n; ++i) sync::word(base_, e + 16 + 8 * i).store_release(k.w[i]);
  write_value(e, key.size, val);
  *ele = e;
  return Status::ok;
}

// Under the lock: fill bucket b's inline slot (key and value fit it).
void ChainMap::write_inline(u64 b, u64 h, Bytes key, Bytes val) const {
  u64 kw = 0, vw = 0;
  std::memcpy(&kw, key.data, key.size);
  if (val.size != 0) std::memcpy(&vw, val.data, val.size);
  // ORDER: release (M5), as in write_value: the slot may be read by a
  // reader that saw an earlier version.
#if MB_PLANT_BUG == 4
  sync::word(base_, b + kInVal).store_relaxed(vw);  // BUG: readers need release (M5)
#else
  sync::word(base_, b + kInVal).store_release(vw);
#endif
  sync::word(base_, b + kInKey).store_release(kw);
  sync::word(base_, b + kMeta).store_release(inline_meta(h, key.size, val.size));
}

// --- writers ---------------------------------------------------------------

// Under the chain's lock (*w is the locked word; head and count are updated
// in it, to be stored by the unlock): the change itself. *dead receives an
// element to free after the unlock (M4), or 0.
Status ChainMap::put_locked(u64* w, Bytes key, Bytes val, u64 h, Put mode, u64* dead, bool move_to_front,
                            unsigned jo) {
  *dead = 0;
  u64 prev = 0, e = 0;
  bool inl = false;
  Status s = locate(*w, h, key, &prev, &e, &inl);
  if (s != Status::ok) return s;
  const u64 b = bucket(h & (chain_cnt_ - 1));
  const bool fits = key.size <= kInlineMax && val.size <= kInlineMax;
  if (e == 0) {  // absent
    if (mode == Put::update) return Status::not_found;
    if (cnt_of(*w) == kChainCntMax) return Status::full;
    if (fits && sync::word(base_, b + kMeta).load_relaxed() == 0) {  // into the empty inline slot
      write_inline(b, h, key, val);
      *w += u64{1} << kCntShift;
    } else {
      u64 n = 0;
      if ((s = make_element(key, val, h, head_of(*w), &n)) != Status::ok) return s;
      journal(jo, kJNew, n);
      rw_os::hook(rw_os::HookPoint::chain_element_made);
      set_head_locked(h & (chain_cnt_ - 1), n >> 4);  // RECOVERY: memory names the list as it is
      unjournal(jo, kJNew, n);
      *w = (*w & kVerMask) | (cnt_of(*w) + 1) << kCntShift | n >> 4;
    }
#if MB_PLANT_BUG != 18
    filter_add(h & (chain_cnt_ - 1), h);  // before the unlock publishes the element (M7)
#endif
    return Status::ok;
  }
  if (mode == Put::insert) return Status::exists;
  const u64 idx = h & (chain_cnt_ - 1);
  if (inl) {
    if (fits && meta_vs(sync::word(base_, b + kMeta).load_relaxed()) == val.size) {
      write_inline(b, h, key, val);  // in place: one value word, the same meta
      return Status::ok;
    }
    // A new size (the value word and the meta word would both change: a
    // writer killed between them would leave the old size with the new
    // bytes), or one that does not fit: the element moves to the list.
    u64 n = 0;
    if ((s = make_element(key, val, h, head_of(*w), &n)) != Status::ok) return s;
    journal(jo, kJNew, n);
    // Linked before the slot empties (RECOVERY: a recoverer that finds the
    // key in both keeps the list's copy, the new one).
    set_head_locked(idx, n >> 4);
    rw_os::hook(rw_os::HookPoint::chain_copy_made);
    // ORDER: release (M5), as in write_inline.
    sync::word(base_, b + kMeta).store_release(0);
    unjournal(jo, kJNew, n);
    *w = (*w & ~kRefMask) | n >> 4;
    return Status::ok;
  }
  u64 w0 = sync::word(base_, e).load_relaxed();
  const bool to_front = move_to_front && prev != 0;
  if (val_sz_of(w0) == val.size && words(val.size) <= 1 && !to_front) {  // one word: in place
    if (!a_->contains(e, ele_size(key.size, val.size))) return Status::corrupt;  // damaged sizes
    write_value(e, key.size, val);
    return Status::ok;
  }
  // Copy on write: a new element replaces e, in its place or (move to
  // front) at the head, so that a writer killed halfway leaves the old
  // value or the new one whole (RECOVERY).
  u64 n = 0;
  if ((s = make_element(key, val, h, to_front ? head_of(*w) : next_of(w0), &n)) != Status::ok) return s;
  journal(jo, kJNew, n);
#if MB_PLANT_BUG == 46
  if (to_front) {  // BUG: the old copy unlinked before the new one is linked (the code below redoes it)
    journal(jo, kJOld, e);
    u64 pw0 = sync::word(base_, prev).load_relaxed();
    sync::word(base_, prev).store_release((pw0 & ~kRefMask) | next_of(w0));
    rw_os::hook(rw_os::HookPoint::chain_copy_made);  // killed here: the key is on neither place
  }
#endif
  if (to_front) set_head_locked(idx, n >> 4);  // both copies linked: a recoverer keeps the first
  rw_os::hook(rw_os::HookPoint::chain_copy_made);
  journal(jo, kJOld, e);  // before the unlink: a recoverer frees e if the list no longer has it
  if (prev != 0) {
    u64 pw0 = sync::word(base_, prev).load_relaxed();
    // ORDER: release (M5), as in write_value.
    sync::word(base_, prev).store_release((pw0 & ~kRefMask) | (to_front ? next_of(w0) : n >> 4));
  } else {
    set_head_locked(idx, n >> 4);  // n replaces the head: e is out
  }
  unjournal(jo, kJNew, n);
  if (prev == 0 || to_front) *w = (*w & ~kRefMask) | n >> 4;
  *dead = e;
  return Status::ok;
}

// Owner index jo's journal word `slot` := e (RECOVERY); nothing for jo 0
// (no index: a transaction's writes, or a process that got none). The
// threads of a process share its words: a store overwrites another
// thread's entry (that write goes unjournaled: a crash in it may leak).
void ChainMap::journal(unsigned jo, unsigned slot, u64 e) const {
  // ORDER: release: a recoverer that reads e (acquire) sees the element's
  // contents and, for kJOld, that it was on the list.
  if (jo != 0) jword(jo, slot).store_release(e);
}

// Clear our entry e from jo's word `slot`, unless another thread of ours
// has stored its own since (which it clears).
void ChainMap::unjournal(unsigned jo, unsigned slot, u64 e) const {
  // ORDER: acq_rel, as settle()'s CAS (release: a recoverer that reads 0
  // sees the link or the unlink that came before).
  if (jo != 0) jword(jo, slot).cas_acq_rel(e, 0);
}

// After the unlock: free e, an element the write unlinked, journaled as
// jo's kJOld. Forgotten first, then freed: a recoverer acts only on the
// journal of a dead process, and finds e there only while it is unfreed.
void ChainMap::free_dead(unsigned jo, u64 e) const {
  unjournal(jo, kJOld, e);
  a_->free(e);
}

// Under the lock: the head the chain word in memory names (still locked, so
// no reader trusts it), for a recoverer if we die before the unlock stores
// the final word (RECOVERY).
void ChainMap::set_head_locked(u64 idx, u64 head_ref) const {
  auto c = chain(idx);
  // The word's version and stamp as they are: the stamp is the one our lock
  // (or our takeover's step 3) stored, and a taker's step 1 may have
  // advanced the top version (we keep that, take_over). Not owner() again:
  // under the lock it could claim an index (a handle that found none asks
  // again after kChainOwnerRetryMs) and sweep. ORDER: relaxed load (our own
  // locked word); release store, as every store into chain memory (M5).
  c.store_release((c.load_relaxed() & ~kRefMask) | head_ref);
}

Status ChainMap::erase_locked(u64* w, Bytes key, u64 h, u64* dead, bool refresh, unsigned jo) {
  *dead = 0;
  u64 prev = 0, e = 0;
  bool inl = false;
  Status s = locate(*w, h, key, &prev, &e, &inl);
  if (s != Status::ok) return s;
  if (e == 0) return Status::not_found;
  *w -= u64{1} << kCntShift;
  if (inl) {
    // ORDER: release (M5), as in write_inline.
    sync::word(base_, e + kMeta).store_release(0);
  } else {
    u64 next = next_of(sync::word(base_, e).load_relaxed());
    journal(jo, kJOld, e);  // before the unlink, as in put_locked
    if (prev == 0) {
      // In memory before the filter refresh below (RECOVERY: a recoverer
      // must not bring back a key finds were told is absent).
      set_head_locked(h & (chain_cnt_ - 1), next);
      *w = (*w & ~kRefMask) | next;
    } else {
      u64 pw0 = sync::word(base_, prev).load_relaxed();
      // ORDER: release (M5), as in write_value.
      sync::word(base_, prev).store_release((pw0 & ~kRefMask) | next);
    }
    *dead = e;
  }
  if (refresh) filter_refresh(h & (chain_cnt_ - 1), *w);  // the key's bit may go (M7)
  return Status::ok;
}

// Unlock after a change attempt: a new version if anything changed.
void ChainMap::finish(u64 idx, u64 before, u64 after, Status s) const {
  if (s == Status::ok) unlock(idx, before, head_of(after), cnt_of(after));
  else unlock_unchanged(idx, before);
}

Status ChainMap::put(Bytes key, Bytes val, unsigned flags, Put mode, u64 hint, bool* created) {
  if (key.size == 0 || key.size > kChainKeyMax || val.size > kChainValMax) return Status::invalid;
  u64 h = flags & kChainHashHint ? hint : hash_of(key), idx = h & (chain_cnt_ - 1), w = 0, dead = 0;
  unsigned jo = 0;  // the index lock() stamped with: our journal's
  Status s = lock(idx, flags, &w, &jo);
  if (s != Status::ok) return s;
  u64 after = w;
  s = put_locked(&after, key, val, h, mode, &dead, flags & kChainMoveToFront, jo);
  finish(idx, w, after, s);
#if MB_PLANT_BUG == 18
  if (s == Status::ok && cnt_of(after) > cnt_of(w)) filter_add(idx, h);  // BUG: after the unlock
#endif
  if (created != nullptr) *created = s == Status::ok && cnt_of(after) > cnt_of(w);
  if (dead != 0) free_dead(jo, dead);  // unreachable since the unlock (M4)
  return s;
}

Status ChainMap::insert(Bytes key, Bytes val, unsigned flags, u64 h) { return put(key, val, flags, Put::insert, h); }
Status ChainMap::insert_or_assign(Bytes key, Bytes val, unsigned flags, u64 h) {
  return put(key, val, flags, Put::assign, h);
}
Status ChainMap::insert_or_assign(Bytes key, Bytes val, bool* created, unsigned flags, u64 h) {
  return put(key, val, flags, Put::assign, h, created);
}
Status ChainMap::update(Bytes key, Bytes val, unsigned flags, u64 h) { return put(key, val, flags, Put::update, h); }

Status ChainMap::erase(Bytes key, unsigned flags, u64 hint) {
  if (key.size == 0 || key.size > kChainKeyMax) return Status::invalid;
  u64 h = flags & kChainHashHint ? hint : hash_of(key), idx = h & (chain_cnt_ - 1), w = 0, dead = 0;
  unsigned jo = 0;
  Status s = lock(idx, flags, &w, &jo);
  if (s != Status::ok) return s;
  u64 after = w;
  s = erase_locked(&after, key, h, &dead, true, jo);
  finish(idx, w, after, s);
  rw_os::hook(rw_os::HookPoint::chain_unlocked_unfreed);
  if (dead != 0) free_dead(jo, dead);  // unreachable since the unlock (M4)
  return s;
}

// --- readers ---------------------------------------------------------------

// Under the lock (values stable): copy an element's value.
Status ChainMap::copy_value(u64 e, bool inl, u64 key_sz, void* buf, u64 cap, u64* val_sz) const {
  if (inl)
    return copy_inline(sync::word(base_, e + kInVal).load_relaxed(),
                       meta_vs(sync::word(base_, e + kMeta).load_relaxed()), buf, cap, val_sz);
  u64 vs = val_sz_of(sync::word(base_, e).load_relaxed());
  *val_sz = vs;
  if (vs > kChainValMax || !a_->contains(e, ele_size(key_sz, vs))) return Status::corrupt;
  if (vs > cap) return Status::invalid;
  u64 at = e + 16 + 8 * words(key_sz);
  auto* dst = static_cast<unsigned char*>(buf);
  for (u64 i = 0; i < words(vs); ++i) {
    u64 v = sync::word(base_, at + 8 * i).load_relaxed();
    std::memcpy(dst + 8 * i, &v, std::min<u64>(8, vs - 8 * i));
  }
  return Status::ok;
}

Status ChainMap::query_try(Bytes key, u64 h, void* buf, u64 cap, u64* val_sz, Query* q) const {
  if (key.size == 0 || key.size > kChainKeyMax) return Status::invalid;
  u64 idx = h & (chain_cnt_ - 1), b = bucket(idx);
  auto c = sync::word(base_, b);
  // ORDER: acquire pairs with unlock()'s release: the chain as of this
  // version is visible.
  u64 w = c.load_acquire();
  if (w & kLockBit) return Status::again;
  KeyWords k(key);
  Status s = Status::not_found;
  u64 ref = head_of(w), n = 0;
  // ORDER: acquire, every inline slot load (M5).
  const u64 m = sync::word(base_, b + kMeta).load_acquire();
  if (!list_len(cnt_of(w), m, &n)) {
    s = Status::corrupt;  // confirmed below unless the chain moved
  } else if (meta_names(m, h, key.size) && sync::word(base_, b + kInKey).load_acquire() == k.w[0]) {
    s = copy_inline(sync::word(base_, b + kInVal).load_acquire(), meta_vs(m), buf, cap, val_sz);
    n = 0;
  }
  for (; n > 0; --n) {
    u64 e = ref << 4;
    if (!ele_ok(e)) {
      s = Status::corrupt;  // confirmed below unless the chain moved
      break;
    }
    // ORDER: acquire, every element load (M5; see READS in the header).
    u64 w0 = sync::word(base_, e).load_acquire();
    if (sync::word(base_, e + 8).load_acquire() == h && key_sz_of(w0) == key.size &&
        a_->contains(e, ele_size(key.size, 0))) {
      bool same = true;
      for (u64 i = 0; i < k.n && same; ++i) same = sync::word(base_, e + 16 + 8 * i).load_acquire() == k.w[i];
      if (same) {
        u64 vs = val_sz_of(w0);
        *val_sz = vs;
        if (vs > kChainValMax || !a_->contains(e, ele_size(key.size, vs))) {
          s = Status::corrupt;
        } else if (vs > cap) {
          s = Status::invalid;
        } else {
          u64 at = e + 16 + 8 * words(key.size);
          auto* dst = static_cast<unsigned char*>(buf);
          for (u64 i = 0; i < words(vs); ++i) {
            u64 v = sync::word(base_, at + 8 * i).load_acquire();
            std::memcpy(dst + 8 * i, &v, std::min<u64>(8, vs - 8 * i));
          }
          s = Status::ok;
        }
        break;
      }
    }
    ref = next_of(w0);
  }
  if (s == Status::not_found && ref != 0) s = Status::corrupt;  // longer than its count (M1)
#if MB_PLANT_BUG == 6
  (void)c;  // BUG: no re-check, a torn copy is accepted
#else
  // Relaxed: the acquire loads above keep this load after them.
  if (c.load_relaxed() != w) return Status::again;
#endif
  if (q != nullptr) *q = Query{idx, w};
  return s;
}

Status ChainMap::query_test(const Query& q) const {
  if (q.chain_idx >= chain_cnt_) return Status::invalid;
  return chain(q.chain_idx).load_acquire() == q.word ? Status::ok : Status::again;
}

Status ChainMap::find(Bytes key, void* buf, u64 cap, u64* val_sz) const {
  if (key.size == 0 || key.size > kChainKeyMax) return Status::invalid;
  u64 h = hash_of(key);
  if (filter_absent(h & (chain_cnt_ - 1), h)) return Status::not_found;
  for (u64 spins = 0; spins < kChainWaitMax; ++spins) {
    Status s = query_try(key, h, buf, cap, val_sz, nullptr);
    if (s != Status::again) return s;
    if (spins == 0) sync::word(base_, hdr_off_ + 8 * kStatAgain).fetch_add_relaxed(1);
    // ORDER: acquire, as take_over needs (RECOVERY).
    reader_wait(h & (chain_cnt_ - 1), chain(h & (chain_cnt_ - 1)).load_acquire(), spins);
  }
  return Status::again;  // a chain locked for this long: an unrecoverable holder, or a damaged word
}

// The u64 find: query_try's protocol (same orders, same checks, same hash)
// with the general key and value copies taken out. Its common case, a key in
// the inline slot of an unlocked chain, is one straight run of loads and
// compares with a branch after the filter load and one at the end; everything else (a locked or
// changing chain, a key on the list or absent, a value of another size)
// goes to find_u64_slow, which starts over with the full retry loop. A find
// this short lets the processor keep the cache misses of several
// consecutive finds in flight (measured: a 4-5x longer find let no two
// overlap; this path against the loop alone, see the README).
Status ChainMap::find(u64 k, u64* v) const {
  // The members this path reads, read once: the acquire loads below would
  // make the compiler read them again after each.
  void* const base = base_;
  const unsigned shift = seg_shift_;
  const u64 h = internal::mix64(hash8_ ^ k);  // == hash_of(as_bytes(k)): one key word
  const u64 idx = h & (chain_cnt_ - 1), seg = idx >> shift, in_seg = idx & ((u64{1} << shift) - 1);
  const u64 b = seg_off_[seg] + kBucketBytes * in_seg;  // == bucket(idx)
  // ORDER: acquire pairs with an erase's release clear (FILTER), as
  // filter_absent(idx, h).
  if (!(sync::word(base, flt_off_[seg] + (in_seg >> 3) * 8).load_acquire() & filter_bit(idx, h)))
    return Status::not_found;
  auto c = sync::word(base, b);
  // ORDER: acquire, as query_try's first load; then acquire, every inline
  // slot load (M5), all in w's cache line; the re-load is relaxed (the
  // acquire loads keep it after them).
  const u64 w = c.load_acquire();
  const u64 m = sync::word(base, b + kMeta).load_acquire();
  const u64 key = sync::word(base, b + kInKey).load_acquire();
  const u64 x = sync::word(base, b + kInVal).load_acquire();
  // The meta names this key with an 8-byte value (meta_names and the size
  // in one compare); cnt != 0 as in the loop (a counted slot, M1).
  bool hit = !(w & kLockBit) && m == inline_meta(h, 8, 8) && cnt_of(w) != 0 && key == k;
#if MB_PLANT_BUG != 6 && MB_PLANT_BUG != 23  // BUG 6, 23: no re-check, a torn copy is accepted
  hit = hit && c.load_relaxed() == w;
#endif
  if (!hit) return find_u64_slow(k, h, v);
  *v = x;
  return Status::ok;
}

// find(u64) past its common case: the full loop (retries, the list, the
// general path for values of another size).
[[gnu::noinline]] Status ChainMap::find_u64_slow(u64 k, u64 h, u64* v) const {
  const u64 b = bucket(h & (chain_cnt_ - 1));
  auto c = sync::word(base_, b);
  for (u64 spins = 0; spins < kChainWaitMax; ++spins) {
    // ORDER: acquire, as query_try's first load.
    const u64 w = c.load_acquire();
    Status s = Status::again;
    if (!(w & kLockBit)) {
      // ORDER: acquire, every inline slot load (M5). Same cache line as w.
      const u64 m = sync::word(base_, b + kMeta).load_acquire();
      u64 x = 0, n = 0;
      bool general = false;
      if (meta_names(m, h, 8) && cnt_of(w) != 0 && sync::word(base_, b + kInKey).load_acquire() == k) {
        general = meta_vs(m) != 8;
        x = sync::word(base_, b + kInVal).load_acquire();
        s = Status::ok;
      } else if (head_of(w) == 0 && list_len(cnt_of(w), m, &n) && n == 0) {
        s = Status::not_found;  // no list to walk
      } else {
        s = find_list(w, m, h, k, &x, &general);
      }
      if (general) return find_general(k, v);  // its own protocol, retries included
#if MB_PLANT_BUG == 6
      // BUG: no re-check, a torn copy is accepted
#else
      // Relaxed: the acquire loads above keep this load after them.
      if (c.load_relaxed() != w) s = Status::again;
#endif
      if (s == Status::ok) *v = x;
    }
    if (s != Status::again) return s;
    if (spins == 0) sync::word(base_, hdr_off_ + 8 * kStatAgain).fetch_add_relaxed(1);
    // ORDER: acquire, as take_over needs (RECOVERY).
    reader_wait(h & (chain_cnt_ - 1), c.load_acquire(), spins);
  }
  return Status::again;  // as find(): a chain locked for this long
}

// find(u64)'s walk of the list, for chain word w whose inline slot (meta m)
// does not hold k. The caller re-checks w before trusting the result. Kept
// out of line so that find(u64)'s loop stays short.
[[gnu::noinline]] Status ChainMap::find_list(u64 w, u64 m, u64 h, u64 k, u64* x, bool* general) const {
  u64 ref = head_of(w), n = 0;
  if (!list_len(cnt_of(w), m, &n)) return Status::corrupt;
  // Read after the acquire load of w: the growth of the volume holding an
  // element that w publishes happens before it.
  const u64 lo = a_->space_begin(), end = a_->space_end();
  for (; n > 0; --n) {
    u64 e = ref << 4;
    if (e < lo || e > end || end - e < ele_size(8, 8)) return Status::corrupt;
    // ORDER: acquire, every element load (M5).
    u64 w0 = sync::word(base_, e).load_acquire();
    if (sync::word(base_, e + 8).load_acquire() == h && key_sz_of(w0) == 8 &&
        sync::word(base_, e + 16).load_acquire() == k) {
      *general = val_sz_of(w0) != 8;
      *x = sync::word(base_, e + 24).load_acquire();
      return Status::ok;
    }
    ref = next_of(w0);
  }
  return ref == 0 ? Status::not_found : Status::corrupt;  // longer than its count (M1)
}

Status ChainMap::find_general(u64 k, u64* v) const {
  u64 sz = 0;
  Status s = find(as_bytes(k), v, 8, &sz);
  return s == Status::ok && sz != 8 ? Status::invalid : s;
}

u64 ChainMap::size() const {
  u64 n = 0;
  for (u64 idx = 0; idx < chain_cnt_; ++idx) n += cnt_of(chain(idx).load_relaxed());
  return n;
}

// --- iteration, reset, stats ---------------------------------------------------

namespace {
// Copy of one element for visiting after validation.
struct Copied {
  u64 key_sz, val_sz;
  std::string bytes;  // key then value
};
}  // namespace

Status ChainMap::for_each_snapshot(Visit visit, void* ctx) const {
  std::vector<Copied> got;
  for (u64 idx = 0; idx < chain_cnt_; ++idx) {
    const u64 b = bucket(idx);
    auto c = sync::word(base_, b);
    for (unsigned spins = 0;; ++spins) {
      got.clear();
      // ORDER: acquire, as query_try's first load.
      u64 w = c.load_acquire();
      bool torn = (w & kLockBit) != 0;
      u64 ref = head_of(w), n = 0;
      // ORDER: acquire, every inline slot load (M5).
      const u64 m = sync::word(base_, b + kMeta).load_acquire();
      torn = torn || !list_len(cnt_of(w), m, &n);
      if (m != 0 && !torn) {
        Copied cp{meta_ks(m), meta_vs(m), std::string(16, '\0')};
        u64 kv[2] = {sync::word(base_, b + kInKey).load_acquire(), sync::word(base_, b + kInVal).load_acquire()};
        std::memcpy(&cp.bytes[0], kv, 16);
        got.push_back(static_cast<Copied&&>(cp));
      }
      for (; n > 0 && !torn; --n) {
        u64 e = ref << 4;
        if (!ele_ok(e)) { torn = true; break; }
        // ORDER: acquire, every element load (M5).
        u64 w0 = sync::word(base_, e).load_acquire();
        u64 ks = key_sz_of(w0), vs = val_sz_of(w0);
        if (ks == 0 || vs > kChainValMax || !a_->contains(e, ele_size(ks, vs))) { torn = true; break; }
        Copied cp{ks, vs, std::string(8 * (words(ks) + words(vs)), '\0')};
        for (u64 i = 0; i < words(ks) + words(vs); ++i) {
          u64 v = sync::word(base_, e + 16 + 8 * i).load_acquire();
          std::memcpy(&cp.bytes[8 * i], &v, 8);
        }
        got.push_back(static_cast<Copied&&>(cp));
        ref = next_of(w0);
      }
      // Relaxed: ordered after the acquire loads above, as in query_try.
      if (!torn && c.load_relaxed() == w) {
        if (ref != 0) return Status::corrupt;  // longer than its count, or a cycle (M1)
        break;
      }
      if (spins >= kChainWaitMax) return Status::again;  // see find()
      // ORDER: acquire, as take_over needs (RECOVERY).
      reader_wait(idx, c.load_acquire(), spins);
    }
    for (const Copied& cp : got)
      visit(ctx, Bytes{cp.bytes.data(), cp.key_sz}, Bytes{cp.bytes.data() + 8 * words(cp.key_sz), cp.val_sz});
  }
  return Status::ok;
}

Status ChainMap::for_each_locked(u64 lo, u64 hi, unsigned flags, Visit visit, void* ctx) const {
  if (lo > hi || hi > chain_cnt_) return Status::invalid;
  std::vector<u64> held;  // locked words, in acquisition (ascending) order
  unsigned me = 0;
  if (Status s = lock_owner(flags, &me); s != Status::ok) return s;  // once: see lock_owner
  for (u64 idx = lo; idx < hi; ++idx) {
    u64 w = 0;
    Status s = lock_as(idx, flags, me, &w);
    if (s != Status::ok) {  // all or nothing
      for (u64 j = 0; j < held.size(); ++j) unlock_unchanged(lo + j, held[j]);
      return s;
    }
    held.push_back(w);
  }
  Status result = Status::ok;
  for (u64 j = 0; j < held.size() && result == Status::ok; ++j) {
    const u64 b = bucket(lo + j);
    u64 ref = head_of(held[j]), n = 0;
    // Relaxed: we hold the lock (M4).
    const u64 m = sync::word(base_, b + kMeta).load_relaxed();
    if (!list_len(cnt_of(held[j]), m, &n)) { result = Status::corrupt; break; }
    if (m != 0) visit(ctx, Bytes{base_at(b + kInKey), meta_ks(m)}, Bytes{base_at(b + kInVal), meta_vs(m)});
    for (; n > 0; --n) {
      u64 e = ref << 4;
      if (!ele_ok(e)) { result = Status::corrupt; break; }
      // Relaxed: we hold the lock (M4).
      u64 w0 = sync::word(base_, e).load_relaxed();
      u64 ks = key_sz_of(w0), vs = val_sz_of(w0);
      if (vs > kChainValMax || !a_->contains(e, ele_size(ks, vs))) { result = Status::corrupt; break; }
      visit(ctx, Bytes{base_at(e + 16), ks}, Bytes{base_at(e + 16 + 8 * words(ks)), vs});
      ref = next_of(w0);
    }
  }
  for (u64 j = 0; j < held.size(); ++j) unlock_unchanged(lo + j, held[j]);
  return result;
}

// The elements of chain idx's list, whose chain word is w (under its lock,
// or quiescent), into out[] (kChainCntMax entries): false when the list is
// damaged: an element that is not an element object of this chain
// (element_of_chain()) or whose stored hash is not its key's under this
// map's seed, one met twice (a cycle), or a list longer or shorter than
// the word's count says (less the inline slot's entry). reset() and
// destroy() free what it returns, so it checks more than a walk that only
// reads (ele_ok()): a damaged link must not make them free another map's
// object. (An element of another chain map with this map's seed, in this
// chain, still passes.)
bool ChainMap::chain_elements(u64 idx, u64 w, u64* out, u64* n) const {
  *n = 0;
  u64 len = 0, ref = head_of(w);
  // Relaxed: the caller holds the chain's lock (M4), or the map is quiescent.
  if (!list_len(cnt_of(w), sync::word(base_, bucket(idx) + kMeta).load_relaxed(), &len)) return false;
  for (; len > 0; --len) {
    const u64 e = ref << 4;
    if (ref == 0 || !element_of_chain(e, idx)) return false;
    const u64 w0 = sync::word(base_, e).load_relaxed(), ks = key_sz_of(w0);
    unsigned char key[kChainKeyMax + 8];
    copy_element_key(base_, e, ks, key);
    if (sync::word(base_, e + 8).load_relaxed() != hash_of(Bytes{key, ks})) return false;
    out[(*n)++] = e;
    ref = next_of(w0);
  }
  if (ref != 0) return false;  // more elements than the count says
  std::sort(out, out + *n);
  return std::adjacent_find(out, out + *n) == out + *n;
}

Status ChainMap::reset() {
  for (u64 idx = 0; idx < chain_cnt_; ++idx) {
    u64 w = 0;
    Status s = lock(idx, 0, &w);
    if (s != Status::ok) return s;
    u64 dead[kChainCntMax], n = 0;
    if (!chain_elements(idx, w, dead, &n)) {
      // Damaged: this chain stays as it is (the chains before it are
      // empty, those after it untouched); verify() says what is wrong.
      unlock_unchanged(idx, w);
      return Status::corrupt;
    }
    set_head_locked(idx, 0);  // RECOVERY: before the filter bits go
    // ORDER: release (M5), as in write_inline.
    sync::word(base_, bucket(idx) + kMeta).store_release(0);
    filter_refresh(idx, w & kVerMask);  // no elements: every bit goes
    unlock(idx, w, 0, 0);
    for (u64 i = 0; i < n; ++i) a_->free(dead[i]);  // unreachable since the unlock (M4)
  }
  return Status::ok;
}

ChainMap::Stats ChainMap::stats() const {
  return Stats{sync::word(base_, hdr_off_ + 8 * kStatAgain).load_relaxed(),
               sync::word(base_, hdr_off_ + 8 * kStatBusy).load_relaxed(), owner_word(0).load_relaxed()};
}

// --- verify ----------------------------------------------------------------

Status ChainMap::verify(std::string* why) const {
  if (a_ == nullptr) return fail(why, Status::invalid, "not joined");
  if (sync::word(base_, hdr_off_).load_acquire() != kChainMagic)
    return fail(why, Status::corrupt, "chain map header damaged (magic)");
  for (u64 idx = 0; idx < chain_cnt_; ++idx) {
    u64 w = chain(idx).load_acquire();
    std::string at = "chain " + std::to_string(idx);
    if (w & kLockBit) {
      const u64 ow = holder_of(w);
      return fail(why, Status::corrupt,
                  at + " is locked (not quiescent, or a writer died: owner " + std::to_string(owner_of(w)) + ", pid " +
                      std::to_string(std::uint32_t(ow & ~kOwnerSweeping)) +
                      (ow & kOwnerSweeping ? ", sweeping" : "") +
                      (ow != 0 && !owner_alive(ow) ? ", dead: recover_dead() repairs it)" : ")"));
    }
    u64 ref = head_of(w);
    u64 n = cnt_of(w);
    const u64 b = bucket(idx), m = sync::word(base_, b + kMeta).load_relaxed();
    u64 in_h = 0, in_key = 0;  // the inline element's hash and key word
    u64 bits = 0;              // filter bits the chain's elements need (M7)
    if (m != 0) {  // M6
      if (!meta_ok(m)) return fail(why, Status::corrupt, at + ": inline slot sizes damaged (M6)");
      if (n == 0) return fail(why, Status::corrupt, at + ": inline element not counted (M1)");
      u64 ks = meta_ks(m);
      in_key = sync::word(base_, b + kInKey).load_relaxed();
      if (ks < 8 && in_key >> (8 * ks) != 0) return fail(why, Status::corrupt, at + ": inline key padding damaged (M6)");
      in_h = hash(Bytes{&in_key, ks});
      if (!meta_names(m, in_h, ks) || (in_h & (chain_cnt_ - 1)) != idx)
        return fail(why, Status::corrupt, at + ": inline element hash or chain wrong (M6)");
      bits |= filter_bit(idx, in_h);
      --n;
    }
    for (u64 i = 0; i < n; ++i) {
      u64 e = ref << 4, size = 0;
      std::uint32_t tag = 0;
      if (!ele_ok(e) || a_->info(e, &size, &tag) != Status::ok || tag != kChainTagElement)
        return fail(why, Status::corrupt, at + ": element " + std::to_string(i) + " is not a live element (M2)");
      u64 w0 = sync::word(base_, e).load_relaxed();
      u64 ks = key_sz_of(w0);
      if (!element_sizes_fit(w0, size)) return fail(why, Status::corrupt, at + ": element sizes damaged (M2)");
      unsigned char key[kChainKeyMax + 8];
      const u64 kw = copy_element_key(base_, e, ks, key);
      // Finds and writers compare whole key words: damaged padding would
      // hide the key from them, and the hash below does not cover it.
      if (ks % 8 != 0 && kw >> (8 * (ks % 8)) != 0)
        return fail(why, Status::corrupt, at + ": element key padding damaged (M2)");
      u64 h = hash(Bytes{key, ks});
      if (sync::word(base_, e + 8).load_relaxed() != h || (h & (chain_cnt_ - 1)) != idx)
        return fail(why, Status::corrupt, at + ": element hash or chain wrong (M2)");
      bits |= filter_bit(idx, h);
      // M3: neither the inline element nor an earlier element of this chain
      // has the same key.
      if (m != 0 && ks == meta_ks(m) && sync::word(base_, e + 16).load_relaxed() == in_key)
        return fail(why, Status::corrupt, at + ": duplicate key (M3)");
      u64 p = head_of(w);
      for (u64 j = 0; j < i; ++j) {
        u64 pe = p << 4;
        u64 pw0 = sync::word(base_, pe).load_relaxed();
        if (sync::word(base_, pe + 8).load_relaxed() == h && key_sz_of(pw0) == ks) {
          bool same = true;
          for (u64 x = 0; x < words(ks) && same; ++x)
            same = sync::word(base_, pe + 16 + 8 * x).load_relaxed() == sync::word(base_, e + 16 + 8 * x).load_relaxed();
          if (same) return fail(why, Status::corrupt, at + ": duplicate key (M3)");
        }
        p = next_of(pw0);
      }
      ref = next_of(w0);
    }
    if (ref != 0) return fail(why, Status::corrupt, at + ": list longer than its count, or a cycle (M1)");
    if ((filter(idx).load_relaxed() & bits) != bits)
      return fail(why, Status::corrupt, at + ": filter byte misses an element, finds would miss it (M7)");
  }
  return Status::ok;
}

}  // namespace mb
