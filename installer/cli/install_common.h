// What `airlock install`, `upgrade` and `rollback` share: run ids, finding the shipped
// playbooks, verifying a bundle and extracting its file components once into the state
// folder, and probing the selected nodes into the state database before planning.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "common/result.h"
#include "installer/fleet/state_db.h"
#include "installer/inventory/inventory.h"
#include "installer/transport/transport.h"

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

// The latest facts of every node in the database (node -> facts JSON).
Result<std::map<std::string, nlohmann::json>> latest_facts(fleet::StateDb& db);

}  // namespace airlock::cli
