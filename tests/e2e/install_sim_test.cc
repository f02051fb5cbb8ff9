// `airlock install` end to end on a simulated cluster (real sshd, daemonless systemctl running
// the real unit files, the test manager/agent pair from tests/svc): 1 manager + 12 agents come
// up and every agent registers with the manager; a second install changes nothing; the test
// driver layer runs once per NVIDIA node; a run killed with SIGKILL resumes and completes with
// every step done exactly once; a node whose disk is full or whose sshd dies (before the run, or
// with its session, in the middle of a step) fails alone, without a half-built release, while
// the others finish, and `resume` finishes it; the validation gate refuses an install whose
// nodes fail validation (naming node and check) unless --skip-validation; every run writes
// RUN.json and RUN.html (tidy-clean), also when interrupted. Needs root; skips without it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <unistd.h>

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

// The simulated H100 agents have no NVIDIA container toolkit and no GPUDirect RDMA module:
// built-in validation fails them. A rules file that fits the fixture ignores those two checks.
const char* kSimRules = "ignore: [container.gpu_runtime, rdma.gpudirect.not_ready]\n";

// `extra` goes last: "--skip-validation", or "--rules", FILE.
std::vector<std::string> install_args(const SimCluster& c, const SiteBundle& b, const std::string& db,
                                      const std::vector<std::string>& extra = {"--skip-validation"}) {
  std::vector<std::string> a = {"install", "-i", c.inventory_path(), b.bundle, "--pub", b.pub, "--state", db, "-q"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// The run id printed by a text-mode install ("run install-...").
std::string run_id_of(const std::string& out) {
  auto p = out.find("run install-");
  if (p == std::string::npos) return "";
  auto e = out.find('\n', p);
  return out.substr(p + 4, e - p - 4);
}

// RUN.json and RUN.html of a run are in STATE_DIR/runs; the HTML is tidy-clean.
json check_run_report(const std::string& state_dir, const std::string& run_id) {
  std::string base = state_dir + "/runs/" + run_id;
  EXPECT_TRUE(exists(base + ".json")) << base;
  EXPECT_TRUE(exists(base + ".html")) << base;
  EXPECT_TRUE(exists(base + ".validate.json")) << base;
  EXPECT_TRUE(exists(base + ".validate.html")) << base;
  if (have_tool("tidy")) {
    for (const char* ext : {".html", ".validate.html"}) {
      auto t = run({"tidy", "-errors", "-q", base + ext});
      EXPECT_EQ(t.exit_code, 0) << base << ext << ": " << t.out << t.err;
    }
  }
  return json::parse(read_all(base + ".json"), nullptr, false);
}

TEST(InstallSim, ManagerAndTwelveAgentsThenANoOpReRun) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto b = make_site_bundle();
  auto c = start_site(12);
  ASSERT_TRUE(c);
  TempDir tmp;
  std::string db = tmp / "state.db";
  std::string rules = tmp / "rules.yaml";
  write_all(rules, kSimRules);

  RunResult plan = airlock({"install", "-i", c->inventory_path(), b->bundle, "--pub", b->pub, "--state", db, "--plan",
                            "-q", "--rules", rules});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("phase agents: 12 nodes"), std::string::npos) << plan.out;
  EXPECT_EQ(plan.out.find("the install would refuse"), std::string::npos) << plan.out;
  EXPECT_FALSE(std::filesystem::exists(c->node_path("node002", "/opt/airlock/current")));  // --plan changed nothing

  auto t0 = std::chrono::steady_clock::now();
  RunResult r = airlock(install_args(*c, *b, db, {"--rules", rules}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("release site-1 installed"), std::string::npos) << r.out;
  std::fprintf(stderr, "first install: %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  EXPECT_EQ(registered_agents(*c), 12) << manager_get(*c, "/agents");
  // The run report: every node ok, every step of every node with its status.
  std::string run_id = run_id_of(r.out);
  ASSERT_FALSE(run_id.empty()) << r.out;
  EXPECT_NE(r.out.find("report: " + tmp.path() + "/runs/" + run_id + ".html"), std::string::npos) << r.out;
  json rep = check_run_report(tmp.path(), run_id);
  EXPECT_EQ(rep["status"], "ok");
  EXPECT_EQ(rep["totals"]["nodes"], 13);
  EXPECT_EQ(rep["totals"]["nodes_ok"], 13);
  EXPECT_EQ(rep["validation"]["blocks"], false);
  EXPECT_EQ(rep["nodes"]["node002"]["steps"].size(), 1u + 1u + 5u);  // stage, driver, agents' 5 steps
  EXPECT_GT(rep["totals"]["bytes_sent"].get<uint64_t>(), 0u);
  for (const auto& n : c->nodes()) {
    if (n == "node001") continue;
    EXPECT_EQ(driver_runs(*c, n), 1) << n;
  }

  t0 = std::chrono::steady_clock::now();
  r = airlock(install_args(*c, *b, db, {"--rules", rules}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("0 step(s) changed something"), std::string::npos) << r.out;
  std::fprintf(stderr, "no-op re-run: %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  for (const auto& n : c->nodes()) {
    if (n == "node001") continue;
    EXPECT_EQ(driver_runs(*c, n), 1) << n;
  }
  EXPECT_EQ(registered_agents(*c), 12);
}

// One run of `airlock ARGS` (with --json): reads its records as they come and SIGKILLs it right
// after the `kill_after`-th step record that changed something (0: lets it finish). Returns the
// run id (from its "run" record), whether it was killed, and the (node, step) pairs it
// reported changed.
struct KilledRun {
  std::string run_id;
  bool killed = false;
  std::vector<std::pair<std::string, std::string>> changed;
};

KilledRun run_and_kill(std::vector<std::string> args, int kill_after) {
  KilledRun out;
  args.insert(args.begin(), AIRLOCK_BIN);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe(fds) != 0) return out;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, AIRLOCK_BIN, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return out;
  }
  FILE* f = ::fdopen(fds[0], "r");
  char* line = nullptr;
  size_t cap = 0;
  int changed = 0;
  while (::getline(&line, &cap, f) > 0) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    if (j.value("type", "") == "run") out.run_id = j.value("run", "");
    if (j.value("type", "") != "step" || j.value("status", "") != "changed") continue;
    out.changed.emplace_back(j.value("node", ""), j.value("step", ""));
    if (kill_after > 0 && ++changed == kill_after) {
      ::kill(pid, SIGKILL);
      out.killed = true;
      break;
    }
  }
  std::free(line);
  std::fclose(f);
  ::waitpid(pid, nullptr, 0);
  return out;
}

TEST(InstallSim, KilledInstallerResumesWithEveryStepDoneOnce) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto b = make_site_bundle();
  auto c = start_site(4);
  ASSERT_TRUE(c);
  TempDir tmp;
  std::string db = tmp / "state.db";
  // SIGKILL at several points (in the stage phase, among the drivers, during the agents' phase),
  // each time right after a step finished; then `resume` until the run completes.
  auto args = install_args(*c, *b, db);
  args.push_back("--json");
  std::vector<KilledRun> runs;
  runs.push_back(run_and_kill(args, 3));
  ASSERT_TRUE(runs.back().killed) << "the install finished before its 3rd changed step";
  std::string run_id = runs.back().run_id;
  ASSERT_FALSE(run_id.empty());

  RunResult st = airlock({"status", "--state", db, "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  json listed = json::parse(st.out);
  ASSERT_EQ(listed.size(), 1u) << st.out;
  EXPECT_EQ(listed[0]["run"], run_id);
  EXPECT_EQ(listed[0]["status"], "running");

  for (int kill_after : {6, 12, 0}) {
    runs.push_back(run_and_kill({"resume", run_id, "--state", db, "--json"}, kill_after));
    EXPECT_EQ(runs.back().killed, kill_after != 0) << "resume killed after " << kill_after;
    EXPECT_EQ(runs.back().run_id, run_id);
  }
  st = airlock({"status", run_id, "--state", db, "--json"});
  json s = json::parse(st.out);
  EXPECT_EQ(s["status"], "ok") << st.out;
  EXPECT_EQ(registered_agents(*c), 4);

  // Exactly once: no run re-did a step an earlier run had reported changed, and the driver layer
  // ran once per agent.
  std::map<std::pair<std::string, std::string>, size_t> first_run;
  size_t total = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    for (const auto& step : runs[i].changed) {
      auto [it, added] = first_run.emplace(step, i);
      EXPECT_TRUE(added) << step.first << " " << step.second << ": changed in run " << it->second << " and again in "
                         << i;
      ++total;
    }
  }
  EXPECT_GT(total, 20u);
  for (const auto& n : c->nodes()) {
    if (n != "node001") EXPECT_EQ(driver_runs(*c, n), 1) << n;
  }
  // A last re-run of the same install changes nothing.
  KilledRun again = run_and_kill(args, 0);
  EXPECT_TRUE(again.changed.empty()) << again.changed.size() << " step(s) changed, first "
                                     << (again.changed.empty() ? "" : again.changed[0].first + " " + again.changed[0].second);
}

TEST(InstallSim, AFullDiskOrADeadSshdFailsThatNodeAlone) {
  SKIP_WITHOUT_SIM_SERVICES();
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

TEST(InstallSim, ValidationFailuresRefuseTheInstallUnlessSkipped) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto b = make_site_bundle();
  auto c = start_site(2);
  ASSERT_TRUE(c);
  TempDir tmp;
  std::string db = tmp / "state.db";

  // The agents fail container.gpu_runtime (built-in checks): nothing is changed, exit 2, and
  // each failing node and check id is named.
  RunResult r = airlock(install_args(*c, *b, db, {}));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  for (const char* n : {"node002", "node003"}) {
    EXPECT_NE(r.err.find(std::string(n) + ": container.gpu_runtime (fail)"), std::string::npos) << r.err;
  }
  EXPECT_NE(r.err.find("validation failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--skip-validation"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(c->node_path("node002", "/opt/airlock/current")));
  EXPECT_FALSE(std::filesystem::exists(c->node_path("node001", "/opt/airlock/current")));
  RunResult st = airlock({"status", "--state", db, "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  EXPECT_EQ(json::parse(st.out).size(), 0u) << st.out;  // a refused install is no run
  // The validation report was written next to where the run report would be.
  int reports = 0;
  for (const auto& e : std::filesystem::directory_iterator(tmp / "runs")) {
    reports += e.path().string().find(".validate.html") != std::string::npos;
  }
  EXPECT_EQ(reports, 1);

  // --plan shows the problems and still prints the plan.
  RunResult plan = airlock({"install", "-i", c->inventory_path(), b->bundle, "--pub", b->pub, "--state", db, "--plan", "-q"});
  EXPECT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("phase agents: 2 nodes"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("the install would refuse"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("node003: container.gpu_runtime (fail)"), std::string::npos) << plan.out;

  // --skip-validation installs, warns what it skipped, and the report says so. --json: a
  // "progress" record as each node finishes a phase, and the report paths in the summary.
  r = airlock(install_args(*c, *b, db, {"--skip-validation", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("skipped: node002: container.gpu_runtime (fail)"), std::string::npos) << r.err;
  EXPECT_EQ(registered_agents(*c), 2);
  json summary;
  int progress = 0;
  json last_agents;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    if (j["type"] == "progress") {
      ++progress;
      if (j["phase"] == "agents") last_agents = j;
    }
    if (j["type"] == "summary") summary = j;
  }
  EXPECT_EQ(progress, 3 + 2 + 1 + 2 + 1);  // stage, drivers, manager, agents, check
  EXPECT_EQ(last_agents["done"], 2);
  EXPECT_EQ(last_agents["total"], 2);
  ASSERT_TRUE(summary.is_object()) << r.out;
  EXPECT_EQ(summary["status"], "ok");
  std::string run_id = summary["run"];
  EXPECT_EQ(summary["reports"]["html"], tmp.path() + "/runs/" + run_id + ".html");
  json rep = check_run_report(tmp.path(), run_id);
  EXPECT_EQ(rep["validation"]["skipped"], true);
  EXPECT_EQ(rep["validation"]["blocks"], true);
  EXPECT_NE(read_all(tmp.path() + "/runs/" + run_id + ".html").find("Validation failed and was skipped"), std::string::npos);
}

// The pids of the processes called `name` in `node`'s network namespace (the node's sshd and
// its per-connection session processes; this machine's own sshd is in another namespace).
std::vector<pid_t> node_processes(const SimCluster& c, const std::string& node, const std::string& name) {
  std::vector<pid_t> out;
  std::string holder = read_all(c.node_dir(node) + "/holder.pid");
  while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
  std::error_code ec;
  auto ns = std::filesystem::read_symlink("/proc/" + holder + "/ns/net", ec);
  if (ec) return out;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::string pid = e.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == holder) continue;
    std::error_code ec2;
    if (std::filesystem::read_symlink(e.path() / "ns/net", ec2) != ns || ec2) continue;
    std::ifstream comm(e.path() / "comm");
    std::string cname;
    std::getline(comm, cname);
    if (cname == name || cname == name + "-session") out.push_back(std::stoi(pid));
  }
  return out;
}

int lines_in(const std::string& path) {
  std::string s = read_all(path);
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// A playbook with a slow `command` step: it marks that it started, sleeps, records that it ran
// and marks that it is done (`creates` makes a re-run skip it once done).
const char* kSlowPlaybook = R"(playbook: slow
phases:
  - name: work
    hosts: [all]
    concurrency: 8
    max_fail: 1
    stop_on_failure: false
    steps:
      - stage: {}
      - files:
          - {component: testsvc, path: bin/airlock-testsvc, mode: "0755"}
      - command:
          argv: [sh, -c, "touch /var/lib/airlock/slow-started && sleep 5 && echo ran >> /var/lib/airlock/slow.log && touch /var/lib/airlock/slow-done"]
          timeout: 60s
          creates: /var/lib/airlock/slow-done
      - switch: {}
)";

TEST(InstallSim, SshdKilledMidStepFailsThatNodeAndResumeFinishesIt) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto b = make_site_bundle();
  auto c = start_site(3);
  ASSERT_TRUE(c);
  TempDir tmp;
  std::string db = tmp / "state.db";
  std::string pb = tmp / "slow.yaml";
  write_all(pb, kSlowPlaybook);

  // While node003 is in its slow step, its sshd and its session die.
  RunResult r;
  std::atomic<bool> finished{false};
  auto t0 = std::chrono::steady_clock::now();
  std::thread installer([&] {
    r = airlock(install_args(*c, *b, db, {"--skip-validation", "--playbook", pb}));
    finished = true;
  });
  std::string started = c->node_path("node003", "/var/lib/airlock/slow-started");
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (!std::filesystem::exists(started) && !finished && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  bool reached = std::filesystem::exists(started) && !finished;
  EXPECT_TRUE(reached) << "node003 never started its slow step (or the install ended first)";
  ASSERT_EQ(c->fault("node003", {"stop-sshd"}).exit_code, 0);
  std::vector<pid_t> sessions = node_processes(*c, "node003", "sshd");
  EXPECT_FALSE(sessions.empty()) << "no sshd session process in node003";
  for (pid_t p : sessions) ::kill(p, SIGKILL);
  installer.join();
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(reached);

  // node003 failed, with a reason that names it and the lost connection; the others finished.
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_LT(took, 90.0) << "the install hung on the dead node";
  EXPECT_NE(r.out.find("phase work: 3 ok (node[001-002,004]), 1 failed (node003)"), std::string::npos) << r.out;
  auto failed = r.out.find("failed nodes:");
  ASSERT_NE(failed, std::string::npos) << r.out;
  std::string reason = r.out.substr(failed);
  std::fprintf(stderr, "install with a dead node: %.1f s; %s", took, reason.c_str());
  EXPECT_NE(reason.find("node003: step work.2.command"), std::string::npos) << reason;
  EXPECT_TRUE(reason.find("unreachable") != std::string::npos || reason.find("closed") != std::string::npos ||
              reason.find("connection") != std::string::npos || reason.find("disconnect") != std::string::npos)
      << reason;
  std::string run_id = run_id_of(r.out);
  ASSERT_FALSE(run_id.empty()) << r.out;
  json rep = check_run_report(tmp.path(), run_id);
  EXPECT_EQ(rep["status"], "failed");
  ASSERT_EQ(rep["failure_list"].size(), 1u) << rep.dump(1);
  EXPECT_EQ(rep["failure_list"][0]["node"], "node003");
  EXPECT_EQ(rep["failure_list"][0]["step"], "work.2.command");
  // No release is visible on node003 (its `current` was never switched); the others have theirs.
  EXPECT_FALSE(std::filesystem::exists(c->node_path("node003", "/opt/airlock/current")));
  for (const auto& n : {"node001", "node002", "node004"}) {
    EXPECT_TRUE(std::filesystem::exists(c->node_path(n, "/opt/airlock/current"))) << n;
  }

  // The orphaned command may still finish on the node; let it, then bring sshd back: resume
  // finishes node003 and does nothing twice.
  std::string done = c->node_path("node003", "/var/lib/airlock/slow-done");
  deadline = std::chrono::steady_clock::now() + 10s;
  while (!std::filesystem::exists(done) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  std::fprintf(stderr, "the orphaned command %s\n", std::filesystem::exists(done) ? "finished" : "did not finish");
  ASSERT_EQ(c->fault("node003", {"start-sshd"}).exit_code, 0);
  RunResult res = airlock({"resume", run_id, "--state", db, "-q"});
  ASSERT_EQ(res.exit_code, 0) << res.out << res.err;
  EXPECT_NE(res.out.find("release site-1 installed"), std::string::npos) << res.out;
  EXPECT_TRUE(std::filesystem::exists(c->node_path("node003", "/opt/airlock/current")));
  for (const auto& n : c->nodes()) {
    EXPECT_EQ(lines_in(c->node_path(n, "/var/lib/airlock/slow.log")), 1) << n;
  }
  RunResult st = airlock({"status", run_id, "--state", db, "--json"});
  EXPECT_EQ(json::parse(st.out)["status"], "ok") << st.out;
  // The resumed run's report replaces the failed one's: every node ok now.
  rep = check_run_report(tmp.path(), run_id);
  EXPECT_EQ(rep["status"], "ok");
  EXPECT_EQ(rep["nodes"]["node003"]["status"], "ok");
}

TEST(InstallSim, AnInterruptedInstallWritesItsReport) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto b = make_site_bundle();
  auto c = start_site(2);
  ASSERT_TRUE(c);
  TempDir tmp;
  std::string db = tmp / "state.db";
  std::string pb = tmp / "slow.yaml";
  write_all(pb, kSlowPlaybook);
  auto args = install_args(*c, *b, db, {"--skip-validation", "--playbook", pb});
  args.insert(args.begin(), AIRLOCK_BIN);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  ASSERT_EQ(posix_spawn(&pid, AIRLOCK_BIN, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  std::string started = c->node_path("node002", "/var/lib/airlock/slow-started");
  auto deadline = std::chrono::steady_clock::now() + 120s;
  while (!std::filesystem::exists(started) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ::kill(pid, SIGINT);  // Ctrl-C: the run winds down and reports what it has
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  RunResult st = airlock({"status", "--state", db, "--json"});
  json runs = json::parse(st.out);
  ASSERT_EQ(runs.size(), 1u) << st.out;
  EXPECT_EQ(runs[0]["status"], "interrupted");
  json rep = check_run_report(tmp.path(), runs[0]["run"]);
  EXPECT_EQ(rep["status"], "interrupted");
  EXPECT_EQ(rep["interrupted"], true);
  EXPECT_NE(read_all(tmp.path() + "/runs/" + runs[0]["run"].get<std::string>() + ".html").find("Interrupted"),
            std::string::npos);
}

}  // namespace
}  // namespace airlock::test
