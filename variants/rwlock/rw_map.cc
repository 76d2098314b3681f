// RwMap: see rw_map.h for the layout, invariants I1..I6, linearization
// points and the memory-order argument. Every store into map memory below
// is a release store made between the odd and the even seq stores (I6);
// every load of slot or arena words is an acquire load (rw_map.h, READS).
#include "variants/rwlock/rw_map.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <vector>

#include "core/internal/hash.h"
#include "core/internal/words.h"

#ifndef MB_PLANT_BUG
#define MB_PLANT_BUG 0
#endif

namespace mb {
namespace {

using u64 = std::uint64_t;

using internal::load_word;

// Header word indexes (rw_map.h, LAYOUT).
enum : u64 {
  kMagic = 0, kVersion = 1, kCapMaxLog2 = 2, kSeed = 3, kMemMax = 4, kSlotCnt = 5, kCheck = 6,
  kLock = kRwLockWord, kSeq = kRwSeqWord, kTable = 24, kSize = 25, kTomb = 26, kTop = 27, kFloor = 28, kBacked = 29,
  kFree = 32, kStatWriteRec = 48, kStatReadRec = 49, kStatRecovery = 50, kStatSeqRepair = 51,
  kStatGrow = 52, kStatRehash = 53, kStatEvict = 54, kStatExpire = 55, kFlushCursor = 56, kStatShrink = 57, kLruMax = 7, kHand = 30, kDefaultTtl = 31,
  kMoveFrom = 58, kMoveTo = 59, kMoves = 60, kStatMoveRepair = 61, kValFrom = 62, kValOld = 63,
  kSlots = 64, kTableFree = 96,
};
static_assert(kFree + kRwClassCnt <= kStatWriteRec);
static_assert((kSlots + kRwSlotMax) * 8 <= kRwHeaderSize);
constexpr unsigned kTableLog2Min = 3;  // 8 slots
// join()'s snapshot (header_snapshot()): yields before it sleeps 1 ms at a
// time between tries, and how long it waits for a live writer's section to
// end before it checks the last snapshot as it is.
constexpr unsigned kJoinSnapshotSpins = 1000;
constexpr u64 kJoinSnapshotWaitMs = 2000;
static_assert(kSlots + kRwSlotMax <= kTableFree && (kTableFree + kRwCapMaxLog2 - kTableLog2Min + 1) * 8 <= kRwHeaderSize);
// The header word heading the free list of retired tables of 2^log2 slots.
constexpr u64 table_list(unsigned log2) { return kTableFree + log2 - kTableLog2Min; }

// The value journal (word 62): slot | old value length << kJournalLenShift.
// Slot offsets stay below 2^43 (mem_max is checked), lengths need 21 bits.
constexpr unsigned kJournalLenShift = 43;
constexpr u64 kMemMaxLimit = u64{1} << kJournalLenShift;
static_assert((kRwValMax << kJournalLenShift) >> kJournalLenShift == kRwValMax);

// Slot words and meta fields.
constexpr u64 kHashW = 8, kKeyW = 16, kValW = 40;
constexpr u64 kStateMask = 3, kEmpty = 0, kFull = 1, kTombState = 2;
constexpr u64 kAccessed = 4;  // meta bit 2: LRU clock's second chance
// Slot word 1: expiry (seconds, 0 = never) << 32 | the hash's low 32 bits.
constexpr u64 kHashLo = 0xffffffffULL;
constexpr u64 hash_word(u64 h, u64 exp) { return exp << 32 | (h & kHashLo); }
bool expired(u64 w1) {
  u64 exp = w1 >> 32;
  return exp != 0 && rw_os::now_s() >= exp;
}
constexpr unsigned kKeyLenShift = 8, kValLenShift = 32;
constexpr u64 kKeyLenMask = 0xffffff;
static_assert(kRwKeyMax <= kKeyLenMask && kRwValMax <= 0xffffffffULL);
constexpr u64 meta_of(u64 state, u64 klen, u64 vlen) {
  return state | klen << kKeyLenShift | vlen << kValLenShift;
}
constexpr u64 klen_of(u64 meta) { return (meta >> kKeyLenShift) & kKeyLenMask; }
constexpr u64 vlen_of(u64 meta) { return meta >> kValLenShift; }
constexpr u64 words_of(u64 len) { return (len + 7) / 8; }
constexpr u64 table_off(u64 tw) { return tw & ~u64{63}; }
constexpr unsigned table_log2(u64 tw) { return unsigned(tw & 63); }

unsigned class_of(u64 len) {
  unsigned c = 0;
  while ((u64{32} << c) < len) ++c;
  return c;
}

Status fail(std::string* why, Status s, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
Status fail(std::string* why, Status s, const char* fmt, ...) {
  if (why != nullptr) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *why = buf;
  }
  return s;
}

// Over words 1..5, lru_max (word 7) and the default TTL (word 31).
u64 header_check(const u64* w, u64 default_ttl) {
  return internal::hash_bytes(w + kVersion, 5 * 8, kRwMagic ^ w[kLruMax] ^ internal::mix64(default_ttl));
}

}  // namespace

// The write section: the write lock, then an odd seq; the destructor makes
// seq even (release) and unlocks. A lock taken over from a dead holder, or a
// seq found odd, is repaired first.
class RwMap::Writer {
 public:
  explicit Writer(const RwMap& m) : m_(m) {
    RwLock::Acquired a = m.lock_.write_lock();
    if (a.recovered || (m.hw(kSeq).load_relaxed() & 1)) m.repair();
    seq_ = m.hw(kSeq).load_relaxed();
    // Relaxed: readers that copy any store of this section acquire that
    // (release) store, which is sequenced after this one, so their seq
    // re-load sees it. rw_map.h, READS.
    m.hw(kSeq).store_relaxed(seq_ + 1);
    // The table word every write of the section follows, checked once
    // here: join() checked it, but the map's memory is shared and may have
    // been damaged since. Within the section only this writer changes it.
    const u64 tw = m.hw(kTable).load_acquire();
    ok_ = tw == m.tw_ok_ || m.table_backed(tw);
    rw_os::hook(rw_os::HookPoint::write_locked);
  }
  ~Writer() {
#if MB_PLANT_BUG == 10
    // Planted bug 10: the even seq store publishes nothing.
    m_.hw(kSeq).store_relaxed(seq_ + 2);
#else
    // ORDER: release pairs with the readers' acquire seq load: a reader that
    // sees this even seq sees every store of the section.
    m_.hw(kSeq).store_release(seq_ + 2);
#endif
    m_.lock_.write_unlock();
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // False when the table word names memory outside the map or not backed
  // (damage, or backing the region's grow cannot give): the section must
  // then store nothing (its caller returns corrupt; the seq and the lock
  // still close it).
  bool ok() const { return ok_; }

 private:
  const RwMap& m_;
  u64 seq_ = 0;
  bool ok_ = false;
};

// ---- creation ----------------------------------------------------------

u64 RwMap::mem_needed(u64 hdr_off, const RwParams& p) {
  // Tables of every size up to cap_max (a retired table waits on its size's
  // free list, so each size is allocated once) sum to less than two of the
  // largest; plus alignment slack.
  return hdr_off + kRwHeaderSize + 2 * p.cap_max * kRwSlotSize + p.arena_max + 4096;
}

void RwMap::attach(void* base, u64 hdr_off, RwGrow grow, void* grow_ctx) {
  base_ = base;
  hdr_ = hdr_off;
  grow_ = grow;
  grow_ctx_ = grow_ctx;
  seed_ = hw(kSeed).load_relaxed();
  mem_max_ = hw(kMemMax).load_relaxed();
  cap_max_log2_ = unsigned(hw(kCapMaxLog2).load_relaxed());
  lru_max_ = hw(kLruMax).load_relaxed();
  default_ttl_ = hw(kDefaultTtl).load_relaxed();
  RwLock::Words w;
  w.lock_off = hdr_off + 8 * kLock;
  w.slots_off = hdr_off + 8 * kSlots;
  w.slot_cnt = std::uint32_t(hw(kSlotCnt).load_relaxed());
  w.counters_off = hdr_off + 8 * kStatWriteRec;
  w.stamp_off = hdr_off + 8 * kRwStampWord;
  lock_ = RwLock(base, w);
}

Status RwMap::format(void* base, u64 hdr_off, u64 mem_max, const RwParams& p, RwGrow grow,
                     void* grow_ctx, RwMap* out, std::string* why) {
  if (hdr_off % 64 != 0) return fail(why, Status::invalid, "header offset must be 64-aligned");
  if (p.cap_max < 8 || (p.cap_max & (p.cap_max - 1)) != 0 || p.cap_max > (u64{1} << kRwCapMaxLog2))
    return fail(why, Status::invalid, "cap_max must be a power of two in [8, 2^32]");
  if (p.reader_slots < 1 || p.reader_slots > kRwSlotMax)
    return fail(why, Status::invalid, "reader_slots must be in [1, %u]", kRwSlotMax);
  if (p.cap_init > p.cap_max) return fail(why, Status::invalid, "cap_init exceeds cap_max");
  unsigned cap_log2 = 3, cap_max_log2 = 3;
  while ((u64{1} << cap_log2) < p.cap_init) ++cap_log2;
  while ((u64{1} << cap_max_log2) < p.cap_max) ++cap_max_log2;
  if (mem_max >= kMemMaxLimit)
    return fail(why, Status::invalid, "mem_max %" PRIu64 " is 8 TiB or more", mem_max);
  if (mem_max < hdr_off + kRwHeaderSize + (kRwSlotSize << cap_log2))
    return fail(why, Status::invalid, "mem_max %" PRIu64 " cannot hold the first table", mem_max);
  RwMap m;
  m.base_ = base;
  m.hdr_ = hdr_off;
  // Not yet shared: relaxed stores; the magic store below publishes them.
  m.hw(kVersion).store_relaxed(kRwLayoutVersion);
  m.hw(kCapMaxLog2).store_relaxed(cap_max_log2);
  m.hw(kSeed).store_relaxed(p.seed);
  m.hw(kMemMax).store_relaxed(mem_max);
  m.hw(kSlotCnt).store_relaxed(p.reader_slots);
  m.hw(kLruMax).store_relaxed(p.lru_max);
  m.hw(kDefaultTtl).store_relaxed(p.default_ttl);
  u64 words[8];
  for (u64 i = 0; i < 8; ++i) words[i] = m.hw(i).load_relaxed();
  m.hw(kCheck).store_relaxed(header_check(words, p.default_ttl));
  m.hw(kTop).store_relaxed(hdr_off + kRwHeaderSize);
  m.hw(kBacked).store_relaxed(hdr_off + kRwHeaderSize);
  m.attach(base, hdr_off, grow, grow_ctx);
  m.backed_ok_ = hdr_off + kRwHeaderSize;  // backed: the caller's contract
  u64 table = 0;
  Status s = m.alloc_table(cap_log2, &table);
  if (s != Status::ok) return fail(why, s, "cannot allocate the first table (%s)", to_string(s));
  m.hw(kTable).store_relaxed(table | cap_log2);
  m.tw_ok_ = table | cap_log2;
  m.hw(kFloor).store_relaxed(cap_log2);
  // ORDER: release pairs with the acquire magic load in join().
  m.hw(kMagic).store_release(kRwMagic);
  *out = m;
  return Status::ok;
}

Status RwMap::join(void* base, u64 hdr_off, u64 mem_backed, RwGrow grow, void* grow_ctx, RwMap* out,
                   std::string* why) {
  if (hdr_off % 64 != 0 || hdr_off + kRwHeaderSize > mem_backed)
    return fail(why, Status::corrupt, "map header offset %" PRIu64 " out of range", hdr_off);
  RwMap m;
  m.base_ = base;
  m.hdr_ = hdr_off;
  // ORDER: acquire pairs with the release magic store in format().
  u64 magic = m.hw(kMagic).load_acquire();
  if (magic != kRwMagic) return fail(why, Status::invalid, "not an rwlock map (magic %#" PRIx64 ")", magic);
  u64 words[8];
  for (u64 i = 0; i < 8; ++i) words[i] = m.hw(i).load_relaxed();
  if (words[kVersion] != kRwLayoutVersion)
    return fail(why, Status::invalid, "rwlock map layout version %" PRIu64 ", expected %" PRIu64,
                words[kVersion], kRwLayoutVersion);
  if (words[kCheck] != header_check(words, m.hw(kDefaultTtl).load_relaxed()))
    return fail(why, Status::corrupt, "rwlock map header check mismatch (damaged header)");
  if (words[kCapMaxLog2] < 3 || words[kCapMaxLog2] > kRwCapMaxLog2 || words[kSlotCnt] < 1 ||
      words[kSlotCnt] > kRwSlotMax || words[kMemMax] >= kMemMaxLimit)
    return fail(why, Status::corrupt, "rwlock map header fields out of range");
  m.attach(base, hdr_off, grow, grow_ctx);
  const HeaderSnapshot h = m.header_snapshot();
  if (h.backed > mem_backed || h.top > h.backed || h.backed > words[kMemMax])
    return fail(why, Status::corrupt,
                "map needs %" PRIu64 " bytes, memory holds %" PRIu64 " (truncated?)", h.backed, mem_backed);
  m.backed_ok_ = h.backed;
  // The words writers follow that the header check does not cover: the
  // table, the free lists of retired tables and the arena's free-list
  // heads. Damaged, they would send the first writer outside the map
  // (verify() checks the rest).
  if (!m.table_word_ok(h.table, h.top))
    return fail(why, Status::corrupt, "rwlock map table word %#" PRIx64 " out of range (damaged header)", h.table);
  m.tw_ok_ = h.table;  // a sound word from the start (left 0, a table word damaged to 0 would match it)
  if (h.floor < kTableLog2Min || h.floor > words[kCapMaxLog2])
    return fail(why, Status::corrupt, "rwlock map shrink floor %" PRIu64 " out of range (damaged header)", h.floor);
  for (unsigned l = kTableLog2Min; l <= kRwCapMaxLog2; ++l) {
    const u64 t = h.table_lists[l - kTableLog2Min];
    if (t != 0 && !m.listed_table_ok(t, l, h.top, h.table))
      return fail(why, Status::corrupt, "rwlock map free table list %u head out of range (damaged header)", l);
  }
  for (unsigned c = 0; c < kRwClassCnt; ++c) {
    if (h.free[c] != 0 && !m.block_in(h.free[c], u64{32} << c, h.top))
      return fail(why, Status::corrupt, "rwlock map free list %u head out of range (damaged header)", c);
  }
  *out = m;
  return Status::ok;
}

Status RwMap::join_backed(void* base, u64 hdr_off, RwBacked backed, RwGrow grow, void* grow_ctx, RwMap* out,
                          std::string* why) {
  Status s = Status::corrupt;
  for (u64 size = 0; size != backed(grow_ctx);) {
    size = backed(grow_ctx);
    s = join(base, hdr_off, size, grow, grow_ctx, out, why);
    if (s != Status::corrupt) break;
  }
  return s;
}

// The header words join() checks, as one snapshot: loaded between two
// loads of an even seq that agree (the seqlock read of rw_map.h, READS).
// A writer in another process may be changing them meanwhile (a rebuild
// takes a table off one free list, publishes it and puts the old one on
// another; the arena's top and backed move), and words loaded one by one
// across its section can contradict each other on a sound map (a retired
// table that overlaps the table word loaded before its publish). A seq
// that stays odd is a writer still in its section, or a dead one: its
// words stay as it left them, and every store of a section keeps the
// words join() checks consistent, so once the writer is gone (or after
// kJoinSnapshotWaitMs of a live one: a rebuild of a large table takes
// milliseconds) the last snapshot is checked as it is.
RwMap::HeaderSnapshot RwMap::header_snapshot() const {
  HeaderSnapshot h;
  static_assert(std::size(h.table_lists) == kRwCapMaxLog2 - kTableLog2Min + 1);
  u64 give_up_ms = 0;
  for (unsigned tries = 0;; ++tries) {
    // ORDER: acquire pairs with the writer's release even store (Writer).
    const u64 seq = hw(kSeq).load_acquire();
    // ORDER: acquire, as every read of a seqlock section (rw_map.h, READS):
    // a word a section stored (release) orders our re-load after its odd
    // seq store.
    h.backed = hw(kBacked).load_acquire();
    h.top = hw(kTop).load_acquire();
    h.table = hw(kTable).load_acquire();
    h.floor = hw(kFloor).load_acquire();
    for (unsigned l = kTableLog2Min; l <= kRwCapMaxLog2; ++l) h.table_lists[l - kTableLog2Min] = hw(table_list(l)).load_acquire();
    for (unsigned c = 0; c < kRwClassCnt; ++c) h.free[c] = hw(kFree + c).load_acquire();
    // Relaxed: the acquire loads above keep this load after them.
    const u64 again = hw(kSeq).load_relaxed();
#if MB_PLANT_BUG == 39
    // Planted bug 39: the words as loaded, whatever the seqlock says.
    return h;
#endif
    if (seq % 2 == 0 && again == seq) return h;
    if (seq % 2 == 1 && again == seq && lock_.writer_gone()) return h;
    if (tries < kJoinSnapshotSpins) {
      sync::yield();
      continue;
    }
    if (tries == kJoinSnapshotSpins) give_up_ms = rw_os::now_ms() + kJoinSnapshotWaitMs;
    if (rw_os::now_ms() >= give_up_ms) return h;
#if defined(MB_SYNC_MODEL) && MB_SYNC_MODEL
    sync::yield();  // a model has no clock to sleep on (join_snapshot_2t)
#else
    usleep(1000);
#endif
  }
}

// An arena block [b, b + len) below top, 8-aligned, after the header (I4).
bool RwMap::block_in(u64 b, u64 len, u64 top) const {
  return b % 8 == 0 && b >= hdr_ + kRwHeaderSize && b <= top && top - b >= len;
}

// ---- hashing and field access -----------------------------------------

u64 RwMap::hash(RwBytes key) const { return internal::hash_key_bytes(key.data, key.size, seed_); }

namespace {

// Where a field's bytes are: inline words, or the arena block its first word
// names. 0 when a speculative offset is out of bounds (I4).
u64 field_src(const RwMap*, sync::Ref<u64> first, u64 field, u64 len, u64 lo, u64 backed) {
  if (len <= kRwInlineMax) return field;
  u64 off = first.load_acquire();
  if (off % 8 != 0 || off < lo || off > backed || backed - off < len) return 0;
  return off;
}

}  // namespace

// Whether the field at `field` (a slot's key or value) holds the bytes b.
bool RwMap::field_equal(u64 field, RwBytes b) const {
  u64 src = field_src(this, at(field), field, b.size, hdr_ + kRwHeaderSize, hw(kBacked).load_acquire());
  if (src == 0) return false;
  auto* p = static_cast<const unsigned char*>(b.data);
  for (u64 i = 0; 8 * i < b.size; ++i)
    if (at(src + 8 * i).load_acquire() != load_word(p + 8 * i, b.size - 8 * i)) return false;
  return true;
}

bool RwMap::key_equal(u64 slot, u64 meta, RwBytes key, bool) const {
  if (klen_of(meta) != key.size) return false;
  if (key.size == 8) {  // u64 keys: one inline word
    u64 k;
    std::memcpy(&k, key.data, 8);
    return at(slot + kKeyW).load_acquire() == k;
  }
  return field_equal(slot + kKeyW, key);
}

bool RwMap::value_equal(u64 slot, u64 meta, RwBytes val) const {
  return vlen_of(meta) == val.size && field_equal(slot + kValW, val);
}

Status RwMap::copy_out(u64 slot, u64 meta, void* buf, u64 cap, u64* val_sz, bool exact) const {
  u64 len = vlen_of(meta);
  if (val_sz != nullptr) *val_sz = len;
  if (len > cap || (exact && len != cap)) return Status::invalid;
  if (len > kRwValMax) return Status::corrupt;
  u64 src = field_src(this, at(slot + kValW), slot + kValW, len, hdr_ + kRwHeaderSize,
                      hw(kBacked).load_acquire());
  if (src == 0 && len > kRwInlineMax) return Status::corrupt;
  internal::copy_words(base_, src, len, buf);  // acquire loads: rw_map.h, READS
  return Status::ok;
}

// The key of a full slot into buf (cap bytes), *key_sz its size; invalid
// when cap is too small, corrupt when the length or offset is out of range.
// Speculative callers validate the copy with the seq afterwards.
Status RwMap::copy_key(u64 slot, u64 meta, void* buf, u64 cap, u64* key_sz) const {
  u64 len = klen_of(meta);
  if (key_sz != nullptr) *key_sz = len;
  if (len > cap) return Status::invalid;
  if (len > kRwKeyMax) return Status::corrupt;
  u64 src = field_src(this, at(slot + kKeyW), slot + kKeyW, len, hdr_ + kRwHeaderSize, hw(kBacked).load_acquire());
  if (src == 0) return Status::corrupt;
  internal::copy_words(base_, src, len, buf);  // acquire loads: rw_map.h, READS
  return Status::ok;
}

// ---- reads -------------------------------------------------------------

// Whether a table word read (maybe speculatively) names memory that is
// backed and inside the map (I1).
bool RwMap::table_in_bounds(u64 tw, u64 backed) const {
  if (backed > mem_max_) backed = mem_max_;  // damaged: never past the map's window
  u64 off = table_off(tw);
  unsigned log2 = table_log2(tw);
  return log2 <= cap_max_log2_ && off >= hdr_ + kRwHeaderSize && off <= backed &&
         backed - off >= (kRwSlotSize << log2);
}

// A table (or retired table) word of a map at rest (join, verify): a table of
// at least 8 slots below top (I1).
bool RwMap::table_word_ok(u64 tw, u64 top) const {
  return table_log2(tw) >= kTableLog2Min && table_in_bounds(tw, top);
}

// A word on the free list of tables of 2^log2 slots (I1): a table of that
// size below top that shares no byte with the current one (table word
// cur): a rebuild into it would otherwise empty slots of the table it
// copies from.
bool RwMap::listed_table_ok(u64 tw, unsigned log2, u64 top, u64 cur) const {
  const u64 off = table_off(tw), cur_off = table_off(cur);
  return table_word_ok(tw, top) && table_log2(tw) == log2 &&
         (off + (kRwSlotSize << log2) <= cur_off || cur_off + (kRwSlotSize << table_log2(cur)) <= off);
}

// The probe both reads share (speculative): *slot and *meta receive the
// live full slot holding key, else not_found; corrupt when the table word is
// out of bounds or no empty slot ends the probe (torn, or damaged).
template <class KeyEq>
Status RwMap::probe(u64 h, KeyEq key_eq, u64* slot_out, u64* meta_out) const {
  u64 tw = hw(kTable).load_acquire();
  if (!table_in_bounds(tw, hw(kBacked).load_acquire())) return Status::corrupt;
  u64 off = table_off(tw), mask = (u64{1} << table_log2(tw)) - 1;
  for (u64 i = h & mask, n = 0; n <= mask; ++n, i = (i + 1) & mask) {
    u64 slot = off + i * kRwSlotSize, meta = at(slot).load_acquire();
    u64 state = meta & kStateMask;
    if (state == kEmpty) return Status::not_found;
    if (state != kFull) continue;
    u64 w1 = at(slot + kHashW).load_acquire();
    if ((w1 & kHashLo) == (h & kHashLo) && key_eq(slot, meta)) {
      if (expired(w1)) return Status::not_found;  // lazily: a writer removes it
      touch(slot, meta);
      *slot_out = slot;
      *meta_out = meta;
      return Status::ok;
    }
  }
  return Status::corrupt;
}

// One speculative read under the seq value the caller loaded (even).
Status RwMap::read_try(RwBytes key, u64 h, void* buf, u64 cap, u64* val_sz, u64) const {
  u64 slot = 0, meta = 0;
  auto eq = [&](u64 sl, u64 me) { return key_equal(sl, me, key, true); };
  Status s = probe(h, eq, &slot, &meta);
  if (s != Status::ok || (buf == nullptr && cap == 0 && val_sz == nullptr)) return s;
  return copy_out(slot, meta, buf, cap, val_sz, false);
}

// Called while seq stays odd: spin, then yield; now and then look at the
// lock holder and, if it is gone, take the lock, which repairs the map.
void RwMap::wait_seq_odd(unsigned* spins) const {
  ++*spins;
  if (*spins < sync::kSpin.pause_max) {
    sync::pause();
    return;
  }
  sync::yield();
  if (*spins % (sync::kModelBuild ? 8 : 4096) != 0) return;  // models: check soon
  if ((lock_.word() & kRwPidMask) == 0 || lock_.writer_gone()) lock_for_write();
}

void RwMap::lock_for_write() const { Writer w(*this); }

// Run try_once() (speculative copies with acquire loads) until a stable,
// even seq brackets it: the seqlock read protocol of rw_map.h, READS.
template <class Try>
Status RwMap::read_stable(Try try_once) const {
  unsigned spins = 0;
  for (;;) {
    // ORDER: acquire pairs with the writer's release even store (Writer).
    u64 seq = hw(kSeq).load_acquire();
    if (seq & 1) {
      wait_seq_odd(&spins);
      continue;
    }
    Status s = try_once();
#if MB_PLANT_BUG == 50
    return s;  // Planted bug 50: no re-check (model table_reuse_2t)
#endif
    // Relaxed: the acquire loads in try_once keep this load after them.
    if (hw(kSeq).load_relaxed() == seq) return s;
  }
}

Status RwMap::get(RwBytes key, void* buf, u64 cap, u64* val_sz) const {
  if (key.size == 0 || key.size > kRwKeyMax) return Status::invalid;
  return get_hashed(key, hash(key), buf, cap, val_sz);
}

Status RwMap::get_hashed(RwBytes key, u64 h, void* buf, u64 cap, u64* val_sz) const {
  if (key.size == 0 || key.size > kRwKeyMax) return Status::invalid;
  return read_stable([&] { return read_try(key, h, buf, cap, val_sz, 0); });
}

// The u64 path of get(): key and value are compared and copied as words.
Status RwMap::read_u64(u64 k, u64 h, u64* v) const {
  u64 slot = 0, meta = 0;
  auto eq = [&](u64 sl, u64 me) { return klen_of(me) == 8 && at(sl + kKeyW).load_acquire() == k; };
  Status s = probe(h, eq, &slot, &meta);
  if (s != Status::ok) return s;
  if (vlen_of(meta) != 8) return Status::invalid;
  *v = at(slot + kValW).load_acquire();
  return Status::ok;
}

// The common case first, as one straight run: seq even, the key in its home
// slot as a plain u64 entry with no expiry (or the home slot empty), seq
// unchanged; only in a map without LRU (whose gets set accessed bits) and
// without a default TTL (whose keys mostly carry an expiry, which the
// straight run hands on). The loads and their orders are read_stable's and
// probe()'s (READS in rw_map.h); anything else (seq odd, a moved key, a
// collision, a damaged table word) starts over in the general loop.
// Short, so the processor can overlap the cache misses of consecutive gets.
Status RwMap::get(u64 k, u64* v) const {
  const u64 h = hash(as_bytes(k));
  if (lru_max_ == 0 && default_ttl_ == 0) {
    // ORDER: acquire pairs with the writer's release even store (Writer).
    const u64 seq = hw(kSeq).load_acquire(), tw = hw(kTable).load_acquire();
    if ((seq & 1) == 0 && table_in_bounds(tw, hw(kBacked).load_acquire())) {
      const u64 slot = table_off(tw) + (h & ((u64{1} << table_log2(tw)) - 1)) * kRwSlotSize;
      const u64 meta = at(slot).load_acquire();
      Status s = Status::again;
      u64 x = 0;
      if (meta == kEmpty) {
        s = Status::not_found;
      } else if (meta == meta_of(kFull, 8, 8) &&
                 at(slot + kHashW).load_acquire() == (h & kHashLo) &&  // the hash word of a key with no expiry
                 at(slot + kKeyW).load_acquire() == k) {
        x = at(slot + kValW).load_acquire();
        s = Status::ok;
      }
#if MB_PLANT_BUG == 50 || MB_PLANT_BUG == 53
      // Planted bugs 50 and 53: no re-check (model table_reuse_2t).
      if (s != Status::again) {
#else
      // Relaxed: the acquire loads above keep this load after them.
      if (s != Status::again && hw(kSeq).load_relaxed() == seq) {
#endif
        if (s == Status::ok) *v = x;
        return s;
      }
    }
  }
  return read_stable([&] { return read_u64(k, h, v); });
}

Status RwMap::get(RwBytes key, u64* v) const {
  u64 x = 0, sz = 0;
  Status s = get(key, &x, 8, &sz);  // invalid when longer than 8 bytes
  if (s == Status::ok && sz != 8) return Status::invalid;
  if (s == Status::ok) *v = x;
  return s;
}

bool RwMap::exists(RwBytes key) const { return get(key, nullptr, 0, nullptr) == Status::ok; }

// ---- the write section's helpers ----------------------------------------

// The writers' probe (under the write lock, so nothing moves): from the
// home slot of hash h to the key's slot (ok: w->found, with the meta and
// hash word read there) or to an empty slot (not_found). w->free is the
// first tombstone or empty slot on the way, where an insert goes.
// same(slot, meta) tests a full slot whose hash bits match for the key.
// common: the meta of a full slot the caller expects to meet most (the
// state tests skip it: without that branch less, the u64 put's overwrite
// measured 1-4 ns slower than its own loop's, about 21 ns a put at 25K
// keys).
// corrupt: no empty slot and no tombstone (the map never fills: damage).
template <class Same>
inline Status RwMap::locate_with(u64 h, u64 common, Same same, Where* w) const {
  const u64 tw = hw(kTable).load_acquire(), off = table_off(tw), mask = (u64{1} << table_log2(tw)) - 1;
  *w = Where();
  for (u64 i = h & mask, n = 0; n <= mask; ++n, i = (i + 1) & mask) {
    const u64 slot = off + i * kRwSlotSize, meta = at(slot).load_acquire(), state = meta & kStateMask;
    if (meta != common) {  // a full slot of the kind the caller expects skips the state tests
      if (state == kEmpty) {
        if (w->free == 0) w->free = slot;
        return Status::not_found;
      }
      if (state == kTombState) {
        if (w->free == 0) w->free = slot;
        continue;
      }
    }
    const u64 w1 = at(slot + kHashW).load_acquire();
    if ((w1 & kHashLo) == (h & kHashLo) && same(slot, meta)) {
      w->found = slot;
      w->meta = meta;
      w->w1 = w1;
      return Status::ok;
    }
  }
  return w->free != 0 ? Status::not_found : Status::corrupt;
}

// locate() of a one-word key: compared in the probe, without key_equal's
// call (inline here and in put(u64)).
inline Status RwMap::locate_u64(u64 k, u64 h, Where* w) const {
  return locate_with(h, meta_of(kFull, 8, 8),
                     [&](u64 slot, u64 meta) { return klen_of(meta) == 8 && at(slot + kKeyW).load_acquire() == k; },
                     w);
}

// The common slot for a key of another length: its length, an 8-byte value.
Status RwMap::locate(RwBytes key, u64 h, Where* w) const {
  if (key.size != 8)
    return locate_with(h, meta_of(kFull, key.size, 8),
                       [&](u64 slot, u64 meta) { return key_equal(slot, meta, key, false); }, w);
  u64 k8 = 0;
  std::memcpy(&k8, key.data, 8);
  return locate_u64(k8, h, w);
}

// Writers trust the header's backed (word 29) only as far as this handle
// has checked it: backed_ok_, bytes from base this handle knows are backed
// (by join(), format() or its own grow). backed_checked() (write lock held)
// loads the word and, when it is more than backed_ok_ (a peer grew the
// map, or damage), has grow_ back that much first: a posix_fallocate over
// what a peer already backed; after damage, memory of the map's own window
// gets backed (wasted, never a fault, where a store past a file's end
// would be SIGBUS), and backed_ok_ takes the word's value. corrupt: past
// mem_max_, or grow_ cannot back it. A word below backed_ok_ (damaged low)
// leaves it as it was.
Status RwMap::backed_checked() const {
  const u64 b = hw(kBacked).load_acquire();
  if (b > backed_ok_) {
    if (b > mem_max_ || (grow_ != nullptr && grow_(grow_ctx_, b) != Status::ok)) return Status::corrupt;
    backed_ok_ = b;
  }
  return Status::ok;
}

// Whether the bytes below `end` are backed (write lock held): within
// backed_ok_ without a load, else as backed_checked() finds.
bool RwMap::backed_to(u64 end) const {
  return end <= backed_ok_ || (backed_checked() == Status::ok && end <= backed_ok_);
}

// Whether table word tw (write lock held) names a table of at least 8
// slots inside the map's own memory (past its header, within mem_max_:
// never another shard's window) and backed. The word found sound is kept
// (tw_ok_: soundness depends on the word alone, as backed_ok_ only grows),
// and Writer compares with it first: the put's write section measured
// about 2 ns slower (of 21) with the whole check each time, within this
// machine's noise with the compare.
bool RwMap::table_backed(u64 tw) const {
  const bool ok = table_word_ok(tw, mem_max_) && backed_to(table_off(tw) + (kRwSlotSize << table_log2(tw)));
  if (ok) tw_ok_ = tw;
  return ok;
}

// The arena's top (word 27) in *top, and whether it lies within backed
// memory (a top past backed_ok_ has the header's backed checked first: a
// stale backed_ok_ alone would refuse the blocks a peer placed above it).
bool RwMap::top_backed(u64* top) const {
  *top = hw(kTop).load_acquire();
  return backed_to(*top);
}

// The arena's top for a writer's range checks of the blocks and tables it
// takes or frees: never above backed memory, so a damaged top cannot pass
// a block past it.
u64 RwMap::top_bound() const {
  u64 top = 0;
  return top_backed(&top) ? top : backed_ok_;
}

// Back memory up to `end` (bytes from base), with slack of half of what
// the map has backed (at least 1 MiB) so that bump allocations rarely call
// grow (a file region's grow is a posix_fallocate).
Status RwMap::ensure_backed(u64 end) {
  if (end > mem_max_) return Status::full;
  if (end <= backed_ok_) return Status::ok;
  if (Status s = backed_checked(); s != Status::ok) return s;
  const u64 backed = backed_ok_;  // never below the header's end: the slack cannot wrap
  if (end <= backed) return Status::ok;
  u64 slack = (backed - hdr_) / 2 > (u64{1} << 20) ? (backed - hdr_) / 2 : u64{1} << 20;
  u64 want = (end + slack + 4095) & ~u64{4095};
  if (want > mem_max_) want = mem_max_;
  if (grow_ != nullptr && grow_(grow_ctx_, want) != Status::ok) {
    want = end;  // no room for the slack: back just what is needed
    if (grow_(grow_ctx_, want) != Status::ok) return Status::full;
  }
  hw(kBacked).store_release(want);
  backed_ok_ = want;
  return Status::ok;
}

Status RwMap::alloc_table(unsigned log2, u64* off) {
  const u64 head = hw(table_list(log2)).load_acquire();
  if (head != 0) {
    // A retired table of this size: its slot 0's hash word links the next
    // (a table word, 0 at the end). Unlinked before use: a crash must not
    // leave it named twice (it leaks instead).
    // A damaged list (a table out of range, of another size, or sharing
    // bytes with the current one) takes nothing: checked before the link
    // is read.
    const u64 top = top_bound(), cur = hw(kTable).load_acquire();
    if (!listed_table_ok(head, log2, top, cur)) return Status::corrupt;
    const u64 next = at(table_off(head) + kHashW).load_acquire();
    if (next != 0 && (!listed_table_ok(next, log2, top, cur) || next == head)) return Status::corrupt;
    hw(table_list(log2)).store_release(next);
    rw_os::hook(rw_os::HookPoint::rw_table_taken);
    *off = table_off(head);
  } else {
    Status s = bump(kRwSlotSize << log2, 64, off);
    if (s != Status::ok) return s;
  }
  for (u64 i = 0; i < (u64{1} << log2); ++i) at(*off + i * kRwSlotSize).store_release(kEmpty);
  return Status::ok;
}

Status RwMap::alloc_bytes(u64 len, u64* off) {
  unsigned c = class_of(len);
  u64 head = hw(kFree + c).load_acquire();
  if (head != 0) {
    if (!block_in(head, u64{32} << c, top_bound())) return Status::corrupt;
    hw(kFree + c).store_release(at(head).load_acquire());
    *off = head;
    return Status::ok;
  }
  return bump(u64{32} << c, 8, off);
}

// `bytes` from the arena's top (word 27) at `align` (a power of two),
// backed first. A top below the map's first byte past its header, or
// above its backed memory, is damage: a bump there would write over the
// header (or a lower shard's memory), or past the backed memory (corrupt).
Status RwMap::bump(u64 bytes, u64 align, u64* off) {
  u64 top = 0;
  if (!top_backed(&top) || top < hdr_ + kRwHeaderSize) return Status::corrupt;
  const u64 start = (top + align - 1) & ~(align - 1);
  Status s = ensure_backed(start + bytes);
  if (s != Status::ok) return s;
  hw(kTop).store_release(start + bytes);
  *off = start;
  return Status::ok;
}

// A block goes back onto its class's free list (lock held). A length no
// class holds, or a block outside the arena, comes from damage (a meta word
// or a journal; verify() reports the slot): that block stays where it is,
// leaked, rather than linked into a header word past the free-list heads
// or written outside the arena.
void RwMap::free_bytes(u64 off, u64 len) const {
  const unsigned c = class_of(len);
  if (c >= kRwClassCnt || !block_in(off, u64{32} << c, top_bound())) return;
  at(off).store_release(hw(kFree + c).load_acquire());
  hw(kFree + c).store_release(off);
}

// Write b into the field at `field` (inline words, or a new arena block
// whose offset goes into the field's first word).
Status RwMap::write_field(u64 slot, unsigned word, RwBytes b, u64) {
  u64 field = slot + word, dst = field;
  if (b.size > kRwInlineMax) {
    Status s = alloc_bytes(b.size, &dst);
    if (s != Status::ok) return s;
  }
  auto* p = static_cast<const unsigned char*>(b.data);
  u64 n_words = b.size > kRwInlineMax ? words_of(b.size) : kRwInlineMax / 8;
  for (u64 i = 0; i < n_words; ++i) {
    u64 done = 8 * i;
    at(dst + 8 * i).store_release(done < b.size ? load_word(p + done, b.size - done) : 0);
  }
  if (dst != field) at(field).store_release(dst);
  return Status::ok;
}

Status RwMap::fill_slot(u64 slot, u64 h, RwBytes key, RwBytes val, bool reuse_tomb, u64 exp) {
  Status s = write_field(slot, kKeyW, key, 0);
  if (s != Status::ok) return s;
  s = write_field(slot, kValW, val, 0);
  if (s != Status::ok) {
    if (key.size > kRwInlineMax) free_bytes(at(slot + kKeyW).load_acquire(), key.size);
    return s;
  }
  at(slot + kHashW).store_release(hash_word(h, exp));
  rw_os::hook(rw_os::HookPoint::put_half_done);
  at(slot).store_release(meta_of(kFull, key.size, val.size));  // the insert's linearization point
  hw(kSize).store_release(hw(kSize).load_acquire() + 1);
  if (reuse_tomb) hw(kTomb).store_release(hw(kTomb).load_acquire() - 1);
  return Status::ok;
}

// A new value for a full slot. An old value in the arena is replaced under
// the value journal (words 62, 63; CRASH RECOVERY), whatever the new size:
// the slot's value word names the old block until the new value is written
// and the meta word's new length goes with the new word, so a writer dying
// between the two must not leave them disagreeing (a length of one block
// with the offset of another would later free the wrong block). repair()
// points the slot back at the old block (the old value is whole: nothing
// wrote it) when the meta word still has the old length, else frees the
// old block, which the dead writer had not freed yet.
Status RwMap::set_value(u64 slot, u64 meta, RwBytes val) {
  const u64 old_len = vlen_of(meta);
  if (old_len <= kRwInlineMax) {  // inline: a crash may tear it, never more
    Status s = write_field(slot, kValW, val, old_len);
    if (s == Status::ok) at(slot).store_release(meta_of(kFull, klen_of(meta), val.size));
    return s;
  }
  const u64 old_block = at(slot + kValW).load_acquire();
  hw(kValOld).store_release(old_block);
#if MB_PLANT_BUG == 29
  // Planted bug 29: the journal opens after the new value is written, so a
  // writer that dies before its meta store leaves the old length with the
  // new block and nothing for repair() to settle (model dead_value_half_2t).
  Status s = write_field(slot, kValW, val, old_len);
  if (s == Status::ok) {
    rw_os::hook(rw_os::HookPoint::value_half_done);
    hw(kValFrom).store_release(slot | old_len << kJournalLenShift);
#else
  hw(kValFrom).store_release(slot | old_len << kJournalLenShift);
  Status s = write_field(slot, kValW, val, old_len);  // fails before writing anything
  if (s == Status::ok) {
    rw_os::hook(rw_os::HookPoint::value_half_done);
#endif
    at(slot).store_release(meta_of(kFull, klen_of(meta), val.size));
    rw_os::hook(rw_os::HookPoint::value_meta_done);
  }
  hw(kValFrom).store_release(0);
  if (s == Status::ok) free_bytes(old_block, old_len);  // after the journal closes: a crash leaks it, no more
  return s;
}

void RwMap::clear_slot(u64 slot, u64 meta) {
  u64 tw = hw(kTable).load_acquire(), off = table_off(tw), mask = (u64{1} << table_log2(tw)) - 1;
  u64 next = off + (((slot - off) / kRwSlotSize + 1) & mask) * kRwSlotSize;
  // A slot followed by an empty one ends every probe through it: it may
  // become empty instead of a tombstone.
  bool to_empty = (at(next).load_acquire() & kStateMask) == kEmpty;
  at(slot).store_release(to_empty ? kEmpty : meta_of(kTombState, 0, 0));  // the remove's linearization point
  hw(kSize).store_release(hw(kSize).load_acquire() - 1);
  if (!to_empty) hw(kTomb).store_release(hw(kTomb).load_acquire() + 1);
  if (klen_of(meta) > kRwInlineMax) free_bytes(at(slot + kKeyW).load_acquire(), klen_of(meta));
  if (vlen_of(meta) > kRwInlineMax) free_bytes(at(slot + kValW).load_acquire(), vlen_of(meta));
}

// Copy slot src into slot dst (under the write lock): the payload words
// first, then `meta` (src's), so that dst turns full only with its payload
// in place (crash order, rw_map.h).
void RwMap::copy_slot(u64 src, u64 dst, u64 meta) {
  for (u64 w = 1; w < kRwSlotSize / 8; ++w) at(dst + 8 * w).store_release(at(src + 8 * w).load_acquire());
  at(dst).store_release(meta);
}

// Put table word tw (no longer current, or never published) on its size's
// free list: the link first, then the head (a crash between the two leaks
// the table, no more). The link goes into slot 0's hash word, not its meta
// word: a reader still probing the old table (its seq re-load will reject
// what it read) sees slot 0 as it was.
void RwMap::retire_table(u64 tw) const {
  at(table_off(tw) + kHashW).store_release(hw(table_list(table_log2(tw))).load_acquire());
  rw_os::hook(rw_os::HookPoint::rw_table_linked);
  hw(table_list(table_log2(tw))).store_release(tw);
}

// Rebuild the table at 2^log2 slots: copy every full slot into a fresh (or
// a retired) table, publish it with one store, retire the old one.
Status RwMap::rebuild(unsigned log2) {
  u64 old_tw = hw(kTable).load_acquire(), old_off = table_off(old_tw);
  u64 old_cap = u64{1} << table_log2(old_tw), noff = 0;
  Status s = alloc_table(log2, &noff);
  if (s != Status::ok) return s;
  u64 mask = (u64{1} << log2) - 1;
  for (u64 j = 0; j < old_cap; ++j) {
    u64 src = old_off + j * kRwSlotSize, meta = at(src).load_acquire();
    if ((meta & kStateMask) != kFull) continue;
    u64 i = at(src + kHashW).load_acquire() & mask, n = 0;  // mask < 2^32: the stored low bits suffice
    while ((at(noff + i * kRwSlotSize).load_acquire() & kStateMask) != kEmpty) {
      // More full slots than the new table holds: the size word that chose
      // it was damaged. The old table stays current (nothing published).
      if (++n > mask) {
        retire_table(noff | log2);
        return Status::corrupt;
      }
      i = (i + 1) & mask;
    }
    copy_slot(src, noff + i * kRwSlotSize, meta);
  }
  // Cursors: a table taken back off a free list can give the table word a
  // value a cursor already holds, so every rebuild also counts (word 60).
  hw(kMoves).store_release(hw(kMoves).load_acquire() + 1);
  hw(kTable).store_release(noff | log2);  // one store publishes the new table
  hw(kTomb).store_release(0);
  rw_os::hook(rw_os::HookPoint::rw_table_published);
  retire_table(old_tw);
  unsigned old_log2 = table_log2(old_tw);
  hw(log2 == old_log2 ? kStatRehash : log2 > old_log2 ? kStatGrow : kStatShrink).fetch_add_relaxed(1);  // statistics
  return Status::ok;
}

// Move the entry in slot `from` into the tombstone `to` (under the write
// lock). Journaled for crash recovery (header words 58, 59; repair() ends
// an interrupted move): the destination's payload first, its meta word
// last, then the source becomes a tombstone. The entry's arena blocks move
// with it (the words are copied as they are).
void RwMap::move_slot(u64 from, u64 to) {
  hw(kMoveTo).store_release(to);
  hw(kMoveFrom).store_release(from);
#if MB_PLANT_BUG == 28
  // Planted bug 28: the source is tombed before the copy, so a writer that
  // dies between the two leaves the entry in neither slot (model
  // dead_mover_2t).
  const u64 meta = at(from).load_acquire();
  at(from).store_release(meta_of(kTombState, 0, 0));
  rw_os::hook(rw_os::HookPoint::move_half_done);
  copy_slot(from, to, meta);
#else
  copy_slot(from, to, at(from).load_acquire());
  rw_os::hook(rw_os::HookPoint::move_half_done);
  at(from).store_release(meta_of(kTombState, 0, 0));
#endif
  hw(kMoveFrom).store_release(0);
}

// Rehash in place (same table, no memory): every tombstone goes. For each
// tombstone, in table order from an empty slot (I2: there is one), Knuth's
// deletion for linear probing (TAOCP 6.4, Algorithm R): the tombstone is a
// hole; scanning the rest of its run, each entry whose home is not in
// (hole, entry] (so the hole is on its probe path) moves into the hole,
// whose place becomes the next hole; at the run's end (an empty slot) the
// last hole becomes empty: every entry after it in the run has its home
// after it. Each move keeps every key reachable (I3) at every step, and a
// crash between its two stores leaves a duplicate that repair() removes.
// Entries move, so cursors are told (word 60 counts these rehashes).
void RwMap::rehash_in_place() {
  u64 tw = hw(kTable).load_acquire(), off = table_off(tw), mask = (u64{1} << table_log2(tw)) - 1;
  auto slot_at = [&](u64 i) { return off + (i & mask) * kRwSlotSize; };
  auto state = [&](u64 i) { return at(slot_at(i)).load_acquire() & kStateMask; };
  u64 e = 0;
  while (e <= mask && state(e) != kEmpty) ++e;
  if (e > mask) return;  // no empty slot (damaged, I2): leave it to verify()
  u64 tomb = hw(kTomb).load_acquire();
  // Before the first move: a cursor must learn of moves even when this
  // rehash dies halfway (the moves it made stay).
#if MB_PLANT_BUG != 42  // planted bug 42: cursors are not told (cursor_rehash_2t)
  hw(kMoves).store_release(hw(kMoves).load_acquire() + 1);
#endif
  for (u64 n = 1; n <= mask; ++n) {
    u64 hole = (e + n) & mask;
    if (state(hole) != kTombState) continue;
    for (u64 j = (hole + 1) & mask; state(j) != kEmpty; j = (j + 1) & mask) {
      if (state(j) != kFull) continue;
      u64 home = at(slot_at(j) + kHashW).load_acquire() & mask;  // mask < 2^32: the stored low bits suffice
      if (((home - hole) & mask) != 0 && ((home - hole) & mask) <= ((j - hole) & mask)) continue;
      move_slot(slot_at(j), slot_at(hole));
      hole = j;
    }
    at(slot_at(hole)).store_release(kEmpty);
    hw(kTomb).store_release(--tomb);
  }
  hw(kStatRehash).fetch_add_relaxed(1);  // a statistic
}

// Make room for one more used slot (size + tombstones + 1 <= 75% of cap).
Status RwMap::make_room() {
  u64 tw = hw(kTable).load_acquire(), cap = u64{1} << table_log2(tw);
  u64 used = hw(kSize).load_acquire(), tomb = hw(kTomb).load_acquire();
  if ((used + tomb + 1) * 4 <= cap * 3) return Status::ok;
  unsigned log2 = table_log2(tw);
  if (tomb * 8 < cap && log2 < cap_max_log2_) ++log2;  // few tombstones: grow
  if (log2 == table_log2(tw) && tomb == 0) return Status::full;
  if (log2 == table_log2(tw)) {  // many tombstones (or the table is at its maximum)
    rehash_in_place();
    return (used + hw(kTomb).load_acquire() + 1) * 4 <= cap * 3 ? Status::ok : Status::full;
  }
  Status s = rebuild(log2);
  if (s != Status::ok) return s;
  cap = u64{1} << log2;
  return (used + 1) * 4 <= cap * 3 ? Status::ok : Status::full;
}

// ---- writes ----------------------------------------------------------------

Status RwMap::reserve(u64 n) {
  unsigned log2 = 3;
  while (log2 < cap_max_log2_ && (u64{3} << log2) / 4 < n) ++log2;
  if ((u64{3} << log2) / 4 < n) return Status::full;
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  Status s = log2 <= table_log2(hw(kTable).load_acquire()) ? Status::ok : rebuild(log2);
  // No shrink below it from now on (LIMITS); a reserve that failed sets nothing.
  if (s == Status::ok && log2 > hw(kFloor).load_acquire()) hw(kFloor).store_release(log2);
  return s;
}

// LRU (lru_max > 0): a lookup that finds a key sets its accessed bit, with
// no lock: a relaxed fetch_or on the meta word, skipped when already set.
// The slot may have been cleared or refilled since `meta` was read: an RMW
// leaves a stray bit there, harmless (the bit only steers eviction, and
// every reader of meta masks it off: state, lengths), where a store of
// meta | kAccessed would bring the old entry back (model lru_touch_2t,
// planted bug 47). A statistic-like hint: relaxed.
void RwMap::touch(u64 slot, u64 meta) const {
#if MB_PLANT_BUG == 47
  if (lru_max_ != 0 && (meta & kAccessed) == 0) at(slot).store_relaxed(meta | kAccessed);  // BUG: a store
#else
  if (lru_max_ != 0 && (meta & kAccessed) == 0) at(slot).fetch_or_relaxed(kAccessed);
#endif
}

// The clock's victim (clock / second chance): the hand clears accessed bits
// until it meets a full slot without one, and moves past it. 0 (never a
// slot's offset) when two sweeps find no full slot.
u64 RwMap::clock_victim() {
  u64 tw = hw(kTable).load_acquire(), off = table_off(tw), mask = (u64{1} << table_log2(tw)) - 1;
  u64 hand = hw(kHand).load_acquire(), first = 0;
  for (u64 step = 0; step <= 2 * mask + 1; ++step) {
    u64 slot = off + (hand++ & mask) * kRwSlotSize, meta = at(slot).load_acquire();
    if ((meta & kStateMask) != kFull) continue;
    if (first == 0) first = slot;
    if (meta & kAccessed) {
      at(slot).fetch_and_relaxed(~kAccessed);  // a hint (see touch): relaxed
      continue;
    }
    hw(kHand).store_release(hand);
    return slot;
  }
  hw(kHand).store_release(hand);
  // Lock-free readers whose attempt began before this section may set
  // accessed bits again behind the hand: the table is not empty, so take
  // the first full slot met rather than report none.
  return first;
}

// Evict one key (the clock's victim). true when a key was evicted.
bool RwMap::evict_one() {
  u64 slot = clock_victim();
  if (slot == 0) return false;
  clear_slot(slot, at(slot).load_acquire());
  hw(kStatEvict).fetch_add_relaxed(1);  // a statistic
  return true;
}

// The other end from the clock's victim: scanning backward from the hand,
// the first full slot with its accessed bit set (LRU: recently used), else
// the nearest full slot. 0 when the table holds none.
u64 RwMap::newest_slot() {
  u64 tw = hw(kTable).load_acquire(), off = table_off(tw), mask = (u64{1} << table_log2(tw)) - 1;
  u64 hand = hw(kHand).load_acquire(), nearest = 0;
  for (u64 n = 1; n <= mask + 1; ++n) {
    u64 slot = off + ((hand - n) & mask) * kRwSlotSize, meta = at(slot).load_acquire();
    if ((meta & kStateMask) != kFull) continue;
    if (meta & kAccessed) return slot;
    if (nearest == 0) nearest = slot;
    if (lru_max_ == 0) break;  // no accessed bits to look for
  }
  return nearest;
}

// The slot pop (head = false) or shift (head = true) takes; expired keys met
// first are removed as expirations.
Status RwMap::end_slot(bool head, u64* slot) {
  for (;;) {
    u64 s = head ? newest_slot() : clock_victim();
    if (s == 0) return Status::not_found;
    if (!expired(at(s + kHashW).load_acquire())) {
      *slot = s;
      return Status::ok;
    }
    clear_slot(s, at(s).load_acquire());
    hw(kStatExpire).fetch_add_relaxed(1);  // a statistic
  }
}

Status RwMap::pop_end(bool head, bool exact, void* kbuf, u64 kcap, u64* key_sz, void* vbuf, u64 vcap,
                      u64* val_sz) {
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  u64 slot = 0;
  const u64 hand = hw(kHand).load_acquire();
  Status s = end_slot(head, &slot);
  if (s != Status::ok) return s;
  u64 meta = at(slot).load_acquire();
  if (exact && (klen_of(meta) != kcap || vlen_of(meta) != vcap)) {
    s = Status::invalid;
  } else {
    s = copy_key(slot, meta, kbuf, kcap, nullptr);
    Status sv = copy_out(slot, meta, vbuf, vcap, nullptr, false);
    if (s == Status::ok) s = sv;
  }
  if (key_sz != nullptr) *key_sz = klen_of(meta);
  if (val_sz != nullptr) *val_sz = vlen_of(meta);
  if (s != Status::ok) {
    // A buffer too small (invalid) or damage: nothing removed, and the hand
    // goes back so that a retry with a larger buffer gets this same entry.
    hw(kHand).store_release(hand);
    return s;
  }
  clear_slot(slot, meta);
  return Status::ok;
}

Status RwMap::pop_u64(bool head, u64* k, u64* v) { return pop_end(head, true, k, 8, nullptr, v, 8, nullptr); }

Status RwMap::drain(u64 n, Visit visit, void* ctx, u64* removed) {
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  std::vector<unsigned char> k, v;
  u64 cnt = 0;
  Status result = Status::ok;
  for (u64 slot = 0; cnt < n; ++cnt) {
    Status s = end_slot(false, &slot);
    if (s == Status::not_found) break;
    u64 meta = at(slot).load_acquire(), ksz = 0, vsz = 0;
    if (s == Status::ok && (klen_of(meta) > kRwKeyMax || vlen_of(meta) > kRwValMax)) s = Status::corrupt;
    k.resize(s == Status::ok ? klen_of(meta) + 8 : 0);
    v.resize(s == Status::ok ? vlen_of(meta) + 8 : 0);
    if (s == Status::ok) s = copy_key(slot, meta, k.data(), k.size(), &ksz);
    if (s == Status::ok) s = copy_out(slot, meta, v.data(), v.size(), &vsz, false);
    if (s != Status::ok) {
      result = s;
      break;
    }
    visit(ctx, RwBytes{k.data(), ksz}, RwBytes{v.data(), vsz});
    clear_slot(slot, meta);
  }
  if (removed != nullptr) *removed = cnt;
  return result;
}

// Insert an absent key into the free slot locate() found, making room first
// (which may move the table: the key is located again then).
Status RwMap::insert_absent(RwBytes key, u64 h, RwBytes val, Where* w, u64 exp) {
  // A table that removals left below 25% load shrinks here, at an insert:
  // removals only mark slots, so they never disturb a cursor (rw_map.h,
  // CURSORS). The shrink moves every entry: locate again.
  if (maybe_shrink() && locate(key, h, w) == Status::corrupt) return Status::corrupt;
  // An eviction may empty a slot on the key's probe path: locate again.
  if (lru_max_ != 0 && hw(kSize).load_acquire() >= lru_max_ && evict_one() &&
      locate(key, h, w) == Status::corrupt)
    return Status::corrupt;
  bool tomb = (at(w->free).load_acquire() & kStateMask) == kTombState;
  if (!tomb) {
    Status s = make_room();
    if (s != Status::ok) return s;
    if (locate(key, h, w) == Status::corrupt) return Status::corrupt;
    tomb = (at(w->free).load_acquire() & kStateMask) == kTombState;
  }
  return fill_slot(w->free, h, key, val, tomb, exp);
}

u64 RwMap::expiry_for(u64 ttl_s) const {
  if (ttl_s == kRwTtlDefault) ttl_s = default_ttl_;
  if (ttl_s == 0) return 0;
  u64 exp = rw_os::now_s() + ttl_s;
  return exp > kHashLo ? kHashLo : exp;
}

// locate() for writers: an expired key found is removed first (lazy expiry).
Status RwMap::locate_live(RwBytes key, u64 h, Where* w) {
  Status s = locate(key, h, w);
  if (s != Status::ok || !expired(at(w->found + kHashW).load_acquire())) return s;
  clear_slot(w->found, at(w->found).load_acquire());
  hw(kStatExpire).fetch_add_relaxed(1);  // a statistic
  return locate(key, h, w);
}

// Start bringing the key's home slot into cache before the lock is taken:
// the lock's atomic read-modify-write would otherwise make the slot's cache
// miss wait for it (and keep consecutive writes' misses from overlapping).
// The table word is read without the lock: a hint only.
void RwMap::prefetch(u64 h) const {
  u64 tw = hw(kTable).load_relaxed();
  u64 slot = table_off(tw) + (h & ((u64{1} << table_log2(tw)) - 1)) * kRwSlotSize;
  __builtin_prefetch(at(slot).address_hint(base_), 1);
}

Status RwMap::store(RwBytes key, RwBytes val, Mode mode, void* buf, u64 cap, u64* val_sz, u64 ttl_s) {
  return store_hashed(key, hash(key), val, mode, buf, cap, val_sz, ttl_s);
}

Status RwMap::put_hashed(RwBytes key, u64 h, RwBytes val) {
  return store_hashed(key, h, val, Mode::put, nullptr, 0, nullptr, kRwTtlDefault);
}

Status RwMap::store_hashed(RwBytes key, u64 h, RwBytes val, Mode mode, void* buf, u64 cap, u64* val_sz, u64 ttl_s) {
  if (key.size == 0 || key.size > kRwKeyMax || val.size > kRwValMax) return Status::invalid;
  prefetch(h);
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  return store_locked(key, h, val, mode, buf, cap, val_sz, expiry_for(ttl_s));
}

Status RwMap::store_locked(RwBytes key, u64 h, RwBytes val, Mode mode, void* buf, u64 cap, u64* val_sz,
                           u64 exp) {
  Where w;
  Status s = locate_live(key, h, &w);
  if (s == Status::corrupt) return s;
  if (s == Status::ok) {
    if (mode == Mode::add) return Status::exists;
    u64 meta = at(w.found).load_acquire();
    if (mode == Mode::swap || mode == Mode::swap_exact) {
      // Before anything changes: an old value the caller cannot take
      // (too large, or not exactly cap bytes for swap_exact) leaves the map
      // as it was.
      s = copy_out(w.found, meta, buf, cap, val_sz, mode == Mode::swap_exact);
      if (s != Status::ok) return s;
    }
    s = set_value(w.found, meta, val);
    if (s == Status::ok) at(w.found + kHashW).store_release(hash_word(h, exp));  // a write refreshes the TTL
    return s;
  }
  if (mode == Mode::update) return Status::not_found;
  if (val_sz != nullptr) *val_sz = 0;
  s = insert_absent(key, h, val, &w, exp);
  if (s != Status::ok) return s;
  return mode == Mode::swap || mode == Mode::swap_exact ? Status::not_found : Status::ok;
}

// The batches' one write section each, over keys (and values) as byte
// strings, whatever the caller's type (sizes already checked).
template <class Key, class Val>
Status RwMap::put_batch(const Key* keys, const Val* vals, u64 n) {
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  for (u64 i = 0; i < n; ++i) {
    const RwBytes k = as_bytes(keys[i]);
    Status s = store_locked(k, hash(k), as_bytes(vals[i]), Mode::put, nullptr, 0, nullptr, expiry_for(kRwTtlDefault));
    if (s != Status::ok) return s;
  }
  return Status::ok;
}

template <class Key>
Status RwMap::remove_batch(const Key* keys, u64 n, u64* removed) {
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  u64 cnt = 0;
  for (u64 i = 0; i < n; ++i) {
    const RwBytes k = as_bytes(keys[i]);
    Status s = take_locked(k, hash(k), nullptr, 0, nullptr, false);
    if (s == Status::corrupt) return s;
    cnt += s == Status::ok;
  }
  if (removed != nullptr) *removed = cnt;
  return Status::ok;
}

Status RwMap::put_multi(const u64* keys, const u64* vals, u64 n) { return put_batch(keys, vals, n); }
Status RwMap::remove_multi(const u64* keys, u64 n, u64* removed) { return remove_batch(keys, n, removed); }

Status RwMap::put_multi(const RwBytes* keys, const RwBytes* vals, u64 n) {
  for (u64 i = 0; i < n; ++i)
    if (keys[i].size == 0 || keys[i].size > kRwKeyMax || vals[i].size > kRwValMax) return Status::invalid;
  return put_batch(keys, vals, n);
}

Status RwMap::remove_multi(const RwBytes* keys, u64 n, u64* removed) {
  for (u64 i = 0; i < n; ++i)
    if (keys[i].size == 0 || keys[i].size > kRwKeyMax) return Status::invalid;
  return remove_batch(keys, n, removed);
}

Status RwMap::put(RwBytes key, RwBytes val, u64 ttl_s) {
  return store(key, val, Mode::put, nullptr, 0, nullptr, ttl_s);
}

// Under the same lock as store(): what set_value and the TTL refresh would
// store for this overwrite, minus the stores that would not change a word
// (the meta word, the value's zero padding, an unchanged expiry). locate()'s
// probe for a one-word key, inline: an absent key goes to insert_absent() with
// the first free slot on its path, as store_locked() would send it; the key
// found in a plain slot (full, an 8-byte value, no LRU accessed bit) and not
// expired is overwritten here; anything else (the key in another kind of
// slot or expired, a damaged table) goes to the general path, which locates
// the key again.
Status RwMap::put(u64 k, u64 v, u64 ttl_s) {
  const RwBytes key = as_bytes(k);
  const u64 h = hash(key);
  prefetch(h);
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  const u64 exp = expiry_for(ttl_s);
  Where w;
  const Status s = locate_u64(k, h, &w);
  if (s == Status::not_found) {
    Where x = w;  // a copy: w's address never escapes, so w stays in registers
    return insert_absent(key, h, as_bytes(v), &x, exp);
  }
  if (s == Status::ok && w.meta == meta_of(kFull, 8, 8) && !expired(w.w1)) {
    at(w.found + kValW).store_release(v);
    if (w.w1 != hash_word(h, exp)) at(w.found + kHashW).store_release(hash_word(h, exp));
    return Status::ok;
  }
  return store_locked(key, h, as_bytes(v), Mode::put, nullptr, 0, nullptr, exp);
}
Status RwMap::add(RwBytes key, RwBytes val) { return store(key, val, Mode::add, nullptr, 0, nullptr, kRwTtlDefault); }
Status RwMap::update(RwBytes key, RwBytes val) {
  return store(key, val, Mode::update, nullptr, 0, nullptr, kRwTtlDefault);
}
Status RwMap::swap(RwBytes key, RwBytes val, void* buf, u64 cap, u64* val_sz) {
  return store(key, val, Mode::swap, buf, cap, val_sz, kRwTtlDefault);
}

// ---- TTL -------------------------------------------------------------------

Status RwMap::set_expiry(RwBytes key, u64 ttl_s, bool keep, u64* remaining) {
  if (key.size == 0 || key.size > kRwKeyMax) return Status::invalid;
  u64 h = hash(key);
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  Where w;
  Status s = locate_live(key, h, &w);
  if (s != Status::ok) return s;
  u64 exp = at(w.found + kHashW).load_acquire() >> 32;
  if (!keep) {
    exp = expiry_for(ttl_s);
    at(w.found + kHashW).store_release(hash_word(h, exp));
  }
  if (remaining != nullptr) {
    u64 now = rw_os::now_s();
    *remaining = exp == 0 ? kRwTtlNever : exp > now ? exp - now : 0;
  }
  return Status::ok;
}

Status RwMap::ttl_remaining(RwBytes key, u64* secs) { return set_expiry(key, 0, true, secs); }
Status RwMap::touch(RwBytes key) { return set_expiry(key, kRwTtlDefault, false, nullptr); }
Status RwMap::persist(RwBytes key) { return set_expiry(key, 0, false, nullptr); }

Status RwMap::flush_expired(u64 limit, u64* removed) {
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  u64 tw = hw(kTable).load_acquire(), off = table_off(tw), mask = (u64{1} << table_log2(tw)) - 1;
  u64 cursor = hw(kFlushCursor).load_acquire(), cnt = 0;
  for (u64 n = 0; n < limit && n <= mask; ++n, ++cursor) {
    u64 slot = off + (cursor & mask) * kRwSlotSize, meta = at(slot).load_acquire();
    if ((meta & kStateMask) != kFull || !expired(at(slot + kHashW).load_acquire())) continue;
    clear_slot(slot, meta);
    ++cnt;
  }
  hw(kFlushCursor).store_release(cursor);
  hw(kStatExpire).fetch_add_relaxed(cnt);  // a statistic
  if (removed != nullptr) *removed = cnt;
  return Status::ok;
}

// The u64 forms below take only an 8-byte value: any other size gives
// invalid before anything changes (the old value stays).
Status RwMap::swap(u64 k, u64 v, u64* old) {
  u64 sz = 0;
  return store(as_bytes(k), as_bytes(v), Mode::swap_exact, old, 8, &sz, kRwTtlDefault);
}

Status RwMap::remove(RwBytes key) { return take(key, nullptr, ~u64{0}, nullptr); }

Status RwMap::take(RwBytes key, void* buf, u64 cap, u64* val_sz) {
  if (key.size == 0 || key.size > kRwKeyMax) return Status::invalid;
  u64 h = hash(key);
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  return take_locked(key, h, buf, cap, val_sz, false);
}

Status RwMap::take_locked(RwBytes key, u64 h, void* buf, u64 cap, u64* val_sz, bool exact) {
  Where w;
  Status s = locate_live(key, h, &w);
  if (s != Status::ok) return s;
  u64 meta = at(w.found).load_acquire();
  if (buf != nullptr || val_sz != nullptr) {
    s = copy_out(w.found, meta, buf, cap, val_sz, exact);
    if (s != Status::ok) return s;  // before the clear: the entry stays
  }
  clear_slot(w.found, meta);
  return Status::ok;
}

// Below 25% load, move to the smallest table (no smaller than the floor,
// header word 28: cap_init's size, raised by reserve()) that the entries
// and one more fill at most half of: a retired table of that size if one
// waits on its free list, else new memory (each size is allocated once, so
// grow/shrink cycles take no more, LIMITS). false when there is nothing to
// do or the rebuild failed (the old table stays current: out of memory, or
// a damaged size word or free list).
bool RwMap::maybe_shrink() {
  const u64 tw = hw(kTable).load_acquire(), size = hw(kSize).load_acquire();
  const unsigned log2 = table_log2(tw);
  const u64 floor = hw(kFloor).load_acquire();
  // (A damaged floor, or a size damaged high, shrinks nothing: size is
  // compared by division, which cannot wrap, and `to` stops below log2.)
  if (size >= (u64{1} << log2) / 4 || floor >= log2) return false;
  u64 to = std::max<u64>(kTableLog2Min, floor);
  while (to < log2 && size + 1 > (u64{1} << to) / 2) ++to;
  return to < log2 && rebuild(unsigned(to)) == Status::ok;
}

Status RwMap::take(u64 k, u64* v) {
  const RwBytes key = as_bytes(k);
  u64 sz = 0;
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  return take_locked(key, hash(key), v, 8, &sz, true);
}

Status RwMap::get_or_set(RwBytes key, RwBytes val, void* buf, u64 cap, u64* val_sz, bool* inserted) {
  if (inserted != nullptr) *inserted = false;
  Status s = get(key, buf, cap, val_sz);  // lock-free fast path
  if (s != Status::not_found) return s;
  if (val.size > cap) {
    if (val_sz != nullptr) *val_sz = val.size;
    return Status::invalid;
  }
  s = store(key, val, Mode::add, nullptr, 0, nullptr, kRwTtlDefault);
  if (s == Status::exists) return get_or_set(key, val, buf, cap, val_sz, inserted);  // lost a race
  if (s != Status::ok) return s;
  if (inserted != nullptr) *inserted = true;
  if (val_sz != nullptr) *val_sz = val.size;
  if (val.size > 0) std::memcpy(buf, val.data, val.size);
  return Status::ok;
}

Status RwMap::get_or_set(u64 k, u64 v, u64* out, bool* inserted) {
  u64 sz = 0;
  Status s = get_or_set(as_bytes(k), as_bytes(v), out, 8, &sz, inserted);
  return s == Status::ok && sz != 8 ? Status::invalid : s;  // a present value of another size
}

Status RwMap::cas(RwBytes key, RwBytes expected, RwBytes desired) {
  if (key.size == 0 || key.size > kRwKeyMax || desired.size > kRwValMax) return Status::invalid;
  u64 h = hash(key);
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  Where w;
  Status s = locate_live(key, h, &w);
  if (s != Status::ok) return s;
  u64 meta = at(w.found).load_acquire();
  if (!value_equal(w.found, meta, expected)) return Status::exists;
  return set_value(w.found, meta, desired);
}

// The fast path of incr_by (rw_map.h, COUNTERS): an existing, live key with
// an 8-byte value is changed by one atomic add under the read lock. Returns
// not_found when the slow path must decide (absent, expired, other length,
// or no free reader slot).
Status RwMap::incr_fast(RwBytes key, u64 h, std::int64_t delta, u64* result) {
  u64 slot = 0, meta = 0;
  auto eq = [&](u64 sl, u64 me) { return key_equal(sl, me, key, false); };
#if MB_PLANT_BUG == 15
  // Planted bug 15: the fast path runs without the read lock (a seqlock
  // probe instead), so a writer may remove or move the slot between the
  // probe and the add.
  const bool locked = false;
  unsigned reader = 0;
  Status s = read_stable([&] { return probe(h, eq, &slot, &meta); });
#else
  const bool locked = true;
  unsigned reader = 0;
  // Every reader slot busy: the write lock's futex queue is the fairer wait.
  if (!lock_.read_lock_if_slot(&RwMap::repair_cb, const_cast<RwMap*>(this), &reader)) return Status::not_found;
  Status s = probe(h, eq, &slot, &meta);
#endif
  if (s == Status::ok && vlen_of(meta) == 8) {
    // ORDER: acq_rel. Release: a lock-free reader (or the next incr) that
    // loads the sum sees a value whole and written; acquire: the sum is
    // formed from the latest value, written under the write lock (whose
    // release unlock our read_lock acquired) or by an earlier incr.
    *result = at(slot + kValW).fetch_add_acq_rel(u64(delta)) + u64(delta);
  } else if (s == Status::ok) {
    s = Status::not_found;
  }
  if (locked) lock_.read_unlock(reader);
  return s;
}

Status RwMap::incr_by(RwBytes key, std::int64_t delta, u64* result) {
  if (key.size == 0 || key.size > kRwKeyMax) return Status::invalid;
  u64 h = hash(key);
  u64 sum = 0;
  Status fast = incr_fast(key, h, delta, &sum);
  if (fast != Status::not_found) {
    if (fast == Status::ok && result != nullptr) *result = sum;
    return fast;
  }
  Writer section(*this);
  if (!section.ok()) return Status::corrupt;
  Where w;
  Status s = locate_live(key, h, &w);
  if (s == Status::corrupt) return s;
  u64 v = u64(delta);
  if (s == Status::ok) {
    u64 meta = at(w.found).load_acquire();
    if (vlen_of(meta) != 8) return Status::invalid;
    v = at(w.found + kValW).load_acquire() + u64(delta);
    at(w.found + kValW).store_release(v);
  } else {
    s = insert_absent(key, h, as_bytes(v), &w, expiry_for(kRwTtlDefault));
    if (s != Status::ok) return s;
  }
  if (result != nullptr) *result = v;
  return Status::ok;
}

// ---- cursors -----------------------------------------------------------------

// One speculative step of next() (validated by the caller's seq re-load).
Status RwMap::next_try(Cursor* c, void* kbuf, u64 kcap, u64* key_sz, void* vbuf, u64 vcap, u64* val_sz) const {
  u64 tw = hw(kTable).load_acquire(), backed = hw(kBacked).load_acquire(), off = table_off(tw);
#if MB_PLANT_BUG == 45
  // Planted bug 45: a new cursor's table and epoch from inside the try.
  if (c->table == 0) c->table = tw, c->moves = hw(kMoves).load_acquire();
#endif
  if (c->table != tw || c->moves != hw(kMoves).load_acquire()) return Status::again;  // entries moved
  if (!table_in_bounds(tw, backed)) return Status::corrupt;
  for (u64 cap = u64{1} << table_log2(tw); c->idx < cap; ++c->idx) {
    u64 slot = off + c->idx * kRwSlotSize, meta = at(slot).load_acquire();
    if ((meta & kStateMask) != kFull || expired(at(slot + kHashW).load_acquire())) continue;
    Status s = copy_key(slot, meta, kbuf, kcap, key_sz);
    if (s != Status::ok) return s;
    return copy_out(slot, meta, vbuf, vcap, val_sz, false);
  }
  return Status::not_found;
}

Status RwMap::next(Cursor* c, void* kbuf, u64 kcap, u64* key_sz, void* vbuf, u64 vcap, u64* val_sz) const {
  if (c->table == 0 && MB_PLANT_BUG != 45) {
    // A new cursor takes its table and epoch from a read the seq accepts.
    // Read inside a rejected try, they could come from a rehash's section
    // after its epoch bump and before its moves: the slots that try passed
    // (and the loop below keeps) could then receive a moved entry under
    // that same epoch, and no later try would say again (a review found
    // it; cursor_rehash_2t covers the walk).
    Cursor start;
    (void)read_stable([&] {
      start.table = hw(kTable).load_acquire();
      start.moves = hw(kMoves).load_acquire();
      return Status::ok;
    });
    if (start.table == 0) return Status::corrupt;  // no table: damage (verify() says more)
    c->table = start.table, c->moves = start.moves, c->idx = 0;
  }
  Cursor trial;
  Status s = read_stable([&] {
    trial = *c;
    Status r = next_try(&trial, kbuf, kcap, key_sz, vbuf, vcap, val_sz);
    // An attempt the seq rejects still keeps the slots it passed: they
    // were not full when read, under the cursor's table and epoch (checked
    // first, and again by the next attempt), and a key present throughout
    // sits in one full slot throughout. Without this, a steady writer
    // rejected every scan of a long empty stretch and next() never returned.
    c->table = trial.table;
    c->moves = trial.moves;
    c->idx = trial.idx;
    return r;
  });
  if (s == Status::ok) ++trial.idx;  // the entry is consumed
  *c = trial;
  return s;
}

// ---- consistent views (read lock) ----------------------------------------

Status RwMap::for_each(Visit visit, void* ctx) const {
  unsigned reader = lock_.read_lock(&RwMap::repair_cb, const_cast<RwMap*>(this));
  u64 tw = hw(kTable).load_acquire(), off = table_off(tw), cap = u64{1} << table_log2(tw);
  std::vector<unsigned char> k, v;
  // Bounds-checked like a lock-free read's table word (probe()).
  Status result = table_in_bounds(tw, hw(kBacked).load_acquire()) ? Status::ok : Status::corrupt;
  for (u64 i = 0; i < cap && result == Status::ok; ++i) {
    u64 slot = off + i * kRwSlotSize, meta = at(slot).load_acquire();
    if ((meta & kStateMask) != kFull || expired(at(slot + kHashW).load_acquire())) continue;
    u64 klen = klen_of(meta), vlen = vlen_of(meta), sz = 0;
    if (klen > kRwKeyMax || vlen > kRwValMax) {
      result = Status::corrupt;
      break;
    }
    k.resize(klen + 8);
    v.resize(vlen + 8);
    result = copy_key(slot, meta, k.data(), klen, &sz);
    if (result == Status::ok) result = copy_out(slot, meta, v.data(), vlen, &sz, false);
    if (result == Status::ok) visit(ctx, RwBytes{k.data(), klen}, RwBytes{v.data(), vlen});
  }
  lock_.read_unlock(reader);
  return result;
}

Status RwMap::get_multi(const u64* keys, u64 n, u64* vals, bool* found) const {
  unsigned reader = lock_.read_lock(&RwMap::repair_cb, const_cast<RwMap*>(this));
  Status result = Status::ok;
  for (u64 i = 0; i < n; ++i) {
    // Under the read lock no writer runs: the probe is not speculative.
    u64 sz = 0;
    Status s = read_try(as_bytes(keys[i]), hash(as_bytes(keys[i])), &vals[i], 8, &sz, 0);
    found[i] = s == Status::ok && sz == 8;
    if (s == Status::corrupt) result = s;
    else if (((s == Status::ok && sz != 8) || s == Status::invalid) && result == Status::ok) result = Status::invalid;
  }
  lock_.read_unlock(reader);
  return result;
}

Status RwMap::get_multi(const RwBytes* keys, u64 n, bool* found, Visit visit, void* ctx) const {
  for (u64 i = 0; i < n; ++i)
    if (keys[i].size == 0 || keys[i].size > kRwKeyMax) return Status::invalid;
  std::vector<unsigned char> buf(64);
  unsigned reader = lock_.read_lock(&RwMap::repair_cb, const_cast<RwMap*>(this));
  Status result = Status::ok;
  for (u64 i = 0; i < n; ++i) {
    // Under the read lock no writer runs: the probe is not speculative, and
    // a value too large for buf is read again, whole, after a resize.
    u64 sz = 0;
    Status s = read_try(keys[i], hash(keys[i]), buf.data(), buf.size(), &sz, 0);
    if (s == Status::invalid && sz <= kRwValMax) {
      buf.resize(sz);
      s = read_try(keys[i], hash(keys[i]), buf.data(), buf.size(), &sz, 0);
    }
    found[i] = s == Status::ok;
    if (s == Status::ok) visit(ctx, keys[i], RwBytes{buf.data(), sz});
    if (s == Status::corrupt || s == Status::invalid) result = Status::corrupt;
  }
  lock_.read_unlock(reader);
  return result;
}

// ---- sizes, stats, recovery, verify ----------------------------------------

u64 RwMap::size() const { return hw(kSize).load_acquire(); }
u64 RwMap::tombstones() const { return hw(kTomb).load_acquire(); }
u64 RwMap::capacity() const { return u64{1} << table_log2(hw(kTable).load_acquire()); }

RwMap::Stats RwMap::stats() const {
  Stats s;
  s.write_recoveries = hw(kStatWriteRec).load_relaxed();
  s.read_recoveries = hw(kStatReadRec).load_relaxed();
  s.seq_repairs = hw(kStatSeqRepair).load_relaxed();
  s.grows = hw(kStatGrow).load_relaxed();
  s.rehashes = hw(kStatRehash).load_relaxed();
  s.shrinks = hw(kStatShrink).load_relaxed();
  s.move_repairs = hw(kStatMoveRepair).load_relaxed();
  s.evictions = hw(kStatEvict).load_relaxed();
  s.expirations = hw(kStatExpire).load_relaxed();
  s.arena_used = hw(kTop).load_acquire() - hdr_;
  s.arena_capacity = mem_max_ - hdr_;
  s.backed = hw(kBacked).load_acquire();
  return s;
}

Status RwMap::last_recovery(std::string* why) const {
  u64 r = hw(kStatRecovery).load_acquire();
  if (r <= 1) return Status::ok;
  return fail(why, Status::corrupt, "verify() after the last recovery failed; run verify() for details");
}

void RwMap::repair_cb(void* ctx) { static_cast<RwMap*>(ctx)->repair(); }

// Under the write lock, after a holder died: even seq, recounted size and
// tombstones, and a verify() whose outcome is kept (kStatRecovery: 1 clean,
// 2 corrupt).
void RwMap::repair() const {
  u64 tw = hw(kTable).load_acquire(), off = table_off(tw), cap = u64{1} << table_log2(tw);
  u64 full = 0, tomb = 0;
  const bool table_ok = table_backed(tw);
  // A move of an in-place rehash that died between its two stores left the
  // entry in both slots: the source goes (its copy is whole: the
  // destination's meta word, written last, is the source's).
  u64 from = hw(kMoveFrom).load_acquire(), to = hw(kMoveTo).load_acquire();
  auto in_table = [&](u64 sl) { return sl >= off && sl < off + cap * kRwSlotSize && (sl - off) % kRwSlotSize == 0; };
  if (table_ok && from != 0 && in_table(from) && in_table(to) && from != to) {
    bool copied = (at(from).load_acquire() & kStateMask) == kFull;
    for (u64 w = 0; copied && w < kRwSlotSize / 8; ++w)
      copied = (at(from + 8 * w).load_acquire() & ~(w == 0 ? kAccessed : 0)) ==
               (at(to + 8 * w).load_acquire() & ~(w == 0 ? kAccessed : 0));
    if (copied) {
      at(from).store_release(meta_of(kTombState, 0, 0));
      hw(kStatMoveRepair).fetch_add_relaxed(1);  // a statistic
    }
  }
  if (from != 0) hw(kMoveFrom).store_release(0);
  // A value change that died with its journal open (set_value).
  if (const u64 jv = hw(kValFrom).load_acquire(); jv != 0) {
    const u64 sl = jv & (kMemMaxLimit - 1), old_len = jv >> kJournalLenShift, old_block = hw(kValOld).load_acquire();
    const u64 meta = table_ok && in_table(sl) ? at(sl).load_acquire() : 0;
    const bool fix = (meta & kStateMask) == kFull && old_len > kRwInlineMax &&
                     block_in(old_block, old_len, top_bound());
    // Before its meta store (also every change of a same-size value: its
    // meta store changes nothing): the slot gets the old value back, whole,
    // and the write is lost. After it: the old block is freed, once: the
    // journal closes first, so a repair that dies here leaks it instead.
    const bool restore = fix && vlen_of(meta) == old_len;
    if (restore) at(sl + kValW).store_release(old_block);
    hw(kValFrom).store_release(0);
#if MB_PLANT_BUG == 30
    // Planted bug 30: the old block of a change that got past its meta
    // store stays allocated, a leak (model dead_value_meta_2t).
    const bool free_old = false;
#else
    const bool free_old = fix && !restore;
#endif
    if (free_old) free_bytes(old_block, old_len);
    if (fix) hw(kStatMoveRepair).fetch_add_relaxed(1);  // a statistic: journal repairs
  }
  for (u64 i = 0; table_ok && i < cap; ++i) {
    u64 state = at(off + i * kRwSlotSize).load_acquire() & kStateMask;
    full += state == kFull;
    tomb += state == kTombState;
  }
  if (table_ok) {
    hw(kSize).store_release(full);
    hw(kTomb).store_release(tomb);
  }
  // Last: lock-free readers keep waiting on the odd seq until every journal
  // above is settled (a reader must never see an open value change's old
  // length with its new value word).
  u64 seq = hw(kSeq).load_relaxed();
  if (seq & 1) {
    hw(kSeq).store_release(seq + 1);
    hw(kStatSeqRepair).fetch_add_relaxed(1);  // a statistic
  }
  std::string why;
  hw(kStatRecovery).store_release(verify_impl(&why, false) == Status::ok ? 1 : 2);
}

Status RwMap::verify(std::string* why) const { return verify_impl(why, true); }

Status RwMap::verify_impl(std::string* why, bool check_lock) const {
  u64 words[8];
  for (u64 i = 0; i < 8; ++i) words[i] = hw(i).load_relaxed();
  if (words[kMagic] != kRwMagic || words[kCheck] != header_check(words, hw(kDefaultTtl).load_relaxed()))
    return fail(why, Status::corrupt, "header damaged (magic or check)");
  if (check_lock) {
    u64 lw = lock_.word(), seq = hw(kSeq).load_acquire();
    if (lw & (kRwPidMask | kRwReaderMask))
      return fail(why, Status::corrupt, "lock held (word %#" PRIx64 ") on a quiescent map", lw);
    if (seq & 1) return fail(why, Status::corrupt, "seq %" PRIu64 " is odd on a quiescent map", seq);
    if (u64 st = hw(kRwStampWord).load_acquire(); st != 0)
      return fail(why, Status::corrupt, "write lock stamp %#" PRIx64 " left on a quiescent map (S1)", st);
    if (hw(kMoveFrom).load_acquire() != 0) return fail(why, Status::corrupt, "a rehash move is open on a quiescent map");
    if (hw(kValFrom).load_acquire() != 0) return fail(why, Status::corrupt, "a value change is open on a quiescent map");
  }
  u64 tw = hw(kTable).load_acquire(), off = table_off(tw), top = hw(kTop).load_acquire();
  u64 backed = hw(kBacked).load_acquire();
  unsigned log2 = table_log2(tw);
  if (top > backed || backed > mem_max_) return fail(why, Status::corrupt, "top/backed out of range (I1)");
  if (!table_word_ok(tw, top)) return fail(why, Status::corrupt, "table word %#" PRIx64 " out of range (I1)", tw);
  u64 cap = u64{1} << log2, mask = cap - 1, full = 0, tomb = 0;
  if (u64 floor = hw(kFloor).load_acquire(); floor < kTableLog2Min || floor > log2)
    return fail(why, Status::corrupt, "shrink floor %" PRIu64 " out of range 3..%u (I1)", floor, log2);
  // The free lists of retired tables (I1): in range, of their list's size,
  // none the current table, no cycle (a list no longer than the tables
  // that fit below top).
  for (unsigned l = kTableLog2Min; l <= cap_max_log2_ && l <= kRwCapMaxLog2; ++l) {
    u64 n = 0;
    for (u64 t = hw(table_list(l)).load_acquire(); t != 0; t = at(table_off(t) + kHashW).load_acquire()) {
      if (!listed_table_ok(t, l, top, tw))
        return fail(why, Status::corrupt, "free table list %u: table word %#" PRIx64 " out of range (I1)", l, t);
      if (++n > top / (kRwSlotSize << l)) return fail(why, Status::corrupt, "free table list %u has a cycle (I1)", l);
    }
  }
  std::vector<unsigned char> key;
  for (u64 i = 0; i < cap; ++i) {
    u64 slot = off + i * kRwSlotSize, meta = at(slot).load_acquire(), state = meta & kStateMask;
    if (state == kTombState) ++tomb;
    if (state == 3) return fail(why, Status::corrupt, "slot %" PRIu64 ": bad state (I3)", i);
    if (state != kFull) continue;
    ++full;
    u64 klen = klen_of(meta), vlen = vlen_of(meta);
    if (klen == 0 || klen > kRwKeyMax || vlen > kRwValMax)
      return fail(why, Status::corrupt, "slot %" PRIu64 ": lengths %" PRIu64 "/%" PRIu64 " (I4)", i, klen, vlen);
    u64 ksrc = klen > kRwInlineMax ? at(slot + kKeyW).load_acquire() : slot + kKeyW;
    if (klen > kRwInlineMax && !block_in(ksrc, klen, top))
      return fail(why, Status::corrupt, "slot %" PRIu64 ": key block out of range (I4)", i);
    if (vlen > kRwInlineMax && !block_in(at(slot + kValW).load_acquire(), vlen, top))
      return fail(why, Status::corrupt, "slot %" PRIu64 ": value block out of range (I4)", i);
    key.assign(words_of(klen) * 8, 0);
    for (u64 j = 0; j < words_of(klen); ++j) {
      u64 x = at(ksrc + 8 * j).load_acquire();
      std::memcpy(key.data() + 8 * j, &x, 8);
    }
    RwBytes k{key.data(), klen};
    u64 h = hash(k);
    if ((at(slot + kHashW).load_acquire() & kHashLo) != (h & kHashLo))
      return fail(why, Status::corrupt, "slot %" PRIu64 ": stored hash is not hash(key) (I3)", i);
    for (u64 j = h & mask;; j = (j + 1) & mask) {  // the probe path from home to slot i
      u64 other = off + j * kRwSlotSize, om = at(other).load_acquire();
      if (j == i) break;
      if ((om & kStateMask) == kEmpty)
        return fail(why, Status::corrupt, "slot %" PRIu64 ": unreachable, empty slot on its probe path (I3)", i);
      if ((om & kStateMask) == kFull && (at(other + kHashW).load_acquire() & kHashLo) == (h & kHashLo) &&
          key_equal(other, om, k, false))
        return fail(why, Status::corrupt, "slot %" PRIu64 ": duplicate key in slot %" PRIu64 " (I3)", i, j);
    }
  }
  if (full != hw(kSize).load_acquire() || tomb != hw(kTomb).load_acquire())
    return fail(why, Status::corrupt, "size/tombstones %" PRIu64 "/%" PRIu64 " but slots hold %" PRIu64 "/%" PRIu64 " (I2)",
                hw(kSize).load_acquire(), hw(kTomb).load_acquire(), full, tomb);
  if ((full + tomb) * 4 > cap * 3) return fail(why, Status::corrupt, "load above 75%% (I2)");
  for (unsigned c = 0; c < kRwClassCnt; ++c) {
    u64 n = 0;
    for (u64 b = hw(kFree + c).load_acquire(); b != 0; b = at(b).load_acquire()) {
      if (!block_in(b, u64{32} << c, top) || ++n > top / 32)
        return fail(why, Status::corrupt, "free list %u damaged (I4)", c);
    }
  }
  return Status::ok;
}

}  // namespace mb
