// ChainTxn: see chain_txn.h. Locking, unlocking and every memory order are
// ChainMap's own (chain_map.h); this file only orders and groups them.
#include "variants/chain/chain_txn.h"

#include <algorithm>

// Planted bugs (models only, see models/BUILD): 7 locks in the order the keys
// were added instead of the canonical one; 8 publishes an in-place change
// without a new version; 20 lets an erase clear its filter bit at once
// instead of in test(); 49 skips test()'s check of the speculative chains.
#ifndef MB_PLANT_BUG
#define MB_PLANT_BUG 0
#endif

namespace mb {

Status ChainTxn::add(Bytes key, bool lock) {
  if (locked_ || key.size == 0 || key.size > kChainKeyMax) return Status::invalid;
  if (done_) {  // reused after test(): a new set of keys
    rec_cnt_ = 0;
    done_ = false;
  }
  std::uint64_t idx = m_->hash(key) & (m_->chain_cnt_ - 1);
  for (unsigned i = 0; i < rec_cnt_; ++i)
    if (rec_[i].idx == idx) {
      rec_[i].lock |= lock;  // one chain, one record: locking wins
      return Status::ok;
    }
  if (rec_cnt_ == kKeyMax) return Status::invalid;
  rec_[rec_cnt_++] = Rec{idx, 0, 0, lock, false};
  return Status::ok;
}

Status ChainTxn::try_lock(unsigned flags) {
  if (locked_) return Status::invalid;
#if MB_PLANT_BUG == 7
  // BUG: locked chains first, but in the order their keys were added.
  std::stable_partition(rec_, rec_ + rec_cnt_, [](const Rec& r) { return r.lock; });
#else
  // Canonical order: locked chains first, ascending.
  std::sort(rec_, rec_ + rec_cnt_, [](const Rec& a, const Rec& b) {
    return a.lock != b.lock ? a.lock : a.idx < b.idx;
  });
#endif
  lock_cnt_ = 0;
  unsigned me = 0;  // the owner index, asked once before the first lock (ChainMap::lock_owner)
  if (rec_cnt_ != 0 && rec_[0].lock) {
    if (Status s = m_->lock_owner(flags, &me); s != Status::ok) return s;
  }
  for (unsigned i = 0; i < rec_cnt_ && rec_[i].lock; ++i) {
    Status s = m_->lock_as(rec_[i].idx, flags, me, &rec_[i].seen);
    if (s != Status::ok) {  // all or nothing
      for (unsigned j = 0; j < lock_cnt_; ++j) m_->unlock_unchanged(rec_[j].idx, rec_[j].seen);
      lock_cnt_ = 0;
      return s;
    }
    rec_[i].word = rec_[i].seen;
    ++lock_cnt_;
  }
  for (unsigned i = lock_cnt_; i < rec_cnt_; ++i) {
    // ORDER: acquire, as a reader's first load of the word (query_try).
    std::uint64_t w = m_->chain(rec_[i].idx).load_acquire();
    rec_[i].seen = w;
  }
  locked_ = true;
  dead_cnt_ = 0;
  return Status::ok;
}

ChainTxn::Rec* ChainTxn::rec_for(std::uint64_t h, bool need_lock) {
  std::uint64_t idx = h & (m_->chain_cnt_ - 1);
  for (unsigned i = 0; i < rec_cnt_; ++i)
    if (rec_[i].idx == idx) return need_lock && !rec_[i].lock ? nullptr : &rec_[i];
  return nullptr;
}

Status ChainTxn::put(Bytes key, Bytes val, ChainMap::Put mode) {
  if (!locked_ || key.size == 0 || key.size > kChainKeyMax || val.size > kChainValMax) return Status::invalid;
  std::uint64_t h = m_->hash(key), dead = 0;
  Rec* r = rec_for(h, true);
  if (r == nullptr) return Status::invalid;  // the key's chain is not locked by us
  if (dead_cnt_ == kKeyMax * 2) return Status::full;  // too many replacements in one transaction
  Status s = m_->put_locked(&r->word, key, val, h, mode, &dead);
  if (dead != 0) dead_[dead_cnt_++] = dead;
  r->dirty |= s == Status::ok;  // in-place changes keep head and count: still a change
  return s;
}

Status ChainTxn::insert(Bytes key, Bytes val) { return put(key, val, ChainMap::Put::insert); }
Status ChainTxn::insert_or_assign(Bytes key, Bytes val) { return put(key, val, ChainMap::Put::assign); }
Status ChainTxn::update(Bytes key, Bytes val) { return put(key, val, ChainMap::Put::update); }

Status ChainTxn::erase(Bytes key) {
  if (!locked_ || key.size == 0 || key.size > kChainKeyMax) return Status::invalid;
  std::uint64_t h = m_->hash(key), dead = 0;
  Rec* r = rec_for(h, true);
  if (r == nullptr) return Status::invalid;
  if (dead_cnt_ == kKeyMax * 2) return Status::full;
  // The filter is refreshed in test(): clearing a bit now would let a find
  // call the key absent while a later insert of this transaction brings it
  // back (the key present before and after).
  Status s = m_->erase_locked(&r->word, key, h, &dead, MB_PLANT_BUG == 20);  // bug 20: clears at once
  if (dead != 0) dead_[dead_cnt_++] = dead;
  r->dirty |= s == Status::ok;
  return s;
}

Status ChainTxn::find(Bytes key, void* buf, std::uint64_t cap, std::uint64_t* val_sz) {
  if (!locked_ || key.size == 0 || key.size > kChainKeyMax) return Status::invalid;
  std::uint64_t h = m_->hash(key);
  Rec* r = rec_for(h, false);
  if (r == nullptr) return Status::invalid;
  if (!r->lock) {  // speculative: as of the version seen at try_lock
    ChainMap::Query q;
    Status s = m_->query_try(key, h, buf, cap, val_sz, &q);
    return s == Status::again || q.word != r->seen ? Status::again : s;
  }
  // Locked by us: walk our own (possibly changed) chain; values are stable.
  std::uint64_t prev = 0, e = 0;
  bool inl = false;
  Status s = m_->locate(r->word, h, key, &prev, &e, &inl);
  if (s != Status::ok) return s;
  if (e == 0) return Status::not_found;
  return m_->copy_value(e, inl, key.size, buf, cap, val_sz);
}

Status ChainTxn::find(std::uint64_t k, std::uint64_t* v) {
  std::uint64_t sz = 0;
  Status s = find(Bytes{&k, 8}, v, 8, &sz);
  return s == Status::ok && sz != 8 ? Status::invalid : s;
}

Status ChainTxn::modify_try(Bytes key, unsigned flags) {
  Status s = add(key, true);
  if (s == Status::ok) s = try_lock(flags);
  if (s != Status::ok) {
    done_ = true;  // one key: the next add() starts afresh, without this one
    return s;
  }
  std::uint64_t prev = 0, e = 0, h = m_->hash(key);
  bool inl = false;
  s = m_->locate(rec_for(h, true)->word, h, key, &prev, &e, &inl);
  if (s == Status::ok && e == 0) s = Status::not_found;
  if (s != Status::ok) test();
  return s;
}

Status ChainTxn::test() {
  if (!locked_) return Status::invalid;
  bool valid = true;
#if MB_PLANT_BUG == 49
  // BUG: speculative chains are not validated (model txn_speculative_2t).
  for (unsigned i = rec_cnt_; i < rec_cnt_; ++i)
#else
  for (unsigned i = lock_cnt_; i < rec_cnt_; ++i)
#endif
    // ORDER: acquire, as query_test. A chain some writer held at try_lock
    // validates nothing (its finds said again; the word may be the same
    // locked word again).
    valid = valid && !(rec_[i].seen & ChainMap::kWordLockBit) &&
            m_->chain(rec_[i].idx).load_acquire() == rec_[i].seen;
  // Every changed chain's filter from its final state, while all the locks
  // are held (a find told `absent` here sees the transaction's outcome).
  for (unsigned i = 0; i < lock_cnt_; ++i)
    if (rec_[i].dirty) m_->filter_refresh(rec_[i].idx, rec_[i].word);
  for (unsigned i = 0; i < lock_cnt_; ++i) {
    // A new version for every changed chain, in place or not (readers that
    // copied while we wrote must fail their re-check; M4 for what we free).
#if MB_PLANT_BUG == 8
    bool changed = rec_[i].word != rec_[i].seen;  // BUG: in-place changes publish no version
#else
    bool changed = rec_[i].dirty;
#endif
    if (!changed) m_->unlock_unchanged(rec_[i].idx, rec_[i].seen);
    else m_->unlock(rec_[i].idx, rec_[i].seen, rec_[i].word & 0xffffffffu, (rec_[i].word >> 32) & kChainCntMax);
    rec_[i].dirty = false;
  }
  for (unsigned i = 0; i < dead_cnt_; ++i) m_->a_->free(dead_[i]);  // unreachable since the unlocks (M4)
  locked_ = false;
  done_ = true;
  lock_cnt_ = 0;
  dead_cnt_ = 0;
  return valid ? Status::ok : Status::again;
}

}  // namespace mb
