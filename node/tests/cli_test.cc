// The built airlock-node binary, one test per subcommand family, on a temporary prefix: JSON on
// stdout, exit 0/1/2, idempotence, crash safety through the CLI, concurrent state writers.
#include <gtest/gtest.h>

#include <unistd.h>

#include "node/tests/responder.h"
#include "node/tests/test_util.h"

namespace airlock::node {
namespace {

using test::CmdResult;
using test::TempPrefix;

std::string bin() { return AIRLOCK_NODE_BIN; }

CmdResult node(const TempPrefix& t, const std::string& args, const std::string& stdin_file = "") {
  std::string cmd = bin() + " " + args + " --root-dir '" + t.path() + "'";
  if (!stdin_file.empty()) cmd += " < '" + stdin_file + "'";
  return test::run_cmd(cmd + " 2>/dev/null");
}

// A file holding data, for stdin.
std::string file_with(const TempPrefix& t, const std::string& name, const std::string& data) {
  std::string p = t.path() + "/" + name;
  test::write_text(p, data);
  return p;
}

void expect_ok(const CmdResult& r) {
  ASSERT_EQ(r.rc, 0) << r.out;
  ASSERT_TRUE(r.json.is_object()) << r.out;
  EXPECT_EQ(r.json["ok"], true) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "one JSON line: " << r.out;
}

TEST(NodeCli, HelpListsEverySubcommand) {
  CmdResult r = test::run_cmd(bin() + " help");
  EXPECT_EQ(r.rc, 0);
  for (const char* s : {"probe", "capture", "version", "store missing", "store put", "store gc",
                        "release build", "release list", "release remove", "switch", "mark-good",
                        "state get", "state set-step", "state check-step", "state record",
                        "health tcp", "health http", "health exec"}) {
    EXPECT_NE(r.out.find(std::string("airlock-node ") + s), std::string::npos) << s;
  }
}

TEST(NodeCli, Store) {
  TempPrefix t;
  std::string data = file_with(t, "blob", "payload");
  std::string d = digest_of("payload");
  std::string other = digest_of("other");
  CmdResult r = node(t, "store missing " + d + " " + other);
  expect_ok(r);
  EXPECT_EQ(r.json["missing"], nlohmann::json({d, other}));
  r = node(t, "store put " + d + "=7", data);
  expect_ok(r);
  EXPECT_EQ(r.json["changed"], true);
  EXPECT_EQ(r.json["size"], 7);
  r = node(t, "store put " + d, data);
  expect_ok(r);
  EXPECT_EQ(r.json["changed"], false);
  r = node(t, "store put " + other, data);
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.json["ok"], false);
  EXPECT_NE(r.json["error"].get<std::string>().find("digest mismatch"), std::string::npos);
  r = node(t, "store missing --verify --stdin", file_with(t, "list", d + "=7\n" + other + "\n"));
  expect_ok(r);
  EXPECT_EQ(r.json["missing"], nlohmann::json({other}));
  EXPECT_EQ(r.json["present"], 1);
  EXPECT_EQ(node(t, "store gc").rc, 2);  // --keep is required
  r = node(t, "store gc --keep --dry-run");
  expect_ok(r);
  EXPECT_EQ(r.json["removed"], nlohmann::json({d}));
  r = node(t, "store gc --keep " + d);
  expect_ok(r);
  EXPECT_TRUE(r.json["removed"].empty());
  r = node(t, "store gc --keep");
  expect_ok(r);
  EXPECT_EQ(r.json["removed"], nlohmann::json({d}));
  EXPECT_EQ(node(t, "store missing sha256:nothex").rc, 2);
  EXPECT_EQ(node(t, "store put").rc, 2);
  EXPECT_EQ(node(t, "store frobnicate").rc, 2);
  EXPECT_EQ(test::run_cmd(bin() + " store missing " + d + " --root-dir /nonexistent 2>/dev/null").rc, 2);
}

TEST(NodeCli, ReleaseSwitchMarkGood) {
  TempPrefix t;
  std::string a1 = digest_of("agent 1"), a2 = digest_of("agent 2");
  expect_ok(node(t, "store put " + a1, file_with(t, "a1", "agent 1")));
  expect_ok(node(t, "store put " + a2, file_with(t, "a2", "agent 2")));
  auto spec = [&](const std::string& blob) {
    return nlohmann::json{{"files", {{{"path", "bin/agent"}, {"blob", blob}, {"mode", "0755"}}}}}.dump();
  };
  std::string s1 = file_with(t, "s1.json", spec(a1)), s2 = file_with(t, "s2.json", spec(a2));
  CmdResult r = node(t, "release build v1", s1);
  expect_ok(r);
  EXPECT_EQ(r.json["changed"], true);
  EXPECT_EQ(r.json["files"], 1);
  r = node(t, "release build v1", s1);
  expect_ok(r);
  EXPECT_EQ(r.json["changed"], false);
  r = node(t, "release build v1", s2);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("--replace"), std::string::npos);
  expect_ok(node(t, "release build v2", s2));

  // A missing blob: an error naming it; nothing visible.
  std::string s3 = file_with(t, "s3.json", spec(digest_of("absent")));
  r = node(t, "release build v3", s3);
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.json["error"].get<std::string>().find(digest_of("absent")), std::string::npos);
  EXPECT_FALSE(path_exists(t.path() + "/opt/airlock/releases/v3"));
  EXPECT_EQ(node(t, "release build v3", file_with(t, "bad.json", R"({"files":[{"path":"/x","blob":")" + a1 + "\"}]}")).rc, 1);
  EXPECT_EQ(node(t, "release build ../x", s1).rc, 2);

  r = node(t, "switch v1");
  expect_ok(r);
  EXPECT_EQ(r.json["changed"], true);
  EXPECT_TRUE(r.json["previous"].is_null());
  expect_ok(node(t, "mark-good v1"));
  r = node(t, "switch v2");
  expect_ok(r);
  EXPECT_EQ(r.json["previous"], "v1");
  EXPECT_EQ(test::read_text(t.path() + "/opt/airlock/current/bin/agent"), "agent 2");
  r = node(t, "switch v2");
  expect_ok(r);
  EXPECT_EQ(r.json["changed"], false);
  r = node(t, "switch --to-last-good");
  expect_ok(r);
  EXPECT_EQ(r.json["release"], "v1");
  EXPECT_EQ(test::read_text(t.path() + "/opt/airlock/current/bin/agent"), "agent 1");
  r = node(t, "switch v9");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.json["error"].get<std::string>().find("does not exist"), std::string::npos);
  EXPECT_EQ(node(t, "switch").rc, 2);
  EXPECT_EQ(node(t, "switch v1 --to-last-good").rc, 2);
  EXPECT_EQ(node(t, "mark-good v9").rc, 1);

  r = node(t, "release list");
  expect_ok(r);
  EXPECT_EQ(r.json["releases"].size(), 2u);
  EXPECT_EQ(r.json["current"], "v1");
  EXPECT_EQ(r.json["last_known_good"], "v1");
  EXPECT_EQ(node(t, "release remove v1").rc, 1);  // current
  r = node(t, "release remove v2");
  expect_ok(r);
  EXPECT_EQ(r.json["changed"], true);
}

TEST(NodeCli, KilledBuildLeavesCurrentIntact) {
  TempPrefix t;
  std::string small = digest_of("s"), big_data(2 << 20, 'B'), big = digest_of(big_data);
  expect_ok(node(t, "store put " + small, file_with(t, "s", "s")));
  expect_ok(node(t, "store put " + big, file_with(t, "b", big_data)));
  std::string v1 = file_with(t, "v1.json", nlohmann::json{{"files", {{{"path", "a"}, {"blob", small}}}}}.dump());
  expect_ok(node(t, "release build v1", v1));
  expect_ok(node(t, "switch v1"));
  std::string v2 = file_with(t, "v2.json",
                             nlohmann::json{{"files", {{{"path", "a"}, {"blob", small}}, {{"path", "big"}, {"blob", big}}}}}.dump());
  // ulimit -f: the copy of the big file dies of SIGXFSZ midway.
  CmdResult r = test::run_cmd("ulimit -f 256; " + bin() + " release build v2 --root-dir '" + t.path() + "' < '" + v2 +
                              "' 2>/dev/null");
  EXPECT_NE(r.rc, 0);
  EXPECT_FALSE(path_exists(t.path() + "/opt/airlock/releases/v2"));
  EXPECT_EQ(test::read_text(t.path() + "/opt/airlock/current/a"), "s");
  r = node(t, "release build v2", v2);
  expect_ok(r);
  EXPECT_EQ(r.json["changed"], true);
  std::vector<std::string> names = test::list_dir(t.path() + "/opt/airlock/releases");
  EXPECT_EQ(names, (std::vector<std::string>{"v1", "v2"}));  // the dead build's staging is gone
}

TEST(NodeCli, State) {
  TempPrefix t;
  CmdResult r = node(t, "state get");
  expect_ok(r);
  EXPECT_EQ(r.json["state"]["schema"], "airlock.node-state/v1");
  r = node(t, "state check-step install/agent sha256:aa");
  expect_ok(r);
  EXPECT_EQ(r.json["done"], false);
  r = node(t, "state set-step install/agent sha256:aa");
  expect_ok(r);
  EXPECT_EQ(r.json["changed"], true);
  r = node(t, "state check-step install/agent sha256:aa");
  expect_ok(r);
  EXPECT_EQ(r.json["done"], true);
  r = node(t, "state record driver '{\"version\":\"550\",\"reboot\":true}'");
  expect_ok(r);
  r = node(t, "state record note -", file_with(t, "v.json", "\"from stdin\""));
  expect_ok(r);
  r = node(t, "state get");
  expect_ok(r);
  EXPECT_EQ(r.json["state"]["records"]["driver"]["version"], "550");
  EXPECT_EQ(r.json["state"]["records"]["note"], "from stdin");
  EXPECT_EQ(node(t, "state record k '{bad'").rc, 2);
  EXPECT_EQ(node(t, "state set-step onlykey").rc, 2);
  EXPECT_EQ(node(t, "state frob").rc, 2);
}

TEST(NodeCli, ConcurrentSetStepFromEightProcesses) {
  TempPrefix t;
  std::string script = "B='" + bin() + "'; R='" + t.path() + "'\n";
  for (int p = 0; p < 8; ++p) {
    script += "(for i in $(seq 1 15); do \"$B\" state set-step p" + std::to_string(p) +
              "/s$i sha256:$i --root-dir \"$R\" >/dev/null || exit 1; done) &\n";
  }
  script += "fail=0; for j in $(jobs -p); do wait $j || fail=1; done; exit $fail\n";
  CmdResult r = test::run_cmd("bash '" + file_with(t, "writers.sh", script) + "'");
  EXPECT_EQ(r.rc, 0) << r.out;
  r = node(t, "state get");
  expect_ok(r);
  EXPECT_EQ(r.json["state"]["steps"].size(), 8u * 15u);
}

TEST(NodeCli, Health) {
  test::Responder srv({{503, "wait"}, {200, "ready"}});
  std::string hp = "127.0.0.1:" + std::to_string(srv.port());
  CmdResult r = test::run_cmd(bin() + " health tcp " + hp + " --deadline 5 --interval 50");
  expect_ok(r);
  EXPECT_EQ(r.json["attempts"], 1);
  EXPECT_TRUE(r.json["elapsed_ms"].is_number());
  r = test::run_cmd(bin() + " health http http://" + hp + "/health --expect-body ready --deadline 5 --interval 50");
  expect_ok(r);
  EXPECT_EQ(r.json["status"], 200);
  r = test::run_cmd(bin() + " health http http://" + hp + "/ --expect-status 204 --deadline 0.3 --interval 100");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.json["ok"], false);
  EXPECT_NE(r.json["error"].get<std::string>().find("status 200, want 204"), std::string::npos) << r.out;
  EXPECT_GE(r.json["attempts"].get<int>(), 2);
  r = test::run_cmd(bin() + " health exec --deadline 2 -- sh -c 'exit 0'");
  expect_ok(r);
  EXPECT_EQ(r.json["exit_code"], 0);
  r = test::run_cmd(bin() + " health exec --deadline 0.2 -- false");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.json["exit_code"], 1);
  EXPECT_EQ(test::run_cmd(bin() + " health tcp manager.example:80 2>/dev/null").rc, 2);
  EXPECT_EQ(test::run_cmd(bin() + " health http https://127.0.0.1/ 2>/dev/null").rc, 2);
  EXPECT_EQ(test::run_cmd(bin() + " health exec 2>/dev/null").rc, 2);
  EXPECT_EQ(test::run_cmd(bin() + " health tcp " + hp + " --deadline x 2>/dev/null").rc, 2);
}

}  // namespace
}  // namespace airlock::node
