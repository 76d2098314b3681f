// Cross-process and on-disk use of RhMap. The map lives in a file-backed
// region (offsets only), so the file's bytes are its serialized form.
//
// ReadersInOtherProcesses: the parent builds a map in a file, then keeps
// inserting and erasing a slice of its own (forcing copy-on-write resizes)
// while forked children, each joined at its own address, only look keys up:
// every key of a stable slice must always be found with its value, and a
// found key of the moving slice must carry a value that encodes it.
// The children join the file read-only (Region::join_file_read_only: opened
// O_RDONLY, mapped PROT_READ), as a reader without write permission would.
// SavedCopyLoads: the file is copied (saved) after the writers left; the
// copy is joined (loaded) and holds exactly the same contents, verify() clean.
// Then the copy, made read-only on disk, is joined read-only: lookups and
// verify() work, every writer returns Status::invalid, and the file's bytes
// do not change.
// KilledWriterIsRecovered: a child parks in the middle of an insert's
// shift (one entry copied right, its old slot not yet overwritten) holding
// the writer lock and is SIGKILLed; the parent's next insert takes the lock
// over, repairs, and goes on: every key once with its value, the dead
// insert added nothing, verify() clean (the free stack rebuilt).
// KilledCompactionIsRecovered: a child's erase starts a shrink that
// compacts the blocks into a new slab; the child is SIGKILLed at each of
// the compaction's three steps in turn (new slabs listed, new table
// published, old slabs cut off): the next writer repairs, verify() is
// clean, every entry keeps its value, the erase that started the shrink
// holds, and the map goes on.
// BytesMultimapSavedAndJoinedReadOnly: the same for a multimap of byte
// strings (values() and count() of every key against an oracle; every
// writer of the read-only join returns invalid; the file is unchanged).
// KilledWriterLeaksNothing: a child is SIGKILLed at each point where it
// holds memory that neither the table nor the slab list names (a bytes
// insert's new block during its shift, an assign's replaced block, an
// erase's block, a resize's new table before its publish and its old
// table after, a compacting shrink's new slabs before and while they are
// listed and its old slabs after they are cut off); the journal word that
// names it is checked; objects of the same kinds allocated before the
// repair must survive it; after the repair, destroy() gives every
// allocator object back (layout version 5's journal; without it each case
// leaks).
// KilledBlockStepsAreRepaired: a u64 writer SIGKILLed between the two
// header stores of a free-stack pop, of a push, between a new slab's listing
// and its two bump words, and after the last copy of a shift of two or more
// entries: the next writer's repair makes verify() clean (RH6), every entry
// keeps its value, the dead change is whole or absent, nothing leaks.
// ReusedPidIsToldFromTheDeadWriter: the lock word names a writer that died
// holding it, by this process's own pid with another start key (a later
// process was given the dead one's pid): the next insert takes it over
// (before, it waited for itself forever). A live child named with its own
// start key is waited for until the word names its pid with another key.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/alloc.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "variants/robinhood/rh_map.h"
#include "variants/rwlock/internal/park_testing.h"
#include "variants/rwlock/internal/rw_os.h"

namespace mb {
namespace {

constexpr int kProcs = 2;
#if defined(MB_SANITIZER)
constexpr std::uint64_t kStable = 500, kMoving = 6000;
#else
constexpr std::uint64_t kStable = 5000, kMoving = 60000;
#endif
const RegionSpec kSpec{"mapbench.robinhood", 1, std::uint64_t{1} << 31, 0};

std::uint64_t stable_key(std::uint64_t n) { return 1ull << 40 | n; }
std::uint64_t moving_key(std::uint64_t n) { return 2ull << 40 | n; }
std::uint64_t value_for(std::uint64_t k) { return k * 3 + 1; }

struct Joined {
  Region r;
  Allocator a;
  RhMap m;
  Status join(const std::string& path, bool read_only = false) {
    Status s = read_only ? Region::join_file_read_only(path, kSpec.type, kSpec.type_version, &r)
                         : Region::join_file(path, kSpec.type, kSpec.type_version, &r);
    if (s == Status::ok) s = Allocator::join(r, &a);
    if (s == Status::ok) s = RhMap::join(a, r.root_off().load_acquire(), &m);
    return s;
  }
};

int child(const std::string& path, int id, int ready_fd) {
  Joined j;
  if (j.join(path, true) != Status::ok || !j.m.read_only()) return 10;
  if (write(ready_fd, "r", 1) != 1) return 11;  // the parent starts writing now
  std::mt19937_64 rng(id);
  // Read until the parent's marker key appears (it is inserted last), then
  // one more round.
  for (;;) {
    std::uint64_t v = 0;
    bool done = j.m.find(3ull << 40, &v) == Status::ok;
    for (int i = 0; i < 2000; ++i) {
      std::uint64_t k = stable_key(rng() % kStable);
      if (j.m.find(k, &v) != Status::ok || v != value_for(k)) return 20;
      k = moving_key(rng() % kMoving);
      Status s = j.m.find(k, &v);
      if (s == Status::ok ? v != value_for(k) : s != Status::not_found) return 21;
    }
    if (done) return 0;
  }
}

// A new file region (TEST_TMPDIR/<name>.<pid>) holding an allocator and a
// map (cap_min 4) named by the region's root word, and the path its saved
// copy will have (<path>.saved); `made` says how the creation went.
struct MapFile {
  MapFile(const char* name, std::uint64_t seed, unsigned flags) {
    const char* dir = std::getenv("TEST_TMPDIR");
    path = std::string(dir ? dir : "/tmp") + "/" + name + "." + std::to_string(getpid());
    copy = path + ".saved";
    unlink(path.c_str());
    unlink(copy.c_str());
    Region r;
    made = Region::create_file(path, kSpec, [&](Region& reg) {
      Allocator a;
      std::uint64_t off = 0;
      Status st = Allocator::create(reg, AllocParams(), &a);
      if (st == Status::ok) st = RhMap::create(a, 4, seed, &off, nullptr, flags);
      if (st == Status::ok) reg.root_off().store_release(off);
      return st;
    }, &r);
    if (made == Status::ok) r.leave();
  }
  std::string path, copy;
  Status made;
};

std::string file_bytes(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A file without (or again with) its owner's write permission.
void set_writable(const std::string& p, bool writable) {
  using std::filesystem::perms;
  std::filesystem::permissions(p, writable ? perms::owner_read | perms::owner_write : perms::owner_read | perms::group_read);
}

TEST(RhFork, ReadersInOtherProcessesAndASavedCopy) {
  const MapFile file("rh_fork", 11, 0);
  ASSERT_EQ(file.made, Status::ok);
  const std::string& path = file.path;
  const std::string& copy = file.copy;
  Joined w;
  ASSERT_EQ(w.join(path), Status::ok);
  for (std::uint64_t n = 0; n < kStable; ++n) ASSERT_EQ(w.m.insert(stable_key(n), value_for(stable_key(n))), Status::ok);

  std::vector<pid_t> kids;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  for (int id = 0; id < kProcs; ++id) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(child(path, id, ready[1]));
    kids.push_back(pid);
  }
  for (int id = 0; id < kProcs; ++id) {  // every child has joined and reads
    char c = 0;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
  }
  close(ready[0]);
  close(ready[1]);
  std::uint64_t resizes = w.m.resizes();
  for (int round = 0; round < 3; ++round) {
    for (std::uint64_t n = 0; n < kMoving; ++n) ASSERT_EQ(w.m.insert_or_assign(moving_key(n), value_for(moving_key(n))), Status::ok);
    for (std::uint64_t n = 0; n < kMoving; ++n)
      if (n % 4 != 0 || round < 2) { ASSERT_EQ(w.m.erase(moving_key(n)), Status::ok); }
  }
  ASSERT_EQ(w.m.insert(3ull << 40, 1), Status::ok);  // the children's stop marker
  EXPECT_GT(w.m.resizes(), resizes + 4);  // the children read across grows and shrinks
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed (see codes in child())";
  }
  std::string why;
  ASSERT_EQ(w.m.verify(&why), Status::ok) << why;
  const std::uint64_t expect = kStable + kMoving / 4 + 1;
  EXPECT_EQ(w.m.size(), expect);
  w.r.leave();

  // Save: copy the file. Load: join the copy; same contents.
  std::filesystem::copy_file(path, copy);
  Joined l;
  ASSERT_EQ(l.join(copy), Status::ok);
  ASSERT_EQ(l.m.verify(&why), Status::ok) << why;
  EXPECT_EQ(l.m.size(), expect);
  std::uint64_t v = 0;
  for (std::uint64_t n = 0; n < kStable; ++n) {
    ASSERT_EQ(l.m.find(stable_key(n), &v), Status::ok);
    ASSERT_EQ(v, value_for(stable_key(n)));
  }
  for (std::uint64_t n = 0; n < kMoving; ++n)
    ASSERT_EQ(l.m.find(moving_key(n), &v), n % 4 == 0 ? Status::ok : Status::not_found) << n;
  AllocStats st;
  ASSERT_EQ(l.a.verify(&st, &why), Status::ok) << why;
  l.r.leave();

  // Read-only: the copy loses its write permission and is joined read-only.
  set_writable(copy, false);
  const std::string before = file_bytes(copy);
  {
    Joined ro;
    ASSERT_EQ(ro.join(copy, true), Status::ok);
    EXPECT_TRUE(ro.r.read_only() && ro.a.read_only() && ro.m.read_only());
    ASSERT_EQ(ro.m.verify(&why), Status::ok) << why;
    EXPECT_EQ(ro.m.size(), expect);
    for (std::uint64_t n = 0; n < kStable; ++n) ASSERT_EQ(ro.m.find(stable_key(n), &v), Status::ok);
    EXPECT_EQ(ro.m.insert(9, 9), Status::invalid);
    EXPECT_EQ(ro.m.insert_or_assign(stable_key(0), 9), Status::invalid);
    EXPECT_EQ(ro.m.update(stable_key(0), 9), Status::invalid);
    EXPECT_EQ(ro.m.erase(stable_key(0)), Status::invalid);
    EXPECT_EQ(ro.m.destroy(), Status::invalid);
    std::uint64_t off = 0;
    EXPECT_EQ(ro.a.alloc(16, 16, 1, &off), Status::invalid);
    EXPECT_EQ(ro.a.free(ro.r.root_off().load_acquire()), Status::invalid);
    EXPECT_EQ(ro.r.grow(ro.r.size() + 4096), Status::invalid);
    EXPECT_EQ(ro.a.add_volumes(1), Status::invalid);
    EXPECT_EQ(ro.a.trim(), 0u);
    {
      AllocCache cache(ro.a);
      EXPECT_EQ(cache.alloc(16, 16, 1, &off), Status::invalid);
    }  // its flush has nothing to write back
    Allocator again;
    EXPECT_EQ(Allocator::create(ro.r, AllocParams(), &again, &why), Status::invalid);
    EXPECT_NE(why.find("read-only"), std::string::npos) << why;
    ASSERT_EQ(ro.m.find(stable_key(0), &v), Status::ok);
    EXPECT_EQ(v, value_for(stable_key(0)));
  }
  EXPECT_EQ(file_bytes(copy), before);
  set_writable(copy, true);
  EXPECT_EQ(Region::destroy_file(path, kSpec.type), Status::ok);
  EXPECT_EQ(Region::destroy_file(copy, kSpec.type), Status::ok);
}

// A multimap of byte strings in a file: saved (copied), loaded, and the
// copy joined read-only: values() and count() give every key's values,
// every writer returns invalid, and the file's bytes do not change.
TEST(RhFork, BytesMultimapSavedAndJoinedReadOnly) {
  const MapFile file("rh_multi", 13, kRhBytes | kRhMultimap);
  ASSERT_EQ(file.made, Status::ok);
  const std::string& path = file.path;
  const std::string& copy = file.copy;
  auto b = [](const std::string& s) { return RhBytes{s.data(), s.size()}; };
  auto key = [](std::uint64_t k) { return "key-" + std::to_string(k); };
  auto val = [](std::uint64_t k, std::uint64_t j) { return std::string(1 + (k * 7 + j) % 90, char('a' + j)); };
  std::map<std::string, std::multiset<std::string>> oracle;
  {
    Joined w;
    ASSERT_EQ(w.join(path), Status::ok);
    ASSERT_TRUE(w.m.bytes() && w.m.multimap());
    for (std::uint64_t k = 0; k < 300; ++k)
      for (std::uint64_t j = 0; j <= k % 4; ++j) {
        ASSERT_EQ(w.m.insert_multi(b(key(k)), b(val(k, j))), Status::ok);
        oracle[key(k)].insert(val(k, j));
      }
    for (std::uint64_t k = 0; k < 300; k += 5) {  // some values and keys go
      ASSERT_EQ(w.m.erase_one(b(key(k)), b(val(k, 0))), Status::ok);
      oracle[key(k)].erase(oracle[key(k)].find(val(k, 0)));
    }
    for (std::uint64_t k = 3; k < 300; k += 50) {
      ASSERT_EQ(w.m.erase_all(b(key(k))), Status::ok);
      oracle.erase(key(k));
    }
    std::string why;
    ASSERT_EQ(w.m.verify(&why), Status::ok) << why;
    w.r.leave();
  }
  std::filesystem::copy_file(path, copy);
  set_writable(copy, false);
  const std::string before = file_bytes(copy);
  {
    Joined ro;
    ASSERT_EQ(ro.join(copy, true), Status::ok);
    EXPECT_TRUE(ro.m.read_only() && ro.m.bytes() && ro.m.multimap());
    std::string why;
    ASSERT_EQ(ro.m.verify(&why), Status::ok) << why;
    for (std::uint64_t k = 0; k < 300; ++k) {
      std::vector<std::string> got;
      std::uint64_t n = 0;
      const auto it = oracle.find(key(k));
      const std::uint64_t want = it == oracle.end() ? 0 : it->second.size();
      EXPECT_EQ(ro.m.values(b(key(k)), &got), want ? Status::ok : Status::not_found) << k;
      EXPECT_EQ(ro.m.count(b(key(k)), &n), want ? Status::ok : Status::not_found) << k;
      EXPECT_EQ(n, want) << k;
      if (want) {
        EXPECT_EQ(std::multiset<std::string>(got.begin(), got.end()), it->second) << k;
      }
    }
    EXPECT_EQ(ro.m.insert_multi(b(key(1)), b("x")), Status::invalid);
    EXPECT_EQ(ro.m.insert(b(key(1000)), b("x")), Status::invalid);
    EXPECT_EQ(ro.m.insert_or_assign(b(key(1)), b("x")), Status::invalid);
    EXPECT_EQ(ro.m.update(b(key(1)), b("x")), Status::invalid);
    EXPECT_EQ(ro.m.erase_one(b(key(1)), b(val(1, 0))), Status::invalid);
    EXPECT_EQ(ro.m.erase_all(b(key(1))), Status::invalid);
    EXPECT_EQ(ro.m.erase(b(key(1))), Status::invalid);
  }
  EXPECT_EQ(file_bytes(copy), before);
  set_writable(copy, true);
  EXPECT_EQ(Region::destroy_file(path, kSpec.type), Status::ok);
  EXPECT_EQ(Region::destroy_file(copy, kSpec.type), Status::ok);
}

// Live objects in the allocator.
std::uint64_t live_objects(const Allocator& a) {
  AllocStats st{};
  EXPECT_EQ(a.verify(&st), Status::ok);
  return st.obj_cnt;
}

// A map (cap_min 64, `flags`) in a fresh anonymous shared region's
// allocator, which fork children share; `before`: the allocator's live
// objects before the map was made.
struct AnonRh {
  explicit AnonRh(unsigned flags = 0) {
    ok = Region::create_anon({"mapbench.robinhood", 1, std::uint64_t{1} << 30, 0}, {}, &region) == Status::ok &&
         Allocator::create(region, AllocParams(), &a) == Status::ok;
    if (ok) before = live_objects(a);
    ok = ok && RhMap::create(a, 64, 7, &off, nullptr, flags) == Status::ok && RhMap::join(a, off, &m) == Status::ok;
  }
  Region region;
  Allocator a;
  RhMap m;
  std::uint64_t off = 0, before = 0;
  bool ok = false;
};

// After the write that took the lock over from the killed child `pid`:
// reaps it, and expects one recovery and a clean verify().
void expect_repaired(const RhMap& m, pid_t pid) {
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(m.recoveries(), 1u);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RhFork, KilledWriterIsRecovered) {
  AnonRh h;
  ASSERT_TRUE(h.ok);
  Allocator& a = h.a;
  RhMap& m = h.m;
  const std::uint64_t off = h.off;
  std::vector<std::uint64_t> present;
  for (std::uint64_t k = 0; k < 40; ++k) {
    ASSERT_EQ(m.insert(k, value_for(k)), Status::ok);
    present.push_back(k);
  }
  ASSERT_EQ(m.erase(3), Status::ok);  // a block on the free stack, for the next insert
  present.erase(present.begin() + 3);
  // Children insert new keys until one's insert shifts entries and parks
  // (one that did not shift finished its insert: its key is in the map).
  pid_t pid = -1;
  std::uint64_t dead_key = 1000;
  for (; dead_key < 1008 && pid < 0; ++dead_key) {
    int status = 0;
    // The child parks at the shift (rw_os::testing::park_child) and waits
    // to be killed.
    pid_t p = rw_os::testing::park_child(rw_os::HookPoint::rh_shift_half_done, [&] {
      _exit(m.insert(dead_key, value_for(dead_key)) == Status::ok ? 91 : 92);
    }, &status);
    if (p > 0) {
      pid = p;
      break;
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 91);
    present.push_back(dead_key);
  }
  ASSERT_GT(pid, 0) << "no insert shifted an entry";
  ASSERT_EQ(kill(pid, SIGKILL), 0);  // not reaped yet: a zombie counts as dead
  // The dead writer's shift left one entry in two adjacent slots (the
  // table is one segment: the table word, header word 5, names its
  // directory, whose first word names the segment).
  const std::uint64_t tw = sync::word(a.base(), off + 40).load_relaxed();
  const std::uint64_t seg = sync::word(a.base(), (tw & 0xffffffffULL) << 4).load_relaxed();
  const std::uint64_t cap = m.capacity();
  auto live_ref = [&](std::uint64_t i) {
    const std::uint64_t w = sync::word(a.base(), seg + 8 * (i % cap)).load_relaxed();
    return (w >> 63) == 0 ? w & 0xffffffffULL : 0;
  };
  int dups = 0;
  for (std::uint64_t i = 0; i < cap; ++i) dups += live_ref(i) != 0 && live_ref(i) == live_ref(i + 1);
  EXPECT_EQ(dups, 1);
  std::string why;
  ASSERT_EQ(m.insert(5000, value_for(5000)), Status::ok);  // takes the lock over, repairs
  present.push_back(5000);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(m.recoveries(), 1u);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  for (std::uint64_t k : present) EXPECT_TRUE(m.find(k, &v) == Status::ok && v == value_for(k)) << k;
  EXPECT_EQ(m.find(dead_key, &v), Status::not_found);  // its final store never happened
  EXPECT_EQ(m.size(), present.size());
  // The map goes on: more inserts (a resize among them) and erases.
  for (std::uint64_t k = 2000; k < 2100; ++k) ASSERT_EQ(m.insert(k, value_for(k)), Status::ok);
  for (std::uint64_t k : present) ASSERT_EQ(m.erase(k), Status::ok);
  EXPECT_EQ(m.size(), 100u);
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
}

TEST(RhFork, KilledCompactionIsRecovered) {
  for (auto at : {rw_os::HookPoint::rh_compact_linked, rw_os::HookPoint::rh_compact_published,
                  rw_os::HookPoint::rh_compact_cut}) {
    SCOPED_TRACE(static_cast<int>(at));
    AnonRh h;
    ASSERT_TRUE(h.ok);
    RhMap& m = h.m;
    constexpr std::uint64_t kKeys = 40000;  // 3 slabs, a table of 65536 slots
    for (std::uint64_t k = 0; k < kKeys; ++k) ASSERT_EQ(m.insert(k, value_for(k)), Status::ok);
    ASSERT_EQ(m.capacity(), 65536u);
    ASSERT_GE(m.slab_count(), 3u);
    // Down to the last size before a shrink: the next erase shrinks, and
    // with 3 slabs for 8191 entries the shrink compacts.
    std::uint64_t k = 0;
    for (; m.size() > m.capacity() / 8; ++k) ASSERT_EQ(m.erase(k), Status::ok);
    const std::uint64_t last = k;  // the child's erase
    pid_t pid = rw_os::testing::park_child(at, [&] { m.erase(last); });
    ASSERT_GT(pid, 0) << "the erase did not compact";
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(m.insert(kKeys, value_for(kKeys)), Status::ok);  // takes the lock over, repairs
    expect_repaired(m, pid);
    std::string why;
    std::uint64_t v = 0;
    EXPECT_EQ(m.find(last, &v), Status::not_found);  // the erase linearized before the shrink
    for (std::uint64_t j = last + 1; j <= kKeys; ++j)
      ASSERT_TRUE(m.find(j, &v) == Status::ok && v == value_for(j)) << j;
    EXPECT_EQ(m.size(), kKeys - last);
    // The map goes on: the shrink it missed, then growth again.
    for (std::uint64_t j = last + 1; j < kKeys - 100; ++j) ASSERT_EQ(m.erase(j), Status::ok);
    EXPECT_LE(m.slab_count(), 2u);
    for (std::uint64_t j = 0; j < 20000; ++j) ASSERT_EQ(m.insert(kKeys + 1 + j, j), Status::ok);
    EXPECT_EQ(m.verify(&why), Status::ok) << why;
  }
}

std::string bytes_key(std::uint64_t k) { return "key-" + std::to_string(k); }

TEST(RhFork, KilledWriterLeaksNothing) {
  using rw_os::HookPoint;
  enum class Op { bytes_insert, bytes_assign, bytes_erase, grow, compact };
  struct Case {
    const char* what;
    HookPoint at;
    Op op;
    unsigned journal_word;  // the header word that names what the writer holds there
    std::uint64_t slabs_after;  // slab_count() after the repair (0: not checked)
  };
  const Case cases[] = {
      {"bytes insert, mid-shift", HookPoint::rh_shift_half_done, Op::bytes_insert, 16, 0},
      {"bytes assign, old block unlinked", HookPoint::rh_assign_linked, Op::bytes_assign, 17, 0},
      {"bytes erase, block unlinked", HookPoint::rh_erase_unlinked, Op::bytes_erase, 17, 0},
      {"grow, new table built", HookPoint::rh_table_built, Op::grow, 18, 0},
      {"grow, new table published", HookPoint::rh_table_published, Op::grow, 19, 0},
      {"compacting shrink, new slabs made", HookPoint::rh_table_built, Op::compact, 20, 3},
      {"compacting shrink, new slabs half linked", HookPoint::rh_compact_linking, Op::compact, 20, 3},
      {"compacting shrink, old slabs cut", HookPoint::rh_compact_cut, Op::compact, 21, 1},
      {"compacting shrink, old table left", HookPoint::rh_table_published, Op::compact, 19, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const bool bytes = c.op == Op::bytes_insert || c.op == Op::bytes_assign || c.op == Op::bytes_erase;
    AnonRh h(bytes ? kRhBytes : 0);
    ASSERT_TRUE(h.ok);
    Allocator& a = h.a;
    RhMap& m = h.m;
    const std::uint64_t off = h.off, before = h.before;
    auto put_bytes = [&](std::uint64_t k, const std::string& v) {
      const std::string key = bytes_key(k);
      return m.insert_or_assign(RhBytes{key.data(), key.size()}, RhBytes{v.data(), v.size()});
    };
    pid_t pid = -1;
    if (bytes) {
      for (std::uint64_t k = 0; k < 40; ++k) ASSERT_EQ(put_bytes(k, "value"), Status::ok);
      const std::string five = bytes_key(5);
      // Until a child parks (an insert that shifts nothing just finishes).
      for (std::uint64_t k = 1000; k < 1040 && pid < 0; ++k)
        pid = rw_os::testing::park_child(c.at, [&] {
          if (c.op == Op::bytes_erase) m.erase(RhBytes{five.data(), five.size()});
          else put_bytes(c.op == Op::bytes_assign ? 5 : k, "v2");
        });
    } else if (c.op == Op::grow) {
      for (std::uint64_t k = 0; k < 40; ++k) ASSERT_EQ(m.insert(k, value_for(k)), Status::ok);
      pid = rw_os::testing::park_child(c.at, [&] {
        for (std::uint64_t k = 40; k < 1000; ++k) m.insert(k, value_for(k));
      });
    } else {
      constexpr std::uint64_t kKeys = 40000;  // 3 slabs; an erase down to 8191 entries compacts into 1
      for (std::uint64_t k = 0; k < kKeys; ++k) ASSERT_EQ(m.insert(k, value_for(k)), Status::ok);
      ASSERT_EQ(m.slab_count(), 3u);
      std::uint64_t k = 0;
      for (; m.size() > m.capacity() / 8; ++k) ASSERT_EQ(m.erase(k), Status::ok);
      pid = rw_os::testing::park_child(c.at, [&] { m.erase(k); });
    }
    ASSERT_GT(pid, 0) << "no child reached the hook";
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    EXPECT_NE(sync::word(a.base(), off + 8 * c.journal_word).load_relaxed(), 0u) << "journal word " << c.journal_word;
    // Bystanders of the map's own kinds and sizes, allocated before the
    // repair (they may take memory the dead writer freed): a repair that
    // freed anything the journal should not name would take one of them.
    const std::pair<std::uint64_t, std::uint32_t> kinds[] = {
        {32, kRhTagBytes},   {32, kRhTagBytes},       {512, kRhTagSegment}, {1024, kRhTagSegment},
        {8, kRhTagDir},      {8, kRhTagDir},          {131072, kRhTagSegment}, {524288, kRhTagSegment},
        {(256 << 10) - 64, kRhTagSlab}};
    std::vector<std::uint64_t> bystanders;
    for (const auto& [size, tag] : kinds) {
      std::uint64_t b = 0;
      ASSERT_EQ(a.alloc(16, size, tag, &b), Status::ok);
      bystanders.push_back(b);
    }
    // The next write takes the lock over and repairs.
    ASSERT_EQ(bytes ? put_bytes(5000, "recovered") : m.insert(1u << 30, 1), Status::ok);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_EQ(m.recoveries(), 1u);
    std::string why;
    EXPECT_EQ(m.verify(&why), Status::ok) << why;
    if (c.slabs_after != 0) {
      EXPECT_EQ(m.slab_count(), c.slabs_after);
    }
    ASSERT_EQ(m.destroy(), Status::ok);
    EXPECT_EQ(live_objects(a), before + bystanders.size()) << "objects the dead writer held leaked, or a bystander went";
    for (std::size_t i = 0; i < bystanders.size(); ++i) {
      std::uint64_t size = 0;
      std::uint32_t tag = 0;
      EXPECT_TRUE(a.info(bystanders[i], &size, &tag) == Status::ok && tag == kinds[i].second) << i;
      EXPECT_EQ(a.free(bystanders[i]), Status::ok);
    }
    EXPECT_EQ(live_objects(a), before);
  }
}

// A u64 writer killed between the stores of a free-stack pop or push, of a
// new slab's listing and its bump words, or after the last copy of a
// longer shift: the next writer's repair rebuilds the free stack and the
// bump words (RH6) and ends the shift; every entry is kept with its value,
// the dead writer's own change is whole or absent, nothing leaks.
TEST(RhFork, KilledBlockStepsAreRepaired) {
  using rw_os::HookPoint;
  struct Case {
    const char* what;
    HookPoint at;
    std::uint64_t keys;  // inserted before the child runs
    bool erase;          // the child erases key 7 (else it inserts new keys)
  };
  const Case cases[] = {
      {"free stack popped", HookPoint::rh_free_popped, 40, false},
      {"free stack pushed", HookPoint::rh_free_pushed, 40, true},
      {"slab listed", HookPoint::rh_slab_listed, 0, false},
      {"slab listed, bump end stored", HookPoint::rh_slab_bump_end, 0, false},
      {"shift, last copy", HookPoint::rh_shift_last_copy, 40, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    AnonRh h;
    ASSERT_TRUE(h.ok);
    RhMap& m = h.m;
    std::vector<std::uint64_t> present;
    for (std::uint64_t k = 0; k < c.keys; ++k) {
      ASSERT_EQ(m.insert(k, value_for(k)), Status::ok);
      present.push_back(k);
    }
    if (c.at == HookPoint::rh_free_popped) {  // a block on the free stack, for the child's insert
      ASSERT_EQ(m.erase(3), Status::ok);
      present.erase(std::find(present.begin(), present.end(), 3u));
    }
    // Until a child parks (an insert that does not reach the hook finishes:
    // its key is in the map).
    pid_t pid = -1;
    std::uint64_t k = 1000;
    for (; k < 1200 && pid < 0; ++k) {
      int status = 0;
      pid = rw_os::testing::park_child(c.at, [&] {
        _exit((c.erase ? m.erase(7) : m.insert(k, value_for(k))) == Status::ok ? 91 : 92);
      }, &status);
      if (pid > 0) break;
      ASSERT_TRUE(!c.erase && WIFEXITED(status) && WEXITSTATUS(status) == 91) << "key " << k;
      present.push_back(k);
    }
    ASSERT_GT(pid, 0) << "no child reached the hook";
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    if (c.erase) present.erase(std::find(present.begin(), present.end(), 7u));  // its tombstone is stored
    ASSERT_EQ(m.insert(1u << 30, 1), Status::ok);  // takes the lock over and repairs
    present.push_back(1u << 30);
    expect_repaired(m, pid);
    std::string why;
    std::uint64_t v = 0;
    for (std::uint64_t key : present) {
      EXPECT_EQ(m.find(key, &v), Status::ok) << key;
      EXPECT_EQ(v, key == 1u << 30 ? 1 : value_for(key)) << key;
    }
    EXPECT_EQ(m.find(c.erase ? 7 : k, &v), Status::not_found);  // the dead change: erased, or never placed
    EXPECT_EQ(m.size(), present.size());
    // The map goes on (the repaired free stack and bump hand out blocks).
    for (std::uint64_t key = 2000; key < 2200; ++key) ASSERT_EQ(m.insert(key, value_for(key)), Status::ok);
    for (std::uint64_t key : present) ASSERT_EQ(m.erase(key), Status::ok);
    EXPECT_EQ(m.size(), 200u);
    EXPECT_EQ(m.verify(&why), Status::ok) << why;
    ASSERT_EQ(m.destroy(), Status::ok);
    EXPECT_EQ(live_objects(h.a), h.before) << "the dead writer's slab or table leaked";
  }
}

TEST(RhFork, ReusedPidIsToldFromTheDeadWriter) {
  const std::uint64_t me = rw_os::self_pid(), my_key = rw_os::self_start_key();
  if (my_key == 0) GTEST_SKIP() << "no /proc here: a pid's reuse cannot be told";
  rw_os::testing::AlarmGuard alarm_guard(60);  // the old lock waited for itself forever here
  AnonRh h;
  ASSERT_TRUE(h.ok);
  Allocator& a = h.a;
  RhMap& m = h.m;
  const std::uint64_t off = h.off;
  for (std::uint64_t k = 0; k < 10; ++k) ASSERT_EQ(m.insert(k, value_for(k)), Status::ok);
  auto lock_word = sync::word(a.base(), off + 8 * 8);
  lock_word.store_release(me | (my_key ^ 1) << 32);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(m.insert(100, value_for(100)), Status::ok);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  EXPECT_EQ(m.recoveries(), 1u);
  int release = -1;
  const pid_t child = rw_os::testing::idle_child(&release);
  ASSERT_GT(child, 0);
  const std::uint64_t child_key = rw_os::start_key(std::uint32_t(child));
  ASSERT_NE(child_key, 0u);
  lock_word.store_release(std::uint64_t(child) | child_key << 32);
  rw_os::testing::BlockedCall writer([&] { EXPECT_EQ(m.insert(101, value_for(101)), Status::ok); });
  EXPECT_TRUE(writer.waited(std::chrono::milliseconds(500))) << "a live holder's lock was taken over";
  lock_word.store_release(std::uint64_t(child) | (child_key ^ 1) << 32);
  writer.join();
  EXPECT_EQ(m.recoveries(), 2u);
  rw_os::testing::end_idle_child(child, release);
  std::string why;
  EXPECT_EQ(m.verify(&why), Status::ok) << why;
  std::uint64_t v = 0;
  for (std::uint64_t k : {std::uint64_t{0}, std::uint64_t{9}, std::uint64_t{100}, std::uint64_t{101}})
    EXPECT_TRUE(m.find(k, &v) == Status::ok && v == value_for(k)) << k;
  EXPECT_EQ(m.size(), 12u);
}

}  // namespace
}  // namespace mb
