// RhMap: a flat robin-hood hash map (u64 -> u64, or byte strings) in shared
// region memory, with lock-free lookups, one writer lock, and copy-on-write
// resizing.
// Designed from the notes in ../shared/seeds/002 (robin-hood slots holding
// block references); the algorithm below is ours.
//
// ALGORITHM. The table is an array of 64-bit slot words (power-of-two
// capacity, split into segments because one allocator object holds at most
// kRhSegSlots slots). A live slot names a key/value block (16 bytes from one
// of the map's slabs in a u64 map, an allocator object in a bytes map) and
// records its probe distance and 16 bits of the key's hash.
// Writers (insert, insert_or_assign, update, erase) serialize on one writer
// lock word in the map header. Inserts place robin-hood style: probe from
// the home slot to the first slot that is EMPTY, or holds an entry (or a
// tombstone) nearer to its own home than the new key would be, or holds a
// tombstone at exactly the new key's distance (reused in place), then shift
// the run from there up to the first EMPTY-or-TOMBSTONE slot one place to
// the right, copying from the END of the run backwards (so every entry is in
// at least one slot at every instant, and entries only ever move right).
// Erase writes a TOMBSTONE that keeps the erased entry's distance (no
// backward shift: moving an entry left could let a reader that already
// passed its new slot miss it). Readers never lock: they probe with acquire
// loads, stop at EMPTY or at a slot whose distance is smaller than their
// own probe index, read the block, then re-load the slot word (which carries
// a per-slot write version) and the header's table word: if either changed,
// they retry. Resizing (grow at 3/4 occupancy counting tombstones, shrink
// below 1/8 live) is copy-on-write: the writer, holding the lock, builds a
// new table that references the same blocks (or, when a shrink compacts,
// copies of them in new slabs: RECLAMATION), publishes it in the table word
// and then frees the old table; readers keep reading the old, frozen table
// and never wait; their table-word recheck rejects a read that overlapped a
// publish.
//
// LAYOUT (u64 words, accessed only through core/sync.h; offsets from the
// region base, never pointers, so peers may join at other addresses):
//
//   Map header (allocator object, tag kRhTagHeader, 176 bytes, 64-aligned
//   where the allocator has a class for that, as every standard ladder
//   does; layout versions 3 and 4: 128 bytes, words 0..15):
//     0 magic "MBROBIN1"  1 layout version (5; 3 and 4 are read too)  2 seed
//     3 log2 of minimum capacity [7:0] | flags (kRhMultimap, kRhBytes)
//       [15:8] | log2 of maximum capacity [23:16] (layout version 4; a
//       version 3 map has 0 there and reads as kRhCapLog2Max)
//     4 check (hash of words 1..3)          5 table word (below)
//     6 newest slab (0: none)  7 free stack top (0: empty)
//     8 writer lock (0 free, else the holder's process id [31:0] | its
//       start key [63:32], rw_os::start_key, 0 when unknown: always 0 in a
//       lock taken by a layout version 3 build)
//     9 live entries  10 tombstones
//     11 resizes  12 bump: the newest slab's next never-used block
//     13 the newest slab's end  14 blocks on the free stack
//     15 writer recoveries (locks taken over from dead holders)
//     16..21 the writer's allocation journal (layout version 5; WRITER
//       RECOVERY): 16 a bytes block allocated and not yet linked, 17 a
//       bytes block being unlinked (an assign's old one, an erased one),
//       18 a table being built (its table word), 19 the table a resize
//       replaces, 20 the newest of a compaction's new slabs not yet listed
//       (each links the one made before it, the first 0), 21 the next of a
//       compaction's old slabs to free once they are cut off the list
//       (each links the next). 0: none. All 0 between writers.
//     (words 6, 7 and 9..21 are written by the lock holder only, relaxed)
//   Table word:
//     63            38 37      32 31                 0
//     +----------------+----------+-------------------+
//     |  generation    | log2 cap |  dir_off >> 4     |
//     +----------------+----------+-------------------+
//   Directory (allocator object, tag kRhTagDir): seg_cnt words of segment
//     offsets. Segments (tag kRhTagSegment): min(cap, kRhSegSlots) slots.
//   Slot word:
//     63   62      56 55       40 39     32 31                0
//     +----+----------+-----------+---------+------------------+
//     |tomb|  ver:7   |  tag:16   | dist:8  | ref = blk >> 4   |
//     +----+----------+-----------+---------+------------------+
//     EMPTY      word == 0 (only in a fresh table; never re-created)
//     LIVE       ref != 0, tomb 0
//     TOMBSTONE  ref == 0, tomb 1, dist/tag of the erased entry
//     ver: incremented (mod 128) by every store into this slot.
//     tag: hash >> 48.  dist: (slot - (hash & (cap - 1))) mod cap.
//   Slab (u64 maps; allocator object, tag kRhTagSlab): the largest class
//     of the allocator up to 256 KiB plus the object header (the standard
//     ladder has one of exactly that; the Relacy model's, 176 bytes), less
//     the header: w0 the previous slab (0: none), w1 its block count n, then n
//     16-byte blocks {key, value}. A block on the free stack holds the next
//     free block's offset (0: the last) in its key word.
//   Bytes block (kRhBytes maps; tag kRhTagBytes, 16 + 8 * (words of key +
//   words of value) bytes):
//     w0 hash(key) (stored: resizes and verify() use it, lookups compare it
//        first)   w1 key size [31:0] | value size [63:32]
//     w2.. the key's bytes, zero-padded to whole words, then the value's.
//   A bytes block is never written after its slot publishes it: an assign
//   writes a new block and stores it into the slot (copy on write).
//
// INVARIANTS (verify() checks them on a quiescent map):
//   RH1 Robin-hood order: a LIVE or TOMBSTONE slot with dist d > 0 has a
//       non-EMPTY predecessor with dist >= d - 1. Hence every slot between an
//       entry's home and its slot is non-EMPTY and holds a distance at least
//       its own probe index there (what lets readers stop early).
//   RH2 Every LIVE slot's block is a handed-out block of one of the map's
//       slabs (u64 map), or a live allocator object tagged kRhTagBytes at
//       least as large as its sizes say, with stored hash hash(key) (bytes
//       map); its key hashes to the slot's home and tag, and no block
//       appears in two slots (outside a writer's critical section), nor any
//       key unless the map is a multimap.
//   RH3 header live/tombstone counts equal the table's; live + tombstones <=
//       3/4 capacity; the lock is free.
//   RH4 A block's key never changes after it is published; only the lock
//       holder writes slots, blocks, tables and the table word; a block or
//       table is freed only after the store that made it unreachable.
//   RH5 Between two writer critical sections an entry sits in one slot;
//       inside one it may transiently sit in two adjacent slots (the shift)
//       and only ever moves to a higher probe index.
//   RH6 (u64 maps) Every block handed out of a slab (all of the older
//       slabs, the newest one below the bump) is named by exactly one LIVE
//       slot or is on the free stack exactly once, and the stack holds as
//       many blocks as header word 14 says.
//
// LINEARIZATION AND PROGRESS.
//   find: lock-free (never waits for a writer; retries only after a writer
//     stored into the slot it used or published a new table, i.e. after
//     another operation made progress). Found: linearizes at its load of the
//     value word (the rechecks show the slot still held the block and the
//     table was still current after it). Not found: at some instant during
//     the probe the key was absent (by RH1 and RH5 an entry present
//     throughout the probe cannot be passed: it moves only right and every
//     slot before it satisfies the continue-condition at every instant).
//     The u64 find first probes within the home slot's table segment in a
//     loop of its own (the same acquire loads and rechecks, a few more of
//     them, the segment looked up once); whatever that loop cannot settle
//     starts over in the general probe, so both end at the same points.
//   values / count (multimap): lock-free; a double collect of the probe range
//     (every slot word re-read unchanged, versions included, and the table
//     word unchanged) means all those words were held at one instant, the
//     linearization point; a block met in two adjacent slots there is one
//     entry in the middle of a shift and is counted once.
//   bytes find: the same probe and rechecks; a block whose key is not the
//     one looked for proves nothing until the slot recheck shows the slot
//     still named it (an assign frees the block of a key that stays
//     present, and another key may get it: planted bug 16 trusts it
//     unchecked). The value is copied before the rechecks; a copy the
//     rechecks reject is discarded and the lookup retried.
//   insert / insert_or_assign / update / erase / insert_multi / erase_one /
//     erase_all: BLOCKING (one writer lock per map; the robin-hood shift is
//     a multi-slot update that we do not make lock-free). Each linearizes at
//     one release store: the new entry into its slot, the new value into
//     the block's value word (a u64 value of a plain map, updated in place),
//     the new block into the slot (a bytes assign, or any assign in a
//     multimap), or the tombstone. Writers also wait while another writer
//     resizes.
//
// MEMORY ORDERS (each call site cites its pairing):
//   - lock CAS acquire / unlock store release: the next lock holder sees
//     everything the previous one wrote (slots, blocks, counts, table word).
//   - slot stores, block stores and table stores are release, and every
//     reader load of them is acquire: a reader that sees a published slot
//     sees the block it names; and a reader that reads any word a later
//     writer stored into reused memory synchronizes with that writer, so its
//     rechecks see the store that retired the old block or table (the same
//     argument as chain_map.h's READS).
//   - the table word is stored release after the new table is complete and
//     loaded acquire by readers (create()'s first one is stored relaxed and
//     published by the magic word's release store, which join() acquires).
//   - live/tombstone/resize counters are relaxed: written only by the lock
//     holder, read by size() as a hint (exact when quiescent).
//
// RECLAMATION. A block is freed by the writer that unlinked it (erase, or a
// bytes assign replacing it), right after the unlinking store (not "last
// reader out": readers hold no count): a u64 block onto the map's free
// stack (the next insert takes it back first; its link store is release,
// like every store into map memory), a bytes block back to the allocator.
// A reader may therefore load words of a block (or old table) that was freed
// and even reused meanwhile; allocator memory stays mapped and every offset
// is range-checked, so that load cannot fault, and the slot/table rechecks
// make it discard what it read: no reader ever returns data from a block
// that was not linked for the whole of its read. Slabs go back to the
// allocator when a shrink compacts (a u64 map whose listed slabs hold at
// least 4 times the blocks its entries need, and more than one slab): the
// rebuild copies every live entry's block into new slabs and names the
// copies in the new table; the new slabs join the slab list in front of
// the old ones before the new table is published (a writer that dies then
// leaves every slab listed, and the repair puts unnamed blocks on the free
// stack); after the publish the old slabs are cut off the list, the free
// stack (which named only old blocks) emptied, and the old slabs freed. A
// reader still in the old table reads old blocks as it reads the old
// table itself: memory that may be freed and reused, which its table word
// recheck rejects (the same argument as the old table's). A writer that
// dies after the cut leaves the rest of the old slabs in its journal (the
// repair frees them: WRITER RECOVERY). Model shrink_compact_2t; planted
// bug 26 keeps the old blocks in the new table, planted bug 27 frees the
// old slabs before the publish (a model build's free() writes over the
// start of what it frees, as the memory's next owner would: a reader that
// trusts a block of a freed slab then reads the wrong key or value). A
// writer that dies before the new slabs are listed leaves them in its
// journal (the repair frees them); one that dies after they are listed
// but before the cut leaves old and new slabs listed (nothing leaks; the
// next compacting shrink frees them). Without a compaction (too little to
// gain, or no memory for the new slabs: the shrink goes on without it),
// blocks stay with the map for its next inserts; destroy() frees every
// slab.
//
// MEMORY (u64 maps): 8 bytes per slot plus 16 per entry, plus the unused
// rest of the newest slab and the blocks on the free stack (those of
// entries erased and not yet replaced): 32 bytes per entry at 50% load
// after inserts alone. The 24 needs
// 32-bit slots (8 + 16); ours are 64-bit because the version and tag they
// carry are what let lookups stay lock-free without reader counts.
//
// MULTIMAP (create flag kRhMultimap; with kRhBytes, of byte strings: the
// same placement, rechecks and double collect, blocks compared by stored
// hash, sizes and key words). Equal keys have equal homes, and
// robin-hood placement puts a new entry after the live entries of its home
// (or into a tombstone among them), so the entries of one key lie in the
// group of slots of their home (entries of other keys with the same home may
// sit between them). erase_all tombstones them one by one, in probe order,
// inside one critical section: a concurrent values() may see a prefix of
// them erased (erase_all is a sequence of erase_one linearization points).
// One key holds at most kRhDistMax + 1 = 251 values: the next insert_multi
// returns Status::full at once (equal keys share a home at every capacity,
// so growing cannot help). Entries of different keys sharing a home make
// inserts grow the table instead, up to kRhCapMax, and then return full.
//
// WRITER RECOVERY. The lock word holds the writer's process id and start
// key. A writer that waits for it looks at the holder now and then (after
// its spins, every 64th poll); once the holder's process is gone (or its
// pid names a later process: another start key), one CAS from the word it
// saw to its own takes the lock over (of several waiters exactly one
// wins; planted bug 22 takes it with a store and the model dead_writer_2t
// catches two winners) and the winner repairs what the dead writer left
// before it goes on (repair() in rh_map.cc: a shift that copied an entry
// but had not overwritten its old slot leaves the left copy a tombstone;
// the free stack is rebuilt from the slabs; the counts are recounted).
// Every entry linked before the crash is still found. What the dead writer
// held that neither the table nor the slab list names is named by its
// allocation journal (header words 16..21, layout version 5), which the
// repair settles: a journaled bytes block that no slot names is freed
// (an insert's unlinked new block, or an assign's or erase's unlinked old
// one), a journaled table that the table word does not name is freed (the
// new one before the publish, the old one after), and a compaction's
// unlisted new slabs, or its old slabs once cut off the list, are freed.
// The writer puts an object into the journal right after allocating it
// and takes it out before freeing it (a chain of slabs one slab at a
// time; a table's segments leave its directory one by one, the directory
// last), and the repair does the same, so a death leaks at most what lies
// in those windows of a few instructions (one object), and nothing is
// freed twice (`KilledWriterLeaksNothing` kills a writer at each
// journaled point and finds every object back after destroy(), and the
// objects allocated before the repair untouched). A layout version 3 or 4 map has no room for the journal: it
// is written without one, and leaks what a version 4 build leaked (the
// objects above). Readers never wait for the lock and are not affected.
//
// DAMAGE (a damaged or foreign region). Readers check each word they use
// (offsets within the allocator's space, lengths, rechecks) and return
// Status::corrupt; they only read. A writer stores through what it reads,
// so it checks more (writer_table(), under the lock): the table's capacity
// within the map's minimum and maximum, its directory and every segment
// live allocator objects of their tags and sizes (once per table word a
// handle meets: a resize publishes a new word), the live and tombstone
// counts within the capacity, a bump pointer inside the newest slab (a slab
// object whose block count ends where the bump's end says; once per slab
// and end). The block a writer is about to store through or free must be
// the map's: in a u64 map, the block of the slot it changes and the free
// stack's top lie on a block boundary in a listed slab (own_block(), a
// per-handle cache of the slabs' ranges; a link becomes the top and is
// checked when popped); in a bytes map, the block of the slot it changes
// is a live object tagged kRhTagBytes of at least the size its lengths
// say. An erase_all() checks every entry it would erase before it erases
// one. repair() after a dead writer checks the table's objects before it
// stores tombstones. join() checks the table's capacity and objects the
// same way (not the counts) and names what it refuses; it tries again
// when a peer's resize retires the table under it, and gives
// Status::again if the table keeps changing. destroy() (a quiescent map)
// checks everything it would free (the table, the slab list, that each
// live slot of a bytes map names a bytes block, once) before it frees
// anything. The handle keeps the segment offsets it checked with the
// table word, and the writer functions reach a slot of that table only
// through a directory entry equal to its copy (writer_slot()): a
// directory damaged after the check (naming another map's segment, say,
// a live object of the right tag and size) gets corrupt, not stores. The
// word's generation tells a new table at the same directory offset from
// the checked one until generations wrap (LIMITS): a handle that made no
// write while peers resized 2^26 times onto the same directory offset and
// size would compare with stale segments and say corrupt until the table
// word changes again. Beyond these
// checks: a free-stack link or slot naming a block of ours that is free,
// another entry's or not handed out yet (the damage stays inside the
// map); a slot of a bytes map naming a bytes block of another bytes map
// in the same allocator (its tag is the same: an assign or erase frees
// it); a directory entry that already names another map's segment, or
// one segment twice, when a handle checks the table word (the object
// checks pass it, and its writers store there); and a lock word naming a live process that does not hold it (pid 1,
// say: writers wait). verify() reports each.
//
// LIMITS (checked; an operation past them returns Status::full and leaves
// the map's entries as they were): byte-string keys of 1..kRhKeyMax bytes and values of
// 0..kRhValMax bytes (else Status::invalid); a u64 map needs an allocator
// class of at least 48 bytes for its slabs (else its inserts return
// Status::invalid); capacity <= cap_max slots (create()'s bound, at most
// kRhCapMax): the table grows at 3/4 occupancy, tombstones counted, to at
// most cap_max, so the map takes 3/4 cap_max entries; past that an insert
// returns full. Once erases have left tombstones in a table of cap_max
// slots, an insert that finds it 3/4 occupied rebuilds it at the same size
// (clearing them) only while the live entries stay below 5/8 cap_max (so
// that cap/8 inserts separate two such rebuilds): between 5/8 and 3/4 it
// returns full until erases bring the entries below 5/8. Probe distance <= kRhDistMax (an
// insert that would exceed it grows the table first); allocator space <=
// 64 GiB (32-bit refs); table generations wrap after 2^26 resizes and slot
// versions after 128 stores to one slot: a reader stalled across exactly
// that many stores, ending with the same word, could accept a stale read
// (and a writer whose handle wrote nothing across 2^26 resizes could say
// corrupt, DAMAGE).
// The writer lock is robust (WRITER RECOVERY above), within the limits of
// process ids: the lock word names the holder by pid and start key, so a
// pid that a later process was given is told from the dead holder's
// (except where /proc cannot be read: then pids alone); the lock is for
// processes of one pid namespace and one time namespace (start times are
// read through /proc, relative to the reader's time namespace). Table segments are kRhSegSlots * 8 = 512 KiB allocator
// objects, so the allocator's size_max() must be at least that for tables
// past 2^16 slots (the default AllocParams give 1 MiB); otherwise growth
// returns the allocator's status and the table stays as it is.
#ifndef MAPBENCH_VARIANTS_ROBINHOOD_RH_MAP_H_
#define MAPBENCH_VARIANTS_ROBINHOOD_RH_MAP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/alloc.h"
#include "core/status.h"
#include "core/sync.h"

namespace mb {

inline constexpr std::uint64_t kRhMagic = 0x314e49424f52424dULL;  // "MBROBIN1"
// 3: the lock word holds a pid; 4: and a start key, and word 3 a maximum
// capacity (a version 3 map reads as bounded by kRhCapMax); 5: a third
// header line, the writer's allocation journal (3 and 4 are read, and
// written without one).
inline constexpr std::uint64_t kRhLayoutVersion = 5;
inline constexpr unsigned kRhCapLog2Max = 26;
inline constexpr std::uint64_t kRhCapMax = std::uint64_t{1} << kRhCapLog2Max;
inline constexpr unsigned kRhSegLog2 = 16;
inline constexpr std::uint64_t kRhSegSlots = std::uint64_t{1} << kRhSegLog2;
inline constexpr std::uint64_t kRhDistMax = 250;
inline constexpr unsigned kRhMultimap = 1;  // create() flag: equal keys allowed
inline constexpr unsigned kRhBytes = 2;     // create() flag: byte-string keys and values
inline constexpr std::uint64_t kRhKeyMax = 255;    // byte-string key sizes: 1..kRhKeyMax
inline constexpr std::uint64_t kRhValMax = 65536;  // byte-string value sizes: 0..kRhValMax
inline constexpr std::uint32_t kRhTagHeader = 0x52480001, kRhTagDir = 0x52480002,
                                kRhTagSegment = 0x52480003,
                                kRhTagBytes = 0x52480005, kRhTagSlab = 0x52480006;

struct RhBytes {
  const void* data;
  std::uint64_t size;
};

class RhMap {
 public:
  RhMap() = default;

  // Create a map whose capacity never drops below `cap_min` slots (rounded
  // up to a power of two, at least 4) in `a`; *map_off receives the header
  // offset (store it where peers find it, e.g. Region::root_off()).
  // flags: kRhMultimap allows equal keys (insert_multi and friends);
  // kRhBytes makes a map of byte strings (the RhBytes calls below; the u64
  // calls then return Status::invalid, and the other way round); both
  // flags make a multimap of byte strings.
  // cap_max (rounded up to a power of two, at least cap_min, at most
  // kRhCapMax) bounds the table: see LIMITS for what an insert past it
  // returns.
  static Status create(Allocator& a, std::uint64_t cap_min, std::uint64_t seed,
                       std::uint64_t* map_off, std::string* why = nullptr, unsigned flags = 0,
                       std::uint64_t cap_max = kRhCapMax);
  // Join the map whose header is at map_off; nothing is written. Joined
  // through a read-only allocator (a region joined with
  // Region::join_file_read_only), the handle only reads: find, values,
  // count, size and verify work, every writer returns Status::invalid.
  // Status::corrupt for a damaged header or table (DAMAGE; *why names
  // it); Status::again when peers' resizes kept replacing the table while
  // join() checked it (retry).
  static Status join(Allocator& a, std::uint64_t map_off, RhMap* out, std::string* why = nullptr);
  // Free every block, the table and the header (quiescent map only).
  Status destroy();

  // u64 -> u64 (the map concept, core/map_concept.h).
  Status insert(std::uint64_t k, std::uint64_t v);            // exists if present
  Status insert_or_assign(std::uint64_t k, std::uint64_t v, bool* created = nullptr);
  Status update(std::uint64_t k, std::uint64_t v);            // not_found if absent
  Status erase(std::uint64_t k);                              // not_found if absent
  Status find(std::uint64_t k, std::uint64_t* v) const;       // lock-free

  // Byte strings (maps created with kRhBytes): the same operations with the
  // same linearization points and progress. find copies the value into buf
  // (cap bytes) and sets *val_sz; Status::invalid when it does not fit
  // (*val_sz says how much would), or for sizes past the limits. Unless it
  // returns ok, buf's bytes are unspecified (a rejected attempt may have
  // copied into it).
  // insert_or_assign and update of a present key put a new block in the
  // slot (one release store, like the u64 value store) and free the old one.
  Status insert(RhBytes key, RhBytes val);
  Status insert_or_assign(RhBytes key, RhBytes val, bool* created = nullptr);
  Status update(RhBytes key, RhBytes val);
  Status erase(RhBytes key);
  Status find(RhBytes key, void* buf, std::uint64_t cap, std::uint64_t* val_sz) const;  // lock-free
  std::uint64_t hash(RhBytes key) const;
  bool bytes() const { return bytes_; }
  bool read_only() const { return read_only_; }

  // Multimap extension (insert_multi, erase_one and erase_all need a map
  // created with kRhMultimap: Status::invalid otherwise; values and count
  // work on any map, where a key has at most one value), for u64 entries
  // and, with kRhBytes too, byte strings. The map-concept calls above still
  // treat a key as one entry: find returns the first value,
  // update/insert_or_assign change the first, insert says exists, erase
  // removes the first. In a multimap they change a u64 value copy-on-write
  // (a new block into the slot, as a bytes assign), not in place: every
  // change to an entry then changes its slot word, which is what makes
  // values()'s double collect a snapshot (changed in place, a value read in
  // the first collect could be stale by the second, which rereads only the
  // slot words).
  Status insert_multi(std::uint64_t k, std::uint64_t v);  // always adds an entry
  Status erase_one(std::uint64_t k, std::uint64_t v);     // first entry (k, v)
  Status erase_all(std::uint64_t k, std::uint64_t* erased = nullptr);
  // Lock-free snapshot of all values of k: *n receives how many there are;
  // the first min(n, cap) are copied to out. Status::invalid when cap < n,
  // not_found when there are none.
  Status values(std::uint64_t k, std::uint64_t* out, std::uint64_t cap, std::uint64_t* n) const;
  Status count(std::uint64_t k, std::uint64_t* n) const;  // ok, or not_found (n = 0)
  // The same for byte strings; values() replaces *out with a lock-free
  // snapshot of the key's values (not_found and empty when there are none).
  Status insert_multi(RhBytes key, RhBytes val);
  Status erase_one(RhBytes key, RhBytes val);
  Status erase_all(RhBytes key, std::uint64_t* erased = nullptr);
  Status values(RhBytes key, std::vector<std::string>* out) const;
  Status count(RhBytes key, std::uint64_t* n) const;
  bool multimap() const { return multi_; }

  // Live entries (exact on a quiescent map).
  std::uint64_t size() const;
  // Current table capacity in slots, and how many resizes happened.
  std::uint64_t capacity() const;
  std::uint64_t capacity_max() const;  // the bound given at creation
  // The slabs a u64 map's blocks come from (quiescent map; 0 for a bytes
  // map or a damaged slab list). See RECLAMATION for when they are freed.
  std::uint64_t slab_count() const;
  std::uint64_t resizes() const;
  // Writer locks taken over from dead holders (and repaired after).
  std::uint64_t recoveries() const;
  std::uint64_t hash(std::uint64_t k) const;

  // Check RH1..RH3 and RH6, and RH2's block checks (quiescent map only);
  // Status::corrupt with a message.
  Status verify(std::string* why) const;
  Status verify() const { return verify(nullptr); }

 private:
  enum class Put { insert, assign, update, multi };
  struct Table;
  Status put(std::uint64_t k, std::uint64_t v, Put mode, bool* created);
  Status put(RhBytes key, RhBytes val, Put mode, bool* created);
  Status replace_block(const Table& t, std::uint64_t slot, std::uint64_t blk);
  template <class MatchFn>
  Status probe_find(std::uint64_t h, MatchFn match) const;
  template <class Fill>
  Status add_entry(Table t, std::uint64_t h, std::uint64_t blk_size, std::uint32_t tag, Fill fill);
  std::uint64_t block_hash(std::uint64_t blk) const;
  std::uint64_t same_hash_entries(const Table& t, std::uint64_t h) const;
  template <class IsKey>
  Status locate_if(const Table& t, std::uint64_t h, IsKey is_key, std::uint64_t* slot) const;
  Status locate(const Table& t, RhBytes key, std::uint64_t h, std::uint64_t* slot) const;
  void lock() const;
  void unlock() const;
  void repair() const;
  sync::Ref<std::uint64_t> hdr(unsigned idx) const;
  bool load_table(std::uint64_t tw, Table* t) const;
  Status current_table(Table* t) const;
  Status locate(const Table& t, std::uint64_t k, std::uint64_t h, std::uint64_t* slot) const;
  // published: t is the current table (false: a rebuild's new one).
  Status place(const Table& t, std::uint64_t ref, std::uint64_t h, bool* took_tomb, bool published = true) const;
  Status rebuild(std::uint64_t need_live);
  struct NewSlabs {  // slabs made by compact_blocks(), not yet listed
    std::uint64_t newest = 0, oldest = 0, bump = 0, end = 0;
  };
  Status compact_blocks(const Table& old, std::vector<std::uint64_t>* old_slabs,
                        std::vector<std::pair<std::uint64_t, std::uint64_t>>* moved, NewSlabs* fresh);
  void drop_new_slabs(NewSlabs& fresh);
  void free_slab_chain(unsigned jword, std::uint64_t first, std::uint64_t stop) const;
  Status make_slab(std::uint64_t prev, std::uint64_t* slab, std::uint64_t* first, std::uint64_t* end);
  Status erase_slot(const Table& t, std::uint64_t slot);
  void maybe_shrink(const Table& t);
  template <class IsEntry>
  Status erase_matching(std::uint64_t h, IsEntry is_entry, bool one, std::uint64_t* erased);
  Status erase_u64(std::uint64_t k, const std::uint64_t* only, std::uint64_t* erased);
  Status erase_bytes(RhBytes key, const RhBytes* only, std::uint64_t* erased);
  template <class Begin, class Take>
  Status collect(std::uint64_t h, Begin begin, Take take, std::uint64_t* n) const;
  Status make_table(unsigned log2, std::uint64_t* dir) const;
  void drop_new_table(std::uint64_t tw) const;
  void drop_new_block(std::uint64_t blk);
  bool object_is(std::uint64_t off, std::uint32_t tag, std::uint64_t min_size = 0) const;
  bool own_block(std::uint64_t blk) const;
  void note_slab(std::uint64_t first, std::uint64_t end) const;
  class Segments;
  bool table_objects_ok(const Table& t, std::string* why, Segments* segs = nullptr) const;
  bool writer_table(Table* t);
  bool writer_slot(const Table& t, std::uint64_t s, sync::Ref<std::uint64_t>* out) const;
  void journal(unsigned idx, std::uint64_t v) const;
  void settle_journal(const Table& t, const std::vector<std::uint64_t>& live) const;
  Status new_block(std::uint64_t size, std::uint32_t tag, std::uint64_t* blk);
  void drop_block(std::uint64_t blk);
  template <class Visit>
  Status walk_slabs(Visit visit, std::string* why) const;
  Status slab_list(std::vector<std::uint64_t>* out, std::string* why) const;
  struct SlabSpace;
  Status slab_space(SlabSpace* sp, std::string* why) const;
  Status verify_free_stack(const SlabSpace& sp, const std::vector<std::uint64_t>& live, std::string* why) const;
  void free_table(std::uint64_t tw, unsigned jword = 0) const;

  Allocator* a_ = nullptr;
  void* base_ = nullptr;
  std::uint64_t hdr_off_ = 0;
  std::uint64_t seed_ = 0;
  unsigned log2_min_ = 0;
  unsigned log2_max_ = kRhCapLog2Max;
  bool multi_ = false;
  bool bytes_ = false;
  bool read_only_ = false;
  bool journaled_ = false;  // layout version 5: header words 16..21 (WRITER RECOVERY)
  // What this handle's writers have checked (written under the writer lock
  // only, and by join() before it hands the handle out): the table word
  // whose directory and segments are allocator objects of the right tags
  // and sizes, and the newest slab and its end (the bump's bounds). A word
  // that differs is checked again; repair() forgets both (a dead writer
  // may have left anything). And the block ranges of slabs of the list,
  // sorted by first block (own_block(): possibly only some of them; a block
  // not found walks the list). Mutable: const calls that hold the lock keep
  // them.
  mutable std::uint64_t checked_table_ = 0;
  mutable std::uint64_t checked_slab_ = 0, checked_slab_end_ = 0;
  // The segment offsets of checked_table_'s directory as the check saw
  // them (writer_slot() compares each directory entry it loads with its
  // copy). Inline up to kInline (tables of up to 2^19 slots), as
  // SlabRanges below, for the Relacy model's sake.
  class Segments {
   public:
    void resize(std::uint64_t n) {
      n_ = n;
      if (n > kInline && heap_.size() < n) heap_.resize(n);
    }
    std::uint64_t& operator[](std::uint64_t i) { return n_ > kInline ? heap_[i] : in_[i]; }
    std::uint64_t operator[](std::uint64_t i) const { return n_ > kInline ? heap_[i] : in_[i]; }
   private:
    static constexpr unsigned kInline = 8;
    std::uint64_t in_[kInline] = {};
    std::vector<std::uint64_t> heap_;
    std::uint64_t n_ = 0;
  };
  mutable Segments checked_segs_;
  // own_block()'s cache: the block ranges [first, end) of slabs, sorted.
  // The first kInline sit in the handle, more on the heap (a u64 map of
  // more than kInline slabs, 2 MiB of blocks with the standard ladder): the
  // Relacy model makes every free a scheduling choice, and its searches
  // doubled with a heap vector freed with the handle.
  class SlabRanges {
   public:
    bool empty() const { return n_ == 0; }
    void clear() { n_ = 0; }
    void add(std::uint64_t first, std::uint64_t end);  // no duplicates
    bool holds(std::uint64_t blk) const;                // on a block boundary
   private:
    static constexpr unsigned kInline = 8;
    using Range = std::pair<std::uint64_t, std::uint64_t>;
    const Range* data() const { return heap_.empty() ? in_ : heap_.data(); }
    Range in_[kInline] = {};
    std::vector<Range> heap_;  // empty until more than kInline ranges
    std::size_t n_ = 0;
    mutable std::size_t last_ = 0;  // the range holds() found last
  };
  mutable SlabRanges slab_ranges_;
};

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_ROBINHOOD_RH_MAP_H_
