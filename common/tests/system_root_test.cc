// Unit and contract tests for SystemRoot: MemRoot semantics, DirRoot's link resolution inside a
// captured tree (relative, absolute and escaping targets), errno-carrying errors, size caps.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

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
