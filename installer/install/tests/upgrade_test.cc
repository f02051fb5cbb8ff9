// The rolling driver's pure parts (upgrade.h): the revert steps it derives from a failed rolling
// phase (rollback.yaml's steps for one node: stop, switch back to last-good, restart, the health
// gates, the steps after the last gate), the rolling flag in plans, and where snapshots go.
#include <gtest/gtest.h>

#include "installer/install/planner.h"
#include "installer/install/tests/test_site.h"
#include "installer/install/upgrade.h"

namespace airlock::install {
namespace {

TEST(Upgrade, PlansKeepTheRollingFlag) {
  auto pb = testing::shipped_playbook("upgrade.yaml");
  ASSERT_TRUE(pb.ok()) << pb.error().describe();
  Plan plan = testing::plan_site(*pb);
  ASSERT_EQ(plan.phases.size(), 4u);
  EXPECT_FALSE(plan.phases[2].rolling);
  EXPECT_TRUE(plan.phases[3].rolling);
  EXPECT_EQ(plan.to_json()["phases"][3]["rolling"], true);
  EXPECT_FALSE(plan.to_json()["phases"][2].contains("rolling"));  // install plans unchanged
  EXPECT_NE(plan.render_text().find("rolling under upgrade/rollback"), std::string::npos);
}

TEST(Upgrade, RevertStepsOfTheShippedAgentsPhase) {
  auto pb = testing::shipped_playbook("upgrade.yaml");
  ASSERT_TRUE(pb.ok()) << pb.error().describe();
  Plan plan = testing::plan_site(*pb);
  const auto& steps = plan.phases[3].steps.at("gpu2");
  auto rv = revert_steps("agents", steps);
  std::vector<std::string> ids;
  for (const auto& s : rv) ids.push_back(s.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"agents.revert.0.service", "agents.revert.1.switch", "agents.revert.2.service",
                                           "agents.revert.3.health", "agents.revert.4.command"}));
  EXPECT_EQ(rv[0].params, (nlohmann::json{{"name", "airlock-testsvc-agent"}, {"state", "stopped"}}));
  EXPECT_EQ(rv[1].params, (nlohmann::json{{"to", "last-good"}}));
  EXPECT_EQ(rv[2].params, (nlohmann::json{{"name", "airlock-testsvc-agent"}, {"state", "restarted"}}));
  EXPECT_EQ(rv[3].params, steps[5].params);  // the same health gate
  EXPECT_EQ(rv[4].params, steps[6].params);  // the undrain
}

TEST(Upgrade, RevertOfAPhaseWithoutServicesOrGatesIsTheSwitchBack) {
  std::vector<PlanStep> steps(1);
  steps[0].id = "x.0.switch";
  steps[0].action = "switch";
  steps[0].params = {{"release", "r2"}};
  auto rv = revert_steps("x", steps);
  ASSERT_EQ(rv.size(), 1u);
  EXPECT_EQ(rv[0].action, "switch");
  EXPECT_EQ(rv[0].params, (nlohmann::json{{"to", "last-good"}}));
}

TEST(Upgrade, SnapshotPath) {
  EXPECT_EQ(snapshot_path("/s/runs", "upgrade-1", "agents"), "/s/runs/upgrade-1.agents.rollout.json");
}

}  // namespace
}  // namespace airlock::install
