// Helpers shared by the rwlock tests (testonly).
#ifndef MAPBENCH_VARIANTS_RWLOCK_INTERNAL_RW_TEST_UTIL_H_
#define MAPBENCH_VARIANTS_RWLOCK_INTERNAL_RW_TEST_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace mb::rw_test {

// A random seed, or MB_SEED's; printed so a failure can be repeated.
inline std::uint64_t seed_from_env() {
  const char* env = std::getenv("MB_SEED");
  std::uint64_t seed = env ? std::strtoull(env, nullptr, 0) : std::random_device{}();
  std::printf("seed %llu (set MB_SEED to repeat)\n", static_cast<unsigned long long>(seed));
  return seed;
}

// A path in the test's temporary directory, unique to this process.
inline std::string temp_path(const char* name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name + "." + std::to_string(getpid());
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void spit(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace mb::rw_test

#endif  // MAPBENCH_VARIANTS_RWLOCK_INTERNAL_RW_TEST_UTIL_H_
