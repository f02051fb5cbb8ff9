// `airlock validate --facts DIR` through the CLI: facts files from the synthetic fixtures and a
// real captured machine, the exit codes (0 pass, 1 warnings, 2 failures, enforced warnings,
// usage errors), and the HTML/JSON/JUnit files with their real content. The HTML is checked
// with `tidy -errors` when Debian's tidy is installed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/cli_harness.h"

namespace airlock::test {
namespace {

std::string fixture(const std::string& name) {
  return read_all(std::string(AIRLOCK_FIXTURES) + "/nodes/synthetic/" + name + ".expected.json");
}

// A facts directory with one <node>.json per (node, fixture).
void facts_dir(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& nodes) {
  for (const auto& [node, name] : nodes) write_all(dir + "/" + node + ".json", fixture(name));
}

TEST(ValidateCli, FailingFleetWritesEveryReport) {
  TempDir dir;
  std::string facts = dir / "facts";
  run({"mkdir", "-p", facts});
  facts_dir(facts, {{"gpu001", "h100-8x-ndr"}, {"gpu002", "h100-8x-ndr"}, {"gpu003", "h100-degraded-link"},
                    {"gpu004", "ib-port-init"}, {"gpu005", "nouveau"}});
  // A real captured machine: the i40e NIC trained at 2.5 GT/s against 8 GT/s.
  auto probe = airlock({"probe", "--root", std::string(AIRLOCK_NODE_FIXTURES) + "/32intel64-2p8co2t+8ve", "--json"});
  ASSERT_EQ(probe.exit_code, 0) << probe.err;
  write_all(facts + "/ve01.json", probe.out);
  write_all(facts + "/broken.json", "{not json");

  auto r = airlock({"validate", "--facts", facts, "--html", dir / "r.html", "--json", dir / "r.json", "--junit", dir / "r.xml"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL  gpu003  pcie.link.width_degraded 0000:5c:00.0: PCIe link 0000:5b:00.0 -> 0000:5c:00.0 (NVIDIA "
                       "GPU 10de:2330 (nvidia)) trained at x8, capable of x16"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("FAIL  gpu004  rdma.port.not_active mlx5_5/1: port mlx5_5/1 is 2: INIT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAIL  ve01  pcie.link.speed_degraded 0000:60:00.0: PCIe link 0000:5f:03.0 -> 0000:60:00.0 (NIC "
                       "8086:37d2 (i40e)) at 2.5 GT/s, capable of 8 GT/s"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("FAIL  broken  facts.invalid: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("validate: 7 node(s): 5 fail"), std::string::npos) << r.out;

  auto j = nlohmann::json::parse(read_all(dir / "r.json"));
  EXPECT_EQ(j["schema"], "airlock.validate/v1");
  EXPECT_EQ(j["summary"]["exit_code"], 2);
  bool nouveau = false;
  for (const auto& n : j["nodes"]) {
    if (n["name"] != "gpu005") continue;
    for (const auto& f : n["findings"]) {
      if (f["check"] == "gpu.nouveau" && f["evidence"][0]["value"] == "nouveau") nouveau = true;
    }
  }
  EXPECT_TRUE(nouveau);

  std::string x = read_all(dir / "r.xml");
  EXPECT_NE(x.find("<testsuite name=\"gpu003\""), std::string::npos);
  EXPECT_NE(x.find("name=\"pcie.link.width_degraded\"><failure type=\"fail\""), std::string::npos);

  std::string h = read_all(dir / "r.html");
  EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(h.find("pci[0000:5c:00.0].upstream_links[2].current_width</code> = <code>8</code>"), std::string::npos);
  EXPECT_NE(h.find("535.183.01 (proprietary)</code> <span class=\"mark\">outlier</span>"), std::string::npos);
  EXPECT_NE(h.find("Not checked, and why"), std::string::npos);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("<link"), std::string::npos);
  EXPECT_EQ(h.find("<img"), std::string::npos);
  if (have_tool("tidy")) {
    auto t = run({"tidy", "-errors", "-q", dir / "r.html"});
    EXPECT_EQ(t.exit_code, 0) << t.out << t.err;
  }
}

TEST(ValidateCli, CleanNodePassesWarningsExitOne) {
  TempDir dir;
  facts_dir(dir.path(), {{"n1", "h100-8x-ndr"}});
  auto r = airlock({"validate", "--facts", dir.path()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("INFO  n1\n"), std::string::npos) << r.out;

  TempDir mixed;
  facts_dir(mixed.path(), {{"a", "gaudi2"}, {"b", "gaudi2"}, {"c", "furiosa-rngd"}});
  auto w = airlock({"validate", "--facts", mixed.path()});
  EXPECT_EQ(w.exit_code, 1) << w.out;
  EXPECT_NE(w.out.find("WARN  c  "), std::string::npos) << w.out;
  EXPECT_EQ(airlock({"validate", "--facts", mixed.path(), "--enforce-warnings"}).exit_code, 2);
  auto ig = airlock({"validate", "--facts", mixed.path(), "--ignore", "accel.model.heterogeneous", "--ignore", "kernel.mismatch"});
  EXPECT_EQ(ig.exit_code, 0) << ig.out;
}

TEST(ValidateCli, InventoryRulesAndUsageErrors) {
  TempDir dir;
  facts_dir(dir.path(), {{"gpu1", "h100-8x-ndr"}});
  write_all(dir / "inv.yaml", "hosts:\n  gpu[1-2]: {address: \"10.0.0.[1-2]\", roles: [agent]}\n");
  write_all(dir / "rules.yaml", "profiles:\n  - name: h100\n    match: [agent]\n    accelerators: {vendor: nvidia, count: 8}\n");
  auto r = airlock({"validate", "-i", dir / "inv.yaml", "--facts", dir.path(), "--rules", dir / "rules.yaml", "--json", "-"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["nodes"][0]["profile"], "h100");
  EXPECT_EQ(j["nodes"][1]["findings"][0]["check"], "facts.missing");

  write_all(dir / "bad.yaml", "profiles:\n  - name: h100\n    acelerators: {count: 8}\n");
  auto bad = airlock({"validate", "--facts", dir.path(), "--rules", dir / "bad.yaml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find(dir / "bad.yaml" + ":3:5: unknown key in profile h100"), std::string::npos) << bad.err;
  auto ig = airlock({"validate", "--facts", dir.path(), "--ignore", "no.such.check"});
  EXPECT_EQ(ig.exit_code, 2);
  EXPECT_NE(ig.err.find("--ignore no.such.check: unknown check id"), std::string::npos) << ig.err;
  auto none = airlock({"validate"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("give -i INVENTORY (facts from the state database) or --facts DIR"), std::string::npos) << none.err;
}

}  // namespace
}  // namespace airlock::test
