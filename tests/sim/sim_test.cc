// The simulated cluster itself (tests/sim/simcluster): nodes see their fixture, not this
// machine; their /var/lib/airlock is private; faults do what they say; a bastion works; services
// run under the daemonless systemctl and outlive the SSH session that started them; a full disk
// is full on that node only; down leaves nothing behind; 50 nodes come up and go down quickly.
// Needs root: skips without it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

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

// GET http://addr:port/path with a 2 s timeout; the response (headers and body), or "" when the
// connection fails.
std::string http_get(const std::string& addr, int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  std::string out;
  if (::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) == 1 &&
      ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + addr + "\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

// Polls http_get until `want(response)` or the deadline.
template <typename Pred>
std::string http_until(const std::string& addr, int port, const std::string& path, Pred want,
                       std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  auto end = std::chrono::steady_clock::now() + deadline;
  std::string r;
  do {
    r = http_get(addr, port, path);
    if (want(r)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < end);
  return r;
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

TEST_F(SimClusterTest, ServicesRunUnderTheDaemonlessSystemctl) {
  if (auto why = SimCluster::services_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "no /bin/busybox (Debian: busybox-static) for the demo service";
  SimCluster::Options o;
  o.n = 2;
  std::string err;
  auto c = SimCluster::start(o, &err);
  ASSERT_TRUE(c) << err;
  ASSERT_FALSE(c->systemctl_path().empty()) << c->summary();
  const std::string addr = c->address("node001");

  // The node's systemctl is the daemonless one; its units folder is the node's own.
  auto v = c->ssh("node001", "systemctl --version");
  EXPECT_NE(v.out.find("systemctl.py"), std::string::npos) << v.out << v.err;
  auto clean = c->ssh("node001", "ls -A /etc/systemd/system /usr/lib/systemd/system");
  EXPECT_EQ(clean.out, "/etc/systemd/system:\n\n/usr/lib/systemd/system:\n") << clean.out << clean.err;

  // Install, enable and start a unit over SSH; the session ends right after.
  const std::string unit = "[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/busybox httpd -f -p " + addr +
                           ":8080 -h /tmp\n[Install]\nWantedBy=multi-user.target\n";
  auto r = c->ssh("node001", "printf '" + unit + "' >/etc/systemd/system/demo.service && echo hello-node001 >/tmp/index.html"
                  " && systemctl daemon-reload && systemctl enable demo && systemctl start demo && systemctl is-active demo");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "active\n") << r.err;
  EXPECT_TRUE(fs::exists(c->node_dir("node001") + "/etc-systemd-system/demo.service"));
  EXPECT_TRUE(fs::is_symlink(c->node_dir("node001") + "/etc-systemd-system/multi-user.target.wants/demo.service"));
  EXPECT_TRUE(fs::exists(c->node_dir("node001") + "/var-log/journal/demo.service.log"));

  // It outlived the SSH session: it answers from the root namespace, and a new session sees it.
  auto body = http_until(addr, 8080, "/index.html", [](const std::string& s) { return !s.empty(); });
  EXPECT_NE(body.find("hello-node001"), std::string::npos) << body;
  auto pid_line = c->ssh("node001", "systemctl show -p MainPID demo");
  ASSERT_EQ(pid_line.out.rfind("MainPID=", 0), 0u) << pid_line.out << pid_line.err;
  pid_t main_pid = std::stoi(pid_line.out.substr(8));
  EXPECT_TRUE(alive(main_pid));
  EXPECT_EQ(c->ssh("node001", "systemctl is-active demo").out, "active\n");
  // Its status lives in the node's private /run.
  EXPECT_NE(read_file(c->node_path("node001", "/run/demo.service.status")).find("MainPID="), std::string::npos);

  // Nor does sshd going away stop it.
  ASSERT_EQ(c->fault("node001", {"stop-sshd"}).exit_code, 0);
  EXPECT_NE(http_get(addr, 8080, "/index.html").find("hello-node001"), std::string::npos);
  ASSERT_EQ(c->fault("node001", {"start-sshd"}).exit_code, 0);

  // The other node knows nothing of it.
  auto other = c->ssh("node002", "systemctl is-active demo; ls -A /run /etc/systemd/system");
  EXPECT_EQ(other.out.find("active\n"), std::string::npos) << other.out;
  EXPECT_EQ(other.out.find("demo"), std::string::npos) << other.out;

  // exec (no SSH) drives it too: restart gives a new main pid.
  auto re = c->exec("node001", {"systemctl", "restart", "demo"});
  EXPECT_EQ(re.exit_code, 0) << re.err;
  auto pid2 = c->ssh("node001", "systemctl show -p MainPID demo").out;
  EXPECT_NE(pid2, pid_line.out);
  body = http_until(addr, 8080, "/index.html", [](const std::string& s) { return !s.empty(); });
  EXPECT_NE(body.find("hello-node001"), std::string::npos) << body;

  // stop: inactive, and nothing listens any more.
  auto st = c->ssh("node001", "systemctl stop demo; systemctl is-active demo");
  EXPECT_EQ(st.out, "inactive\n") << st.err;
  body = http_until(addr, 8080, "/index.html", [](const std::string& s) { return s.empty(); });
  EXPECT_EQ(body, "");

  // A started service is in the node's network namespace: down ends it.
  ASSERT_EQ(c->ssh("node001", "systemctl start demo && systemctl is-active demo").out, "active\n");
  pid_t last = std::stoi(c->ssh("node001", "systemctl show -p MainPID demo").out.substr(8));
  ASSERT_TRUE(alive(last));
  EXPECT_EQ(c->down().exit_code, 0);
  EXPECT_FALSE(alive(last));
}

TEST_F(SimClusterTest, FillDiskFillsThatNodeOnly) {
  SimCluster::Options o;
  o.n = 2;
  o.disk_size = "16M";
  std::string err;
  auto c = SimCluster::start(o, &err);
  ASSERT_TRUE(c) << err;
  auto df = c->exec("node001", {"df", "-B1", "--output=size,source", "/opt/airlock", "/var/lib/airlock"});
  EXPECT_NE(df.out.find("16777216 asim-disk\n 16777216 asim-disk\n"), std::string::npos) << df.out << df.err;

  auto f = c->fault("node001", {"fill-disk", "/opt/airlock"});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  EXPECT_NE(f.out.find("filled the filesystem at /opt/airlock"), std::string::npos) << f.out;

  // A 1 MiB write fails with ENOSPC: from this machine through the node's mount namespace...
  std::string big(1 << 20, 'x');
  auto write_mib = [&](const std::string& node, const std::string& path) {
    int fd = ::open(c->node_path(node, path).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    size_t done = 0;
    int e = 0;
    while (done < big.size()) {
      ssize_t n = ::write(fd, big.data() + done, big.size() - done);
      if (n < 0) { e = errno; break; }
      done += static_cast<size_t>(n);
    }
    if (::close(fd) != 0 && e == 0) e = errno;
    return e;
  };
  EXPECT_EQ(write_mib("node001", "/opt/airlock/one-mib"), ENOSPC);
  // ... and over SSH, as the installer would see it.
  auto dd = c->ssh("node001", "dd if=/dev/zero of=/opt/airlock/dd-mib bs=1M count=1");
  EXPECT_NE(dd.exit_code, 0);
  EXPECT_NE(dd.err.find("No space left on device"), std::string::npos) << dd.err;
  // The node's other filesystem and the other node are untouched.
  EXPECT_EQ(write_mib("node001", "/var/lib/airlock/one-mib"), 0);
  EXPECT_EQ(write_mib("node002", "/opt/airlock/one-mib"), 0);
  EXPECT_EQ(c->ssh("node002", "dd if=/dev/zero of=/opt/airlock/dd-mib bs=1M count=1 2>/dev/null").exit_code, 0);
  // The size-limited folders are in the node only, not in its folder on this machine.
  EXPECT_TRUE(fs::is_empty(c->node_dir("node002") + "/opt-airlock"));

  // free-disk undoes it.
  auto fr = c->fault("node001", {"free-disk", "/opt/airlock"});
  ASSERT_EQ(fr.exit_code, 0) << fr.err;
  EXPECT_EQ(write_mib("node001", "/opt/airlock/one-mib"), 0);
  EXPECT_EQ(c->exec("node001", {"ls", "-A", "/opt/airlock"}).out, "dd-mib\none-mib\n");

  // Never this machine's disks: a path that is not on a size-limited filesystem is refused.
  auto refused = c->fault("node001", {"fill-disk", "/tmp"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("--disk-size"), std::string::npos) << refused.err;
}

TEST_F(SimClusterTest, DownLeavesNothingAndIsIdempotent) {
  SimCluster::Options o;
  o.n = 3;
  o.systemctl = false;  // and without services the node's /run and systemctl are this machine's
  o.dir = (fs::temp_directory_path() / ("airlock-sim-down-" + std::to_string(::getpid()))).string();
  fs::remove_all(o.dir);
  std::string err;
  auto c = SimCluster::start(o, &err);
  ASSERT_TRUE(c) << err;
  std::string prefix = state_value(c->dir(), "NS_PREFIX");
  std::string hostveth = state_value(c->dir(), "HOSTVETH");
  std::string lock = state_value(c->dir(), "LOCK");
  ASSERT_FALSE(prefix.empty());
  EXPECT_TRUE(c->systemctl_path().empty());
  EXPECT_NE(c->exec("node001", {"findmnt", "/run"}).exit_code, 0);  // no private /run
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
