// The install engine: applies a plan (plan.h) across the fleet. Phases run in order; within a
// phase each node runs its steps in order, at most `concurrency` nodes at once. Every step is
// journaled (intent, then done or failed) in the state database before and after it acts, and
// recorded on the node (`airlock-node state set-step`), so a step whose digest is already done
// there is skipped: a re-run of the same install changes nothing, and `resume` after a killed
// installer continues where it stopped. A node whose step fails stops at that step (releases are
// built aside and switched atomically, so nothing half-written is visible) and takes no part in
// later phases; the phase fails when its failures exceed max_fail, and the run stops when a
// failed phase says so.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "installer/fleet/executor.h"
#include "installer/fleet/state_db.h"
#include "installer/install/actions.h"
#include "installer/install/plan.h"
#include "installer/inventory/inventory.h"
#include "installer/transport/transport.h"

namespace airlock::install {

// What happened to one step of one node; the engine reports each as it happens.
struct StepEvent {
  std::string phase;
  std::string node;
  std::string step;         // plan step id
  std::string action;
  std::string status;       // changed | unchanged | failed
  std::string message;      // why it was unchanged, what changed, or the error
  uint64_t bytes_sent = 0;
  int64_t duration_ms = 0;
};

struct PhaseResult {
  std::string name;
  std::vector<std::string> ok, failed, not_started;
  bool exceeded = false;    // failures exceeded max_fail
};

struct RunResult {
  std::vector<PhaseResult> phases;
  std::map<std::string, std::string> node_failures;  // node -> first failure
  size_t changed = 0, unchanged = 0;
  uint64_t bytes_sent = 0;
  bool stopped = false;     // a phase failed and stopped the run
  std::string stop_reason;
  bool interrupted = false;
  bool ok() const { return !stopped && !interrupted && node_failures.empty(); }
};

// `max_fail` ("N" or "P%") for `total` nodes: how many failures are allowed (exceeding stops).
size_t allowed_failures(const std::string& max_fail, size_t total);

// Lets another thread (Ctrl-C) stop a run: the running phase is cancelled (its remote commands
// killed), no later phase starts.
class EngineControl {
 public:
  void cancel();
  bool cancelled() const;
  // Registers the running phase's executor (nullptr when none); false when already cancelled.
  bool set_current(fleet::Executor* ex);

 private:
  mutable std::mutex mu_;
  fleet::Executor* current_ = nullptr;
  bool cancelled_ = false;
};

// (node, step id) -> digest of the steps a run's journal records as done (latest entry).
using JournalDone = std::map<std::pair<std::string, std::string>, std::string>;
JournalDone journal_done_steps(fleet::StateDb& db, const std::string& run_id);

// Collects step events into a RunResult and forwards them, for node runs on several threads.
class RunSink {
 public:
  RunSink(RunResult* result, std::function<void(const StepEvent&)> on_event)
      : result_(result), on_event_(std::move(on_event)) {}
  void emit(const StepEvent& e);

 private:
  std::mutex mu_;
  RunResult* result_;
  std::function<void(const StepEvent&)> on_event_;
};

// One node's steps of one phase, exactly as apply_plan runs them: refuses a downgrade, skips
// steps the journal (`done`) or the node records as done for the same digest, journals
// intent/done/failed, records each step on the node, keeps a snapshot of every config file and
// unit it writes (/var/lib/airlock/configs/<release>/..., restored by a switch back), and after
// a phase with a switch marks the release actually switched to as last known good and records
// the bundle. A switch back ({to: ...}) is never skipped, and when it changed the node the
// phase's later steps run whatever the node recorded. The error names the node and the step.
Status run_phase_node(const Plan& plan, const PhasePlan& phase, const inventory::Host& h, transport::Transport& t,
                      fleet::StateDb& db, const EngineOptions& o, const JournalDone& done, RunSink& sink);

RunResult apply_plan(const Plan& plan, const inventory::Inventory& inv, transport::TransportFactory& factory,
                     fleet::StateDb& db, const EngineOptions& opts, const std::function<void(const StepEvent&)>& on_event,
                     EngineControl* control = nullptr);

// One line per phase: nodes ok, failed, and not started (`not_started` says why they were not).
std::string render_phase_lines(const RunResult& r, const std::string& not_started);
// Human summary of a run (per phase counts, failures with reasons).
std::string render_run_summary(const Plan& plan, const RunResult& r);
nlohmann::json run_result_json(const RunResult& r);

}  // namespace airlock::install
