// testsvc_test: runs airlock-testsvc as real processes on 127.0.0.1 (a manager, agents, the
// watcher) and checks what the install and upgrade tests will rely on: registration and
// heartbeats, health codes (503 with fail_health), drain/undrain, registrations kept across a
// manager restart (--state), prompt exit on SIGTERM, exit codes 1 and 2, the watcher's log and
// report, and that the binary is static. Every process started here is killed in TearDown.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "testsvc.h"

extern char** environ;

namespace testsvc {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bind(fd, reinterpret_cast<sockaddr*>(&a), len);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string at(int port) { return "127.0.0.1:" + std::to_string(port); }

ClientResult call(int port, const std::string& method, const std::string& path) {
  return http_call({"127.0.0.1", port}, method, path, "", 2000);
}

Json json_of(const ClientResult& r) { return json_parse(r.body).value_or(Json{}); }

template <class F>
bool wait_until(F pred, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

class Svc : public ::testing::Test {
 protected:
  std::string dir;
  std::vector<pid_t> live;
  std::vector<std::string> logs;

  void SetUp() override {
    char tmpl[] = "/tmp/testsvc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }

  void TearDown() override {
    for (pid_t p : live) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
    if (HasFailure())
      for (auto& l : logs) std::cerr << "---- " << l << "\n" << read_file(l);
    std::filesystem::remove_all(dir);
  }

  // Starts the binary with stdout+stderr into DIR/<log>.log; returns its pid.
  pid_t spawn(const std::string& log, const std::vector<std::string>& args) {
    std::vector<std::string> all = {TESTSVC_BIN};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string path = dir + "/" + log + ".log";
    logs.push_back(path);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, TESTSVC_BIN, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "cannot start " << TESTSVC_BIN;
    if (rc == 0) live.push_back(pid);
    return pid;
  }

  // Waits up to `limit` for pid; its exit code, or -1 if still running (then it stays live).
  int wait_exit(pid_t pid, std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    for (;;) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        std::erase(live, pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (Clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(5ms);
    }
  }

  // Runs the binary to completion; its exit code, stdout+stderr in *out.
  int run(const std::vector<std::string>& args, std::string* out = nullptr) {
    static int n = 0;
    std::string log = "run" + std::to_string(++n);
    int rc = wait_exit(spawn(log, args), 10s);
    if (out) *out = read_file(dir + "/" + log + ".log");
    return rc;
  }

  pid_t start_manager(int port, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"manager", "--listen", at(port), "--version", "m1"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_t p = spawn("manager", args);
    EXPECT_TRUE(wait_until([&] { return call(port, "GET", "/health").status == 200; }))
        << "manager never answered";
    return p;
  }

  pid_t start_agent(const std::string& name, int port, int manager_port,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"agent", "--listen", at(port), "--manager", at(manager_port),
                                     "--name", name, "--version", "v1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return spawn(name, args);
  }

  size_t registered(int manager_port) {
    Json j = json_of(call(manager_port, "GET", "/agents"));
    const Json* a = j.get("agents");
    return a ? a->arr.size() : 0;
  }
};

TEST_F(Svc, BinaryIsStatic) {
  if (system("command -v file >/dev/null 2>&1") != 0) GTEST_SKIP() << "`file` is not installed";
  FILE* p = popen("file -b '" TESTSVC_BIN "'", "r");
  ASSERT_NE(p, nullptr);
  char buf[512] = {0};
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  pclose(p);
  std::string desc(buf, n);
  EXPECT_TRUE(desc.find("statically linked") != std::string::npos ||
              desc.find("static-pie linked") != std::string::npos)
      << desc;
}

TEST_F(Svc, BadArgumentsExitTwoAndHelpExitsZero) {
  write_file(dir + "/unknown.conf", "name: a\ncolour: blue\n");
  write_file(dir + "/nocolon.conf", "name a\n");
  std::vector<std::vector<std::string>> bad = {
      {},
      {"bogus"},
      {"manager"},
      {"manager", "--listen", "nonsense"},
      {"manager", "--listen", "127.0.0.1:0", "--what", "x"},
      {"manager", "--listen", "127.0.0.1:0", "--drain-ms", "soon"},
      {"manager", "--listen"},
      {"agent", "--listen", "127.0.0.1:0", "--manager", "127.0.0.1:1"},
      {"agent", "--listen", "127.0.0.1:0", "--manager", "127.0.0.1:1", "--name", "bad name"},
      {"agent", "--config", dir + "/missing.conf"},
      {"agent", "--config", dir + "/unknown.conf"},
      {"agent", "--config", dir + "/nocolon.conf"},
      {"watch"},
      {"watch-report"},
  };
  for (auto& args : bad) {
    std::string out;
    EXPECT_EQ(run(args, &out), 2) << ::testing::PrintToString(args) << "\n" << out;
    EXPECT_NE(out.find("usage:"), std::string::npos) << out;
  }
  std::string out;
  EXPECT_EQ(run({"agent", "--config", dir + "/unknown.conf"}, &out), 2);
  EXPECT_NE(out.find("unknown.conf:2: unknown key 'colour'"), std::string::npos) << out;
  EXPECT_EQ(run({"--help"}, &out), 0);
  EXPECT_NE(out.find("watch-report"), std::string::npos);
}

TEST_F(Svc, BusyPortExitsOne) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::string busy = at(ntohs(a.sin_port)), out;
  EXPECT_EQ(run({"manager", "--listen", busy}, &out), 1) << out;
  EXPECT_NE(out.find("cannot listen on " + busy), std::string::npos) << out;
  EXPECT_EQ(run({"agent", "--listen", busy, "--manager", busy, "--name", "a"}, &out), 1) << out;
  close(fd);
}

TEST_F(Svc, AgentsRegisterAndReportHealth) {
  int mp = free_port(), p1 = free_port(), p2 = free_port(), p3 = free_port();
  start_manager(mp);
  start_agent("agent001", p1, mp);
  // Flags override the file: the name and fail_health given here win.
  write_file(dir + "/a2.conf", "# rendered\nname: wrong\nfail_health: true\n");
  start_agent("agent002", p2, mp, {"--config", dir + "/a2.conf", "--fail-health=false"});
  // Everything from the file, as the systemd unit runs it: a broken v2.
  write_file(dir + "/a3.conf", "manager: " + at(mp) + "\nname: agent003\nlisten: \"" + at(p3) +
                                   "\"\nversion: v2\nfail_health: true\n");
  spawn("agent003", {"agent", "--config", dir + "/a3.conf"});

  ASSERT_TRUE(wait_until([&] { return registered(mp) == 3; })) << registered(mp);
  Json agents = json_of(call(mp, "GET", "/agents"));
  const auto& list = agents.get("agents")->arr;
  int ports[] = {p1, p2, p3};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(list[i].str("agent"), "agent00" + std::to_string(i + 1));
    EXPECT_EQ(list[i].str("address"), at(ports[i]));
    EXPECT_LT(list[i].get("last_seen_ms_ago")->n, 5000);
  }
  EXPECT_EQ(list[0].str("version"), "v1");
  EXPECT_EQ(list[2].str("version"), "v2");

  ClientResult m = call(mp, "GET", "/health");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(json_of(m).str("role"), "manager");
  EXPECT_EQ(json_of(m).str("version"), "m1");
  ClientResult h1 = call(p1, "GET", "/health");
  EXPECT_EQ(h1.status, 200);
  EXPECT_EQ(json_of(h1).str("name"), "agent001");
  EXPECT_EQ(json_of(h1).str("role"), "agent");
  EXPECT_TRUE(json_of(h1).get("ok")->b);
  EXPECT_EQ(call(p2, "GET", "/health").status, 200);
  ClientResult h3 = call(p3, "GET", "/health");
  EXPECT_EQ(h3.status, 503);
  EXPECT_EQ(json_of(h3).str("version"), "v2");
  EXPECT_EQ(json_of(call(p3, "GET", "/version")).str("version"), "v2");
  EXPECT_EQ(call(p1, "GET", "/nothing").status, 404);
  EXPECT_EQ(call(mp, "POST", "/health").status, 405);
  EXPECT_EQ(http_call({"127.0.0.1", mp}, "POST", "/register", "{\"agent\":1}", 2000).status, 400);
}

TEST_F(Svc, DrainAndUndrain) {
  int mp = free_port(), p1 = free_port();
  start_manager(mp, {"--drain-ms", "200"});
  start_agent("agent001", p1, mp);
  ASSERT_TRUE(wait_until([&] { return registered(mp) == 1; }));
  Json a = json_of(call(mp, "GET", "/agents/agent001"));
  EXPECT_FALSE(a.get("draining")->b);
  EXPECT_GT(a.get("sessions")->n, 0);

  ClientResult d = call(mp, "POST", "/drain/agent001");
  EXPECT_EQ(d.status, 200);
  EXPECT_TRUE(json_of(d).get("draining")->b);
  EXPECT_TRUE(wait_until([&] {
    return json_of(call(mp, "GET", "/agents/agent001")).get("sessions")->n == 0;
  }, 2000ms));
  EXPECT_TRUE(json_of(call(mp, "GET", "/agents/agent001")).get("draining")->b);

  ClientResult u = call(mp, "POST", "/undrain/agent001");
  EXPECT_EQ(u.status, 200);
  EXPECT_FALSE(json_of(u).get("draining")->b);
  EXPECT_GT(json_of(u).get("sessions")->n, 0);
  EXPECT_EQ(call(mp, "POST", "/drain/nobody").status, 404);
  EXPECT_EQ(call(mp, "GET", "/agents/nobody").status, 404);
  EXPECT_EQ(call(mp, "GET", "/drain/agent001").status, 405);
}

TEST_F(Svc, ManagerRestartKeepsRegistrationsAndAgentsRetry) {
  int mp = free_port();
  std::string state = dir + "/state.json";
  pid_t m = start_manager(mp, {"--state", state});
  std::vector<pid_t> agents;
  for (int i = 1; i <= 3; ++i)
    agents.push_back(start_agent("agent00" + std::to_string(i), free_port(), mp,
                                 {"--heartbeat-ms", "200"}));
  ASSERT_TRUE(wait_until([&] { return registered(mp) == 3; }));
  ASSERT_EQ(call(mp, "POST", "/drain/agent002").status, 200);
  for (pid_t a : agents) kill(a, SIGTERM);
  for (pid_t a : agents) EXPECT_EQ(wait_exit(a, 2s), 0);
  kill(m, SIGTERM);
  ASSERT_EQ(wait_exit(m, 2s), 0);
  EXPECT_TRUE(std::filesystem::exists(state));

  // No agent is running: what the manager lists now comes from the state file.
  m = start_manager(mp, {"--state", state});
  EXPECT_EQ(registered(mp), 3u);
  EXPECT_TRUE(json_of(call(mp, "GET", "/agents/agent002")).get("draining")->b);
  kill(m, SIGTERM);
  ASSERT_EQ(wait_exit(m, 2s), 0);

  // An agent started while the manager is down registers once it comes back.
  start_agent("agent004", free_port(), mp, {"--heartbeat-ms", "200"});
  std::this_thread::sleep_for(500ms);
  start_manager(mp, {"--state", state});
  EXPECT_TRUE(wait_until([&] { return registered(mp) == 4; }, 3000ms));
}

TEST_F(Svc, SigtermExitsPromptly) {
  int mp = free_port(), p1 = free_port();
  pid_t m = start_manager(mp);
  pid_t a = start_agent("agent001", p1, mp);
  ASSERT_TRUE(wait_until([&] { return registered(mp) == 1; }));
  write_file(dir + "/targets", "agent001 " + at(p1) + "\n");
  std::string log = dir + "/watch.jsonl";
  pid_t w = spawn("watch", {"watch", "--targets", dir + "/targets", "--out", log});
  ASSERT_TRUE(wait_until([&] { return !read_file(log).empty(); }));
  // A client that connects and never sends must not hold the manager up.
  int idle = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(mp));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(idle, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  std::this_thread::sleep_for(100ms);
  for (pid_t p : {w, a, m}) {
    auto t0 = Clock::now();
    kill(p, SIGTERM);
    EXPECT_EQ(wait_exit(p, 1000ms), 0);
    EXPECT_LT(Clock::now() - t0, 1000ms);
  }
  close(idle);
}

TEST_F(Svc, WatcherRecordsAnAgentGoingDown) {
  int mp = free_port();
  start_manager(mp);
  std::string targets;
  std::vector<pid_t> agents;
  for (int i = 1; i <= 3; ++i) {
    int port = free_port();
    std::string name = "agent00" + std::to_string(i);
    agents.push_back(start_agent(name, port, mp));
    targets += name + " " + at(port) + "\n";
  }
  write_file(dir + "/targets", "# name address\n" + targets);
  ASSERT_TRUE(wait_until([&] { return registered(mp) == 3; }));
  std::string log = dir + "/watch.jsonl";
  pid_t w = spawn("watch", {"watch", "--targets", dir + "/targets", "--interval-ms", "100",
                            "--out", log});
  auto last_line = [&] {
    std::string t = read_file(log);
    if (t.size() < 2) return std::string();
    size_t nl = t.rfind('\n', t.size() - 2);
    return t.substr(nl == std::string::npos ? 0 : nl + 1);
  };
  ASSERT_TRUE(wait_until([&] {
    std::string t = read_file(log);
    return std::count(t.begin(), t.end(), '\n') >= 3;
  }));
  kill(agents[1], SIGKILL);
  ASSERT_EQ(wait_exit(agents[1], 2s), 128 + SIGKILL);
  ASSERT_TRUE(wait_until([&] { return last_line().find("\"down\":[\"agent002\"]") != std::string::npos; }))
      << last_line();
  kill(w, SIGTERM);
  ASSERT_EQ(wait_exit(w, 1000ms), 0);

  std::string out;
  ASSERT_EQ(run({"watch-report", log, "--json"}, &out), 0) << out;
  Json r = json_parse(out).value_or(Json{});
  ASSERT_EQ(r.kind, Json::Object) << out;
  EXPECT_GE(r.get("rounds")->n, 4);
  EXPECT_EQ(r.get("max_down")->n, 1);
  ASSERT_EQ(r.get("max_down_agents")->arr.size(), 1u);
  EXPECT_EQ(r.get("max_down_agents")->arr[0].s, "agent002");
  ASSERT_EQ(r.get("final_down")->arr.size(), 1u);
  EXPECT_EQ(r.get("final_versions")->str("agent001"), "v1");
  EXPECT_EQ(r.get("final_versions")->str("agent003"), "v1");
  EXPECT_EQ(r.get("final_versions")->get("agent002"), nullptr);

  EXPECT_EQ(run({"watch-report", log}, &out), 0);
  EXPECT_NE(out.find("max_down: 1"), std::string::npos) << out;
  EXPECT_EQ(run({"watch-report", log, "--max-down", "1"}, &out), 0) << out;
  EXPECT_EQ(run({"watch-report", log, "--max-down", "0"}, &out), 1) << out;
  EXPECT_NE(out.find("limit 0"), std::string::npos) << out;
  EXPECT_EQ(run({"watch-report", log, "--expect-version", "v1"}, &out), 1) << out;
  EXPECT_NE(out.find("agent002=down"), std::string::npos) << out;
}

TEST_F(Svc, ShippedExampleConfigsAreAccepted) {
  std::string units = TESTSVC_SOURCE_DIR "/units/";
  int mp = free_port();
  pid_t m = spawn("manager", {"manager", "--config", units + "manager.conf.example", "--listen",
                              at(mp), "--state", dir + "/state.json"});
  ASSERT_TRUE(wait_until([&] { return call(mp, "GET", "/health").status == 200; }));
  pid_t a = spawn("agent", {"agent", "--config", units + "agent.conf.example", "--listen",
                            "127.0.0.1:0", "--manager", at(mp)});
  ASSERT_TRUE(wait_until([&] { return registered(mp) == 1; }));
  EXPECT_EQ(json_of(call(mp, "GET", "/agents")).get("agents")->arr[0].str("agent"), "node002");
  // No version in the file or flags: the one compiled in.
  EXPECT_EQ(json_of(call(mp, "GET", "/agents")).get("agents")->arr[0].str("version"),
            TESTSVC_DEFAULT_VERSION);
  EXPECT_EQ(json_of(call(mp, "GET", "/health")).str("version"), TESTSVC_DEFAULT_VERSION);
  for (pid_t p : {a, m}) {
    kill(p, SIGTERM);
    EXPECT_EQ(wait_exit(p, 1000ms), 0);
  }
}

TEST_F(Svc, WatchReportOnAWrittenLog) {
  std::string log = dir + "/w.jsonl";
  write_file(log,
             "{\"t_ms\":1000,\"down\":[],\"versions\":{\"a\":\"v1\",\"b\":\"v1\",\"c\":\"v1\"}}\n"
             "{\"t_ms\":1100,\"down\":[\"a\",\"b\"],\"versions\":{\"c\":\"v1\"}}\n"
             "{\"t_ms\":1200,\"down\":[\"b\"],\"versions\":{\"a\":\"v2\",\"c\":\"v1\"}}\n"
             "{\"t_ms\":1300,\"down\":[],\"versions\":{\"a\":\"v2\",\"b\":\"v2\",\"c\":\"v2\"}}\n"
             "{\"t_ms\":14");  // cut short by a kill: ignored
  std::string out;
  ASSERT_EQ(run({"watch-report", log, "--json", "--max-down", "2", "--expect-version", "v2"}, &out),
            0) << out;
  Json r = json_parse(out).value_or(Json{});
  EXPECT_EQ(r.get("rounds")->n, 4);
  EXPECT_EQ(r.get("max_down")->n, 2);
  EXPECT_EQ(r.get("max_down_t_ms")->n, 1100);
  EXPECT_EQ(r.get("ever_down")->arr.size(), 2u);
  EXPECT_EQ(run({"watch-report", log, "--max-down", "1"}, &out), 1);
  EXPECT_EQ(run({"watch-report", log, "--expect-version", "v1"}, &out), 1);

  write_file(log, "{\"t_ms\":1000,\"down\":[],\"versions\":{}}\nnot json\n{}\n");
  EXPECT_EQ(run({"watch-report", log}, &out), 2);
  EXPECT_NE(out.find("w.jsonl:2: not a watch round"), std::string::npos) << out;
  write_file(log, "");
  EXPECT_EQ(run({"watch-report", log}, &out), 1);
}

}  // namespace
}  // namespace testsvc
