// state.json through the library API: defaults, steps, records, a corrupt file is never
// overwritten, and 8 processes setting steps at once lose nothing.
#include "node/state.h"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "node/tests/test_util.h"

namespace airlock::node {
namespace {

using test::TempPrefix;

TEST(NodeState, DefaultWhenAbsent) {
  TempPrefix t;
  auto s = load_state(t.layout());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)["schema"], kStateSchema);
  EXPECT_TRUE((*s)["steps"].empty());
  EXPECT_TRUE((*s)["current"].is_null());
  EXPECT_FALSE(path_exists(t.layout().state_file()));  // reading writes nothing
}

TEST(NodeState, StepsAndRecords) {
  TempPrefix t;
  const Layout& l = t.layout();
  std::string recorded = "x";
  EXPECT_FALSE(*check_step(l, "stage/agent", "sha256:1", &recorded));
  EXPECT_EQ(recorded, "");
  EXPECT_TRUE(*set_step(l, "stage/agent", "sha256:1"));
  EXPECT_FALSE(*set_step(l, "stage/agent", "sha256:1"));
  EXPECT_TRUE(*check_step(l, "stage/agent", "sha256:1"));
  EXPECT_FALSE(*check_step(l, "stage/agent", "sha256:2", &recorded));
  EXPECT_EQ(recorded, "sha256:1");
  EXPECT_TRUE(*set_step(l, "stage/agent", "sha256:2"));
  EXPECT_TRUE(*check_step(l, "stage/agent", "sha256:2"));

  nlohmann::json drv = {{"vendor", "nvidia"}, {"version", "550.54.15"}, {"reboot", false}};
  EXPECT_TRUE(*record_value(l, "driver", drv));
  EXPECT_FALSE(*record_value(l, "driver", drv));
  auto s = load_state(l);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)["records"]["driver"], drv);
  EXPECT_EQ((*s)["steps"]["stage/agent"], "sha256:2");
  EXPECT_TRUE((*s)["updated_at"].is_string());

  auto big = record_value(l, "big", std::string(kMaxRecordBytes, 'x'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::kLimit);
  EXPECT_FALSE(set_step(l, "has space", "d").ok());
  EXPECT_FALSE(set_step(l, "", "d").ok());
  EXPECT_FALSE(set_step(l, "k", "").ok());
  // Only state.json and its lock: no temporary files left.
  EXPECT_EQ(test::list_dir(l.lib_dir()), (std::vector<std::string>{"state.json", "state.lock"}));
}

TEST(NodeState, CorruptFileIsAnErrorAndIsKept) {
  TempPrefix t;
  const Layout& l = t.layout();
  ASSERT_TRUE(make_dirs(l.lib_dir()).ok());
  for (std::string text : {std::string("{not json"), std::string(R"({"schema":"other/v9"})")}) {
    test::write_text(l.state_file(), text);
    EXPECT_FALSE(load_state(l).ok());
    auto r = set_step(l, "k", "d");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().describe().find("state.json"), std::string::npos) << r.error().describe();
    EXPECT_EQ(test::read_text(l.state_file()), text);
  }
}

TEST(NodeState, ConcurrentSetStepFromEightProcessesLosesNothing) {
  TempPrefix t;
  const Layout& l = t.layout();
  constexpr int kProcs = 8, kSteps = 25;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int bad = 0;
      for (int i = 0; i < kSteps; ++i) {
        std::string key = "p" + std::to_string(p) + "/s" + std::to_string(i);
        if (!set_step(l, key, "sha256:" + std::to_string(p * 1000 + i)).ok()) ++bad;
      }
      ::_exit(bad);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  auto s = load_state(l);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)["steps"].size(), static_cast<size_t>(kProcs * kSteps));
  for (int p = 0; p < kProcs; ++p) {
    for (int i = 0; i < kSteps; ++i) {
      EXPECT_TRUE(*check_step(l, "p" + std::to_string(p) + "/s" + std::to_string(i),
                              "sha256:" + std::to_string(p * 1000 + i)));
    }
  }
}

}  // namespace
}  // namespace airlock::node
