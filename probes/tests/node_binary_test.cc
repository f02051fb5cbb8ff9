// End-to-end tests of the built airlock-node binary: probe this very machine through HostRoot
// and a captured tree through --root, and check the JSON document's shape.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "probes/tests/run_cmd.h"

namespace {

using airlock::probes::test::CmdResult;
using airlock::probes::test::run_cmd;

TEST(NodeBinary, ProbesThisMachine) {
  CmdResult r = run_cmd(std::string(AIRLOCK_NODE_BIN) + " probe --timeout 30");
  ASSERT_EQ(r.rc, 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out.substr(0, 400);
  EXPECT_EQ(j["schema"], "airlock.facts/v1");
  ASSERT_TRUE(j.contains("pci"));
  const auto& pci = j["pci"];
  // Either a PCI list (non-empty on any machine with a PCI bus) or the reason it is missing.
  if (pci.is_array()) {
    for (const auto& d : pci) EXPECT_TRUE(d.contains("bdf"));
  } else {
    ASSERT_TRUE(pci.is_object());
    EXPECT_TRUE(pci["error"].is_string());
  }
  for (const char* k : {"host", "cpu_memory", "gpus", "accelerators", "rdma", "net", "block",
                        "mounts", "collected_at_ns"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_GT(j["collected_at_ns"].get<long long>(), 0LL);
}

TEST(NodeBinary, ProbesACapturedRootAndRejectsBadArguments) {
  CmdResult r = run_cmd(std::string(AIRLOCK_NODE_BIN) + " probe --root '" + AIRLOCK_NODE_FIXTURES +
              "/32intel64-2p8co2t+8ve'");
  ASSERT_EQ(r.rc, 0);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["accelerators"].size(), 8u);
  EXPECT_EQ(run_cmd(std::string(AIRLOCK_NODE_BIN) + " probe --timeout x 2>/dev/null").rc, 2);
  EXPECT_EQ(run_cmd(std::string(AIRLOCK_NODE_BIN) + " probe --root /nonexistent-dir 2>/dev/null").rc, 2);
  EXPECT_EQ(run_cmd(std::string(AIRLOCK_NODE_BIN) + " bogus 2>/dev/null").rc, 2);
  CmdResult v = run_cmd(std::string(AIRLOCK_NODE_BIN) + " version");
  EXPECT_EQ(v.rc, 0);
  EXPECT_NE(v.out.find("airlock.facts/v1"), std::string::npos);
}

}  // namespace
