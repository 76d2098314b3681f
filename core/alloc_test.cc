#include "core/alloc.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/region.h"
#include "gtest/gtest.h"

namespace mb {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

// A small space: 64 KiB volumes so exhaustion and volume recycling happen
// with few objects.
AllocParams small_params() {
  AllocParams p;
  p.vol_sz = 64 * 1024;
  p.vol_init = 1;
  p.cgroup_cnt = 2;
  return p;
}

struct Space {
  // 1 GiB of address space (backed lazily): large classes take whole volumes
  // per concurrency group, and the thread may migrate between CPUs (groups).
  explicit Space(std::uint64_t size_max = 1024 * kMiB, AllocParams p = AllocParams()) {
    std::string why;
    EXPECT_EQ(Region::create_anon({"mapbench.alloc", 1, size_max, 0}, {}, &region, &why), Status::ok) << why;
    EXPECT_EQ(Allocator::create(region, p, &a, &why), Status::ok) << why;
  }
  Region region;
  Allocator a;
};

// Fill an object with bytes derived from (seed, index) and check them back.
void fill(const Allocator& a, std::uint64_t off, std::uint64_t n, std::uint64_t seed) {
  auto* p = a.at<unsigned char>(off);
  for (std::uint64_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>((seed * 131 + i) >> 1);
}
bool holds(const Allocator& a, std::uint64_t off, std::uint64_t n, std::uint64_t seed) {
  auto* p = a.at<unsigned char>(off);
  for (std::uint64_t i = 0; i < n; ++i)
    if (p[i] != static_cast<unsigned char>((seed * 131 + i) >> 1)) return false;
  return true;
}

std::string verify_msg(const Allocator& a, Status* s, AllocStats* st = nullptr) {
  std::string why;
  *s = a.verify(st, &why);
  return why;
}

TEST(SizeClasses, StandardLadderIsSound) {
  SizeClass t[kSzcMax];
  unsigned n = 0;
  ASSERT_EQ(alloc_size_classes(AllocParams(), t, &n), Status::ok);
  ASSERT_GT(n, 20u);
  for (unsigned i = 0; i < n; ++i) {
    SCOPED_TRACE("class " + std::to_string(i));
    EXPECT_GE(t[i].obj_cnt, 2u);
    std::uint64_t sb = kSbHdrSize + std::uint64_t{t[i].obj_cnt} * t[i].footprint;
    std::uint64_t home = t[i].parent == kVolumeParent ? AllocParams().vol_sz : t[t[i].parent].footprint;
    EXPECT_LE(sb, home);
    // A superblock fills its parent slot or volume to at least 75%.
    EXPECT_GE(sb * 4, home * 3) << "footprint " << t[i].footprint;
  }
  EXPECT_GE(t[n - 1].footprint, 1 * kMiB);  // 64 KiB values fit with room
  // A power-of-two object from 4 KiB to vol_sz / 8 fits a class exactly,
  // header and 64-byte alignment included (no 25% jump to the next class).
  for (std::uint64_t p = 4096; p <= AllocParams().vol_sz / 8; p *= 2)
    EXPECT_TRUE(std::any_of(t, t + n, [&](const SizeClass& c) { return c.footprint == p + kPow2Slack; })) << p;
}

TEST(SizeClasses, RejectsBadParameters) {
  SizeClass t[kSzcMax];
  unsigned n = 0;
  AllocParams p;
  p.vol_sz = 100;
  EXPECT_EQ(alloc_size_classes(p, t, &n), Status::invalid);
  p = AllocParams();
  p.footprint_cnt = 2;
  p.footprints[0] = 64;
  p.footprints[1] = 48;  // not ascending
  EXPECT_EQ(alloc_size_classes(p, t, &n), Status::invalid);
  p.footprints[1] = 72;  // not a multiple of 16
  EXPECT_EQ(alloc_size_classes(p, t, &n), Status::invalid);
  // Every footprint below a superblock header (64): no class can hold a
  // superblock of another, so each is carved from volumes (the parent
  // search used to run past the array: a review finding, caught by ASan).
  p.footprints[0] = 32;
  p.footprints[1] = 48;
  ASSERT_EQ(alloc_size_classes(p, t, &n), Status::ok);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(t[0].parent, kVolumeParent);
  EXPECT_EQ(t[1].parent, kVolumeParent);
  // A superblock of 4 GiB or more does not fit its header's 32-bit size.
  p.vol_sz = std::uint64_t{16} << 30;
  p.footprint_cnt = 1;
  p.footprints[0] = std::uint32_t{1} << 31;
  std::string why;
  EXPECT_EQ(alloc_size_classes(p, t, &n, &why), Status::invalid);
  EXPECT_NE(why.find("4 GiB"), std::string::npos) << why;
  p.obj_cnt_max = 2;  // 2 x 2 GiB + 64: still too large
  EXPECT_EQ(alloc_size_classes(p, t, &n), Status::invalid);
  p.footprints[0] = std::uint32_t{1} << 30;  // 2 x 1 GiB + 64: fits
  EXPECT_EQ(alloc_size_classes(p, t, &n), Status::ok);
}

// Classes carved from volumes only (footprints 32 and 48) work end to end.
TEST(Allocator, TinyFootprintsOnly) {
  AllocParams p;
  p.footprint_cnt = 2;
  p.footprints[0] = 32;
  p.footprints[1] = 48;
  Space s(64 * kMiB, p);
  std::uint64_t a = 0, b = 0;
  ASSERT_EQ(s.a.alloc(0, 16, 1, &a), Status::ok);
  ASSERT_EQ(s.a.alloc(0, 32, 2, &b), Status::ok);
  Status st;
  std::string why = verify_msg(s.a, &st);
  EXPECT_EQ(st, Status::ok) << why;
  EXPECT_EQ(s.a.free(a), Status::ok);
  EXPECT_EQ(s.a.free(b), Status::ok);
}

TEST(Allocator, AllocFreeRoundTrip) {
  Space s;
  std::uint64_t off = 0;
  ASSERT_EQ(s.a.alloc(0, 100, 7, &off), Status::ok);
  EXPECT_EQ(off % 16, 0u);
  fill(s.a, off, 100, 1);
  std::uint64_t size = 0;
  std::uint32_t tag = 0;
  ASSERT_EQ(s.a.info(off, &size, &tag), Status::ok);
  EXPECT_EQ(size, 100u);
  EXPECT_EQ(tag, 7u);
  Status st;
  EXPECT_EQ((verify_msg(s.a, &st), st), Status::ok);
  EXPECT_EQ(s.a.free(off), Status::ok);
  EXPECT_EQ((verify_msg(s.a, &st), st), Status::ok);
}

TEST(Allocator, AlignmentsAndSizes) {
  Space s;
  std::vector<std::uint64_t> offs;
  for (std::uint64_t align : {0, 1, 8, 16, 32, 64, 256, 4096}) {
    for (std::uint64_t size : {0, 1, 15, 16, 17, 100, 4096, 65536, 1 << 19}) {
      std::uint64_t off = 0;
      ASSERT_EQ(s.a.alloc(align, size, std::uint32_t(size), &off), Status::ok) << align << " " << size;
      EXPECT_EQ(off % std::max<std::uint64_t>(align, 16), 0u);
      fill(s.a, off, size, off);
      offs.push_back(off);
    }
  }
  Status st;
  AllocStats stats;
  std::string why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.obj_cnt, offs.size());
  for (std::uint64_t off : offs) {
    std::uint64_t size = 0;
    ASSERT_EQ(s.a.info(off, &size, nullptr), Status::ok);
    EXPECT_TRUE(holds(s.a, off, size, off)) << "object at " << off << " was overwritten";
    EXPECT_EQ(s.a.free(off), Status::ok);
  }
  why = verify_msg(s.a, &st, &stats);
  EXPECT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.obj_cnt, 0u);
}

TEST(Allocator, BadArguments) {
  Space s;
  std::uint64_t off = 0;
  EXPECT_EQ(s.a.alloc(3, 10, 0, &off), Status::invalid);           // not a power of two
  EXPECT_EQ(s.a.alloc(8192, 10, 0, &off), Status::invalid);        // above kAlignMax
  EXPECT_EQ(s.a.alloc(0, s.a.size_max() + 1, 0, &off), Status::invalid);
  EXPECT_EQ(s.a.alloc(0, std::uint64_t{1} << 33, 0, &off), Status::invalid);
  EXPECT_EQ(s.a.alloc(0, 10, 0, nullptr), Status::invalid);
  EXPECT_EQ(s.a.alloc(0, s.a.size_max(), 0, &off), Status::ok);
}

TEST(Allocator, DoubleFreeAndForeignOffsetsChangeNothing) {
  Space s;
  std::uint64_t keep = 0, off = 0;
  ASSERT_EQ(s.a.alloc(0, 64, 1, &keep), Status::ok);
  fill(s.a, keep, 64, 9);
  ASSERT_EQ(s.a.alloc(0, 64, 2, &off), Status::ok);
  ASSERT_EQ(s.a.free(off), Status::ok);
  EXPECT_EQ(s.a.free(off), Status::invalid);  // double free
  for (std::uint64_t bad : {std::uint64_t{0}, std::uint64_t{8}, std::uint64_t{4096}, keep + 16,
                            keep + 1, s.region.size_max() - 16, std::uint64_t{1} << 50}) {
    Status r = s.a.free(bad);
    EXPECT_TRUE(r == Status::invalid || r == Status::corrupt) << bad << " -> " << to_string(r);
  }
  Status st;
  AllocStats stats;
  std::string why = verify_msg(s.a, &st, &stats);
  EXPECT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.obj_cnt, 1u);
  EXPECT_TRUE(holds(s.a, keep, 64, 9));
  EXPECT_EQ(s.a.free(keep), Status::ok);
}

// An offset just past a superblock's header (here the second volume's, in
// use) is not an object: free() and info() say invalid, as for any foreign
// offset. They used to say corrupt (the header's class field names the
// parent, 0xff for a volume) on a healthy allocator.
TEST(Allocator, AnOffsetPastASuperblockHeaderIsForeign) {
  Space s;
  std::vector<std::uint64_t> offs;
  while (s.a.space_end() - s.a.space_begin() < 2 * s.a.vol_sz()) {
    std::uint64_t off = 0;
    ASSERT_EQ(s.a.alloc(0, 1000, 0, &off), Status::ok);
    offs.push_back(off);
  }
  const std::uint64_t past_header = s.a.space_begin() + s.a.vol_sz() + 16;
  std::uint64_t size = 0;
  EXPECT_EQ(s.a.free(past_header), Status::invalid);
  EXPECT_EQ(s.a.info(past_header, &size, nullptr), Status::invalid);
  for (std::uint64_t off : offs) ASSERT_EQ(s.a.free(off), Status::ok);
  Status st;
  std::string why = verify_msg(s.a, &st);
  EXPECT_EQ(st, Status::ok) << why;
}

TEST(Allocator, ExhaustionReturnsFullAndRecovers) {
  Space s(2 * kMiB, small_params());
  std::vector<std::uint64_t> offs;
  std::uint64_t off = 0;
  Status r;
  while ((r = s.a.alloc(0, 200, 0, &off)) == Status::ok) {
    fill(s.a, off, 200, off);
    offs.push_back(off);
  }
  EXPECT_EQ(r, Status::full);
  ASSERT_GT(offs.size(), 100u);
  EXPECT_EQ(s.a.alloc(0, 4000, 0, &off), Status::full);
  Status st;
  AllocStats stats;
  std::string why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.obj_cnt, offs.size());
  EXPECT_EQ(stats.vol_cnt, stats.vol_max);
  for (std::uint64_t o : offs) {
    ASSERT_TRUE(holds(s.a, o, 200, o));
    ASSERT_EQ(s.a.free(o), Status::ok);
  }
  why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
  EXPECT_GT(stats.vol_free, 0u) << "no volume came back after freeing everything";
  // trim() gives every superblock back: all volumes are free again.
  s.a.trim();
  why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.sb_cnt, 0u);
  EXPECT_EQ(stats.vol_free, stats.vol_cnt);
  // The space is usable again by another size class, as much as before.
  std::size_t big = 0;
  while (s.a.alloc(0, 900, 0, &off) == Status::ok) ++big;
  EXPECT_GT(big * 1024, offs.size() * 224 * 8 / 10) << big << " objects of 900 B";
  EXPECT_EQ((verify_msg(s.a, &st), st), Status::ok);
}

// Free slots in another concurrency group's active superblock are not
// stranded: once its own group's superblocks and the volumes are used up, an
// allocation takes them before it says full (it used to say full while
// group 1's superblock held free slots).
TEST(Allocator, FullOnlyWhenNoGroupHasAFreeSlot) {
  Space s(2 * kMiB, small_params());  // 2 groups
  std::uint64_t first = 0, off = 0;
  ASSERT_EQ(s.a.alloc_in(1, 0, 200, 0, &first), Status::ok);  // group 1's active superblock: one slot used
  std::vector<std::uint64_t> offs{first};
  Status r;
  while ((r = s.a.alloc_in(0, 0, 200, 0, &off)) == Status::ok) offs.push_back(off);
  EXPECT_EQ(r, Status::full);
  EXPECT_EQ(s.a.alloc_in(1, 0, 200, 0, &off), Status::full) << "group 1 still had a free slot";
  Status st;
  AllocStats stats;
  std::string why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.obj_cnt, offs.size());
  // A slot freed into either group's superblock is found from the other.
  ASSERT_EQ(s.a.free_in(1, first), Status::ok);
  ASSERT_EQ(s.a.alloc_in(0, 0, 200, 0, &off), Status::ok);
  EXPECT_EQ(s.a.alloc_in(1, 0, 200, 0, &off), Status::full);
  for (std::uint64_t o : offs)
    if (o != first) ASSERT_EQ(s.a.free(o), Status::ok);
  why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
}

TEST(Allocator, AddVolumesWhileInUse) {
  Space s(8 * kMiB, small_params());
  std::uint64_t off = 0;
  ASSERT_EQ(s.a.alloc(0, 10, 0, &off), Status::ok);
  AllocStats before, after;
  Status st;
  verify_msg(s.a, &st, &before);
  ASSERT_EQ(s.a.add_volumes(3), Status::ok);
  verify_msg(s.a, &st, &after);
  ASSERT_EQ(st, Status::ok);
  EXPECT_EQ(after.vol_cnt, before.vol_cnt + 3);
  EXPECT_EQ(after.vol_free, before.vol_free + 3);
  EXPECT_EQ(s.a.add_volumes(1000), Status::full);
  verify_msg(s.a, &st, &after);
  EXPECT_EQ(after.vol_cnt, after.vol_max);
  EXPECT_EQ(s.a.free(off), Status::ok);
}

TEST(Allocator, RandomOpsAgainstShadow) {
  Space s(32 * kMiB, small_params());
  std::uint64_t seed = std::random_device{}();
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::map<std::uint64_t, std::uint64_t> live;  // off -> size
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || rng() % 100 < 55) {
      std::uint64_t size = rng() % 3 == 0 ? rng() % 8000 : rng() % 300;
      std::uint64_t align = std::uint64_t{1} << (rng() % 8);
      std::uint64_t off = 0;
      Status r = s.a.alloc(align, size, 0, &off);
      if (r == Status::full) continue;
      ASSERT_EQ(r, Status::ok);
      ASSERT_EQ(live.count(off), 0u) << "offset handed out twice, seed " << seed;
      fill(s.a, off, size, off);
      live[off] = size;
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      ASSERT_TRUE(holds(s.a, it->first, it->second, it->first)) << "seed " << seed;
      ASSERT_EQ(s.a.free(it->first), Status::ok);
      live.erase(it);
    }
    if (step % 5000 == 0) {
      Status st;
      AllocStats stats;
      std::string why = verify_msg(s.a, &st, &stats);
      ASSERT_EQ(st, Status::ok) << why << " seed " << seed;
      ASSERT_EQ(stats.obj_cnt, live.size());
    }
  }
}

TEST(Allocator, FlippedObjectHeaderIsFoundAndContained) {
  Space s;
  std::uint64_t a = 0, b = 0;
  ASSERT_EQ(s.a.alloc(0, 40, 5, &a), Status::ok);
  ASSERT_EQ(s.a.alloc(0, 40, 6, &b), Status::ok);
  fill(s.a, b, 40, 3);
  s.a.at<unsigned char>(a - 16)[5] ^= 0x04;  // a's header: size field
  Status st;
  std::string why = verify_msg(s.a, &st);
  EXPECT_EQ(st, Status::corrupt);
  EXPECT_NE(why.find("header damaged"), std::string::npos) << why;
  EXPECT_EQ(s.a.free(a), Status::corrupt);
  EXPECT_TRUE(holds(s.a, b, 40, 3));
  EXPECT_EQ(s.a.free(b), Status::ok);  // the neighbour is unaffected
  s.a.at<unsigned char>(a - 16)[5] ^= 0x04;  // repair: everything is fine again
  EXPECT_EQ((verify_msg(s.a, &st), st), Status::ok);
  EXPECT_EQ(s.a.free(a), Status::ok);
}

TEST(Allocator, FlippedTagByteIsFound) {
  Space s;
  std::uint64_t a = 0;
  ASSERT_EQ(s.a.alloc(0, 40, 0x1234, &a), Status::ok);
  s.a.at<unsigned char>(a - 8)[1] ^= 0x80;
  Status st;
  verify_msg(s.a, &st);
  EXPECT_EQ(st, Status::corrupt);
}

TEST(Allocator, DamagedSuperblockAndStacksAreReported) {
  Space s;
  std::uint64_t a = 0;
  ASSERT_EQ(s.a.alloc(0, 40, 0, &a), Status::ok);
  // The superblock holding `a` starts kSbHdrSize before slot 0.
  std::uint64_t sb = a - kObjHdrSize - kSbHdrSize;  // a is the first object
  auto* bits = s.a.at<std::uint64_t>(sb + 16);
  std::uint64_t saved = *bits;
  *bits = ~std::uint64_t{0};  // bits beyond the slot count, and `a` "free"
  Status st;
  std::string why = verify_msg(s.a, &st);
  EXPECT_EQ(st, Status::corrupt) << why;
  *bits = saved;
  auto* sbh = s.a.at<unsigned char>(sb);
  sbh[9] ^= 1;  // superblock's tag: another class
  verify_msg(s.a, &st);
  EXPECT_EQ(st, Status::corrupt);
  EXPECT_EQ(s.a.free(a), Status::corrupt);
  sbh[9] ^= 1;
  // An inactive-stack head pointing outside the volumes.
  auto* head = s.a.at<std::uint64_t>(s.a.inactive_off(0));
  *head = 0xffffffffu;
  why = verify_msg(s.a, &st);
  EXPECT_EQ(st, Status::corrupt);
  EXPECT_NE(why.find("inactive stack"), std::string::npos) << why;
  *head = 0;
  EXPECT_EQ((verify_msg(s.a, &st), st), Status::ok);
  EXPECT_EQ(s.a.free(a), Status::ok);
}

TEST(Allocator, JoinValidatesTheHeader) {
  Space s;
  Allocator b;
  std::string why;
  ASSERT_EQ(Allocator::join(s.region, &b, &why), Status::ok) << why;
  auto* w = s.a.at<unsigned char>(s.a.hdr_off());
  w[8 * 4 + 1] ^= 1;  // vol_max
  EXPECT_EQ(Allocator::join(s.region, &b, &why), Status::corrupt);
  w[8 * 4 + 1] ^= 1;
  w[0] ^= 1;  // magic
  EXPECT_EQ(Allocator::join(s.region, &b, &why), Status::invalid);
  w[0] ^= 1;
  ASSERT_EQ(Allocator::join(s.region, &b, &why), Status::ok);
}

constexpr const char* kFileType = "mapbench.alloc";  // alloc_file's region type, version 1

// A new file region of size_max bytes (a per-process name under TEST_TMPDIR)
// holding an allocator made with small_params(); *path receives its path.
Status alloc_file(const char* name, std::uint64_t size_max, Region* r, std::string* path) {
  *path = std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name + "." +
          std::to_string(getpid());
  unlink(path->c_str());
  return Region::create_file(*path, {kFileType, 1, size_max, 0}, [](Region& reg) {
    Allocator a;
    return Allocator::create(reg, small_params(), &a);
  }, r);
}

TEST(Allocator, TwoJoinsOfOneFileShareObjects) {
  std::string path;
  Region r1, r2;
  ASSERT_EQ(alloc_file("alloc_two_joins", 64 * kMiB, &r1, &path), Status::ok);
  ASSERT_EQ(Region::join_file(path, kFileType, 1, &r2), Status::ok);
  Allocator a1, a2;
  ASSERT_EQ(Allocator::join(r1, &a1), Status::ok);
  ASSERT_EQ(Allocator::join(r2, &a2), Status::ok);
  ASSERT_NE(a1.base(), a2.base());
  std::vector<std::uint64_t> offs;
  for (int i = 0; i < 3000; ++i) {  // enough to add volumes (file growth)
    std::uint64_t off = 0;
    ASSERT_EQ((i % 2 ? a1 : a2).alloc(0, 100, 0, &off), Status::ok);
    fill(i % 2 ? a1 : a2, off, 100, off);
    offs.push_back(off);
  }
  for (std::uint64_t off : offs) {
    ASSERT_TRUE(holds(a2, off, 100, off));
    ASSERT_EQ(a2.free(off), Status::ok);
  }
  Status st;
  EXPECT_EQ((verify_msg(a1, &st), st), Status::ok);
  unlink(path.c_str());
}

// The volume count word (header word 8) damaged after a join, past what the
// file holds: verify() used to walk the missing volumes (SIGBUS) and
// contains() to accept offsets past the file's end. The count is capped
// at the volumes the backed space holds, and verify() reports the word.
TEST(Allocator, VolumeCountPastTheFileIsReported) {
  std::string path;
  Region r;
  ASSERT_EQ(alloc_file("alloc_vol_cnt", 64 * kMiB, &r, &path), Status::ok);
  Allocator a;
  ASSERT_EQ(Allocator::join(r, &a), Status::ok);
  std::uint64_t off = 0;
  ASSERT_EQ(a.alloc(0, 100, 0, &off), Status::ok);
  auto vol_cnt = sync::word(a.base(), r.user_off() + 8 * 8);
  const std::uint64_t vols = vol_cnt.load_acquire(), end = a.space_end();
  ASSERT_GE(vols, 1u);
  ASSERT_LE(end, r.size());
  vol_cnt.store_release(vols + 4);  // damage: volumes the file does not hold
  EXPECT_EQ(a.space_end(), end);
  EXPECT_FALSE(a.contains(end, 8));
  std::string why;
  EXPECT_EQ(a.verify(nullptr, &why), Status::corrupt);
  EXPECT_NE(why.find("backed space"), std::string::npos) << why;
  vol_cnt.store_release(vols);
  EXPECT_EQ(a.verify(nullptr, &why), Status::ok) << why;
  EXPECT_EQ(a.free(off), Status::ok);
  unlink(path.c_str());
}

// A join racing a peer that adds volumes: the peer backs each volume before
// it counts it, so every join must succeed (a join that read the backed size
// before the count saw a healthy allocator as truncated).
TEST(Allocator, JoinWhileAPeerAddsVolumes) {
  std::string path;
  Region r1;
  ASSERT_EQ(alloc_file("alloc_join_race", 512 * kMiB, &r1, &path), Status::ok);
  Allocator a1;
  ASSERT_EQ(Allocator::join(r1, &a1), Status::ok);
  std::atomic<bool> stop{false};
  std::thread grower([&] {
    for (int i = 0; i < 4000 && !stop.load(); ++i)
      if (a1.add_volumes(1) != Status::ok) break;
    stop = true;
  });
  int joins = 0;
  for (; !stop.load(); ++joins) {
    Region r2;
    Allocator a2;
    std::string why;
    Status s = Region::join_file(path, kFileType, 1, &r2, &why);
    if (s == Status::ok) s = Allocator::join(r2, &a2, &why);
    EXPECT_EQ(s, Status::ok) << why << " (join " << joins << ")";
    if (s != Status::ok) stop = true;
  }
  grower.join();
  std::printf("%d joins while the peer added volumes\n", joins);
  unlink(path.c_str());
}

TEST(AllocCache, RoundTripMixedWithTheSharedPath) {
  Space s;
  AllocCache c(s.a, 8);
  std::vector<std::uint64_t> offs;
  for (int i = 0; i < 100; ++i) {
    std::uint64_t off = 0;
    ASSERT_EQ(c.alloc(i % 3 ? 0 : 64, 40 + i % 7, std::uint32_t(i), &off), Status::ok);
    fill(s.a, off, 40, off);
    offs.push_back(off);
  }
  EXPECT_EQ(std::set<std::uint64_t>(offs.begin(), offs.end()).size(), offs.size());
  Status st;
  AllocStats stats;
  std::string why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.obj_cnt, 100u);
  EXPECT_EQ(stats.cached_cnt, c.cached());
  std::uint32_t tag = 0;
  ASSERT_EQ(s.a.info(offs[5], nullptr, &tag), Status::ok);
  EXPECT_EQ(tag, 5u);
  for (std::size_t i = 0; i < offs.size(); ++i) {
    ASSERT_TRUE(holds(s.a, offs[i], 40, offs[i]));
    // Odd ones through the shared path, even ones through the cache.
    ASSERT_EQ(i % 2 ? s.a.free(offs[i]) : c.free(offs[i]), Status::ok);
  }
  EXPECT_EQ(c.free(offs[0]), Status::invalid);     // double free through the cache
  EXPECT_EQ(s.a.free(offs[0]), Status::invalid);   // and through the allocator
  EXPECT_EQ(c.free(offs[1] + 16), Status::invalid);  // not an object start
  why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.obj_cnt, 0u);
  EXPECT_GT(stats.cached_cnt, 0u);
  // An object the shared path hands out can go back through the cache.
  std::uint64_t off = 0;
  ASSERT_EQ(s.a.alloc(0, 10, 0, &off), Status::ok);
  ASSERT_EQ(c.free(off), Status::ok);
  c.flush();
  EXPECT_EQ(c.cached(), 0u);
  why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.cached_cnt, 0u);
  s.a.trim();
  why = verify_msg(s.a, &st, &stats);
  EXPECT_EQ(stats.vol_free, stats.vol_cnt) << why;
}

TEST(AllocCache, ExhaustionThroughTheCache) {
  Space s(2 * kMiB, small_params());
  std::vector<std::uint64_t> offs;
  {
    AllocCache c(s.a);
    std::uint64_t off = 0;
    Status r;
    while ((r = c.alloc(0, 200, 0, &off)) == Status::ok) offs.push_back(off);
    EXPECT_EQ(r, Status::full);
    ASSERT_GT(offs.size(), 100u);
    for (std::uint64_t o : offs) ASSERT_EQ(c.free(o), Status::ok);
  }  // the destructor flushes
  Status st;
  AllocStats stats;
  std::string why = verify_msg(s.a, &st, &stats);
  ASSERT_EQ(st, Status::ok) << why;
  EXPECT_EQ(stats.obj_cnt, 0u);
  EXPECT_EQ(stats.cached_cnt, 0u);
}

}  // namespace
}  // namespace mb
