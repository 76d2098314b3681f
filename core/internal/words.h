// Bytes <-> zero-padded little-endian words, for maps that keep short keys
// and values in 8-byte words. For the short strings these maps hold, a
// memcpy whose size is known only at run time is a library call that costs
// more than the copy; these are a few loads or stores instead.
#ifndef MAPBENCH_CORE_INTERNAL_WORDS_H_
#define MAPBENCH_CORE_INTERNAL_WORDS_H_

#include <bit>
#include <cstdint>
#include <cstring>

#include "core/internal/hash.h"
#include "core/sync.h"

namespace mb::internal {

static_assert(std::endian::native == std::endian::little, "words hold bytes little-endian");

// The min(n, 8) bytes at p as a word, the missing high bytes zero.
inline std::uint64_t load_word(const unsigned char* p, std::uint64_t n) {
  if (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  }
  if (n >= 4) {  // two 4-byte loads that may overlap: equal bytes OR in place
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    return lo | std::uint64_t{hi} << (8 * (n - 4));
  }
  if (n == 0) return 0;
  return std::uint64_t{p[0]} | std::uint64_t{p[n / 2]} << (8 * (n / 2)) | std::uint64_t{p[n - 1]} << (8 * (n - 1));
}

// The low min(n, 8) bytes of w to out.
inline void store_word(unsigned char* out, std::uint64_t w, std::uint64_t n) {
  if (n >= 8) {
    std::memcpy(out, &w, 8);
  } else if (n >= 4) {
    auto lo = std::uint32_t(w), hi = std::uint32_t(w >> (8 * (n - 4)));
    std::memcpy(out, &lo, 4);
    std::memcpy(out + n - 4, &hi, 4);
  } else if (n > 0) {
    out[0] = static_cast<unsigned char>(w);
    out[n / 2] = static_cast<unsigned char>(w >> (8 * (n / 2)));
    out[n - 1] = static_cast<unsigned char>(w >> (8 * (n - 1)));
  }
}

// Words needed for n bytes.
constexpr std::uint64_t words_for(std::uint64_t n) { return (n + 7) / 8; }

// len bytes from the words at byte offset src of base into buf, with acquire
// loads (a speculative reader's copy: the maps' READS arguments).
inline void copy_words(void* base, std::uint64_t src, std::uint64_t len, void* buf) {
  auto* out = static_cast<unsigned char*>(buf);
  for (std::uint64_t i = 0; 8 * i < len; ++i)
    store_word(out + 8 * i, sync::word(base, src + 8 * i).load_acquire(), len - 8 * i);
}

// The hash of a byte-string key the maps file it under (a word at a time,
// then a 64-bit finalizer). Maps store what it returns in their files, so
// it must not change without a layout version.
inline std::uint64_t hash_key_bytes(const void* data, std::uint64_t n, std::uint64_t seed) {
  auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
  for (; n >= 8; n -= 8, p += 8) {
    h = (h ^ load_word(p, 8)) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
  }
  if (n > 0) h = (h ^ load_word(p, n)) * 0xbf58476d1ce4e5b9ULL;
  return mix64(h);
}

}  // namespace mb::internal

#endif  // MAPBENCH_CORE_INTERNAL_WORDS_H_
