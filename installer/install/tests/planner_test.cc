// The planner: determinism, the snapshot of the shipped install plan for 1 manager + 3 agents,
// digests that change only where rendered content changed, driver choice, and errors.
// Regenerate the golden files with AIRLOCK_UPDATE_GOLDEN=1 ./install_test.
#include "installer/install/planner.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "common/sha256.h"
#include "installer/install/tests/test_site.h"

namespace airlock::install {
namespace {

using testing::all_hosts;
using testing::plan_site;
using testing::read_text;
using testing::shipped_playbook;
using testing::site_facts;
using testing::site_inventory;
using testing::site_manifest;

Playbook install_playbook() {
  auto pb = shipped_playbook("install.yaml");
  EXPECT_TRUE(pb.ok()) << pb.error().describe();
  return pb.ok() ? std::move(pb).value() : Playbook{};
}

const PlanStep* find_step(const Plan& plan, const std::string& node, const std::string& id) {
  for (const auto& ph : plan.phases) {
    auto it = ph.steps.find(node);
    if (it == ph.steps.end()) continue;
    for (const auto& s : it->second) {
      if (s.id == id) return &s;
    }
  }
  return nullptr;
}

// node -> step id -> digest
std::map<std::string, std::map<std::string, std::string>> digests(const Plan& plan) {
  std::map<std::string, std::map<std::string, std::string>> out;
  for (const auto& ph : plan.phases) {
    for (const auto& [node, steps] : ph.steps) {
      for (const auto& s : steps) out[node][s.id] = s.digest;
    }
  }
  return out;
}

void check_golden(const std::string& name, const std::string& got) {
  std::string path = std::string(AIRLOCK_SOURCE_DIR) + "/installer/install/tests/golden/" + name;
  if (std::getenv("AIRLOCK_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(path) << got;
    GTEST_SKIP() << "wrote " << path;
  }
  EXPECT_EQ(read_text(path), got) << "golden " << path << " differs; AIRLOCK_UPDATE_GOLDEN=1 regenerates it";
}

TEST(Planner, Snapshot) {
  Plan plan = plan_site(install_playbook());
  check_golden("install_plan.txt", plan.render_text());
  check_golden("install_plan.json", plan.to_json().dump(2) + "\n");
}

TEST(Planner, Deterministic) {
  Playbook pb = install_playbook();
  std::string a = plan_site(pb).to_json().dump();
  std::string b = plan_site(install_playbook()).to_json().dump();
  EXPECT_EQ(a, b);
}

TEST(Planner, ResolvesPhasesStepsAndBlobs) {
  Plan plan = plan_site(install_playbook());
  EXPECT_EQ(plan.release, "site-42");
  ASSERT_EQ(plan.phases.size(), 5u);
  EXPECT_EQ(plan.phases[0].nodes, (std::vector<std::string>{"mgr1", "gpu1", "gpu2", "gpu3"}));
  EXPECT_EQ(plan.phases[2].nodes, std::vector<std::string>{"mgr1"});
  EXPECT_EQ(plan.phases[3].nodes, (std::vector<std::string>{"gpu1", "gpu2", "gpu3"}));
  EXPECT_FALSE(plan.phases[3].stop_on_failure);
  EXPECT_EQ(plan.phases[3].max_fail, "10%");

  const PlanStep* tmpl = find_step(plan, "gpu2", "agents.1.template");
  ASSERT_NE(tmpl, nullptr);
  EXPECT_EQ(tmpl->params["dest"], "/etc/airlock/agent.conf");
  EXPECT_NE(tmpl->params["content"].get<std::string>().find("manager: 10.0.0.10:8081\nname: gpu2\nlisten: 10.0.1.2:8082\n"),
            std::string::npos)
      << tmpl->params["content"];
  EXPECT_EQ(tmpl->defined_at, "playbooks/install.yaml:51:9");

  // files: the uncompressed content of the service binary.
  const PlanStep* files = find_step(plan, "gpu1", "agents.0.files");
  ASSERT_NE(files, nullptr);
  EXPECT_EQ(files->params["files"][0]["blob"], "sha256:" + std::string(64, 'c'));
  EXPECT_EQ(files->params["release"], "site-42");

  // drivers: the H100 nodes get the NVIDIA layer (another version is loaded: reboot), the Gaudi2
  // node the Habana one.
  const PlanStep* d1 = find_step(plan, "gpu1", "drivers.0.driver");
  ASSERT_NE(d1, nullptr);
  EXPECT_EQ(d1->params["component"], "nvidia-test");
  EXPECT_EQ(d1->params["method"], "script");
  EXPECT_EQ(d1->params["reboot_hint"], true);
  EXPECT_EQ(find_step(plan, "gpu3", "drivers.0.driver")->params["component"], "habana-test");

  // stage: what the node's later steps use, each blob once.
  const PlanStep* st = find_step(plan, "gpu1", "stage.0.stage");
  ASSERT_NE(st, nullptr);
  ASSERT_EQ(st->params["blobs"].size(), 2u);
  EXPECT_EQ(st->params["blobs"][0]["component"], "nvidia-test");
  EXPECT_EQ(st->params["blobs"][1]["component"], "testsvc");
  EXPECT_EQ(find_step(plan, "mgr1", "stage.0.stage")->params["blobs"].size(), 1u);
  EXPECT_EQ(plan.blobs.at("gpu3")[0].component, "habana-test");
  EXPECT_EQ(plan.blobs.at("mgr1").size(), 1u);
}

TEST(Planner, DigestsChangeOnlyWhereContentChanged) {
  Playbook pb = install_playbook();
  inventory::Inventory inv = site_inventory();
  auto before = make_plan(pb, inv, all_hosts(inv), site_facts(), site_manifest());
  ASSERT_TRUE(before.ok());
  // gpu2 listens on another port: its agent.conf changes, so do its service and health steps
  // (they cover the earlier steps of the phase); nothing changes on any other node.
  inventory::Inventory changed = site_inventory();
  changed.hosts[2].vars["agent_port"] = 9999;
  auto after = make_plan(pb, changed, all_hosts(changed), site_facts(), site_manifest());
  ASSERT_TRUE(after.ok()) << after.error().describe();
  auto a = digests(*before), b = digests(*after);
  for (const auto& [node, steps] : a) {
    for (const auto& [id, digest] : steps) {
      bool should_change = node == "gpu2" && (id == "agents.1.template" || id == "agents.3.service" || id == "agents.4.health");
      EXPECT_EQ(digest != b[node][id], should_change) << node << " " << id;
    }
  }
  // The manager's address is in every agent's config: moving it changes all agents' templates.
  inventory::Inventory moved = site_inventory();
  moved.hosts[0].address = "10.0.0.99";
  auto m = make_plan(pb, moved, all_hosts(moved), site_facts(), site_manifest());
  ASSERT_TRUE(m.ok());
  auto c = digests(*m);
  for (const char* node : {"gpu1", "gpu2", "gpu3"}) EXPECT_NE(a[node]["agents.1.template"], c[node]["agents.1.template"]);
  EXPECT_EQ(a["gpu1"]["agents.0.files"], c["gpu1"]["agents.0.files"]);
}

TEST(Planner, SelectionNarrowsNodesButNotTheContext) {
  Playbook pb = install_playbook();
  inventory::Inventory inv = site_inventory();
  std::vector<const inventory::Host*> only = {&inv.hosts[3]};  // gpu3
  auto plan = make_plan(pb, inv, only, site_facts(), site_manifest());
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  EXPECT_TRUE(plan->phases[2].nodes.empty());
  EXPECT_EQ(plan->phases[3].nodes, std::vector<std::string>{"gpu3"});
  // The manager is not selected but its address still renders into the agent's config.
  EXPECT_NE(find_step(*plan, "gpu3", "agents.1.template")->params["content"].get<std::string>().find("10.0.0.10:8081"),
            std::string::npos);
}

TEST(Planner, ErrorsNameStepAndNode) {
  Playbook pb = install_playbook();
  inventory::Inventory inv = site_inventory();
  bundle::Manifest m = site_manifest();
  m.components[0].name = "other";  // no testsvc
  auto r = make_plan(pb, inv, all_hosts(inv), site_facts(), m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().describe(),
            "playbooks/install.yaml:33:9: step manager.0.files on node mgr1: the bundle has no component `testsvc`");

  // A template path missing for one node: no manager in the inventory.
  auto noman = inventory::parse_inventory("hosts:\n  gpu1: {address: 10.0.1.1, roles: [agent]}\n", "s.yaml");
  ASSERT_TRUE(noman.ok());
  r = make_plan(pb, *noman, all_hosts(*noman), site_facts(), site_manifest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().describe(),
            "playbooks/install.yaml:51:9: step agents.1.template on node gpu1: "
            "playbooks/templates/agent.conf:3:10: no value for `roles.manager.first.address`");

  // The driver step needs facts.
  auto facts = site_facts();
  facts.erase("gpu2");
  r = make_plan(pb, inv, all_hosts(inv), facts, site_manifest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().describe(),
            "playbooks/install.yaml:26:9: step drivers.0.driver on node gpu2: no probe facts for this node: the "
            "driver step chooses by hardware (probe it first)");
}

TEST(Planner, DriverSkipsAndChoices) {
  Playbook pb = install_playbook();
  inventory::Inventory inv = site_inventory();
  auto facts = site_facts();
  // gpu1 already runs the layer's version; gpu2 has no accelerator at all.
  facts["gpu1"]["gpu_driver"]["nvidia_version"] = "550.54.15";
  facts["gpu2"]["pci"] = nlohmann::json::array();
  auto plan = make_plan(pb, inv, all_hosts(inv), facts, site_manifest());
  ASSERT_TRUE(plan.ok()) << plan.error().describe();
  EXPECT_EQ(find_step(*plan, "gpu1", "drivers.0.driver")->params["skip_reason"], "550.54.15 already loaded");
  EXPECT_EQ(find_step(*plan, "gpu2", "drivers.0.driver")->params["skip_reason"],
            "nvidia-test: no NVIDIA GPU (PCI vendor 10de); habana-test: no Habana Gaudi device (PCI vendor 1da3)");
  // Skipped layers are not staged.
  EXPECT_EQ(find_step(*plan, "gpu1", "stage.0.stage")->params["blobs"].size(), 1u);

  // Two layers for one node: the playbook must name them.
  bundle::Manifest m = site_manifest();
  m.components[2].install["select"] = {{"pci_vendor", "10de"}};
  auto r = make_plan(pb, inv, all_hosts(inv), site_facts(), m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().describe().find("several driver layers match this node (nvidia-test, habana-test)"),
            std::string::npos)
      << r.error().describe();
}

TEST(Planner, WhenAndHostSelectors) {
  auto pb = shipped_playbook("uninstall.yaml");
  ASSERT_TRUE(pb.ok()) << pb.error().describe();
  Plan keep = plan_site(*pb);
  EXPECT_EQ(find_step(keep, "gpu1", "agents.2.remove"), nullptr);
  inventory::Inventory inv = site_inventory();
  for (auto& h : inv.hosts) h.vars["purge_releases"] = true;
  auto purge = make_plan(*pb, inv, all_hosts(inv), site_facts(), site_manifest());
  ASSERT_TRUE(purge.ok()) << purge.error().describe();
  const PlanStep* rm = find_step(*purge, "gpu1", "agents.2.remove");
  ASSERT_NE(rm, nullptr);
  EXPECT_EQ(rm->params["paths"], nlohmann::json({"/opt/airlock/current", "/opt/airlock/releases"}));

  inventory::Host h;
  h.name = "n1";
  h.roles = {"agent"};
  h.groups = {"rack1"};
  h.labels = {{"gpu", "h100"}};
  EXPECT_TRUE(host_matches(h, {"all"}));
  EXPECT_TRUE(host_matches(h, {"manager", "agent"}));
  EXPECT_TRUE(host_matches(h, {"rack1"}));
  EXPECT_TRUE(host_matches(h, {"gpu=h100"}));
  EXPECT_TRUE(host_matches(h, {"n1"}));
  EXPECT_FALSE(host_matches(h, {"gpu=a100", "manager", "gpu"}));
}

TEST(Planner, StepDigestIsOfCanonicalJson) {
  nlohmann::json p = {{"release", "r"}};
  EXPECT_EQ(step_digest("switch", p), sha256_digest(R"({"action":"switch","params":{"release":"r"}})"));
}

}  // namespace
}  // namespace airlock::install
