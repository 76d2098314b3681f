// ChainTxn: transactions over several keys of one ChainMap.
//
// Keys are added as locked (to be written, or read stably) or speculative
// (read only, validated at the end). try_lock() takes the lock of every
// chain holding a locked key, all or nothing, in ascending chain order (a
// canonical order: two transactions can never wait for each other in a
// cycle, so blocking callers cannot deadlock; non-blocking callers release
// everything and get Status::again on the first busy chain). A ChainTxn may
// be reused after test(): add() starts a new set of keys. Inside, insert /
// insert_or_assign / update / erase / find work on locked keys, and find also
// on speculative ones. test() validates the speculative chains (unchanged
// since try_lock), then unlocks the locked ones, publishing their changes
// with one new version each, and frees what they unlinked.
//
// Linearization point: the filter refresh in test() for a transaction that
// erased a key (a find may see the key absent from then on, all locks still
// held), else the first unlock in test(); provided every read the writes
// depend on was of a locked key: writes are applied in place while the
// locks are held, so when test() returns Status::again (a speculative chain
// changed) they have still happened. Keep speculative keys for reads that
// only need to be consistent with each other, and retry the transaction.
#ifndef MAPBENCH_VARIANTS_CHAIN_CHAIN_TXN_H_
#define MAPBENCH_VARIANTS_CHAIN_CHAIN_TXN_H_

#include <cstdint>

#include "core/status.h"
#include "variants/chain/chain_map.h"

namespace mb {

class ChainTxn {
 public:
  static constexpr unsigned kKeyMax = 16;

  explicit ChainTxn(ChainMap& m) : m_(&m) {}
  ~ChainTxn() {
    if (locked_) test();
  }
  ChainTxn(const ChainTxn&) = delete;
  ChainTxn& operator=(const ChainTxn&) = delete;

  // Before try_lock(): Status::invalid when full or after try_lock.
  Status add(Bytes key, bool lock);
  Status add(std::uint64_t key, bool lock) { return add(Bytes{&key, 8}, lock); }
  Status try_lock(unsigned flags = 0);

  // Writes on locked keys. A transaction holds at most 2 * kKeyMax elements
  // to free at test() (one for each erase from the list, and for each
  // write that replaces a list element: a value of another size or over 8
  // bytes): past that, writes return Status::full, and the transaction's
  // earlier writes stay applied.
  Status insert(Bytes key, Bytes val);
  Status insert_or_assign(Bytes key, Bytes val);
  Status update(Bytes key, Bytes val);
  Status erase(Bytes key);
  Status find(Bytes key, void* buf, std::uint64_t cap, std::uint64_t* val_sz);
  Status find(std::uint64_t k, std::uint64_t* v);
  Status insert_or_assign(std::uint64_t k, std::uint64_t v) { return insert_or_assign(Bytes{&k, 8}, Bytes{&v, 8}); }

  Status test();

  // modify_try / modify_test: one locked key. modify_try locks the key's
  // chain and finds the key (Status::not_found, lock released, when absent);
  // the caller then reads and changes it with find / update / erase, and
  // modify_test publishes the change (one new version) and releases the lock.
  Status modify_try(Bytes key, unsigned flags = 0);
  Status modify_test() { return test(); }

  // The chains try_lock locked, in the order it locked them (for the harness
  // and the tests).
  unsigned locked_cnt() const { return lock_cnt_; }
  std::uint64_t locked_chain(unsigned i) const { return rec_[i].idx; }

 private:
  struct Rec {
    std::uint64_t idx;
    std::uint64_t seen;   // the word at try_lock: locked word, or the speculative version
    std::uint64_t word;   // locked chains: the word with this transaction's changes
    bool lock;
    bool dirty;           // changed (even in place): test() must publish a new version
  };

  Rec* rec_for(std::uint64_t h, bool need_lock);
  Status put(Bytes key, Bytes val, ChainMap::Put mode);

  ChainMap* m_;
  Rec rec_[kKeyMax];
  unsigned rec_cnt_ = 0;
  unsigned lock_cnt_ = 0;  // rec_[0 .. lock_cnt_) are the locked chains, ascending
  bool locked_ = false;
  bool done_ = false;  // test() ran: the next add() starts afresh
  std::uint64_t dead_[kKeyMax * 2];
  unsigned dead_cnt_ = 0;
};

}  // namespace mb

#endif  // MAPBENCH_VARIANTS_CHAIN_CHAIN_TXN_H_
