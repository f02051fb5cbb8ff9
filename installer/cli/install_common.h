// What `airlock install`, `upgrade` and `rollback` share: run ids, finding the shipped
// playbooks, verifying a bundle and extracting its file components once into the state
// folder, and probing the selected nodes into the state database before planning.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "common/result.h"
#include "installer/cli/fleet_options.h"
#include "installer/fleet/state_db.h"
#include "installer/install/engine.h"
#include "installer/install/plan.h"
#include "installer/inventory/inventory.h"
#include "installer/transport/transport.h"
#include "installer/validate/report.h"

namespace airlock::cli {

int64_t now_ns();
// "install-20261128T091500Z-1a2b": the kind, the UTC time, 16 random bits.
std::string new_run_id(const std::string& kind);

// The playbook to use: `given`, or the shipped NAME from $AIRLOCK_PLAYBOOKS, or beside this
// program (installed: ../share/airlock/playbooks; build tree: ../../playbooks, or the source
// tree it was built from).
Result<std::string> find_playbook(const std::string& given, const std::string& name);

struct BundleInput {
  std::string bundle;
  std::vector<std::string> pubs;
  bool allow_expired = false;
  bool progress = false;
};

// A verified bundle: its manifest, and content digest -> the extracted local file.
struct Verified {
  bundle::Manifest manifest;
  std::map<std::string, std::string> content;
};

// Verifies the bundle and extracts its file components once per manifest digest into
// STATE_DIR/bundles/<digest>.
Result<Verified> verify_and_extract(const BundleInput& a, const std::string& state_dir);

// Probes `hosts` (airlock-node sent where missing) and stores their facts in `db`. An error
// names every node that could not be probed; kCancelled after Ctrl-C.
Status probe_for_run(transport::TransportFactory& sessions, const std::vector<const inventory::Host*>& hosts,
                     const std::string& node_bin, const std::string& node_sha_hex, fleet::StateDb& db, int fanout,
                     bool display, const std::string& run_kind);

// What every run kind stores in its run record and `resume` reads back: the inventory and node
// selection, the bundle and its keys, the playbook, --allow-downgrade (paths made absolute; an
// empty bundle stays empty). A kind adds its own keys to the object.
nlohmann::json run_args_json(const FleetArgs& fleet, const std::string& bundle, const std::vector<std::string>& pubs,
                             const std::string& playbook, bool allow_downgrade);
void read_run_args(const nlohmann::json& args, FleetArgs& fleet, std::string& bundle, std::vector<std::string>& pubs,
                   std::string& playbook, bool& allow_downgrade);

// The run record `id` and its stored arguments; errors name the run and the database.
struct StoredRun {
  fleet::RunRecord record;
  nlohmann::json args;
};
Result<StoredRun> load_run(fleet::StateDb& db, const std::string& id, const std::string& state_path);

// The latest facts of every node in the database (node -> facts JSON).
Result<std::map<std::string, nlohmann::json>> latest_facts(fleet::StateDb& db);

// The validation gate of install/upgrade: what `airlock validate` does (built-in checks, or
// the rules file), over the latest facts of `hosts` in `db` (with the probe's clock skew).
struct ValidationOptions {
  std::string rules;                 // rules file; empty: the built-in checks
  std::vector<std::string> ignore;   // check ids to skip (an unknown id is kInvalidArgument)
  bool enforce_warnings = false;     // warnings block too
};
Result<validate::Report> validate_for_run(fleet::StateDb& db, const std::vector<const inventory::Host*>& hosts,
                                          const ValidationOptions& o);

// One line per finding that blocks (fail; warn too when enforced) or, with `all`, per warning
// as well: "node003: container.gpu_runtime (fail): MESSAGE".
std::vector<std::string> validation_problems(const validate::Report& r, bool all = false);
// True when the report blocks an install (a failure, or a warning when enforced).
bool validation_blocks(const validate::Report& r);
// A short JSON summary for the run report: counts, skipped, the problems (node, check,
// severity, message) and the report files.
nlohmann::json validation_summary(const validate::Report& r, bool skipped);

// Live progress of an install-like run, driven by the engine's StepEvents (engine.h on_event):
// per phase "nodes done/running/failed", bytes sent and an ETA from the phase's finished-node
// rate, redrawn on one stderr line while `display` is set and stderr is a terminal. Set
// EngineOptions::live_counts = false when using it. Nodes whose connection fails report no
// step, so they show up only in the summary. Thread-safe.
class RunProgress {
 public:
  RunProgress(const install::Plan& plan, bool display);
  ~RunProgress();  // stops redrawing and clears the line
  RunProgress(const RunProgress&) = delete;
  RunProgress& operator=(const RunProgress&) = delete;

  // Records the event. When it finishes its node's part of the phase (its last step, or a
  // failure), returns a "progress" record for --json: {type, phase, node, node_status, done,
  // failed, total, bytes_sent (whole run), eta_s (null until one node finished)}.
  std::optional<nlohmann::json> on_event(const install::StepEvent& e);
  // Prints through `print` (a log line) with the progress line cleared first (redrawn later).
  void above(const std::function<void()>& print);
  // The line as it would be drawn now ("" before the first event).
  std::string line() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace airlock::cli
