// `airlock install` with the `local` inventory of examples/local: the example's bundle installed
// onto this machine alone (no SSH) under a temporary prefix, with the services run by
// airlock-node's own supervisor. As the user running the test and, when that is root, again as
// an unprivileged user (uid 65534 through setpriv). Checks: the manager answers its health
// endpoint and lists the agent; a re-run changes nothing (every step unchanged); nothing is
// written outside the prefix; the uninstall playbook stops the services and no process is left.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/e2e/cli_harness.h"

namespace airlock::test {
namespace {

using json = nlohmann::json;

const std::string kSrc = AIRLOCK_SOURCE_DIR;

// A port nobody listens on now (bind to 0, read it back, close).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// GET http://127.0.0.1:port/path (HTTP/1.0): the status and body, {0, ""} when nothing answers.
std::pair<int, std::string> http_get(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return {0, ""};
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  (void)!::write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  int status = 0;
  if (resp.rfind("HTTP/1.", 0) == 0 && resp.size() > 12) status = std::atoi(resp.c_str() + 9);
  auto body = resp.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : resp.substr(body + 4)};
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
  return s;
}

// Paths a non-prefixed install of this site would write: none of them may appear or change.
const std::vector<std::string> kOutside = {
    "/etc/airlock/manager.conf",
    "/etc/airlock/agent.conf",
    "/etc/systemd/system/airlock-testsvc-manager.service",
    "/etc/systemd/system/airlock-testsvc-agent.service",
    "/opt/airlock/releases/local-1",
    "/opt/airlock/current",
    "/var/lib/airlock/state.json",
    "/var/lib/airlock/testsvc-manager.json",
    "/run/airlock/airlock-testsvc-manager.pid",
    "/run/airlock/airlock-testsvc-agent.pid",
    "/var/log/airlock/airlock-testsvc-manager.log",
    "/var/log/airlock/airlock-testsvc-agent.log",
};

std::map<std::string, std::string> snapshot_outside() {
  std::map<std::string, std::string> m;
  for (const auto& p : kOutside) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      m[p] = "absent";
    } else {
      m[p] = std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "/" +
             std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
    }
  }
  return m;
}

bool running(long pid) {
  std::string s = read_all("/proc/" + std::to_string(pid) + "/stat");
  auto rp = s.rfind(')');
  return rp != std::string::npos && rp + 2 < s.size() && s[rp + 2] != 'Z' && s[rp + 2] != 'X';
}

// Processes whose executable lies under dir (the services of this prefix).
std::vector<long> processes_under(const std::string& dir) {
  std::vector<long> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code ec;
    std::string exe = std::filesystem::read_symlink(e.path() / "exe", ec).string();
    if (!ec && exe.rfind(dir, 0) == 0 && running(std::stol(name))) out.push_back(std::stol(name));
  }
  return out;
}

class InstallLocal : public ::testing::Test {
 protected:
  // A site under dir/: key, bundle (examples/local/bundle.yaml, its binary the one built here),
  // inventory (examples/local/inventory.yaml with the prefix dir/root and free ports).
  void make_site(const std::string& dir) {
    dir_ = dir;
    prefix_ = dir + "/root";
    std::filesystem::create_directories(prefix_);
    make_key(dir, "ops");
    std::string by = read_all(kSrc + "/examples/local/bundle.yaml");
    ASSERT_NE(by.find("source: ../site/build/airlock-testsvc"), std::string::npos);
    write_all(dir + "/bundle.yaml", replace_all(by, "source: ../site/build/airlock-testsvc",
                                                "source: " + std::string(AIRLOCK_TESTSVC_BIN)));
    RunResult r = airlock({"bundle", "create", "-q", "-f", dir + "/bundle.yaml", "-o", dir + "/local.airlock",
                           "--key", dir + "/ops.key"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    mport_ = free_port();
    aport_ = free_port();
    while (aport_ == mport_) aport_ = free_port();
    std::string inv = read_all(kSrc + "/examples/local/inventory.yaml");
    ASSERT_NE(inv.find("/tmp/airlock-local"), std::string::npos);
    inv = replace_all(inv, "/tmp/airlock-local", prefix_);
    inv = replace_all(inv, "manager_port: 18081", "manager_port: " + std::to_string(mport_));
    inv = replace_all(inv, "agent_port: 18082", "agent_port: " + std::to_string(aport_));
    write_all(dir + "/inventory.yaml", inv);
  }

  // airlock install ... --json, as the test's user or through setpriv (argv prefix).
  RunResult install(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = as_;
    argv.push_back(AIRLOCK_BIN);
    // --skip-validation: the test machine is whatever CI or a developer has, not a GPU node that
    // must pass the site's hardware rules; the findings still go to the report.
    for (std::string a : std::vector<std::string>{"install", "-i", dir_ + "/inventory.yaml", dir_ + "/local.airlock", "--pub",
                          dir_ + "/ops.pub", "--state", dir_ + "/state/state.db", "--skip-validation", "--json"}) {
      argv.push_back(a);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv, {{"HOME", dir_}});
  }

  // The step events of a --json run.
  static std::vector<json> steps(const RunResult& r) {
    std::vector<json> out;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (j.is_object() && j.value("type", "") == "step") out.push_back(j);
    }
    return out;
  }

  void stop_services() {
    for (const char* s : {"airlock-testsvc-agent", "airlock-testsvc-manager"}) {
      (void)run({AIRLOCK_NODE_BIN, "service", "stop", s, "--root-dir", prefix_});
    }
  }

  void TearDown() override {
    if (!prefix_.empty()) stop_services();  // whatever happened, leave nothing running
  }

  void the_whole_story() {
    auto before = snapshot_outside();
    RunResult r = install();
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto first = steps(r);
    ASSERT_FALSE(first.empty()) << r.out;
    EXPECT_TRUE(std::any_of(first.begin(), first.end(), [](const json& s) { return s["status"] == "changed"; }));

    // The manager answers and lists its agent.
    auto [hs, hbody] = http_get(mport_, "/health");
    EXPECT_EQ(hs, 200) << hbody;
    EXPECT_NE(hbody.find("\"role\":\"manager\""), std::string::npos) << hbody;
    std::string agents;
    for (int i = 0; i < 100; ++i) {
      agents = http_get(mport_, "/agents").second;
      if (agents.find("\"agent\":\"localhost\"") != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_NE(agents.find("\"agent\":\"localhost\""), std::string::npos) << agents;
    EXPECT_NE(agents.find("127.0.0.1:" + std::to_string(aport_)), std::string::npos) << agents;
    EXPECT_EQ(http_get(aport_, "/health").first, 200);

    // Everything is under the prefix; the unit files name it.
    std::string unit = read_all(prefix_ + "/etc/systemd/system/airlock-testsvc-manager.service");
    EXPECT_NE(unit.find("ExecStart=" + prefix_ + "/opt/airlock/current/bin/airlock-testsvc manager --config " +
                        prefix_ + "/etc/airlock/manager.conf"),
              std::string::npos)
        << unit;
    EXPECT_NE(read_all(prefix_ + "/etc/airlock/manager.conf").find("state: " + prefix_ + "/var/lib/airlock/"),
              std::string::npos);
    EXPECT_TRUE(exists(prefix_ + "/opt/airlock/releases/local-1/bin/airlock-testsvc"));
    std::vector<long> pids = processes_under(prefix_);
    EXPECT_EQ(pids.size(), 2u) << "the manager and the agent, both from the prefix";

    // A second run changes nothing, step by step, and restarts nothing.
    r = install();
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto second = steps(r);
    ASSERT_EQ(second.size(), first.size()) << r.out;
    for (const auto& s : second) EXPECT_EQ(s["status"], "unchanged") << s.dump();
    EXPECT_EQ(processes_under(prefix_), pids);

    EXPECT_EQ(snapshot_outside(), before) << "the install wrote outside its prefix";

    // Uninstall: the services stop, units and configs go, nothing is left running.
    r = install({"--playbook", kSrc + "/playbooks/uninstall.yaml"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (long pid : pids) {
      for (int i = 0; i < 100 && running(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      EXPECT_FALSE(running(pid)) << "pid " << pid << " still runs after uninstall";
    }
    EXPECT_TRUE(processes_under(prefix_).empty());
    EXPECT_FALSE(exists(prefix_ + "/etc/systemd/system/airlock-testsvc-manager.service"));
    EXPECT_FALSE(exists(prefix_ + "/etc/airlock/agent.conf"));
    EXPECT_FALSE(exists(prefix_ + "/run/airlock/airlock-testsvc-manager.pid"));
    EXPECT_EQ(http_get(mport_, "/health").first, 0) << "the manager still answers";
    EXPECT_EQ(snapshot_outside(), before) << "the uninstall wrote outside its prefix";
  }

  std::vector<std::string> as_;  // argv prefix running airlock as another user
  std::string dir_, prefix_;
  int mport_ = 0, aport_ = 0;
};

TEST_F(InstallLocal, AsThisUser) {
  TempDir t;
  make_site(t.path());
  if (HasFatalFailure()) return;
  the_whole_story();
}

TEST_F(InstallLocal, AsAnUnprivilegedUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: AsThisUser already installed without privileges";
  if (!have_tool("setpriv")) GTEST_SKIP() << "setpriv (util-linux) is missing: cannot run airlock as uid 65534";
  // uid 65534 must reach the binaries and playbooks.
  for (std::string p : std::vector<std::string>{std::string(AIRLOCK_BIN), std::string(AIRLOCK_NODE_BIN), kSrc + "/playbooks/install.yaml"}) {
    RunResult r = run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "test", "-r", p});
    if (r.exit_code != 0) GTEST_SKIP() << "uid 65534 cannot read " << p << " (a private checkout or build folder)";
  }
  TempDir t;
  ASSERT_EQ(::chmod(t.path().c_str(), 0755), 0);
  std::string dir = t / "site";
  std::filesystem::create_directories(dir);
  make_site(dir);
  if (HasFatalFailure()) return;
  RunResult own = run({"chown", "-R", "65534:65534", dir});
  ASSERT_EQ(own.exit_code, 0) << own.err;
  as_ = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
  the_whole_story();
  // Every file the install made is the unprivileged user's.
  RunResult found = run({"find", prefix_, "!", "-uid", "65534"});
  EXPECT_EQ(found.out, "") << "files not owned by uid 65534";
}

}  // namespace
}  // namespace airlock::test
