// Adapters: every map the harness drives, behind one small static interface.
//
// An adapter A has
//   static constexpr const char* kName, kWhat;   name and one-line description
//   static constexpr bool kThreadSafe;           false: 1 thread only (absl)
//   static constexpr bool kRegion;               lives in a shared region:
//                                                 can be driven by fork'ed processes
//   explicit A(u64 capacity)                     empty map sized for `capacity` keys
//   R find(u64 k, u64* v), insert(k, v), assign(k, v), erase(k), update(k, v)
//   u64 size(), bool verify(std::string* why), u64 again()  (retries seen)
//   static void thread_enter(), thread_exit()    per worker thread (libcds)
// and optionally
//   u64 scan(u64 k, unsigned n)                  a short iteration (YCSB E)
//   u64 bytes_used()                             exact footprint (region maps)
//   void rejoin()                                re-join the region in a child
//
// R says what happened: yes (found / inserted / created / erased / updated),
// no (absent / already present / assign replaced), fail (the map refused:
// full, again, corrupt; counted as a failed op).
#ifndef MAPBENCH_HARNESS_MAPS_H_
#define MAPBENCH_HARNESS_MAPS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace mb::harness {

using u64 = std::uint64_t;

enum class R : std::uint8_t { yes, no, fail };

struct MapInfo {
  const char* name;
  const char* what;
  bool thread_safe;
  bool region;
  bool scan;
  bool bytes;  // byte-string keys and values (WorkloadSpec key_size / value_size)
};

// Every adapter, in report order.
const std::vector<MapInfo>& map_list();
const MapInfo* map_info(const std::string& name);

}  // namespace mb::harness

#endif  // MAPBENCH_HARNESS_MAPS_H_
