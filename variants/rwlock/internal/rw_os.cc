// Production branch of rw_os.h: process ids, liveness and the clock.
#include "variants/rwlock/internal/rw_os.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace mb::rw_os {
namespace {

thread_local std::uint32_t t_tid = 0;
thread_local std::uint32_t t_tid_pid = 0;  // the pid t_tid was read under (a fork child reads its own)

// A fork child starts with the cached ids of rw_os.h (g_self_pid,
// g_self_start) cleared.
void forget_pid() {
  g_self_pid.store(0, std::memory_order_relaxed);
  g_self_start.store(0, std::memory_order_relaxed);
}
[[maybe_unused]] const int g_atfork_registered = pthread_atfork(nullptr, nullptr, forget_pid);

}  // namespace

std::uint32_t read_self_pid() {
  const auto p = std::uint32_t(getpid());
  g_self_pid.store(p, std::memory_order_relaxed);
  return p;
}

std::uint32_t self_tid() {
  std::uint32_t p = self_pid();
  if (t_tid == 0 || t_tid_pid != p) {
    t_tid = std::uint32_t(syscall(SYS_gettid));
    t_tid_pid = p;
  }
  return t_tid;
}

namespace {

// The first n - 1 bytes of a /proc file into buf, NUL-terminated; false
// when it cannot be read.
bool read_proc(const char* path, char* buf, std::size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t got = read(fd, buf, n - 1);
  close(fd);
  if (got <= 0) return false;
  buf[got] = 0;
  return true;
}

// A zombie thread group leader whose other threads still run (its main
// thread called pthread_exit) is a live process: /proc/PID/status counts
// its threads. A file that cannot be read (the process reaped meanwhile
// aside) or has no Threads line in what we read counts as live, as
// alive() has it: a wrong "dead" would let two holders in.
bool threads_left(std::uint32_t pid) {
  char path[64], buf[8192];
  std::snprintf(path, sizeof path, "/proc/%u/status", pid);
  if (!read_proc(path, buf, sizeof buf)) return kill(pid_t(pid), 0) == 0 || errno != ESRCH;
  const char* t = std::strstr(buf, "\nThreads:");
  return t == nullptr || std::strtoul(t + 9, nullptr, 10) > 1;
}

}  // namespace

// Dead only when the kernel says so: no such process, or a zombie (kill()
// succeeds on an unreaped one) with no threads left. When /proc cannot be
// read (not mounted, say) a process kill() finds is taken for alive: a
// wrong "dead" would let two writers in, a wrong "alive" only waits.
bool alive(std::uint32_t pid) {
  if (pid == 0) return false;
  if (kill(pid_t(pid), 0) != 0 && errno == ESRCH) return false;
  char path[64], buf[256];
  std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
  if (!read_proc(path, buf, sizeof buf)) {
    // Gone between the kill() and the open, or no /proc at all.
    return kill(pid_t(pid), 0) == 0 || errno != ESRCH;
  }
  // Format: "pid (comm) S ...": the state follows the last ')'.
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] == 0 || close_paren[2] == 0) return true;
  char state = close_paren[2];
  if (state == 'Z') return threads_left(pid);
  return state != 'X' && state != 'x';
}

std::uint32_t start_key(std::uint32_t pid) {
  char path[64], buf[1024];
  std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
  if (pid == 0 || !read_proc(path, buf, sizeof buf)) return 0;
  // "pid (comm) S f4 f5 ...": field 3 follows the last ')'; skip to 22.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  ++p;
  if (*p != ' ') return 0;
  for (int field = 3; field < 22 && p != nullptr; ++field) p = std::strchr(p + 1, ' ');  // the space before it
  if (p == nullptr) return 0;
  return std::uint32_t(std::strtoull(p + 1, nullptr, 10));
}

// Cached with bit 32 set, so that self_start_key() reads /proc once per
// process even when the answer is 0 (no /proc).
std::uint32_t read_self_start_key() {
  const std::uint64_t k = std::uint64_t{1} << 32 | start_key(self_pid());
  g_self_start.store(k, std::memory_order_relaxed);
  return std::uint32_t(k);
}

std::uint64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000u + std::uint64_t(ts.tv_nsec) / 1000000u;
}

std::uint64_t g_clock_skew_s = 0, g_clock_frozen_s = 0;

std::uint64_t now_s() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (g_clock_frozen_s != 0 ? g_clock_frozen_s : std::uint64_t(ts.tv_sec)) + g_clock_skew_s;
}

}  // namespace mb::rw_os
