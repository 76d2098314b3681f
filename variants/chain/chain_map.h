// ChainMap: a hash map of chains with one versioned word per chain.
// Re-designed from the description of Firedancer's fd_map_chain_para.
//
// ALGORITHM. Keys hash to one of chain_cnt (a power of two) chains. Each chain
// is one 64-bit word holding the chain's head, its element count and a
// version whose lowest bit is the lock. Writers lock one chain (test-and-test-
// and-set on the word), change it, and unlock by storing a word with the next
// (even) version. Readers never lock: they read the word, walk the chain
// copying what they need, and re-read the word; if it changed, the copy may be
// torn and the read is retried (a seqlock per chain). Elements live in the
// shared allocator (core/alloc.h) and are linked by 32-bit references
// (offset >> 4), never pointers, so the map works in a region joined by
// several processes at different addresses.
//
// LAYOUT (u64 words, accessed only through core/sync.h):
//
//   Map header (an allocator object, tag kChainTagHeader):
//     0 magic "MBCHAIN1"  1 layout version  2 chain_cnt  3 seed
//     4 seg_cnt           5 check (hash of words 1..4)
//     6 query_again       7 lock_busy  (relaxed counters)
//     8 owner table offset  9 owner_cnt (1..kChainOwnerMax)
//     10 .. 10+seg_cnt-1  segment offsets
//     10+seg_cnt ..       filter offsets (one per segment)
//   Owner table (an allocator object, tag kChainTagOwners): word 0 counts
//   recoveries (relaxed); word i (1..owner_cnt) names the process that owns
//   owner index i: its pid [30:0], the sweeping mark [31] (layout version 5:
//   set while it recovers the chains of the dead process it claimed the
//   index from, RECOVERY) and the low 32 bits of its start time
//   [63:32] (clock ticks since boot; 0 when /proc could not tell), so a
//   later process given the same pid is not taken for it; 0 = free. A process claims one index the first time it
//   locks a chain (see RECOVERY) and stamps it into every chain word it
//   locks. Then two journal words per index (layout version 6), at
//   owner_cnt + 1 + 2 * (i - 1): kJNew, an element a write of that index
//   made and may not have linked yet (set after make_element, cleared
//   once linked, before the unlock); kJOld, an element it unlinks and has
//   not freed (set before the unlink, cleared after the unlock, before the
//   free). Cleared with a CAS: the threads of a process share the words,
//   and a thread clears only its own entry (one that another thread
//   overwrote goes unjournaled). 0 = none.
//   Chain segments (allocator objects, tag kChainTagSegment, 64-aligned, so
//   a bucket never straddles a cache line): seg_cnt (a power of two, at most
//   kChainSegMax) segments of chain_cnt / seg_cnt buckets of 32 bytes, at
//   most kChainSegChains (512 KiB), fewer when the allocator's largest class
//   is smaller.
//
//   Bucket (one per chain):
//     b+0   chain word
//     b+8   inline meta: 0 = empty, else hash[63:8] | key_sz << 4 | val_sz
//     b+16  inline key   (key_sz 1..8 bytes, zero-padded)
//     b+24  inline value (val_sz 0..8 bytes, zero-padded)
//   The inline slot holds one element with a key and a value of at most 8
//   bytes each (a u64 -> u64 element, say), in the chain word's cache line:
//   a find that hits it takes one cache miss instead of two. Every other
//   element is on the chain's list.
//
//   Filters (allocator objects, tag kChainTagFilter, one per segment): one
//   byte per chain, dense (1 MiB per million chains, so it stays in cache
//   where the buckets cannot), eight chains to a u64 word (chain idx is byte
//   idx % 8 of its word). Bit (hash >> 61) of a chain's byte is set when an
//   element with those top hash bits may be in the chain: find() answers
//   most absent keys from it without touching the bucket.
//
//   Chain word:
//     63          44 43        32 31               0
//     +-------------+------------+------------------+
//     |   version   |    cnt     |  head ref        |   ref = ele_off >> 4
//     +-------------+------------+------------------+   0 = none
//     version bit 0 (word bit 44) = locked; cnt <= kChainCntMax counts the
//     inline element too. While locked, version bits 1..8 (word bits
//     45..52) hold the holder's owner index instead (0: none recorded); the
//     holder keeps the full version in its copy of the word. In memory the
//     locked word's head follows the list as the holder changes it (so a
//     recoverer finds the list as it is); its cnt is stale until the
//     unlock, which stores the whole new word (RECOVERY).
//
//   Element (an allocator object, tag kChainTagElement):
//     w0  [31:0] next ref  [39:32] key_sz  [63:40] val_sz
//     w1  hash (memoized)
//     w2.. key bytes, zero-padded to 8; then value bytes, zero-padded to 8.
//
// INVARIANTS (verify() checks M1..M7 on a quiescent map):
//   M1  An unlocked chain word's cnt equals the length of its list plus 1
//       if the inline slot is full, and the last element's next is 0 (no
//       cycle).
//   M2  Every element is a live allocator object tagged kChainTagElement,
//       its hash is hash(key), and hash & (chain_cnt - 1) names its chain.
//   M3  No key appears twice (inline slot and list together).
//   M4  Only the holder of a chain's lock writes the bucket (chain word and
//       inline slot) or any element reachable from it; an element is freed
//       only after the unlock that made it unreachable, except what a
//       recoverer frees under the lock it took over (RECOVERY: every reader
//       that reached such an element read the word before the dead writer
//       locked it, and its re-load fails).
//   M5  Every store into an element or an inline slot is a release store
//       and every reader load from one an acquire load (see READS below).
//   M6  A full inline slot has key_sz 1..8, val_sz 0..8, zero key padding,
//       and its meta's hash bits are hash(key)'s, in the chain it names.
//   M7  A chain's filter byte has the bit of every element the chain holds
//       (a superset: stale bits only cost a bucket read). Only the chain's
//       lock holder changes its byte, with atomic read-modify-writes on the
//       shared word (other chains' holders change the other bytes).
//
// READS (query_try). Linearization point: the first load of the chain word,
// validated by the re-load. Payload words are copied with acquire loads and
// written with release stores, so if a reader copies any word a writer
// stored, it synchronizes with that writer, whose lock (or, for a freed and
// reused element, whose earlier unlink) happens before the reader's re-load:
// the re-load then sees another version and the reader retries. The re-load
// itself can be relaxed because the acquire loads before it keep it in
// place. The inline slot is read the same way, before the list. No race by
// the C++ definition (DESIGN.md), and TSan stays quiet without suppressions.
// A reader may walk a freed element: allocator memory
// stays mapped, every reference is range-checked, and the walk is bounded by
// the count it read, so it never crashes or loops; the re-load rejects it.
// Wait-free (bounded by the chain length); retried by find() (lock-free
// against readers, blocking while a writer holds the chain). find(u64) runs
// the same protocol with the same orders and checks in a copy specialized
// for one-word keys and values (a find short enough for the processor to
// overlap the cache misses of consecutive finds: 2x the throughput at 1M
// keys). Its common case (the key in the inline slot of an unlocked chain)
// is one straight run of the filter load (and its branch), four loads of
// the bucket's line and the re-load, with one more branch at the end;
// anything else starts over in the full loop. The model checks it separately (models/chain_model.cc,
// u64_find_reuse_2t on the inline slot, where planted bug 23 drops the
// common case's re-load alone, u64_find_reuse_heap_2t on the list).
//
// FILTER. find() (both) first loads the chain's filter word (acquire); if
// the key's bit is clear it returns not_found, linearized at that load.
// Sound because: an insert sets the bit (relaxed fetch_or, or nothing if
// set) under the lock before its unlock, so a reader that has seen the
// unlock, or anything after it, sees the bit (the unlock's release orders
// the set before; coherence keeps later RMWs on the word from losing it).
// An erase recomputes the byte from the elements left (under the lock,
// after unlinking) and clears the rest with a release fetch_and: a reader
// that reads the cleared bit synchronizes with the eraser, so whatever it
// does next sees the chain locked or the key gone (without the release, a
// later find could see the stale unlocked word and the key in it). A
// negative answer while the erase still holds the lock linearizes the erase
// just before it: no other reader can validate the key from then on. A
// transaction's erases do not refresh the byte: ChainTxn::test() refreshes
// each changed chain from its final state while all the transaction's
// locks are held (an erase and re-insert of one key in a transaction must
// never let a find call it absent: model filter_txn_2t). A damaged chain
// keeps its filter byte as it was (never clears on doubt).
// The model checks the set (filter_publish_2t; planted bug 18 sets it
// after the unlock) and the clear (filter_erase_2t; planted bug 19 clears
// relaxed).
//
// WRITES (insert, insert_or_assign, update, erase). Blocking, up to
// kChainWaitMax attempts (or `again` at once with kChainNonBlocking).
// Linearization point: the unlock's release store. A new element goes to
// the inline slot when it fits and the slot is empty (no allocation), else
// to the head of the list; an inline element whose new value has another
// size (or no longer fits) moves to the list. A value is changed in place
// only when it is one word (at most 8 bytes) of the same size; a longer
// one, a new size, or any change with kChainMoveToFront on a key not at
// the head, makes a new element (copy on write, RECOVERY), so such an
// assign can fail with the allocator's Status::full. The lock's CAS
// is acq_rel (acquire pairs with the previous unlock's release: the new
// holder sees every element the previous one wrote; release: RECOVERY);
// the unlock's store is release (pairs with the next lock and with
// readers' loads of the word).
//
// RECOVERY (a writer process killed while it holds a chain lock). A lock
// holder keeps the chain's list in memory as it is: every change of the
// head goes into the locked word at once (set_head_locked), every other
// link change is one store into an element, and a value is written in place
// only when it is one word of the same size (anything else, and a move to
// the front, makes a new element: copy on write). A thread that waits on a locked chain past
// its pauses (lock() of a blocking writer, find(), for_each_snapshot(); not
// kChainNonBlocking writers, query_try/query_test or a transaction's
// speculative reads, which return `again`) looks, every kChainOwnerPoll
// yields, at the owner index in the locked word and the pid the owner table
// names for it. If that process is gone (kill() says so, or it is a
// zombie), it takes the lock over in three steps (take_over()): (1) a CAS
// from the word it saw to the same word with the next top version, the
// stamp left alone; (2) it reads the owner's pid and asks alive() again;
// (3) a CAS from its step-1 word to that word with its own stamp. A locked
// word keeps only the top 11 version bits, so the word seen could be a live
// holder's, equal bit for bit (the index handed to a new process, or the
// dead pid reused): step 1 does not change who holds it, and step 2, which
// sees the holder's claim once step 1's CAS read the holder's lock CAS,
// stops there; a taker killed after step 1 leaves a word whose stamp still
// names its holder. Of several takers at most one gets through step 3 (a
// step 1 of another in between makes it fail; all may fail, and retry;
// planted bug 24 does the steps with stores and the models dead_writer_2t
// and dead_index_reclaim_2t catch two recoveries). The winner repairs the
// chain (repair()): it walks the list from the head in memory, checks
// every element's tag, sizes and chain (M2) and the inline slot (M6), drops
// the older copy of a key found twice (a write killed between linking a
// new copy and unlinking the old: the inline slot's copy, or the later one
// on the list, is the old one), recounts (an inline slot the dead writer
// filled completely is kept: its meta word is an insert's last store),
// sets the filter bits of every element it kept, and goes on with a
// version no reader has seen. A reader that recovers releases the lock at
// once; a writer does its own operation first. A chain that is damaged
// beyond what a dead writer leaves is unlocked as found (the operation that
// recovered it, or recover_dead(), returns corrupt; one swept while an
// operation claimed an owner index goes unreported; verify() names it). recover_dead()
// sweeps every chain (it claims an owner index first). What a recovery
// keeps: every key the dead writer was not writing, whole; the key it was
// writing with its old value or its new one, whole (present or absent for
// an insert or an erase). A transaction's
// chains are recovered one by one (not atomic across chains); a reset()
// killed halfway leaves the chains before it emptied, the one it was on
// emptied or with its inline element alone, the rest whole. What the dead
// writer had allocated and not linked, or unlinked and not freed, its
// journal names (kJNew, kJOld; single writes, not transactions or reset(),
// whose elements leak): the recoverer of the chain, under its lock, frees
// the element the list no longer holds (settle(): only the journal of a
// dead process is settled, so no writer of it frees after the recoverer;
// each word is cleared with a CAS first, so of two recoverers one
// frees), and frees the older copies repair() drops;
// an element unlinked by a writer that died after its unlock waits in the
// journal until its owner index is claimed again (the sweep settles it
// under the chain's lock), which happens only once every index is taken
// (free ones are claimed first): until then it leaks, and recover_dead()
// settles it only through its own owner() call (a handle with no index yet
// may claim the dead one there and sweep it), never by reading another
// index's journal (it could race a new owner of the index). A taker
// marks the dead writer's entries for its chain kJTaken (bit 0) right
// after its step 3 (mark_taken()): if it dies before its repair settles
// them, the chain is recovered through the taker's index and the entries
// stay behind, naming elements the chain may still hold, or that a live
// writer may since have unlinked and be about to free. The sweep forgets
// marked entries and every kJNew one (a writer clears kJNew before its
// unlock, so one on an unlocked chain was left by such a taker), and
// frees only unmarked kJOld ones (ChainFork.KilledTakerLeavesNothingToFreeTwice;
// a taker still repairing when that sweep runs finds the entries gone,
// and an unlinked element they named leaks).
// A taker killed between its step 3 and its marks leaves a kJOld entry
// unmarked: if a live writer then erases that element, the sweep could
// free it under that writer (two kills a few instructions apart, then that
// erase and the index's reclaim: not closed, and no model covers it). An element
// allocated and killed before its journal store still leaks (one store's
// window). The journal words of a process's threads are one cache line's
// worth: threads that insert into or erase from lists contend on it. A process claims an owner index on its first
// lock (each handle keeps the answer): a free one, or one whose process is
// dead. The latter it claims with a CAS of the owner word to its own word
// marked "sweeping" (kOwnerSweeping in chain_map.cc, a pid bit no Linux pid
// has), then recovers every chain still stamped with the index (a full scan
// of the chain words, one CAS per chain: with the index naming a live
// process, no other waiter takes those chains, and a taker that found the
// holder dead before the claim either wins its step 3 or loses to ours),
// then clears the mark. A sweeper killed halfway leaves its chains stamped
// with an index whose word names a dead process: the next waiter or
// claimer recovers them (ChainFork.KilledSweeperIsSweptAgain, model
// dead_sweeper_2t). Other threads of the sweeping process wait for the mark
// to go before they lock with the index (planted bug 31 claims it unmarked:
// model sweep_sibling_2t, where the sweep takes a sibling's live lock); a
// non-blocking writer returns `again` instead; and our own mark with no
// sweep of ours running (an exec, which keeps pid and start time, or a
// sweep that threw) is adopted: swept again by the thread that meets it.
// With every index held by a live process the handle locks with owner 0,
// which nobody can recover, and asks the table again after
// kChainOwnerRetryMs. A pid is told from its reuse by the process's start time
// (an owner table word holds both; where /proc cannot be read, by the pid
// alone); a process that calls exec keeps both, so the new image is taken
// for the old one. alive() knows the processes of one pid namespace, and
// start times are read in one time namespace: every process of a map must
// share both (a pid from another reads as dead, and its live lock would be
// taken).
//
// LIMITS: keys 1..255 bytes, values 0..64 KiB, kChainCntMax elements per
// chain (an insert beyond returns Status::full), chain versions wrap after
// 2^19 writes to one chain (a reader stalled across exactly that many writes
// to its chain could accept a torn copy), allocator space <= 64 GiB.
#ifndef MAPBENCH_VARIANTS_CHAIN_CHAIN_MAP_H_
#define MAPBENCH_VARIANTS_CHAIN_CHAIN_MAP_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/alloc.h"
#include "core/status.h"
#include "core/sync.h"

namespace mb {

inline constexpr std::uint64_t kChainMagic = 0x314e49414843424dULL;  // "MBCHAIN1"
inline constexpr std::uint64_t kChainLayoutVersion = 6;  // 5: the owner word's sweeping mark; 6: the journal
inline constexpr std::uint64_t kChainKeyMax = 255;
inline constexpr std::uint64_t kChainValMax = 65536;
inline constexpr std::uint64_t kChainCntMax = 4095;
inline constexpr std::uint64_t kChainSegChains = std::uint64_t{1} << 14;  // 32-byte buckets
inline constexpr std::uint64_t kChainSegMax = 256;                        // chain_cnt <= 2^22
inline constexpr std::uint32_t kChainTagHeader = 0x43480001, kChainTagSegment = 0x43480002,
                                kChainTagElement = 0x43480003, kChainTagFilter = 0x43480004,
                                kChainTagOwners = 0x43480005;
// Owner indices a map can hand out (8 bits in a locked word; fewer when the
// allocator's largest class cannot hold the table).
inline constexpr unsigned kChainOwnerMax = 255;
// A waiter looks at a locked chain's owner after its pauses, then every this
// many yields.
inline constexpr std::uint64_t kChainOwnerPoll = 64;
// A handle that found every owner index held asks the owner table again
// after this many milliseconds (its locks meanwhile carry owner 0).
inline constexpr std::uint64_t kChainOwnerRetryMs = 1000;
// The interval in use: kChainOwnerRetryMs; a test may shorten it (before it
// starts threads) to reach a retry without waiting a second.
inline std::uint64_t g_chain_owner_retry_ms = kChainOwnerRetryMs;
inline constexpr unsigned kChainNonBlocking = 1;  // writers return Status::again instead of waiting
inline constexpr unsigned kChainMoveToFront = 2;  // a write that finds its key moves it to the chain's head
// Use the caller's `hash` instead of hashing. Precondition: it is hash(key);
// any other value files the element under a wrong chain (verify() reports it).
inline constexpr unsigned kChainHashHint = 4;
// Waiting is bounded: after this many attempts on a chain that stays locked
// (a writer that died and cannot be recovered, see RECOVERY, or a damaged
// word) blocking calls and find() return Status::again instead of waiting
// forever (seconds, with yields).
inline constexpr std::uint64_t kChainWaitMax = std::uint64_t{1} << 22;

struct Bytes {
  const void* data;
  std::uint64_t size;
};

class ChainMap {
 public:
  // A speculative query's ticket: the chain and the word it saw.
  struct Query {
    std::uint64_t chain_idx = 0;
    std::uint64_t word = 0;
  };

  ChainMap() = default;

  // Create a map sized for about `ele_expected` elements (chain_cnt = the
  // power of two >= ele_expected, at most 2^22, less with allocator volumes
  // under 4 MiB: 256 segments of what its largest class holds) in `a`;
  // *map_off receives the header
  // offset (store it where peers find it, e.g. Region::root_off()).
  static Status create(Allocator& a, std::uint64_t ele_expected, std::uint64_t seed,
                       std::uint64_t* map_off, std::string* why = nullptr);
  // Join the map whose header is at map_off; nothing is written.
  static Status join(Allocator& a, std::uint64_t map_off, ChainMap* out,
                     std::string* why = nullptr);
  // Free every element, segment and the header (quiescent map only).
  // Status::corrupt, with nothing freed, when a chain's list does not match
  // its chain word (damage, or the half-done insert or erase of a writer
  // that died: recover_dead() first).
  Status destroy();

  std::uint64_t hash(Bytes key) const;
  std::uint64_t chain_cnt() const { return chain_cnt_; }

  // Byte-string operations. With kChainHashHint in flags, `hash` must be
  // hash(key) (computed once by the caller, e.g. to prefetch); otherwise it
  // is ignored.
  Status insert(Bytes key, Bytes val, unsigned flags = 0, std::uint64_t hash = 0);  // exists if present
  Status insert_or_assign(Bytes key, Bytes val, unsigned flags = 0, std::uint64_t hash = 0);
  // As above; *created says whether the key was absent (the harness counts
  // the map's expected size with it).
  Status insert_or_assign(Bytes key, Bytes val, bool* created, unsigned flags = 0, std::uint64_t hash = 0);
  Status update(Bytes key, Bytes val, unsigned flags = 0, std::uint64_t hash = 0);  // not_found if absent
  Status erase(Bytes key, unsigned flags = 0, std::uint64_t hash = 0);              // not_found if absent
  // Copy the value into buf (cap bytes); *val_sz receives its size.
  // Status::invalid (with *val_sz set) when cap is too small.
  Status find(Bytes key, void* buf, std::uint64_t cap, std::uint64_t* val_sz) const;
  // One speculative attempt: Status::again when the chain was locked or
  // changed meanwhile (nothing copied is to be trusted then).
  Status query_try(Bytes key, std::uint64_t hash, void* buf, std::uint64_t cap,
                   std::uint64_t* val_sz, Query* q) const;
  // ok while the chain q names is unchanged since query_try, else again.
  Status query_test(const Query& q) const;
  // Bring the chain word for `hash` into cache ahead of a query or write.
  void prefetch(std::uint64_t hash) const { __builtin_prefetch(chain(hash & (chain_cnt_ - 1)).address_hint(base_)); }
  // Bytes per chain (a bucket: the chain word and the inline slot).
  static constexpr std::uint64_t kBucketBytes = 32;
  // The chain word's lock bit (version bit 0, LAYOUT).
  static constexpr std::uint64_t kWordLockBit = std::uint64_t{1} << 44;

  // Iteration. `visit(ctx, key, val)` is called for each element.
  using Visit = void (*)(void* ctx, Bytes key, Bytes val);
  // Lock-free snapshot walk: each chain is copied speculatively and retried
  // until it validates, then visited (each chain is consistent on its own;
  // chains are visited at different moments).
  Status for_each_snapshot(Visit visit, void* ctx) const;
  // Locked walk of chains [lo, hi): all locks are taken first, ascending (the
  // acquisition order), all or nothing (Status::again with kChainNonBlocking
  // when one is busy), then every element is visited, then all are released:
  // a consistent view of that range.
  Status for_each_locked(std::uint64_t lo, std::uint64_t hi, unsigned flags, Visit visit, void* ctx) const;

  // Remove every element (chain by chain, each under its lock).
  // Status::corrupt at a chain whose list is damaged: that chain and those
  // after it are left as they are, the chains before it are empty.
  Status reset();

  // Counters shared by every join of this map (relaxed; for the harness).
  struct Stats {
    std::uint64_t query_again;  // speculative reads that had to retry
    std::uint64_t lock_busy;    // lock attempts that found the chain locked
    std::uint64_t recoveries;   // chain locks taken over from dead processes
  };
  Stats stats() const;
  // Recover every chain whose lock holder's process is dead (RECOVERY);
  // returns how many this call recovered. Status::corrupt in *worst when a
  // recovered chain was damaged beyond what a dead writer leaves (it is
  // unlocked as found; verify() names it).
  std::uint64_t recover_dead(Status* worst = nullptr) const;

  // u64 -> u64 (the map concept, core/map_concept.h).
  Status insert(std::uint64_t k, std::uint64_t v) { return insert(as_bytes(k), as_bytes(v)); }
  Status insert_or_assign(std::uint64_t k, std::uint64_t v) { return insert_or_assign(as_bytes(k), as_bytes(v)); }
  Status insert_or_assign(std::uint64_t k, std::uint64_t v, bool* created) {
    return insert_or_assign(as_bytes(k), as_bytes(v), created);
  }
  Status update(std::uint64_t k, std::uint64_t v) { return update(as_bytes(k), as_bytes(v)); }
  Status erase(std::uint64_t k) { return erase(as_bytes(k)); }
  Status find(std::uint64_t k, std::uint64_t* v) const;

  // Elements (sum of chain counts; exact on a quiescent map).
  std::uint64_t size() const;
  // Check M1..M7 (quiescent map only); Status::corrupt with a message.
  Status verify(std::string* why) const;
  Status verify() const { return verify(nullptr); }

 private:
  static Bytes as_bytes(const std::uint64_t& v) { return Bytes{&v, 8}; }
  std::uint64_t hash_of(Bytes key) const;  // precondition: key.size <= kChainKeyMax
  const void* base_at(std::uint64_t off) const { return static_cast<const char*>(base_) + off; }
  std::uint64_t bucket(std::uint64_t idx) const {
    return seg_off_[idx >> seg_shift_] + kBucketBytes * (idx & ((std::uint64_t{1} << seg_shift_) - 1));
  }
  sync::Ref<std::uint64_t> chain(std::uint64_t idx) const { return sync::word(base_, bucket(idx)); }
  // The filter word holding chain idx's byte, and hash h's bit in it.
  sync::Ref<std::uint64_t> filter(std::uint64_t idx) const {
    return sync::word(base_, flt_off_[idx >> seg_shift_] + ((idx & ((std::uint64_t{1} << seg_shift_) - 1)) >> 3) * 8);
  }
  static std::uint64_t filter_bit(std::uint64_t idx, std::uint64_t h) {
    return std::uint64_t{1} << (8 * (idx & 7) + (h >> 61));
  }
  // Under the lock: set h's bit (an element is being added), or recompute
  // chain idx's byte from the elements in the (locked, new) word w.
  void filter_add(std::uint64_t idx, std::uint64_t h) const;
  // A find's first look: true when chain idx's byte has no bit for h (the
  // key is absent; FILTER).
  bool filter_absent(std::uint64_t idx, std::uint64_t h) const {
    // ORDER: acquire pairs with an erase's release clear (FILTER).
    return !(filter(idx).load_acquire() & filter_bit(idx, h));
  }
  void filter_refresh(std::uint64_t idx, std::uint64_t w) const;
  // *stamped (if given): the owner index the lock is stamped with.
  Status lock(std::uint64_t idx, unsigned flags, std::uint64_t* word, unsigned* stamped = nullptr) const;
  Status lock_as(std::uint64_t idx, unsigned flags, unsigned me, std::uint64_t* word) const;
  Status lock_owner(unsigned flags, unsigned* me) const;  // the index lock() would stamp with
  // RECOVERY. This process's owner index (claimed on first use; 0 when none
  // is free), the word of owner index i (0: recoveries), one wait step of a
  // thread that saw a chain's word w for `spins` attempts (true: time to
  // look at its holder), and the takeover of chain idx locked at `seen` by
  // a dead process (true: this thread holds it now, stamped with owner
  // index me; *word: the repaired locked word, *s: ok or corrupt).
  // owner() and claim_owner() may recover a dead process's chains (to
  // claim its index): *swept counts them, *worst is corrupt if one was.
  // may_wait = false: kOwnerBusy instead of waiting for a sweep that
  // another thread of this process runs (a non-blocking writer's lock).
  unsigned owner(std::uint64_t* swept = nullptr, Status* worst = nullptr, bool may_wait = true) const;
  unsigned claim_owner(std::uint64_t me, std::uint64_t* swept, Status* worst, bool may_wait) const;
  void sweep(unsigned i, std::uint64_t* swept, Status* worst) const;
  void recover_chain(std::uint64_t idx, unsigned me, std::uint64_t* n, Status* worst) const;
  // The owner table word of the process whose index locked word w carries
  // (0: none recorded, or out of range).
  std::uint64_t holder_of(std::uint64_t w) const;
  sync::Ref<std::uint64_t> owner_word(unsigned i) const { return sync::word(base_, own_off_ + 8 * i); }
  bool wait_step(std::uint64_t w, std::uint64_t spins) const;
  bool take_over(std::uint64_t idx, std::uint64_t seen, unsigned me, std::uint64_t* word, Status* s) const;
  static constexpr unsigned kOwnerLazy = 0x100;  // take_over's me: owner(), once the holder is found dead
  static constexpr unsigned kOwnerBusy = 0x200;  // owner(may_wait = false): a sweep of ours runs
  Status repair(std::uint64_t idx, std::uint64_t seen, unsigned dead_owner, std::uint64_t* word) const;
  // The writer's journal (RECOVERY): owner index i's word `slot` (kJNew, kJOld).
  static constexpr unsigned kJNew = 0, kJOld = 1;
  // A journal word's low bit (elements are 16-aligned): the entry's chain
  // was taken over from its dead writer, whose taker settles it (mark_taken).
  static constexpr std::uint64_t kJTaken = 1;
  sync::Ref<std::uint64_t> jword(unsigned i, unsigned slot) const {
    return sync::word(base_, own_off_ + 8 * (own_cnt_ + 1 + 2 * (i - 1) + slot));
  }
  void journal(unsigned jo, unsigned slot, std::uint64_t e) const;
  void unjournal(unsigned jo, unsigned slot, std::uint64_t e) const;
  void free_dead(unsigned jo, std::uint64_t e) const;
  void settle(unsigned o, std::uint64_t idx, const std::vector<std::uint64_t>& kept,
              const std::vector<std::uint64_t>& dropped) const;
  bool element_of_chain(std::uint64_t e, std::uint64_t idx) const;
  bool element_object(std::uint64_t e, std::uint64_t w0) const;
  bool chain_elements(std::uint64_t idx, std::uint64_t w, std::uint64_t* out, std::uint64_t* n) const;
  void mark_taken(unsigned o, std::uint64_t idx) const;
  // A reader's wait step: recovers (and unlocks at once) a dead holder's chain.
  void reader_wait(std::uint64_t idx, std::uint64_t w, std::uint64_t spins) const;
  void unlock(std::uint64_t idx, std::uint64_t locked, std::uint64_t head_ref, std::uint64_t cnt) const;
  void unlock_unchanged(std::uint64_t idx, std::uint64_t locked) const;
  bool ele_ok(std::uint64_t ele) const;
  // Under the lock: where `key` is. *ele = its element (0: absent), or its
  // bucket with *inl set; *prev = the list element before it (0: none).
  Status locate(std::uint64_t word, std::uint64_t h, Bytes key, std::uint64_t* prev,
                std::uint64_t* ele, bool* inl) const;
  void write_inline(std::uint64_t b, std::uint64_t h, Bytes key, Bytes val) const;
  void set_head_locked(std::uint64_t idx, std::uint64_t head_ref) const;
  Status make_element(Bytes key, Bytes val, std::uint64_t h, std::uint64_t next, std::uint64_t* ele);
  void write_value(std::uint64_t ele, std::uint64_t key_sz, Bytes val) const;
  enum class Put { insert, assign, update };
  Status put(Bytes key, Bytes val, unsigned flags, Put mode, std::uint64_t hash, bool* created = nullptr);
  // jo: the owner index whose journal records the elements the write makes
  // and unlinks (RECOVERY); 0 (transactions): none.
  Status put_locked(std::uint64_t* w, Bytes key, Bytes val, std::uint64_t h, Put mode, std::uint64_t* dead,
                    bool move_to_front = false, unsigned jo = 0);
  // refresh = false (transactions): the filter is refreshed by the caller
  // once the chain's final state is known, before its unlock (ChainTxn::test).
  Status erase_locked(std::uint64_t* w, Bytes key, std::uint64_t h, std::uint64_t* dead, bool refresh = true,
                      unsigned jo = 0);
  void finish(std::uint64_t idx, std::uint64_t before, std::uint64_t after, Status s) const;
  Status find_general(std::uint64_t k, std::uint64_t* v) const;
  Status find_u64_slow(std::uint64_t k, std::uint64_t h, std::uint64_t* v) const;
  Status find_list(std::uint64_t w, std::uint64_t m, std::uint64_t h, std::uint64_t k, std::uint64_t* x,
                   bool* general) const;
  Status copy_value(std::uint64_t ele, bool inl, std::uint64_t key_sz, void* buf, std::uint64_t cap,
                    std::uint64_t* val_sz) const;
  friend class ChainTxn;

  Allocator* a_ = nullptr;
  void* base_ = nullptr;
  std::uint64_t hdr_off_ = 0;
  std::uint64_t chain_cnt_ = 0;
  std::uint64_t seed_ = 0;
  std::uint64_t hash8_ = 0;  // mix64(seed_ ^ 8): the hash of any 8-byte key starts from it
  std::uint64_t seg_cnt_ = 0;
  unsigned seg_shift_ = 0;  // log2(buckets per segment)
  std::uint64_t own_off_ = 0;  // the owner table
  unsigned own_cnt_ = 0;
#if !(defined(MB_SYNC_MODEL) && MB_SYNC_MODEL)  // (a model asks the table every time)
  // owner()'s answer for this process (pid << 32 | index), per handle.
  struct OwnerCache {
    OwnerCache() = default;
    OwnerCache(const OwnerCache&) {}
    OwnerCache& operator=(const OwnerCache&) {
      a.store(0, std::memory_order_relaxed);
      retry_ms.store(0, std::memory_order_relaxed);
      return *this;
    }
    mutable std::atomic<std::uint64_t> a{0};
    mutable std::atomic<std::uint64_t> retry_ms{0};  // index 0: when to ask again (rw_os::now_ms)
  };
  OwnerCache owner_cache_;
#endif
  std::uint64_t seg_off_[kChainSegMax] = {};
  std::uint64_t flt_off_[kChainSegMax] = {};
};

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_CHAIN_CHAIN_MAP_H_
