// Production branch of rw_os.h: process ids, liveness and the clock.
#include "variants/rwlock/internal/rw_os.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace mb::rw_os {
namespace {

// Cached ids; a fork child starts with them cleared (pthread_atfork).
std::uint32_t g_pid = 0;
thread_local std::uint32_t t_tid = 0;
thread_local std::uint32_t t_tid_pid = 0;  // the pid t_tid was read under

void forget_pid() { g_pid = 0; }
const int g_atfork_registered = pthread_atfork(nullptr, nullptr, forget_pid);

}  // namespace

std::uint32_t self_pid() {
  (void)g_atfork_registered;
  std::uint32_t p = g_pid;
  if (p == 0) g_pid = p = std::uint32_t(getpid());
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

bool alive(std::uint32_t pid) {
  if (pid == 0) return false;
  if (kill(pid_t(pid), 0) != 0 && errno == ESRCH) return false;
  // kill() succeeds on an unreaped zombie: read its state from /proc.
  char path[64], buf[256];
  std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno != ENOENT;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return true;
  buf[n] = 0;
  // Format: "pid (comm) S ...": the state follows the last ')'.
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr || close_paren[1] == 0 || close_paren[2] == 0) return true;
  char state = close_paren[2];
  return state != 'Z' && state != 'X' && state != 'x';
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
