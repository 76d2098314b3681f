// Status codes shared by the allocator, the regions and every map variant.
//
// Hot paths return a Status instead of throwing. `again` is a normal outcome
// of a non-blocking call under contention; `corrupt` comes from an integrity
// check and never crashes the caller.
#ifndef MAPBENCH_CORE_STATUS_H_
#define MAPBENCH_CORE_STATUS_H_

#include <cstdint>

namespace mb {

enum class Status : std::uint8_t {
  ok = 0,
  not_found,  // the key / object is not there
  exists,     // insert of a key that is present
  again,      // contention: retry (non-blocking calls only)
  full,       // out of space: nothing was changed
  corrupt,    // an integrity check failed; the call stops there (each call says what it may have
              // changed already: a damaged allocator stack is detached, say)
  invalid,    // bad argument, bad offset, double free, foreign region
};

constexpr const char* to_string(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::not_found: return "not_found";
    case Status::exists: return "exists";
    case Status::again: return "again";
    case Status::full: return "full";
    case Status::corrupt: return "corrupt";
    case Status::invalid: return "invalid";
  }
  return "unknown";
}

}  // namespace mb

#endif  // MAPBENCH_CORE_STATUS_H_
