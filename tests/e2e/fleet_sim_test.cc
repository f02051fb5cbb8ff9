// `airlock exec` and `airlock probe -i` through the real CLI against a simulated cluster (real
// sshd per node, own network and mount namespaces, captured /sys trees): gathering, facts per
// node equal to the fixture bound to it, per-node failures (changed host key, dead link, hung
// command) that do not delay the others beyond their timeout, a bastion path with one bastion
// login, and Ctrl-C leaving no remote process behind. Needs root; skips with the reason without.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "installer/fleet/state_db.h"
#include "tests/e2e/cli_harness.h"
#include "tests/sim/sim_cluster.h"

extern char** environ;

namespace airlock::test {
namespace {

using json = nlohmann::json;
using sim::SimCluster;
using namespace std::chrono_literals;

const std::string kSynthetic = std::string(AIRLOCK_FIXTURES) + "/nodes/synthetic";
const std::string kHwloc = AIRLOCK_NODE_FIXTURES;

#define SKIP_WITHOUT_SIM()                                    \
  do {                                                        \
    if (auto why = SimCluster::skip_reason(); !why.empty()) { \
      GTEST_SKIP() << why;                                    \
    }                                                         \
  } while (0)

std::unique_ptr<SimCluster> start(SimCluster::Options o) {
  std::string err;
  auto c = SimCluster::start(o, &err);
  EXPECT_TRUE(c) << err;
  return c;
}

int count_occurrences(const std::string& hay, const std::string& needle) {
  int n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// Live `sleep` processes (not zombies, not the wrappers around them) with these arguments.
int count_sleeps(const std::string& seconds) {
  RunResult r = run({"sh", "-c", "ps -eo stat=,comm=,args= | awk '$1 !~ /^Z/ && $2 == \"sleep\" && $4 == \"" +
                                     seconds + "\"' | wc -l"});
  return std::atoi(r.out.c_str());
}

TEST(FleetSim, ExecGathersAndProbeFactsMatchTheFixtures) {
  SKIP_WITHOUT_SIM();
  SimCluster::Options o;
  o.n = 16;
  for (int i = 2; i <= 16; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "node%03d", i);
    const char* fx = i <= 9 ? "h100-8x-ndr" : i <= 12 ? "ib-port-init" : i <= 14 ? "gaudi2" : nullptr;
    o.fixtures[name] = fx ? kSynthetic + "/" + fx : kHwloc + "/nvidiagpunumanodes";
  }
  auto c = start(o);
  ASSERT_TRUE(c);
  TempDir tmp;

  // Identical output and exit code are printed once, under a folded node range.
  RunResult r = airlock({"exec", "-i", c->inventory_path(), "-q", "--", "sh", "-c", "ls /sys/class/infiniband | wc -l"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("node[002-012] (11 nodes, exit 0)\n---------------\n8\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("16/16 nodes ran the command"), std::string::npos) << r.out;

  // Selection by role and by node set; argv quoting survives the trip.
  r = airlock({"exec", "-i", c->inventory_path(), "-g", "manager", "-q", "--", "printf", "%s|", "a b", "$HOME", "it's"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("node001 (1 node, exit 0)\n---------------\na b|$HOME|it's|"), std::string::npos) << r.out;
  r = airlock({"exec", "-i", c->inventory_path(), "-w", "node[003-004]", "--json", "--", "sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_occurrences(r.out, "\"exit_code\":3"), 2) << r.out;

  // The probe: every node reached, facts stored, equal to what the fixture holds.
  std::string db = tmp / "state.db";
  r = airlock({"probe", "-i", c->inventory_path(), "--state", db});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("probed 16/16 nodes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GPU nvidia NVIDIA H100 80GB HBM3: 88 (8 on node[002-012])"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2: INIT, 400 Gb/sec (4X NDR), InfiniBand: 3 (1 on node[010-012])"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("airlock-node sent to 16 node(s)"), std::string::npos) << r.out;

  auto store = fleet::StateDb::open(db);
  ASSERT_TRUE(store.ok());
  auto latest = (*store)->latest_facts();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 16u);
  for (const auto& rec : *latest) {
    auto it = o.fixtures.find(rec.node);
    if (it == o.fixtures.end() || it->second.find("/synthetic/") == std::string::npos) continue;
    json got = json::parse(rec.facts_json);
    json want = json::parse(read_all(it->second + ".expected.json"));
    EXPECT_EQ(got["pci"], want["pci"]) << rec.node;
    EXPECT_EQ(got["rdma"], want["rdma"]) << rec.node;
    EXPECT_EQ(got["accelerators"], want["accelerators"]) << rec.node;
    EXPECT_EQ(got["gpus"].size(), want["gpus"].size()) << rec.node;
    EXPECT_LT(std::llabs(rec.skew_ns), 2'000'000'000) << rec.node;  // same machine: no real skew
  }

  // A second probe sends nothing: every node already has this airlock-node.
  r = airlock({"probe", "-i", c->inventory_path(), "--state", db, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_occurrences(r.out, "\"bytes_sent\":0"), 16) << r.out;
}

TEST(FleetSim, FailuresStayWithTheirNodeAndTimeOutOnTime) {
  SKIP_WITHOUT_SIM();
  SimCluster::Options o;
  o.n = 8;
  auto c = start(o);
  ASSERT_TRUE(c);
  ASSERT_EQ(c->fault("node003", {"rekey"}).exit_code, 0);
  ASSERT_EQ(c->fault("node005", {"link-down"}).exit_code, 0);
  write_all(c->node_dir("node007") + "/etc-airlock/hang", "");

  auto t0 = std::chrono::steady_clock::now();
  RunResult r = airlock({"exec", "-i", c->inventory_path(), "-q", "--connect-timeout", "3", "--timeout", "4", "--",
                         "sh", "-c", "if [ -e /etc/airlock/hang ]; then sleep 300; fi; echo ok"});
  auto wall = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("node[001-002,004,006,008] (5 nodes, exit 0)\n---------------\nok\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("node003 (host key rejected)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("host key mismatch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("node[005,007] (timed out)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("node005: node005 (" + c->address("node005") + ":22): connect to"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("node007: node007: command did not finish within 4 s (killed)"), std::string::npos) << r.out;
  // The slowest failure is bounded by its own timeout (4 s command, 3 s connect), not their sum
  // over the nodes.
  EXPECT_LT(wall, 12s) << r.out;
  EXPECT_EQ(count_sleeps("300"), 0);

  // The probe keeps the nodes it reached and lists the others with their reasons.
  TempDir tmp;
  r = airlock({"probe", "-i", c->inventory_path(), "--state", tmp / "s.db", "--connect-timeout", "3", "--json"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.out.find("\"reached\":6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"kind\":\"host-key\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"kind\":\"timeout\""), std::string::npos) << r.out;
}

TEST(FleetSim, BastionPathUsesOneBastionLogin) {
  SKIP_WITHOUT_SIM();
  SimCluster::Options o;
  o.n = 6;
  o.bastion = "node001";
  auto c = start(o);
  ASSERT_TRUE(c);
  RunResult r = airlock({"exec", "-i", c->inventory_path(), "-w", "node[002-006]", "-q", "--", "sh", "-c",
                         "echo via $SSH_CONNECTION | cut -d' ' -f1,2"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // Every target saw the connection coming from the bastion's address.
  EXPECT_NE(r.out.find("node[002-006] (5 nodes, exit 0)\n---------------\nvia " + c->address("node001") + "\n"),
            std::string::npos)
      << r.out;
  std::string log = read_all(c->node_dir("node001") + "/sshd.log");
  EXPECT_EQ(count_occurrences(log, "Accepted publickey"), 1) << log;
}

TEST(FleetSim, CtrlCLeavesNoRemoteProcessBehind) {
  SKIP_WITHOUT_SIM();
  SimCluster::Options o;
  o.n = 4;
  auto c = start(o);
  ASSERT_TRUE(c);
  std::vector<std::string> args = {AIRLOCK_BIN, "exec", "-i", c->inventory_path(), "-q", "--", "sleep", "317"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, AIRLOCK_BIN, nullptr, nullptr, argv.data(), environ), 0);
  struct Reaper {  // never leave the installer running when an assertion returns early
    pid_t pid;
    ~Reaper() {
      if (pid > 0 && ::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (count_sleeps("317") < 4 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(count_sleeps("317"), 4);
  ::kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  reaper.pid = 0;
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  deadline = std::chrono::steady_clock::now() + 5s;
  while (count_sleeps("317") > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(count_sleeps("317"), 0);
}

}  // namespace
}  // namespace airlock::test
