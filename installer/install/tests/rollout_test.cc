// The rolling-upgrade scheduler (rollout.h): batch and threshold arithmetic ("exceeds, not
// equals"), the canary phase, the global unavailable budget, stops, snapshot/restore, the
// overhead helpers, and a randomized simulation of thousands of runs (random finish orders,
// failures, nodes that cannot be brought back, crashes and resumes) that checks the invariants
// after every event.
#include "installer/install/rollout.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace airlock::install {
namespace {

using json = nlohmann::json;
using Names = std::vector<std::string>;

Amount count(uint64_t n) { return {n, false}; }
Amount pct(uint64_t p) { return {p, true}; }

Names make_nodes(size_t n, const std::string& prefix = "n") {
  Names out;
  for (size_t i = 0; i < n; ++i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%03zu", i);
    out.push_back(prefix + buf);
  }
  return out;
}

Rollout make(size_t n, const std::string& batches, const std::string& max_unavailable, const std::string& max_fail,
             const std::string& canary = "1") {
  auto o = parse_rollout_options(batches, max_unavailable, max_fail, canary);
  EXPECT_TRUE(o.ok()) << o.error().describe();
  auto r = Rollout::create(make_nodes(n), *o);
  EXPECT_TRUE(r.ok()) << r.error().describe();
  return std::move(r).value();
}

std::vector<size_t> sizes_of(const Rollout& r) { return phase_sizes(r); }

// ---- Arithmetic -----------------------------------------------------------------------------

TEST(RolloutArith, ParseAmount) {
  EXPECT_EQ(*parse_amount("5", "x"), count(5));
  EXPECT_EQ(*parse_amount(" 10% ", "x"), pct(10));
  EXPECT_EQ(*parse_amount("0", "x"), count(0));
  EXPECT_EQ(*parse_amount("100%", "x"), pct(100));
  EXPECT_EQ(pct(25).text(), "25%");
  EXPECT_EQ(count(3).text(), "3");
  for (const char* bad : {"", "%", "-1", "1.5", "101%", "abc", "5 %x", "1234567890"}) {
    auto a = parse_amount(bad, "--max-fail");
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.error().code, Errc::kInvalidArgument);
    EXPECT_NE(a.error().message.find("--max-fail"), std::string::npos) << a.error().message;
  }
}

TEST(RolloutArith, PercentagesRoundDown) {
  EXPECT_EQ(percent_of(49, 4), 1u);   // 1.96
  EXPECT_EQ(percent_of(50, 4), 2u);
  EXPECT_EQ(percent_of(10, 9), 0u);   // 0.9
  EXPECT_EQ(percent_of(29, 100), 29u);
  EXPECT_EQ(percent_of(33, 3), 0u);   // 0.99
  EXPECT_EQ(percent_of(100, 7), 7u);
  EXPECT_EQ(percent_of(1, 1'000'000), 10'000u);
}

// pain point #7 (ansible#32255): a run stops when failures EXCEED the allowance, not when they
// reach it.
TEST(RolloutArith, MaxFailExceedsNotEquals) {
  size_t a = failure_allowance(pct(49), 4);
  EXPECT_EQ(a, 1u);
  EXPECT_FALSE(failures_exceed(0, a));
  EXPECT_FALSE(failures_exceed(1, a));  // 1 failure of 4 at 49%: allowed
  EXPECT_TRUE(failures_exceed(2, a));   // the second stops the run
  EXPECT_EQ(failure_allowance(pct(50), 4), 2u);
  EXPECT_EQ(failure_allowance(count(0), 100), 0u);  // the first failure stops
  EXPECT_TRUE(failures_exceed(1, failure_allowance(count(0), 100)));
  EXPECT_EQ(failure_allowance(count(2), 100), 2u);
  EXPECT_FALSE(failures_exceed(2, 2));
  EXPECT_TRUE(failures_exceed(3, 2));
  EXPECT_EQ(failure_allowance(pct(10), 9), 0u);  // no minimum for max_fail
  EXPECT_EQ(failure_allowance(pct(10), 10), 1u);
  EXPECT_EQ(failure_allowance(pct(100), 10), 10u);  // never stops on failures
  EXPECT_EQ(failure_allowance(count(50), 10), 50u);
}

TEST(RolloutArith, UnavailableBudgetAtLeastOne) {
  EXPECT_EQ(unavailable_budget(pct(10), 5), 1u);    // 0.5 -> 0 -> 1
  EXPECT_EQ(unavailable_budget(pct(10), 100), 10u);
  EXPECT_EQ(unavailable_budget(pct(25), 10), 2u);
  EXPECT_EQ(unavailable_budget(pct(0), 10), 1u);
  EXPECT_EQ(unavailable_budget(count(3), 2), 3u);
  EXPECT_EQ(unavailable_budget(count(1), 0), 1u);
}

TEST(RolloutArith, ParseBatches) {
  auto b = parse_batches("1,5%, 25% ,100%");
  ASSERT_TRUE(b.ok()) << b.error().describe();
  EXPECT_EQ(*b, (std::vector<Amount>{count(1), pct(5), pct(25), pct(100)}));
  for (const char* bad : {"", "1,,2", "1,", "0", "1,0%", "x", "1;2", "150%"}) {
    auto e = parse_batches(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.error().message.find("--batches"), std::string::npos);
  }
}

TEST(RolloutArith, BatchSizes) {
  auto spec = *parse_batches("1,5%,25%,100%");
  // 100 nodes, 1 canary: percentages are of all 100.
  EXPECT_EQ(batch_sizes(spec, 99, 100), (std::vector<size_t>{1, 5, 25, 68}));
  // 10 nodes: 5% of 10 rounds down to 0, at least 1.
  EXPECT_EQ(batch_sizes(spec, 9, 10), (std::vector<size_t>{1, 1, 2, 5}));
  // The last value repeats; a batch never exceeds what is left.
  EXPECT_EQ(batch_sizes(*parse_batches("2"), 7, 7), (std::vector<size_t>{2, 2, 2, 1}));
  EXPECT_EQ(batch_sizes(*parse_batches("1,50%"), 10, 10), (std::vector<size_t>{1, 5, 4}));
  EXPECT_EQ(batch_sizes(*parse_batches("10%"), 25, 25), (std::vector<size_t>{2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1}));
  EXPECT_EQ(batch_sizes(*parse_batches("1,1,100"), 2, 2), (std::vector<size_t>{1, 1}));
  EXPECT_TRUE(batch_sizes(spec, 0, 5).empty());
  // Always sums to the nodes.
  for (size_t n = 0; n < 300; n += 7) {
    auto s = batch_sizes(*parse_batches("1,3%,20%"), n, n + 1);
    size_t sum = 0;
    for (size_t x : s) {
      EXPECT_GE(x, 1u);
      sum += x;
    }
    EXPECT_EQ(sum, n);
  }
}

TEST(RolloutArith, Options) {
  auto d = parse_rollout_options("", "", "", "");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->canary, 1u);
  EXPECT_EQ(d->max_unavailable, count(1));
  EXPECT_EQ(d->max_fail, count(0));
  EXPECT_EQ(d->batches.size(), 4u);
  auto o = parse_rollout_options("1,10%,100%", "10%", "2", "3");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->canary, 3u);
  EXPECT_EQ(o->max_unavailable, pct(10));
  EXPECT_EQ(o->max_fail, count(2));
  EXPECT_FALSE(parse_rollout_options("", "0", "", "").ok());
  EXPECT_FALSE(parse_rollout_options("", "", "", "10%").ok());
  EXPECT_FALSE(parse_rollout_options("", "", "-1", "").ok());
  EXPECT_FALSE(parse_rollout_options("0", "", "", "").ok());
}

// ---- Layout ---------------------------------------------------------------------------------

TEST(RolloutLayout, CanaryIsASeparateFirstPhase) {
  Rollout r = make(100, "1,5%,25%,100%", "10%", "0", "1");
  ASSERT_EQ(r.phases().size(), 5u);
  EXPECT_EQ(r.phases()[0].name, "canary");
  EXPECT_TRUE(r.phases()[0].canary);
  EXPECT_EQ(r.phases()[0].nodes, Names{"n000"});
  EXPECT_EQ(r.phases()[1].name, "batch-1");
  EXPECT_EQ(r.phases()[1].nodes, Names{"n001"});  // never merged with the canary
  EXPECT_EQ(sizes_of(r), (std::vector<size_t>{1, 1, 5, 25, 68}));
  EXPECT_EQ(r.max_unavailable(), 10u);
  EXPECT_EQ(r.allowed_failures(), 0u);

  Rollout none = make(4, "100%", "1", "0", "0");
  EXPECT_EQ(sizes_of(none), (std::vector<size_t>{4}));
  Rollout three = make(4, "100%", "1", "0", "3");
  EXPECT_EQ(sizes_of(three), (std::vector<size_t>{3, 1}));
  Rollout clamped = make(2, "1", "1", "0", "5");  // the canary takes every node there is
  EXPECT_EQ(sizes_of(clamped), (std::vector<size_t>{2}));
  Rollout empty = make(0, "1", "1", "0");
  EXPECT_TRUE(empty.done());
  EXPECT_TRUE(empty.next().empty());
}

TEST(RolloutLayout, RejectsDuplicateAndEmptyNames) {
  RolloutOptions o;
  EXPECT_FALSE(Rollout::create({"a", "b", "a"}, o).ok());
  EXPECT_FALSE(Rollout::create({"a", ""}, o).ok());
}

// ---- Scheduling -----------------------------------------------------------------------------

TEST(RolloutSchedule, PhasesRunOneAfterAnotherWithinTheBudget) {
  // 10 nodes: canary n000, batch-1 {n001,n002}, batch-2 the other 7; at most 3 out at once.
  Rollout r = make(10, "2,100%", "3", "0", "1");
  EXPECT_EQ(r.next(), Names{"n000"});
  ASSERT_TRUE(r.started("n000").ok());
  EXPECT_TRUE(r.next().empty());  // batch-1 waits for the canary to finish
  ASSERT_TRUE(r.finished("n000", true).ok());
  EXPECT_EQ(r.next(), (Names{"n001", "n002"}));
  ASSERT_TRUE(r.started("n001").ok());
  ASSERT_TRUE(r.started("n002").ok());
  ASSERT_TRUE(r.finished("n002", true).ok());
  EXPECT_TRUE(r.next().empty());  // budget left, but batch-1 is not finished
  EXPECT_FALSE(r.started("n003").ok());
  ASSERT_TRUE(r.finished("n001", true).ok());
  EXPECT_EQ(r.next(), (Names{"n003", "n004", "n005"}));  // 7 in the batch, 3 at once
  for (const auto& n : r.next()) ASSERT_TRUE(r.started(n).ok());
  EXPECT_EQ(r.out_of_service(), 3u);
  EXPECT_TRUE(r.next().empty());
  EXPECT_FALSE(r.started("n006").ok());  // over the budget
  ASSERT_TRUE(r.finished("n004", true).ok());
  EXPECT_EQ(r.next(), Names{"n006"});    // a rolling window inside the batch
  while (!r.done()) {
    for (const auto& n : r.next()) ASSERT_TRUE(r.started(n).ok());
    ASSERT_TRUE(r.finished(r.running().front(), true).ok());
  }
  EXPECT_FALSE(r.stopped());
  EXPECT_EQ(r.with_state(NodeState::kOk).size(), 10u);
  EXPECT_EQ(r.current_phase(), r.phases().size());
}

TEST(RolloutSchedule, StartsInOrderOnly) {
  Rollout r = make(5, "100%", "5", "0", "0");
  EXPECT_EQ(r.next().size(), 5u);
  auto e = r.started("n002");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("before n000"), std::string::npos) << e.error().message;
  EXPECT_FALSE(r.started("nope").ok());
  ASSERT_TRUE(r.started("n000").ok());
  EXPECT_FALSE(r.started("n000").ok());  // already running
  EXPECT_FALSE(r.finished("n001", true).ok());  // not running
  EXPECT_FALSE(r.failed_down("n001").ok());
  EXPECT_FALSE(r.requeue("n001").ok());
  EXPECT_EQ(r.running_count(), 1u);
}

// pain point #21 (gitlab delivery#951): the budget is one counter for the whole run. Nodes
// already out of service before the run, and nodes that could not be brought back, use it up.
TEST(RolloutSchedule, BudgetIsGlobal) {
  RolloutOptions o;
  o.batches = {pct(50)};
  o.canary = 0;
  o.max_unavailable = count(3);
  o.max_fail = count(10);
  o.unavailable_at_start = 1;
  auto r = Rollout::create(make_nodes(20), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->next().size(), 2u);  // 3 - 1 already down
  for (const auto& n : r->next()) ASSERT_TRUE(r->started(n).ok());
  EXPECT_EQ(r->out_of_service(), 3u);
  EXPECT_TRUE(r->next().empty());
  // A failed node that reverted is back in service: the room comes back.
  ASSERT_TRUE(r->finished("n000", false, "health gate").ok());
  EXPECT_FALSE(r->stopped());
  EXPECT_EQ(r->next(), Names{"n002"});
  EXPECT_EQ(r->reasons().at("n000"), "health gate");

  o.unavailable_at_start = 3;
  auto full = Rollout::create(make_nodes(20), o);
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE(full->stopped());
  EXPECT_EQ(full->stop_cause(), StopCause::kBudget);
  EXPECT_TRUE(full->next().empty());
  EXPECT_TRUE(full->done());
}

TEST(RolloutSchedule, MaxFailStopsOnlyWhenExceeded) {
  // 4 nodes, 49%: one failure is allowed, the second stops the run.
  Rollout r = make(4, "100%", "4", "49%", "0");
  EXPECT_EQ(r.allowed_failures(), 1u);
  for (const auto& n : r.next()) ASSERT_TRUE(r.started(n).ok());
  ASSERT_TRUE(r.finished("n000", false).ok());
  EXPECT_FALSE(r.stopped());
  ASSERT_TRUE(r.finished("n001", true).ok());
  EXPECT_FALSE(r.stopped());
  ASSERT_TRUE(r.finished("n002", false).ok());
  EXPECT_TRUE(r.stopped());
  EXPECT_EQ(r.stop_cause(), StopCause::kMaxFail);
  EXPECT_NE(r.stop_reason().find("2 node(s) failed, more than max_fail 49%"), std::string::npos) << r.stop_reason();
  EXPECT_FALSE(r.done());  // n003 is still running: it reports, nothing new starts
  ASSERT_TRUE(r.finished("n003", true).ok());
  EXPECT_TRUE(r.done());

  // The failures of the whole run count, not per batch.
  Rollout b = make(6, "1", "1", "1", "0");
  for (int i = 0; i < 6 && !b.stopped(); ++i) {
    auto n = b.next();
    ASSERT_EQ(n.size(), 1u);
    ASSERT_TRUE(b.started(n[0]).ok());
    ASSERT_TRUE(b.finished(n[0], i != 1 && i != 3).ok());
  }
  EXPECT_TRUE(b.stopped());
  EXPECT_EQ(b.failures(), 2u);
  EXPECT_EQ(b.with_state(NodeState::kPending), (Names{"n004", "n005"}));
}

TEST(RolloutSchedule, FailedCanaryStopsWhateverMaxFail) {
  Rollout r = make(10, "100%", "5", "100%", "2");
  ASSERT_TRUE(r.started("n000").ok());
  ASSERT_TRUE(r.started("n001").ok());
  ASSERT_TRUE(r.finished("n000", false, "health gate failed").ok());
  EXPECT_TRUE(r.stopped());
  EXPECT_EQ(r.stop_cause(), StopCause::kCanary);
  EXPECT_NE(r.stop_reason().find("canary n000 failed"), std::string::npos);
  EXPECT_TRUE(r.next().empty());
  EXPECT_FALSE(r.started("n002").ok());
  ASSERT_TRUE(r.finished("n001", true).ok());
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.with_state(NodeState::kPending).size(), 8u);
}

TEST(RolloutSchedule, DownNodeStopsAndCountsForever) {
  Rollout r = make(10, "100%", "3", "5", "0");
  for (const auto& n : r.next()) ASSERT_TRUE(r.started(n).ok());
  ASSERT_TRUE(r.failed_down("n001", "v1 unhealthy too").ok());
  EXPECT_TRUE(r.stopped());
  EXPECT_EQ(r.stop_cause(), StopCause::kDown);
  EXPECT_NE(r.stop_reason().find("stopping rather than flapping"), std::string::npos);
  EXPECT_EQ(r.out_of_service(), 3u);  // 2 running + 1 down
  ASSERT_TRUE(r.finished("n000", true).ok());
  ASSERT_TRUE(r.finished("n002", true).ok());
  EXPECT_EQ(r.out_of_service(), 1u);
  EXPECT_EQ(r.down_count(), 1u);
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(r.next().empty());
}

TEST(RolloutSchedule, OperatorStop) {
  Rollout r = make(3, "1", "1", "0", "0");
  ASSERT_TRUE(r.started("n000").ok());
  r.stop("progress deadline passed");
  EXPECT_EQ(r.stop_cause(), StopCause::kOperator);
  r.stop("again");
  EXPECT_EQ(r.stop_reason(), "progress deadline passed");
  EXPECT_FALSE(r.done());
  ASSERT_TRUE(r.finished("n000", true).ok());
  EXPECT_TRUE(r.done());
}

// ---- Snapshot / restore -----------------------------------------------------------------------

Rollout round_trip(const Rollout& r) {
  auto back = Rollout::restore(json::parse(r.snapshot().dump()));
  EXPECT_TRUE(back.ok()) << back.error().describe();
  return std::move(back).value();
}

TEST(RolloutSnapshot, ResumeKeepsLayoutAndCountsRunningNodes) {
  Rollout r = make(20, "1,25%,100%", "3", "1", "1");
  ASSERT_TRUE(r.started("n000").ok());
  ASSERT_TRUE(r.finished("n000", true).ok());
  ASSERT_TRUE(r.started("n001").ok());
  ASSERT_TRUE(r.finished("n001", false).ok());
  for (const auto& n : r.next()) ASSERT_TRUE(r.started(n).ok());  // n002..n004 of batch-2 (5 nodes)
  ASSERT_TRUE(r.finished("n003", true).ok());
  // The installer is killed here: n002 and n004 are out of service.
  json snap = r.snapshot();
  EXPECT_EQ(snap["schema"], "airlock.rollout/v1");
  EXPECT_EQ(snap["state"]["n002"], "running");
  EXPECT_EQ(snap["options"]["batches"], "1,25%,100%");
  Rollout back = round_trip(r);
  EXPECT_EQ(back.phases().size(), r.phases().size());
  for (size_t i = 0; i < back.phases().size(); ++i) EXPECT_EQ(back.phases()[i].nodes, r.phases()[i].nodes);
  EXPECT_EQ(back.running(), (Names{"n002", "n004"}));
  EXPECT_EQ(back.out_of_service(), 2u);
  EXPECT_EQ(back.failures(), 1u);
  EXPECT_EQ(back.max_unavailable(), 3u);
  EXPECT_EQ(back.allowed_failures(), 1u);
  EXPECT_EQ(back.next(), Names{"n005"});  // one slot left, not three
  EXPECT_EQ(back.snapshot(), snap);
  // The caller re-probes: n002 came back healthy on the new release; n004 is still on the old
  // one and untouched, so it goes again (in order, before n005).
  ASSERT_TRUE(back.finished("n002", true).ok());
  ASSERT_TRUE(back.requeue("n004").ok());
  EXPECT_EQ(back.next(), (Names{"n004", "n005", "n006"}));
  EXPECT_FALSE(back.started("n005").ok());
  ASSERT_TRUE(back.started("n004").ok());
}

TEST(RolloutSnapshot, StopAndDownSurviveResume) {
  Rollout r = make(6, "100%", "2", "3", "0");
  ASSERT_TRUE(r.started("n000").ok());
  ASSERT_TRUE(r.started("n001").ok());
  ASSERT_TRUE(r.failed_down("n000").ok());
  Rollout back = round_trip(r);
  EXPECT_TRUE(back.stopped());
  EXPECT_EQ(back.stop_cause(), StopCause::kDown);
  EXPECT_EQ(back.stop_reason(), r.stop_reason());
  EXPECT_EQ(back.out_of_service(), 2u);
  EXPECT_TRUE(back.next().empty());
  ASSERT_TRUE(back.finished("n001", true).ok());
  EXPECT_TRUE(back.done());
}

TEST(RolloutSnapshot, RejectsInconsistentSnapshots) {
  Rollout r = make(6, "2", "2", "0", "1");
  json good = r.snapshot();
  ASSERT_TRUE(Rollout::restore(good).ok());
  auto expect_bad = [](json j, const std::string& what) {
    auto b = Rollout::restore(j);
    ASSERT_FALSE(b.ok()) << what;
    EXPECT_EQ(b.error().code, Errc::kParse) << what;
  };
  json j = good;
  j["schema"] = "other";
  expect_bad(j, "schema");
  expect_bad(json::array(), "not an object");
  j = good;
  j["state"].erase("n003");
  expect_bad(j, "missing state");
  j = good;
  j["state"]["n003"] = "weird";
  expect_bad(j, "unknown state");
  j = good;
  j["state"]["n003"] = "running";  // batch-2 started while the canary is pending
  expect_bad(j, "phase order");
  j = good;
  j["nodes"][1] = "n000";
  expect_bad(j, "duplicate");
  j = good;
  j["phases"][1]["nodes"] = json::array({"n002", "n001"});
  expect_bad(j, "phase order of nodes");
  j = good;
  j["max_unavailable"] = 0;
  expect_bad(j, "zero budget");
  j = good;
  j["max_unavailable"] = "x";
  expect_bad(j, "wrong type");
}

// ---- Overhead accounting ----------------------------------------------------------------------

TEST(RolloutOverhead, MinimumWallTime) {
  // 100 agents, canary 1, batches [1, 10%, 100%], max_unavailable 10: phases 1, 1, 10, 88 ->
  // 1 + 1 + 1 + 9 waves.
  Rollout r = make(100, "1,10%,100%", "10", "0", "1");
  EXPECT_EQ(sizes_of(r), (std::vector<size_t>{1, 1, 10, 88}));
  EXPECT_DOUBLE_EQ(min_wall_seconds(sizes_of(r), 10, 2, 5), 12 * 7.0);
  EXPECT_DOUBLE_EQ(soak_wait_seconds(sizes_of(r), 10, 5), 12 * 5.0);
  EXPECT_DOUBLE_EQ(min_wall_seconds({}, 3, 1, 1), 0);
  EXPECT_DOUBLE_EQ(min_wall_seconds({7}, 0, 1, 0), 7);  // a budget of 0 counts as 1
  EXPECT_DOUBLE_EQ(min_wall_seconds({3, 3}, 3, 0.5, 1.5), 4);
  std::map<std::string, double> soak;
  for (const auto& n : r.nodes()) soak[n] = 5;
  EXPECT_DOUBLE_EQ(ideal_wall_seconds(r, 2, soak), 84);
  EXPECT_TRUE(r.with_state(NodeState::kOk).empty());  // r itself is untouched
}

TEST(RolloutOverhead, IdealWithPerNodeSoak) {
  // Budget 2, one phase a,b,c (soak 10,1,1), then d (soak 4), step 1s:
  // a 0..11, b 0..2, c 2..4; the phase ends at 11; d 11..16.
  RolloutOptions o;
  o.canary = 0;
  o.batches = {count(3), count(1)};
  o.max_unavailable = count(2);
  auto r = Rollout::create({"a", "b", "c", "d"}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(ideal_wall_seconds(*r, 1, {{"a", 10}, {"b", 1}, {"c", 1}, {"d", 4}}), 16);
  // Uniform soak: the same as the formula, for random layouts.
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    size_t n = rng() % 80;
    RolloutOptions p;
    p.canary = rng() % 3;
    p.batches = {count(1 + rng() % 4), pct(1 + rng() % 100)};
    p.max_unavailable = count(1 + rng() % 9);
    auto x = Rollout::create(make_nodes(n), p);
    ASSERT_TRUE(x.ok());
    std::map<std::string, double> soak;
    for (const auto& name : x->nodes()) soak[name] = 3;
    EXPECT_DOUBLE_EQ(ideal_wall_seconds(*x, 0.5, soak), min_wall_seconds(phase_sizes(*x), x->max_unavailable(), 0.5, 3));
  }
}

// ---- Randomized simulation ----------------------------------------------------------------------

// The outside world of one run: which nodes are really out of service (the scheduler's view can
// be lost in a crash; this cannot), what has finished, the order of first starts.
struct World {
  std::set<std::string> running, down, finished, started_once;
  Names start_order;
  size_t failures = 0;
  bool canary_failed = false;
};

Amount random_amount(std::mt19937_64& rng, uint64_t max_count, uint64_t min_count, uint64_t max_pct, uint64_t min_pct) {
  if (rng() % 2) return count(min_count + rng() % (max_count - min_count + 1));
  return pct(min_pct + rng() % (max_pct - min_pct + 1));
}

TEST(RolloutSimulation, InvariantsHoldOverThousandsOfRuns) {
  std::mt19937_64 rng(20261128);
  std::uniform_real_distribution<double> u(0, 1);
  size_t stops[6] = {};
  size_t resumes = 0, completed = 0;
  for (int run = 0; run < 4000; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    size_t n = run % 10 == 0 ? 100 + rng() % 200 : rng() % 40;
    RolloutOptions o;
    o.canary = rng() % 4;
    o.batches.clear();
    for (size_t k = 1 + rng() % 4; k > 0; --k) o.batches.push_back(random_amount(rng, 6, 1, 100, 1));
    o.max_unavailable = random_amount(rng, 6, 1, 60, 0);
    o.max_fail = random_amount(rng, 4, 0, 50, 0);
    o.unavailable_at_start = u(rng) < 0.1 ? rng() % 3 : 0;
    double p_fail = u(rng) * 0.3, p_down = u(rng) < 0.3 ? 0.01 : 0.0, p_crash = u(rng) < 0.5 ? 0.03 : 0.0;
    // Irregular names, so that order means the list's order, not the names'.
    Names nodes;
    for (size_t i = 0; i < n; ++i) nodes.push_back("h" + std::to_string(rng() % 1000) + "-" + std::to_string(i));
    auto created = Rollout::create(nodes, o);
    ASSERT_TRUE(created.ok()) << created.error().describe();
    Rollout r = std::move(created).value();
    const size_t budget = r.max_unavailable();
    const size_t allowance = r.allowed_failures();
    EXPECT_EQ(budget, unavailable_budget(o.max_unavailable, n));
    EXPECT_EQ(allowance, failure_allowance(o.max_fail, n));
    std::map<std::string, size_t> phase_of;
    for (size_t p = 0; p < r.phases().size(); ++p) {
      for (const auto& name : r.phases()[p].nodes) phase_of[name] = p;
    }
    World w;
    size_t requeued_pending = 0;  // requeued nodes not yet restarted (they restart out of first-start order)

    auto check = [&]() {
      size_t out = w.running.size() + w.down.size() + o.unavailable_at_start;
      if (!(o.unavailable_at_start >= budget)) {
        ASSERT_LE(out, budget) << "budget exceeded";
      }
      ASSERT_EQ(r.running_count(), w.running.size());
      ASSERT_EQ(r.out_of_service(), out);
      ASSERT_EQ(r.failures(), w.failures);
      bool should_stop = (n > 0 && o.unavailable_at_start >= budget) || w.canary_failed || !w.down.empty() ||
                         failures_exceed(w.failures, allowance);
      ASSERT_EQ(r.stopped(), should_stop) << r.stop_reason();
      if (r.stopped()) {
        ASSERT_TRUE(r.next().empty());
      }
    };
    check();

    int guard = 0;
    while (!r.done()) {
      ASSERT_LT(++guard, 100000) << "no progress";
      auto next = r.next();
      double dice = u(rng);
      if (!next.empty() && (dice < 0.45 || w.running.empty())) {
        size_t k = 1 + rng() % next.size();
        for (size_t i = 0; i < k; ++i) {
          const std::string& node = next[i];
          // A phase starts only after every earlier phase has completely finished.
          for (size_t p = 0; p < phase_of[node]; ++p) {
            for (const auto& m : r.phases()[p].nodes) ASSERT_TRUE(w.finished.count(m)) << node << " before " << m;
          }
          ASSERT_TRUE(r.started(node).ok());
          ASSERT_FALSE(w.running.count(node));
          w.running.insert(node);
          if (w.started_once.insert(node).second) {
            w.start_order.push_back(node);
          } else {
            --requeued_pending;
          }
          check();
        }
      } else if (!w.running.empty()) {
        auto it = w.running.begin();
        std::advance(it, rng() % w.running.size());
        std::string node = *it;
        double d = u(rng);
        if (d < p_down) {
          ASSERT_TRUE(r.failed_down(node, "old release unhealthy").ok());
          w.down.insert(node);
          w.failures++;
        } else if (d < p_down + p_fail) {
          ASSERT_TRUE(r.finished(node, false, "gate").ok());
          w.failures++;
          if (r.phases()[phase_of[node]].canary) w.canary_failed = true;
        } else {
          ASSERT_TRUE(r.finished(node, true).ok());
        }
        w.running.erase(node);
        w.finished.insert(node);
        check();
      } else {
        FAIL() << "stuck: nothing running, nothing may start, not done";
      }
      // Illegal starts are refused and change nothing.
      if (u(rng) < 0.2) {
        auto pend = r.with_state(NodeState::kPending);
        auto nx = r.next();
        for (const auto& p : pend) {
          if (!nx.empty() && p == nx[0]) continue;
          json before = r.snapshot();
          ASSERT_FALSE(r.started(p).ok()) << p;
          ASSERT_EQ(r.snapshot(), before);
          break;
        }
      }
      // The installer is killed and resumed: the nodes that were out of service still are.
      if (u(rng) < p_crash) {
        ++resumes;
        auto back = Rollout::restore(json::parse(r.snapshot().dump()));
        ASSERT_TRUE(back.ok()) << back.error().describe();
        r = std::move(back).value();
        auto resumed = r.running();
        ASSERT_EQ(std::set<std::string>(resumed.begin(), resumed.end()), w.running);
        check();
        // The caller re-probes the running nodes; some turn out untouched and go again.
        for (const auto& node : r.running()) {
          if (u(rng) < 0.3) {
            ASSERT_TRUE(r.requeue(node).ok());
            w.running.erase(node);
            ++requeued_pending;
            check();
          }
        }
      }
    }
    // Nodes first started in run order (a requeued node restarts before later nodes, so the
    // order of FIRST starts is still the run order).
    Names expected_prefix(r.nodes().begin(), r.nodes().begin() + static_cast<ptrdiff_t>(w.start_order.size()));
    ASSERT_EQ(w.start_order, expected_prefix);
    ASSERT_TRUE(w.running.empty());
    if (r.stopped()) {
      ++stops[static_cast<int>(r.stop_cause())];
      EXPECT_NE(r.stop_cause(), StopCause::kOperator);
    } else {
      ++completed;
      EXPECT_EQ(w.finished.size(), n);
      EXPECT_EQ(requeued_pending, 0u);
      EXPECT_LE(w.failures, allowance);
      EXPECT_EQ(r.with_state(NodeState::kOk).size() + r.with_state(NodeState::kFailed).size(), n);
    }
  }
  // The simulation did exercise every path.
  EXPECT_GT(completed, 100u);
  EXPECT_GT(stops[static_cast<int>(StopCause::kMaxFail)], 100u);
  EXPECT_GT(stops[static_cast<int>(StopCause::kCanary)], 20u);
  EXPECT_GT(stops[static_cast<int>(StopCause::kDown)], 5u);
  EXPECT_GT(stops[static_cast<int>(StopCause::kBudget)], 5u);
  EXPECT_GT(resumes, 200u);
}

}  // namespace
}  // namespace airlock::install
