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

// upgrade.yaml: blobs and release dirs first (no service stops), the manager, then the agents
// in a rolling phase: drain, stop, config, switch, restart, health with soak, undrain.
TEST(Shipped, UpgradePlaybook) {
  auto pb = testing::shipped_playbook("upgrade.yaml");
  ASSERT_TRUE(pb.ok()) << pb.error().describe();
  std::vector<std::string> names;
  for (const auto& p : pb->phases) names.push_back(p.name + (p.rolling ? "*" : ""));
  EXPECT_EQ(names, (std::vector<std::string>{"stage", "prepare", "manager", "agents*"}));
  Plan plan = testing::plan_site(*pb);
  ASSERT_EQ(plan.phases.size(), 4u);
  EXPECT_EQ(plan.phases[1].nodes, (std::vector<std::string>{"gpu1", "gpu2", "gpu3"}));
  EXPECT_EQ(plan.phases[1].steps.at("gpu1")[0].action, "files");
  const auto& agents = plan.phases[3];
  EXPECT_EQ(agents.nodes, (std::vector<std::string>{"gpu1", "gpu2", "gpu3"}));
  const auto& steps = agents.steps.at("gpu2");
  std::vector<std::string> actions;
  for (const auto& s : steps) actions.push_back(s.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"command", "service", "template", "switch", "service", "health", "command"}));
  // Drain: against the manager, for this agent; the release in $0 (digests change per release).
  const auto& drain = steps[0].params["argv"];
  ASSERT_EQ(drain.size(), 4u);
  std::string script = drain[2];
  EXPECT_NE(script.find("m=10.0.0.10 p=8081 a=gpu2"), std::string::npos) << script;
  EXPECT_NE(script.find("/drain/$a"), std::string::npos);
  EXPECT_NE(script.find("\"sessions\":0"), std::string::npos);
  EXPECT_EQ(drain[3], "airlock-drain-" + plan.release);
  EXPECT_EQ(steps[1].params["state"], "stopped");
  EXPECT_EQ(steps[3].params, (nlohmann::json{{"release", plan.release}}));
  EXPECT_EQ(steps[4].params["state"], "restarted");
  EXPECT_GT(steps[5].params["soak_s"].get<double>(), 0);
  EXPECT_NE(steps[6].params["argv"][2].get<std::string>().find("POST /undrain/%s"), std::string::npos);
  // Another release: every step of the rolling phase gets another digest (none is skipped as
  // already done on the node by the previous upgrade).
  auto m2 = testing::site_manifest();
  m2.bundle.version += 1;
  auto inv = testing::site_inventory();
  auto plan2 = make_plan(*pb, inv, testing::all_hosts(inv), testing::site_facts(), m2);
  ASSERT_TRUE(plan2.ok()) << plan2.error().describe();
  const auto& steps2 = plan2->phases[3].steps.at("gpu2");
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_NE(steps[i].digest, steps2[i].digest) << steps[i].id;
}

// rollback.yaml: agents (rolling) then the manager, back to last-good by default, or previous,
// or a named release (vars.rollback_to, `airlock rollback --to`).
TEST(Shipped, RollbackPlaybook) {
  auto pb = testing::shipped_playbook("rollback.yaml");
  ASSERT_TRUE(pb.ok()) << pb.error().describe();
  ASSERT_EQ(pb->phases.size(), 2u);
  EXPECT_TRUE(pb->phases[0].rolling);
  EXPECT_FALSE(pb->phases[1].rolling);
  Plan plan = testing::plan_site(*pb);
  ASSERT_EQ(plan.phases.size(), 2u);
  EXPECT_EQ(plan.phases[0].nodes, (std::vector<std::string>{"gpu1", "gpu2", "gpu3"}));
  EXPECT_EQ(plan.phases[1].nodes, std::vector<std::string>{"mgr1"});
  std::vector<std::string> actions;
  for (const auto& s : plan.phases[0].steps.at("gpu1")) actions.push_back(s.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"command", "service", "switch", "service", "health", "command"}));
  EXPECT_EQ(plan.phases[0].steps.at("gpu1")[2].params, (nlohmann::json{{"to", "last-good"}}));
  EXPECT_EQ(plan.phases[1].steps.at("mgr1")[0].params, (nlohmann::json{{"to", "last-good"}}));
  EXPECT_NE(plan.render_text().find("current -> the last-good release"), std::string::npos) << plan.render_text();

  pb->vars["rollback_to"] = "previous";
  EXPECT_EQ(testing::plan_site(*pb).phases[0].steps.at("gpu1")[2].params, (nlohmann::json{{"to", "previous"}}));
  pb->vars["rollback_to"] = "site-41";
  Plan named = testing::plan_site(*pb);
  EXPECT_EQ(named.phases[0].steps.at("gpu1")[2].params, (nlohmann::json{{"to", "site-41"}}));  // a switch back
  EXPECT_NE(named.render_text().find("current -> releases/site-41"), std::string::npos);
  // The target is part of the digests: a rollback to another release redoes every step.
  EXPECT_NE(named.phases[0].steps.at("gpu1")[0].digest, plan.phases[0].steps.at("gpu1")[0].digest);
  pb->vars["rollback_to"] = "../etc";
  auto inv = testing::site_inventory();
  auto bad = make_plan(*pb, inv, testing::all_hosts(inv), testing::site_facts(), testing::site_manifest());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().describe().find("switch.to `../etc` is not last-good, previous or a release name"),
            std::string::npos)
      << bad.error().describe();
}

// The playbook additions upgrade and rollback use: `rolling: true` on a phase and
// `switch: {to: ...}`.
TEST(Shipped, RollingAndSwitchToParse) {
  auto none = [](const std::string&) -> Result<std::string> { return make_error(Errc::kNotFound, "no sources"); };
  auto ok = parse_playbook(
      "playbook: x\nphases:\n  - {name: a, hosts: all, rolling: true, steps: [{switch: {to: last-good}}, {switch: {}}]}\n"
      "  - {name: b, hosts: all, steps: [{switch: {to: \"{{ vars.r }}\"}}]}\n",
      "pb.yaml", none);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_TRUE(ok->phases[0].rolling);
  EXPECT_FALSE(ok->phases[1].rolling);
  EXPECT_EQ(ok->phases[0].steps[0].args, (nlohmann::json{{"to", "last-good"}}));
  EXPECT_EQ(ok->phases[0].steps[1].args, nlohmann::json::object());
  auto error_of = [&](const std::string& text) {
    auto r = parse_playbook(text, "pb.yaml", none);
    return r.ok() ? std::string("(no error)") : r.error().describe();
  };
  EXPECT_NE(error_of("playbook: x\nphases:\n  - {name: a, hosts: all, rolling: maybe, steps: [{switch: {}}]}\n")
                .find("rolling"),
            std::string::npos);
  EXPECT_NE(error_of("playbook: x\nphases:\n  - {name: a, hosts: all, steps: [{switch: {release: v1}}]}\n")
                .find("unknown key"),
            std::string::npos)
      << error_of("playbook: x\nphases:\n  - {name: a, hosts: all, steps: [{switch: {release: v1}}]}\n");
  EXPECT_NE(error_of("playbook: x\nphases:\n  - {name: a, hosts: all, steps: [{switch: {to: \"\"}}]}\n")
                .find("switch.to must be a text value"),
            std::string::npos);
  EXPECT_NE(error_of("playbook: x\nphases:\n  - {name: a, hosts: all, steps: [{switch: {to: \"{{ x\"}}]}\n")
                .find("switch.to"),
            std::string::npos);
}

}  // namespace
}  // namespace airlock::install
