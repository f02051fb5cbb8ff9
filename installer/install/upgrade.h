// The rolling driver of `airlock upgrade` / `airlock rollback` (issue 8; docs/playbooks.md,
// "Rolling upgrades"). Runs a plan's phases in order: consecutive ordinary phases through the
// engine (apply_plan), and each `rolling: true` phase node by node under the rollout scheduler
// (rollout.h: canary, batches, ONE max_unavailable budget for the whole run, max_fail).
//
// Per node of a rolling phase: a quick reachability check, then the node's steps
// (run_phase_node: journaled, skipped by digest). A node whose step or health gate fails is
// reverted by the driver: its step records for the phase are rewritten first (so a later run
// does not skip them), then its services are stopped, `current` goes back to its last known good
// release (restoring that release's config files), the services restart, the phase's health
// gates run again and the steps after the last gate (undrain) run; it then counts as failed
// (Rollout::finished(node, false)). A node that cannot be reverted (old release unhealthy too,
// unreachable) is Rollout::failed_down: it stays out of service and the run stops.
//
// The scheduler's snapshot is written (atomically) after every event, in particular after a
// node is marked started and before anything is done to it: <snapshot_dir>/<run>.<phase>.rollout.json.
// A resumed run restores it: the nodes that were running are run again (their done steps are
// skipped, so this re-probes them) while still counting against the budget, and the run goes
// on with the original layout.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "installer/fleet/state_db.h"
#include "installer/install/engine.h"
#include "installer/install/plan.h"
#include "installer/install/rollout.h"
#include "installer/inventory/inventory.h"
#include "installer/transport/transport.h"

namespace airlock::install {

// What the rolling driver reports besides step events.
struct RolloutEvent {
  std::string type;    // layout | resume | start | ok | failed | down | stop
  std::string phase;   // the plan's phase
  std::string group;   // the rollout phase of the node: canary | batch-N
  std::string node;
  std::string message;
  size_t out_of_service = 0;   // after the event, as the scheduler counts it
  size_t max_unavailable = 0;
  size_t failures = 0;
};

// Ctrl-C: cancels the engine's phase and kills the rolling nodes' commands. Nodes cut short stay
// "running" in the snapshot (out of service), for resume to re-probe.
class UpgradeControl {
 public:
  void cancel();
  bool cancelled() const { return cancelled_; }
  EngineControl& engine() { return engine_; }
  bool add(transport::Transport* t);  // false when already cancelled
  void remove(transport::Transport* t);

 private:
  std::mutex mu_;
  std::atomic<bool> cancelled_{false};
  std::set<transport::Transport*> active_;
  EngineControl engine_;
};

struct UpgradeOptions {
  RolloutOptions rollout;
  std::string snapshot_dir;   // where <run>.<phase>.rollout.json are kept
  bool resume = false;        // restore the rolling phases' snapshots where they exist
  std::chrono::milliseconds reach_timeout{std::chrono::seconds(3)};  // the quick check before a node starts
};

struct UpgradeResult {
  RunResult run;
  std::map<std::string, nlohmann::json> rollouts;  // rolling phase -> its last snapshot
  std::vector<std::string> reverted;               // reverted to their last good release
  std::vector<std::string> down;                   // left out of service
  size_t max_out_of_service = 0;                   // the most the scheduler ever counted at once
};

std::string snapshot_path(const std::string& dir, const std::string& run_id, const std::string& phase);

// The steps that take one node of a rolling phase back (ids "<phase>.revert.<i>.<action>"):
// stop each service the phase starts, switch {to: last-good}, restart them, the phase's health
// gates, then the phase's steps after its last health gate.
std::vector<PlanStep> revert_steps(const std::string& phase, const std::vector<PlanStep>& steps);

UpgradeResult run_upgrade(const Plan& plan, const inventory::Inventory& inv, transport::TransportFactory& factory,
                          fleet::StateDb& db, const EngineOptions& eo, const UpgradeOptions& uo,
                          const std::function<void(const StepEvent&)>& on_step,
                          const std::function<void(const RolloutEvent&)>& on_rollout, UpgradeControl* control);

// Per phase lines, the rollout, failures; "VERB to TARGET complete" (TARGET: the plan's release
// when empty; a rollback names where it went).
std::string render_upgrade_summary(const Plan& plan, const UpgradeResult& r, const std::string& verb,
                                   const std::string& target = "");
nlohmann::json upgrade_result_json(const UpgradeResult& r);

}  // namespace airlock::install
