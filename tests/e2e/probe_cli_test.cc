// `airlock probe --local|--root` through the CLI: the readable summary on a real captured
// machine (hwloc's 32intel64-2p8co2t+8ve: 8 NEC vector engines, an i40e NIC trained at
// 2.5 GT/s x1 against 8 GT/s, NFS mounts) and the JSON of this very machine.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/e2e/cli_harness.h"

namespace airlock::test {
namespace {

TEST(ProbeCli, SummaryOfACapturedMachine) {
  auto r = airlock({"probe", "--root", std::string(AIRLOCK_NODE_FIXTURES) + "/32intel64-2p8co2t+8ve"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("32 logical CPUs, 2 socket(s), 2 NUMA node(s)"), std::string::npos) << r.out;
  size_t engines = 0;
  for (size_t pos = 0; (pos = r.out.find("SX-Aurora Vector Engine", pos)) != std::string::npos; ++pos) ++engines;
  EXPECT_EQ(engines, 8u);
  EXPECT_NE(r.out.find("0000:60:00.0 8086:37d2  2.5 GT/s x1, capable of 8 GT/s x1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/rwthfs/rz/isi/home      nfs      134.61.192.194:/home"), std::string::npos) << r.out;
}

TEST(ProbeCli, LocalJsonHasTheSchema) {
  auto r = airlock({"probe", "--local", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["schema"], "airlock.facts/v1");
  EXPECT_TRUE(j["pci"].is_array() || j["pci"].contains("error"));
  EXPECT_TRUE(j["cpu_memory"]["logical_cpus"].is_number());
}

TEST(ProbeCli, NeedsATarget) {
  auto r = airlock({"probe"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("give -i INVENTORY (the fleet), --local (this machine) or --root DIR"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace airlock::test
