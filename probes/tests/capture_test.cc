// Capture tests: the pax tar writer, RecordingRoot -> archive -> `tar --zstd -xf` -> DirRoot
// round trips (MemRoot trees, the hwloc captures and this machine through the real binary),
// and free space per mount, including a statvfs that hangs like a dead NFS server.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "probes/tests/run_cmd.h"

#include "common/fs.h"
#include "common/system_root.h"
#include "probes/capture.h"
#include "probes/collect.h"

namespace airlock::probes {
namespace {

using nlohmann::json;

using airlock::probes::test::CmdResult;
using airlock::probes::test::run_cmd;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/airlock-capture-XXXXXX";
    if (::mkdtemp(tmpl)) path_ = tmpl;
  }
  ~TempDir() {
    if (!path_.empty()) remove_tree(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The facts without what differs from run to run of the same tree.
json comparable(json j) {
  j.erase("collected_at_ns");
  j.erase("duration_ns");
  j.erase("root");
  return j;
}

json facts_json(const Facts& f) { return comparable(json(f)); }

// Unpacks FILE.tar.zst into dir/x with the system tar, as a support engineer would.
void unpack(const std::string& archive, const std::string& dir) {
  ASSERT_EQ(run_cmd("mkdir -p '" + dir + "' && tar --zstd -xf '" + archive + "' -C '" + dir +
                    "' 2>&1")
                .rc,
            0);
}

TEST(PaxRecord, LengthCountsItself) {
  EXPECT_EQ(pax_record("path", "abc"), "12 path=abc\n");
  // " path=" + value + "\n" is value + 7 bytes; the length field grows from 2 to 3 digits
  // between value sizes 90 (99 bytes) and 91 (101 bytes: 100 cannot be written).
  std::string r90 = pax_record("path", std::string(90, 'a'));
  EXPECT_EQ(r90.size(), 99u);
  EXPECT_EQ(r90.substr(0, 3), "99 ");
  std::string r91 = pax_record("path", std::string(91, 'a'));
  EXPECT_EQ(r91.size(), 101u);
  EXPECT_EQ(r91.substr(0, 4), "101 ");
}

TEST(TarWriter, HeadersAreValidUstar) {
  TarWriter t(1700000000);
  t.add_file("a.txt", "hello");
  std::string tar = t.finish();
  ASSERT_EQ(tar.size(), 512u * 4);  // header, one data block, two end blocks
  EXPECT_EQ(tar.substr(257, 6), std::string("ustar\0", 6));
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : (unsigned char)tar[i];
  EXPECT_EQ(std::stoul(tar.substr(148, 6), nullptr, 8), sum);
  EXPECT_EQ(tar.substr(512, 5), "hello");
}

// A sysfs-like tree with paths and link targets past ustar's 100 characters, a listed empty
// directory, an unreadable file and statvfs answers.
void deep_tree(MemRoot& m) {
  std::string dev =
      "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:08.0/0000:03:00.0/"
      "0000:04:10.0/0000:05:00.0";
  m.add_file(dev + "/vendor", "0x15b3\n");
  m.add_file(dev + "/device", "0x1021\n");
  m.add_file(dev + "/class", "0x020700\n");
  m.add_file(dev + "/current_link_speed", "32.0 GT/s PCIe\n");
  m.add_file(dev + "/max_link_speed", "32.0 GT/s PCIe\n");
  m.add_file(dev + "/current_link_width", "16\n");
  m.add_file(dev + "/max_link_width", "16\n");
  m.add_file(dev + "/numa_node", "1\n");
  m.add_file(dev + "/local_cpulist", "0-31\n");
  m.add_link(dev + "/driver", "../../../../../../../../bus/pci/drivers/mlx5_core");
  m.add_link("sys/bus/pci/devices/0000:05:00.0", "../../../" + dev.substr(4));
  m.add_link("sys/class/infiniband/mlx5_0",
             "../../devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:08.0/0000:03:00.0/"
             "0000:04:10.0/0000:05:00.0/infiniband/mlx5_0");
  std::string ib = dev + "/infiniband/mlx5_0";
  m.add_link(ib + "/device", "../../../0000:05:00.0");
  m.add_file(ib + "/fw_ver", "28.39.1002\n");
  m.add_file(ib + "/ports/1/state", "4: ACTIVE\n");
  m.add_file(ib + "/ports/1/rate", "400 Gb/sec (4X NDR)\n");
  m.add_file(ib + "/ports/1/link_layer", "InfiniBand\n");
  m.add_file(ib + "/node_guid", "x");
  m.set_error(ib + "/node_guid", EACCES);
  m.add_dir("sys/kernel/mm/hugepages");
  m.add_dir("sys/class/net");
  m.add_file("proc/self/mountinfo",
             "22 1 259:2 / / rw,relatime - ext4 /dev/nvme0n1p2 rw\n"
             "23 22 0:21 / /proc rw - proc proc rw\n"
             "40 22 0:50 / /mnt/nfs rw - nfs4 srv:/export rw\n");
  m.set_statvfs("/", FsStats{1000, 600, 500, 100, 60, 50});
  m.set_statvfs_error("/mnt/nfs", ETIMEDOUT);
  m.add_file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
}

TEST(Capture, MemTreeRoundTripsThroughTarZstd) {
  MemRoot m;
  deep_tree(m);
  Facts direct = collect(m);
  RecordingRoot rec(m);
  Facts seen = collect(rec);
  EXPECT_EQ(facts_json(seen), facts_json(direct));
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  std::string archive = tmp.path() + "/c.tar.zst";
  auto w = write_capture(rec, json(seen).dump(), archive, 1700000000);
  ASSERT_TRUE(w.ok()) << w.error().describe();
  EXPECT_GT(w->links, 3u);
  unpack(archive, tmp.path() + "/x");
  DirRoot replay(tmp.path() + "/x");
  Facts again = collect(replay);
  EXPECT_EQ(facts_json(again), facts_json(direct)) << json(again).dump(1);
  // The facts under test actually came through: long paths, links, errors, statvfs.
  ASSERT_TRUE(again.rdma.ok());
  ASSERT_EQ(again.rdma.value->size(), 1u);
  EXPECT_EQ(*(*again.rdma.value)[0].pci_bdf.value, "0000:05:00.0");
  EXPECT_EQ((*again.rdma.value)[0].node_guid.error, "EACCES");
  EXPECT_EQ(*(*again.pci.value)[0].driver.value, "mlx5_core");
  EXPECT_EQ(again.cpu_memory.hugepages.value->size(), 0u);  // listed empty dir exists
  const auto& mounts = *again.mounts.value;
  ASSERT_EQ(mounts.size(), 3u);
  EXPECT_EQ(mounts[0].space->value->available_bytes, 500u);
  EXPECT_FALSE(mounts[1].space.has_value());  // proc: no statvfs
  EXPECT_EQ(mounts[2].space->error, "timeout");
  // The archive says what it is.
  auto meta = read_file(tmp.path() + "/x/airlock-capture/facts.json");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(comparable(json::parse(*meta)), facts_json(direct));
}

TEST(MountSpace, ReportsStatvfsPerMountAndSkipsPseudo) {
  MemRoot m;
  m.add_file("proc/self/mountinfo",
             "22 1 259:2 / / rw - ext4 /dev/sda1 rw\n"
             "23 22 0:21 / /proc rw - proc proc rw\n"
             "24 22 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
             "25 22 0:23 / /dev/shm rw - tmpfs tmpfs rw\n"
             "26 22 0:24 / /lustre rw - lustre 10.0.0.1@o2ib:/fs rw\n"
             "27 22 0:25 / /home rw - nfs4 srv:/home rw\n");
  m.set_statvfs("/", FsStats{1 << 30, 1 << 29, 1 << 28, 1000, 500, 400});
  m.set_statvfs("/dev/shm", FsStats{4096, 4096, 4096, 10, 10, 10});
  m.set_statvfs_error("/home", EACCES);
  Facts f = collect(m);
  ASSERT_TRUE(f.mounts.ok());
  json j = json(f)["mounts"];
  ASSERT_EQ(j.size(), 6u);
  EXPECT_EQ(j[0]["space"]["size_bytes"], 1u << 30);
  EXPECT_EQ(j[0]["space"]["available_bytes"], 1u << 28);
  EXPECT_EQ(j[0]["space"]["inodes_free"], 500);
  EXPECT_FALSE(j[1].contains("space"));
  EXPECT_FALSE(j[2].contains("space"));
  EXPECT_EQ(j[3]["space"]["free_bytes"], 4096);
  EXPECT_EQ(j[4]["space"], json({{"error", "ENOTSUP"}}));
  EXPECT_EQ(j[5]["space"], json({{"error", "EACCES"}}));
}

int hung_statvfs(const char*, struct statvfs* out) {
  std::this_thread::sleep_for(std::chrono::seconds(30));
  *out = {};
  return 0;
}

TEST(MountSpace, HungMountsTimeOutOneByOneWithinBounds) {
  HostRoot host(&hung_statvfs);
  std::vector<Mount> mounts(3);
  mounts[0].mount_point = "/mnt/a";
  mounts[0].fs_type = "nfs4";
  mounts[1].mount_point = "/proc";
  mounts[1].fs_type = "proc";
  mounts[2].mount_point = "/mnt/b";
  mounts[2].fs_type = "lustre";
  CollectOptions opts;
  opts.statvfs_timeout = std::chrono::milliseconds(150);
  auto t0 = std::chrono::steady_clock::now();
  collect_mount_space(host, mounts, opts);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(mounts[0].space->error, "timeout");
  EXPECT_FALSE(mounts[1].space.has_value());
  EXPECT_EQ(mounts[2].space->error, "timeout");
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::seconds(3));
  // A passed deadline: no call at all, still a reason per mount.
  std::vector<Mount> late(1);
  late[0].mount_point = "/mnt/c";
  late[0].fs_type = "nfs";
  opts.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  t0 = std::chrono::steady_clock::now();
  collect_mount_space(host, late, opts);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(100));
  EXPECT_EQ(late[0].space->error, "timeout");
}

// Runs `capture` on a root ("" = this machine), unpacks it and probes the unpacked tree.
struct BinaryRoundTrip {
  json captured;  // airlock-capture/facts.json: what the capture run saw
  json replayed;  // probe --root <unpacked>
};

void capture_and_replay(const std::string& root, BinaryRoundTrip* out) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  std::string bin = AIRLOCK_NODE_BIN;
  std::string archive = tmp.path() + "/node.tar.zst";
  std::string root_arg = root.empty() ? "" : " --root '" + root + "'";
  CmdResult c = run_cmd(bin + " capture -o '" + archive + "'" + root_arg + " 2>&1");
  ASSERT_EQ(c.rc, 0) << c.out;
  EXPECT_NE(c.out.find("wrote " + archive), std::string::npos) << c.out;
  unpack(archive, tmp.path() + "/x");
  CmdResult p = run_cmd(bin + " probe --root '" + tmp.path() + "/x'");
  ASSERT_EQ(p.rc, 0);
  out->replayed = comparable(json::parse(p.out));
  auto meta = read_file(tmp.path() + "/x/airlock-capture/facts.json");
  ASSERT_TRUE(meta.ok()) << meta.error().describe();
  out->captured = comparable(json::parse(*meta));
}

class HwlocCapture : public ::testing::TestWithParam<const char*> {};

TEST_P(HwlocCapture, ProbeOfTheUnpackedCaptureMatchesTheDirectProbe) {
  std::string root = std::string(AIRLOCK_NODE_FIXTURES) + "/" + GetParam();
  CmdResult d = run_cmd(std::string(AIRLOCK_NODE_BIN) + " probe --root '" + root + "'");
  ASSERT_EQ(d.rc, 0);
  json direct = comparable(json::parse(d.out));
  BinaryRoundTrip rt;
  ASSERT_NO_FATAL_FAILURE(capture_and_replay(root, &rt));
  EXPECT_EQ(rt.replayed, direct);
  EXPECT_EQ(rt.captured, direct);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HwlocCapture,
                         ::testing::Values("32em64t-2n8c+dax+nvme+mic+dimms",
                                           "32intel64-2p8co2t+8ve", "nvidiagpunumanodes",
                                           "2pa-pcidomain32bits", "128arm-2pa2n8cluster4co"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

TEST(HostCapture, ProbeOfTheUnpackedCaptureMatchesThisMachine) {
  BinaryRoundTrip rt;
  ASSERT_NO_FATAL_FAILURE(capture_and_replay("", &rt));
  // Exactly what the capture run saw...
  EXPECT_EQ(rt.replayed, rt.captured);
  // ...and the same machine as a direct probe, apart from what moves between two runs.
  CmdResult d = run_cmd(std::string(AIRLOCK_NODE_BIN) + " probe");
  ASSERT_EQ(d.rc, 0);
  json direct = comparable(json::parse(d.out));
  // Other tests running at the same time (simulated clusters) add and remove network
  // interfaces and mounts on this machine, so those two sections are compared only for
  // what the capture itself saw (above).
  auto steady = [](json j) {
    j["cpu_memory"].erase("mem_available_bytes");
    j["cpu_memory"].erase("numa_nodes");  // per-node MemTotal is stable, but keep it simple
    j.erase("net");
    j.erase("mounts");
    return j;
  };
  EXPECT_EQ(steady(rt.replayed), steady(direct));
  ASSERT_TRUE(rt.replayed["mounts"].is_array());
  bool some_space = false;
  for (const auto& m : rt.replayed["mounts"]) {
    if (m["mount_point"] == "/" && m.contains("space")) {
      some_space = m["space"].contains("size_bytes");
    }
  }
  EXPECT_TRUE(some_space) << rt.replayed["mounts"].dump(1);
}

TEST(HostCapture, RejectsMissingOutput) {
  EXPECT_EQ(run_cmd(std::string(AIRLOCK_NODE_BIN) + " capture 2>/dev/null").rc, 2);
  EXPECT_EQ(run_cmd(std::string(AIRLOCK_NODE_BIN) + " capture -o /nonexistent-dir/x.tar.zst "
                                                    "2>/dev/null")
                .rc,
            1);
}

// ---- nvidia-smi through a capture ------------------------------------------------------------

std::string synthetic(const std::string& name) {
  return std::string(AIRLOCK_SYNTHETIC_FIXTURES) + "/" + name;
}

// The capture path with a stand-in nvidia-smi: the synthetic H100 tree's usr/bin/nvidia-smi is a
// script printing the CSV. Capturing runs it (as `capture` runs the host's), the archive keeps
// its output, and the probe of the unpacked archive (nothing run) gives the same facts.
TEST(CaptureNvidiaSmi, FakeProgramOutputIsCapturedAndReplayed) {
  std::string tree = synthetic("h100-8x-ndr");
  struct stat st;
  ASSERT_EQ(::stat((tree + "/usr/bin/nvidia-smi").c_str(), &st), 0);
  ASSERT_TRUE(st.st_mode & S_IXUSR) << "make.sh makes the stand-in executable";
  DirRoot dir(tree);
  RecordingRoot rec(dir);
  CollectOptions o;
  o.run_command = system_command_runner(tree);
  CommandOutputs outputs;
  o.command_outputs = &outputs;
  Facts live = collect(rec, o);
  ASSERT_TRUE(live.nvidia_smi.ok()) << live.nvidia_smi.error;
  EXPECT_EQ(live.nvidia_smi.value->gpu_count, 8u);
  for (const auto& g : *live.gpus.value) {
    ASSERT_TRUE(g.nvidia_smi) << g.bdf;
    EXPECT_EQ(g.nvidia_smi->bdf, g.bdf);
    EXPECT_TRUE(g.nvidia_smi->uuid.ok() && *g.nvidia_smi->uuid.value == *g.uuid.value) << g.bdf;
  }
  ASSERT_EQ(outputs.count("nvidia-smi.csv"), 1u);
  // What the script printed is what make.sh recorded as the capture of this tree.
  auto recorded = read_file(tree + "/airlock-capture/commands/nvidia-smi.csv");
  ASSERT_TRUE(recorded.ok());
  EXPECT_EQ(outputs["nvidia-smi.csv"], *recorded);

  TempDir tmp;
  std::string archive = tmp.path() + "/h100.tar.zst";
  auto w = write_capture(rec, json(live).dump(), archive, 1700000000, outputs);
  ASSERT_TRUE(w.ok()) << w.error().describe();
  std::string x = tmp.path() + "/x";
  ASSERT_EQ(::mkdir(x.c_str(), 0700), 0);
  auto ex = extract_capture(archive, x);
  ASSERT_TRUE(ex.ok()) << ex.error().describe();
  auto csv = read_file(x + "/airlock-capture/commands/nvidia-smi.csv");
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(*csv, outputs["nvidia-smi.csv"]);
  DirRoot unpacked(x);
  Facts replayed = collect(unpacked);  // no runner: reads the recorded output
  EXPECT_EQ(facts_json(replayed), facts_json(live))
      << json::diff(facts_json(live), facts_json(replayed)).dump(1).substr(0, 4000);
}

TEST(CaptureNvidiaSmi, HungProgramTimesOutAndTheReasonIsCaptured) {
  TempDir tmp;
  std::string bin = tmp.path() + "/usr/bin";
  ASSERT_EQ(run_cmd("mkdir -p '" + bin + "'").rc, 0);
  ASSERT_TRUE(write_file_atomic(bin + "/nvidia-smi", "#!/bin/sh\nsleep 30\n", 0755).ok());
  DirRoot dir(tmp.path());
  CollectOptions o;
  o.run_command = system_command_runner(tmp.path());
  o.command_timeout = std::chrono::milliseconds(300);
  CommandOutputs outputs;
  o.command_outputs = &outputs;
  auto t0 = std::chrono::steady_clock::now();
  Facts f = collect(dir, o);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(f.nvidia_smi.error, "timeout");
  EXPECT_EQ(outputs["nvidia-smi.error"], "timeout\n");
}

// `probe --root FILE.tar.zst` reads a capture archive directly: the same facts as the tree it
// was captured from (the synthetic H100 with recorded nvidia-smi output, and a hwloc machine).
TEST(CaptureArchive, ProbeRootArchiveRoundTrips) {
  for (std::string root : {synthetic("h100-8x-ndr"),
                           std::string(AIRLOCK_NODE_FIXTURES) + "/32intel64-2p8co2t+8ve"}) {
    SCOPED_TRACE(root);
    TempDir tmp;
    std::string bin = AIRLOCK_NODE_BIN, archive = tmp.path() + "/node.tar.zst";
    CmdResult c = run_cmd(bin + " capture -o '" + archive + "' --root '" + root + "' 2>&1");
    ASSERT_EQ(c.rc, 0) << c.out;
    CmdResult d = run_cmd(bin + " probe --root '" + root + "'");
    ASSERT_EQ(d.rc, 0);
    CmdResult p = run_cmd("TMPDIR='" + tmp.path() + "' " + bin + " probe --root '" + archive + "'");
    ASSERT_EQ(p.rc, 0);
    json direct = json::parse(d.out), from_archive = json::parse(p.out);
    EXPECT_EQ(from_archive["root"], archive);
    EXPECT_EQ(comparable(from_archive), comparable(direct))
        << json::diff(comparable(direct), comparable(from_archive)).dump(1).substr(0, 4000);
    // The private unpack directory is gone afterwards.
    CmdResult left = run_cmd("ls -A '" + tmp.path() + "'");
    EXPECT_EQ(left.out, "node.tar.zst\n");
  }
  // Not an archive, not a directory: a usage error, as before.
  TempDir tmp;
  ASSERT_TRUE(write_file_atomic(tmp.path() + "/junk", "not zstd", 0644).ok());
  EXPECT_EQ(run_cmd(std::string(AIRLOCK_NODE_BIN) + " probe --root '" + tmp.path() +
                    "/junk' 2>/dev/null").rc,
            2);
}

// extract_capture refuses archives that would write outside the directory or through a link.
TEST(CaptureArchive, ExtractionRejectsHostileArchives) {
  struct Case {
    const char* what;
    std::function<void(TarWriter&)> fill;
  } cases[] = {
      {"file below a symlink", [](TarWriter& t) {
         t.add_link("etc", "/etc");
         t.add_file("etc/evil", "x");
       }},
      {"dot-dot", [](TarWriter& t) { t.add_file("a/../../evil", "x"); }},
      {"absolute", [](TarWriter& t) { t.add_file("/tmp/evil", "x"); }},
      {"twice", [](TarWriter& t) {
         t.add_link("a", "b");
         t.add_file("a", "x");
       }},
      {"directory over a symlink", [](TarWriter& t) {
         t.add_link("d", "/");
         t.add_dir("d");
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir tmp;
    TarWriter t(0);
    c.fill(t);
    auto z = zstd_compress(t.finish(), 3);
    ASSERT_TRUE(z.ok());
    std::string archive = tmp.path() + "/a.tar.zst", x = tmp.path() + "/x";
    ASSERT_TRUE(write_file_atomic(archive, *z, 0644).ok());
    ASSERT_EQ(::mkdir(x.c_str(), 0700), 0);
    auto st = extract_capture(archive, x);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, Errc::kUnsafe) << st.error().describe();
  }
  TempDir tmp;
  ASSERT_TRUE(write_file_atomic(tmp.path() + "/bad.tar.zst", "\x28\xb5\x2f\xfd garbage", 0644).ok());
  EXPECT_FALSE(extract_capture(tmp.path() + "/bad.tar.zst", tmp.path()).ok());
  // A well-formed capture with a long name and a symlink unpacks.
  TarWriter t(0);
  std::string longname = "sys/" + std::string(150, 'd') + "/f";
  t.add_dir("sys");
  t.add_file(longname, "hello");
  t.add_link("sys/l", "../" + std::string(120, 'x'));
  auto z = zstd_compress(t.finish(), 3);
  ASSERT_TRUE(z.ok());
  ASSERT_TRUE(write_file_atomic(tmp.path() + "/ok.tar.zst", *z, 0644).ok());
  std::string x = tmp.path() + "/x";
  ASSERT_EQ(::mkdir(x.c_str(), 0700), 0);
  auto st = extract_capture(tmp.path() + "/ok.tar.zst", x);
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(*read_file(x + "/" + longname), "hello");
  char buf[256];
  ssize_t n = ::readlink((x + "/sys/l").c_str(), buf, sizeof buf);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "../" + std::string(120, 'x'));
}

}  // namespace
}  // namespace airlock::probes
