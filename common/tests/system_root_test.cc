// Unit and contract tests for SystemRoot: MemRoot semantics, DirRoot's link resolution inside a
// captured tree (relative, absolute and escaping targets), errno-carrying errors, size caps.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/fs.h"
#include "common/system_root.h"

namespace airlock {
namespace {

TEST(NormalizeRel, Table) {
  struct Case {
    const char* in;
    const char* want;
  } cases[] = {
      {"", ""},           {"/", ""},           {"sys/bus", "sys/bus"},
      {"/sys//bus/", "sys/bus"}, {"a/./b/../c", "a/c"}, {"/../../x", "x"},
  };
  for (const auto& c : cases) EXPECT_EQ(normalize_rel(c.in), c.want) << c.in;
}

TEST(ErrnoName, Known) {
  EXPECT_EQ(errno_name(ENOENT), "ENOENT");
  EXPECT_EQ(errno_name(EACCES), "EACCES");
  EXPECT_EQ(error_reason(sys_error("x", EINVAL)), "EINVAL");
  EXPECT_EQ(error_reason(make_error(Errc::kLimit, "big")), errc_name(Errc::kLimit));
}

void sysfs_like(MemRoot& m) {
  m.add_file("sys/devices/pci0000:00/0000:00:02.0/vendor", "0x8086\n");
  m.add_link("sys/bus/pci/devices/0000:00:02.0", "../../../devices/pci0000:00/0000:00:02.0");
  m.add_link("sys/devices/pci0000:00/0000:00:02.0/driver", "../../../bus/pci/drivers/nvme");
  m.add_link("sys/class/abs", "/sys/devices/pci0000:00");
  m.add_link("sys/class/escape", "../../../../../../etc");
  m.add_file("etc/os-release", "ID=debian\n");
}

TEST(MemRoot, ReadsThroughLinksAndRecords) {
  MemRoot m;
  sysfs_like(m);
  auto v = m.read_file("sys/bus/pci/devices/0000:00:02.0/vendor");
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_EQ(*v, "0x8086\n");
  auto rp = m.real_path("sys/bus/pci/devices/0000:00:02.0");
  ASSERT_TRUE(rp.ok());
  EXPECT_EQ(*rp, "sys/devices/pci0000:00/0000:00:02.0");
  EXPECT_EQ(*m.read_link("sys/bus/pci/devices/0000:00:02.0/driver"),
            "../../../bus/pci/drivers/nvme");
  EXPECT_EQ(*m.real_path("sys/class/abs/0000:00:02.0"), "sys/devices/pci0000:00/0000:00:02.0");
  // ".." beyond the root clamps at the root.
  EXPECT_EQ(*m.real_path("sys/class/escape/os-release"), "etc/os-release");
  auto names = m.list_dir("sys/bus/pci/devices");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"0000:00:02.0"});
  EXPECT_EQ(m.files_read(), std::vector<std::string>{"sys/bus/pci/devices/0000:00:02.0/vendor"});
}

TEST(MemRoot, ErrorsCarryErrno) {
  MemRoot m;
  sysfs_like(m);
  m.add_file("sys/class/dmi/id/product_serial", "x");
  m.set_error("sys/class/dmi/id/product_serial", EACCES);
  auto r = m.read_file("sys/class/dmi/id/product_serial");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_reason(r.error()), "EACCES");
  auto missing = m.read_file("proc/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(error_reason(missing.error()), "ENOENT");
  auto notlink = m.read_link("etc/os-release");
  ASSERT_FALSE(notlink.ok());
  EXPECT_EQ(error_reason(notlink.error()), "EINVAL");
  EXPECT_EQ(error_reason(m.read_file("etc").error()), "EISDIR");
  EXPECT_EQ(m.read_file("etc/os-release", 3).error().code, Errc::kLimit);
  EXPECT_TRUE(m.exists("sys/bus/pci/devices/0000:00:02.0"));
  EXPECT_FALSE(m.exists("sys/bus/pci/devices/0000:00:03.0"));
}

TEST(MemRoot, LinkLoopIsEloop) {
  MemRoot m;
  m.add_link("a", "b");
  m.add_link("b", "a");
  auto r = m.read_file("a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_reason(r.error()), "ELOOP");
}

class DirRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/airlock-sysroot-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    mk("sys/devices/pci0000:00/0000:00:02.0");
    mk("sys/bus/pci/devices");
    mk("etc");
    put("sys/devices/pci0000:00/0000:00:02.0/vendor", "0x15b3\n");
    put("etc/os-release", "ID=inside\n");
    link("../../../devices/pci0000:00/0000:00:02.0", "sys/bus/pci/devices/0000:00:02.0");
    link("/etc", "sys/abs_etc");                 // absolute: must be re-rooted
    link("../../../../../../../../etc", "sys/devices/up");  // climbs past the root
    link("/etc/passwd", "sys/passwd");           // host file that must not be read
  }
  void TearDown() override { remove_tree(dir_); }
  void mk(const std::string& rel) {
    std::string cmd = "mkdir -p '" + dir_ + "/" + rel + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void put(const std::string& rel, const std::string& s) {
    std::ofstream(dir_ + "/" + rel) << s;
  }
  void link(const std::string& target, const std::string& rel) {
    ASSERT_EQ(::symlink(target.c_str(), (dir_ + "/" + rel).c_str()), 0);
  }
  std::string dir_;
};

TEST_F(DirRootTest, ResolvesInsideTheRoot) {
  DirRoot r(dir_);
  EXPECT_EQ(*r.read_file("sys/bus/pci/devices/0000:00:02.0/vendor"), "0x15b3\n");
  EXPECT_EQ(*r.read_file("/sys/bus/pci/devices/0000:00:02.0/vendor"), "0x15b3\n");
  EXPECT_EQ(*r.real_path("sys/bus/pci/devices/0000:00:02.0"),
            "sys/devices/pci0000:00/0000:00:02.0");
  EXPECT_EQ(*r.read_file("sys/abs_etc/os-release"), "ID=inside\n");
  EXPECT_EQ(*r.read_file("sys/devices/up/os-release"), "ID=inside\n");
  auto esc = r.read_file("sys/passwd");
  ASSERT_FALSE(esc.ok());
  EXPECT_EQ(error_reason(esc.error()), "ENOENT");
  EXPECT_EQ(*r.read_link("sys/bus/pci/devices/0000:00:02.0"),
            "../../../devices/pci0000:00/0000:00:02.0");
  auto names = r.list_dir("sys/abs_etc");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"os-release"});
  EXPECT_EQ(error_reason(r.read_file("sys/nothing").error()), "ENOENT");
  EXPECT_EQ(error_reason(r.read_file("etc").error()), "EISDIR");
  EXPECT_EQ(r.read_file("etc/os-release", 2).error().code, Errc::kLimit);
}

TEST_F(DirRootTest, ReplaysCapturedErrorsAndStatvfs) {
  DirRoot plain(dir_);
  EXPECT_EQ(error_reason(plain.statvfs("/", std::chrono::seconds(1)).error()), "ENOTSUP");
  mk("airlock-capture");
  put("airlock-capture/errors",
      "read\tEACCES\tsys/devices/pci0000:00/0000:00:02.0/vendor\nbogus line\n"
      "list\tEIO\tetc\n");
  put("airlock-capture/statvfs",
      "\t100 50 40 10 5 4\nmnt/nfs\terror ETIMEDOUT\nmnt/bad\tnot numbers\n");
  DirRoot r(dir_);
  EXPECT_EQ(error_reason(r.read_file("sys/bus/pci/devices/0000:00:02.0/vendor").error()),
            "EACCES");
  EXPECT_TRUE(r.exists("sys/bus/pci/devices/0000:00:02.0/vendor"));  // only reads fail
  EXPECT_EQ(error_reason(r.list_dir("etc").error()), "EIO");
  EXPECT_EQ(*r.read_file("etc/os-release"), "ID=inside\n");
  auto st = r.statvfs("/", std::chrono::seconds(1));
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(st->size_bytes, 100u);
  EXPECT_EQ(st->available_bytes, 40u);
  EXPECT_EQ(st->inodes_available, 4u);
  EXPECT_EQ(error_reason(r.statvfs("/mnt/nfs", std::chrono::seconds(1)).error()), "ETIMEDOUT");
  EXPECT_EQ(error_reason(r.statvfs("mnt/bad", std::chrono::seconds(1)).error()), "ENOTSUP");
}

TEST(MemRoot, StatvfsAnswersWhatTheTestSets) {
  MemRoot m;
  m.set_statvfs("/data", FsStats{1000, 600, 500, 10, 7, 6});
  m.set_statvfs_error("/stuck", ETIMEDOUT);
  auto st = m.statvfs("data", std::chrono::seconds(1));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->free_bytes, 600u);
  EXPECT_EQ(error_reason(m.statvfs("/stuck", std::chrono::seconds(1)).error()), "ETIMEDOUT");
  EXPECT_EQ(error_reason(m.statvfs("/other", std::chrono::seconds(1)).error()), "ENOTSUP");
}

std::atomic<int> g_slow_calls{0};

// A statvfs that hangs like a dead NFS server (for longer than any test waits).
int slow_statvfs(const char*, struct statvfs* out) {
  ++g_slow_calls;
  std::this_thread::sleep_for(std::chrono::seconds(5));
  *out = {};
  return 0;
}

int fake_statvfs(const char* path, struct statvfs* out) {
  *out = {};
  if (std::string(path) == "/gone") {
    errno = ENOENT;
    return -1;
  }
  out->f_frsize = 4096;
  out->f_blocks = 10;
  out->f_bfree = 4;
  out->f_bavail = 3;
  out->f_files = 100;
  out->f_ffree = 50;
  out->f_favail = 40;
  return 0;
}

TEST(StatvfsWithTimeout, AbandonsAHungCallWithinBounds) {
  auto t0 = std::chrono::steady_clock::now();
  auto r = statvfs_with_timeout("/mnt/hung", std::chrono::milliseconds(100), &slow_statvfs);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(error_reason(r.error()), "ETIMEDOUT");
  EXPECT_NE(r.error().describe().find("/mnt/hung"), std::string::npos) << r.error().describe();
  EXPECT_GE(took, std::chrono::milliseconds(100));
  EXPECT_LT(took, std::chrono::milliseconds(1500));
  EXPECT_EQ(g_slow_calls.load(), 1);
  // The host root goes through the same path with the injected function.
  HostRoot h(&slow_statvfs);
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(error_reason(h.statvfs("mnt/hung", std::chrono::milliseconds(50)).error()),
            "ETIMEDOUT");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
}

TEST(StatvfsWithTimeout, ConvertsBlocksToBytesAndKeepsErrno) {
  HostRoot h(&fake_statvfs);
  auto st = h.statvfs("/data", std::chrono::seconds(5));
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(st->size_bytes, 40960u);
  EXPECT_EQ(st->free_bytes, 16384u);
  EXPECT_EQ(st->available_bytes, 12288u);
  EXPECT_EQ(st->inodes, 100u);
  EXPECT_EQ(st->inodes_free, 50u);
  EXPECT_EQ(st->inodes_available, 40u);
  EXPECT_EQ(error_reason(h.statvfs("/gone", std::chrono::seconds(5)).error()), "ENOENT");
  // The real call on this machine's root answers.
  HostRoot real;
  auto root = real.statvfs("/", std::chrono::seconds(10));
  ASSERT_TRUE(root.ok()) << root.error().describe();
  EXPECT_GT(root->size_bytes, 0u);
}

TEST(RecordingRoot, RecordsWhatWasTouchedUnderCanonicalPaths) {
  MemRoot m;
  m.add_file("sys/devices/pci0000:00/0000:00:02.0/vendor", "0x8086\n");
  m.add_file("sys/devices/pci0000:00/0000:00:02.0/secret", "x");
  m.set_error("sys/devices/pci0000:00/0000:00:02.0/secret", EACCES);
  m.add_file("sys/devices/pci0000:00/0000:00:02.0/unread", "never read");
  m.add_dir("sys/devices/pci0000:00/0000:00:02.0/empty");
  m.add_link("sys/bus/pci/devices/0000:00:02.0", "../../../devices/pci0000:00/0000:00:02.0");
  m.add_file("big", std::string(100, 'b'));
  m.set_statvfs("/", FsStats{1, 2, 3, 4, 5, 6});
  RecordingRoot rec(m);
  EXPECT_EQ(*rec.read_file("sys/bus/pci/devices/0000:00:02.0/vendor"), "0x8086\n");
  EXPECT_EQ(error_reason(rec.read_file("sys/bus/pci/devices/0000:00:02.0/secret").error()),
            "EACCES");
  EXPECT_EQ(rec.read_file("big", 10).error().code, Errc::kLimit);
  EXPECT_EQ(rec.list_dir("sys/bus/pci/devices/0000:00:02.0")->size(), 4u);
  EXPECT_TRUE(rec.statvfs("/", std::chrono::seconds(1)).ok());
  EXPECT_EQ(error_reason(rec.statvfs("/x", std::chrono::seconds(1)).error()), "ENOTSUP");

  auto e = rec.entries();
  using K = RecordingRoot::Kind;
  const std::string dev = "sys/devices/pci0000:00/0000:00:02.0";
  ASSERT_TRUE(e.count("sys/bus/pci/devices/0000:00:02.0"));
  EXPECT_EQ(e["sys/bus/pci/devices/0000:00:02.0"].kind, K::kLink);
  EXPECT_EQ(e[dev].kind, K::kDir);
  EXPECT_EQ(e[dev + "/vendor"].data, "0x8086\n");
  EXPECT_EQ(e[dev + "/unread"].kind, K::kFile);  // listed only: an empty stand-in
  EXPECT_TRUE(e[dev + "/unread"].placeholder);
  EXPECT_EQ(e[dev + "/unread"].data, "");
  EXPECT_EQ(e[dev + "/empty"].kind, K::kDir);
  EXPECT_EQ(e["big"].data.size(), 100u);  // whole, so the replay hits the same limit
  EXPECT_EQ(e["sys/bus"].kind, K::kDir);   // implied parents
  // MemRoot's set_error fails every access to the path, readlink included; DirRoot replays it
  // at the same step.
  EXPECT_EQ(rec.errors_file(), "readlink\tEACCES\t" + dev + "/secret\n");
  EXPECT_EQ(rec.statvfs_file(), "\t1 2 3 4 5 6\nx\terror ENOTSUP\n");
}

TEST(RecordingRoot, LaterReadsSeeTheFirstContent) {
  MemRoot m;
  m.add_file("proc/meminfo", "MemAvailable: 1 kB\n");
  RecordingRoot rec(m);
  EXPECT_EQ(*rec.read_file("proc/meminfo"), "MemAvailable: 1 kB\n");
  m.add_file("proc/meminfo", "MemAvailable: 2 kB\n");
  EXPECT_EQ(*rec.read_file("proc/meminfo"), "MemAvailable: 1 kB\n");
}

TEST(HostRoot, ReadsProcAndReportsMissing) {
  HostRoot h;
  auto self = h.list_dir("proc/self");
  ASSERT_TRUE(self.ok()) << self.error().describe();
  EXPECT_FALSE(self->empty());
  EXPECT_EQ(error_reason(h.read_file("proc/airlock-does-not-exist").error()), "ENOENT");
  EXPECT_TRUE(h.exists("proc/self/status"));
}

}  // namespace
}  // namespace airlock
