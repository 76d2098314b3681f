// Tests only: crash tests that kill a process inside a critical section.
// park_child() forks a child that runs fn(); when fn reaches the test hook
// point `at` (rw_os::hook), the child tells the parent through a pipe and
// waits there to be killed. idle_child() forks a live process that holds
// nothing (a lock word can name it); dead_pid() gives a pid no process has. Used by the rwlock, robin-hood and
// chain fork tests.
#ifndef MAPBENCH_VARIANTS_RWLOCK_INTERNAL_PARK_TESTING_H_
#define MAPBENCH_VARIANTS_RWLOCK_INTERNAL_PARK_TESTING_H_

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "variants/rwlock/internal/rw_os.h"

namespace mb::rw_os::testing {

inline HookPoint g_park_at;
inline int g_park_fd = -1;

inline void park(HookPoint p) {
  if (p != g_park_at || g_park_fd < 0) return;
  char c = 'p';
  if (write(g_park_fd, &c, 1) != 1) _exit(90);
  for (;;) pause();
}

// The child's pid once it is parked (it holds whatever fn held at `at`);
// -1 when it never parked (fn returned, or called _exit): the child is then
// reaped and *status, if given, receives its wait status (91: fn returned).
template <class Fn>
pid_t park_child(HookPoint at, Fn&& fn, int* status = nullptr) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    g_park_at = at;
    g_park_fd = fds[1];
    g_test_hook = park;
    fn();
    _exit(91);  // never parked
  }
  close(fds[1]);
  char c = 0;
  const bool parked = pid > 0 && read(fds[0], &c, 1) == 1;
  close(fds[0]);
  if (parked) return pid;
  int st = 0;
  if (pid > 0) waitpid(pid, &st, 0);
  if (status != nullptr) *status = st;
  return -1;
}

// The pid of a process that has exited and been reaped (a dead holder or
// owner for a lock word or an owner table word), or -1 when fork failed.
inline pid_t dead_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int st = 0;
  return pid > 0 && waitpid(pid, &st, 0) == pid ? pid : -1;
}

// A child that does nothing, alive until the parent closes *release (the
// write end of a pipe the child reads: end_idle_child() does, and reaps
// it). Its pid, or -1 when pipe or fork fails.
inline pid_t idle_child(int* release) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[1]);
    char c;
    (void)!read(fds[0], &c, 1);  // returns at EOF, when the parent closes its end
    _exit(0);
  }
  close(fds[0]);
  *release = fds[1];
  if (pid < 0) close(fds[1]);
  return pid;
}

// SIGALRM (which ends the test binary) unless the scope ends first: a test
// that would otherwise wait forever fails instead, and a failed ASSERT that
// leaves the scope early disarms it.
struct AlarmGuard {
  explicit AlarmGuard(unsigned seconds) { alarm(seconds); }
  ~AlarmGuard() { alarm(0); }
  AlarmGuard(const AlarmGuard&) = delete;
  AlarmGuard& operator=(const AlarmGuard&) = delete;
};

// fn() on a thread of its own, for a test that something waits: waited()
// sleeps `ms` and says whether fn has not returned yet (it waits, as it
// should for a live holder); join() waits for it once the test let it go.
class BlockedCall {
 public:
  template <class Fn>
  explicit BlockedCall(Fn fn) : t_([this, fn] {
    fn();
    done_ = true;
  }) {}
  ~BlockedCall() {
    if (t_.joinable()) t_.join();
  }
  bool waited(std::chrono::milliseconds ms) {
    std::this_thread::sleep_for(ms);
    return !done_.load();
  }
  void join() { t_.join(); }

 private:
  std::atomic<bool> done_{false};
  std::thread t_;  // after done_: it may set done_ at once
};

inline void end_idle_child(pid_t pid, int release) {
  close(release);
  int st = 0;
  waitpid(pid, &st, 0);
}

}  // namespace mb::rw_os::testing

#endif  // MAPBENCH_VARIANTS_RWLOCK_INTERNAL_PARK_TESTING_H_
