// The rules file: the example parses, profiles merge over the defaults and are chosen by role,
// label, group or node set, and every mistake is "file:line:col: message: `text`".
#include <gtest/gtest.h>

#include "installer/validate/rules.h"
#include "installer/validate/tests/test_facts.h"

namespace airlock::validate::test {
namespace {

std::string error_of(const std::string& yaml) {
  auto r = parse_rules(yaml, "rules.yaml");
  return r.ok() ? "(parsed)" : r.error().message;
}

TEST(Rules, TheExampleParses) {
  auto r = load_rules(std::string(AIRLOCK_FIXTURES) + "/../../examples/rules.yaml");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  ASSERT_EQ(r->profiles.size(), 3u);
  const Profile& p = r->profiles[0];
  EXPECT_EQ(p.name, "h100-agent");
  EXPECT_EQ(p.accel_count, 8);
  EXPECT_EQ(p.min_memory->bytes, 1ull << 40);
  EXPECT_EQ(p.rdma_min_rate_gbps, 400);
  EXPECT_EQ(p.mounts.size(), 2u);
  EXPECT_EQ(r->profiles[2].nodes, (std::vector<std::string>{"mgr1", "mgr2", "mgr3"}));
  EXPECT_EQ(r->clock_skew_max_ns, 300'000'000);
  EXPECT_EQ(r->identical.size(), 2u);
  EXPECT_EQ(r->fabrics.size(), 2u);
  EXPECT_EQ(r->ignore, std::vector<std::string>{"host.virtualization"});
}

TEST(Rules, ProfilesMergeOverDefaultsFirstMatchWins) {
  auto r = rules(R"(defaults:
  free: {/: 20GiB}
  modules: [br_netfilter]
profiles:
  - name: gpu
    match: [agent, "gpu=h100"]
    free: {/var/lib/docker: 100G}
    modules: [nvidia_peermem]
  - name: mgr
    nodes: "mgr[1-2]"
    cpu: {min_logical: 16}
)");
  Profile p = profile_for(r, "n1", {}, {}, {{"gpu", "h100"}});
  EXPECT_EQ(p.name, "gpu");
  EXPECT_EQ(p.free_bytes.at("/").bytes, 20ull << 30);
  EXPECT_EQ(p.free_bytes.at("/var/lib/docker").bytes, 100'000'000'000ull);
  EXPECT_EQ(p.modules, (std::vector<std::string>{"br_netfilter", "nvidia_peermem"}));
  EXPECT_EQ(profile_for(r, "x", {"agent"}, {}, {}).name, "gpu");
  EXPECT_EQ(profile_for(r, "mgr2", {}, {}, {}).min_logical_cpus, 16);
  Profile none = profile_for(r, "mgr3", {"storage"}, {}, {});
  EXPECT_EQ(none.name, "default");
  EXPECT_EQ(none.modules, std::vector<std::string>{"br_netfilter"});  // the file's defaults replace the built-in list
}

TEST(Rules, SizesAndDurations) {
  EXPECT_EQ(parse_size("10GiB"), 10ull << 30);
  EXPECT_EQ(parse_size("1.5TB"), 1'500'000'000'000ull);
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("2 MiB"), 2u << 20);
  EXPECT_FALSE(parse_size("ten"));
  EXPECT_FALSE(parse_size("10Gb"));
  EXPECT_EQ(parse_duration_ns("300ms"), 300'000'000);
  EXPECT_EQ(parse_duration_ns("2s"), 2'000'000'000);
  EXPECT_FALSE(parse_duration_ns("5 minutes"));
}

TEST(Rules, ErrorsNameFileLineColumnAndText) {
  struct Case {
    const char* yaml;
    const char* error;
  };
  const Case cases[] = {
      {"profile:\n  - name: x\n", "rules.yaml:1:1: unknown key in the rules file (expected one of defaults, profiles, cross_node, ignore): `profile`"},
      {"profiles:\n  - name: x\n    cpus: {min: 4}\n",
       "rules.yaml:3:5: unknown key in profile x (expected one of name, match, nodes, cpu, memory, os, kernel, accelerators, "
       "modules, rdma, pcie, mounts, free, free_inodes, device_nodes, hugepages, mtu, virtualization, cgroup, swap, mig): `cpus`"},
      {"defaults:\n  memory: {min: lots}\n", "rules.yaml:2:17: defaults memory: min must be a size such as 20GiB, 500G or 1048576: `lots`"},
      {"defaults:\n  cpu:\n    min_logical: -3\n", "rules.yaml:3:18: defaults cpu: min_logical must be a whole number from 0 to 1000000: `-3`"},
      {"profiles:\n  - match: [agent]\n", "rules.yaml:2:5: a profile needs a name: `- match: [agent]`"},
      {"profiles:\n  - {name: a}\n  - {name: a}\n", "rules.yaml:3:5: profile a given twice (first at rules.yaml:2:5): `- {name: a}`"},
      {"defaults:\n  name: x\n", "rules.yaml:2:3: defaults apply to every node: name belongs in a profile: `name`"},
      {"defaults:\n  swap: maybe\n", "rules.yaml:2:9: defaults: swap must be one of off, on: `maybe`"},
      {"defaults:\n  free: {var: 1G}\n", "rules.yaml:2:10: defaults free: paths must be absolute: `var`"},
      {"defaults:\n  hugepages: {huge: 4}\n", "rules.yaml:2:15: defaults hugepages: keys are page sizes such as 2MiB or 1GiB: `huge`"},
      {"defaults:\n  rdma: {vendor: mellanox}\n", "rules.yaml:2:18: defaults rdma: vendor is a PCI vendor id such as 15b3: `mellanox`"},
      {"profiles:\n  - name: a\n    nodes: gpu[3-1]\n",
       "rules.yaml:3:12: profile a: nodes: gpu[3-1]: column 5: range end 1 is below its start 3: `gpu[3-1]`"},
      {"cross_node:\n  clock_skew_max: soon\n", "rules.yaml:2:19: cross_node: clock_skew_max must be a duration such as 300ms or 1s: `soon`"},
      {"cross_node:\n  identical:\n    - facts: ['rdma[0].fw_ver']\n",
       "rules.yaml:3:15: identical: bad fact path (only [*] may follow a key (at column 1)): `rdma[0].fw_ver`"},
      {"cross_node:\n  identical:\n    - {id: kernel.mismatch, facts: [host.kernel_release]}\n",
       "rules.yaml:3:12: identical: id is a built-in check id: `kernel.mismatch`"},
      {"ignore: [pcie.link.degraded_typo]\n", "rules.yaml:1:10: ignore: unknown check id: `pcie.link.degraded_typo`"},
      {"defaults:\n  free: {/: 1G}\n  free: {/: 2G}\n", "rules.yaml:3:3: defaults: key given twice (first at rules.yaml:2:3): `free`"},
      {"defaults: [1, 2\n", "rules.yaml:2:1: YAML syntax: end of sequence flow not found: `defaults: [1, 2`"},
  };
  for (const auto& c : cases) EXPECT_EQ(error_of(c.yaml), c.error) << c.yaml;
}

}  // namespace
}  // namespace airlock::validate::test
