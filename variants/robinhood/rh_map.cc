// RhMap: see rh_map.h for the algorithm, layout, invariants and the
// memory-order argument.
#include "variants/robinhood/rh_map.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "core/internal/hash.h"
#include "core/internal/words.h"
#include "variants/rwlock/internal/rw_os.h"

// Planted bugs (MB_PLANT_BUG, models only, see models/BUILD):
//   12  readers skip the slot and table rechecks after reading a block
//   13  the robin-hood shift copies from the START of the run forwards, so
//       an entry is transiently in no slot (breaks RH5)
//   14  values() skips its second collect, so slots read at different
//       moments may show an entry twice (in two shifts) or miss one
//   16  a lookup trusts "not this key" from a block without rechecking its
//       slot: a bytes assign frees a present key's block, another key gets
//       it, and the lookup says not_found for a key present throughout
//   21  a multimap's u64 assign changes the value in place (as a plain
//       map's does): values() can return a set of values the key never had
//   22  a waiter takes over a dead writer's lock with a plain store instead
//       of a CAS from the word it saw: two waiters may both take it
//   26  a compacting shrink's new table keeps naming the old blocks, whose
//       slabs it then frees
//   27  a compacting shrink frees the old slabs before it publishes the new
//       table, while readers still reach their blocks through the old one
//   41  repair() empties a dead writer's left copy of a shifted entry
//       instead of tombing it (breaks RH1)
//   54  join() takes the first failed check of the table's objects for
//       damage, though a peer's resize may have freed them meanwhile
#ifndef MB_PLANT_BUG
#define MB_PLANT_BUG 0
#endif

namespace mb {

using u64 = std::uint64_t;

namespace {

// Slot word fields.
constexpr u64 kRefMask = 0xffffffffULL;
constexpr unsigned kDistShift = 32;
constexpr u64 kDistMask = 0xffULL << kDistShift;
constexpr unsigned kTagShift = 40;
constexpr u64 kTagMask = 0xffffULL << kTagShift;
constexpr unsigned kVerShift = 56;
constexpr u64 kVerMask = 0x7fULL << kVerShift;
constexpr u64 kTombBit = u64{1} << 63;
static_assert((kRefMask & kDistMask) == 0 && (kDistMask & kTagMask) == 0 && (kTagMask & kVerMask) == 0 &&
                  (kVerMask & kTombBit) == 0,
              "slot fields overlap");
static_assert(kRhDistMax < (kDistMask >> kDistShift), "dist field holds kRhDistMax + 1");
static_assert(kAllocSpaceMax >> 4 <= kRefMask + 1, "refs hold blk_off >> 4");

constexpr u64 ref_of(u64 w) { return w & kRefMask; }
constexpr u64 dist_of(u64 w) { return (w & kDistMask) >> kDistShift; }
constexpr u64 tag_of(u64 w) { return (w & kTagMask) >> kTagShift; }
constexpr u64 ver_of(u64 w) { return (w & kVerMask) >> kVerShift; }
constexpr bool is_tomb(u64 w) { return (w & kTombBit) != 0; }
constexpr bool is_live(u64 w) { return ref_of(w) != 0 && !is_tomb(w); }
// `w` carrying the next version of the slot whose current word is `old`.
constexpr u64 next_ver(u64 w, u64 old) { return (w & ~kVerMask) | (((ver_of(old) + 1) << kVerShift) & kVerMask); }
constexpr u64 with_dist(u64 w, u64 d) { return (w & ~kDistMask) | d << kDistShift; }
constexpr u64 hash_tag(u64 h) { return h >> 48; }

// Table word fields.
constexpr u64 kDirMask = 0xffffffffULL;
constexpr unsigned kLog2Shift = 32;
constexpr unsigned kGenShift = 38;
constexpr u64 table_word(u64 dir, unsigned log2, u64 gen) {
  return dir >> 4 | u64{log2} << kLog2Shift | gen << kGenShift;
}
static_assert(kRhCapLog2Max < 64, "log2 field is 6 bits");

// Map header words.
constexpr unsigned kWordTable = 5, kWordSlab = 6, kWordFree = 7, kWordLock = 8, kWordLive = 9, kWordTomb = 10,
                   kWordResizes = 11, kWordBump = 12, kWordBumpEnd = 13, kWordFreeCnt = 14, kWordRecoveries = 15;
// Layout version 5: the writer's allocation journal (rh_map.h, WRITER
// RECOVERY), in a third header line.
constexpr unsigned kWordNewBlock = 16, kWordOldBlock = 17, kWordNewTable = 18, kWordOldTable = 19,
                   kWordFreshSlabs = 20, kWordCutSlabs = 21, kJournalFirst = 16, kJournalEnd = 22;
constexpr u64 kHeaderBytes = 8 * kJournalEnd, kHeaderBytesV4 = 128;  // versions 3 and 4: no journal
// A shrink moves a u64 map's entries into new slabs when its slabs hold at
// least this many times the blocks its entries need (compact_blocks()).
constexpr u64 kCompactRatio = 4;

// u64 blocks (maps without kRhBytes) come from slabs: allocator objects of
// at most kSlabMax bytes (256 KiB: the standard ladder has a class of
// exactly that plus kPow2Slack), w0 the previous slab (0: none), w1
// the number of 16-byte blocks after the slab's own two words.
constexpr u64 kSlabMax = u64{256} << 10, kSlabHead = 16;

// The payload of a new slab: the largest size-class footprint, less the
// object header, up to kSlabMax, so that class rounding wastes (almost)
// nothing. 0 when no class holds a slab of one block.
u64 slab_payload(const Allocator& a) {
  u64 best = 0;
  for (unsigned c = 0; c < a.szc_cnt(); ++c) {
    const u64 f = a.size_class(c).footprint;
    if (f <= kSlabMax + kPow2Slack && f > best) best = f;
  }
  return best >= kObjHdrSize + kSlabHead + 16 ? std::min(best - kObjHdrSize, kSlabMax) : 0;
}

Status fail(std::string* why, Status s, const std::string& msg) {
  if (why != nullptr) *why = msg;
  return s;
}

// Byte-string blocks (kRhBytes maps): w0 hash, w1 key size | value size
// << 32, then the key's words, then the value's words (zero-padded).
constexpr u64 kBytesHead = 16;
constexpr u64 bytes_block_size(u64 klen, u64 vlen) {
  return kBytesHead + 8 * (internal::words_for(klen) + internal::words_for(vlen));
}
// Where a bytes block's value starts (after the key's words).
constexpr u64 bytes_value(u64 blk, u64 klen) { return blk + kBytesHead + 8 * internal::words_for(klen); }

// What a reader's look at one block says (probe_find).
enum class Match {
  no,   // not the key
  yes,  // the key; what the caller needs is copied (to be validated)
  bad,  // impossible lengths or extent: a reused block, or damage
};

u64 header_check(const u64* w) { return internal::hash_bytes(w + 1, 3 * sizeof(u64), kRhMagic); }

unsigned log2_for(u64 n) {  // smallest l with 2^l >= n (64 past 2^63)
  unsigned l = 0;
  while (l < 64 && (u64{1} << l) < n) ++l;
  return l;
}

}  // namespace

// A table as named by one table word.
struct RhMap::Table {
  u64 word = 0;
  u64 dir = 0;
  unsigned log2 = 0;
  u64 mask = 0;
  u64 seg_cnt = 0;
};

sync::Ref<u64> RhMap::hdr(unsigned idx) const { return sync::word(base_, hdr_off_ + 8 * idx); }

// A journal word (lock holder; relaxed like the counts: the next holder
// reads it after its acquire of the lock, or, after a death, as it reads
// every header word the dead writer left). A no-op in a layout version 3
// or 4 map, whose header has no room for it.
void RhMap::journal(unsigned idx, u64 v) const {
  if (journaled_) hdr(idx).store_relaxed(v);
}

// Decode a table word; false when it cannot name a table (damage, or a
// reader's stale view of reused memory).
namespace {

// The allocator's formatted space [lo, end), read once by a reader (find):
// the end only grows, so a stale end can only refuse an offset, and a reader
// re-reads it before it calls an offset damage.
struct Space {
  u64 lo, end;
  explicit Space(const Allocator& a) : lo(a.space_begin()), end(a.space_end()) {}
  bool contains(u64 off, u64 n) const { return off >= lo && off <= end && n <= end - off; }
};

template <class Table>  // RhMap::Table (private: deduced, not named)
bool decode_table(u64 tw, const Space& sp, Table* t) {
  t->word = tw;
  t->dir = (tw & kDirMask) << 4;
  t->log2 = unsigned(tw >> kLog2Shift) & 63;
  if (t->log2 < 2 || t->log2 > kRhCapLog2Max) return false;
  t->mask = (u64{1} << t->log2) - 1;
  t->seg_cnt = t->log2 > kRhSegLog2 ? u64{1} << (t->log2 - kRhSegLog2) : 1;
  return sp.contains(t->dir, 8 * t->seg_cnt);
}

// The slots per segment of a table of 2^log2 slots.
constexpr u64 seg_slots_of(unsigned log2) { return log2 < kRhSegLog2 ? u64{1} << log2 : kRhSegSlots; }

// The offset of the segment holding slot `s` of a table (directory dir,
// 2^log2 slots); 0 (below every space) when the directory names memory
// outside the allocator, or a misaligned offset (only a reader racing a
// resize, or damage, sees that: a directory read from reused memory may
// name anything).
// ORDER: acquire pairs with the release store of the directory word in
// make_table(): a reader that got the table word sees the segment offsets.
inline u64 segment_in(void* base, const Space& sp, u64 dir, unsigned log2, u64 s) {
  const u64 seg = sync::word(base, dir + 8 * (s >> kRhSegLog2)).load_acquire();
  return sp.contains(seg, 8 * seg_slots_of(log2)) && seg % 8 == 0 ? seg : 0;
}

// Slot `s` of table `t`; false when segment_in() refuses its segment, or
// (want given) it is not *want.
inline bool slot_in(void* base, const Space& sp, u64 dir, unsigned log2, u64 s, sync::Ref<u64>* out,
                    const u64* want = nullptr) {
  const u64 seg = segment_in(base, sp, dir, log2, s), idx = s & (kRhSegSlots - 1);
  if (seg == 0 || idx >= seg_slots_of(log2) || (want != nullptr && seg != *want)) return false;
  *out = sync::word(base, seg + 8 * idx);
  return true;
}

inline bool slot_at(void* base, const Allocator& a, u64 dir, unsigned log2, u64 s, sync::Ref<u64>* out) {
  return slot_in(base, Space(a), dir, log2, s, out);
}

// Whether the bytes block at blk holds `key` (hash h); *vlen receives its
// value size. Acquire loads, as every reader load of a block (rh_map.h,
// MEMORY ORDERS); a lock holder may call it too.
Match bytes_match(void* base, const Space& sp, u64 blk, RhBytes key, u64 h, u64* vlen) {
  if (!sp.contains(blk, kBytesHead)) return Match::bad;
  if (sync::word(base, blk).load_acquire() != h) return Match::no;
  const u64 lens = sync::word(base, blk + 8).load_acquire();
  if ((lens & 0xffffffffULL) != key.size) return Match::no;
  *vlen = lens >> 32;
  if (*vlen > kRhValMax || !sp.contains(blk, bytes_block_size(key.size, *vlen))) return Match::bad;
  auto* p = static_cast<const unsigned char*>(key.data);
  for (u64 i = 0; 8 * i < key.size; ++i)
    if (sync::word(base, blk + kBytesHead + 8 * i).load_acquire() != internal::load_word(p + 8 * i, key.size - 8 * i))
      return Match::no;
  return Match::yes;
}

// Fill a new bytes block (lock holder; release stores, published by the
// release store of the slot that names it).
void bytes_fill(void* base, u64 blk, u64 h, RhBytes key, RhBytes val) {
  sync::word(base, blk).store_release(h);
  sync::word(base, blk + 8).store_release(key.size | val.size << 32);
  u64 at = blk + kBytesHead;
  for (RhBytes b : {key, val}) {
    auto* p = static_cast<const unsigned char*>(b.data);
    for (u64 i = 0; 8 * i < b.size; ++i, at += 8)
      sync::word(base, at).store_release(internal::load_word(p + 8 * i, b.size - 8 * i));
  }
}

}  // namespace

bool RhMap::load_table(u64 tw, Table* t) const { return decode_table(tw, Space(*a_), t); }

#define RH_SLOT(t, s, ref) slot_at(base_, *a_, (t).dir, (t).log2, (s), (ref))

// --- lifecycle -------------------------------------------------------------

Status RhMap::make_table(unsigned log2, u64* dir_out) const {
  u64 cap = u64{1} << log2;
  u64 seg_slots = seg_slots_of(log2), seg_cnt = cap / seg_slots;
  u64 dir = 0;
  Status s = a_->alloc(16, 8 * seg_cnt, kRhTagDir, &dir);
  if (s != Status::ok) return s;
  // The directory names no segment until one is made (free_table() skips
  // 0), and a writer that dies from here on leaves the table in the journal
  // for repair() to free (create() writes the word too, before it zeroes
  // the header). ORDER: release, as every store into map memory.
  for (u64 i = 0; i < seg_cnt; ++i) sync::word(base_, dir + 8 * i).store_release(0);
  journal(kWordNewTable, table_word(dir, log2, 0));
  for (u64 i = 0; i < seg_cnt; ++i) {
    u64 seg = 0;
    // 16-aligned, not 64: a cache line holds 8 slots either way, and a
    // 512 KiB segment then fits the allocator's class of exactly that plus
    // its header (64-aligned, it took the next class, 25% larger).
    if ((s = a_->alloc(16, 8 * seg_slots, kRhTagSegment, &seg)) != Status::ok) {
      free_table(table_word(dir, log2, 0), kWordNewTable);
      return s;
    }
    // Named first (the table is not published yet), so that a writer that
    // dies while zeroing it leaves it to the journal.
    // ORDER: release pairs with the acquire load in slot_at().
    sync::word(base_, dir + 8 * i).store_release(seg);
    // ORDER: release, as every store into map memory (rh_map.h, MEMORY
    // ORDERS): a reader's acquire load that reads it from reused memory
    // synchronizes with this writer and its rechecks then fail.
    for (u64 j = 0; j < seg_slots; ++j) sync::word(base_, seg + 8 * j).store_release(0);
  }
  *dir_out = dir;
  return Status::ok;
}

// Free a table's segments and directory. A directory entry that is 0 (a
// table make_table() had not finished) or names no segment object is
// skipped, and so is a directory that is not one (repair() frees tables
// the journal names). Each segment leaves the directory (its entry zeroed)
// before it is freed, and the directory is freed after the journal word
// `jword` that names the table (0: none) is closed: a writer or a repair
// that dies in here leaks one segment or the directory at most, and frees
// nothing twice. A reader still in the table (one a resize retired, or
// never published) meets a 0 segment like an out-of-range one: slot_in()
// refuses it and the reader's table word recheck sends it to the current
// table.
void RhMap::free_table(u64 tw, unsigned jword) const {
  Table t;
  if (!load_table(tw, &t) || !object_is(t.dir, kRhTagDir)) {
    if (jword != 0) journal(jword, 0);
    return;
  }
  for (u64 i = 0; i < t.seg_cnt; ++i) {
    sync::Ref<u64> e = sync::word(base_, t.dir + 8 * i);
    const u64 seg = e.load_relaxed();
    if (!object_is(seg, kRhTagSegment)) continue;
    e.store_release(0);  // ORDER: release, as every store into map memory
    a_->free(seg);
  }
  if (jword != 0) journal(jword, 0);
  a_->free(t.dir);
}

// Whether `off` is a live allocator object tagged `tag` of at least
// min_size bytes.
bool RhMap::object_is(u64 off, std::uint32_t tag, u64 min_size) const {
  u64 size = 0;
  std::uint32_t got = 0;
  return off != 0 && a_->info(off, &size, &got) == Status::ok && got == tag && size >= min_size;
}

// Whether table t's directory and every segment it names are live
// allocator objects of their tags and sizes (a reader's decode checks only
// that they lie in the allocator's space: enough to read, where every word
// read is checked again, not to write through). *why says which is not.
// *segs (when given) receives the segment offsets checked.
bool RhMap::table_objects_ok(const Table& t, std::string* why, Segments* segs) const {
  if (!object_is(t.dir, kRhTagDir, 8 * t.seg_cnt)) {
    if (why != nullptr) *why = "the directory is not a directory object";
    return false;
  }
  if (segs != nullptr) segs->resize(t.seg_cnt);
  for (u64 i = 0; i < t.seg_cnt; ++i) {
    // ORDER: acquire, as segment_in().
    const u64 seg = sync::word(base_, t.dir + 8 * i).load_acquire();
    if (!object_is(seg, kRhTagSegment, 8 * seg_slots_of(t.log2))) {
      if (why != nullptr) *why = "segment " + std::to_string(i) + " is not a segment object of its size";
      return false;
    }
    if (segs != nullptr) (*segs)[i] = seg;
  }
  return true;
}

// The current table for a writer (lock held), checked beyond a reader's
// decode, because a writer stores through what it reads: its capacity
// within the map's minimum and maximum; its directory and segments
// (table_objects_ok, once per table word this handle meets: a resize
// publishes a new word; the segments seen are kept for writer_slot(),
// which refuses a directory entry changed since); the live and tombstone
// counts within the capacity
// (a count past it would wrap add_entry()'s and maybe_shrink()'s
// arithmetic). false: damage, for the caller to return as corrupt.
bool RhMap::writer_table(Table* t) {
  const u64 tw = hdr(kWordTable).load_relaxed();
  if (!load_table(tw, t) || t->log2 < log2_min_ || t->log2 > log2_max_) return false;
  const u64 live = hdr(kWordLive).load_relaxed(), tomb = hdr(kWordTomb).load_relaxed();
  if (live > t->mask + 1 || tomb > t->mask + 1 - live) return false;
  if (tw != checked_table_) {
    slab_ranges_.clear();  // own_block(): a new table word may follow a compaction
    checked_table_ = 0;    // checked_segs_ is being rewritten
    if (!table_objects_ok(*t, nullptr, &checked_segs_)) return false;
    checked_table_ = tw;
  }
  return true;
}

// Slot `s` of table t for a writer (lock held). In the table this handle
// checked (writer_table()), the directory entry must still name the
// segment the check saw: damaged since, it could name any memory of the
// allocator's space (another map's segment: a live object of the right
// tag and size), which a reader's range check lets it read but a writer
// must not store into. A table other than the checked one (a rebuild's
// new table, which this writer made) is reached as readers reach it.
// The same load as RH_SLOT's and a compare with the handle's copy.
bool RhMap::writer_slot(const Table& t, u64 s, sync::Ref<u64>* out) const {
  const bool checked = t.word == checked_table_;
  const u64 want = checked ? checked_segs_[s >> kRhSegLog2] : 0;
  return slot_in(base_, Space(*a_), t.dir, t.log2, s, out, checked ? &want : nullptr);
}

// A new table that will not be published (lock held): out of the journal,
// then freed.
void RhMap::drop_new_table(u64 tw) const { free_table(tw, kWordNewTable); }

Status RhMap::create(Allocator& a, u64 cap_min, u64 seed, u64* map_off, std::string* why, unsigned flags,
                     u64 cap_max) {
  if (cap_min > kRhCapMax) return fail(why, Status::invalid, "cap_min above kRhCapMax");
  if (cap_max > kRhCapMax) return fail(why, Status::invalid, "cap_max above kRhCapMax");
  if ((flags & ~(kRhMultimap | kRhBytes)) != 0) return fail(why, Status::invalid, "unknown flags");
  unsigned log2 = std::max(2u, log2_for(cap_min)), log2_max = std::max(2u, log2_for(cap_max));
  if (log2_max < log2) return fail(why, Status::invalid, "cap_max below cap_min");
  u64 h = 0;
  // 64-aligned (the lines of LAYOUT) where the allocator has a class for
  // that, as every standard ladder does; else 16 (the Relacy models' small
  // ladder, whose 192-byte slots hold 128 bytes 64-aligned).
  Status s = a.alloc(64, kHeaderBytes, kRhTagHeader, &h);
  if (s != Status::ok) s = a.alloc(16, kHeaderBytes, kRhTagHeader, &h);
  if (s != Status::ok) return fail(why, s, "cannot allocate the map header");
  RhMap m;
  m.a_ = &a;
  m.base_ = a.base();
  m.hdr_off_ = h;
  m.seed_ = seed;
  m.log2_min_ = log2;
  m.log2_max_ = log2_max;
  m.multi_ = (flags & kRhMultimap) != 0;
  m.bytes_ = (flags & kRhBytes) != 0;
  m.journaled_ = true;
  u64 dir = 0;
  if ((s = m.make_table(log2, &dir)) != Status::ok) {
    a.free(h);
    return fail(why, s, "cannot allocate the table");
  }
  u64 w[5] = {kRhMagic, kRhLayoutVersion, seed, log2 | u64{flags} << 8 | u64{log2_max} << 16, 0};
  w[4] = header_check(w);
  for (unsigned i = 1; i < 5; ++i) m.hdr(i).store_relaxed(w[i]);
  for (unsigned i = 6; i < kHeaderBytes / 8; ++i) m.hdr(i).store_relaxed(0);
  m.hdr(kWordTable).store_relaxed(table_word(dir, log2, 0));
  // ORDER: release pairs with the acquire load of the magic in join().
  m.hdr(0).store_release(kRhMagic);
  *map_off = h;
  return Status::ok;
}

// join()'s tries of the table's object checks (see there).
#if MB_PLANT_BUG == 54
// Planted bug 54: the first failed check is damage (no retry).
constexpr u64 kJoinSameWord = 1, kJoinTries = 64;
#else
constexpr u64 kJoinSameWord = 4, kJoinTries = 64;
#endif

Status RhMap::join(Allocator& a, u64 map_off, RhMap* out, std::string* why) {
  u64 size = 0, w[5];  // w: the header words every layout version has
  std::uint32_t tag = 0;
  if (a.info(map_off, &size, &tag) != Status::ok || tag != kRhTagHeader || size < sizeof w)
    return fail(why, Status::invalid, "no robin-hood map header at this offset");
  if (sync::word(a.base(), map_off).load_acquire() != kRhMagic)
    return fail(why, Status::invalid, "not a robin-hood map (bad magic)");
  for (unsigned i = 0; i < 5; ++i) w[i] = sync::word(a.base(), map_off + 8 * i).load_relaxed();
  // 3: no maximum capacity (word 3 bits 23:16 zero); 3 and 4: no journal.
  if (w[1] < 3 || w[1] > kRhLayoutVersion)
    return fail(why, Status::invalid,
                "robin-hood layout version " + std::to_string(w[1]) + ", this build reads 3 to " +
                    std::to_string(kRhLayoutVersion));
  if (size < (w[1] >= 5 ? kHeaderBytes : kHeaderBytesV4))
    return fail(why, Status::corrupt, "robin-hood map header too small");
  const u64 log2_min = w[3] & 0xff, flags = (w[3] >> 8) & 0xff;
  u64 log2_max = (w[3] >> 16) & 0xff;
  if (w[1] == 3 && log2_max == 0) log2_max = kRhCapLog2Max;  // a map made before maximum capacities
  if (w[4] != header_check(w) || log2_min < 2 || log2_max > kRhCapLog2Max || log2_max < log2_min ||
      (flags & ~u64{kRhMultimap | kRhBytes}) != 0 || (w[3] >> 24) != 0)
    return fail(why, Status::corrupt, "robin-hood map header damaged");
  RhMap m;
  m.a_ = &a;
  m.base_ = a.base();
  m.hdr_off_ = map_off;
  m.seed_ = w[2];
  m.log2_min_ = unsigned(log2_min);
  m.log2_max_ = unsigned(log2_max);
  m.multi_ = (flags & kRhMultimap) != 0;
  m.bytes_ = (flags & kRhBytes) != 0;
  m.read_only_ = a.read_only();
  m.journaled_ = w[1] >= 5;
  // A peer that resizes meanwhile publishes a new table word and then
  // frees the old table, so the object checks can meet a freed directory
  // or segment. A failed check is therefore tried again on the word as it
  // is then, and called damage only when it fails kJoinSameWord times in a
  // row on one word; kJoinTries failed checks without that give again.
  // Why the retry reads the new word: a check that fails because of the
  // resize read, with an acquire load, a word stored with release after
  // the publish: a directory entry free_table() zeroed, a header its
  // free() marked (release CAS) or the allocator wrote when it reused the
  // memory (Allocator::info, REUSED MEMORY in alloc.h), or a word a later
  // owner stored (tables, slabs and blocks are written with release). So
  // that store happens before this thread's next load of the table word,
  // and the publish (or, in repair(), the load of the new word) before
  // that store: the load sees the new word or a later one. Two failures
  // on one word would do; four leave a margin for what the argument does
  // not cover: a later owner's relaxed stores into the memory (a map
  // header's initial words and counters, a chain map's zeroed segments:
  // possible only when another map shares the allocator), which
  // synchronize with nothing. Model join_resize_2t (the freed table is not
  // reused there); planted bug 54 takes the first failure for damage.
  Table t;
  std::string what;
  for (u64 tries = 1, same = 0, last = 0;; ++tries) {
    // ORDER: acquire pairs with the release publishing a table in rebuild().
    const u64 tw = m.hdr(kWordTable).load_acquire();
    if (!m.load_table(tw, &t) || t.log2 < log2_min || t.log2 > log2_max)
      return fail(why, Status::corrupt, "robin-hood table word damaged");
    if (m.table_objects_ok(t, &what, &m.checked_segs_)) break;
    same = tw == last ? same + 1 : 1;
    last = tw;
    if (same == kJoinSameWord) return fail(why, Status::corrupt, "robin-hood table damaged: " + what);
    if (tries == kJoinTries) return fail(why, Status::again, "robin-hood table kept changing (a peer resizing)");
    sync::yield();
  }
  m.checked_table_ = t.word;
  *out = m;
  return Status::ok;
}

Status RhMap::destroy() {
  if (read_only_) return Status::invalid;
  Table t;
  if (!load_table(hdr(kWordTable).load_acquire(), &t) || !table_objects_ok(t, nullptr)) return Status::corrupt;
  // Everything it would free is checked first, so a damaged map is left
  // as it was (corrupt), never half freed, and a bytes map's slot cannot
  // make it free an object that is not a bytes block (another map's bytes
  // block would pass). A quiescent map only: one a killed writer left in
  // the middle of a shift (a block in two slots) is corrupt until a
  // writer's lock repairs it.
  std::vector<u64> slabs, blocks;
  if (!bytes_ && slab_list(&slabs, nullptr) != Status::ok) return Status::corrupt;
  for (u64 s = 0; bytes_ && s <= t.mask; ++s) {
    sync::Ref<u64> r(nullptr);
    if (!RH_SLOT(t, s, &r)) return Status::corrupt;
    const u64 w = r.load_relaxed();
    if (!is_live(w)) continue;
    if (!object_is(ref_of(w) << 4, kRhTagBytes)) return Status::corrupt;
    blocks.push_back(ref_of(w) << 4);
  }
  std::sort(blocks.begin(), blocks.end());
  if (std::adjacent_find(blocks.begin(), blocks.end()) != blocks.end()) return Status::corrupt;  // named twice
  for (u64 blk : blocks) a_->free(blk);
  for (u64 slab : slabs) a_->free(slab);
  free_table(t.word);
  hdr(0).store_release(0);
  a_->free(hdr_off_);
  a_ = nullptr;
  return Status::ok;
}

u64 RhMap::hash(u64 k) const { return internal::mix64(k ^ seed_); }
u64 RhMap::hash(RhBytes key) const { return internal::hash_key_bytes(key.data, key.size, seed_); }

// The hash of the entry in block blk (lock holder): stored in a bytes block,
// computed from the key of a u64 one.
u64 RhMap::block_hash(u64 blk) const {
  const u64 w0 = sync::word(base_, blk).load_relaxed();
  return bytes_ ? w0 : hash(w0);
}
u64 RhMap::size() const { return hdr(kWordLive).load_relaxed(); }
u64 RhMap::resizes() const { return hdr(kWordResizes).load_relaxed(); }
u64 RhMap::capacity() const {
  return u64{1} << ((hdr(kWordTable).load_acquire() >> kLog2Shift) & 63);
}

u64 RhMap::capacity_max() const { return u64{1} << log2_max_; }

u64 RhMap::slab_count() const {
  std::vector<u64> slabs;
  return bytes_ || slab_list(&slabs, nullptr) != Status::ok ? 0 : slabs.size();
}

// --- the writer lock ---------------------------------------------------------

// The lock word names the holder: its process id and start key. A waiter
// that keeps finding the lock held looks at the holder now and then; once
// that process is gone (rw_os::alive_as: its pid is dead, or now names a
// later process with another start key), one CAS from the word it saw to
// its own takes the lock over (exactly one of several waiters wins it: the
// word changes even when the waiter is the later process, its start key
// differs), and the winner repairs what the dead writer left half done
// before it goes on.
void RhMap::lock() const {
  sync::Ref<u64> l = hdr(kWordLock);
  const u64 me = rw_os::self_ident();
  for (unsigned spins = 0;; ++spins) {
    u64 w = l.load_relaxed();
    if (w == 0) {
      // ORDER: acquire pairs with the release in unlock(): this holder sees
      // every slot, block, count and table word the previous holder wrote.
      if (l.cas_acquire(w, me)) return;
      continue;
    }
    if (spins >= sync::kSpin.pause_max && spins % 64 == 0 && !rw_os::alive_ident(w)) {
#if MB_PLANT_BUG == 22
      l.store_relaxed(me);  // planted bug 22: no CAS, every waiter that saw it dead takes it
      const bool won = true;
#else
      // ORDER: acquire, as above. The dead holder published nothing with a
      // release (it died inside its section): its stores are visible because
      // the kernel tore its process down before alive() said so. C++ has no
      // model of that; the crash test exercises it, and the Relacy model
      // plants the dead pid before its threads start.
      const bool won = l.cas_acquire(w, me);
#endif
      if (won) {
        hdr(kWordRecoveries).fetch_add_relaxed(1);  // a statistic
        repair();
        return;
      }
      continue;
    }
    if (spins < sync::kSpin.pause_max) sync::pause();
    else sync::yield();
  }
}

// ORDER: release pairs with the acquire CAS in lock().
void RhMap::unlock() const { hdr(kWordLock).store_release(0); }

// --- lookups (lock-free) ---------------------------------------------------

// The current table, for a reader. Status::corrupt when the table word
// stays undecodable (damage); a word that changed meanwhile is re-read.
Status RhMap::current_table(Table* t) const {
  for (;;) {
    // ORDER: acquire pairs with the release publishing the table word in
    // rebuild(): the directory and slots it names are visible. (create()'s
    // first table word is relaxed: the magic's release store publishes it
    // to join()'s acquire load, which every handle passes through.)
    const u64 tw = hdr(kWordTable).load_acquire();
    if (load_table(tw, t)) return Status::ok;
    if (hdr(kWordTable).load_acquire() == tw) return Status::corrupt;
  }
}

// The lookup both finds share (lock-free): probe for hash h; at each LIVE
// slot whose distance and tag fit, match(blk, sp) reads the block (acquire
// loads) and says whether it holds the key; a yes is returned only after
// the slot and table rechecks confirm it.
template <class MatchFn>
Status RhMap::probe_find(u64 h, MatchFn match) const {
  const u64 tag = hash_tag(h);
  Space sp(*a_);  // read once per attempt (a call), not once per offset
  for (;;) {
    // ORDER: acquire pairs with the release publishing the table word in
    // rebuild(): the directory and slots it names are visible. (create()'s
    // first table word is relaxed: the magic's release store publishes it
    // to join()'s acquire load, which every handle passes through.)
    const u64 tw = hdr(kWordTable).load_acquire();
    Table t;
    bool retry = false, bad_ref = !decode_table(tw, sp, &t);
    const u64 home = h & t.mask, probe_max = std::min(t.mask, kRhDistMax);
    for (u64 i = 0; !bad_ref && i <= probe_max && !retry; ++i) {
      sync::Ref<u64> r(nullptr);
      if (!slot_in(base_, sp, t.dir, t.log2, (home + i) & t.mask, &r)) { retry = bad_ref = true; break; }
      // ORDER: acquire pairs with the release stores of slots in place() and
      // put()/erase(): the block a LIVE word names is visible.
      const u64 w = r.load_acquire();
      if (w == 0 || dist_of(w) < i) break;  // RH1: the key is not further on
      if (!is_live(w) || dist_of(w) != i || tag_of(w) != tag) continue;
      const Match got = match(ref_of(w) << 4, sp);
      // Not the key: true only if the slot held this block throughout our
      // read of it. A bytes assign frees the block of a key that stays
      // present, and the block's next owner is another key.
#if MB_PLANT_BUG == 16
      if (got == Match::no) continue;  // planted bug 16: trusts a "no" from a block it did not recheck
#endif
      if (got == Match::no && r.load_acquire() == w) continue;
#if MB_PLANT_BUG == 12
      if (got == Match::yes) return Status::ok;
#endif
      // The rechecks. They may be acquire loads too (no cost on x86); what
      // matters is that the acquire loads in match() keep them after the
      // reads.
      const bool current = r.load_acquire() == w && hdr(kWordTable).load_acquire() == tw;
      if (got == Match::yes && current) return Status::ok;
      // A bad block named by a slot that is still current is out of our
      // space or damaged (bad_ref below decides); one whose slot moved was
      // freed and reused under us: retry (as after a no from such a block).
      retry = true;
      bad_ref = got == Match::bad && current;
    }
    if (bad_ref) {
      // An offset outside the space we read: the space may have grown since
      // (re-read it and retry), or a resize freed the memory (the table
      // word moved: retry). Offsets from a current table are always in
      // range (volumes are never unformatted), so one out of range in a
      // fresh space while the table is still current is damage, reported
      // instead of retried forever.
      const u64 end = a_->space_end();
      if (end != sp.end) {
        sp.end = end;
        continue;
      }
      if (hdr(kWordTable).load_acquire() == tw) return Status::corrupt;
      continue;
    }
    if (!retry && hdr(kWordTable).load_acquire() == tw) return Status::not_found;
  }
}

// find(u64) probes the home slot's segment first in a loop of its own, as
// probe_find() does (the same table decode and range checks; every load
// acquire; a block's words trusted only once its slot and the table word
// read the same again, which this loop also asks before it passes a block
// holding another key, and it loads the value word of every block it
// reads), without the lambda and the segment lookup per slot, short enough
// for the CPU to overlap the cache misses of consecutive finds. What it cannot settle (a
// probe that leaves the segment or reaches its limit, a slot or table that
// moved, an offset out of the space read) starts over in probe_find().
// Planted bug 12 skips the rechecks here too.
Status RhMap::find(u64 k, u64* v) const {
  if (bytes_) return Status::invalid;
  const u64 h = hash(k), tag = hash_tag(h);
  // ORDER: acquire, as in probe_find().
  const u64 tw = hdr(kWordTable).load_acquire();
  const Space sp(*a_);
  Table t;
  if (decode_table(tw, sp, &t)) {
    const u64 home = h & t.mask, seg = segment_in(base_, sp, t.dir, t.log2, home);
    const u64 seg_slots = seg_slots_of(t.log2), first = home & (seg_slots - 1);
    if (seg != 0) {
      const u64 n = std::min(seg_slots - first, std::min(t.mask, kRhDistMax) + 1);
      for (u64 i = 0; i < n; ++i) {
        const auto r = sync::word(base_, seg + 8 * (first + i));
        const u64 w = r.load_acquire();
        if (w == 0 || dist_of(w) < i) {  // RH1: the key is not further on
          if (hdr(kWordTable).load_acquire() == tw) return Status::not_found;
          break;
        }
        if (!is_live(w) || dist_of(w) != i || tag_of(w) != tag) continue;
        const u64 blk = ref_of(w) << 4;
        if (!sp.contains(blk, 16)) break;
        const u64 key = sync::word(base_, blk).load_acquire(), val = sync::word(base_, blk + 8).load_acquire();
#if MB_PLANT_BUG != 12  // BUG 12: no rechecks, a block read from reused memory is trusted
        if (r.load_acquire() != w || hdr(kWordTable).load_acquire() != tw) break;
#endif
        if (key == k) {
          *v = val;
          return Status::ok;
        }
      }
    }
  }
  u64 val = 0;
  Status s = probe_find(h, [&](u64 blk, const Space& sp) {
    if (!sp.contains(blk, 16)) return Match::bad;
    // ORDER: acquire, so that reading a word stored into reused memory
    // synchronizes with that store (rh_map.h, MEMORY ORDERS).
    if (sync::word(base_, blk).load_acquire() != k) return Match::no;
    val = sync::word(base_, blk + 8).load_acquire();
    return Match::yes;
  });
  if (s == Status::ok) *v = val;
  return s;
}

Status RhMap::find(RhBytes key, void* buf, u64 cap, u64* val_sz) const {
  if (!bytes_ || key.size == 0 || key.size > kRhKeyMax) return Status::invalid;
  const u64 h = hash(key);
  u64 vlen = 0;
  Status s = probe_find(h, [&](u64 blk, const Space& sp) {
    Match m = bytes_match(base_, sp, blk, key, h, &vlen);
    if (m == Match::yes && vlen <= cap)
      internal::copy_words(base_, bytes_value(blk, key.size), vlen, buf);
    return m;
  });
  if (s != Status::ok) return s;
  if (val_sz != nullptr) *val_sz = vlen;
  return vlen <= cap ? Status::ok : Status::invalid;
}

// --- writers (under the lock) ----------------------------------------------

// Find the entry of hash h whose block is_key(blk) accepts, in table t
// (lock held): Status::ok with *slot, not_found, or corrupt (a slot names a
// block that cannot be one).
template <class IsKey>
Status RhMap::locate_if(const Table& t, u64 h, IsKey is_key, u64* slot) const {
  const u64 home = h & t.mask, tag = hash_tag(h), probe_max = std::min(t.mask, kRhDistMax);
  for (u64 i = 0; i <= probe_max; ++i) {
    sync::Ref<u64> r(nullptr);
    if (!writer_slot(t, (home + i) & t.mask, &r)) return Status::corrupt;
    const u64 w = r.load_relaxed();  // lock holder: all slot writers synchronized with us
    if (w == 0 || dist_of(w) < i) break;
    if (!is_live(w) || dist_of(w) != i || tag_of(w) != tag) continue;
    const Match m = is_key(ref_of(w) << 4);
    if (m == Match::bad) return Status::corrupt;
    if (m == Match::yes) {
      *slot = (home + i) & t.mask;
      return Status::ok;
    }
  }
  return Status::not_found;
}

Status RhMap::locate(const Table& t, u64 k, u64 h, u64* slot) const {
  const Space sp(*a_);
  return locate_if(
      t, h,
      [&](u64 blk) {
        if (!sp.contains(blk, 16)) return Match::bad;  // damage: corrupt, not a fault
        if (sync::word(base_, blk).load_relaxed() != k) return Match::no;
        return own_block(blk) ? Match::yes : Match::bad;  // the caller stores through it
      },
      slot);
}

Status RhMap::locate(const Table& t, RhBytes key, u64 h, u64* slot) const {
  const Space sp(*a_);
  u64 vlen = 0;
  return locate_if(
      t, h,
      [&](u64 blk) {
        const Match m = bytes_match(base_, sp, blk, key, h, &vlen);
        // The caller frees it (an assign's old block, an erased one): it
        // must be a bytes object, not another object that happens to read
        // like one (own_block()'s reason; a peer bytes map's block passes).
        return m != Match::yes || object_is(blk, kRhTagBytes, bytes_block_size(key.size, vlen)) ? m : Match::bad;
      },
      slot);
}

// Robin-hood placement of block `ref` (hash h) into table t (lock held).
// Status::full, with nothing changed, when a probe distance would exceed
// kRhDistMax (the caller grows the table). *took_tomb: the shift absorbed a
// tombstone.
Status RhMap::place(const Table& t, u64 ref, u64 h, bool* took_tomb, bool published) const {
  const u64 home = h & t.mask;
  sync::Ref<u64> r(nullptr);
  u64 i = 0, w = 0;
  for (;; ++i) {  // the insertion point p = home + i
    if (i > kRhDistMax || i > t.mask) return Status::full;
    if (!writer_slot(t, (home + i) & t.mask, &r)) return Status::corrupt;
    w = r.load_relaxed();
    // A tombstone at the new entry's own distance is reused in place: the
    // distances along the run stay exactly as they were (RH1), nothing moves.
    if (w == 0 || dist_of(w) < i || (is_tomb(w) && dist_of(w) == i)) break;
  }
  const u64 p = (home + i) & t.mask;
  u64 q = p, n = 0;  // the first EMPTY or TOMBSTONE slot from p on
  while (w != 0 && !is_tomb(w)) {
    if (dist_of(w) + 1 > kRhDistMax || ++n > t.mask) return Status::full;
    q = (q + 1) & t.mask;
    if (!writer_slot(t, q, &r)) return Status::corrupt;
    w = r.load_relaxed();
  }
  *took_tomb = is_tomb(w);
  const u64 entry = ref | i << kDistShift | hash_tag(h) << kTagShift;
#if MB_PLANT_BUG == 13
  // Wrong order: front to back, so the entry last moved is briefly nowhere.
  sync::Ref<u64> rp(nullptr);
  writer_slot(t, p, &rp);
  u64 carry = rp.load_relaxed();
  rp.store_release(next_ver(entry, carry));
  for (u64 j = p; j != q;) {
    j = (j + 1) & t.mask;
    sync::Ref<u64> rj(nullptr);
    writer_slot(t, j, &rj);
    u64 old = rj.load_relaxed();
    rj.store_release(next_ver(with_dist(carry, dist_of(carry) + 1), old));
    carry = old;
  }
  return Status::ok;
#endif
  // Shift [p, q) one slot right, from the end back: each entry is copied
  // before its old slot is overwritten (RH5).
  for (u64 j = q; j != p;) {
    const u64 prev_idx = (j - 1) & t.mask;
    sync::Ref<u64> dst(nullptr), src(nullptr);
    if (!writer_slot(t, j, &dst) || !writer_slot(t, prev_idx, &src)) return Status::corrupt;
    const u64 moved = src.load_relaxed();
    // ORDER: release pairs with readers' acquire load of the slot (find()):
    // the block is visible wherever a reader meets the entry.
    dst.store_release(next_ver(with_dist(moved, dist_of(moved) + 1), dst.load_relaxed()));
    if (j == q && published) rw_os::hook(rw_os::HookPoint::rh_shift_half_done);  // tests: a crash here
    if (prev_idx == p && j != q && published) rw_os::hook(rw_os::HookPoint::rh_shift_last_copy);  // and here
    j = prev_idx;
  }
  if (!writer_slot(t, p, &r)) return Status::corrupt;
  // ORDER: release pairs with find()'s acquire load of the slot: the new
  // block's key and value (stored before) are visible. Linearization point.
  r.store_release(next_ver(entry, r.load_relaxed()));
  return Status::ok;
}

// Copy-on-write resize (lock held): build a table for `need_live` entries
// (at most half full), move every live reference into it, publish it, free
// the old one. Readers keep using the old table meanwhile.
Status RhMap::rebuild(u64 need_live) {
  const u64 old_tw = hdr(kWordTable).load_relaxed();
  Table old;
  if (!load_table(old_tw, &old)) return Status::corrupt;
  unsigned log2 = std::max(log2_min_, log2_for(std::max<u64>(need_live, 1) * 2));
  if (log2 > log2_max_) {
    // At the maximum capacity a table of that size still clears the
    // tombstones: worth a rebuild while it leaves room for cap/8 more
    // entries before the next one (so rebuilds stay amortized), else full.
    if (need_live * 8 > (u64{5} << log2_max_)) return Status::full;
    log2 = log2_max_;
  }
  // A u64 map shrinking with slabs far larger than its entries need moves
  // them into new slabs (moved: old block -> new block, sorted).
  std::vector<u64> old_slabs;
  std::vector<std::pair<u64, u64>> moved;
  NewSlabs fresh;
  if (log2 < old.log2 && !bytes_) {
    Status s = compact_blocks(old, &old_slabs, &moved, &fresh);
    if (s != Status::ok) return s;
  }
  auto new_ref = [&](u64 ref) {
#if MB_PLANT_BUG == 26
    return ref;  // planted bug 26: the new table keeps naming the old blocks, whose slabs are freed
#endif
    if (moved.empty()) return ref;
    auto it = std::lower_bound(moved.begin(), moved.end(), std::pair<u64, u64>(ref << 4, 0));
    return it != moved.end() && it->first == ref << 4 ? it->second >> 4 : ref;
  };
  for (;; ++log2) {
    if (log2 > log2_max_) {
      drop_new_slabs(fresh);
      return Status::full;
    }
    u64 dir = 0;
    Status s = make_table(log2, &dir);
    if (s != Status::ok) {
      drop_new_slabs(fresh);
      return s;
    }
    Table nt;
    load_table(table_word(dir, log2, 0), &nt);
    bool ok = true;
    for (u64 i = 0; i <= old.mask && ok; ++i) {
      sync::Ref<u64> r(nullptr);
      bool tomb = false;
      if (!writer_slot(old, i, &r)) {
        s = Status::corrupt;
      } else if (const u64 w = r.load_relaxed(); !is_live(w)) {
        continue;
      } else if (!a_->contains(ref_of(w) << 4, 16)) {
        s = Status::corrupt;  // a damaged slot: report it, read nothing there
      } else {
        s = place(nt, new_ref(ref_of(w)), block_hash(ref_of(w) << 4), &tomb, false);
      }
      if (s == Status::corrupt) {
        drop_new_table(table_word(dir, log2, 0));  // the old table stays current
        drop_new_slabs(fresh);
        return s;
      }
      ok = s == Status::ok;
    }
    if (!ok) {  // a probe grew past kRhDistMax: try twice the capacity
      drop_new_table(table_word(dir, log2, 0));
      continue;
    }
    const u64 gen = (old_tw >> kGenShift) + 1;
    // Give the old slabs back (compaction, step 3). A model build's free
    // writes over their blocks (core/alloc.cc), so a reader that trusts a
    // block of a freed slab reads a wrong key or value (planted bug 27).
    // They are a chain from the newest (the list's order, its oldest
    // linking 0), freed through the journal's word 21 (free_slab_chain()).
    auto free_old_slabs = [&] {
      if (!old_slabs.empty()) free_slab_chain(kWordCutSlabs, old_slabs[0], 0);
    };
#if MB_PLANT_BUG == 27
    // BUG 27: the old slabs go back before the new table is published,
    // while readers still find their blocks through the current table.
    free_old_slabs();
#endif
    rw_os::hook(rw_os::HookPoint::rh_table_built);  // tests: a crash here
    // Compaction, step 1: the new slabs join the list in front of the old
    // ones (a writer that dies from here on leaves every slab listed; the
    // repair puts unnamed blocks on the free stack).
    if (fresh.newest != 0) {
      // ORDER: release, as every store into map memory (slab links included).
      sync::word(base_, fresh.oldest).store_release(hdr(kWordSlab).load_relaxed());
      rw_os::hook(rw_os::HookPoint::rh_compact_linking);  // tests: a crash here
      hdr(kWordSlab).store_relaxed(fresh.newest);
      hdr(kWordBump).store_relaxed(fresh.bump);
      hdr(kWordBumpEnd).store_relaxed(fresh.end);
      // Listed: out of the journal (repair() tells a death before this
      // from one after by the list's head).
      journal(kWordFreshSlabs, 0);
      rw_os::hook(rw_os::HookPoint::rh_compact_linked);  // tests: a crash here
    }
    // The old table goes into the journal before the publish: repair()
    // frees whichever of the two tables the table word does not name.
    journal(kWordOldTable, old_tw);
    // ORDER: release pairs with the acquire loads of the table word in
    // find(): the complete new table is visible to a reader that sees it.
    hdr(kWordTable).store_release(table_word(dir, log2, gen));
    journal(kWordNewTable, 0);
    hdr(kWordTomb).store_relaxed(0);
    hdr(kWordResizes).store_relaxed(hdr(kWordResizes).load_relaxed() + 1);
    if (!old_slabs.empty()) {
      rw_os::hook(rw_os::HookPoint::rh_compact_published);  // tests: a crash here
      // Step 2, after the publish: no current slot names an old block. Cut
      // the old slabs off the list (a writer that dies after the cut leaves
      // them to its journal, which the repair frees; the repair rebuilds
      // the free stack, which names only old blocks, from the slabs
      // listed), then free them. A
      // reader still in the old table may read their memory after it is
      // reused; its table word recheck rejects what it read (the old
      // table's own memory is freed just the same). With no entries left
      // there are no new slabs: the list becomes empty (bump words first,
      // which the repair resets if it finds the list still there).
      hdr(kWordFree).store_relaxed(0);
      hdr(kWordFreeCnt).store_relaxed(0);
      journal(kWordCutSlabs, old_slabs[0]);  // before the cut: repair() frees them once they are off the list
      if (fresh.newest != 0) {
        sync::word(base_, fresh.oldest).store_release(0);
      } else {
        hdr(kWordBump).store_relaxed(0);
        hdr(kWordBumpEnd).store_relaxed(0);
        hdr(kWordSlab).store_relaxed(0);
      }
      rw_os::hook(rw_os::HookPoint::rh_compact_cut);  // tests: a crash here
#if MB_PLANT_BUG != 27
      free_old_slabs();
#else
      journal(kWordCutSlabs, 0);  // freed above already
#endif
    }
    rw_os::hook(rw_os::HookPoint::rh_table_published);  // tests: a crash here
    free_table(old_tw, kWordOldTable);
    return Status::ok;
  }
}

// Compaction for a shrink (lock held, u64 map): when the listed slabs hold
// at least kCompactRatio times the blocks the live entries need, and more
// than one slab, copy every live entry's block into new slabs (not yet
// listed: *fresh), recording old -> new in *moved (sorted) and the old
// slabs in *old_slabs. Anything else (too little to gain, a damaged slab
// list, an allocation that fails) leaves all three empty and returns ok:
// the shrink goes on without compacting. Status::corrupt for a damaged
// slot (nothing allocated is kept).
Status RhMap::compact_blocks(const Table& old, std::vector<u64>* old_slabs, std::vector<std::pair<u64, u64>>* moved,
                             NewSlabs* fresh) {
  const u64 payload = slab_payload(*a_), per_slab = payload > kSlabHead ? (payload - kSlabHead) / 16 : 0;
  const u64 live = hdr(kWordLive).load_relaxed();
  if (per_slab == 0 || slab_list(old_slabs, nullptr) != Status::ok || old_slabs->size() < 2 ||
      old_slabs->size() * per_slab < kCompactRatio * std::max<u64>(live, 1)) {
    old_slabs->clear();
    return Status::ok;
  }
  for (u64 i = 0; i <= old.mask; ++i) {
    sync::Ref<u64> r(nullptr);
    if (!writer_slot(old, i, &r)) {
      drop_new_slabs(*fresh);
      return Status::corrupt;
    }
    const u64 w = r.load_relaxed();
    if (!is_live(w)) continue;
    const u64 blk = ref_of(w) << 4;
    if (!a_->contains(blk, 16)) {
      drop_new_slabs(*fresh);
      return Status::corrupt;
    }
    if (fresh->bump == fresh->end) {
      u64 slab = 0;
      if (make_slab(fresh->newest, &slab, &fresh->bump, &fresh->end) != Status::ok) {
        // Short of memory: shrink without compacting (a shrink needs less).
        drop_new_slabs(*fresh);
        old_slabs->clear();
        moved->clear();
        return Status::ok;
      }
      if (fresh->oldest == 0) fresh->oldest = slab;
      fresh->newest = slab;
      // Unlisted slabs are in the journal (the newest; each links the one
      // before, the oldest 0) until the list names them or they are dropped.
      journal(kWordFreshSlabs, slab);
    }
    const u64 nb = fresh->bump;
    fresh->bump += 16;
    // ORDER: release, as every block store; acquire loads of a block
    // nobody writes meanwhile (lock held).
    sync::word(base_, nb).store_release(sync::word(base_, blk).load_acquire());
    sync::word(base_, nb + 8).store_release(sync::word(base_, blk + 8).load_acquire());
    moved->emplace_back(blk, nb);
  }
  std::sort(moved->begin(), moved->end());
  return Status::ok;
}

// A new slab (lock held): an allocator object of slab_payload() bytes whose
// w0 links `prev` and w1 counts its blocks, which lie in [*first, *end).
// Status::invalid when the allocator has no class that holds a slab.
Status RhMap::make_slab(u64 prev, u64* slab, u64* first, u64* end) {
  const u64 payload = slab_payload(*a_);
  if (payload == 0) return Status::invalid;
  Status s = a_->alloc(16, payload, kRhTagSlab, slab);
  if (s != Status::ok) return s;
  const u64 n = (payload - kSlabHead) / 16;
  // ORDER: release, as every store into map memory.
  sync::word(base_, *slab).store_release(prev);
  sync::word(base_, *slab + 8).store_release(n);
  *first = *slab + kSlabHead;
  *end = *first + 16 * n;
  return Status::ok;
}

// Free slabs compact_blocks() made that never joined the list (a chain
// from the newest; the oldest links 0 until the list takes it).
void RhMap::drop_new_slabs(NewSlabs& fresh) {
  free_slab_chain(kWordFreshSlabs, fresh.newest, 0);
  fresh = NewSlabs();
}

// Free a chain of slabs (each links the next in its word 0) from `first`
// up to `stop` or 0, whichever comes first (lock held). Each slab leaves
// the journal word `jword`, which then names the next one (0 at the end),
// before it is freed: a writer or a repair that dies in here leaks one
// slab at most and frees none twice; the next repair goes on from the
// journal. A link to something that is not a slab object, or more slabs
// than the allocator's space could hold (a cycle), ends the walk: damage
// that verify() reports, never followed.
void RhMap::free_slab_chain(unsigned jword, u64 first, u64 stop) const {
  const u64 bound = (a_->space_end() - a_->space_begin()) / kObjHdrSize + 1;
  for (u64 slab = first, n = 0; slab != 0 && slab != stop && n < bound && object_is(slab, kRhTagSlab); ++n) {
    const u64 next = sync::word(base_, slab).load_relaxed();
    journal(jword, next == stop ? 0 : next);
    a_->free(slab);
    slab = next;
  }
}

// --- blocks ------------------------------------------------------------------

// A block of `size` bytes for a new entry (lock held). A bytes map takes an
// allocator object; a u64 map pops its free stack, else takes the next
// never-used block of the newest slab, else adds a slab. Stores are release,
// as every store into map memory (rh_map.h, MEMORY ORDERS); the header's
// slab words are the lock holder's alone (relaxed, as the counts).
Status RhMap::new_block(u64 size, std::uint32_t tag, u64* blk) {
  if (bytes_) return a_->alloc(16, size, tag, blk);
  const u64 head = hdr(kWordFree).load_relaxed();
  // Header words that cannot be right are refused, not followed (verify()
  // says what is wrong). The top must be a block of our slabs (own_block();
  // its link becomes the top, checked so when it is popped); one of ours
  // that is not free (a live entry's) is beyond these checks, verify()
  // finds it.
  const u64 cnt = hdr(kWordFreeCnt).load_relaxed();
  if (head != 0) {
    if (cnt == 0 || head % 16 != 0 || !a_->contains(head, 16) || !own_block(head)) return Status::corrupt;
    const u64 next = sync::word(base_, head).load_relaxed();
    if (next % 16 != 0 || (next != 0 && !a_->contains(next, 16))) return Status::corrupt;  // own_block(): when popped
    hdr(kWordFree).store_relaxed(next);
    rw_os::hook(rw_os::HookPoint::rh_free_popped);  // tests: a crash here
    hdr(kWordFreeCnt).store_relaxed(cnt - 1);
    *blk = head;
    return Status::ok;
  }
  u64 bump = hdr(kWordBump).load_relaxed();
  const u64 bump_end = hdr(kWordBumpEnd).load_relaxed();
  if (cnt != 0 || bump % 16 != 0 || bump > bump_end || bump_end - bump > kSlabMax ||
      (bump != bump_end && !a_->contains(bump, 16)))
    return Status::corrupt;
  if (bump != bump_end) {
    // The bump must lie in the newest slab, which must be a slab object
    // whose count ends at bump_end (checked once per slab and end).
    const u64 slab = hdr(kWordSlab).load_relaxed();
    if (slab != checked_slab_ || bump_end != checked_slab_end_) {
      const u64 n = slab != 0 && a_->contains(slab, kSlabHead) ? sync::word(base_, slab + 8).load_relaxed() : 0;
      if (n == 0 || n > kSlabMax / 16 || !object_is(slab, kRhTagSlab, kSlabHead + 16 * n) ||
          bump_end != slab + kSlabHead + 16 * n)
        return Status::corrupt;
      checked_slab_ = slab;
      checked_slab_end_ = bump_end;
      note_slab(slab + kSlabHead, bump_end);
    }
    if (bump < slab + kSlabHead) return Status::corrupt;
  }
  if (bump == bump_end) {
    u64 slab = 0, end = 0;
    Status s = make_slab(hdr(kWordSlab).load_relaxed(), &slab, &bump, &end);
    if (s != Status::ok) return s;
    note_slab(bump, end);
    hdr(kWordSlab).store_relaxed(slab);
    rw_os::hook(rw_os::HookPoint::rh_slab_listed);  // tests: a crash here
    hdr(kWordBumpEnd).store_relaxed(end);
    rw_os::hook(rw_os::HookPoint::rh_slab_bump_end);  // tests: a crash here
  }
  hdr(kWordBump).store_relaxed(bump + 16);
  *blk = bump;
  return Status::ok;
}

// Give back a block no slot names any more (lock held; RH4: only after the
// store that unlinked it). A u64 block goes onto the map's free stack, its
// key word becoming the link: a stale reader that loads the link (acquire)
// synchronizes with this release store, which follows the unlinking store,
// so the reader's slot recheck fails, as for any reused block.
void RhMap::drop_block(u64 blk) {
  if (bytes_) {
    a_->free(blk);
    return;
  }
  sync::word(base_, blk).store_release(hdr(kWordFree).load_relaxed());
  hdr(kWordFree).store_relaxed(blk);
  rw_os::hook(rw_os::HookPoint::rh_free_pushed);  // tests: a crash here
  hdr(kWordFreeCnt).store_relaxed(hdr(kWordFreeCnt).load_relaxed() + 1);
}

// Walk the u64 map's slabs, newest first (quiescent map, or under the
// writer lock), calling visit(slab, block count) for each. Status::corrupt
// when the list names something that is not a live slab object or is
// longer than the allocator space could hold (a cycle). It allocates
// nothing (own_block() walks inside writers' sections, which the Relacy
// model searches: there every free is a scheduling choice).
template <class Visit>
Status RhMap::walk_slabs(Visit visit, std::string* why) const {
  // Every slab has the size new_block() gives (the class table is fixed).
  const u64 bound = (a_->space_end() - a_->space_begin()) / (kObjHdrSize + std::max<u64>(slab_payload(*a_), 16)) + 1;
  u64 cnt = 0;
  for (u64 slab = hdr(kWordSlab).load_relaxed(); slab != 0; slab = sync::word(base_, slab).load_relaxed(), ++cnt) {
    u64 size = 0;
    std::uint32_t tag = 0;
    if (cnt >= bound) return fail(why, Status::corrupt, "the slab list has a cycle");
    if (a_->info(slab, &size, &tag) != Status::ok || tag != kRhTagSlab)
      return fail(why, Status::corrupt, "slab " + std::to_string(cnt) + ": not a live slab object");
    const u64 n = sync::word(base_, slab + 8).load_relaxed();
    if (n == 0 || size < kSlabHead || n > (size - kSlabHead) / 16)
      return fail(why, Status::corrupt, "slab " + std::to_string(cnt) + ": block count does not fit the object");
    visit(slab, n);
  }
  return Status::ok;
}

// The u64 map's slabs, newest first (walk_slabs()).
Status RhMap::slab_list(std::vector<u64>* out, std::string* why) const {
  return walk_slabs([out](u64 slab, u64) { out->push_back(slab); }, why);
}

// A slab this handle made or checked (new_block()): its block range
// [first, end) goes into own_block()'s cache, so that blocks of the slabs a
// handle inserts into need no walk of the list.
void RhMap::note_slab(u64 first, u64 end) const { slab_ranges_.add(first, end); }

void RhMap::SlabRanges::add(u64 first, u64 end) {
  const Range r(first, end), *d = data();
  const std::size_t at = std::lower_bound(d, d + n_, r) - d;
  if (at < n_ && d[at] == r) return;
  const std::size_t cap = heap_.empty() ? kInline : heap_.size();
  if (n_ == cap) {
    if (heap_.empty()) heap_.assign(in_, in_ + kInline);
    heap_.resize(2 * cap);
  }
  Range* w = heap_.empty() ? in_ : heap_.data();
  std::copy_backward(w + at, w + n_, w + n_ + 1);
  w[at] = r;
  ++n_;
}

bool RhMap::SlabRanges::holds(u64 blk) const {
  if (n_ == 0 || blk % 16 != 0) return false;
  const Range* d = data();
  // The last range found first (a writer's blocks cluster in its newest
  // slab), then a branchless binary search for the last first <= blk.
  if (last_ < n_ && blk >= d[last_].first && blk < d[last_].second) return (blk - d[last_].first) % 16 == 0;
  std::size_t lo = 0;
  for (std::size_t len = n_; len > 1; len -= len / 2) lo = d[lo + len / 2].first <= blk ? lo + len / 2 : lo;
  if (blk < d[lo].first || blk >= d[lo].second || (blk - d[lo].first) % 16 != 0) return false;
  last_ = lo;
  return true;
}

// Whether blk is a block of one of the map's slabs (u64 maps, lock held):
// on a block boundary inside a listed slab. A slot's block and a
// free-stack link pass this check before a writer stores through them or
// hands them out (DAMAGE), so a damaged reference cannot make a writer
// store into memory that is not this map's blocks (another object of the
// allocator: a peer map's entries, its header). The ranges are cached per
// handle: writer_table() drops them with every new table word (slabs are
// freed only by a compaction, which publishes one, and by the repair of a
// compaction's writer that died, after which repair() has the handle check
// its table word again); new_block() adds the
// slabs it makes or checks (note_slab()); a block the cache lacks is
// looked for once more in a fresh walk of the list (a peer may have added
// a slab), so the cache never calls a sound block damaged and never keeps
// a freed slab. It costs no shared load unless it walks (the Relacy
// model's searches grow with every load in a writer's section), and no
// heap memory for up to 8 slabs (SlabRanges, in rh_map.h). A
// block of ours that is free, another entry's, or not handed out yet still
// passes: that damage stays inside the map (verify() reports it).
bool RhMap::own_block(u64 blk) const {
  if (slab_ranges_.holds(blk)) return true;
  // Not cached: walk the list.
  slab_ranges_.clear();
  if (walk_slabs([this](u64 slab, u64 n) { slab_ranges_.add(slab + kSlabHead, slab + kSlabHead + 16 * n); },
                 nullptr) != Status::ok) {
    slab_ranges_.clear();  // damaged: nothing of it is trusted
    return false;
  }
  return slab_ranges_.holds(blk);
}

// How many live entries of hash h the probe from h's home meets (lock
// held; a block out of range counts as none, verify() reports it).
u64 RhMap::same_hash_entries(const Table& t, u64 h) const {
  const u64 home = h & t.mask, probe_max = std::min(t.mask, kRhDistMax);
  u64 n = 0;
  for (u64 i = 0; i <= probe_max; ++i) {
    sync::Ref<u64> r(nullptr);
    if (!writer_slot(t, (home + i) & t.mask, &r)) break;
    const u64 w = r.load_relaxed();
    if (w == 0 || dist_of(w) < i) break;
    if (is_live(w) && dist_of(w) == i && tag_of(w) == hash_tag(h) && a_->contains(ref_of(w) << 4, 16) &&
        block_hash(ref_of(w) << 4) == h)
      ++n;
  }
  return n;
}

// Add a new entry (lock held; its key is absent, or the map is a multimap):
// grow first if the table would pass 3/4 occupancy (RH3), allocate a block
// of blk_size bytes, fill(blk) it, place it; grow and retry when a probe
// distance would pass kRhDistMax. On failure the map's contents have not
// changed (a slab it added stays, its block back on the free stack).
// t: the current table as the caller's writer_table() checked it (the
// counts too, so the occupancy test cannot wrap); after a rebuild, the new
// one, checked again.
template <class Fill>
Status RhMap::add_entry(Table t, u64 h, u64 blk_size, std::uint32_t tag, Fill fill) {
  for (;; t = Table()) {
    if (t.word == 0 && !writer_table(&t)) return Status::corrupt;
    const u64 live = hdr(kWordLive).load_relaxed(), tomb = hdr(kWordTomb).load_relaxed();
    Status s = Status::ok;
    if ((live + tomb + 1) * 4 > (t.mask + 1) * 3) {
      if ((s = rebuild(live + 1)) != Status::ok) return s;
      continue;
    }
    u64 blk = 0;
    if ((s = new_block(blk_size, tag, &blk)) != Status::ok) return s;
    if (bytes_) journal(kWordNewBlock, blk);  // a u64 block is the repair's anyway (RH6)
    fill(blk);
    bool took_tomb = false;
    s = place(t, blk >> 4, h, &took_tomb);
    if (s == Status::full) {  // a probe distance would pass kRhDistMax: grow
      drop_new_block(blk);
      // Unless the entries of this very hash fill the distances by
      // themselves (a multimap key's kRhDistMax + 1 values): they share a
      // home at every capacity, so growing cannot make room (it used to
      // double the table up to kRhCapMax before saying full).
      if (same_hash_entries(t, h) > kRhDistMax) return Status::full;
      if ((s = rebuild(t.mask + 1)) != Status::ok) return s;
      continue;
    }
    if (s != Status::ok) {
      drop_new_block(blk);
      return s;
    }
    if (bytes_) journal(kWordNewBlock, 0);  // linked
    hdr(kWordLive).store_relaxed(live + 1);
    if (took_tomb) hdr(kWordTomb).store_relaxed(tomb - 1);
    return Status::ok;
  }
}

// Copy-on-write change of the entry in `slot` (lock held): the filled block
// blk takes the old block's place, which is then freed. corrupt (blk
// dropped, nothing changed) when the slot cannot be reached again.
Status RhMap::replace_block(const Table& t, u64 slot, u64 blk) {
  sync::Ref<u64> r(nullptr);
  if (!writer_slot(t, slot, &r)) {
    drop_new_block(blk);
    return Status::corrupt;
  }
  const u64 w = r.load_relaxed();
  if (bytes_) journal(kWordOldBlock, ref_of(w) << 4);
  // ORDER: release pairs with find()'s acquire load of the slot: the new
  // block is visible to a reader that meets it. Linearization point.
  r.store_release(next_ver((w & ~kRefMask) | blk >> 4, w));
  if (bytes_) journal(kWordNewBlock, 0);  // linked
  rw_os::hook(rw_os::HookPoint::rh_assign_linked);  // tests: a crash here
  if (bytes_) journal(kWordOldBlock, 0);  // closed before the free: a crash leaks, never frees twice
  drop_block(ref_of(w) << 4);  // RH4: only after the store that unlinked it
  return Status::ok;
}

// A new block that will not be linked (lock held): out of the journal,
// then dropped.
void RhMap::drop_new_block(u64 blk) {
  if (bytes_) journal(kWordNewBlock, 0);
  drop_block(blk);
}

Status RhMap::put(u64 k, u64 v, Put mode, bool* created) {
  if (created != nullptr) *created = false;
  if (bytes_ || read_only_) return Status::invalid;
  const u64 h = hash(k);
  lock();
  Table t;
  u64 slot = 0;
  Status s = !writer_table(&t)     ? Status::corrupt
             : mode == Put::multi ? Status::not_found
                                  : locate(t, k, h, &slot);
  if (s == Status::ok) {
    if (mode == Put::insert) {
      s = Status::exists;
#if MB_PLANT_BUG == 21
    } else if (true) {  // planted bug 21: a multimap's value changed in place too
#else
    } else if (!multi_) {
#endif
      sync::Ref<u64> r(nullptr);
      if (!writer_slot(t, slot, &r)) {
        s = Status::corrupt;
      } else {
        // ORDER: release pairs with find()'s acquire load of the value. One
        // word: a reader sees the old or the new value. Linearization point.
        sync::word(base_, (ref_of(r.load_relaxed()) << 4) + 8).store_release(v);
      }
    } else {
      // A multimap: copy-on-write, so that the change shows in the slot
      // word, which values()'s double collect rereads (see the header).
      u64 blk = 0;
      if ((s = new_block(16, 0, &blk)) == Status::ok) {  // else the old value stays
        // ORDER: release, as every store into map memory; published by the
        // release store of the slot below.
        sync::word(base_, blk).store_release(k);
        sync::word(base_, blk + 8).store_release(v);
        s = replace_block(t, slot, blk);
      }
    }
  } else if (s == Status::not_found && mode != Put::update) {
    s = add_entry(t, h, 16, 0, [&](u64 blk) {  // a slab block: no allocator tag
      // ORDER: release, as every store into map memory; published by the
      // release store of the slot in place().
      sync::word(base_, blk).store_release(k);
      sync::word(base_, blk + 8).store_release(v);
    });
    if (s == Status::ok && created != nullptr) *created = true;
  }
  unlock();
  return s;
}

Status RhMap::put(RhBytes key, RhBytes val, Put mode, bool* created) {
  if (created != nullptr) *created = false;
  if (!bytes_ || read_only_ || key.size == 0 || key.size > kRhKeyMax || val.size > kRhValMax)
    return Status::invalid;
  const u64 h = hash(key), size = bytes_block_size(key.size, val.size);
  auto fill = [&](u64 blk) { bytes_fill(base_, blk, h, key, val); };
  lock();
  Table t;
  u64 slot = 0;
  Status s = !writer_table(&t)     ? Status::corrupt
             : mode == Put::multi ? Status::not_found
                                  : locate(t, key, h, &slot);
  if (s == Status::ok) {
    u64 blk = 0;
    if (mode == Put::insert) {
      s = Status::exists;
    } else if ((s = new_block(size, kRhTagBytes, &blk)) == Status::ok) {  // else the old value stays
      journal(kWordNewBlock, blk);
      fill(blk);
      s = replace_block(t, slot, blk);
    }
  } else if (s == Status::not_found && mode != Put::update) {
    s = add_entry(t, h, size, kRhTagBytes, fill);
    if (s == Status::ok && created != nullptr) *created = true;
  }
  unlock();
  return s;
}

Status RhMap::insert(RhBytes key, RhBytes val) { return put(key, val, Put::insert, nullptr); }
Status RhMap::insert_or_assign(RhBytes key, RhBytes val, bool* created) {
  return put(key, val, Put::assign, created);
}
Status RhMap::update(RhBytes key, RhBytes val) { return put(key, val, Put::update, nullptr); }

Status RhMap::erase(RhBytes key) {
  if (!bytes_ || read_only_ || key.size == 0 || key.size > kRhKeyMax) return Status::invalid;
  const u64 h = hash(key);
  lock();
  Table t;
  u64 slot = 0;
  Status s = writer_table(&t) ? locate(t, key, h, &slot) : Status::corrupt;
  if (s == Status::ok) s = erase_slot(t, slot);
  if (s == Status::ok) maybe_shrink(t);
  unlock();
  return s;
}

Status RhMap::insert(u64 k, u64 v) { return put(k, v, Put::insert, nullptr); }
Status RhMap::insert_or_assign(u64 k, u64 v, bool* created) { return put(k, v, Put::assign, created); }
Status RhMap::update(u64 k, u64 v) { return put(k, v, Put::update, nullptr); }

// Turn LIVE slot `slot` of t into a TOMBSTONE and free its block (lock
// held); corrupt, nothing changed, when the slot cannot be reached again.
Status RhMap::erase_slot(const Table& t, u64 slot) {
  sync::Ref<u64> r(nullptr);
  if (!writer_slot(t, slot, &r)) return Status::corrupt;
  const u64 w = r.load_relaxed();
  if (bytes_) journal(kWordOldBlock, ref_of(w) << 4);
  // ORDER: release pairs with find()'s acquire loads (the recheck sees the
  // change before the block can be reused). Linearization point.
  r.store_release(next_ver((w & (kDistMask | kTagMask)) | kTombBit, w));
  rw_os::hook(rw_os::HookPoint::rh_erase_unlinked);  // tests: a crash here
  if (bytes_) journal(kWordOldBlock, 0);  // closed before the free: a crash leaks, never frees twice
  drop_block(ref_of(w) << 4);  // RH4: only after the store that unlinked it
  hdr(kWordLive).store_relaxed(hdr(kWordLive).load_relaxed() - 1);
  hdr(kWordTomb).store_relaxed(hdr(kWordTomb).load_relaxed() + 1);
  return Status::ok;
}

// After erases (lock held): shrink below 1/8 live. Failure is harmless.
void RhMap::maybe_shrink(const Table& t) {
  const u64 live = hdr(kWordLive).load_relaxed();
  if (t.log2 > log2_min_ && live * 8 < t.mask + 1) rebuild(live);
}

Status RhMap::erase(u64 k) {
  if (bytes_ || read_only_) return Status::invalid;
  const u64 h = hash(k);
  lock();
  Table t;
  Status s = writer_table(&t) ? Status::ok : Status::corrupt;
  u64 slot = 0;
  if (s == Status::ok) s = locate(t, k, h, &slot);
  if (s == Status::ok) s = erase_slot(t, slot);
  if (s == Status::ok) maybe_shrink(t);
  unlock();
  return s;
}

// --- multimap --------------------------------------------------------------

Status RhMap::insert_multi(u64 k, u64 v) {
  if (!multi_) return Status::invalid;
  return put(k, v, Put::multi, nullptr);
}

Status RhMap::insert_multi(RhBytes key, RhBytes val) {
  if (!multi_) return Status::invalid;
  return put(key, val, Put::multi, nullptr);
}

// Erase the entries of hash h whose block is_entry(blk) accepts (all of
// them, or the first when `one`) in one writer critical section. The probe
// finds them all first, then erases them in probe order: a damaged slot or
// block anywhere in the probe gives corrupt with nothing erased.
template <class IsEntry>
Status RhMap::erase_matching(u64 h, IsEntry is_entry, bool one, u64* erased) {
  const u64 tag = hash_tag(h);
  lock();
  const Space sp(*a_);  // under the lock: the space only grows after this
  Table t;
  Status s = writer_table(&t) ? Status::not_found : Status::corrupt;
  const u64 home = h & t.mask, probe_max = std::min(t.mask, kRhDistMax);
  u64 found[kRhDistMax + 1], n = 0;
  for (u64 i = 0; s != Status::corrupt && i <= probe_max; ++i) {
    sync::Ref<u64> r(nullptr);
    if (!writer_slot(t, (home + i) & t.mask, &r)) { s = Status::corrupt; break; }
    const u64 w = r.load_relaxed();
    if (w == 0 || dist_of(w) < i) break;
    if (!is_live(w) || dist_of(w) != i || tag_of(w) != tag) continue;
    const Match m = is_entry(ref_of(w) << 4, sp);
    if (m == Match::bad) { s = Status::corrupt; break; }
    if (m == Match::no) continue;
    found[n++] = (home + i) & t.mask;
    s = Status::ok;
    if (one) break;
  }
  // A tombstone keeps the probe order. Every slot was just reached the
  // same way: a failure here means damage made inside this section.
  for (u64 i = 0; s == Status::ok && i < n; ++i) s = erase_slot(t, found[i]);
  if (s == Status::ok) {
    if (erased != nullptr) *erased = n;
    maybe_shrink(t);
  }
  unlock();
  return s;
}

// The u64 entries of key k (with value *only, if given).
Status RhMap::erase_u64(u64 k, const u64* only, u64* erased) {
  if (erased != nullptr) *erased = 0;
  if (!multi_ || bytes_ || read_only_) return Status::invalid;
  return erase_matching(
      hash(k),
      [&](u64 blk, const Space& sp) {  // lock holder: relaxed
        if (!sp.contains(blk, 16)) return Match::bad;  // damage: corrupt, not a fault
        if (sync::word(base_, blk).load_relaxed() != k ||
            (only != nullptr && sync::word(base_, blk + 8).load_relaxed() != *only))
          return Match::no;
        return own_block(blk) ? Match::yes : Match::bad;  // erase_slot() pushes it onto the free stack
      },
      only != nullptr, erased);
}

// The byte-string entries of `key` (with value *only, if given).
Status RhMap::erase_bytes(RhBytes key, const RhBytes* only, u64* erased) {
  if (erased != nullptr) *erased = 0;
  if (!multi_ || !bytes_ || read_only_ || key.size == 0 || key.size > kRhKeyMax) return Status::invalid;
  const u64 h = hash(key);
  std::string val;
  return erase_matching(
      h,
      [&](u64 blk, const Space& sp) {
        u64 vlen = 0;
        Match m = bytes_match(base_, sp, blk, key, h, &vlen);
        if (m != Match::yes) return m;
        if (only != nullptr) {
          if (vlen != only->size) return Match::no;
          val.resize(vlen);
          internal::copy_words(base_, bytes_value(blk, key.size), vlen, val.data());
          if (vlen != 0 && std::memcmp(val.data(), only->data, vlen) != 0) return Match::no;
        }
        // erase_slot() frees it: a bytes object only (as in locate()).
        return object_is(blk, kRhTagBytes, bytes_block_size(key.size, vlen)) ? Match::yes : Match::bad;
      },
      only != nullptr, erased);
}

Status RhMap::erase_one(u64 k, u64 v) { return erase_u64(k, &v, nullptr); }
Status RhMap::erase_all(u64 k, u64* erased) { return erase_u64(k, nullptr, erased); }
Status RhMap::erase_one(RhBytes key, RhBytes val) { return erase_bytes(key, &val, nullptr); }
Status RhMap::erase_all(RhBytes key, u64* erased) { return erase_bytes(key, nullptr, erased); }

// A snapshot of the probe range of hash h: every slot word read is re-read
// after the scan (double collect); all unchanged (each carries a version)
// means all held those words at once, at the moment of the last first-read.
// That state may be the middle of a shift, where one block sits in two
// adjacent slots: it is counted once, so the snapshot is the set before that
// insert. take(blk, space, i) looks at the i-th entry of the hash (Match:
// yes records it, no skips it, bad is a block out of range); begin()
// forgets what an attempt the rechecks rejected took. *n: the entries.
template <class Begin, class Take>
Status RhMap::collect(u64 h, Begin begin, Take take, u64* n) const {
  const u64 tag = hash_tag(h);
  u64 seen[kRhDistMax + 1];
  for (;;) {
    Table t;
    if (current_table(&t) != Status::ok) return Status::corrupt;
    const Space sp(*a_);
    const u64 tw = t.word;
    const u64 home = h & t.mask, probe_max = std::min(t.mask, kRhDistMax);
    bool retry = false, bad = false;
    u64 cnt = 0, scanned = 0;
    begin();
    for (u64 i = 0; i <= probe_max && !retry; ++i) {
      sync::Ref<u64> r(nullptr);
      if (!RH_SLOT(t, (home + i) & t.mask, &r)) { retry = bad = true; break; }  // a segment out of range
      // ORDER: acquire, as in find().
      const u64 w = r.load_acquire();
      seen[scanned++] = w;
      if (w == 0 || dist_of(w) < i) break;
      if (!is_live(w) || dist_of(w) != i || tag_of(w) != tag) continue;
      // The same block in two adjacent slots is one entry in the middle of
      // a shift (RH5): count it once.
      if (scanned >= 2 && ref_of(seen[scanned - 2]) == ref_of(w) && !is_tomb(seen[scanned - 2])) continue;
      const Match m = take(ref_of(w) << 4, sp, cnt);
      if (m == Match::bad) { retry = bad = true; break; }
      if (m == Match::yes) ++cnt;
    }
#if MB_PLANT_BUG == 14
    scanned = 0;
#endif
    for (u64 i = 0; i < scanned; ++i) {
      sync::Ref<u64> r(nullptr);
      if (!RH_SLOT(t, (home + i) & t.mask, &r) || r.load_acquire() != seen[i]) {
        retry = true;
        bad = false;
        break;
      }
    }
    const bool current = hdr(kWordTable).load_acquire() == tw;
    // A block (or segment) out of the space read, named by slots (or a
    // directory) that stayed current: the space grew since (retry), or damage.
    if (bad && current && a_->space_end() == sp.end) return Status::corrupt;
    if (retry || !current) continue;
    *n = cnt;
    return cnt == 0 ? Status::not_found : Status::ok;
  }
}

Status RhMap::values(u64 k, u64* out, u64 cap, u64* n) const {
  if (bytes_) return Status::invalid;
  Status s = collect(
      hash(k), [] {},
      [&](u64 blk, const Space& sp, u64 i) {
        if (!sp.contains(blk, 16)) return Match::bad;
        if (sync::word(base_, blk).load_acquire() != k) return Match::no;
        const u64 val = sync::word(base_, blk + 8).load_acquire();
        if (i < cap) out[i] = val;
        return Match::yes;
      },
      n);
  return s == Status::ok && *n > cap ? Status::invalid : s;
}

Status RhMap::count(u64 k, u64* n) const {
  if (bytes_) return Status::invalid;
  Status s = values(k, nullptr, 0, n);
  return s == Status::invalid ? Status::ok : s;
}

Status RhMap::values(RhBytes key, std::vector<std::string>* out) const {
  out->clear();
  if (!bytes_ || key.size == 0 || key.size > kRhKeyMax) return Status::invalid;
  const u64 h = hash(key);
  u64 n = 0;
  return collect(
      h, [&] { out->clear(); },
      [&](u64 blk, const Space& sp, u64) {
        u64 vlen = 0;
        const Match m = bytes_match(base_, sp, blk, key, h, &vlen);
        if (m == Match::yes) {
          out->emplace_back(vlen, '\0');
          internal::copy_words(base_, bytes_value(blk, key.size), vlen, out->back().data());
        }
        return m;
      },
      &n);
}

Status RhMap::count(RhBytes key, u64* n) const {
  *n = 0;
  if (!bytes_ || key.size == 0 || key.size > kRhKeyMax) return Status::invalid;
  const u64 h = hash(key);
  return collect(
      h, [] {},
      [&](u64 blk, const Space& sp, u64) {
        u64 vlen = 0;
        return bytes_match(base_, sp, blk, key, h, &vlen);
      },
      n);
}

// --- verify ----------------------------------------------------------------

// The blocks a u64 map has handed out: per slab, [first, end) (the newest
// slab's end is the bump pointer), sorted by address.
struct RhMap::SlabSpace {
  std::vector<std::pair<u64, u64>> used;
  u64 blocks = 0;
  bool holds(u64 blk) const {
    auto it = std::upper_bound(used.begin(), used.end(), std::pair<u64, u64>(blk, ~u64{0}));
    return it != used.begin() && blk < std::prev(it)->second && (blk - std::prev(it)->first) % 16 == 0;
  }
};

Status RhMap::slab_space(SlabSpace* sp, std::string* why) const {
  std::vector<u64> slabs;
  Status s = slab_list(&slabs, why);
  if (s != Status::ok) return s;
  const u64 bump = hdr(kWordBump).load_relaxed(), bump_end = hdr(kWordBumpEnd).load_relaxed();
  if (slabs.empty() && (bump != 0 || bump_end != 0))
    return fail(why, Status::corrupt, "block bump pointer set without a slab");
  for (u64 i = 0; i < slabs.size(); ++i) {
    const u64 first = slabs[i] + kSlabHead, end = first + 16 * sync::word(base_, slabs[i] + 8).load_relaxed();
    if (i == 0 && (bump_end != end || bump < first || bump > end || bump % 16 != first % 16))
      return fail(why, Status::corrupt, "block bump pointer outside the newest slab");
    sp->used.emplace_back(first, i == 0 ? bump : end);
    sp->blocks += (sp->used.back().second - first) / 16;
  }
  std::sort(sp->used.begin(), sp->used.end());
  return Status::ok;
}

// Every handed-out block is either named by one live slot (`live`, sorted)
// or on the free stack, once; the stack's count is the header's.
Status RhMap::verify_free_stack(const SlabSpace& sp, const std::vector<u64>& live, std::string* why) const {
  const u64 cnt = hdr(kWordFreeCnt).load_relaxed();
  std::vector<u64> free;
  for (u64 b = hdr(kWordFree).load_relaxed(); b != 0; b = sync::word(base_, b).load_relaxed()) {
    if (free.size() >= cnt || free.size() >= sp.blocks)
      return fail(why, Status::corrupt, "free stack longer than its count " + std::to_string(cnt));
    if (!sp.holds(b)) return fail(why, Status::corrupt, "free stack names a block outside the slabs");
    free.push_back(b);
  }
  if (free.size() != cnt) return fail(why, Status::corrupt, "free stack shorter than its count");
  std::sort(free.begin(), free.end());
  std::vector<u64> both;
  std::set_intersection(free.begin(), free.end(), live.begin(), live.end(), std::back_inserter(both));
  if (std::adjacent_find(free.begin(), free.end()) != free.end() || !both.empty())
    return fail(why, Status::corrupt, "a block is on the free stack twice, or both free and live");
  if (free.size() + live.size() != sp.blocks)
    return fail(why, Status::corrupt,
                std::to_string(sp.blocks - free.size() - live.size()) + " handed-out blocks are neither live nor free");
  return Status::ok;
}

// After a take-over from a dead writer (lock held). The writer's stores
// are ordered so that whatever it left is one of:
//   - a shift that had copied an entry one slot right but not yet
//     overwritten the entry's old slot: one block in two adjacent LIVE
//     slots. The left one becomes a tombstone with the entry's old distance
//     and tag: readers pass it as before (RH1 holds: the right copy's
//     distance is one more), and the insert that died placed nothing.
//   - a u64 block taken (free stack, bump) or unlinked and not yet linked
//     anywhere, or a slab added before the bump words that hand it out:
//     the bump words are set to the newest slab's start when they do not
//     lie in it, and the free stack is rebuilt from the slabs: every
//     handed-out block that no LIVE slot names goes on it.
//   - counts: recounted from the table.
//   - the allocation journal (layout version 5, settle_journal()): bytes
//     blocks, tables and slabs the writer held that nothing else names.
// What none of these can find (a layout version 3 or 4 map has no
// journal; an object in the window between its allocation and its journal
// store) stays allocated, a leak, not damage. Nothing a reader could see
// is lost: every entry linked before the crash is in the table after.
void RhMap::repair() const {
  // What this handle checked before the dead writer's section is checked
  // again by the next writer (its table, its newest slab).
  checked_table_ = checked_slab_ = checked_slab_end_ = 0;
  Table t;
  // The repair stores through the table (tombstones): its directory and
  // segments must be allocator objects of their tags and sizes, as a
  // writer's (writer_table()); else nothing is stored, and the writers and
  // verify() report the damage.
  if (!load_table(hdr(kWordTable).load_relaxed(), &t) || !table_objects_ok(t, nullptr)) return;
  std::vector<u64> live;
  u64 tomb = 0;
  for (u64 i = 0; i <= t.mask; ++i) {
    sync::Ref<u64> r(nullptr), right(nullptr);
    if (!RH_SLOT(t, i, &r) || !RH_SLOT(t, (i + 1) & t.mask, &right)) return;
    u64 w = r.load_relaxed();
    const u64 wr = right.load_relaxed();
    if (t.mask > 0 && is_live(w) && is_live(wr) && ref_of(w) == ref_of(wr)) {
      // ORDER: release, as every slot store (readers recheck the version).
#if MB_PLANT_BUG == 41
      // Planted bug 41: the left copy emptied, not tombed: a probe for
      // the entry stops there, before its right copy.
      w = 0;
#else
      w = next_ver((w & (kDistMask | kTagMask)) | kTombBit, w);
#endif
      r.store_release(w);
    }
    if (is_live(w)) live.push_back(ref_of(w) << 4);
    tomb += is_tomb(w);
  }
  hdr(kWordLive).store_relaxed(live.size());
  hdr(kWordTomb).store_relaxed(tomb);
  std::sort(live.begin(), live.end());
  if (journaled_) settle_journal(t, live);
  if (bytes_) return;
  std::vector<u64> slabs;
  if (slab_list(&slabs, nullptr) != Status::ok || slabs.empty()) return;
  const u64 first = slabs[0] + kSlabHead, end = first + 16 * sync::word(base_, slabs[0] + 8).load_relaxed();
  const u64 bump = hdr(kWordBump).load_relaxed();
  if (hdr(kWordBumpEnd).load_relaxed() != end || bump < first || bump > end || (bump - first) % 16 != 0) {
    hdr(kWordBump).store_relaxed(first);
    hdr(kWordBumpEnd).store_relaxed(end);
  }
  SlabSpace sp;
  if (slab_space(&sp, nullptr) != Status::ok) return;
  u64 top = 0, cnt = 0;
  for (const auto& [lo, hi] : sp.used)
    for (u64 b = lo; b < hi; b += 16) {
      if (std::binary_search(live.begin(), live.end(), b)) continue;
      // ORDER: release, as drop_block's link store.
      sync::word(base_, b).store_release(top);
      top = b;
      ++cnt;
    }
  hdr(kWordFree).store_relaxed(top);
  hdr(kWordFreeCnt).store_relaxed(cnt);
}

// The allocation journal a dead writer left (repair(), layout version 5;
// rh_map.h, WRITER RECOVERY): what it had allocated and not linked, or
// unlinked and not freed, is freed. Each word leaves the journal before
// what it names is freed (a chain of slabs: one slab at a time), so a
// repair that dies here leaks what it had not freed yet, never frees
// anything twice. `live`: the blocks the table names, sorted.
void RhMap::settle_journal(const Table& t, const std::vector<u64>& live) const {
  for (unsigned w : {kWordNewBlock, kWordOldBlock}) {  // bytes blocks: free unless a slot names it
    const u64 blk = hdr(w).load_relaxed();
    if (blk == 0) continue;
    journal(w, 0);
    if (bytes_ && !std::binary_search(live.begin(), live.end(), blk) && object_is(blk, kRhTagBytes)) a_->free(blk);
  }
  for (unsigned w : {kWordNewTable, kWordOldTable}) {  // tables: free unless the table word names it
    const u64 tw = hdr(w).load_relaxed();
    if (tw == 0) continue;
    if ((tw & kDirMask) != (t.word & kDirMask)) free_table(tw, w);
    else journal(w, 0);
  }
  // A compaction's new slabs, newest to oldest, unless the list names them.
  // The oldest links 0, or (a death between the two stores that list
  // them) the list's head, which is where the walk stops.
  const u64 head = hdr(kWordSlab).load_relaxed();
  if (const u64 newest = hdr(kWordFreshSlabs).load_relaxed(); newest != 0 && newest != head)
    free_slab_chain(kWordFreshSlabs, newest, head);
  journal(kWordFreshSlabs, 0);
  // A compaction's old slabs, once cut off the list: the rest of the chain.
  if (const u64 cut = hdr(kWordCutSlabs).load_relaxed(); cut != 0) {
    std::vector<u64> listed;
    if (slab_list(&listed, nullptr) == Status::ok && std::find(listed.begin(), listed.end(), cut) == listed.end())
      free_slab_chain(kWordCutSlabs, cut, 0);
    journal(kWordCutSlabs, 0);
  }
}

u64 RhMap::recoveries() const { return hdr(kWordRecoveries).load_relaxed(); }

Status RhMap::verify(std::string* why) const {
  if (hdr(0).load_acquire() != kRhMagic) return fail(why, Status::corrupt, "bad magic");
  u64 w5[5];
  for (unsigned i = 0; i < 5; ++i) w5[i] = hdr(i).load_relaxed();
  if (w5[4] != header_check(w5)) return fail(why, Status::corrupt, "header check mismatch");
  if (hdr(kWordLock).load_relaxed() != 0) return fail(why, Status::corrupt, "RH3: writer lock held");
  for (unsigned i = kJournalFirst; journaled_ && i < kJournalEnd; ++i)
    if (hdr(i).load_relaxed() != 0)
      return fail(why, Status::corrupt, "journal word " + std::to_string(i) + " open (a writer died; no writer repaired since)");
  Table t;
  if (!load_table(hdr(kWordTable).load_acquire(), &t)) return fail(why, Status::corrupt, "bad table word");
  if (t.log2 > log2_max_)
    return fail(why, Status::corrupt, "table of 2^" + std::to_string(t.log2) + " slots, above the map's maximum");
  std::string what;
  if (!table_objects_ok(t, &what)) return fail(why, Status::corrupt, what);
  SlabSpace slabs;
  if (!bytes_) {
    Status s = slab_space(&slabs, why);
    if (s != Status::ok) return s;
  }
  u64 live = 0, tomb = 0;
  std::vector<u64> keys, blocks;
  std::vector<std::string> skeys;
  for (u64 s = 0; s <= t.mask; ++s) {
    sync::Ref<u64> r(nullptr), rp(nullptr);
    if (!RH_SLOT(t, s, &r) || !RH_SLOT(t, (s - 1) & t.mask, &rp))
      return fail(why, Status::corrupt, "segment out of range");
    const u64 w = r.load_relaxed(), pw = rp.load_relaxed();
    auto at = [s] { return "slot " + std::to_string(s) + ": "; };  // built on failure only
    if (w == 0) continue;
    if (is_tomb(w) ? ref_of(w) != 0 : ref_of(w) == 0) return fail(why, Status::corrupt, at() + "bad state bits");
    if (dist_of(w) > kRhDistMax) return fail(why, Status::corrupt, at() + "distance past kRhDistMax");
    if (dist_of(w) > 0 && (pw == 0 || dist_of(pw) + 1 < dist_of(w)))
      return fail(why, Status::corrupt, at() + "RH1: robin-hood order broken");
    if (is_tomb(w)) { ++tomb; continue; }
    ++live;
    const u64 blk = ref_of(w) << 4;
    u64 size = 0, h = 0;
    std::uint32_t tag = 0;
    if (bytes_ ? a_->info(blk, &size, &tag) != Status::ok || tag != kRhTagBytes || size < 16
               : !slabs.holds(blk))
      return fail(why, Status::corrupt, at() + "RH2: not a live block");
    if (bytes_) {
      const u64 lens = sync::word(base_, blk + 8).load_relaxed(), klen = lens & 0xffffffffULL, vlen = lens >> 32;
      if (klen == 0 || klen > kRhKeyMax || vlen > kRhValMax || size < bytes_block_size(klen, vlen))
        return fail(why, Status::corrupt, at() + "RH2: block sizes out of range");
      std::string key(klen, '\0');
      internal::copy_words(base_, blk + kBytesHead, klen, key.data());
      const u64 last = sync::word(base_, blk + kBytesHead + 8 * ((klen - 1) / 8)).load_relaxed();
      if (klen % 8 != 0 && (last >> (8 * (klen % 8))) != 0)
        return fail(why, Status::corrupt, at() + "RH2: key padding is not zero");
      h = hash(RhBytes{key.data(), klen});
      if (sync::word(base_, blk).load_relaxed() != h)
        return fail(why, Status::corrupt, at() + "RH2: stored hash is not the key's");
      skeys.push_back(std::move(key));
    } else {
      const u64 k = sync::word(base_, blk).load_relaxed();
      h = hash(k);
      keys.push_back(k);
    }
    if (((s - (h & t.mask)) & t.mask) != dist_of(w) || hash_tag(h) != tag_of(w))
      return fail(why, Status::corrupt, at() + "RH2: key does not hash to this slot");
    blocks.push_back(blk);
  }
  std::sort(keys.begin(), keys.end());
  std::sort(skeys.begin(), skeys.end());
  std::sort(blocks.begin(), blocks.end());
  if (!multi_ && (std::adjacent_find(keys.begin(), keys.end()) != keys.end() ||
                  std::adjacent_find(skeys.begin(), skeys.end()) != skeys.end()))
    return fail(why, Status::corrupt, "RH2: a key appears twice");
  if (std::adjacent_find(blocks.begin(), blocks.end()) != blocks.end())
    return fail(why, Status::corrupt, "RH2: a block appears twice");
  if (!bytes_) {
    Status s = verify_free_stack(slabs, blocks, why);
    if (s != Status::ok) return s;
  }
  if (live != hdr(kWordLive).load_relaxed() || tomb != hdr(kWordTomb).load_relaxed())
    return fail(why, Status::corrupt, "RH3: counts differ from the table");
  if ((live + tomb) * 4 > (t.mask + 1) * 3) return fail(why, Status::corrupt, "RH3: over 3/4 occupied");
  return Status::ok;
}

}  // namespace mb
