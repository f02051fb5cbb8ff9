// The airlock-node service supervisor: unit parsing (the supported subset and its errors), and
// through the built binary on a temporary prefix: start/stop/restart/is-active/status, pid files
// that never lead to signalling a stranger, the stop escalation, a service that dies at once,
// Environment/WorkingDirectory, and the whole process group going on stop.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "node/service.h"
#include "node/tests/test_util.h"

namespace airlock::node {
namespace {

using test::CmdResult;
using test::TempPrefix;

CmdResult svc(const TempPrefix& t, const std::string& args) {
  return test::run_cmd(std::string(AIRLOCK_NODE_BIN) + " service " + args + " --root-dir '" + t.path() + "' 2>/dev/null");
}

void write_unit(const TempPrefix& t, const std::string& name, const std::string& service_section) {
  ASSERT_TRUE(make_dirs(t.path() + "/etc/systemd/system").ok());
  test::write_text(t.path() + "/etc/systemd/system/" + name + ".service",
                   "# test unit\n[Unit]\nDescription=test\nAfter=network.target\n\n[Service]\n" + service_section +
                       "\n[Install]\nWantedBy=multi-user.target\n");
}

// Alive and not a zombie.
bool running(int64_t pid) {
  auto s = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!s.ok()) return false;
  size_t rp = s->rfind(')');
  return rp != std::string::npos && rp + 2 < s->size() && (*s)[rp + 2] != 'Z' && (*s)[rp + 2] != 'X';
}

bool wait_not_running(int64_t pid, int ms) {
  for (int i = 0; i < ms / 20; ++i) {
    if (!running(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return !running(pid);
}

// Stops the service when a test ends early, so no process outlives the test.
struct StopAtEnd {
  const TempPrefix& t;
  std::string name;
  ~StopAtEnd() { (void)svc(t, "stop " + name); }
};

TEST(ServiceUnit, ParsesTheSupportedSubset) {
  auto u = parse_unit(
      "# comment\n; also a comment\n[Unit]\nDescription=x y\nAfter=network.target\n[Service]\nType=simple\n"
      "ExecStart=/opt/airlock/current/bin/airlock-testsvc agent --config \"/etc/a b.conf\" 'x\\sy' 100%% $$HOME \\\n"
      "  --tail\n"
      "Environment=A=1 \"B=two words\"\nEnvironment=C=3\nWorkingDirectory=-/var/lib/x\nKillSignal=SIGINT\n"
      "TimeoutStopSec=1min 30s\nRestart=no\n[Install]\nWantedBy=multi-user.target\n",
      "u.service");
  ASSERT_TRUE(u.ok()) << u.error().describe();
  EXPECT_EQ(u->exec_start, (std::vector<std::string>{"/opt/airlock/current/bin/airlock-testsvc", "agent", "--config",
                                                     "/etc/a b.conf", "x y", "100%", "$HOME", "--tail"}));
  EXPECT_EQ(u->environment, (std::vector<std::string>{"A=1", "B=two words", "C=3"}));
  EXPECT_EQ(u->working_directory, "/var/lib/x");
  EXPECT_TRUE(u->working_directory_optional);
  EXPECT_EQ(u->kill_signal, SIGINT);
  EXPECT_EQ(u->timeout_stop_ms, 90000);
  auto t = parse_unit("[Service]\nExecStart=/bin/true\nTimeoutStopSec=500ms\n", "t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->timeout_stop_ms, 500);
  EXPECT_EQ(t->kill_signal, SIGTERM);
}

TEST(ServiceUnit, TheShippedTemplatesParse) {
  for (const char* name : {"airlock-testsvc-manager", "airlock-testsvc-agent"}) {
    std::string path = std::string(AIRLOCK_SOURCE_DIR) + "/playbooks/templates/" + name + ".service";
    auto text = read_file(path);
    ASSERT_TRUE(text.ok()) << path;
    // Rendered as for a prefix install.
    std::string s = *text;
    for (size_t at; (at = s.find("{{ host.prefix }}")) != std::string::npos;) s.replace(at, 17, "/srv/p");
    auto u = parse_unit(s, path);
    ASSERT_TRUE(u.ok()) << u.error().describe();
    EXPECT_EQ(u->exec_start.at(0), "/srv/p/opt/airlock/current/bin/airlock-testsvc");
    EXPECT_EQ(u->timeout_stop_ms, 5000);
  }
}

TEST(ServiceUnit, ErrorsNameFileLineAndText) {
  struct Case {
    std::string text, want;
  };
  std::vector<Case> cases = {
      {"[Service]\nExecStart=/bin/x\nUser=nobody\n", "u.service:3: key not supported by airlock-node service"},
      {"[Service]\nExecStart=/bin/x $HOME\n", "u.service:2: environment variable references"},
      {"[Service]\nExecStart=/bin/x %h\n", "u.service:2: specifiers"},
      {"[Service]\nExecStart=bin/x\n", "u.service:2: ExecStart must name its program by an absolute path"},
      {"[Service]\nExecStart=-/bin/x\n", "u.service:2: ExecStart prefixes"},
      {"[Service]\nExecStart=/bin/x\nRestart=always\n", "u.service:3: airlock-node service does not restart"},
      {"[Service]\nExecStart=/bin/x\nExecStart=/bin/y\n", "u.service:3: more than one ExecStart"},
      {"[Service]\nType=forking\nExecStart=/bin/x\n", "u.service:2: only Type=simple"},
      {"[Service]\nExecStart=/bin/x \"open\n", "u.service:2: an unterminated quote"},
      {"[Timer]\nOnCalendar=daily\n", "u.service:1: section not supported"},
      {"ExecStart=/bin/x\n", "u.service:1: a setting before any [section]"},
      {"[Service]\nKillSignal=SIGNOPE\nExecStart=/bin/x\n", "u.service:2: unknown signal"},
      {"[Service]\nTimeoutStopSec=soon\nExecStart=/bin/x\n", "u.service:2: not a time span"},
      {"[Unit]\nDescription=x\n", "u.service: no ExecStart= in [Service]"},
  };
  for (const auto& c : cases) {
    auto u = parse_unit(c.text, "u.service");
    ASSERT_FALSE(u.ok()) << c.text;
    EXPECT_NE(u.error().describe().find(c.want), std::string::npos) << u.error().describe();
  }
  EXPECT_FALSE(check_service_name("../x").ok());
  EXPECT_FALSE(check_service_name("-x").ok());
  EXPECT_TRUE(check_service_name("airlock-testsvc-agent@1").ok());
}

TEST(ServiceCli, StartStopAreIdempotentAndLeaveNothingRunning) {
  TempPrefix t;
  write_unit(t, "sleeper", "ExecStart=/bin/sleep 300\nTimeoutStopSec=5\n");
  StopAtEnd guard{t, "sleeper"};
  CmdResult r = svc(t, "is-active sleeper");
  EXPECT_EQ(r.rc, 3) << r.out;
  EXPECT_EQ(r.json["active"], false);

  r = svc(t, "start sleeper.service");  // the suffix is accepted
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.json["changed"], true);
  EXPECT_EQ(r.json["active"], true);
  int64_t pid = r.json["pid"].get<int64_t>();
  EXPECT_TRUE(running(pid));
  EXPECT_TRUE(path_exists(t.path() + "/run/airlock/sleeper.pid"));
  // Detached: its own session, stdin from /dev/null.
  EXPECT_EQ(::getsid(static_cast<pid_t>(pid)), pid);

  r = svc(t, "start sleeper");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.json["changed"], false);
  EXPECT_EQ(r.json["pid"], pid);

  r = svc(t, "is-active sleeper");
  EXPECT_EQ(r.rc, 0) << r.out;
  r = svc(t, "status sleeper");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.json["exec"], nlohmann::json::parse(R"(["/bin/sleep","300"])"));
  EXPECT_EQ(r.json["unit"], t.path() + "/etc/systemd/system/sleeper.service");

  r = svc(t, "restart sleeper");
  ASSERT_EQ(r.rc, 0) << r.out;
  int64_t pid2 = r.json["pid"].get<int64_t>();
  EXPECT_NE(pid2, pid);
  EXPECT_TRUE(wait_not_running(pid, 2000));

  r = svc(t, "stop sleeper");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.json["changed"], true);
  EXPECT_EQ(r.json["killed"], false);
  EXPECT_TRUE(wait_not_running(pid2, 2000));
  EXPECT_FALSE(path_exists(t.path() + "/run/airlock/sleeper.pid"));
  r = svc(t, "stop sleeper");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.json["changed"], false);
  EXPECT_EQ(svc(t, "is-active sleeper").rc, 3);
}

TEST(ServiceCli, AStalePidFileNeverSignalsAnotherProcess) {
  TempPrefix t;
  write_unit(t, "s", "ExecStart=/bin/sleep 300\n");
  ASSERT_TRUE(make_dirs(t.path() + "/run/airlock").ok());
  // Our own pid, with a start time that is not ours: a pid reused after the service died.
  test::write_text(t.path() + "/run/airlock/s.pid",
                   "{\"pid\":" + std::to_string(::getpid()) + ",\"start_time\":1,\"boot_id\":\"\"}\n");
  CmdResult r = svc(t, "is-active s");
  EXPECT_EQ(r.rc, 3) << r.out;
  r = svc(t, "stop s");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.json["changed"], false);
  EXPECT_FALSE(path_exists(t.path() + "/run/airlock/s.pid"));
  // A pid file from another boot is stale too, whatever its pid.
  test::write_text(t.path() + "/run/airlock/s.pid",
                   "{\"pid\":1,\"start_time\":1,\"boot_id\":\"00000000-0000-0000-0000-000000000000\"}\n");
  EXPECT_EQ(svc(t, "is-active s").rc, 3);
  // Garbage is not a pid.
  test::write_text(t.path() + "/run/airlock/s.pid", "12");
  EXPECT_EQ(svc(t, "stop s").rc, 0);
}

TEST(ServiceCli, StopEscalatesToSigkillAfterTimeoutStopSec) {
  TempPrefix t;
  write_unit(t, "stubborn", "ExecStart=/bin/sh -c \"trap '' TERM; echo ready; sleep 300\"\nTimeoutStopSec=700ms\n");
  StopAtEnd guard{t, "stubborn"};
  CmdResult r = svc(t, "start stubborn");
  ASSERT_EQ(r.rc, 0) << r.out;
  int64_t pid = r.json["pid"].get<int64_t>();
  auto t0 = std::chrono::steady_clock::now();
  r = svc(t, "stop stubborn");
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.json["killed"], true);
  EXPECT_GE(took, std::chrono::milliseconds(650));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_TRUE(wait_not_running(pid, 2000));
  EXPECT_NE(test::read_text(t.path() + "/var/log/airlock/stubborn.log").find("ready"), std::string::npos);
}

TEST(ServiceCli, AServiceThatExitsAtOnceIsAFailedStartWithItsOutput) {
  TempPrefix t;
  write_unit(t, "broken", "ExecStart=/bin/sh -c \"echo cannot bind port >&2; exit 1\"\n");
  CmdResult r = svc(t, "start broken");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(r.json["ok"], false);
  EXPECT_NE(r.json.value("error", "").find("cannot bind port"), std::string::npos) << r.out;
  EXPECT_FALSE(path_exists(t.path() + "/run/airlock/broken.pid"));

  write_unit(t, "missing", "ExecStart=/nonexistent/bin/x\n");
  r = svc(t, "start missing");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.json.value("error", "").find("/nonexistent/bin/x"), std::string::npos) << r.out;

  r = svc(t, "start nounit");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(r.json["code"], "not-found") << r.out;

  write_unit(t, "bad", "ExecStart=/bin/sleep 1\nUser=nobody\n");
  r = svc(t, "start bad");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.json.value("error", "").find("bad.service:8: key not supported"), std::string::npos) << r.out;

  EXPECT_EQ(svc(t, "start ../x").rc, 2);
  EXPECT_EQ(svc(t, "frobnicate x").rc, 2);
}

TEST(ServiceCli, EnvironmentWorkingDirectoryAndProcessGroup) {
  TempPrefix t;
  ASSERT_TRUE(make_dirs(t.path() + "/wd").ok());
  write_unit(t, "env",
             "Environment=FOO=bar \"SPACED=a b\"\nWorkingDirectory=" + t.path() +
                 "/wd\nExecStart=/bin/sh -c \"pwd > out.tmp; echo $$FOO/$$SPACED/$$PATH >> out.tmp; "
                 "sleep 300 & echo $$! > child.tmp; mv out.tmp out; mv child.tmp child; wait\"\n");
  StopAtEnd guard{t, "env"};
  CmdResult r = svc(t, "start env");
  ASSERT_EQ(r.rc, 0) << r.out;
  for (int i = 0; i < 250 && !path_exists(t.path() + "/wd/child"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(test::read_text(t.path() + "/wd/out"),
            t.path() + "/wd\nbar/a b//usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
  int64_t child = std::strtoll(test::read_text(t.path() + "/wd/child").c_str(), nullptr, 10);
  ASSERT_GT(child, 1);
  EXPECT_TRUE(running(child));
  r = svc(t, "stop env");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(wait_not_running(child, 2000)) << "the service's child outlived the stop";
}

}  // namespace
}  // namespace airlock::node
