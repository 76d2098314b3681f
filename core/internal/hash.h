// Small hash helpers for integrity checks (not for hash tables).
#ifndef MAPBENCH_CORE_INTERNAL_HASH_H_
#define MAPBENCH_CORE_INTERNAL_HASH_H_

#include <cstddef>
#include <cstdint>

namespace mb::internal {

// A 64-bit finalizer (splitmix64's): every input bit affects every output bit.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// FNV-1a over bytes, then mixed; used for region/allocator header checks.
inline std::uint64_t hash_bytes(const void* p, std::size_t n, std::uint64_t seed = 0) {
  auto* b = static_cast<const unsigned char*>(p);
  std::uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
  return mix64(h);
}

}  // namespace mb::internal

#endif  // MAPBENCH_CORE_INTERNAL_HASH_H_
