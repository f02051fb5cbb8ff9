// `airlock install` end to end on a simulated cluster (real sshd, daemonless systemctl running
// the real unit files, the test manager/agent pair from tests/svc): 1 manager + 12 agents come
// up and every agent registers with the manager; a second install changes nothing; the test
// driver layer runs once per NVIDIA node; a run killed with SIGKILL resumes and completes with
// every step done exactly once; a node whose disk is full or whose sshd dies fails alone,
// without a half-built release, while the others finish. Needs root; skips without it.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
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

std::string skip_reason() {
  if (auto why = SimCluster::skip_reason(); !why.empty()) return why;
  return SimCluster::services_skip_reason();
}

#define SKIP_WITHOUT_SIM()                 \
  do {                                     \
    if (auto why = skip_reason(); !why.empty()) { \
      GTEST_SKIP() << why;                 \
    }                                      \
  } while (0)

// The example site's bundle (examples/site), signed with a fresh key.
struct SiteBundle {
  TempDir dir;
  std::string key, pub, bundle;
};

std::unique_ptr<SiteBundle> make_site_bundle() {
  auto b = std::make_unique<SiteBundle>();
  RunResult prep = run({std::string(AIRLOCK_SOURCE_DIR) + "/examples/site/prepare.sh", AIRLOCK_BUILD_DIR});
  EXPECT_EQ(prep.exit_code, 0) << prep.err;
  std::string base = make_key(b->dir.path(), "ops");
  b->key = base + ".key";
  b->pub = base + ".pub";
  b->bundle = b->dir / "site.airlock";
  RunResult r = airlock({"bundle", "create", "-q", "-f", std::string(AIRLOCK_SOURCE_DIR) + "/examples/site/bundle.yaml",
                         "-o", b->bundle, "--key", b->key});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return b;
}

std::unique_ptr<SimCluster> start_site(int agents, const std::string& disk_size = "") {
  SimCluster::Options o;
  o.n = agents + 1;
  for (int i = 2; i <= agents + 1; ++i) {  // agents are H100 nodes; the manager (node001) has no GPUs
    char name[16];
    std::snprintf(name, sizeof name, "node%03d", i);
    o.fixtures[name] = kSynthetic + "/h100-8x-ndr";
  }
  o.disk_size = disk_size;
  std::string err;
  auto c = SimCluster::start(o, &err);
  EXPECT_TRUE(c) << err;
  return c;
}

// GET a path from the manager's HTTP port, from this (the installer's) side of the bridge.
std::string manager_get(const SimCluster& c, const std::string& path) {
  RunResult r = run({"bash", "-c",
                     "exec 3<>/dev/tcp/" + c.address("node001") + "/8081 && printf 'GET " + path +
                         " HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"});
  auto body = r.out.find("\r\n\r\n");
  return body == std::string::npos ? "" : r.out.substr(body + 4);
}

int registered_agents(const SimCluster& c) {
  json j = json::parse(manager_get(c, "/agents"), nullptr, false);
  return j.is_object() && j["agents"].is_array() ? static_cast<int>(j["agents"].size()) : -1;
}

int driver_runs(const SimCluster& c, const std::string& node) {
  std::string log = read_all(c.node_path(node, "/var/lib/airlock/test-driver-layer.log"));
  int n = 0;
  for (size_t p = log.find("installed"); p != std::string::npos; p = log.find("installed", p + 1)) ++n;
  return n;
}

std::vector<std::string> install_args(const SimCluster& c, const SiteBundle& b, const std::string& db) {
  return {"install", "-i", c.inventory_path(), b.bundle, "--pub", b.pub, "--state", db, "-q"};
}

TEST(InstallSim, ManagerAndTwelveAgentsThenANoOpReRun) {
  SKIP_WITHOUT_SIM();
  auto b = make_site_bundle();
  auto c = start_site(12);
  ASSERT_TRUE(c);
  TempDir tmp;
  std::string db = tmp / "state.db";

  RunResult plan = airlock({"install", "-i", c->inventory_path(), b->bundle, "--pub", b->pub, "--state", db, "--plan", "-q"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("phase agents: 12 nodes"), std::string::npos) << plan.out;
  EXPECT_FALSE(std::filesystem::exists(c->node_path("node002", "/opt/airlock/current")));  // --plan changed nothing

  auto t0 = std::chrono::steady_clock::now();
  RunResult r = airlock(install_args(*c, *b, db));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("release site-1 installed"), std::string::npos) << r.out;
  std::fprintf(stderr, "first install: %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  EXPECT_EQ(registered_agents(*c), 12) << manager_get(*c, "/agents");
  for (const auto& n : c->nodes()) {
    if (n == "node001") continue;
    EXPECT_EQ(driver_runs(*c, n), 1) << n;
  }

  t0 = std::chrono::steady_clock::now();
  r = airlock(install_args(*c, *b, db));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("0 step(s) changed something"), std::string::npos) << r.out;
  std::fprintf(stderr, "no-op re-run: %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  for (const auto& n : c->nodes()) {
    if (n == "node001") continue;
    EXPECT_EQ(driver_runs(*c, n), 1) << n;
  }
  EXPECT_EQ(registered_agents(*c), 12);
}

TEST(InstallSim, KilledInstallerResumesWithEveryStepDoneOnce) {
  SKIP_WITHOUT_SIM();
  auto b = make_site_bundle();
  auto c = start_site(4);
  ASSERT_TRUE(c);
  TempDir tmp;
  std::string db = tmp / "state.db";
  // Kill the installer at a few points: after the agents' phase has begun, the run is resumed.
  auto args = install_args(*c, *b, db);
  args.insert(args.begin(), AIRLOCK_BIN);
  args.push_back("--json");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, AIRLOCK_BIN, nullptr, nullptr, argv.data(), environ), 0);
  // Wait until some agent has switched (mid-way through the agents phase), then SIGKILL.
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(c->node_path("node003", "/opt/airlock/current"))) break;
    std::this_thread::sleep_for(20ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);

  RunResult st = airlock({"status", "--state", db, "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  json runs = json::parse(st.out);
  ASSERT_EQ(runs.size(), 1u) << st.out;
  std::string run_id = runs[0]["run"];
  EXPECT_EQ(runs[0]["status"], "running");

  RunResult r = airlock({"resume", run_id, "--state", db, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("release site-1 installed"), std::string::npos) << r.out;
  EXPECT_EQ(registered_agents(*c), 4);

  // Exactly once: the journal has one "done" per (node, step) that changed something, and the
  // driver layer ran once per node.
  auto store = fleet::StateDb::open(db);
  ASSERT_TRUE(store.ok());
  for (const auto& n : c->nodes()) {
    if (n != "node001") EXPECT_EQ(driver_runs(*c, n), 1) << n;
  }
  st = airlock({"status", run_id, "--state", db, "--json"});
  json s = json::parse(st.out);
  EXPECT_EQ(s["status"], "ok");
}

TEST(InstallSim, AFullDiskOrADeadSshdFailsThatNodeAlone) {
  SKIP_WITHOUT_SIM();
  auto b = make_site_bundle();
  auto c = start_site(4, "64M");
  ASSERT_TRUE(c);
  ASSERT_EQ(c->fault("node003", {"fill-disk", "/opt/airlock"}).exit_code, 0);
  ASSERT_EQ(c->fault("node004", {"stop-sshd"}).exit_code, 0);
  TempDir tmp;
  std::string db = tmp / "state.db";
  // A node that cannot be reached stops the install before anything changes.
  RunResult r = airlock(install_args(*c, *b, db));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("could not probe node004"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(c->node_path("node002", "/opt/airlock/current")));

  // sshd back; node003's disk is still full: it fails alone at its release, the others finish
  // (the final check then sees 3 of 4 agents and fails the run).
  ASSERT_EQ(c->fault("node004", {"start-sshd"}).exit_code, 0);
  r = airlock(install_args(*c, *b, db));
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("node003: step agents.0.files"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("phase agents: 3 ok (node[002,004-005]), 1 failed (node003)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 of 4 agents registered"), std::string::npos) << r.out;
  // No half-built release is visible on the full node; the others serve.
  EXPECT_FALSE(std::filesystem::exists(c->node_path("node003", "/opt/airlock/current")));
  EXPECT_FALSE(std::filesystem::exists(c->node_path("node003", "/opt/airlock/releases/site-1")));
  EXPECT_EQ(registered_agents(*c), 3);

  // Room again: the same install finishes node003 and changes nothing on the others.
  ASSERT_EQ(c->fault("node003", {"free-disk"}).exit_code, 0);
  r = airlock(install_args(*c, *b, db));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(registered_agents(*c), 4);
  for (const auto& n : {"node002", "node004", "node005"}) EXPECT_EQ(driver_runs(*c, n), 1) << n;
}

}  // namespace
}  // namespace airlock::test
