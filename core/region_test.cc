#include "core/region.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace mb {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

std::string temp_path(const char* name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name + "." + std::to_string(getpid());
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void poke(const std::string& path, off_t at, const void* bytes, size_t n) {
  int fd = open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, bytes, n, at), ssize_t(n));
  close(fd);
}

const RegionSpec kSpec{"mapbench.test", 3, 4 * kMiB, 64 * 1024};

class RegionFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = temp_path(::testing::UnitTest::GetInstance()->current_test_info()->name());
    unlink(path_.c_str());
    Region r;
    ASSERT_EQ(Region::create_file(path_, kSpec, {}, &r), Status::ok);
    std::memcpy(r.at<char>(r.user_off()), "hello", 6);
  }
  void TearDown() override { unlink(path_.c_str()); }

  // Join must fail with `want` and a message containing `needle`, and leave
  // the file's bytes exactly as they were.
  void expect_join_fails(Status want, const char* needle) {
    std::string before = slurp(path_);
    Region r;
    std::string why;
    EXPECT_EQ(Region::join_file(path_, kSpec.type, kSpec.type_version, &r, &why), want) << why;
    EXPECT_NE(why.find(needle), std::string::npos) << why;
    EXPECT_FALSE(r.joined());
    EXPECT_EQ(slurp(path_), before) << "a failed join modified the file";
  }

  std::string path_;
};

TEST(Region, AnonCreateHasHeaderAndUserArea) {
  Region r;
  ASSERT_EQ(Region::create_anon(kSpec, {}, &r), Status::ok);
  EXPECT_TRUE(r.joined());
  EXPECT_EQ(r.kind(), RegionKind::anon);
  EXPECT_EQ(r.size(), kSpec.size_init);
  EXPECT_EQ(r.root_off().load_relaxed(), 0u);
  EXPECT_EQ(r.at<RegionHeader>(0)->magic, kRegionMagic);
  r.at<char>(r.size_max() - 1)[0] = 1;  // the whole mapping is usable
}

TEST(Region, PrivateIsNotSharedWithAForkChild) {
  Region r;
  ASSERT_EQ(Region::create_private(kSpec, {}, &r), Status::ok);
  EXPECT_EQ(r.kind(), RegionKind::priv);
  r.at<char>(r.user_off())[0] = 'p';
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    r.at<char>(r.user_off())[0] = 'c';  // the child's copy
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_EQ(r.at<char>(r.user_off())[0], 'p');
}

TEST(Region, CreateRejectsBadSpecs) {
  Region r;
  std::string why;
  EXPECT_EQ(Region::create_anon({"", 1, 4 * kMiB, 0}, {}, &r, &why), Status::invalid);
  EXPECT_EQ(Region::create_anon({"x", 1, 4 * kMiB + 1, 0}, {}, &r, &why), Status::invalid);
  EXPECT_EQ(Region::create_anon({"x", 1, 4096, 0}, {}, &r, &why), Status::invalid);
  EXPECT_EQ(Region::create_anon({"x", 1, 8192, 16384}, {}, &r, &why), Status::invalid);
  EXPECT_EQ(Region::create_anon({"a-type-name-that-is-far-too-long-for-it", 1, 8192, 0}, {}, &r, &why),
            Status::invalid);
  EXPECT_FALSE(r.joined());
}

TEST_F(RegionFileTest, JoinSeesTheSameBytesAtAnotherAddress) {
  Region a, b;
  ASSERT_EQ(Region::join_file(path_, kSpec.type, kSpec.type_version, &a), Status::ok);
  ASSERT_EQ(Region::join_file(path_, kSpec.type, kSpec.type_version, &b), Status::ok);
  EXPECT_NE(a.base(), b.base());
  EXPECT_STREQ(a.at<char>(a.user_off()), "hello");
  a.root_off().store_release(12345);
  EXPECT_EQ(b.root_off().load_acquire(), 12345u);
}

// A read-only join sees a writer's bytes, cannot grow, and really cannot
// write: a store through its mapping kills the process (SIGSEGV), and the
// file is left as it was. A missing file is not_found, a damaged one is
// refused as by join_file.
TEST_F(RegionFileTest, ReadOnlyJoinReadsAndCannotWrite) {
  Region w, ro;
  ASSERT_EQ(Region::join_file(path_, kSpec.type, kSpec.type_version, &w), Status::ok);
  ASSERT_EQ(Region::join_file_read_only(path_, kSpec.type, kSpec.type_version, &ro), Status::ok);
  EXPECT_TRUE(ro.read_only());
  EXPECT_FALSE(w.read_only());
  EXPECT_STREQ(ro.at<char>(ro.user_off()), "hello");
  w.root_off().store_release(777);
  EXPECT_EQ(ro.root_off().load_acquire(), 777u);
  EXPECT_EQ(ro.grow(ro.size() + 4096), Status::invalid);
  const std::string before = slurp(path_);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ro.at<volatile char>(ro.user_off())[0] = 'X';
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  // SIGSEGV; under a sanitizer its fault handler reports it and exits 1.
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a store through a read-only join did not fault";
  EXPECT_EQ(slurp(path_), before);
  Region missing;
  EXPECT_EQ(Region::join_file_read_only(path_ + ".none", kSpec.type, kSpec.type_version, &missing), Status::not_found);
  std::string why;
  EXPECT_EQ(Region::join_file_read_only(path_, "mapbench.other", kSpec.type_version, &missing, &why), Status::invalid);
  EXPECT_NE(why.find("mapbench.other"), std::string::npos) << why;
}

TEST_F(RegionFileTest, CreateRefusesAnExistingFile) {
  std::string before = slurp(path_);
  Region r;
  EXPECT_EQ(Region::create_file(path_, kSpec, {}, &r), Status::exists);
  EXPECT_EQ(slurp(path_), before);
}

TEST_F(RegionFileTest, OpenJoinsAnExistingFile) {
  Region r;
  ASSERT_EQ(Region::open_file(path_, kSpec, {}, &r), Status::ok);
  EXPECT_STREQ(r.at<char>(r.user_off()), "hello");
}

TEST_F(RegionFileTest, TruncatedBelowHeader) {
  ASSERT_EQ(truncate(path_.c_str(), 100), 0);
  expect_join_fails(Status::invalid, "truncated");
}

TEST_F(RegionFileTest, TruncatedBelowUsedSize) {
  ASSERT_EQ(truncate(path_.c_str(), 8192), 0);  // header says 64 KiB in use
  expect_join_fails(Status::invalid, "truncated");
}

TEST_F(RegionFileTest, WrongMagic) {
  poke(path_, 0, "XXXXXXXX", 8);
  expect_join_fails(Status::invalid, "bad magic");
}

TEST_F(RegionFileTest, WrongLayoutVersion) {
  std::uint32_t v = kRegionLayoutVersion + 1;
  poke(path_, offsetof(RegionHeader, layout_version), &v, sizeof v);
  expect_join_fails(Status::invalid, "layout version");
}

TEST_F(RegionFileTest, DamagedHeaderField) {
  char flip = 0x10;
  poke(path_, offsetof(RegionHeader, size_max) + 2, &flip, 1);
  expect_join_fails(Status::corrupt, "damaged");
}

TEST_F(RegionFileTest, WrongType) {
  Region r;
  std::string before = slurp(path_), why;
  EXPECT_EQ(Region::join_file(path_, "mapbench.other", 3, &r, &why), Status::invalid);
  EXPECT_NE(why.find("holds 'mapbench.test'"), std::string::npos) << why;
  EXPECT_EQ(Region::join_file(path_, kSpec.type, 4, &r, &why), Status::invalid);
  EXPECT_EQ(slurp(path_), before);
}

TEST_F(RegionFileTest, NotARegionAtAll) {
  unlink(path_.c_str());
  {
    std::ofstream f(path_);
    f << std::string(10000, 'z');
  }
  expect_join_fails(Status::invalid, "bad magic");
}

// A region file is created 0600 (the default mode), and no call follows a
// symbolic link: a join or destroy through one fails, a create through a
// dangling one creates nothing at its target, and the file is untouched.
TEST_F(RegionFileTest, ModeIs0600AndSymlinksAreNotFollowed) {
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string before = slurp(path_), link = path_ + ".link", target = path_ + ".target";
  unlink(link.c_str());
  unlink(target.c_str());
  ASSERT_EQ(symlink(path_.c_str(), link.c_str()), 0);
  Region r;
  std::string why;
  EXPECT_EQ(Region::join_file(link, kSpec.type, kSpec.type_version, &r, &why), Status::invalid) << why;
  EXPECT_FALSE(r.joined());
  EXPECT_EQ(Region::destroy_file(link, kSpec.type, &why), Status::invalid) << why;
  EXPECT_EQ(access(path_.c_str(), F_OK), 0);
  ASSERT_EQ(unlink(link.c_str()), 0);
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);  // dangling
  EXPECT_EQ(Region::create_file(link, kSpec, {}, &r, &why), Status::exists) << why;
  EXPECT_NE(access(target.c_str(), F_OK), 0) << "a create followed the link";
  EXPECT_EQ(slurp(path_), before);
  unlink(link.c_str());
}

TEST_F(RegionFileTest, GrowOnlyExtends) {
  Region r;
  ASSERT_EQ(Region::join_file(path_, kSpec.type, kSpec.type_version, &r), Status::ok);
  EXPECT_EQ(r.grow(1 * kMiB), Status::ok);
  EXPECT_EQ(r.file_size(), 1 * kMiB);
  EXPECT_EQ(r.size(), 1 * kMiB);
  EXPECT_EQ(r.grow(128 * 1024), Status::ok);  // smaller: no shrink
  EXPECT_EQ(r.file_size(), 1 * kMiB);
  EXPECT_EQ(r.size(), 1 * kMiB);
  EXPECT_EQ(r.grow(8 * kMiB), Status::full);  // beyond size_max
  r.at<char>(1 * kMiB - 1)[0] = 7;            // backed bytes are usable
}

TEST_F(RegionFileTest, DestroyUnlinksOnlyRegions) {
  std::string why;
  EXPECT_EQ(Region::destroy_file(path_, "mapbench.other", &why), Status::invalid);
  EXPECT_EQ(access(path_.c_str(), F_OK), 0);
  EXPECT_EQ(Region::destroy_file(path_, kSpec.type, &why), Status::ok) << why;
  EXPECT_NE(access(path_.c_str(), F_OK), 0);
  Region r;
  EXPECT_EQ(Region::join_file(path_, kSpec.type, kSpec.type_version, &r), Status::not_found);
}

// A peer's flock (held here through a second open file description, which
// conflicts like another process's) makes join and destroy wait, then fail
// with `again`, leaving the file untouched; a shared lock lets joins in.
TEST_F(RegionFileTest, FileLocksOrderJoinAndDestroy) {
  const unsigned saved = g_region_lock_wait_ms;
  g_region_lock_wait_ms = 50;
  std::string before = slurp(path_), why;
  int peer = open(path_.c_str(), O_RDWR);
  ASSERT_GE(peer, 0);
  ASSERT_EQ(flock(peer, LOCK_EX), 0);  // a peer creating or destroying it
  Region r;
  EXPECT_EQ(Region::join_file(path_, kSpec.type, kSpec.type_version, &r, &why), Status::again);
  EXPECT_NE(why.find("locked by another process"), std::string::npos) << why;
  EXPECT_FALSE(r.joined());
  EXPECT_EQ(Region::destroy_file(path_, kSpec.type, &why), Status::again);
  EXPECT_EQ(access(path_.c_str(), F_OK), 0);
  EXPECT_EQ(slurp(path_), before);
  ASSERT_EQ(flock(peer, LOCK_SH), 0);  // a peer validating it (converts the lock)
  EXPECT_EQ(Region::join_file(path_, kSpec.type, kSpec.type_version, &r, &why), Status::ok) << why;
  EXPECT_EQ(Region::destroy_file(path_, kSpec.type, &why), Status::again);
  ASSERT_EQ(flock(peer, LOCK_UN), 0);
  EXPECT_EQ(Region::destroy_file(path_, kSpec.type, &why), Status::ok) << why;
  close(peer);
  g_region_lock_wait_ms = saved;
}

// A FIFO at the path: a read-only join used to block in open() until a
// writer came (for ever); a character device was "destroyed". Both are
// refused as not a regular file.
TEST(Region, JoinRefusesWhatIsNotARegularFile) {
  const std::string fifo = temp_path("region_fifo");
  unlink(fifo.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  alarm(30);  // the old code blocked here
  for (bool read_only : {true, false}) {
    Region r;
    std::string why;
    const Status s = read_only ? Region::join_file_read_only(fifo, kSpec.type, kSpec.type_version, &r, &why)
                               : Region::join_file(fifo, kSpec.type, kSpec.type_version, &r, &why);
    EXPECT_EQ(s, Status::invalid) << why;
    EXPECT_NE(why.find("not a regular file"), std::string::npos) << why;
  }
  alarm(0);
  unlink(fifo.c_str());
  Region r;
  std::string why;
  EXPECT_EQ(Region::join_file_read_only("/dev/null", kSpec.type, kSpec.type_version, &r, &why), Status::invalid);
  EXPECT_NE(why.find("not a regular file"), std::string::npos) << why;
}

// open_file() racing a destroy: the join opened the file, then waited for
// its lock while the destroyer (a second open file description holding the
// exclusive lock, as another process would) zeroed the magic and unlinked
// it. The join used to report the file destroyed (invalid); it now finds
// it unlinked, and open_file() creates a new one.
TEST_F(RegionFileTest, OpenRacingADestroyCreatesANewFile) {
  int peer = open(path_.c_str(), O_RDWR);
  ASSERT_GE(peer, 0);
  ASSERT_EQ(flock(peer, LOCK_EX), 0);
  std::thread destroyer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the open waits for its lock by then
    const std::uint64_t zero = 0;
    EXPECT_EQ(pwrite(peer, &zero, sizeof zero, 0), ssize_t(sizeof zero));
    EXPECT_EQ(unlink(path_.c_str()), 0);
    close(peer);  // releases the lock
  });
  Region r;
  std::string why;
  EXPECT_EQ(Region::open_file(path_, kSpec, {}, &r, &why), Status::ok) << why;
  destroyer.join();
  EXPECT_TRUE(r.joined());
  EXPECT_EQ(access(path_.c_str(), F_OK), 0);
}

// A process killed inside create_file()'s init leaves its temporary file
// (path.tmp.<pid>.<serial>) behind; a later process given the same pid used
// to fail on the taken name. Here a child plays that later process.
TEST_F(RegionFileTest, LeftoverTemporaryFilesDoNotBlockCreation) {
  const std::string fresh = path_ + ".fresh";
  unlink(fresh.c_str());
  const pid_t child = fork();
  if (child == 0) {
    g_region_temp_serial.store_relaxed(0);  // as a new process starts (a fork inherits the count)
    for (int i = 0; i < 100; ++i) {  // the first 100 serials taken
      const std::string tmp = fresh + ".tmp." + std::to_string(getpid()) + "." + std::to_string(i);
      const int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
      if (fd < 0) _exit(2);
      close(fd);
    }
    Region r;
    const Status s = Region::create_file(fresh, kSpec, {}, &r);
    for (int i = 0; i < 100; ++i) unlink((fresh + ".tmp." + std::to_string(getpid()) + "." + std::to_string(i)).c_str());
    _exit(s == Status::ok ? 0 : 3);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_EQ(access(fresh.c_str(), F_OK), 0);
  unlink(fresh.c_str());
}

TEST(Region, FailedInitPublishesNothing) {
  std::string path = temp_path("failed_init");
  unlink(path.c_str());
  Region r;
  auto init = [](Region&) { return Status::full; };
  EXPECT_EQ(Region::create_file(path, kSpec, init, &r), Status::full);
  EXPECT_NE(access(path.c_str(), F_OK), 0);
  EXPECT_FALSE(r.joined());
}

TEST(Region, MemfdJoinByDescriptor) {
  Region a, b;
  ASSERT_EQ(Region::create_memfd(kSpec, {}, &a), Status::ok);
  std::memcpy(a.at<char>(a.user_off()), "memfd", 6);
  ASSERT_EQ(Region::join_fd(a.fd(), kSpec.type, kSpec.type_version, &b), Status::ok);
  EXPECT_STREQ(b.at<char>(b.user_off()), "memfd");
  ASSERT_EQ(b.grow(2 * kMiB), Status::ok);
  EXPECT_EQ(a.size(), 2 * kMiB);
}

TEST(Region, MoveAndLeave) {
  Region a;
  ASSERT_EQ(Region::create_anon(kSpec, {}, &a), Status::ok);
  Region b = std::move(a);
  EXPECT_FALSE(a.joined());
  EXPECT_TRUE(b.joined());
  b.leave();
  b.leave();
  EXPECT_FALSE(b.joined());
}

}  // namespace
}  // namespace mb
