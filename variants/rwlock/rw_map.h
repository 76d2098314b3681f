// RwMap: an open-addressing hash map in shared memory, written under one
// process-shared futex write lock and read through a seqlock without any lock.
// Re-designed from the description of a Perl shared-memory hash module's C
// core (shared/seeds/003); nothing is copied.
//
// ALGORITHM. One power-of-two table of 64-byte slots, linear probing, a
// tombstone for a removed key. A slot keeps the low 32 bits of its key's
// hash (word 1), compared before the key: the filter a tag byte would be,
// in the slot's own cache line (a separate tag array would add a line). Every write takes the write lock (rw_lock.h:
// its word carries the holder's pid, so a holder that died is detected and
// replaced), makes the map's sequence word odd, changes the table, and makes
// the sequence even again. A single-key read takes no lock: it loads the
// sequence, probes copying what it needs, and re-loads the sequence; if it
// changed (or was odd) the copy may be torn and the read is retried. The
// read lock (reader slots per thread, reclaimed when their process dies) is
// only for multi-entry consistent views (for_each and get_multi) and for the
// counters' fast path (COUNTERS below). Keys and
// values up to 24 bytes live inline in the slot; longer ones live in an arena
// (power-of-two size classes with free lists) inside the same memory. All
// references are byte offsets from the memory's base.
//
// LAYOUT (u64 words, touched only through core/sync.h; offsets from `hdr`):
//   0 magic "MBRWMAP1"   1 layout version   2 cap_max log2   3 seed
//   4 mem_max (bytes from base the map may use)   5 reader slot count
//   6 check = hash(words 1..5, 7, 31)   7 lru_max (0 = no LRU)
//   8  lock word (rw_lock.h)   9 seq: even = stable, odd = a write is in
//      progress. Words 8..15 are one cache line of their own: every write
//      changes both words, so a write moves one line between two processes'
//      caches, not two (layout version 2; version 1 had seq at 16). The
//      cost: read-lock users (incr, get_multi, for_each) now change the
//      line that lock-free gets load seq from. Measured with
//      get_while_incr/rw (rw_benchmark: one thread gets while another
//      increments), 3 runs each, 2 cores: 15.3 M gets/s with seq at 9,
//      16.3 with seq at 16, within this machine's noise; 2-process writes
//      gained about 30%.
//   10 the write lock's stamp (rw_lock.h: the holder's pid and start key;
//      layout version 4, unused before), in the lock word's line: its
//      stores cost a write nothing more than the lock word's
//   24 table = table_off | cap log2 (table_off is 64-aligned, log2 < 64)
//   25 size (full slots)   26 tombstones   27 top (bump pointer, bytes)
//   28 shrink floor: log2 of the smallest table a shrink may leave
//      (cap_init's, raised by reserve(); layout version 5, before it the
//      one retired table kept for reuse)
//   29 backed (bytes from base known to be backed by memory)
//   30 LRU clock hand (a slot index, taken modulo cap)
//   31 default TTL in seconds (0 = none; immutable, covered by check)
//   32..47 arena free list heads, class c holds blocks of 32 << c bytes
//   48 write recoveries  49 reader recoveries  50 last recovery's verify
//   (0 none, 1 clean, 2 corrupt)  51 seq repairs
//   52 grows  53 rehashes  54 evictions  55 expirations   (relaxed statistics)
//   56 flush_expired cursor  57 shrinks (statistic)
//   58 move source, 59 move destination: the slot move of an in-place
//      rehash in progress (58 = 0: none; layout version 3)
//   60 table epoch: rebuilds and in-place rehashes (cursors compare it)
//   61 journal repairs (statistic): rehash moves and value changes a dead
//      writer left half done
//   62 value change slot | old value length << 43, 63 its old value block:
//      the journal of a value change in the arena (62 = 0: none; layout
//      version 3, unused before)
//   64..95 reader slots (rw_lock.h)
//   96..125 free lists of retired tables (layout version 5): word 96 + l - 3
//      heads the tables of 2^l slots (3 <= l <= 32) no longer in use, as
//      table words (0 = none); each retired table's slot 0 hash word (w1) holds the next
//      (rebuilds take from and give back to them, under the write lock)
//
//   Slot (8 words, 64-byte aligned):
//     w0 meta:  63         32 31          8 7   3  2  1   0
//               +------------+-------------+-----+---+-----+
//               |  val_len   |   key_len   |  0  | A |state|  0 empty 1 full 2 tomb
//               +------------+-------------+-----+---+-----+
//               A: accessed (LRU only), set by lock-free lookups with a
//               fetch_or, so any slot's meta may carry it: readers mask it.
//     w1 expiry (CLOCK_REALTIME seconds, 0 = never) << 32 | hash low 32 bits
//     w2..w4 key (inline if key_len <= 24, else w2 = arena offset)
//     w5..w7 value (inline if val_len <= 24, else w5 = arena offset)
//     Bytes are stored zero-padded to whole words.
//
// INVARIANTS (verify() checks I1..I5 on a quiescent map; I6 is a rule for writers):
//   I1  cap is a power of two, cap <= 2^cap_max, table and arena blocks lie
//       below top <= backed <= mem_max; every table on a free list is in
//       range, of its list's size, not the current table, and no list has
//       a cycle, and none shares a byte with the current table; 3 <= the
//       shrink floor <= the table's log2 (the floor starts at cap_init's
//       log2 and only rises; cap_init itself is not stored, so a floor
//       damaged low but in range goes unnoticed and lets shrinks go below
//       cap_init or a reserve()).
//   I2  size and tombstones equal the counts of full and tomb slots, and
//       (size + tombstones) * 4 <= cap * 3: at least one slot is empty, so
//       every probe ends.
//   I3  A full slot's stored hash bits are hash(key)'s low 32 and its key is reachable from
//       hash & (cap - 1) without crossing an empty slot; no key is in two
//       full slots.
//   I4  Lengths are within kRwKeyMax / kRwValMax; arena offsets are 8-aligned
//       and inside [hdr + header, top).
//   I5  seq is odd only while a writer holds the lock (or after it died).
//   I6  Every store into map memory is made by the write lock holder with
//       release order between the odd and the even seq stores, except the
//       lock word, reader slots, statistics, the accessed bit (A) and the
//       counters' fast path (one atomic add to an 8-byte value word made
//       under the read lock, see COUNTERS).
//
// READS (get, exists, find; get(u64) runs its common case as one straight
// run of the same loads, rw_map.cc). Linearization point: the load of an
// even seq that the re-load confirms (for an 8-byte value the counters'
// fast path may change between the seq loads: then the load of the value
// word). Slot and arena words are copied with acquire
// loads (plain MOVs on x86, like relaxed ones), and written with release
// stores (I6). If a reader copies any word a writer stored, it synchronizes
// with that writer, whose odd seq store precedes the copied store, so the
// re-load (kept after the acquire loads) sees the seq changed and the read
// retries. Relaxed copies would need a standalone acquire fence before the
// re-load, which STYLE.md item 5 rules out (TSan does not model fences).
// Offsets read speculatively are bounds-checked against `backed` before
// they are followed, and a probe stops after cap slots, so a torn read never
// faults or loops. Lock-free against writers that make progress; a reader
// that sees seq odd for long checks the lock holder and, if it is dead,
// recovers the lock itself.
//
// WRITES. Blocking. Linearization point: the change of the slot's meta word
// (or value words) under the lock; visible to readers at the even seq store
// (release; pairs with the readers' acquire seq load). Grow (at 75% load of
// size + tombstones, when tombstones are under an eighth of the table)
// builds a new table (or takes a retired one of that size back) and
// publishes it with one store of the table word; so does a shrink (LIMITS).
// Rehash (at 75% load with tombstones an eighth of the table or more, or
// the table at its maximum) is in place: rehash_in_place() in rw_map.cc
// empties every tombstone by moving entries back along their probe paths
// (Knuth's Algorithm R), no new memory; each move copies the entry into a
// tombstone (meta word last), then tombs the source, journaled in header
// words 58/59 so that repair() can end a move whose writer died between
// the two (the entry is then in both slots; the source goes). Readers
// retry through it like through any write (seq odd).
//
// CURSORS (next). One speculative step per call, validated like a read: the
// cursor names the table it walks and the next slot. Removal only marks
// slots, so it never moves another entry (not even when it leaves the table
// below 25% load: the shrink waits for the next insert); a rebuild (grow,
// rehash, that shrink) does, and is reported (Status::again): the cursor
// keeps the table word and the table epoch (word 60), which every rebuild
// and every in-place rehash (at its start, so a rehash that dies halfway
// counts) increments: a rebuild into a retired table can restore a
// table word a cursor holds, the epoch cannot. A new cursor takes its
// table and epoch from a read the seq accepts (one taken inside a
// rejected step could come from a rehash's section after its epoch bump
// and before its moves). A step the seq rejects
// keeps the slots it passed (they were not full under the cursor's table
// and epoch, and a key present throughout is in a full slot throughout),
// so steady writes cannot keep a cursor from crossing an empty stretch
// (`CursorEndsUnderASteadyWriter`). Expired keys are skipped, by cursors
// and for_each alike.
//
// BATCHES. put_multi / remove_multi run under one write section (readers
// see the batch at once); get_multi and for_each hold the read lock.
//
// COUNTERS (incr_by, incr, decr). Fast path, for a live key that holds an
// 8-byte value: take the read lock, probe (not speculatively: no writer can
// run), and add with one fetch_add (acq_rel) on the value word.
// Linearization point: the fetch_add. The read lock excludes writers, so the
// slot cannot be removed, moved by a rebuild or given another length while
// the add lands (planted bug 15 drops the lock and the Relacy model
// incr_take_2t loses the increment); incrementers do not exclude each other
// (their adds are atomic) nor lock-free readers: the value word changes as
// one atomic word, so a reader copies the old or the new sum, both values
// the key held, and needs no seq change to stay linearizable. It waits only
// while a writer holds the write lock (as every read-lock holder); when no
// reader slot is free it takes the slow path instead of spinning for one.
// Slow path (absent or expired key, other length: invalid; no free reader
// slot) under the write lock.
// Consequence for the read lock's views: get_multi and for_each see no
// write in progress, but a counter increment may land between two of their
// reads; each value they return is still one its key held.
//
// POP, SHIFT, DRAIN (under the write lock). pop removes and returns the
// entry at the eviction end: with LRU, the clock's victim (the hand clears
// accessed bits until it meets a full slot without one: the least recently
// used, approximately); without LRU, the first full slot at or after the
// hand, which then moves past it (so repeated pops sweep the table once).
// shift removes the other end: the nearest full slot behind the hand whose
// accessed bit is set (with LRU: the most recently used, approximately),
// else the nearest full slot behind the hand (scanning backward). drain(n)
// is up to n pops under one write section. Expired keys met on the way are
// removed as expirations, never returned. A pop that fails (a buffer too
// small) removes nothing and puts the hand back, so a retry gets the same
// entry; the accessed bits the hand cleared stay cleared.
//
// LRU (optional, lru_max > 0). Clock / second chance: a lookup that finds a
// key sets the slot's accessed bit with a relaxed fetch_or (no lock; skipped
// when set); an insert that finds lru_max entries first evicts one: the hand
// (header word 30) clears accessed bits until it meets a full slot without
// one, and removes it. Bounded by two sweeps of the table. The lookup's
// fetch_or may land on a slot a writer has cleared or refilled since the
// lookup read it: a stray accessed bit, which every reader of meta masks
// off; a store of the meta it read would bring the old entry back (model
// lru_touch_2t, planted bug 47).
//
// TTL (per key, with a default given at creation). A slot's word 1 holds its
// expiry in seconds (0 = never). Readers treat an expired key as absent
// (lazy: the clock is read only for keys that have an expiry); a writer that
// finds one removes it first; flush_expired sweeps the table from a cursor.
//
// CRASH RECOVERY. A writer killed inside its section leaves the lock word
// naming a dead pid and possibly an odd seq. The next process that waits for
// the lock (writer or reader) takes it over (rw_lock.h) and calls repair():
// the journals below are settled, size and tombstones are recounted from the
// slots, seq is made even (last: lock-free readers wait on the odd seq until
// the map is whole again), and verify() runs; the outcome is kept in stats. Writes are ordered so that a
// crash at any point leaves the structure valid (payload first, the meta word
// last, counters after; a new table is published by one word; an in-place
// rehash move left half done, its journal open, is ended by repair(), which
// tombs the source when the destination holds the whole copy; a change of
// a value in the arena is journaled the same way, and repair() gives the
// slot back its old value or frees the old block, see set_value): a crash
// loses at most the dying write, may leak arena blocks or a table, and may
// leave that one value torn when it was an inline one overwritten in place.
// Relacy models (models/rwlock_model.cc) start from the memory a writer
// left when it died inside a rehash move (dead_mover_2t) or a value change
// (dead_value_half_2t, dead_value_meta_2t), with a recovering writer and a
// lock-free reader racing; planted bugs 28-30 break the journals' order.
//
// DAMAGE AFTER JOIN. join() checks the header words writers follow (the
// table word, top, backed, the free lists); a stray store by a peer, or
// damage to a mapped file, can change them later. Each write section
// checks the table word once, when it starts (Writer): a table of at least
// 8 slots inside the map's own memory (past its header, below mem_max: no
// other shard's window) and backed; a section that finds it otherwise
// stores nothing and returns corrupt. Backed (word 29) is trusted only as
// far as the handle has checked it (backed_checked() in rw_map.cc): a
// larger value, a peer's growth or damage, is backed through the region's
// grow before anything is stored under it (after a peer's growth a
// posix_fallocate of what is allocated already; after damage a file grows,
// in the map's own window, instead of a store faulting with SIGBUS). Bump
// allocations refuse a top inside the header or past the backed memory;
// blocks and tables taken from free lists or freed must lie below top, and
// a top past what the handle has checked has word 29 checked first. Every reader bounds a
// table word by backed and by mem_max, so a lock-free add or accessed-bit
// store never lands in another shard's window. Not checked: damage that
// stays inside the map's memory (a block that names the current table or
// another slot's block, a table word moved to another in-range table); a
// store made during a write section (the table word is checked at its
// start only); the loads writers and readers make below word 29, which
// can fault when both it and the table or a block are damaged past a
// file's end; and word 29 damaged downward is no longer raised by the next
// allocation (readers then say corrupt where it is too low; verify()
// reports it). The table check costs each write section one load (of
// word 24, whose cache line the write loads anyway) and a compare with a
// handle-local value; handles carry that value, so a handle must not be
// copied while a thread writes through it.
//
// LIMITS: keys 1..kRwKeyMax bytes, values 0..kRwValMax bytes; at most
// 2^cap_max slots, 75% of them used (Status::full beyond). When removals
// have left the table below 25% load, the next insert of a new key first
// rebuilds it at the smallest size that the entries and that key fill at
// most half of, but no smaller than cap_init or the largest reserve()
// asked for (removals themselves never move entries, see CURSORS). A table a rebuild leaves goes on its size's free list
// (header words 96..125) and the next rebuild to that size takes it back,
// so each size is allocated once: table memory stays under about 2x the
// largest table, however often the map grows and shrinks (a writer that
// dies mid-rebuild may leak one table; the region is sized for one table
// of each size, so after such a leak a map whose arena is also nearly
// full may say full before it reaches cap_max). Memory is never given
// back to the region below top.
#ifndef MAPBENCH_VARIANTS_RWLOCK_RW_MAP_H_
#define MAPBENCH_VARIANTS_RWLOCK_RW_MAP_H_

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/sync.h"
#include "variants/rwlock/rw_lock.h"

namespace mb {

inline constexpr std::uint64_t kRwMagic = 0x3150414d5752424dULL;  // "MBRWMAP1"
inline constexpr std::uint64_t kRwLayoutVersion = 5;  // 4: the write lock's stamp (word 10); 5: free lists of retired tables (words 96..125)
inline constexpr std::uint64_t kRwHeaderSize = 1024;
inline constexpr std::uint64_t kRwLockWord = 8, kRwSeqWord = 9, kRwStampWord = 10;  // header words (LAYOUT)
inline constexpr std::uint64_t kRwSlotSize = 64;
inline constexpr std::uint64_t kRwInlineMax = 24;
inline constexpr std::uint64_t kRwKeyMax = 65535;
inline constexpr std::uint64_t kRwValMax = std::uint64_t{1} << 20;
inline constexpr unsigned kRwClassCnt = 16;  // 32 B .. 1 MiB
inline constexpr unsigned kRwCapMaxLog2 = 32;

struct RwBytes {
  const void* data;
  std::uint64_t size;
};

struct RwParams {
  std::uint64_t cap_init = 64;              // slots, rounded up to a power of two >= 8
  std::uint64_t cap_max = std::uint64_t{1} << 22;  // hard maximum of slots (power of two)
  std::uint64_t arena_max = std::uint64_t{1} << 28;  // bytes for long keys and values
  std::uint32_t reader_slots = kRwSlotMax;  // concurrent read-lock holders
  std::uint64_t seed = 0x9e3779b97f4a7c15ULL;
  // 0: no LRU. Else an insert that finds this many entries first evicts the
  // least recently used one (clock / second chance).
  std::uint64_t lru_max = 0;
  // Seconds a written key lives (0: forever) unless put() names its own.
  std::uint64_t default_ttl = 0;
};

inline constexpr std::uint64_t kRwTtlDefault = ~std::uint64_t{0};     // "the map's default TTL"
inline constexpr std::uint64_t kRwTtlNever = ~std::uint64_t{0} - 1;   // ttl_remaining of a persistent key

// Grows the memory under the map to at least `bytes` from base (a region's
// grow); Status::full when it cannot.
using RwGrow = Status (*)(void* ctx, std::uint64_t bytes);

class RwMap {
  friend class RwShards;  // get_hashed / put_hashed: the hash it computed for the shard

 public:
  RwMap() = default;

  // Bytes of memory (from base, hdr_off included) a map with `p` may use.
  static std::uint64_t mem_needed(std::uint64_t hdr_off, const RwParams& p);
  // Format a new map at base + hdr_off. Memory below hdr_off + kRwHeaderSize
  // must be backed and zero; `grow` backs the rest on demand.
  static Status format(void* base, std::uint64_t hdr_off, std::uint64_t mem_max, const RwParams& p,
                       RwGrow grow, void* grow_ctx, RwMap* out, std::string* why = nullptr);
  // Join a formatted map; validates the header and writes nothing. A
  // writer in another process may be changing the header meanwhile: the
  // words are checked as one seqlock snapshot. `mem_backed` is read by the
  // caller before the call, so a region grown meanwhile can make the map
  // look truncated (corrupt): join_backed() reads it again then.
  static Status join(void* base, std::uint64_t hdr_off, std::uint64_t mem_backed, RwGrow grow,
                     void* grow_ctx, RwMap* out, std::string* why = nullptr);
  // join() in memory whose backed size backed(grow_ctx) a writer in another
  // process may grow: a join refused while that size moved is tried again
  // (it only grows, up to its maximum). RwStore and RwShards join so.
  using RwBacked = std::uint64_t (*)(void* ctx);
  static Status join_backed(void* base, std::uint64_t hdr_off, RwBacked backed, RwGrow grow, void* grow_ctx,
                            RwMap* out, std::string* why = nullptr);

  std::uint64_t hash(RwBytes key) const;
  std::uint64_t seed() const { return seed_; }

  // Byte-string operations. Outputs: buf/cap receive a value, *val_sz its
  // size; Status::invalid (with *val_sz set, nothing changed) when cap is
  // too small.
  // Insert or overwrite; the key expires ttl_s seconds from now (0: never;
  // kRwTtlDefault: the map's default). Every write but cas/incr refreshes
  // the TTL.
  Status put(RwBytes key, RwBytes val, std::uint64_t ttl_s = kRwTtlDefault);
  Status add(RwBytes key, RwBytes val);                            // exists if present
  Status update(RwBytes key, RwBytes val);                         // not_found if absent
  // Store val and return the old value; not_found (and val inserted) when absent.
  Status swap(RwBytes key, RwBytes val, void* buf, std::uint64_t cap, std::uint64_t* val_sz);
  Status get(RwBytes key, void* buf, std::uint64_t cap, std::uint64_t* val_sz) const;
  Status remove(RwBytes key);                                      // not_found if absent
  Status take(RwBytes key, void* buf, std::uint64_t cap, std::uint64_t* val_sz);
  bool exists(RwBytes key) const;
  // The present value, or val after inserting it; *inserted says which.
  Status get_or_set(RwBytes key, RwBytes val, void* buf, std::uint64_t cap, std::uint64_t* val_sz,
                    bool* inserted);
  // Replace the value by `desired` only if it equals `expected`: ok when
  // replaced, exists when the key holds another value, not_found if absent.
  Status cas(RwBytes key, RwBytes expected, RwBytes desired);
  // Add delta to an 8-byte value (absent: inserted as delta); *result gets
  // the new value. invalid when the value is not 8 bytes.
  Status incr_by(RwBytes key, std::int64_t delta, std::uint64_t* result);

  // TTL: expired keys read as absent at once (lazy expiry; the next write
  // that finds one, or flush_expired, removes it).
  Status ttl_remaining(RwBytes key, std::uint64_t* secs);  // kRwTtlNever when persistent
  Status touch(RwBytes key);                                // restart the default TTL
  Status persist(RwBytes key);                              // never expire
  // Remove expired keys among the next `limit` slots after a cursor kept in
  // the map (successive calls sweep the table).
  Status flush_expired(std::uint64_t limit, std::uint64_t* removed);

  // u64 -> u64 (keys and values are 8-byte strings, little-endian). A
  // present value of another size gives Status::invalid, and swap and take
  // then change nothing.
  // put(u64, u64): the same as put() of 8-byte strings; an overwrite of a
  // present, live 8-byte value stores only the value word (and the expiry
  // when it changes) instead of going through the general write path.
  // get(u64): the same as get() of an 8-byte string; a key in its home
  // slot with no expiry, or an empty home slot, in a map without LRU or a
  // default TTL, is answered by one straight run of READS' loads, anything
  // else by the general loop.
  Status put(std::uint64_t k, std::uint64_t v, std::uint64_t ttl_s = kRwTtlDefault);
  Status add(std::uint64_t k, std::uint64_t v) { return add(as_bytes(k), as_bytes(v)); }
  Status update(std::uint64_t k, std::uint64_t v) { return update(as_bytes(k), as_bytes(v)); }
  Status swap(std::uint64_t k, std::uint64_t v, std::uint64_t* old);
  Status get(std::uint64_t k, std::uint64_t* v) const;
  Status remove(std::uint64_t k) { return remove(as_bytes(k)); }
  Status take(std::uint64_t k, std::uint64_t* v);
  bool exists(std::uint64_t k) const { return exists(as_bytes(k)); }
  Status get_or_set(std::uint64_t k, std::uint64_t v, std::uint64_t* out, bool* inserted);
  Status cas(std::uint64_t k, std::uint64_t expected, std::uint64_t desired) {
    return cas(as_bytes(k), as_bytes(expected), as_bytes(desired));
  }
  Status incr_by(std::uint64_t k, std::int64_t delta, std::uint64_t* result) {
    return incr_by(as_bytes(k), delta, result);
  }
  Status incr(std::uint64_t k, std::uint64_t* result) { return incr_by(k, 1, result); }
  // invalid (nothing removed) when the entry is not 8 bytes -> 8 bytes.
  Status pop(std::uint64_t* k, std::uint64_t* v) { return pop_u64(false, k, v); }
  Status shift(std::uint64_t* k, std::uint64_t* v) { return pop_u64(true, k, v); }
  Status decr(std::uint64_t k, std::uint64_t* result) { return incr_by(k, -1, result); }

  // Mixed: u64 keys with byte-string values, byte-string keys with u64
  // values (a u64 is the 8-byte little-endian string, as above, so these
  // and the byte-string calls see the same entries).
  Status put(std::uint64_t k, RwBytes v, std::uint64_t ttl_s = kRwTtlDefault) { return put(as_bytes(k), v, ttl_s); }
  Status get(std::uint64_t k, void* buf, std::uint64_t cap, std::uint64_t* val_sz) const {
    return get(as_bytes(k), buf, cap, val_sz);
  }
  Status put(RwBytes k, std::uint64_t v, std::uint64_t ttl_s = kRwTtlDefault) { return put(k, as_bytes(v), ttl_s); }
  // invalid (*v untouched) when the value is not 8 bytes.
  Status get(RwBytes k, std::uint64_t* v) const;

  // The map concept (core/map_concept.h).
  Status insert(std::uint64_t k, std::uint64_t v) { return add(k, v); }
  Status insert_or_assign(std::uint64_t k, std::uint64_t v) { return put(k, v); }
  Status find(std::uint64_t k, std::uint64_t* v) const { return get(k, v); }
  Status erase(std::uint64_t k) { return remove(k); }

  // Multi-entry views under the read lock: no write (put, remove, grow...)
  // lands while they run, but a counter increment (incr's fast path) may
  // land between two of their reads, so a view may pair an old value of
  // one counter with a new value of another (COUNTERS). Each value returned
  // is one its key held. The read lock is not re-entrant: visit must not
  // call the map (an incr from visit deadlocks when a writer arrives).
  using Visit = void (*)(void* ctx, RwBytes key, RwBytes val);
  Status for_each(Visit visit, void* ctx) const;
  // Values of n u64 keys; found[i] says whether key i is present with an
  // 8-byte value (a present value of another size: found[i] false and
  // Status::invalid). At one moment with respect to every write but counter
  // increments (above).
  Status get_multi(const std::uint64_t* keys, std::uint64_t n, std::uint64_t* vals, bool* found) const;
  // Byte strings, the same view: found[i] says whether key i is present, and
  // visit(ctx, key, value) runs for each present key, in order, under the
  // read lock (the same rules as for_each's visit). invalid (nothing read)
  // when a key's size is outside 1..kRwKeyMax.
  Status get_multi(const RwBytes* keys, std::uint64_t n, bool* found, Visit visit, void* ctx) const;

  // Batches under one write lock (readers see all of them at once). put_multi
  // stops at the first failure (full, corrupt) and returns it; the puts
  // before it stay. remove_multi counts the keys it removed.
  Status put_multi(const std::uint64_t* keys, const std::uint64_t* vals, std::uint64_t n);
  Status remove_multi(const std::uint64_t* keys, std::uint64_t n, std::uint64_t* removed);
  // Byte strings: sizes are checked for the whole batch first (invalid:
  // nothing stored or removed).
  Status put_multi(const RwBytes* keys, const RwBytes* vals, std::uint64_t n);
  Status remove_multi(const RwBytes* keys, std::uint64_t n, std::uint64_t* removed);
  // The name for put_multi.
  Status set_multi(const std::uint64_t* keys, const std::uint64_t* vals, std::uint64_t n) {
    return put_multi(keys, vals, n);
  }
  Status set_multi(const RwBytes* keys, const RwBytes* vals, std::uint64_t n) { return put_multi(keys, vals, n); }

  // Remove and return one entry from the eviction end (pop) or the other
  // end (shift); see POP, SHIFT, DRAIN above. not_found when the map is
  // empty; invalid (sizes set, nothing removed) when a buffer is too small.
  Status pop(void* kbuf, std::uint64_t kcap, std::uint64_t* key_sz, void* vbuf, std::uint64_t vcap,
             std::uint64_t* val_sz) {
    return pop_end(false, false, kbuf, kcap, key_sz, vbuf, vcap, val_sz);
  }
  Status shift(void* kbuf, std::uint64_t kcap, std::uint64_t* key_sz, void* vbuf, std::uint64_t vcap,
               std::uint64_t* val_sz) {
    return pop_end(true, false, kbuf, kcap, key_sz, vbuf, vcap, val_sz);
  }
  // Up to n pops under one write section; visit sees each removed entry (in
  // pop order) while the lock is held, so it must not call into the map.
  // *removed counts them.
  Status drain(std::uint64_t n, Visit visit, void* ctx, std::uint64_t* removed);

  // Grow the table now so that n entries fit without a grow (full when n
  // exceeds 75% of the hard maximum), and keep it at least that large: no
  // shrink goes below it afterwards (header word 28, LIMITS).
  Status reserve(std::uint64_t n);

  // A cursor: lock-free iteration, one entry per next(), tolerating writes
  // between calls. Removals (tombstones) never move other entries, so every
  // key present from start to end and not moved is visited exactly once. A
  // grow, shrink or rehash moves entries: next() then returns Status::again and the
  // caller restarts with a fresh cursor (or accepts duplicates/skips).
  struct Cursor {
    std::uint64_t table = 0;  // the table word the cursor walks (0 = not started)
    std::uint64_t moves = 0;  // the table epoch (header word 60) when it started
    std::uint64_t idx = 0;    // the next slot to look at
  };
  // ok with the next entry (key into kbuf/kcap, value into vbuf/vcap, sizes
  // into *key_sz/*val_sz), not_found at the end, again (see above), invalid
  // when a buffer is too small (the cursor stays on that entry).
  Status next(Cursor* c, void* kbuf, std::uint64_t kcap, std::uint64_t* key_sz, void* vbuf,
              std::uint64_t vcap, std::uint64_t* val_sz) const;

  std::uint64_t size() const;
  std::uint64_t capacity() const;
  std::uint64_t tombstones() const;

  struct Stats {
    std::uint64_t write_recoveries;  // dead write-lock holders replaced
    std::uint64_t read_recoveries;   // dead reader slots reclaimed, stray reader bits cleared
    std::uint64_t seq_repairs;       // odd sequences found and repaired
    std::uint64_t grows, rehashes, shrinks;  // rehashes are in place
    std::uint64_t move_repairs;      // journals a dead writer left open: rehash moves, value changes
    std::uint64_t evictions;         // LRU evictions
    std::uint64_t expirations;       // expired keys removed
    std::uint64_t arena_used;        // bytes bump-allocated from the header on (tables included)
    std::uint64_t arena_capacity;    // bytes the map may use from its header on
    std::uint64_t backed;            // end of the memory backed so far (a file's size in use)
  };
  Stats stats() const;
  // The outcome of the verify() run by the last recovery ("" if clean).
  Status last_recovery(std::string* why) const;

  // Check I1..I5 on a quiescent map; Status::corrupt with a message.
  Status verify(std::string* why) const;
  Status verify() const { return verify(nullptr); }

  const RwLock& lock() const { return lock_; }
  // Tests only: a function called at HookPoints inside critical sections.
  static void set_test_hook(rw_os::Hook h) { rw_os::g_test_hook = h; }

 private:
  static RwBytes as_bytes(const std::uint64_t& v) { return RwBytes{&v, 8}; }
  static RwBytes as_bytes(RwBytes b) { return b; }
  template <class Key, class Val>
  Status put_batch(const Key* keys, const Val* vals, std::uint64_t n);
  template <class Key>
  Status remove_batch(const Key* keys, std::uint64_t n, std::uint64_t* removed);
  sync::Ref<std::uint64_t> hw(std::uint64_t word) const { return sync::word(base_, hdr_ + 8 * word); }
  sync::Ref<std::uint64_t> at(std::uint64_t off) const { return sync::word(base_, off); }
  void attach(void* base, std::uint64_t hdr_off, RwGrow grow, void* grow_ctx);

  // Writes (write_section.cc-style helpers in rw_map.cc).
  struct Where {
    std::uint64_t found = 0;  // slot offset of the key, 0 = absent
    std::uint64_t free = 0;   // first tomb/empty slot on the probe path
    std::uint64_t meta = 0;   // the found slot's meta word, as locate_with() read it
    std::uint64_t w1 = 0;     // and its hash word (hash bits and expiry)
  };
  class Writer;
  // get / put with the key's hash given (precondition: h == hash(key)).
  Status get_hashed(RwBytes key, std::uint64_t h, void* buf, std::uint64_t cap, std::uint64_t* val_sz) const;
  Status put_hashed(RwBytes key, std::uint64_t h, RwBytes val);
  Status locate(RwBytes key, std::uint64_t h, Where* w) const;
  template <class Same>
  Status locate_with(std::uint64_t h, std::uint64_t common, Same same, Where* w) const;
  Status locate_u64(std::uint64_t k, std::uint64_t h, Where* w) const;
  bool key_equal(std::uint64_t slot, std::uint64_t meta, RwBytes key, bool speculative) const;
  // exact: a value of any size but cap bytes is invalid too (the u64 calls).
  Status copy_out(std::uint64_t slot, std::uint64_t meta, void* buf, std::uint64_t cap,
                  std::uint64_t* val_sz, bool exact) const;
  bool value_equal(std::uint64_t slot, std::uint64_t meta, RwBytes val) const;
  bool field_equal(std::uint64_t field, RwBytes b) const;
  Status make_room();
  Status rebuild(unsigned log2);
  void rehash_in_place();
  void move_slot(std::uint64_t from, std::uint64_t to);
  void copy_slot(std::uint64_t src, std::uint64_t dst, std::uint64_t meta);
  Status alloc_bytes(std::uint64_t len, std::uint64_t* off);
  Status bump(std::uint64_t bytes, std::uint64_t align, std::uint64_t* off);
  void free_bytes(std::uint64_t off, std::uint64_t len) const;
  Status ensure_backed(std::uint64_t end);
  Status backed_checked() const;
  bool backed_to(std::uint64_t end) const;
  bool table_backed(std::uint64_t tw) const;
  bool top_backed(std::uint64_t* top) const;
  std::uint64_t top_bound() const;
  Status alloc_table(unsigned log2, std::uint64_t* off);
  void retire_table(std::uint64_t tw) const;
  Status write_field(std::uint64_t slot, unsigned word, RwBytes b, std::uint64_t old_len);
  Status fill_slot(std::uint64_t slot, std::uint64_t h, RwBytes key, RwBytes val, bool reuse_tomb,
                   std::uint64_t exp);
  Status set_value(std::uint64_t slot, std::uint64_t meta, RwBytes val);
  void clear_slot(std::uint64_t slot, std::uint64_t meta);
  enum class Mode { put, add, update, swap, swap_exact };
  Status store(RwBytes key, RwBytes val, Mode mode, void* buf, std::uint64_t cap, std::uint64_t* val_sz,
               std::uint64_t ttl_s);
  Status store_hashed(RwBytes key, std::uint64_t h, RwBytes val, Mode mode, void* buf, std::uint64_t cap,
                      std::uint64_t* val_sz, std::uint64_t ttl_s);
  Status store_locked(RwBytes key, std::uint64_t h, RwBytes val, Mode mode, void* buf, std::uint64_t cap,
                      std::uint64_t* val_sz, std::uint64_t exp);
  Status locate_live(RwBytes key, std::uint64_t h, Where* w);
  void prefetch(std::uint64_t h) const;
  bool maybe_shrink();
  std::uint64_t expiry_for(std::uint64_t ttl_s) const;
  Status set_expiry(RwBytes key, std::uint64_t ttl_s, bool keep, std::uint64_t* remaining);
  Status take_locked(RwBytes key, std::uint64_t h, void* buf, std::uint64_t cap, std::uint64_t* val_sz,
                     bool exact);
  Status insert_absent(RwBytes key, std::uint64_t h, RwBytes val, Where* w, std::uint64_t exp);
  void touch(std::uint64_t slot, std::uint64_t meta) const;
  Status next_try(Cursor* c, void* kbuf, std::uint64_t kcap, std::uint64_t* key_sz, void* vbuf,
                  std::uint64_t vcap, std::uint64_t* val_sz) const;
  bool evict_one();
  std::uint64_t clock_victim();
  std::uint64_t newest_slot();
  Status end_slot(bool head, std::uint64_t* slot);
  Status pop_end(bool head, bool exact, void* kbuf, std::uint64_t kcap, std::uint64_t* key_sz, void* vbuf,
                 std::uint64_t vcap, std::uint64_t* val_sz);
  Status pop_u64(bool head, std::uint64_t* k, std::uint64_t* v);
  Status copy_key(std::uint64_t slot, std::uint64_t meta, void* buf, std::uint64_t cap,
                  std::uint64_t* key_sz) const;
  Status incr_fast(RwBytes key, std::uint64_t h, std::int64_t delta, std::uint64_t* result);
  Status read_try(RwBytes key, std::uint64_t h, void* buf, std::uint64_t cap, std::uint64_t* val_sz,
                  std::uint64_t seq) const;
  Status read_u64(std::uint64_t k, std::uint64_t h, std::uint64_t* v) const;
  bool block_in(std::uint64_t b, std::uint64_t len, std::uint64_t top) const;
  bool table_in_bounds(std::uint64_t tw, std::uint64_t backed) const;
  bool table_word_ok(std::uint64_t tw, std::uint64_t top) const;
  // The header words join() checks, loaded as one snapshot (rw_map.cc).
  struct HeaderSnapshot {
    std::uint64_t backed = 0, top = 0, table = 0, floor = 0;
    std::uint64_t table_lists[kRwCapMaxLog2 - 2] = {};  // log2 3 .. kRwCapMaxLog2
    std::uint64_t free[kRwClassCnt] = {};
  };
  HeaderSnapshot header_snapshot() const;
  bool listed_table_ok(std::uint64_t tw, unsigned log2, std::uint64_t top, std::uint64_t cur) const;
  template <class Try>  // Status(); defined and used in rw_map.cc only
  Status read_stable(Try try_once) const;
  template <class KeyEq>  // bool(slot, meta); defined and used in rw_map.cc only
  Status probe(std::uint64_t h, KeyEq key_eq, std::uint64_t* slot, std::uint64_t* meta) const;
  void wait_seq_odd(unsigned* spins) const;
  static void repair_cb(void* ctx);
  void repair() const;
  void lock_for_write() const;
  Status verify_impl(std::string* why, bool check_lock) const;

  void* base_ = nullptr;
  std::uint64_t hdr_ = 0;
  std::uint64_t seed_ = 0;
  std::uint64_t mem_max_ = 0;
  unsigned cap_max_log2_ = 0;
  std::uint64_t lru_max_ = 0;
  std::uint64_t default_ttl_ = 0;
  RwGrow grow_ = nullptr;
  void* grow_ctx_ = nullptr;
  // Bytes from base this handle knows are backed (backed_checked() in
  // rw_map.cc), and the last table word it found sound (table_backed();
  // join() and format() start it at theirs); read and written only under
  // the write lock.
  mutable std::uint64_t backed_ok_ = 0;
  mutable std::uint64_t tw_ok_ = 0;
  RwLock lock_;
};

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_RWLOCK_RW_MAP_H_
