// Every playbook shipped in playbooks/ loads, validates, and plans against the test site.
#include <gtest/gtest.h>

#include <filesystem>

#include "bundle/spec.h"
#include "installer/install/planner.h"
#include "installer/install/tests/test_site.h"

namespace airlock::install {
namespace {

TEST(Shipped, EveryPlaybookLoadsAndPlans) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(std::string(AIRLOCK_SOURCE_DIR) + "/playbooks")) {
    if (e.path().extension() == ".yaml" || e.path().extension() == ".yml") names.push_back(e.path().filename());
  }
  std::sort(names.begin(), names.end());
  EXPECT_GE(names.size(), 2u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto pb = testing::shipped_playbook(name);
    ASSERT_TRUE(pb.ok()) << pb.error().describe();
    Plan plan = testing::plan_site(*pb);
    EXPECT_FALSE(plan.phases.empty());
    // From disk too (paths relative to the playbook's folder).
    auto disk = load_playbook(std::string(AIRLOCK_SOURCE_DIR) + "/playbooks/" + name);
    EXPECT_TRUE(disk.ok()) << disk.error().describe();
  }
}

// The example site (examples/site): its inventory and bundle.yaml load, and install.yaml plans
// for it with a manifest made from the bundle.yaml (fake digests) and H100 facts on every agent.
TEST(Shipped, ExampleSitePlans) {
  std::string dir = std::string(AIRLOCK_SOURCE_DIR) + "/examples/site";
  auto inv = inventory::load_inventory(dir + "/inventory.yaml");
  ASSERT_TRUE(inv.ok()) << inv.error().describe();
  auto spec = bundle::load_bundle_spec(dir + "/bundle.yaml");
  ASSERT_TRUE(spec.ok()) << spec.error().describe();
  bundle::Manifest m;
  m.bundle = spec->info;
  char fill = 'a';
  for (const auto& cs : spec->components) {
    bundle::Component c;
    c.type = cs.type;
    c.name = cs.name;
    c.version = cs.version;
    c.install = cs.install;
    c.blob = bundle::Descriptor{"application/octet-stream", "sha256:" + std::string(64, fill++), 100};
    m.components.push_back(c);
  }
  auto h100 = testing::site_facts().at("gpu1");
  std::map<std::string, nlohmann::json> facts;
  for (const auto& h : inv->hosts) facts[h.name] = h100;
  auto pb = testing::shipped_playbook("install.yaml");
  ASSERT_TRUE(pb.ok());
  auto plan = make_plan(*pb, *inv, testing::all_hosts(*inv), facts, m);
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  EXPECT_EQ(plan->release, "site-1");
  EXPECT_EQ(plan->phases[3].nodes.size(), 12u);
  EXPECT_EQ(plan->phases[1].steps.at("gpu007")[0].params["component"], "nvidia-test-layer");
  EXPECT_EQ(plan->blobs.at("gpu007").size(), 2u);
}

}  // namespace
}  // namespace airlock::install
