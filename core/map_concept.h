// The one map concept every variant models (DESIGN.md: "one map concept").
//
// Fixed-width u64 -> u64 operations every map has. What only one design has
// (speculative queries, transactions, multimap ranges, LRU ...) is an
// extension the harness detects with `requires`, never a virtual call.
#ifndef MAPBENCH_CORE_MAP_CONCEPT_H_
#define MAPBENCH_CORE_MAP_CONCEPT_H_

#include <concepts>
#include <cstdint>

#include "core/status.h"

namespace mb {

template <class M>
concept U64Map = requires(M m, const M cm, std::uint64_t k, std::uint64_t v, std::uint64_t* out) {
  // Status::exists when the key is present (nothing changed).
  { m.insert(k, v) } -> std::same_as<Status>;
  // Insert, or replace the value of a present key.
  { m.insert_or_assign(k, v) } -> std::same_as<Status>;
  // Status::not_found when absent.
  { m.update(k, v) } -> std::same_as<Status>;
  { cm.find(k, out) } -> std::same_as<Status>;
  { m.erase(k) } -> std::same_as<Status>;
  { cm.size() } -> std::same_as<std::uint64_t>;
  // Walks the quiescent structure; Status::corrupt on damage.
  { cm.verify() } -> std::same_as<Status>;
};

}  // namespace mb

#endif  // MAPBENCH_CORE_MAP_CONCEPT_H_
