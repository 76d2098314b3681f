// A process that dies at a test hook point, played in a Relacy model's
// before(): the hook copies the model's memory the first time the write
// reaches `at`, the write runs on to its end, and the copy is put back:
// the memory as the writer left it when it died there. The caller then
// names a dead process where the writer's lock or owner word names it.
// Used by the rwlock, chain and robin-hood models.
#ifndef MAPBENCH_MODELS_CRASH_PLAY_H_
#define MAPBENCH_MODELS_CRASH_PLAY_H_

#include <cstdint>

#include "core/sync.h"
#include "variants/rwlock/internal/rw_os.h"

namespace mb::models {

template <class Memory>
struct CrashPlay {
  static constexpr std::uint64_t kWords = Memory::size() / 8;
  static inline Memory* mem = nullptr;
  static inline rw_os::HookPoint at{};
  static inline bool taken = false;
  static inline std::uint64_t words[kWords];
  static void hook(rw_os::HookPoint p) {
    if (taken || p != at) return;
    taken = true;
    for (std::uint64_t i = 0; i < kWords; ++i) words[i] = sync::word(mem->base(), 8 * i).load_relaxed();
  }
  // Runs write() with the hook set at `point` and puts the memory back as
  // the hook found it (the hook must have fired).
  template <class Write>
  static void inside(Memory& m, rw_os::HookPoint point, Write write) {
    mem = &m;
    at = point;
    taken = false;
    rw_os::g_test_hook = &hook;
    write();
    rw_os::g_test_hook = nullptr;
    RL_ASSERT(taken);
    for (std::uint64_t i = 0; i < kWords; ++i) sync::word(m.base(), 8 * i).store_relaxed(words[i]);
  }
};

}  // namespace mb::models

#endif  // MAPBENCH_MODELS_CRASH_PLAY_H_
