// The conformance suite every map variant runs (STYLE item 8): a typed gtest
// suite over the map concept (core/map_concept.h). A variant instantiates it
// with a harness type H that owns a fresh map (H::Map& map()):
//
//   INSTANTIATE_TYPED_TEST_SUITE_P(Chain, MapConformance, ::testing::Types<ChainHarness>);
//
// Random operation sequences are checked against std::unordered_map; the seed
// is printed and can be fixed with MB_SEED.
#ifndef MAPBENCH_MODELS_MAP_CONFORMANCE_H_
#define MAPBENCH_MODELS_MAP_CONFORMANCE_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <unordered_map>

#include "core/map_concept.h"
#include "gtest/gtest.h"

namespace mb {

template <class H>
class MapConformance : public ::testing::Test {
 protected:
  H h;
};

TYPED_TEST_SUITE_P(MapConformance);

TYPED_TEST_P(MapConformance, BasicSemantics) {
  auto& m = this->h.map();
  static_assert(U64Map<std::remove_reference_t<decltype(m)>>);
  std::uint64_t v = 0;
  EXPECT_EQ(m.find(1, &v), Status::not_found);
  EXPECT_EQ(m.erase(1), Status::not_found);
  EXPECT_EQ(m.update(1, 5), Status::not_found);
  EXPECT_EQ(m.insert(1, 10), Status::ok);
  EXPECT_EQ(m.insert(1, 11), Status::exists);
  ASSERT_EQ(m.find(1, &v), Status::ok);
  EXPECT_EQ(v, 10u);
  EXPECT_EQ(m.insert_or_assign(1, 12), Status::ok);
  ASSERT_EQ(m.find(1, &v), Status::ok);
  EXPECT_EQ(v, 12u);
  EXPECT_EQ(m.update(1, 13), Status::ok);
  ASSERT_EQ(m.find(1, &v), Status::ok);
  EXPECT_EQ(v, 13u);
  EXPECT_EQ(m.insert_or_assign(2, 20), Status::ok);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.erase(1), Status::ok);
  EXPECT_EQ(m.find(1, &v), Status::not_found);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.verify(), Status::ok);
}

TYPED_TEST_P(MapConformance, RandomOpsMatchStdUnorderedMap) {
  auto& m = this->h.map();
  const char* env = std::getenv("MB_SEED");
  std::uint64_t seed = env ? std::strtoull(env, nullptr, 0) : std::random_device{}();
  std::printf("seed %llu (set MB_SEED to repeat)\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::unordered_map<std::uint64_t, std::uint64_t> ref;
  const std::uint64_t key_space = 3000;
  for (int step = 0; step < 60000; ++step) {
    std::uint64_t k = rng() % key_space, v = rng();
    std::uint64_t got = 0;
    bool present = ref.count(k) != 0;
    switch (rng() % 6) {
      case 0:
        ASSERT_EQ(m.insert(k, v), present ? Status::exists : Status::ok) << "seed " << seed;
        if (!present) ref[k] = v;
        break;
      case 1:
        ASSERT_EQ(m.insert_or_assign(k, v), Status::ok) << "seed " << seed;
        ref[k] = v;
        break;
      case 2:
        ASSERT_EQ(m.update(k, v), present ? Status::ok : Status::not_found) << "seed " << seed;
        if (present) ref[k] = v;
        break;
      case 3:
        ASSERT_EQ(m.erase(k), present ? Status::ok : Status::not_found) << "seed " << seed;
        ref.erase(k);
        break;
      default:
        ASSERT_EQ(m.find(k, &got), present ? Status::ok : Status::not_found) << "seed " << seed;
        if (present) {
          ASSERT_EQ(got, ref[k]) << "seed " << seed;
        }
    }
    if (step % 10000 == 0) {
      ASSERT_EQ(m.size(), ref.size()) << "seed " << seed;
      ASSERT_EQ(m.verify(), Status::ok) << "seed " << seed;
    }
  }
  ASSERT_EQ(m.size(), ref.size());
  for (auto& [k, v] : ref) {
    std::uint64_t got = 0;
    ASSERT_EQ(m.find(k, &got), Status::ok);
    ASSERT_EQ(got, v);
  }
  ASSERT_EQ(m.verify(), Status::ok);
}

REGISTER_TYPED_TEST_SUITE_P(MapConformance, BasicSemantics, RandomOpsMatchStdUnorderedMap);

}  // namespace mb

#endif  // MAPBENCH_MODELS_MAP_CONFORMANCE_H_
