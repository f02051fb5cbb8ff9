// The fleet probe on the fake transport: the binary is sent once per node (skipped on the
// second run), facts are parsed, stored with a skew estimate, and summarised by model and state.
#include "installer/fleet/fleet_probe.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/fs.h"
#include "installer/transport/fake_transport.h"

namespace airlock::fleet {
namespace {

using transport::ExecResult;
using transport::FakeFactory;
using transport::FakeNode;

std::string fixture(const std::string& name) {
  auto text = read_file(std::string(AIRLOCK_FIXTURES) + "/nodes/synthetic/" + name + ".expected.json");
  EXPECT_TRUE(text.ok());
  return text.ok() ? *text : "";
}

// A node whose clock runs `skew_ms` ahead and whose probe prints `facts` (with the time added).
// The first run finds no airlock-node there (exit 127, as sh says "not found").
FakeNode node_printing(std::string facts_text, int64_t skew_ms) {
  auto calls = std::make_shared<int>(0);
  return FakeNode{.on_exec = [facts_text, skew_ms, calls](const std::string&, const std::vector<std::string>& argv,
                                                           const std::string&) {
    ExecResult r;
    if (argv.size() < 2 || argv[1] != "probe" || (*calls)++ == 0) {
      r.exit_code = 127;
      return r;
    }
    auto j = nlohmann::json::parse(facts_text);
    auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count();
    j["collected_at_ns"] = now + skew_ms * 1'000'000;
    j["duration_ns"] = 0;
    r.exit_code = 0;
    r.out = j.dump();
    return r;
  }};
}

TEST(FleetProbe, SendsOnceStoresFactsAndSummarises) {
  std::vector<inventory::Host> hs(4);
  hs[0].name = "gpu01";
  hs[1].name = "gpu02";
  hs[2].name = "gpu03";
  hs[3].name = "gpu04";
  FakeFactory f;
  f.script("gpu01", node_printing(fixture("h100-8x-ndr"), 0));
  f.script("gpu02", node_printing(fixture("h100-8x-ndr"), 0));
  f.script("gpu03", node_printing(fixture("ib-port-init"), 250));
  f.script("gpu04", FakeNode{.connect_error = make_error(Errc::kUnreachable, "gpu04 (10.0.0.4): connection refused")});

  auto dir = std::filesystem::temp_directory_path() / ("airlock-fleetprobe-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string bin = (dir / "airlock-node").string();
  std::ofstream(bin) << "#!/bin/sh\necho fake\n";
  auto db = StateDb::open((dir / "state.db").string());
  ASSERT_TRUE(db.ok());

  ProbeOptions o;
  o.node_binary = bin;
  o.node_binary_sha256 = "ab";
  o.run_id = "probe-test";
  std::vector<const inventory::Host*> hp;
  for (const auto& h : hs) hp.push_back(&h);
  Executor ex(f, 8);
  auto nodes = probe_fleet(ex, hp, o, db->get());
  ASSERT_EQ(nodes.size(), 4u);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(nodes[i].status.ok()) << nodes[i].status.error().describe();
  EXPECT_EQ(nodes[3].status.error().code, Errc::kUnreachable);
  EXPECT_GT(nodes[0].bytes_sent, 0u);
  EXPECT_EQ(f.record("gpu01").files.at("/var/lib/airlock/bin/airlock-node-ab"), "ab");
  EXPECT_NEAR(nodes[2].record.skew_ns / 1e6, 250, 50);
  EXPECT_NEAR(nodes[0].record.skew_ns / 1e6, 0, 50);

  std::string s = render_probe_summary(nodes, std::chrono::milliseconds(1500));
  EXPECT_NE(s.find("probed 3/4 nodes in 1.50 s: gpu[01-03]"), std::string::npos) << s;
  EXPECT_NE(s.find("GPU nvidia NVIDIA H100 80GB HBM3: 24 (8 on gpu[01-03])"), std::string::npos) << s;
  EXPECT_NE(s.find("2: INIT, 400 Gb/sec (4X NDR), InfiniBand: 1 (1 on gpu03)"), std::string::npos) << s;
  EXPECT_NE(s.find("4: ACTIVE, 400 Gb/sec (4X NDR), InfiniBand: 23 (7 on gpu03; 8 on gpu[01-02])"), std::string::npos)
      << s;
  EXPECT_NE(s.find("unreachable: gpu04"), std::string::npos) << s;
  EXPECT_NE(s.find("largest clock skew: +2"), std::string::npos) << s;

  auto latest = (*db)->latest_facts();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->size(), 3u);
  auto runs = (*db)->node_runs("probe-test");
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 4u);
  EXPECT_EQ((*runs)[3].kind, "unreachable");

  // Second run: the nodes already have the binary.
  Executor ex2(f, 8);
  auto again = probe_fleet(ex2, hp, o, db->get());
  EXPECT_TRUE(again[0].status.ok());
  EXPECT_EQ(again[0].bytes_sent, 0u);
  std::filesystem::remove_all(dir);
}

TEST(FleetProbe, GarbageOutputIsAParseErrorNamingTheNode) {
  auto r = parse_node_facts("gpu07", "Segmentation fault\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "gpu07: airlock-node probe printed something that is not a JSON object: Segmentation fault");
}

}  // namespace
}  // namespace airlock::fleet
