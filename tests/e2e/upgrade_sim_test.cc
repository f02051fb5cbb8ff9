// `airlock upgrade` / `airlock rollback` end to end on a simulated cluster (real sshd, daemonless
// systemctl running the real unit files, the test manager/agent pair from tests/svc), with an
// external watcher (`airlock-testsvc watch`, a separate process polling every agent's /health
// through the bridge) recording availability:
//   * v1 -> v2 across 1 manager + 24 agents in batches: at no moment more than --max-unavailable
//     agents down, all end on v2, and only the changed blob travelled (bytes per node);
//   * a v2 whose health fails: the canary reverts by itself, the run stops, all serve v1;
//   * ... and when its old release is unhealthy too: left out of service, the run stops at once;
//   * a link taken down during a batch: that node is reported failed and left on v1, the budget
//     holds, and once the link is back a new run completes;
//   * the installer SIGKILLed mid-batch, then `airlock resume`: completes within the budget;
//   * a v1 bundle after v2 is refused (rollback protection); `airlock rollback --to site-1` takes
//     every node back, config included, within its budget.
// Needs root; skips without it. Each test has its own cluster, so ctest can run them in parallel.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/e2e/cli_harness.h"
#include "tests/sim/sim_cluster.h"

extern char** environ;

namespace airlock::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using sim::SimCluster;
using namespace std::chrono_literals;

const std::string kSynthetic = std::string(AIRLOCK_FIXTURES) + "/nodes/synthetic";

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// v1: the example site's bundle (examples/site); v2: the same with bundle version 2, release
// "v2" and a changed testsvc binary (a few bytes appended: same program, another blob).
struct Bundles {
  TempDir dir;
  std::string pub, v1, v2;
  uint64_t v2_testsvc_size = 0;
};

std::unique_ptr<Bundles> make_bundles() {
  auto b = std::make_unique<Bundles>();
  std::string base = make_key(b->dir.path(), "ops");
  b->pub = base + ".pub";
  // The example's inputs, built and copied under a lock (tests in parallel rebuild them).
  std::string site = std::string(AIRLOCK_SOURCE_DIR) + "/examples/site";
  std::string v1 = b->dir / "v1", v2 = b->dir / "v2";
  RunResult prep = run({"flock", "/tmp/airlock-examples-site.lock", "bash", "-c",
                        "set -e; \"$0\" \"$1\" >/dev/null; for d in \"$3\" \"$4\"; do mkdir -p \"$d/build\"; "
                        "cp \"$2/build/airlock-testsvc\" \"$2/build/nvidia-test-layer.tar.gz\" \"$d/build/\"; "
                        "cp \"$2/bundle.yaml\" \"$d/\"; done",
                        site + "/prepare.sh", AIRLOCK_BUILD_DIR, site, v1, v2});
  EXPECT_EQ(prep.exit_code, 0) << prep.err;
  b->v1 = b->dir / "site-v1.airlock";
  RunResult r = airlock({"bundle", "create", "-q", "-f", v1 + "/bundle.yaml", "-o", b->v1, "--key", base + ".key"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  {
    std::ofstream f(v2 + "/build/airlock-testsvc", std::ios::app | std::ios::binary);
    f << "\nairlock-testsvc v2 (upgrade_sim_test)\n";
  }
  b->v2_testsvc_size = fs::file_size(v2 + "/build/airlock-testsvc");
  std::string yaml = read_all(v2 + "/bundle.yaml");
  auto at = yaml.find("version: 1\n");
  EXPECT_NE(at, std::string::npos);
  yaml.replace(at, 11, "version: 2\n");
  at = yaml.find("release: \"v1\"");
  EXPECT_NE(at, std::string::npos);
  yaml.replace(at, 13, "release: \"v2\"");
  at = yaml.find("version: \"1.0.0\"");
  EXPECT_NE(at, std::string::npos);
  yaml.replace(at, 16, "version: \"2.0.0\"");
  write_all(v2 + "/bundle.yaml", yaml);
  b->v2 = b->dir / "site-v2.airlock";
  r = airlock({"bundle", "create", "-q", "-f", v2 + "/bundle.yaml", "-o", b->v2, "--key", base + ".key"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return b;
}

std::unique_ptr<SimCluster> start_site(int agents) {
  SimCluster::Options o;
  o.n = agents + 1;
  for (int i = 2; i <= agents + 1; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "node%03d", i);
    o.fixtures[name] = kSynthetic + "/h100-8x-ndr";
  }
  std::string err;
  auto c = SimCluster::start(o, &err);
  EXPECT_TRUE(c) << err;
  return c;
}

std::vector<std::string> agents_of(const SimCluster& c) {
  std::vector<std::string> a;
  for (const auto& n : c.nodes()) {
    if (n != "node001") a.push_back(n);
  }
  return a;
}

// A copy of the shipped playbooks (upgrade.yaml and its templates) with text replaced, e.g.
// the agent's config made to fail its health, or shorter timeouts.
std::string playbook_copy(const TempDir& tmp, const std::vector<std::pair<std::string, std::string>>& upgrade_edits,
                          const std::vector<std::pair<std::string, std::string>>& agent_conf_edits = {}) {
  std::string dir = tmp / "playbooks";
  fs::copy(std::string(AIRLOCK_SOURCE_DIR) + "/playbooks", dir, fs::copy_options::recursive);
  auto edit = [](const std::string& path, const std::vector<std::pair<std::string, std::string>>& edits) {
    std::string text = read_all(path);
    for (const auto& [from, to] : edits) {
      size_t n = 0;
      for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size()), ++n) {
        text.replace(p, from.size(), to);
      }
      EXPECT_GT(n, 0u) << "`" << from << "` not in " << path;
    }
    write_all(path, text);
  };
  edit(dir + "/upgrade.yaml", upgrade_edits);
  if (!agent_conf_edits.empty()) edit(dir + "/templates/agent.conf", agent_conf_edits);
  return dir + "/upgrade.yaml";
}

// GET a path on a node's port from this side of the bridge; the body, or "" when down.
std::string http_get(const std::string& addr, int port, const std::string& path) {
  RunResult r = run({"timeout", "5", "bash", "-c",
                     "exec 3<>/dev/tcp/" + addr + "/" + std::to_string(port) + " && printf 'GET " + path +
                         " HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"});
  auto body = r.out.find("\r\n\r\n");
  return body == std::string::npos ? "" : r.out.substr(body + 4);
}

std::string agent_version(const SimCluster& c, const std::string& node) {
  json j = json::parse(http_get(c.address(node), 8082, "/health"), nullptr, false);
  return j.is_object() ? j.value("version", "") : "down";
}

std::string current_release(const SimCluster& c, const std::string& node) {
  std::error_code ec;
  return fs::read_symlink(c.node_path(node, "/opt/airlock/current"), ec).filename().string();
}

// A child process (the installer in the background, the watcher) with stdout to a file.
struct Child {
  pid_t pid = -1;
  std::string out;
  int wait() {
    int st = 0;
    if (pid > 0) ::waitpid(pid, &st, 0);
    pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      wait();
    }
  }
};

void spawn(Child* c, std::vector<std::string> args, const std::string& out) {
  c->out = out;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, (out + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_EQ(posix_spawn(&c->pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
}

std::vector<json> json_lines(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

// Waits until a line of the installer's --json output satisfies `pred`.
bool wait_for_event(const std::string& path, const std::function<bool(const json&)>& pred,
                    std::chrono::seconds limit = 180s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& j : json_lines(path)) {
      if (pred(j)) return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// The availability watcher over every agent's /health.
struct Watcher {
  Child child;
  std::string log;
  void start(const SimCluster& c, const TempDir& tmp) {
    std::string targets;
    for (const auto& n : agents_of(c)) targets += n + " " + c.address(n) + ":8082\n";
    write_all(tmp / "targets", targets);
    log = tmp / "watch.jsonl";
    spawn(&child, {AIRLOCK_TESTSVC_BIN, "watch", "--targets", tmp / "targets", "--interval-ms", "100", "--timeout-ms", "1000",
                   "--out", log},
          tmp / "watch.out");
    // Wait for a first round.
    for (int i = 0; i < 100 && json_lines(log).empty(); ++i) std::this_thread::sleep_for(50ms);
  }
  json stop() {
    ::kill(child.pid, SIGTERM);
    child.wait();
    RunResult r = run({AIRLOCK_TESTSVC_BIN, "watch-report", log, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return json::parse(r.out, nullptr, false);
  }
  // The most agents down in one round, not counting `except`.
  size_t max_down_except(const std::string& except) const {
    size_t most = 0;
    for (const auto& j : json_lines(log)) {
      size_t n = 0;
      for (const auto& d : j.value("down", json::array())) n += d.get<std::string>() != except;
      most = std::max(most, n);
    }
    return most;
  }
};

struct Site {
  std::unique_ptr<Bundles> b;
  std::unique_ptr<SimCluster> c;
  TempDir tmp;
  std::string db;
};

std::unique_ptr<Site> installed_site(int agents) {
  auto s = std::make_unique<Site>();
  s->b = make_bundles();
  s->c = start_site(agents);
  if (!s->c) return nullptr;
  s->db = s->tmp / "state.db";
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> install = {"install", "-i", s->c->inventory_path(), s->b->v1, "--pub", s->b->pub, "--state", s->db, "-q"};
  // The synthetic H100 nodes lack a container toolkit: the install's hardware validation (where
  // this build has it) would refuse them; these tests are about the rollout, not the hardware.
  if (airlock({"install", "--help"}).out.find("--skip-validation") != std::string::npos) install.push_back("--skip-validation");
  RunResult r = airlock(install);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  if (r.exit_code != 0) return nullptr;
  std::fprintf(stderr, "install v1 on %d agents: %.1f s\n", agents, since(t0));
  for (const auto& n : agents_of(*s->c)) EXPECT_EQ(agent_version(*s->c, n), "v1") << n;
  return s;
}

std::vector<std::string> upgrade_args(const Site& s, const std::string& bundle, std::vector<std::string> extra) {
  std::vector<std::string> a = {"upgrade", "-i", s.c->inventory_path(), bundle, "--pub", s.b->pub, "--state", s.db};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::vector<std::string> with_bin(std::vector<std::string> a) {
  a.insert(a.begin(), AIRLOCK_BIN);
  return a;
}

TEST(UpgradeSim, RollingV1ToV2AcrossTwentyFourAgentsWithinTheBudget) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto s = installed_site(24);
  ASSERT_TRUE(s);
  Watcher w;
  w.start(*s->c, s->tmp);
  auto t0 = std::chrono::steady_clock::now();
  RunResult r = airlock(upgrade_args(*s, s->b->v2,
                                     {"--batches", "1,25%,100%", "--canary", "1", "--max-unavailable", "4", "--json"}));
  std::fprintf(stderr, "upgrade v1 -> v2: %.1f s\n", since(t0));
  json report = w.stop();
  ASSERT_EQ(r.exit_code, 0) << r.out.substr(r.out.size() > 6000 ? r.out.size() - 6000 : 0) << r.err;
  // The watcher: never more than 4 agents down at once, every agent ends on v2 and up.
  EXPECT_LE(report["max_down"].get<int>(), 4) << report.dump();
  EXPECT_GE(report["max_down"].get<int>(), 1) << "the watcher saw no agent restart: " << report.dump();
  EXPECT_TRUE(report["final_down"].empty()) << report.dump();
  EXPECT_EQ(report["final_versions"].size(), 24u) << report.dump();
  for (const auto& [node, v] : report["final_versions"].items()) EXPECT_EQ(v, "v2") << node;
  for (const auto& n : s->c->nodes()) EXPECT_EQ(current_release(*s->c, n), "site-2") << n;

  // The layout and the scheduler's own count; only the changed blob travelled.
  std::map<std::string, uint64_t> stage, other;
  json summary;
  std::vector<std::string> groups;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    if (j["type"] == "summary") summary = j;
    if (j["type"] == "rollout" && j["event"] == "start") {
      EXPECT_LE(j["out_of_service"].get<int>(), 4) << j.dump();
      if (groups.empty() || groups.back() != j["group"]) groups.push_back(j["group"]);
    }
    if (j["type"] != "step") continue;
    (j["action"] == "stage" ? stage : other)[j["node"]] += j["bytes_sent"].get<uint64_t>();
  }
  EXPECT_EQ(groups, (std::vector<std::string>{"canary", "batch-1", "batch-2", "batch-3"}));
  ASSERT_TRUE(summary.is_object());
  EXPECT_LE(summary["max_out_of_service"].get<int>(), 4);
  ASSERT_EQ(stage.size(), 25u);
  for (const auto& [node, bytes] : stage) EXPECT_EQ(bytes, s->b->v2_testsvc_size) << node;
  for (const auto& [node, bytes] : other) EXPECT_LT(bytes, 4096u) << node << ": config and units only";
}

TEST(UpgradeSim, AFailingCanaryRevertsByItselfAndTheRunStops) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto s = installed_site(4);
  ASSERT_TRUE(s);
  std::string pb = playbook_copy(s->tmp, {{"deadline: 30s, soak: 3s", "deadline: 6s, soak: 1s"}},
                                 {{"fail_health: false", "fail_health: true"}});
  Watcher w;
  w.start(*s->c, s->tmp);
  RunResult r = airlock(upgrade_args(*s, s->b->v2, {"--playbook", pb, "--max-unavailable", "2", "--max-fail", "2"}));
  json report = w.stop();
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("canary node002 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("node002: step agents.5.health"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reverted to their last good release: node002"), std::string::npos) << r.out;
  // Every agent still (or again) serves v1; only the canary ever went down.
  EXPECT_LE(report["max_down"].get<int>(), 1) << report.dump();
  EXPECT_TRUE(report["final_down"].empty()) << report.dump();
  for (const auto& [node, v] : report["final_versions"].items()) EXPECT_EQ(v, "v1") << node;
  for (const auto& n : agents_of(*s->c)) EXPECT_EQ(current_release(*s->c, n), "site-1") << n;
  // The canary's config went back too, and its step records were rewritten: a later run with a
  // good v2 does every step again.
  EXPECT_NE(read_all(s->c->node_path("node002", "/etc/airlock/agent.conf")).find("version: v1"), std::string::npos);
  json st = json::parse(read_all(s->c->node_path("node002", "/var/lib/airlock/state.json")));
  EXPECT_EQ(st["steps"]["agents.3.switch"], "reverted") << st.dump();
  EXPECT_EQ(st["last_known_good"], "site-1");
  r = airlock(upgrade_args(*s, s->b->v2, {"--max-unavailable", "2", "-q"}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const auto& n : agents_of(*s->c)) EXPECT_EQ(agent_version(*s->c, n), "v2") << n;
}

// The canary's v2 fails its gate and its old release (here: its kept v1 config, broken on
// purpose) fails too: the node is left out of service and the run stops rather than flapping.
TEST(UpgradeSim, AnOldReleaseThatIsUnhealthyTooStopsTheRun) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto s = installed_site(2);
  ASSERT_TRUE(s);
  std::string kept = s->c->node_path("node002", "/var/lib/airlock/configs/site-1/etc/airlock/agent.conf");
  std::string conf = read_all(kept);
  auto at = conf.find("fail_health: false");
  ASSERT_NE(at, std::string::npos) << kept << ": " << conf;
  conf.replace(at, 18, "fail_health: true");
  write_all(kept, conf);
  std::string pb = playbook_copy(s->tmp, {{"deadline: 30s, soak: 3s", "deadline: 5s, soak: 1s"}},
                                 {{"fail_health: false", "fail_health: true"}});
  RunResult r = airlock(upgrade_args(*s, s->b->v2, {"--playbook", pb, "--max-unavailable", "1"}));
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("node002 is out of service and could not be brought back: stopping rather than flapping"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("revert step agents.revert.3.health"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LEFT OUT OF SERVICE (could not be brought back): node002"), std::string::npos) << r.out;
  EXPECT_EQ(current_release(*s->c, "node002"), "site-1");
  EXPECT_EQ(agent_version(*s->c, "node003"), "v1");  // never started
}

TEST(UpgradeSim, ALinkDownDuringABatchFailsThatNodeAndTheBudgetHolds) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto s = installed_site(5);
  ASSERT_TRUE(s);
  Watcher w;
  w.start(*s->c, s->tmp);
  Child up;
  spawn(&up, with_bin(upgrade_args(*s, s->b->v2, {"--batches", "2", "--max-unavailable", "2", "--max-fail", "1", "--json"})),
        s->tmp / "upgrade.jsonl");
  // Once the canary has started, node006 (in the last batch) loses its link.
  ASSERT_TRUE(wait_for_event(up.out, [](const json& j) { return j.value("event", "") == "start"; }))
      << read_all(up.out + ".err");
  ASSERT_EQ(s->c->fault("node006", {"link-down"}).exit_code, 0);
  int rc = up.wait();
  json report = w.stop();
  std::string out = read_all(up.out);
  EXPECT_EQ(rc, 3) << out << read_all(up.out + ".err");
  bool reported = false;
  for (const auto& j : json_lines(up.out)) {
    if (j.value("event", "") == "down" && j["node"] == "node006") {
      reported = true;
      EXPECT_NE(j["message"].get<std::string>().find("unreachable"), std::string::npos) << j.dump();
      EXPECT_LE(j["out_of_service"].get<int>(), 2) << j.dump();
    }
    if (j.value("event", "") == "start") EXPECT_LE(j["out_of_service"].get<int>(), 2) << j.dump();
  }
  EXPECT_TRUE(reported) << out;
  // The others never exceeded the budget; node006 was left on v1 (untouched).
  EXPECT_LE(w.max_down_except("node006"), 2u) << report.dump();
  EXPECT_EQ(current_release(*s->c, "node006"), "site-1");
  // Link back: a new run finishes the job (the upgraded nodes skip their steps).
  ASSERT_EQ(s->c->fault("node006", {"link-up"}).exit_code, 0);
  RunResult r = airlock(upgrade_args(*s, s->b->v2, {"--batches", "2", "--max-unavailable", "2", "-q"}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const auto& n : agents_of(*s->c)) EXPECT_EQ(agent_version(*s->c, n), "v2") << n;
}

TEST(UpgradeSim, KilledMidBatchThenResumedCompletesWithinTheBudget) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto s = installed_site(6);
  ASSERT_TRUE(s);
  Watcher w;
  w.start(*s->c, s->tmp);
  Child up;
  spawn(&up, with_bin(upgrade_args(*s, s->b->v2, {"--batches", "100%", "--max-unavailable", "2", "--json"})),
        s->tmp / "upgrade.jsonl");
  // Kill it while the batch is under way: the canary and one more node done, others running.
  int oks = 0;
  ASSERT_TRUE(wait_for_event(up.out, [&](const json& j) {
    if (j.value("event", "") == "ok") ++oks;
    return oks >= 2;
  })) << read_all(up.out + ".err");
  ::kill(up.pid, SIGKILL);
  up.wait();
  std::string run_id;
  for (const auto& j : json_lines(up.out)) {
    if (j.value("type", "") == "run") run_id = j["run"];
  }
  ASSERT_FALSE(run_id.empty());
  RunResult st = airlock({"status", "--state", s->db, "--json"});
  EXPECT_NE(st.out.find("\"running\""), std::string::npos) << st.out;
  // `airlock resume RUN` hands an upgrade run to the rolling driver (= `airlock upgrade --resume RUN`).
  RunResult r = airlock({"resume", run_id, "--state", s->db, "--json"});
  json report = w.stop();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // The nodes that were being worked on at the kill were checked again first (still counted).
  size_t rechecked = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("event", "") == "resume" && !j.value("node", "").empty()) {
      ++rechecked;
      EXPECT_LE(j["out_of_service"].get<int>(), 2) << j.dump();
    }
  }
  EXPECT_GE(rechecked, 1u) << r.out;
  EXPECT_LE(report["max_down"].get<int>(), 2) << report.dump();
  EXPECT_TRUE(report["final_down"].empty()) << report.dump();
  for (const auto& [node, v] : report["final_versions"].items()) EXPECT_EQ(v, "v2") << node;
  st = airlock({"status", run_id, "--state", s->db, "--json"});
  EXPECT_EQ(json::parse(st.out)["status"], "ok") << st.out;
}

TEST(UpgradeSim, RollbackTakesEveryNodeBackWithItsConfig) {
  SKIP_WITHOUT_SIM_SERVICES();
  auto s = installed_site(3);
  ASSERT_TRUE(s);
  RunResult r = airlock(upgrade_args(*s, s->b->v2, {"--max-unavailable", "2", "-q"}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const auto& n : agents_of(*s->c)) EXPECT_EQ(agent_version(*s->c, n), "v2") << n;
  // Rollback protection: the v1 bundle is a downgrade now.
  r = airlock(upgrade_args(*s, s->b->v1, {"-q"}));
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("newer than this bundle's 1 (use --allow-downgrade"), std::string::npos) << r.out << r.err;
  Watcher w;
  w.start(*s->c, s->tmp);
  r = airlock({"rollback", "-i", s->c->inventory_path(), "--to", "site-1", "--state", s->db, "--max-unavailable", "1", "-q"});
  json report = w.stop();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LE(report["max_down"].get<int>(), 1) << report.dump();
  for (const auto& n : s->c->nodes()) EXPECT_EQ(current_release(*s->c, n), "site-1") << n;
  for (const auto& n : agents_of(*s->c)) EXPECT_EQ(agent_version(*s->c, n), "v1") << n;
  // Again: nothing to do, and the bundle on record is v1 again (so a v2 upgrade is no downgrade).
  r = airlock({"rollback", "-i", s->c->inventory_path(), "--to", "site-1", "--state", s->db, "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  json st = json::parse(read_all(s->c->node_path("node002", "/var/lib/airlock/state.json")));
  EXPECT_EQ(st["records"]["bundle"]["version"], 1) << st.dump();
}

}  // namespace
}  // namespace airlock::test
