// The simulated cluster itself (tests/sim/simcluster): nodes see their fixture, not this
// machine; their /var/lib/airlock is private; faults do what they say; a bastion works; down
// leaves nothing behind; 50 nodes come up and go down quickly. Needs root: skips without it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/sim/sim_cluster.h"

namespace airlock::sim {
namespace {

namespace fs = std::filesystem;

const std::string kSynthetic = std::string(AIRLOCK_SOURCE_DIR) + "/tests/fixtures/nodes/synthetic";
const std::string kHwloc = AIRLOCK_NODE_FIXTURES;

#define SKIP_WITHOUT_SIM()                                            \
  do {                                                                \
    if (auto why = SimCluster::skip_reason(); !why.empty()) {         \
      GTEST_SKIP() << why;                                            \
    }                                                                 \
  } while (0)

std::string pci_listing(const std::string& fixture) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(fixture + "/sys/bus/pci/devices")) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  std::string out;
  for (auto& n : names) out += n + "\n";
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Running and not a zombie (this machine's init may reap late).
bool alive(pid_t pid) {
  std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

std::string state_value(const std::string& dir, const std::string& key) {
  std::ifstream in(dir + "/state.down");
  std::ifstream in2(dir + "/state");
  std::string line;
  for (std::ifstream* f : {&in2, &in}) {
    while (std::getline(*f, line)) {
      if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    }
  }
  return "";
}

class SimClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { SKIP_WITHOUT_SIM(); }
};

TEST_F(SimClusterTest, NodesSeeTheirFixturesAndPrivateFolders) {
  SimCluster::Options o;
  o.n = 4;
  o.fixtures["node001"] = kSynthetic + "/h100-8x-ndr";
  o.fixtures["node002"] = kSynthetic + "/gaudi2";
  o.fixtures["node003"] = kHwloc + "/nvidiagpunumanodes";
  // node004: no fixture, sees this machine's /sys (of its own network namespace).
  std::string err;
  auto c = SimCluster::start(o, &err);
  ASSERT_TRUE(c) << err;
  ASSERT_EQ(c->nodes(), (std::vector<std::string>{"node001", "node002", "node003", "node004"}));

  // The inventory names every node with its address; node001 is the manager.
  std::string inv = read_file(c->inventory_path());
  EXPECT_NE(inv.find("  node001: {address: " + c->address("node001") + ", roles: [manager]}"), std::string::npos) << inv;
  EXPECT_NE(inv.find("  node004: {address: " + c->address("node004") + ", roles: [agent]}"), std::string::npos) << inv;
  EXPECT_NE(inv.find("known_hosts: known_hosts"), std::string::npos);
  std::string kh = read_file(c->known_hosts_path());
  EXPECT_NE(kh.find(c->address("node003") + " ssh-ed25519 AAAA"), std::string::npos) << kh;

  // Over real SSH, each node's PCI devices are its fixture's.
  for (const auto& [node, fixture] : o.fixtures) {
    auto r = c->ssh(node, "ls /sys/bus/pci/devices");
    ASSERT_EQ(r.exit_code, 0) << node << ": " << r.err;
    EXPECT_EQ(r.out, pci_listing(fixture)) << node;
  }
  auto vendors = c->ssh("node001", "cat /sys/bus/pci/devices/*/vendor | grep -c 0x10de");
  EXPECT_EQ(vendors.out, "12\n") << vendors.err;  // 8 H100 + 4 NVSwitch
  auto habana = c->ssh("node002", "cat /sys/bus/pci/devices/*/vendor | grep -c 0x1da3");
  EXPECT_EQ(habana.out, "8\n") << habana.err;
  auto driver = c->ssh("node001", "cat /proc/driver/nvidia/version");
  EXPECT_NE(driver.out.find("550.90.07"), std::string::npos) << driver.out << driver.err;
  auto cpu = c->ssh("node001", "grep -m1 'model name' /proc/cpuinfo");
  std::string fixture_cpu = read_file(kSynthetic + "/h100-8x-ndr/proc/cpuinfo");
  auto at = fixture_cpu.find("model name");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(cpu.out, fixture_cpu.substr(at, fixture_cpu.find('\n', at) + 1 - at)) << cpu.err;
  auto plain = c->ssh("node004", "ls /sys/bus/pci/devices | head -1; ls /sys/class/net");
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out.find("eth0"), std::string::npos) << plain.out;  // its own netns's sysfs

  // /var/lib/airlock, /opt/airlock, /etc/airlock and /tmp are the node's own.
  auto w = c->ssh("node001", "echo one > /var/lib/airlock/mark && echo t > /tmp/mark && echo o > /opt/airlock/mark");
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(read_file(c->node_dir("node001") + "/var-lib-airlock/mark"), "one\n");
  EXPECT_EQ(read_file(c->node_dir("node001") + "/tmp/mark"), "t\n");
  auto other = c->ssh("node002", "ls -A /var/lib/airlock /tmp /opt/airlock /etc/airlock");
  EXPECT_EQ(other.exit_code, 0) << other.err;
  EXPECT_EQ(other.out.find("mark"), std::string::npos) << other.out;
  EXPECT_FALSE(fs::exists("/var/lib/airlock/mark"));

  // exec enters the node without SSH, and sees the same mounts.
  auto e = c->exec("node001", {"cat", "/var/lib/airlock/mark"});
  EXPECT_EQ(e.out, "one\n") << e.err;
  auto where = c->exec("node003", {"ip", "-4", "-o", "addr", "show", "dev", "eth0"});
  EXPECT_NE(where.out.find(c->address("node003") + "/16"), std::string::npos) << where.out << where.err;
}

TEST_F(SimClusterTest, FaultsDoWhatTheySay) {
  SimCluster::Options o;
  o.n = 4;
  std::string err;
  auto c = SimCluster::start(o, &err);
  ASSERT_TRUE(c) << err;
  for (auto& n : c->nodes()) ASSERT_EQ(c->ssh(n, "true").exit_code, 0) << n;

  // stop-sshd: refused at once; start-sshd: back.
  auto f = c->fault("node002", {"stop-sshd"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  auto r = c->ssh("node002", "true", {"-o", "LogLevel=INFO"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("Connection refused"), std::string::npos) << r.err;
  ASSERT_EQ(c->fault("node002", {"start-sshd"}).exit_code, 0);
  EXPECT_EQ(c->ssh("node002", "true").exit_code, 0);

  // link-down: the connection times out (no RST, no ICMP); the other nodes are untouched.
  ASSERT_EQ(c->fault("node003", {"link-down"}).exit_code, 0);
  auto t0 = std::chrono::steady_clock::now();
  r = c->ssh("node003", "true", {"-o", "ConnectTimeout=2", "-o", "LogLevel=INFO"});
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
  EXPECT_GE(took, std::chrono::milliseconds(1900));
  EXPECT_EQ(c->ssh("node004", "true").exit_code, 0);
  ASSERT_EQ(c->fault("node003", {"link-up"}).exit_code, 0);
  EXPECT_EQ(c->ssh("node003", "true").exit_code, 0);

  // rekey: strict checking against the old known_hosts now fails with a changed key.
  auto k = c->fault("node004", {"rekey"});
  ASSERT_EQ(k.exit_code, 0) << k.err;
  EXPECT_EQ(k.out.rfind(c->address("node004") + " ssh-ed25519 AAAA", 0), 0u) << k.out;
  r = c->ssh("node004", "true", {"-o", "LogLevel=INFO"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("REMOTE HOST IDENTIFICATION HAS CHANGED"), std::string::npos) << r.err;

  // shape / unshape; delay needs netem, which some kernels lack: then exit 3 with a reason.
  auto s = c->fault("node001", {"shape", "50mbit"});
  EXPECT_EQ(s.exit_code, 0) << s.err;
  auto q = c->exec("node001", {"tc", "qdisc", "show", "dev", "eth0"});
  EXPECT_NE(q.out.find("tbf"), std::string::npos) << q.out << q.err;
  EXPECT_EQ(c->ssh("node001", "true").exit_code, 0);
  EXPECT_EQ(c->fault("node001", {"unshape"}).exit_code, 0);
  auto d = c->fault("node001", {"delay", "20ms"});
  if (d.exit_code == 3) {
    EXPECT_NE(d.err.find("sch_netem"), std::string::npos) << d.err;
  } else {
    EXPECT_EQ(d.exit_code, 0) << d.err;
  }
  auto bad = c->fault("node001", {"explode"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("unknown action"), std::string::npos) << bad.err;
  auto nobody = c->fault("node099", {"stop-sshd"});
  EXPECT_NE(nobody.exit_code, 0);
  EXPECT_NE(nobody.err.find("no node 'node099'"), std::string::npos) << nobody.err;
}

TEST_F(SimClusterTest, BastionReachesTheOthers) {
  SimCluster::Options o;
  o.n = 3;
  o.bastion = "node001";
  std::string err;
  auto c = SimCluster::start(o, &err);
  ASSERT_TRUE(c) << err;
  std::string inv = read_file(c->inventory_path());
  EXPECT_NE(inv.find("bastions:\n  jump: {address: " + c->address("node001") + ", user: root, identity_file: id_ed25519}"),
            std::string::npos) << inv;
  EXPECT_NE(inv.find("  node002: {address: " + c->address("node002") + ", roles: [agent], bastion: jump}"),
            std::string::npos) << inv;
  EXPECT_NE(inv.find("  node001: {address: " + c->address("node001") + ", roles: [manager]}"), std::string::npos);

  std::string proxy = "ssh";
  for (auto& a : c->ssh_options()) proxy += " " + a;
  proxy += " -W %h:%p root@" + c->address("node001");
  auto r = c->ssh("node003", "cat /proc/self/net/fib_trie | grep -c " + c->address("node003"),
                  {"-o", "ProxyCommand=" + proxy});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The login came from the bastion's address, not the root namespace's.
  auto log = read_file(c->node_dir("node003") + "/sshd.log");
  EXPECT_NE(log.find("from " + c->address("node001")), std::string::npos) << log;
}

TEST_F(SimClusterTest, DownLeavesNothingAndIsIdempotent) {
  SimCluster::Options o;
  o.n = 3;
  o.dir = (fs::temp_directory_path() / ("airlock-sim-down-" + std::to_string(::getpid()))).string();
  fs::remove_all(o.dir);
  std::string err;
  auto c = SimCluster::start(o, &err);
  ASSERT_TRUE(c) << err;
  std::string prefix = state_value(c->dir(), "NS_PREFIX");
  std::string hostveth = state_value(c->dir(), "HOSTVETH");
  std::string lock = state_value(c->dir(), "LOCK");
  ASSERT_FALSE(prefix.empty());
  EXPECT_TRUE(fs::exists("/run/netns/" + prefix + "node001"));
  EXPECT_TRUE(fs::exists("/sys/class/net/" + hostveth));
  std::vector<pid_t> pids;
  for (auto& n : c->nodes()) {
    for (std::string f : {"/sshd.pid", "/holder.pid"}) {
      pid_t p = 0;
      std::ifstream(c->node_dir(n) + f) >> p;
      ASSERT_GT(p, 0) << n << f;
      EXPECT_TRUE(alive(p)) << n << f;
      pids.push_back(p);
    }
  }

  auto d = c->down();
  EXPECT_EQ(d.exit_code, 0) << d.err;
  for (auto& e : fs::directory_iterator("/run/netns")) {
    EXPECT_NE(e.path().filename().string().rfind(prefix, 0), 0u) << e.path();
  }
  EXPECT_FALSE(fs::exists("/sys/class/net/" + hostveth));
  EXPECT_FALSE(fs::exists(lock));
  // No sshd or namespace holder of ours is left (a zombie awaiting this machine's init is dead).
  for (pid_t p : pids) EXPECT_FALSE(alive(p)) << p;
  // A second down is a no-op that succeeds.
  auto again = SimCluster::script_path();
  SystemProcessRunner runner;
  auto r2 = runner.run({"bash", again, "down", "--dir", c->dir()}, {});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->exit_code, 0) << r2->err;
  c.reset();
  fs::remove_all(o.dir);
}

TEST_F(SimClusterTest, FailedUpTearsDown) {
  // A fixture without sys/ is refused before anything is made; a node whose sshd cannot start
  // (a broken sshd binary) makes up fail and tear down.
  SimCluster::Options o;
  o.n = 2;
  o.fixtures["node002"] = "/nonexistent";
  std::string err;
  auto c = SimCluster::start(o, &err);
  EXPECT_FALSE(c);
  EXPECT_NE(err.find("has no sys/ folder"), std::string::npos) << err;

  std::string dir = (fs::temp_directory_path() / ("airlock-sim-fail-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  SystemProcessRunner runner;
  auto r = runner.run({"env", "SIMCLUSTER_SSHD=/bin/false", "bash", SimCluster::script_path(), "up", "--dir", dir,
                       "-n", "3"},
                      {});
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->exit_code, 0);
  EXPECT_NE(r->err.find("sshd exited"), std::string::npos) << r->err;
  EXPECT_NE(r->err.find("tearing down"), std::string::npos) << r->err;
  EXPECT_FALSE(fs::exists(dir + "/state"));
  std::string prefix = state_value(dir, "NS_PREFIX");
  ASSERT_FALSE(prefix.empty());
  for (auto& e : fs::directory_iterator("/run/netns")) {
    EXPECT_NE(e.path().filename().string().rfind(prefix, 0), 0u) << e.path();
  }
  EXPECT_FALSE(fs::exists(state_value(dir, "LOCK")));
  fs::remove_all(dir);
}

TEST_F(SimClusterTest, FiftyNodesUpAndDown) {
  SimCluster::Options o;
  o.n = 50;
  o.fixture_all = kSynthetic + "/h100-8x-ndr";
  std::string err;
  auto t0 = std::chrono::steady_clock::now();
  auto c = SimCluster::start(o, &err);
  ASSERT_TRUE(c) << err;
  auto up = std::chrono::steady_clock::now() - t0;
  auto r = c->ssh("node050", "cat /sys/bus/pci/devices/*/vendor | grep -c 0x10de");
  EXPECT_EQ(r.out, "12\n") << r.err;
  t0 = std::chrono::steady_clock::now();
  auto d = c->down();
  auto down = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(d.exit_code, 0) << d.err;
  auto ms = [](auto x) { return std::chrono::duration_cast<std::chrono::milliseconds>(x).count(); };
  std::printf("50 nodes: up %lld ms, down %lld ms (%s)\n", static_cast<long long>(ms(up)),
              static_cast<long long>(ms(down)), c->summary().c_str());
  RecordProperty("up_ms", std::to_string(ms(up)));
  RecordProperty("down_ms", std::to_string(ms(down)));
  EXPECT_LT(ms(up), 45000);
  EXPECT_LT(ms(down), 15000);
}

}  // namespace
}  // namespace airlock::sim
