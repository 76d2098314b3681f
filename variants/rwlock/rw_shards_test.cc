// RwShards (rw_shards.h): the conformance suite over 4 shards, keys spread
// over the shards by the high hash bits, a file joined again, a damaged
// directory refused.
#include "variants/rwlock/rw_shards.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/map_conformance.h"

namespace mb {
namespace {

RwParams shard_params() {
  RwParams p;
  p.cap_init = 8;
  p.cap_max = std::uint64_t{1} << 14;
  p.arena_max = std::uint64_t{1} << 20;
  return p;
}

struct RwShardsHarness {
  using Map = RwShards;
  RwShardsHarness() {
    std::string why;
    EXPECT_EQ(RwShards::create_anon(shard_params(), 4, &s, &why), Status::ok) << why;
  }
  RwShards& map() { return *s; }
  RwShards::Ptr s;
};

INSTANTIATE_TYPED_TEST_SUITE_P(RwShards, MapConformance, ::testing::Types<RwShardsHarness>);

TEST(RwShards, KeysSpreadOverShards) {
  RwShardsHarness h;
  RwShards& s = h.map();
  ASSERT_EQ(s.shard_cnt(), 4u);
  for (std::uint64_t k = 0; k < 4000; ++k) ASSERT_EQ(s.insert_or_assign(k, k), Status::ok);
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_GT(s.shard(i).size(), 800u) << i;
    EXPECT_LT(s.shard(i).size(), 1200u) << i;
  }
  EXPECT_EQ(s.size(), 4000u);
  // The shard is named by the hash's top two bits (the low bits pick the
  // slot inside it), whatever shard_of() says.
  for (std::uint64_t k = 0; k < 4000; ++k) {
    const unsigned top = unsigned(s.shard(0).hash(RwBytes{&k, 8}) >> 62);
    ASSERT_TRUE(s.shard(top).exists(RwBytes{&k, 8})) << k;
  }
  // Every op of a shard is reachable through map_for.
  std::uint64_t r = 0;
  ASSERT_EQ(s.map_for(std::uint64_t{7}).incr(7, &r), Status::ok);
  EXPECT_EQ(r, 8u);
  std::string why;
  EXPECT_EQ(s.verify(&why), Status::ok) << why;
  // A key planted in the wrong shard is reported.
  std::uint64_t k = 0;
  while (s.shard_of(RwBytes{&k, 8}) == 0) ++k;
  ASSERT_EQ(s.shard(0).put(k, 1), Status::ok);  // k belongs to another shard
  EXPECT_EQ(s.verify(&why), Status::corrupt);
  EXPECT_NE(why.find("another shard"), std::string::npos) << why;
}

// pop and drain over 4 shards: every key comes out exactly once, with its
// value, and then not_found.
TEST(RwShards, PopAndDrainTakeEveryKeyOnce) {
  RwShardsHarness h;
  RwShards& s = h.map();
  for (std::uint64_t k = 0; k < 1000; ++k) ASSERT_EQ(s.insert_or_assign(k, k * 5), Status::ok);
  std::vector<int> seen(1000, 0);
  std::uint64_t k = 0, v = 0;
  for (int n = 0; n < 300; ++n) {
    ASSERT_EQ(s.pop(&k, &v), Status::ok);
    ASSERT_LT(k, 1000u);
    EXPECT_EQ(v, k * 5);
    ++seen[k];
  }
  struct Ctx {
    std::vector<int>* seen;
    bool bad = false;
  } ctx{&seen};
  std::uint64_t removed = 0;
  ASSERT_EQ(s.drain(2000, [](void* c, RwBytes key, RwBytes val) {
    auto* x = static_cast<Ctx*>(c);
    std::uint64_t kk = 0, vv = 0;
    if (key.size != 8 || val.size != 8) { x->bad = true; return; }
    std::memcpy(&kk, key.data, 8);
    std::memcpy(&vv, val.data, 8);
    if (kk >= 1000 || vv != kk * 5) { x->bad = true; return; }
    ++(*x->seen)[kk];
  }, &ctx, &removed), Status::ok);
  EXPECT_FALSE(ctx.bad);
  EXPECT_EQ(removed, 700u);
  for (std::uint64_t i = 0; i < 1000; ++i) EXPECT_EQ(seen[i], 1) << i;
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.pop(&k, &v), Status::not_found);
  std::string why;
  EXPECT_EQ(s.verify(&why), Status::ok) << why;
}

// get / put of byte strings hash the key once; they reach the same entries
// as the key's shard through map_for, both ways.
TEST(RwShards, BytesGetAndPutHashOnce) {
  RwShardsHarness h;
  RwShards& s = h.map();
  char buf[64];
  std::uint64_t sz = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string k = "key:" + std::to_string(i), v = "val:" + std::to_string(i * 7);
    if (i % 2 == 0) {
      ASSERT_EQ(s.put(RwBytes{k.data(), k.size()}, RwBytes{v.data(), v.size()}), Status::ok);
    } else {
      ASSERT_EQ(s.map_for(RwBytes{k.data(), k.size()}).put(RwBytes{k.data(), k.size()}, RwBytes{v.data(), v.size()}),
                Status::ok);
    }
  }
  for (int i = 0; i < 2000; ++i) {
    const std::string k = "key:" + std::to_string(i), v = "val:" + std::to_string(i * 7);
    ASSERT_EQ(s.get(RwBytes{k.data(), k.size()}, buf, sizeof buf, &sz), Status::ok) << k;
    ASSERT_EQ(std::string(buf, sz), v);
    ASSERT_EQ(s.map_for(RwBytes{k.data(), k.size()}).get(RwBytes{k.data(), k.size()}, buf, sizeof buf, &sz), Status::ok);
    ASSERT_EQ(std::string(buf, sz), v);
  }
  const std::string absent = "key:none";
  EXPECT_EQ(s.get(RwBytes{absent.data(), absent.size()}, buf, sizeof buf, &sz), Status::not_found);
  EXPECT_EQ(s.get(RwBytes{absent.data(), 0}, buf, sizeof buf, &sz), Status::invalid);
  std::string why;
  EXPECT_EQ(s.verify(&why), Status::ok) << why;  // every key in its shard, at its slot
}

// A memfd-backed set of shards joined through its descriptor sees the same
// entries; open_file creates a file that is not there; stats() adds up the
// shards' counters.
TEST(RwShards, MemfdOpenFileAndStats) {
  RwShards::Ptr a, b;
  std::string why;
  ASSERT_EQ(RwShards::create_memfd(shard_params(), 4, &a, &why), Status::ok) << why;
  for (std::uint64_t k = 0; k < 2000; ++k) ASSERT_EQ(a->insert(k, k + 1), Status::ok);
  ASSERT_EQ(RwShards::join_fd(a->region().fd(), &b, &why), Status::ok) << why;
  EXPECT_EQ(b->shard_cnt(), 4u);
  std::uint64_t v = 0;
  ASSERT_EQ(b->find(1999, &v), Status::ok);
  EXPECT_EQ(v, 2000u);
  RwMap::Stats t = a->stats();
  std::uint64_t grows = 0, used = 0, backed = 0;
  for (unsigned i = 0; i < 4; ++i) {
    RwMap::Stats s = a->shard(i).stats();
    grows += s.grows;
    used += s.arena_used;
    backed = std::max(backed, s.backed);
  }
  EXPECT_GT(t.grows, 0u);  // about 500 keys a shard: each grew from 8 slots
  EXPECT_EQ(t.grows, grows);
  EXPECT_EQ(t.arena_used, used);
  EXPECT_EQ(t.backed, backed);
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/rw_shards_open." + std::to_string(getpid());
  unlink(path.c_str());
  RwShards::Ptr c;
  ASSERT_EQ(RwShards::open_file(path, shard_params(), 2, &c, &why), Status::ok) << why;
  EXPECT_EQ(c->shard_cnt(), 2u);
  ASSERT_EQ(c->insert(5, 6), Status::ok);
  c.reset();
  ASSERT_EQ(RwShards::join_file(path, &c, &why), Status::ok) << why;
  ASSERT_EQ(c->find(5, &v), Status::ok);
  EXPECT_EQ(v, 6u);
  unlink(path.c_str());
}

TEST(RwShards, FileJoinsAndDamagedDirectoryIsRefused) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/rw_shards." + std::to_string(getpid());
  unlink(path.c_str());
  {
    RwShards::Ptr s;
    std::string why;
    ASSERT_EQ(RwShards::create_file(path, shard_params(), 8, &s, &why), Status::ok) << why;
    for (std::uint64_t k = 0; k < 500; ++k) ASSERT_EQ(s->insert(k, k * 2), Status::ok);
  }
  RwShards::Ptr s;
  std::string why;
  ASSERT_EQ(RwShards::join_file(path, &s, &why), Status::ok) << why;
  EXPECT_EQ(s->shard_cnt(), 8u);
  EXPECT_EQ(s->size(), 500u);
  std::uint64_t v = 0;
  ASSERT_EQ(s->find(499, &v), Status::ok);
  EXPECT_EQ(v, 998u);
  s.reset();
  // open_file joins an existing file, keeping its shard count.
  ASSERT_EQ(RwShards::open_file(path, shard_params(), 2, &s, &why), Status::ok) << why;
  EXPECT_EQ(s->shard_cnt(), 8u);
  EXPECT_EQ(s->size(), 500u);
  s.reset();
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  bytes[4096 + 24] ^= 1;  // the directory's window
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), std::streamsize(bytes.size()));
  }
  EXPECT_EQ(RwShards::join_file(path, &s, &why), Status::corrupt);
  EXPECT_NE(why.find("directory"), std::string::npos) << why;
  std::ifstream f(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), bytes);  // untouched
  unlink(path.c_str());
}

}  // namespace
}  // namespace mb
