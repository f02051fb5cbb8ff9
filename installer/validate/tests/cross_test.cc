// Cross-node checks: the most common value is the reference and outliers fail or warn on their
// nodes; matrices carry every value; scopes by profile or by the rules' selectors; clock skew
// from the state database; nodes without facts.
#include <gtest/gtest.h>

#include "installer/validate/tests/test_facts.h"

namespace airlock::validate::test {
namespace {

std::vector<std::pair<std::string, json>> three(const json& odd) {
  json a = synthetic("h100-8x-ndr");
  return {{"a", a}, {"b", a}, {"c", odd}};
}

const Matrix* matrix(const Report& r, const std::string& check, const std::string& title) {
  for (const auto& m : r.matrices) {
    if (m.check == check && m.title == title) return &m;
  }
  return nullptr;
}

TEST(Cross, DriverMismatchFailsTheOutlier) {
  auto r = run(three(synthetic("h100-degraded-link")));
  auto fs = findings(r, "c", "gpu.driver.mismatch");
  ASSERT_EQ(fs.size(), 1u) << dump(r, "c");
  EXPECT_EQ(fs[0].severity, Severity::kFail);
  EXPECT_EQ(fs[0].message, "NVIDIA driver: 535.183.01 (proprietary) here, 550.90.07 (open) on 2 of 3 nodes (profile default)");
  EXPECT_EQ(fs[0].evidence[0].path, "gpu_driver.nvidia_version");
  EXPECT_TRUE(findings(r, "a", "gpu.driver.mismatch").empty());
  EXPECT_TRUE(passed(r, "a", "gpu.driver.mismatch"));
  const Matrix* m = matrix(r, "gpu.driver.mismatch", "NVIDIA driver");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->rows.size(), 2u);
  EXPECT_EQ(m->rows[0].value, "550.90.07 (open)");
  EXPECT_FALSE(m->rows[0].outlier);
  EXPECT_EQ(m->rows[1].nodes, std::vector<std::string>{"c"});
  EXPECT_TRUE(m->rows[1].outlier);
}

TEST(Cross, KernelFirmwareHcaFirmwareMtuLinkLayer) {
  json c = synthetic("h100-8x-ndr");
  c["host"]["kernel_release"] = "5.15.0-119-generic";
  c["gpus"][0]["information"]["Video BIOS"] = "96.00.74.00.01";
  c["rdma"][0]["fw_ver"] = "28.38.1000";
  c["rdma"][1]["ports"][0]["link_layer"] = "Ethernet";
  for (auto& n : c["net"]) {
    if (n["name"] == "eno1np0") n["mtu"] = 9000;
  }
  c["ofed_version"] = "MLNX_OFED_LINUX-23.10-1.1.9.0";
  json ab = synthetic("h100-8x-ndr");
  ab["ofed_version"] = "MLNX_OFED_LINUX-24.04-0.6.6.0";
  auto r = run({{"a", ab}, {"b", ab}, {"c", c}});
  EXPECT_EQ(findings(r, "c", "kernel.mismatch").at(0).message,
            "Kernel: 5.15.0-119-generic here, 5.15.0-113-generic on 2 of 3 nodes (profile default)");
  EXPECT_EQ(findings(r, "c", "firmware.mismatch").at(0).message,
            "GPU VBIOS NVIDIA H100 80GB HBM3: 96.00.74.00.01, 96.00.99.00.01 here, 96.00.99.00.01 on 2 of 3 nodes (profile default)");
  EXPECT_EQ(findings(r, "c", "rdma.fw.mismatch").at(0).message,
            "HCA firmware MT4129: 28.38.1000 MT_0000000838, 28.39.1002 MT_0000000838 here, 28.39.1002 MT_0000000838 on 2 of 3 "
            "nodes (profile default)");
  auto ll = findings(r, "c", "rdma.port.link_layer");
  ASSERT_EQ(ll.size(), 1u) << dump(r, "c");
  EXPECT_EQ(ll[0].message, "RDMA link layer mlx5_1/1: Ethernet here, InfiniBand on 2 of 3 nodes (profile default)");
  EXPECT_EQ(ll[0].evidence[0].path, "rdma[mlx5_1/1].link_layer");
  auto mtu = findings(r, "c", "net.mtu.mismatch");
  ASSERT_EQ(mtu.size(), 1u);
  EXPECT_EQ(mtu[0].message, "MTU eno1np0: 9000 here, 1500 on 2 of 3 nodes (profile default)");
  EXPECT_EQ(mtu[0].evidence[0].path, "net[eno1np0].mtu");
  EXPECT_EQ(findings(r, "c", "rdma.ofed.mismatch").at(0).message,
            "OFED: MLNX_OFED_LINUX-23.10-1.1.9.0 here, MLNX_OFED_LINUX-24.04-0.6.6.0 on 2 of 3 nodes (profile default)");
}

TEST(Cross, HeterogeneousAcceleratorsAcrossNodes) {
  auto r = run({{"a", synthetic("gaudi2")}, {"b", synthetic("gaudi2")}, {"c", synthetic("furiosa-rngd")}});
  EXPECT_EQ(findings(r, "c", "accel.model.heterogeneous").at(0).message,
            "Accelerators: 8 x furiosa RNGD here, 8 x habana Gaudi2 on 2 of 3 nodes (profile default)");
}

TEST(Cross, ScopesAreProfilesAndNoMajorityIsSaid) {
  json a = synthetic("gaudi2"), b = synthetic("furiosa-rngd");  // kernels 5.15.0-101 and -113
  // Different profiles: never compared.
  std::vector<NodeInput> in(2);
  in[0].name = "a";
  in[0].facts = &a;
  in[0].roles = {"gaudi"};
  in[1].name = "b";
  in[1].facts = &b;
  auto rs = rules("profiles:\n  - {name: gaudi, match: [gaudi]}\n");
  auto r = evaluate(in, rs, {});
  EXPECT_TRUE(findings(r, "a", "kernel.mismatch").empty());
  EXPECT_EQ(node(r, "a").profile, "gaudi");
  EXPECT_EQ(node(r, "b").profile, "default");
  // One scope, two values, one node each: both are reported.
  auto all = evaluate(in, rules("cross_node: {scope: all}\n"), {});
  EXPECT_EQ(findings(all, "a", "kernel.mismatch").at(0).message,
            "Kernel: 5.15.0-101-generic here; 2 values in all nodes, none on most nodes");
  EXPECT_EQ(findings(all, "b", "kernel.mismatch").size(), 1u);
}

TEST(Cross, IdenticalFactsFromTheRulesFile) {
  json c = synthetic("h100-8x-ndr");
  c["host"]["dmi"]["bios_version"] = "1.9";
  auto rs = rules(R"(cross_node:
  identical:
    - {id: consistency.bios, facts: [host.dmi.bios_version], severity: fail}
    - {facts: ["rdma[*].ports[*].rate"]}
)");
  auto r = run(three(c), rs);
  auto fs = findings(r, "c", "consistency.bios");
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].severity, Severity::kFail);
  EXPECT_EQ(fs[0].message, "host.dmi.bios_version: 1.9 here, 2.1 on 2 of 3 nodes (profile default)");
  EXPECT_TRUE(passed(r, "a", "consistency.rdma[*].ports[*].rate"));
  EXPECT_EQ(r.exit_code(), 2);
}

TEST(Cross, FabricMtu) {
  json c = synthetic("h100-8x-ndr");
  for (auto& n : c["net"]) {
    if (n["name"] == "ibp25s0") n["mtu"] = 2044;
  }
  auto r = run(three(c), rules("cross_node:\n  fabrics:\n    - {name: ib, interfaces: ['ib*'], mtu: 4092}\n"));
  auto fs = findings(r, "c", "net.mtu");
  ASSERT_EQ(fs.size(), 1u) << dump(r, "c");
  EXPECT_EQ(fs[0].message, "interface ibp25s0 (fabric ib) has MTU 2044, the fabric requires 4092");
  EXPECT_EQ(findings(r, "c", "net.mtu.mismatch").at(0).message,
            "MTU (fabric ib) ibp25s0: 2044 here, 4092 on 2 of 3 nodes (profile default)");
}

TEST(Cross, ClockSkewFromTheStateDatabase) {
  json f = synthetic("gaudi2");
  std::vector<NodeInput> in(2);
  in[0].name = "fast";
  in[0].facts = &f;
  in[0].has_skew = true;
  in[0].skew_ns = 450'000'000;
  in[0].skew_error_ns = 20'000'000;
  in[1].name = "file";
  in[1].facts = &f;
  in[1].source = "facts/file.json";
  auto r = evaluate(in, builtin_rules(), {});
  EXPECT_EQ(findings(r, "fast", "time.skew").at(0).message, "clock off by 450 ms (+/- 20 ms), limit 300 ms");
  EXPECT_EQ(not_checked(r, "file", "time.skew"),
            "no clock reading: facts read from facts/file.json carry no installer timestamp (use the state database)");
  in[0].skew_ns = -250'000'000;
  EXPECT_TRUE(passed(evaluate(in, builtin_rules(), {}), "fast", "time.skew"));
}

TEST(Cross, NodesWithoutFactsFail) {
  std::vector<NodeInput> in(2);
  in[0].name = "never-probed";
  in[1].name = "broken";
  in[1].load_error = "facts/broken.json: not JSON: parse error at byte 1";
  auto r = evaluate(in, builtin_rules(), {});
  EXPECT_EQ(findings(r, "never-probed", "facts.missing").at(0).message,
            "no facts for this node: run `airlock probe -i INVENTORY` first");
  EXPECT_EQ(findings(r, "broken", "facts.invalid").at(0).message, "facts/broken.json: not JSON: parse error at byte 1");
  EXPECT_EQ(r.exit_code(), 2);
}

}  // namespace
}  // namespace airlock::validate::test
