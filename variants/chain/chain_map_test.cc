#include "variants/chain/chain_map.h"
#include "variants/chain/chain_txn.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "models/map_conformance.h"
#include "variants/chain/chain_testing.h"
#include "variants/rwlock/internal/rw_os.h"

namespace mb {
namespace {

// A fresh chain map in an anonymous region.
struct ChainHarness : AnonChain {
  using Map = ChainMap;
  explicit ChainHarness(std::uint64_t ele_expected = 1024) : AnonChain(ele_expected) {
    EXPECT_EQ(s, Status::ok) << why;
  }
  ChainMap& map() { return m; }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Chain, MapConformance, ::testing::Types<ChainHarness>);

Bytes str(const std::string& s) { return Bytes{s.data(), s.size()}; }
// A u64 as a Bytes that lives as long as the full expression.
struct as_u64 {
  explicit as_u64(std::uint64_t x) : v(x) {}
  operator Bytes() const { return Bytes{&v, 8}; }
  std::uint64_t v;
};

TEST(ChainMap, InsertOrAssignSaysWhetherItCreated) {
  ChainHarness h;
  bool created = false;
  EXPECT_EQ(h.m.insert_or_assign(7, 70, &created), Status::ok);
  EXPECT_TRUE(created);
  EXPECT_EQ(h.m.insert_or_assign(7, 71, &created), Status::ok);
  EXPECT_FALSE(created);
  EXPECT_EQ(h.m.insert_or_assign(str("k"), str("a longer value"), &created), Status::ok);
  EXPECT_TRUE(created);
  EXPECT_EQ(h.m.insert_or_assign(str("k"), str("v"), &created), Status::ok);  // replaced element
  EXPECT_FALSE(created);
  EXPECT_EQ(h.m.size(), 2u);
}

// find(u64) is its own copy of the read protocol: it must agree with the
// general find on every key, whatever the value's size.
TEST(ChainMap, U64FindAgreesWithTheGeneralFind) {
  ChainHarness h(4);  // 4 chains: chains of several elements
  ChainMap& m = h.m;
  std::uint64_t v = 0, sz = 0, buf[4] = {};
  for (std::uint64_t k = 0; k < 64; ++k) ASSERT_EQ(m.insert(k, k * 3 + 1), Status::ok);
  std::uint64_t two[2] = {5, 6};
  ASSERT_EQ(m.insert(as_u64(100), Bytes{two, 16}), Status::ok);  // a 16-byte value
  ASSERT_EQ(m.insert(as_u64(101), str("abc")), Status::ok);        // a 3-byte value
  ASSERT_EQ(m.insert(str("eight by"), as_u64(77)), Status::ok);    // an 8-byte string key
  std::uint64_t eight = 0;
  std::memcpy(&eight, "eight by", 8);
  std::uint64_t hinted = 1u << 20;  // inserted with the caller's hash
  ASSERT_EQ(m.insert(as_u64(hinted), as_u64(9), kChainHashHint, m.hash(as_u64(hinted))), Status::ok);
  for (std::uint64_t k = 0; k < 200; ++k) {
    Status general = m.find(as_u64(k), buf, sizeof buf, &sz);
    Status fast = m.find(k, &v);
    if (general == Status::ok && sz != 8) general = Status::invalid;
    EXPECT_EQ(fast, general) << k;
    if (fast == Status::ok) { EXPECT_EQ(v, buf[0]) << k; }
  }
  EXPECT_EQ(m.find(100, &v), Status::invalid);  // present, but not a u64 value
  EXPECT_EQ(m.find(101, &v), Status::invalid);
  ASSERT_EQ(m.find(eight, &v), Status::ok);     // the same key as the string
  EXPECT_EQ(v, 77u);
  ASSERT_EQ(m.find(hinted, &v), Status::ok);
  EXPECT_EQ(v, 9u);
  EXPECT_EQ(m.find(12345, &v), Status::not_found);
}

TEST(ChainMap, ByteStringsOfEverySize) {
  ChainHarness h;
  ChainMap& m = h.m;
  std::string big(kChainValMax, 'v'), key255(255, 'k');
  big[12345] = 'x';
  EXPECT_EQ(m.insert(str("a"), str("")), Status::ok);
  EXPECT_EQ(m.insert(str(key255), str(big)), Status::ok);
  EXPECT_EQ(m.insert(str("medium key"), str("medium value")), Status::ok);
  std::vector<char> buf(kChainValMax);
  std::uint64_t sz = 99;
  ASSERT_EQ(m.find(str("a"), buf.data(), buf.size(), &sz), Status::ok);
  EXPECT_EQ(sz, 0u);
  ASSERT_EQ(m.find(str(key255), buf.data(), buf.size(), &sz), Status::ok);
  EXPECT_EQ(std::string(buf.data(), sz), big);
  EXPECT_EQ(m.find(str(key255), buf.data(), 100, &sz), Status::invalid);  // buffer too small
  EXPECT_EQ(sz, kChainValMax);
  // A value of another size replaces the element; the same size overwrites.
  EXPECT_EQ(m.insert_or_assign(str("medium key"), str("v2")), Status::ok);
  ASSERT_EQ(m.find(str("medium key"), buf.data(), buf.size(), &sz), Status::ok);
  EXPECT_EQ(std::string(buf.data(), sz), "v2");
  EXPECT_EQ(m.update(str("medium key"), str("v3")), Status::ok);
  ASSERT_EQ(m.find(str("medium key"), buf.data(), buf.size(), &sz), Status::ok);
  EXPECT_EQ(std::string(buf.data(), sz), "v3");
  // Bad sizes.
  EXPECT_EQ(m.insert(str(""), str("x")), Status::invalid);
  EXPECT_EQ(m.insert(str(std::string(256, 'k')), str("x")), Status::invalid);
  EXPECT_EQ(m.insert(str("k"), str(std::string(kChainValMax + 1, 'v'))), Status::invalid);
  EXPECT_EQ(m.size(), 3u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(ChainMap, SpeculativeQueryAndTest) {
  ChainHarness h(1);  // one chain: every key shares it
  ChainMap& m = h.m;
  ASSERT_EQ(m.chain_cnt(), 1u);
  ASSERT_EQ(m.insert(1, 100), Status::ok);
  std::uint64_t k = 1, v = 0, sz = 0;
  ChainMap::Query q;
  ASSERT_EQ(m.query_try(Bytes{&k, 8}, m.hash(Bytes{&k, 8}), &v, 8, &sz, &q), Status::ok);
  EXPECT_EQ(v, 100u);
  EXPECT_EQ(m.query_test(q), Status::ok);
  ASSERT_EQ(m.insert(2, 200), Status::ok);  // same chain: the ticket goes stale
  EXPECT_EQ(m.query_test(q), Status::again);
  std::uint64_t missing = 7;
  EXPECT_EQ(m.query_try(Bytes{&missing, 8}, m.hash(Bytes{&missing, 8}), &v, 8, &sz, &q), Status::not_found);
  EXPECT_EQ(m.query_test(q), Status::ok);
}

TEST(ChainMap, LockedChainGivesAgainToNonBlockingCallers) {
  ChainHarness h(1);
  ChainMap& m = h.m;
  ASSERT_EQ(m.insert(1, 100), Status::ok);
  std::uint64_t seg = h.a.at<std::uint64_t>(h.off)[10];  // segment 0 (header word 10)
  std::uint64_t& word = *h.a.at<std::uint64_t>(seg);
  word |= std::uint64_t{1} << 44;  // as if a writer held the lock
  std::uint64_t k = 1, v = 0, sz = 0;
  EXPECT_EQ(m.query_try(Bytes{&k, 8}, m.hash(Bytes{&k, 8}), &v, 8, &sz, nullptr), Status::again);
  EXPECT_EQ(m.insert(Bytes{&k, 8}, Bytes{&v, 8}, kChainNonBlocking), Status::again);
  EXPECT_EQ(m.erase(Bytes{&k, 8}, kChainNonBlocking), Status::again);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("locked"), std::string::npos) << why;
  word &= ~(std::uint64_t{1} << 44);
  EXPECT_EQ(m.find(1, &v), Status::ok);
  EXPECT_EQ(m.verify(), Status::ok);
}

// reset() and destroy() free the elements they walk: a damaged link (into
// another map's header or element, or a cycle) is refused with corrupt
// before anything of that chain is freed. The old code freed the other map's
// header (reset() then said ok), and destroy() returned corrupt with half
// the map freed.
TEST(ChainMap, ResetAndDestroyFreeOnlyTheirOwnElements) {
  ChainHarness h(1);  // one chain
  ChainMap& m = h.m;
  std::uint64_t off2 = 0, v = 0;
  ChainMap other;
  ASSERT_EQ(ChainMap::create(h.a, 1, 7, &off2), Status::ok);  // one chain, another seed
  ASSERT_EQ(ChainMap::join(h.a, off2, &other), Status::ok);
  for (std::uint64_t k = 0; k < 5; ++k) {
    ASSERT_EQ(m.insert(k, k * 10), Status::ok);  // key 0 inline, 1..4 on the list
    ASSERT_EQ(other.insert(k, k + 100), Status::ok);
  }
  auto intact = [&](ChainMap& x, std::uint64_t add, std::uint64_t mul) {
    for (std::uint64_t k = 0; k < 5; ++k)
      if (x.find(k, &v) != Status::ok || v != k * mul + add) return false;
    return x.verify() == Status::ok;
  };
  AllocStats st;
  std::string why;
  ASSERT_EQ(h.a.verify(&st, &why), Status::ok) << why;
  const std::uint64_t objects = st.obj_cnt;
  // The elements of a one-chain map's list, head first.
  auto list_of = [&](std::uint64_t map_off) {
    std::vector<std::uint64_t> l;
    const std::uint64_t seg_off = h.a.at<std::uint64_t>(map_off)[10];
    for (std::uint64_t r = *h.a.at<std::uint64_t>(seg_off) & 0xffffffffu; r != 0;
         r = h.a.at<std::uint64_t>(r << 4)[0] & 0xffffffffu)
      l.push_back(r << 4);
    return l;
  };
  const std::vector<std::uint64_t> mine = list_of(h.off), theirs = list_of(off2);
  ASSERT_EQ(mine.size(), 4u);
  ASSERT_EQ(theirs.size(), 4u);
  std::uint64_t& link = h.a.at<std::uint64_t>(mine[2])[0];  // the third element's next [31:0]
  const std::uint64_t saved = link;
  // The other map's header; its last element (an element object, which
  // leaves the list as long as the count says: only its hash, which is
  // not its key's under this map's seed, gives it away); a cycle.
  for (std::uint64_t bad : {off2 >> 4, theirs[3] >> 4, mine[0] >> 4}) {
    SCOPED_TRACE(bad);
    link = (saved & ~std::uint64_t{0xffffffff}) | bad;
    EXPECT_EQ(m.reset(), Status::corrupt);
    EXPECT_EQ(m.destroy(), Status::corrupt);
    ASSERT_EQ(h.a.verify(&st, &why), Status::ok) << why;
    EXPECT_EQ(st.obj_cnt, objects);  // nothing freed
    EXPECT_TRUE(intact(other, 100, 1));
    link = saved;
    EXPECT_TRUE(intact(m, 0, 10));
  }
  ASSERT_EQ(m.reset(), Status::ok);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_TRUE(intact(other, 100, 1));
  ASSERT_EQ(m.destroy(), Status::ok);
  EXPECT_TRUE(intact(other, 100, 1));
}

// A writer that finds its key stores through the element (a value in
// place) or frees it, and stores through its predecessor (an unlink): a
// damaged link that names another object made to read like the element
// (same hash and key), or like the predecessor, is refused with corrupt and
// the object is left as it was. (The old code wrote the value into it, or
// unlinked through it and freed it.)
TEST(ChainMap, WritersRefuseObjectsThatAreNotElements) {
  ChainHarness h(1);  // one chain
  ChainMap& m = h.m;
  for (std::uint64_t k = 0; k < 5; ++k) ASSERT_EQ(m.insert(k, k * 10), Status::ok);  // 0 inline, 1..4 listed
  std::vector<std::uint64_t> list;
  const std::uint64_t seg = h.a.at<std::uint64_t>(h.off)[10];
  for (std::uint64_t r = *h.a.at<std::uint64_t>(seg) & 0xffffffffu; r != 0; r = h.a.at<std::uint64_t>(r << 4)[0] & 0xffffffffu)
    list.push_back(r << 4);
  ASSERT_EQ(list.size(), 4u);
  const std::uint64_t key = h.a.at<std::uint64_t>(list[2])[2];  // the third element's key
  for (unsigned copied : {2u, 1u}) {  // the element itself, then its predecessor
    SCOPED_TRACE(copied);
    std::uint64_t size = 0, victim = 0;
    std::uint32_t tag = 0;
    ASSERT_EQ(h.a.info(list[copied], &size, &tag), Status::ok);
    ASSERT_EQ(h.a.alloc(16, size, 77, &victim), Status::ok);
    std::vector<std::uint64_t> words(size / 8);
    for (std::uint64_t i = 0; i < words.size(); ++i) words[i] = h.a.at<std::uint64_t>(list[copied])[i];
    for (std::uint64_t i = 0; i < words.size(); ++i) h.a.at<std::uint64_t>(victim)[i] = words[i];
    auto untouched = [&] {
      std::uint64_t sz = 0;
      std::uint32_t t = 0;
      if (h.a.info(victim, &sz, &t) != Status::ok || t != 77) return false;  // freed
      for (std::uint64_t i = 0; i < words.size(); ++i)
        if (h.a.at<std::uint64_t>(victim)[i] != words[i]) return false;
      return true;
    };
    std::uint64_t& link = h.a.at<std::uint64_t>(list[copied - 1])[0];
    const std::uint64_t saved = link;
    link = (saved & ~std::uint64_t{0xffffffff}) | victim >> 4;
    std::uint64_t v = 0;
    EXPECT_EQ(m.find(key, &v), Status::ok);  // readers read through it: it reads like the list
    EXPECT_EQ(m.insert_or_assign(key, 33), Status::corrupt);
    EXPECT_EQ(m.update(key, 34), Status::corrupt);
    EXPECT_EQ(m.erase(key), Status::corrupt);
    EXPECT_TRUE(untouched());
    link = saved;
    EXPECT_EQ(h.a.free(victim), Status::ok);
  }
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t k = 0; k < 5; ++k) {
    std::uint64_t v = 0;
    EXPECT_TRUE(m.find(k, &v) == Status::ok && v == k * 10) << k;
  }
  EXPECT_EQ(m.insert_or_assign(key, 33), Status::ok);
  EXPECT_EQ(m.erase(key), Status::ok);
}

TEST(ChainMap, DamageIsReportedAndBounded) {
  ChainHarness h(1);
  ChainMap& m = h.m;
  for (std::uint64_t k = 0; k < 5; ++k) ASSERT_EQ(m.insert(k, k * 10), Status::ok);
  std::uint64_t seg = h.a.at<std::uint64_t>(h.off)[10];  // segment 0 (header word 10)
  std::uint64_t& word = *h.a.at<std::uint64_t>(seg);
  std::uint64_t saved = word, v = 0;
  std::string why;

  word += std::uint64_t{3} << 32;  // count larger than the list
  EXPECT_EQ(m.verify(&why), Status::corrupt) << why;
  // An absent key the filter cannot rule out (its bit is one of keys
  // 0..4's): the find walks the whole list and meets the damage.
  auto bit = [&](std::uint64_t k) { return std::uint64_t{1} << (m.hash(as_u64(k)) >> 61); };
  std::uint64_t bits = 0, absent = 99;
  for (std::uint64_t k = 0; k < 5; ++k) bits |= bit(k);
  while (!(bits & bit(absent))) ++absent;
  EXPECT_EQ(m.find(absent, &v), Status::corrupt);
  EXPECT_EQ(m.insert(99, 1), Status::corrupt);
  word = saved;

  std::uint64_t head = (word & 0xffffffffu) << 4;
  std::uint64_t* ele = h.a.at<std::uint64_t>(head);
  std::uint64_t saved_w0 = ele[0];
  ele[0] = (saved_w0 & ~std::uint64_t{0xffffffff}) | (head >> 4);  // a cycle onto itself
  EXPECT_EQ(m.verify(&why), Status::corrupt) << why;
  EXPECT_NE(m.find(1, &v), Status::ok);  // bounded: returns, whatever it says (key 0 is inline)
  ele[0] = saved_w0;

  ele[1] ^= 1;  // the memoized hash
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("hash"), std::string::npos) << why;
  ele[1] ^= 1;

  word = (word & ~std::uint64_t{0xffffffff}) | 0x7fffffff;  // head out of range
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_EQ(m.find(3, &v), Status::corrupt);
  word = saved;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;

  // The inline slot (bucket words 1..3) holds key 0, the first inserted.
  std::uint64_t* slot = &word + 1;
  ASSERT_EQ(slot[1], 0u);
  ASSERT_EQ(slot[2], 0u);
  const std::uint64_t saved_meta = slot[0];
  slot[0] = (saved_meta & ~std::uint64_t{0xff}) | 0xf8;  // key size 15: not an inline size
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("M6"), std::string::npos) << why;
  EXPECT_EQ(m.find(0, &v), Status::corrupt);
  EXPECT_EQ(m.find(3, &v), Status::corrupt);
  EXPECT_EQ(m.insert(99, 1), Status::corrupt);
  slot[0] = saved_meta ^ (std::uint64_t{1} << 40);  // the memoized hash bits
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("hash"), std::string::npos) << why;
  EXPECT_EQ(m.find(0, &v), Status::not_found);  // no longer names key 0
  slot[0] = saved_meta;
  slot[1] = std::uint64_t{1} << 63;  // a key the memoized hash bits do not name
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  slot[1] = 0;
  word -= std::uint64_t{5} << 32;  // count 0 with a full inline slot
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_EQ(m.find(0, &v), Status::corrupt);
  word = saved;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  for (std::uint64_t k = 0; k < 5; ++k) {
    ASSERT_EQ(m.find(k, &v), Status::ok);
    EXPECT_EQ(v, k * 10);
  }
}

// The filter (M7): a byte per chain with a bit per element's top hash bits,
// set by inserts, recomputed by erases, cleared by reset, checked by verify.
TEST(ChainMap, FilterTracksTheChainsElements) {
  ChainHarness h(1);  // one chain, one segment: the filter is header word 11
  ChainMap& m = h.m;
  ASSERT_EQ(m.chain_cnt(), 1u);
  std::uint64_t& filter = *h.a.at<std::uint64_t>(h.a.at<std::uint64_t>(h.off)[11]);
  EXPECT_EQ(filter, 0u);
  auto bit = [&](std::uint64_t k) { return std::uint64_t{1} << (m.hash(as_u64(k)) >> 61); };
  std::uint64_t want = 0, v = 0;
  for (std::uint64_t k = 1; k <= 3; ++k) {
    ASSERT_EQ(m.insert(k, k), Status::ok);
    want |= bit(k);
    EXPECT_EQ(filter, want) << "after inserting " << k;
  }
  std::string why;
  filter &= ~bit(2);  // damage: key 2's bit lost
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("M7"), std::string::npos) << why;
  EXPECT_EQ(m.find(2, &v), Status::not_found);  // what the damage costs
  filter = want | 0xff;  // stale bits are harmless
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  ASSERT_EQ(m.erase(2), Status::ok);  // recomputed from keys 1 and 3
  EXPECT_EQ(filter, bit(1) | bit(3));
  ASSERT_EQ(m.erase(1), Status::ok);
  EXPECT_EQ(filter, bit(3));
  EXPECT_EQ(m.find(3, &v), Status::ok);
  ASSERT_EQ(m.reset(), Status::ok);
  EXPECT_EQ(filter, 0u);
  // An absent key whose bit is clear is answered without the chain: even a
  // locked chain does not make it wait.
  ASSERT_EQ(m.insert(3, 3), Status::ok);
  std::uint64_t absent = 4;
  while (bit(absent) == bit(3)) ++absent;
  std::uint64_t seg = h.a.at<std::uint64_t>(h.off)[10];
  std::uint64_t& word = *h.a.at<std::uint64_t>(seg);
  word |= std::uint64_t{1} << 44;  // locked
  EXPECT_EQ(m.find(absent, &v), Status::not_found);
  word &= ~(std::uint64_t{1} << 44);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// The inline slot names its key by hash bits, size and key word: a longer
// key that starts with the inline key and shares its hash (forged here) is
// another key, on every path.
TEST(ChainMap, InlineSlotMatchesExactKeysOnly) {
  ChainHarness h(1);
  ChainMap& m = h.m;
  std::uint64_t p = 0;
  while (((m.hash(Bytes{&p, 8}) >> 8) & 1) == 0) ++p;  // hash bit 8 set: where a 24-byte size would spill
  const std::uint64_t hp = m.hash(Bytes{&p, 8});
  ASSERT_EQ(m.insert(p, 1), Status::ok);  // inline
  char longer[24];
  std::memcpy(longer, &p, 8);
  std::memset(longer + 8, 'x', 16);
  std::uint64_t v = 0, sz = 0;
  EXPECT_EQ(m.query_try(Bytes{longer, 24}, hp, &v, 8, &sz, nullptr), Status::not_found);
  std::uint64_t two = 2;
  ASSERT_EQ(m.insert(Bytes{longer, 24}, Bytes{&two, 8}, kChainHashHint, hp), Status::ok);  // not `exists`
  ASSERT_EQ(m.find(p, &v), Status::ok);
  EXPECT_EQ(v, 1u);
  ASSERT_EQ(m.erase(Bytes{longer, 24}, kChainHashHint, hp), Status::ok);
  ASSERT_EQ(m.find(p, &v), Status::ok);  // the inline key is still there
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(m.size(), 1u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// With small allocator volumes the segments shrink to what the largest
// class holds; the map keeps its chain count.
TEST(ChainMap, SmallVolumesGetSmallerSegments) {
  Region region;
  Allocator a;
  std::string why;
  AllocParams params;
  params.vol_sz = std::uint64_t{2} << 20;  // largest class: 256 KiB + slack
  ASSERT_EQ(Region::create_anon({"mapbench.chain", 1, std::uint64_t{1} << 30, 0}, {}, &region, &why), Status::ok) << why;
  ASSERT_EQ(Allocator::create(region, params, &a, &why), Status::ok) << why;
  std::uint64_t off = 0;
  ChainMap m;
  ASSERT_EQ(ChainMap::create(a, 1 << 16, 3, &off, &why), Status::ok) << why;
  ASSERT_EQ(ChainMap::join(a, off, &m, &why), Status::ok) << why;
  EXPECT_EQ(m.chain_cnt(), 1u << 16);
  for (std::uint64_t k = 0; k < 100000; ++k) ASSERT_EQ(m.insert(k, k + 1), Status::ok);
  for (std::uint64_t k = 0; k < 100000; k += 997) {
    std::uint64_t v = 0;
    ASSERT_EQ(m.find(k, &v), Status::ok);
    EXPECT_EQ(v, k + 1);
  }
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  ASSERT_EQ(m.destroy(), Status::ok);
  AllocStats st;
  ASSERT_EQ(a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 0u);
}

// Keys and values of at most 8 bytes live in the chain's inline slot (one
// per chain); everything else, and every further element, on its list. An
// element moves between the two as its value grows and shrinks, and the
// slot is reused after an erase.
TEST(ChainMap, InlineSlotAndListTogether) {
  ChainHarness h(1);  // one chain: one inline slot
  ChainMap& m = h.m;
  AllocStats st;
  std::string why;
  ASSERT_EQ(m.insert(str("a"), str("1")), Status::ok);  // inline: no allocation
  ASSERT_EQ(h.a.verify(&st, &why), Status::ok) << why;
  const std::uint64_t objects = st.obj_cnt;
  ASSERT_EQ(m.insert(str("b"), str("2")), Status::ok);  // the slot is taken: the list
  ASSERT_EQ(h.a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, objects + 1);
  ASSERT_EQ(m.insert(str("a"), str("x")), Status::exists);
  ASSERT_EQ(m.insert_or_assign(str("a"), str("fourteen bytes")), Status::ok);  // moves to the list
  ASSERT_EQ(m.insert(str("c"), str("")), Status::ok);  // the freed slot, empty value
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  EXPECT_EQ(m.size(), 3u);
  char buf[64];
  std::uint64_t sz = 0;
  ASSERT_EQ(m.find(str("a"), buf, sizeof buf, &sz), Status::ok);
  EXPECT_EQ(std::string(buf, sz), "fourteen bytes");
  ASSERT_EQ(m.find(str("c"), buf, sizeof buf, &sz), Status::ok);
  EXPECT_EQ(sz, 0u);
  ASSERT_EQ(m.find(str("b"), buf, 0, &sz), Status::invalid);  // too small a buffer
  EXPECT_EQ(sz, 1u);
  ASSERT_EQ(m.erase(str("c")), Status::ok);
  ASSERT_EQ(m.insert(12345, 6789), Status::ok);  // the slot again
  std::uint64_t v = 0;
  ASSERT_EQ(m.find(12345, &v), Status::ok);
  EXPECT_EQ(v, 6789u);
  ASSERT_EQ(m.insert_or_assign(as_u64(12345), Bytes{"abc", 3}), Status::ok);  // shrinks in place
  EXPECT_EQ(m.find(12345, &v), Status::invalid);  // not an 8-byte value any more
  ASSERT_EQ(m.find(as_u64(12345), buf, sizeof buf, &sz), Status::ok);
  EXPECT_EQ(std::string(buf, sz), "abc");
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  // A transaction reads and writes the inline element like any other.
  {
    ChainTxn t(m);
    ASSERT_EQ(t.modify_try(as_u64(12345)), Status::ok);
    ASSERT_EQ(t.find(as_u64(12345), buf, sizeof buf, &sz), Status::ok);
    EXPECT_EQ(std::string(buf, sz), "abc");
    ASSERT_EQ(t.insert_or_assign(12345, 1), Status::ok);
    ASSERT_EQ(t.modify_test(), Status::ok);
  }
  ASSERT_EQ(m.find(12345, &v), Status::ok);
  EXPECT_EQ(v, 1u);
  struct Count {
    std::uint64_t n = 0, bytes = 0;
  } count;
  auto visit = [](void* ctx, Bytes key, Bytes val) {
    static_cast<Count*>(ctx)->n++;
    static_cast<Count*>(ctx)->bytes += key.size + val.size;
  };
  ASSERT_EQ(m.for_each_snapshot(visit, &count), Status::ok);
  EXPECT_EQ(count.n, 3u);
  EXPECT_EQ(count.bytes, 1u + 14u + 1u + 1u + 8u + 8u);
  count = Count();
  ASSERT_EQ(m.for_each_locked(0, 1, 0, visit, &count), Status::ok);
  EXPECT_EQ(count.n, 3u);
  EXPECT_EQ(count.bytes, 1u + 14u + 1u + 1u + 8u + 8u);
  ASSERT_EQ(m.reset(), Status::ok);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.find(12345, &v), Status::not_found);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  ASSERT_EQ(m.destroy(), Status::ok);
  ASSERT_EQ(h.a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 0u);
}

// The owner table (RECOVERY in chain_map.h), header word 8: with every
// index held by a live process, writers lock with owner 0 and work on (and
// ask again a second later); an index whose process died is claimed,
// marked as being swept, and the chains still stamped with it are
// recovered before the mark goes.
TEST(ChainMap, OwnerIndicesAreReclaimedFromDeadProcesses) {
  ChainHarness h(1);
  ChainMap& m = h.m;
  ASSERT_EQ(m.insert(1, 10), Status::ok);  // claims our index
  std::uint64_t* hdr = h.a.at<std::uint64_t>(h.off);
  std::uint64_t* own = h.a.at<std::uint64_t>(hdr[8]);
  const std::uint64_t owners = hdr[9];
  ASSERT_EQ(owners, kChainOwnerMax);
  unsigned mine = 0;
  for (unsigned i = 1; i <= owners; ++i)
    if (std::uint32_t(own[i]) == std::uint32_t(getpid())) mine = i;
  ASSERT_NE(mine, 0u);
  // The owner word holds the pid and the process's start time.
  ASSERT_EQ(own[mine] >> 32, rw_os::self_start_key());
  // Every index held by a live process (pid 1): a new handle (which asks
  // the table again: a handle keeps its process's answer) locks with
  // owner 0, and keeps that answer (no scan per lock).
  for (unsigned i = 1; i <= owners; ++i) own[i] = 1;
  ChainMap full;
  ASSERT_EQ(ChainMap::join(h.a, h.off, &full), Status::ok);
  ASSERT_EQ(full.insert(2, 20), Status::ok);
  ASSERT_EQ(full.erase(1), Status::ok);
  ASSERT_EQ(full.verify(), Status::ok);
  std::uint64_t& word = *h.a.at<std::uint64_t>(hdr[10]);
  auto stamp_while_held = [&](ChainMap& map) {
    ChainTxn t(map);
    EXPECT_EQ(t.add(2, true), Status::ok);
    EXPECT_EQ(t.try_lock(), Status::ok);
    const std::uint64_t stamp = (word >> 45) & 0xff;
    EXPECT_EQ(t.test(), Status::ok);
    return stamp;
  };
  EXPECT_EQ(stamp_while_held(full), 0u);
  own[owners] = 0;  // a free index now: the handle keeps its answer (no scan per lock)
  EXPECT_EQ(stamp_while_held(full), 0u);
  EXPECT_EQ(own[owners], 0u);
  // ... for kChainOwnerRetryMs, then asks the table again: the free index
  // is its own from then on.
  std::this_thread::sleep_for(std::chrono::milliseconds(kChainOwnerRetryMs + 100));
  EXPECT_EQ(stamp_while_held(full), owners);
  EXPECT_EQ(own[owners], rw_os::self_ident());
  EXPECT_EQ(stamp_while_held(full), owners);
  own[owners] = 1;
  // A dead process (a reaped child) holds index 7 and left the chain
  // locked with it.
  const pid_t dead = dead_pid();
  ASSERT_GT(dead, 0);
  own[7] = std::uint64_t(dead);
  stamp_dead_lock(word, 7);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("owner 7"), std::string::npos) << why;
  // A new handle's first lock finds no free index, claims index 7
  // (recovering its chain before it uses it) and works on.
  ChainMap again;
  ASSERT_EQ(ChainMap::join(h.a, h.off, &again), Status::ok);
  ASSERT_EQ(again.insert(3, 30), Status::ok);
  EXPECT_EQ(std::uint32_t(own[7]), std::uint32_t(getpid()));
  EXPECT_EQ(m.stats().recoveries, 1u);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  ASSERT_TRUE(m.find(2, &v) == Status::ok && v == 20);
  ASSERT_TRUE(m.find(3, &v) == Status::ok && v == 30);
  EXPECT_EQ(m.size(), 2u);
  // A reused pid: index 8 names a process with our pid but another start
  // time (the dead holder whose pid we were given). Its chain is recovered
  // although a process with that pid runs.
  if (rw_os::self_start_key() == 0) GTEST_SKIP() << "no /proc here: a pid's reuse cannot be told";
  own[8] = std::uint64_t(getpid()) | std::uint64_t(rw_os::self_start_key() ^ 1) << 32;
  word = (word & ~(std::uint64_t{0xff} << 45)) | ChainMap::kWordLockBit | std::uint64_t{8} << 45;
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("dead"), std::string::npos) << why;
  ASSERT_TRUE(m.find(3, &v) == Status::ok && v == 30);  // a reader recovers it
  EXPECT_EQ(m.stats().recoveries, 2u);
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
}

// Our own owner word marked as sweeping while no sweep of ours runs: what
// an exec leaves (the new image keeps the pid and start time) when the old
// one was killed by it mid-sweep. The first lock that needs an index
// adopts the sweep (recovers the chain still stamped with the index, then
// clears the mark) instead of waiting for it forever.
TEST(ChainMap, OwnSweepMarkWithNoSweepRunningIsAdopted) {
  ChainHarness h(1);
  ChainMap& m = h.m;
  ASSERT_EQ(m.insert(1, 10), Status::ok);
  std::uint64_t* hdr = h.a.at<std::uint64_t>(h.off);
  std::uint64_t* own = h.a.at<std::uint64_t>(hdr[8]);
  std::uint64_t& word = *h.a.at<std::uint64_t>(hdr[10]);
  for (unsigned i = 1; i <= hdr[9]; ++i) own[i] = 1;  // held by a live process
  own[7] = rw_os::self_ident() | std::uint64_t{1} << 31;
  stamp_dead_lock(word, 7);
  ChainMap fresh;  // a new handle asks the table
  ASSERT_EQ(ChainMap::join(h.a, h.off, &fresh), Status::ok);
  ASSERT_EQ(fresh.insert(2, 20), Status::ok);
  EXPECT_EQ(own[7], rw_os::self_ident());
  EXPECT_EQ(m.stats().recoveries, 1u);
  std::string why;
  ASSERT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  ASSERT_TRUE(m.find(1, &v) == Status::ok && v == 10);
  ASSERT_TRUE(m.find(2, &v) == Status::ok && v == 20);
}

TEST(ChainMap, JoinValidatesAndDestroyFreesEverything) {
  ChainHarness h(100000);
  EXPECT_EQ(h.m.chain_cnt(), 131072u);  // power of two >= 100000: eight segments
  for (std::uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(h.m.insert(k, k), Status::ok);
  ChainMap other;
  std::string why;
  EXPECT_EQ(ChainMap::join(h.a, h.off + 16, &other, &why), Status::invalid);
  ASSERT_EQ(ChainMap::join(h.a, h.off, &other, &why), Status::ok) << why;
  // A damaged owner table reference (header words 8 and 9) is refused.
  std::uint64_t* hdr = h.a.at<std::uint64_t>(h.off);
  for (int word : {8, 9}) {
    for (std::uint64_t bad : {std::uint64_t{0}, std::uint64_t{1000}, hdr[word] + 8}) {
      const std::uint64_t saved = hdr[word];
      hdr[word] = bad;
      EXPECT_EQ(ChainMap::join(h.a, h.off, &other, &why), Status::corrupt) << word << " " << bad;
      EXPECT_NE(why.find("owner table"), std::string::npos) << why;
      hdr[word] = saved;
    }
  }
  ASSERT_EQ(ChainMap::join(h.a, h.off, &other, &why), Status::ok) << why;
  std::uint64_t v = 0;
  ASSERT_EQ(other.find(999, &v), Status::ok);
  EXPECT_EQ(v, 999u);
  ASSERT_EQ(h.m.destroy(), Status::ok);
  AllocStats st;
  ASSERT_EQ(h.a.verify(&st, &why), Status::ok) << why;
  EXPECT_EQ(st.obj_cnt, 0u);
  EXPECT_EQ(ChainMap::join(h.a, h.off, &other, &why), Status::invalid);
}

TEST(ChainTxn, LocksAllOrNothingInCanonicalOrder) {
  ChainHarness h(64);
  ChainMap& m = h.m;
  for (std::uint64_t k = 0; k < 20; ++k) ASSERT_EQ(m.insert(k, 100), Status::ok);
  {
    ChainTxn t(m);
    for (std::uint64_t k : {19, 3, 11}) ASSERT_EQ(t.add(k, true), Status::ok);
    ASSERT_EQ(t.add(7, false), Status::ok);  // speculative
    ASSERT_EQ(t.try_lock(), Status::ok);
    ASSERT_GE(t.locked_cnt(), 1u);
    for (unsigned i = 1; i < t.locked_cnt(); ++i) EXPECT_LT(t.locked_chain(i - 1), t.locked_chain(i));
    std::uint64_t a = 0, b = 0, c = 0;
    ASSERT_EQ(t.find(19, &a), Status::ok);
    ASSERT_EQ(t.find(3, &b), Status::ok);
    ASSERT_EQ(t.find(7, &c), Status::ok);
    EXPECT_EQ(t.insert_or_assign(19, a - 30), Status::ok);
    EXPECT_EQ(t.insert_or_assign(3, b + 30), Status::ok);
    EXPECT_EQ(t.erase(Bytes{"nokey", 5}), Status::invalid);  // its chain is not in the transaction
    std::uint64_t k11 = 11, v = 5;
    EXPECT_EQ(t.erase(Bytes{&k11, 8}), Status::ok);
    EXPECT_EQ(t.insert(Bytes{&k11, 8}, Bytes{&v, 8}), Status::ok);
    // A non-blocking single write to a chain we hold gets again.
    EXPECT_EQ(m.insert_or_assign(Bytes{&k11, 8}, Bytes{&v, 8}, kChainNonBlocking), Status::again);
    EXPECT_EQ(t.test(), Status::ok);
  }
  std::uint64_t v = 0;
  ASSERT_EQ(m.find(19, &v), Status::ok);
  EXPECT_EQ(v, 70u);
  ASSERT_EQ(m.find(3, &v), Status::ok);
  EXPECT_EQ(v, 130u);
  ASSERT_EQ(m.find(11, &v), Status::ok);
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(m.size(), 20u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(ChainTxn, InPlaceChangesPublishANewVersion) {
  ChainHarness h(64);
  ChainMap& m = h.m;
  ASSERT_EQ(m.insert(1, 1), Status::ok);
  std::uint64_t k = 1, v = 0, sz = 0;
  ChainMap::Query q;
  ASSERT_EQ(m.query_try(Bytes{&k, 8}, m.hash(Bytes{&k, 8}), &v, 8, &sz, &q), Status::ok);
  ChainTxn t(m);
  ASSERT_EQ(t.modify_try(Bytes{&k, 8}), Status::ok);
  ASSERT_EQ(t.update(Bytes{&k, 8}, Bytes{&k, 8}), Status::ok);  // same size: in place
  ASSERT_EQ(t.modify_test(), Status::ok);
  EXPECT_EQ(m.query_test(q), Status::again) << "a reader that copied during the change would validate";
  // Reuse after test(): only the new key's chain is locked.
  ASSERT_EQ(t.modify_try(Bytes{"absent", 6}), Status::not_found);
  ASSERT_EQ(t.modify_try(Bytes{&k, 8}), Status::ok);
  EXPECT_EQ(t.locked_cnt(), 1u);
  EXPECT_EQ(t.modify_test(), Status::ok);
}

TEST(ChainMap, OverlongKeysAreRefusedEverywhere) {
  ChainHarness h;
  std::string big(1000, 'k');
  std::uint64_t v = 0, sz = 0;
  EXPECT_EQ(h.m.find(str(big), &v, 8, &sz), Status::invalid);
  EXPECT_EQ(h.m.erase(str(big)), Status::invalid);
  EXPECT_EQ(h.m.insert(str(big), str("v")), Status::invalid);
  (void)h.m.hash(str(big));  // harmless
  ChainTxn t(h.m);
  EXPECT_EQ(t.add(str(big), true), Status::invalid);
}

TEST(ChainTxn, SpeculativeChangeFailsTheTest) {
  ChainHarness h(64);
  ChainMap& m = h.m;
  ASSERT_EQ(m.insert(1, 1), Status::ok);
  ASSERT_EQ(m.insert(2, 2), Status::ok);
  ChainTxn t(m);
  ASSERT_EQ(t.add(1, false), Status::ok);
  ASSERT_EQ(t.try_lock(), Status::ok);
  ASSERT_EQ(m.insert_or_assign(1, 9), Status::ok);  // someone else writes the chain
  EXPECT_EQ(t.test(), Status::again);
}

// A transaction's erase clears its key's filter bit in test(), from the
// chain's final state: gone when the key is gone, kept when the
// transaction put the key back.
TEST(ChainTxn, TestRefreshesTheFilter) {
  ChainHarness h(1);  // one chain: the filter is header word 11
  ChainMap& m = h.m;
  std::uint64_t& filter = *h.a.at<std::uint64_t>(h.a.at<std::uint64_t>(h.off)[11]);
  auto bit = [&](std::uint64_t k) { return std::uint64_t{1} << (m.hash(as_u64(k)) >> 61); };
  std::uint64_t other = 2;
  while (bit(other) == bit(1)) ++other;
  ASSERT_EQ(m.insert(1, 10), Status::ok);
  ASSERT_EQ(m.insert(other, 20), Status::ok);
  ASSERT_EQ(filter, bit(1) | bit(other));
  ChainTxn t(m);
  ASSERT_EQ(t.add(1, true), Status::ok);
  ASSERT_EQ(t.try_lock(), Status::ok);
  ASSERT_EQ(t.erase(as_u64(1)), Status::ok);
  ASSERT_EQ(t.insert(as_u64(1), as_u64(11)), Status::ok);
  ASSERT_EQ(t.test(), Status::ok);
  EXPECT_EQ(filter, bit(1) | bit(other));  // erased and put back: kept
  ASSERT_EQ(t.add(1, true), Status::ok);
  ASSERT_EQ(t.try_lock(), Status::ok);
  ASSERT_EQ(t.erase(as_u64(1)), Status::ok);
  EXPECT_EQ(filter, bit(1) | bit(other));  // not before test()
  ASSERT_EQ(t.test(), Status::ok);
  EXPECT_EQ(filter, bit(other));  // erased: cleared
  std::uint64_t v = 0;
  EXPECT_EQ(m.find(1, &v), Status::not_found);
  ASSERT_EQ(m.find(other, &v), Status::ok);
  EXPECT_EQ(v, 20u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

// A speculative chain that a writer held at try_lock validates nothing,
// even when the same locked word is back at test(); and a modify_try that
// found its chain busy leaves no key behind for the next one.
TEST(ChainTxn, ABusySpeculativeChainFailsTheTest) {
  ChainHarness h(1);  // one chain
  ChainMap& m = h.m;
  ASSERT_EQ(m.insert(1, 1), Status::ok);
  std::uint64_t& word = *h.a.at<std::uint64_t>(h.a.at<std::uint64_t>(h.off)[10]);
  word |= ChainMap::kWordLockBit;  // a writer holds the chain
  ChainTxn t(m);
  ASSERT_EQ(t.add(1, false), Status::ok);
  ASSERT_EQ(t.try_lock(), Status::ok);
  std::uint64_t v = 0;
  EXPECT_EQ(t.find(1, &v), Status::again);
  EXPECT_EQ(t.test(), Status::again);  // the word is unchanged, and still says nothing
  EXPECT_EQ(t.modify_try(as_u64(1), kChainNonBlocking), Status::again);
  word &= ~ChainMap::kWordLockBit;
  ChainHarness h2(1024);  // two keys on different chains: only the second is locked
  ChainTxn t2(h2.m);
  std::uint64_t k2 = 2;
  while ((h2.m.hash(as_u64(k2)) & 1023) == (h2.m.hash(as_u64(1)) & 1023)) ++k2;
  ASSERT_EQ(h2.m.insert(1, 1), Status::ok);
  ASSERT_EQ(h2.m.insert(k2, 2), Status::ok);
  std::uint64_t seg = h2.a.at<std::uint64_t>(h2.off)[10];
  std::uint64_t& w1 = *h2.a.at<std::uint64_t>(seg + ChainMap::kBucketBytes * (h2.m.hash(as_u64(1)) & 1023));
  w1 |= ChainMap::kWordLockBit;
  EXPECT_EQ(t2.modify_try(as_u64(1), kChainNonBlocking), Status::again);
  w1 &= ~ChainMap::kWordLockBit;
  ASSERT_EQ(t2.modify_try(as_u64(k2)), Status::ok);
  EXPECT_EQ(t2.locked_cnt(), 1u);  // k2's chain only
  EXPECT_EQ(t2.modify_test(), Status::ok);
}

// Move to front puts the key's element at the head of its chain's list,
// whether its value is overwritten in place (same size) or replaced.
TEST(ChainMap, MoveToFrontMovesTheElementToTheHead) {
  ChainHarness h(1);  // one chain
  ChainMap& m = h.m;
  std::uint64_t& word = *h.a.at<std::uint64_t>(h.a.at<std::uint64_t>(h.off)[10]);
  auto head_key = [&] {  // the key of the list's head element
    const std::uint64_t e = (word & 0xffffffffu) << 4;
    const std::uint64_t ks = (h.a.at<std::uint64_t>(e)[0] >> 32) & 0xff;
    return std::string(h.a.at<char>(e + 16), ks);
  };
  const std::string keys[] = {"key-number-1", "key-number-2", "key-number-3", "key-number-4"};  // > 8 bytes: listed
  for (const std::string& k : keys) ASSERT_EQ(m.insert(str(k), str("v")), Status::ok);
  ASSERT_EQ(head_key(), keys[3]);  // inserts go to the head
  ASSERT_EQ(m.insert_or_assign(str(keys[0]), str("w"), kChainMoveToFront), Status::ok);  // same size
  EXPECT_EQ(head_key(), keys[0]);
  ASSERT_EQ(m.insert_or_assign(str(keys[1]), str("a longer value"), kChainMoveToFront), Status::ok);
  EXPECT_EQ(head_key(), keys[1]);
  ASSERT_EQ(m.insert_or_assign(str(keys[2]), str("xy")), Status::ok);  // without: stays
  EXPECT_EQ(head_key(), keys[1]);
  EXPECT_EQ(m.size(), 4u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  char buf[32];
  std::uint64_t sz = 0;
  const std::string want[] = {"w", "a longer value", "xy", "v"};
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(m.find(str(keys[i]), buf, sizeof buf, &sz), Status::ok);
    EXPECT_EQ(std::string(buf, sz), want[i]);
  }
  // Damaged key padding (bytes 12..15 of a 12-byte key) hides the key from
  // every find and write, which compare whole words: verify() says so.
  char& pad = *h.a.at<char>(((word & 0xffffffffu) << 4) + 16 + 13);
  pad = 'x';
  EXPECT_EQ(m.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("padding"), std::string::npos) << why;
  pad = 0;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(ChainMap, IterationResetStatsAndMoveToFront) {
  ChainHarness h(16);
  ChainMap& m = h.m;
  for (std::uint64_t k = 0; k < 100; ++k) ASSERT_EQ(m.insert(k, k * 7), Status::ok);
  struct Seen {
    std::uint64_t n = 0, key_sum = 0;
    bool values_ok = true;
  } seen;
  auto visit = [](void* ctx, Bytes key, Bytes val) {
    auto* s = static_cast<Seen*>(ctx);
    std::uint64_t k = 0, v = 0;
    std::memcpy(&k, key.data, 8);
    std::memcpy(&v, val.data, 8);
    s->n++;
    s->key_sum += k;
    s->values_ok = s->values_ok && key.size == 8 && val.size == 8 && v == k * 7;
  };
  ASSERT_EQ(m.for_each_snapshot(visit, &seen), Status::ok);
  EXPECT_EQ(seen.n, 100u);
  EXPECT_EQ(seen.key_sum, 4950u);
  EXPECT_TRUE(seen.values_ok);
  seen = Seen();
  ASSERT_EQ(m.for_each_locked(0, m.chain_cnt(), 0, visit, &seen), Status::ok);
  EXPECT_EQ(seen.n, 100u);
  EXPECT_TRUE(seen.values_ok);
  // All or nothing: with one chain held elsewhere a non-blocking walk takes none.
  {
    ChainTxn t(m);
    ASSERT_EQ(t.modify_try(Bytes{"x", 1}), Status::not_found);  // absent: released
    std::uint64_t k = 5;
    ASSERT_EQ(t.modify_try(Bytes{&k, 8}), Status::ok);
    EXPECT_EQ(m.for_each_locked(0, m.chain_cnt(), kChainNonBlocking, visit, &seen), Status::again);
    std::uint64_t v = 0;
    ASSERT_EQ(t.find(5, &v), Status::ok);
    EXPECT_EQ(t.insert_or_assign(5, v + 1), Status::ok);
    EXPECT_EQ(t.modify_test(), Status::ok);
  }
  std::uint64_t v = 0;
  ASSERT_EQ(m.find(5, &v), Status::ok);
  EXPECT_EQ(v, 36u);
  EXPECT_GE(m.stats().lock_busy, 1u);  // the non-blocking walk found a chain busy
  // Move to front keeps the contents.
  for (std::uint64_t k = 0; k < 100; ++k)
    ASSERT_EQ(m.insert_or_assign(as_u64(k), as_u64(k * 7), kChainMoveToFront), Status::ok);
  EXPECT_EQ(m.size(), 100u);
  EXPECT_EQ(m.verify(), Status::ok);
  // Hash hints: the caller's hash is used as is.
  std::uint64_t hk = 1234, hv = 9;
  std::uint64_t hh = m.hash(Bytes{&hk, 8});
  m.prefetch(hh);
  ASSERT_EQ(m.insert(Bytes{&hk, 8}, Bytes{&hv, 8}, kChainHashHint, hh), Status::ok);
  ASSERT_EQ(m.find(1234, &v), Status::ok);
  EXPECT_EQ(v, 9u);
  ASSERT_EQ(m.erase(Bytes{&hk, 8}, kChainHashHint, hh), Status::ok);
  ASSERT_EQ(m.reset(), Status::ok);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.find(5, &v), Status::not_found);
  EXPECT_EQ(m.verify(), Status::ok);
  AllocStats st;
  ASSERT_EQ(h.a.verify(&st), Status::ok);
  EXPECT_EQ(st.obj_cnt, 1u + 1u + 2u);  // the header, the owner table, its one segment and its filter
}

}  // namespace
}  // namespace mb
