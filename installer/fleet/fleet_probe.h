// `airlock probe -i INVENTORY`: send airlock-node to every node (once: skipped when the node
// already has that digest), run `airlock-node probe` there in one exec round trip, estimate the
// node's clock skew from the round trip, store the facts in the state database, and summarise
// the fleet: nodes reached, accelerators by model, RDMA ports by state, failures with reasons.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "installer/fleet/executor.h"
#include "installer/fleet/state_db.h"

namespace airlock::fleet {

struct ProbeOptions {
  std::string node_binary;                 // local airlock-node to send
  std::string node_binary_sha256;          // its digest (hex)
  std::string remote_dir = "/var/lib/airlock/bin";  // host var `airlock_bin_dir` overrides
  std::chrono::seconds probe_timeout{60};
  std::string run_id;                      // recorded with each node's outcome
};

struct NodeProbe {
  std::string node;
  Status status;
  FactsRecord record;                      // when status is ok
  nlohmann::json facts;                    // parsed facts (when ok)
  uint64_t bytes_sent = 0;
};

// Runs the probe across `hosts`; `on_node` sees each node as it finishes (for --json streams).
// Storing into `db` (may be null) happens as each node finishes.
std::vector<NodeProbe> probe_fleet(Executor& ex, const std::vector<const inventory::Host*>& hosts,
                                   const ProbeOptions& opts, StateDb* db,
                                   const std::function<void(const NodeProbe&)>& on_node = {});

// Facts of one node from `airlock-node probe` output; errors name the node.
Result<nlohmann::json> parse_node_facts(const std::string& node, const std::string& stdout_text);

// The human summary and its JSON form.
std::string render_probe_summary(const std::vector<NodeProbe>& nodes, std::chrono::nanoseconds wall);
nlohmann::json probe_summary_json(const std::vector<NodeProbe>& nodes, std::chrono::nanoseconds wall);

}  // namespace airlock::fleet
