// The sliding window, per-node failures and cancellation, on the scripted fake transport.
#include "installer/fleet/executor.h"

#include <gtest/gtest.h>

#include <thread>

#include "installer/transport/fake_transport.h"

namespace airlock::fleet {
namespace {

using namespace std::chrono_literals;
using transport::ExecOptions;
using transport::FakeFactory;
using transport::FakeNode;

std::vector<inventory::Host> make_hosts(int n) {
  std::vector<inventory::Host> hs(n);
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "n%02d", i + 1);
    hs[i].name = name;
    hs[i].address = "10.0.0." + std::to_string(i + 1);
  }
  return hs;
}

std::vector<const inventory::Host*> ptrs(const std::vector<inventory::Host>& hs) {
  std::vector<const inventory::Host*> p;
  for (const auto& h : hs) p.push_back(&h);
  return p;
}

Executor::Work run_true(std::chrono::milliseconds timeout = 10s) {
  return [timeout](const inventory::Host&, transport::Transport& t) -> Status {
    ExecOptions o;
    o.timeout = timeout;
    auto r = t.exec({"true"}, o);
    if (!r.ok()) return r.error();
    if (r->timed_out) return make_error(Errc::kTimeout, t.node() + ": timed out");
    return {};
  };
}

TEST(Executor, WindowNeverExceedsFanoutAndEveryNodeRuns) {
  auto hs = make_hosts(20);
  FakeFactory f;
  for (const auto& h : hs) f.script(h.name, FakeNode{.exec_delay = 30ms});
  Executor ex(f, 4);
  auto out = ex.run(ptrs(hs), run_true());
  ASSERT_EQ(out.size(), 20u);
  for (const auto& o : out) EXPECT_TRUE(o.status.ok()) << o.host->name;
  EXPECT_LE(f.max_concurrent_execs(), 4);
  EXPECT_GE(f.max_concurrent_execs(), 2);
  for (const auto& h : hs) {
    EXPECT_EQ(f.record(h.name).connects, 1);
    EXPECT_EQ(f.record(h.name).execs.size(), 1u);
  }
  EXPECT_EQ(ex.counts().done, 20u);
  EXPECT_EQ(ex.counts().failed, 0u);
}

TEST(Executor, AHungNodeDelaysNobodyBeyondItsTimeout) {
  auto hs = make_hosts(12);
  FakeFactory f;
  f.script("n03", FakeNode{.exec_delay = 60s});
  Executor ex(f, 4);
  auto t0 = std::chrono::steady_clock::now();
  auto out = ex.run(ptrs(hs), run_true(300ms));
  auto wall = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(wall, 2s);
  EXPECT_EQ(out[2].status.error().code, Errc::kTimeout);
  for (size_t i = 0; i < out.size(); ++i) {
    if (i != 2) {
      EXPECT_TRUE(out[i].status.ok());
    }
  }
}

TEST(Executor, ConnectFailuresStayWithTheirNode) {
  auto hs = make_hosts(5);
  FakeFactory f;
  f.script("n02", FakeNode{.connect_error = make_error(Errc::kUnreachable, "n02: connection refused")});
  f.script("n04", FakeNode{.connect_error = make_error(Errc::kHostKey, "n04: host key mismatch")});
  Executor ex(f, 64);
  std::vector<std::string> done_order;
  auto out = ex.run(ptrs(hs), run_true(), [&](const NodeOutcome& o) { done_order.push_back(o.host->name); });
  EXPECT_EQ(done_order.size(), 5u);
  EXPECT_EQ(out[1].status.error().code, Errc::kUnreachable);
  EXPECT_EQ(out[3].status.error().code, Errc::kHostKey);
  EXPECT_TRUE(out[0].status.ok());
  EXPECT_TRUE(f.record("n02").execs.empty());
  EXPECT_EQ(ex.counts().failed, 2u);
}

TEST(Executor, CancelStopsRunningNodesAndSkipsWaitingOnes) {
  auto hs = make_hosts(10);
  FakeFactory f;
  for (const auto& h : hs) f.script(h.name, FakeNode{.exec_delay = 30s});
  Executor ex(f, 3);
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    ex.cancel();
  });
  auto t0 = std::chrono::steady_clock::now();
  auto out = ex.run(ptrs(hs), run_true(60s));
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  int started = 0;
  for (const auto& o : out) {
    EXPECT_EQ(o.status.error().root_code(), Errc::kCancelled) << o.host->name;
    if (o.started) {
      ++started;
      EXPECT_TRUE(f.record(o.host->name).cancelled);
    }
  }
  EXPECT_EQ(started, 3);
}

}  // namespace
}  // namespace airlock::fleet
