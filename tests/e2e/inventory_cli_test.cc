// `airlock inventory show` through the CLI: a range expands into one row per host with its
// address, -g/-w select, --json carries everything, and a bad file exits 2 with
// "file:line:col: message: `text`".
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/cli_harness.h"

namespace airlock::test {
namespace {

const char* kInventory = R"(defaults:
  user: ops
  bastion: jump1
bastions:
  jump1: {address: 10.0.0.2, host_key: "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"}
groups:
  gpu: {roles: [agent], labels: {gpu: h100}}
hosts:
  mgr1: {address: 10.0.0.10, roles: [manager, scheduler], bastion: ""}
  gpu[001-004]: {address: "10.0.1.[1-4]", groups: [gpu], port: 2222}
  installer: {local: true, roles: [registry]}
)";

TEST(InventoryCli, ShowExpandsRanges) {
  TempDir dir;
  write_all(dir / "inv.yaml", kInventory);
  auto r = airlock({"inventory", "show", "-i", dir / "inv.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("NAME       ADDRESS        USER  ROLES              LABELS    BASTION  KEYS\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mgr1       10.0.0.10:22   ops   manager,scheduler  -         -        0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gpu003     10.0.1.3:2222  ops   agent              gpu=h100  jump1    0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("installer  local          ops   registry           -         -        0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bastion jump1: 10.0.0.2:22, user ops, 1 pinned key(s)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("6 hosts: gpu[001-004],installer,mgr1\n"), std::string::npos) << r.out;
}

TEST(InventoryCli, SelectAndJson) {
  TempDir dir;
  write_all(dir / "inv.yaml", kInventory);
  auto r = airlock({"inventory", "show", "-i", dir / "inv.yaml", "-g", "agent", "-w", "gpu[002-003],mgr1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["nodeset"], "gpu[002-003]");
  ASSERT_EQ(j["hosts"].size(), 2u);
  EXPECT_EQ(j["hosts"][1]["name"], "gpu003");
  EXPECT_EQ(j["hosts"][1]["address"], "10.0.1.3");
  EXPECT_EQ(j["hosts"][1]["port"], 2222);
  EXPECT_EQ(j["hosts"][1]["bastion"], "jump1");
  EXPECT_EQ(j["hosts"][1]["labels"]["gpu"], "h100");
  EXPECT_EQ(j["hosts"][1]["defined_at"], dir / "inv.yaml:10:3");

  auto typo = airlock({"inventory", "show", "-i", dir / "inv.yaml", "-g", "agnet"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("-g agnet: no host in"), std::string::npos) << typo.err;
  auto unknown = airlock({"inventory", "show", "-i", dir / "inv.yaml", "-w", "gpu[004-006]"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("-w names hosts that are not in " + dir / "inv.yaml" + ": gpu[005-006]"), std::string::npos)
      << unknown.err;
}

TEST(InventoryCli, ErrorsNameFileLineAndColumn) {
  TempDir dir;
  write_all(dir / "inv.yaml", "hosts:\n  mgr1: {address: 10.0.0.10}\n  \"gpu[3-1]\": {address: \"10.0.1.[1-3]\"}\n");
  auto r = airlock({"inventory", "show", "-i", dir / "inv.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(dir / "inv.yaml:3:8: host name: range end 1 is below its start 3: `gpu[3-1]`"), std::string::npos)
      << r.err;

  write_all(dir / "typo.yaml", "hosts:\n  gpu[1-2]:\n    address: 10.0.1.[1-2]\n    rolse: [agent]\n");
  auto t = airlock({"inventory", "show", "-i", dir / "typo.yaml", "--json"});
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_NE(t.err.find(dir / "typo.yaml:4:5: unknown key in host gpu[1-2]"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("`rolse`"), std::string::npos) << t.err;
  auto j = nlohmann::json::parse(t.out);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["error"]["code"], "parse");

  auto missing = airlock({"inventory", "show", "-i", dir / "nope.yaml"});
  EXPECT_EQ(missing.exit_code, 3);
}

}  // namespace
}  // namespace airlock::test
