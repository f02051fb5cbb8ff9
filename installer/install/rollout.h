// The scheduling core of `airlock upgrade` / `airlock rollback` (issue 8; docs/playbooks.md,
// "Rolling upgrades"). Pure: no I/O, no threads, no clock. The caller (the CLI driving the
// engine's per-node steps) asks `next()` which nodes may start, reports what happened to each
// (`started`, `finished`, `failed_down`), and persists `snapshot()` so that a resumed run
// continues with the same layout and the same budget.
//
// Layout: an optional canary phase (the first `canary` nodes, a phase of its own, never merged
// into a batch), then batches sized like Ansible `serial` ("1,5%,25%,100%": the last size
// repeats until the nodes run out; percentages are of ALL the run's nodes, rounded down, at
// least 1). A phase starts only when the previous one has completely finished; within a phase
// nodes start in order.
//
// Budget: at most `max_unavailable` nodes out of service at once, for the whole run (one
// counter across the canary and every batch, not per batch: fleet-and-rollout.md pain #21).
// Out of service = started and not yet finished, plus nodes that could not be brought back
// (`failed_down`, counted forever), plus `unavailable_at_start` (nodes already down before the
// run, e.g. unreachable at probe).
//
// Failures: the run stops when the number of failed nodes (whole run) EXCEEDS the allowance
// (max_fail N, or P% of all nodes rounded down): "exceeds, not equals" — with 4 nodes and 49%
// one failure is allowed and the second stops the run. A failed canary always stops the run; a
// node that could not be brought back (its old release unhealthy too) stops it at once ("stop
// rather than flap"). After a stop no node starts; nodes already started still report.
#pragma once

#include <cstdint>
#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace airlock::install {

// "N" (a count) or "P%" (a percentage 0..100 of the run's total node count).
struct Amount {
  uint64_t value = 0;
  bool percent = false;
  std::string text() const;  // "5" or "5%"
  bool operator==(const Amount&) const = default;
};

// Parses "N" or "P%" (digits only, P <= 100, surrounding blanks allowed). `what` names the
// option in errors ("--max-unavailable: ...").
Result<Amount> parse_amount(std::string_view text, std::string_view what);
// floor(p * total / 100), in integers.
size_t percent_of(uint64_t percent, size_t total);
// The amount for `total` nodes, rounded down, then at least `at_least`.
size_t resolve_amount(const Amount& a, size_t total, size_t at_least);

// "--batches 1,5%,25%,100%": a non-empty comma-separated list of amounts, each above 0.
Result<std::vector<Amount>> parse_batches(std::string_view text);
// The batch sizes for `nodes` nodes (those left after the canary), percentages taken of `total`
// (all the run's nodes): each size is resolve_amount(spec[i], total, 1) clamped to what is
// left; the last spec value repeats until no node is left. Sums to `nodes`.
std::vector<size_t> batch_sizes(const std::vector<Amount>& spec, size_t nodes, size_t total);
// --max-unavailable for `total` nodes: rounded down, at least 1.
size_t unavailable_budget(const Amount& max_unavailable, size_t total);
// --max-fail for `total` nodes: how many failures are ALLOWED (rounded down, may be 0).
size_t failure_allowance(const Amount& max_fail, size_t total);
// The stop rule, in one place: a run stops when failures exceed the allowance.
inline bool failures_exceed(size_t failures, size_t allowance) { return failures > allowance; }

struct RolloutOptions {
  std::vector<Amount> batches = {{1, false}, {5, true}, {25, true}, {100, true}};
  size_t canary = 1;                      // nodes in the canary phase (clamped to the node count; 0: none)
  Amount max_unavailable = {1, false};
  Amount max_fail = {0, false};
  size_t unavailable_at_start = 0;        // nodes already out of service before the run
};

// The command-line form: --batches, --max-unavailable, --max-fail, --canary (empty text keeps
// the default). Errors name the option.
Result<RolloutOptions> parse_rollout_options(std::string_view batches, std::string_view max_unavailable,
                                             std::string_view max_fail, std::string_view canary);

struct RolloutPhase {
  std::string name;                       // "canary", "batch-1", "batch-2", ...
  bool canary = false;
  std::vector<std::string> nodes;         // in run order
};

enum class NodeState { kPending, kRunning, kOk, kFailed, kDown };
const char* node_state_name(NodeState s);  // pending | running | ok | failed | down

enum class StopCause { kNone, kMaxFail, kCanary, kDown, kBudget, kOperator };
const char* stop_cause_name(StopCause c);  // none | max_fail | canary | down | budget | operator

class Rollout {
 public:
  // `nodes`: the run's nodes in order (unique, non-empty names). Builds the layout and resolves
  // the budget and the failure allowance against nodes.size(). When unavailable_at_start
  // already fills the budget the rollout starts stopped (cause kBudget).
  static Result<Rollout> create(std::vector<std::string> nodes, const RolloutOptions& opts);

  // The nodes that may start now, in order: a prefix of the current phase's pending nodes, as
  // many as the budget leaves room for. Empty: wait for a `finished` (or the run is done or
  // stopped).
  std::vector<std::string> next() const;

  // Events. Each returns an error (and changes nothing) when it does not fit the state:
  // started: the node must be the first of next() (in order, within the budget, not stopped).
  // finished: a running node; ok = healthy on the new release, back in service; !ok = it failed
  //   and reverted to its old release, back in service (counts as a failure).
  // failed_down: a running node that could not be brought back: it stays out of service for the
  //   rest of the run, counts as a failure, and stops the run.
  // requeue: a running node that is back in service without having been changed (e.g. a
  //   resumed run re-probed it on its old release): pending again, it starts again in order.
  Status started(const std::string& node);
  Status finished(const std::string& node, bool ok, const std::string& why = "");
  Status failed_down(const std::string& node, const std::string& why = "");
  Status requeue(const std::string& node);
  // Stops the run for good (e.g. a progress deadline); no-op when already stopped. Ctrl-C is
  // not a stop: the caller just stops asking next() and resumes later from the snapshot.
  void stop(const std::string& reason);

  // Nothing more will happen: every node finished, or the run stopped and no node is running.
  bool done() const;
  bool stopped() const { return cause_ != StopCause::kNone; }
  StopCause stop_cause() const { return cause_; }
  const std::string& stop_reason() const { return reason_; }

  const std::vector<RolloutPhase>& phases() const { return phases_; }
  const std::vector<std::string>& nodes() const { return nodes_; }
  size_t current_phase() const { return cur_; }  // == phases().size() once all finished
  size_t max_unavailable() const { return budget_; }
  size_t allowed_failures() const { return allowance_; }
  size_t failures() const { return failures_; }
  size_t running_count() const { return running_; }
  size_t down_count() const { return down_; }
  size_t unavailable_at_start() const { return at_start_; }
  // running + down + unavailable_at_start; never above max_unavailable().
  size_t out_of_service() const { return running_ + down_ + at_start_; }
  NodeState state(const std::string& node) const;  // kPending for an unknown name
  std::vector<std::string> running() const;        // in order (after restore: the nodes to re-probe)
  std::vector<std::string> with_state(NodeState s) const;
  const std::map<std::string, std::string>& reasons() const { return why_; }  // failed/down node -> why

  // Schema airlock.rollout/v1: the layout, the resolved budget and allowance (with the option
  // texts), each node's state and failure reason, and the stop. Persist it after every event
  // (in particular after `started` and before acting on the node).
  nlohmann::json snapshot() const;
  // A rollout from a snapshot (the layout and numbers are the snapshot's, whatever the options
  // now). Nodes that were running stay running, i.e. out of service, until the caller re-probes
  // them and reports finished / failed_down / requeue; so a resumed run never exceeds the budget.
  static Result<Rollout> restore(const nlohmann::json& snap);

 private:
  Rollout() = default;
  Status check_running(const std::string& node, size_t* index) const;
  void settle(size_t index, NodeState st, const std::string& why);
  void advance();  // moves to the next phase once the current one has completely finished
  void halt(StopCause c, std::string reason);
  Status validate_and_index();

  std::vector<std::string> nodes_;
  std::vector<RolloutPhase> phases_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<NodeState> state_;
  std::vector<size_t> phase_of_;
  std::vector<size_t> unfinished_;   // per phase: nodes not yet ok/failed/down
  std::set<size_t> pending_;         // pending node indices of the current phase
  size_t loaded_ = SIZE_MAX;         // the phase pending_ was loaded for
  std::map<std::string, std::string> why_;
  size_t cur_ = 0;
  size_t budget_ = 1, allowance_ = 0, at_start_ = 0;
  size_t running_ = 0, down_ = 0, failures_ = 0;
  std::string budget_text_, max_fail_text_, batches_text_;
  size_t canary_ = 0;
  StopCause cause_ = StopCause::kNone;
  std::string reason_;
};

// ---- Overhead accounting (benchmark) -------------------------------------------------------

// The theoretical minimum wall time of a run with uniform per-node times: the sum over phases
// of ceil(size / budget) * (step_s + soak_s). `budget` is the room actually available
// (max_unavailable - unavailable_at_start), at least 1.
double min_wall_seconds(const std::vector<size_t>& phase_sizes, size_t budget, double step_s, double soak_s);
// The soak time such a run has to wait: the sum over phases of ceil(size / budget) * soak_s
// (nodes that soak side by side are waited for once). The benchmark's overhead is
// (wall - soak_wait) / soak_wait.
double soak_wait_seconds(const std::vector<size_t>& phase_sizes, size_t budget, double soak_s);
// With per-node soak times (node -> seconds, missing = 0): the wall time the rollout itself
// gives when every node takes step_s + soak and every event is handled at once, obtained by
// driving a fresh copy of `r` (all nodes succeed) in simulated time. Equals min_wall_seconds
// for uniform times.
double ideal_wall_seconds(const Rollout& r, double step_s, const std::map<std::string, double>& soak_s);
// The phase sizes of a rollout's layout.
std::vector<size_t> phase_sizes(const Rollout& r);

}  // namespace airlock::install
