// The planner: turns a playbook into the per-node plan the engine applies (plan.h). Pure and
// deterministic: the same playbook, inventory, selection, facts and manifest give the same plan
// (and the same step digests). Resolves each phase's hosts, renders templates, units and inline
// values for each node (context: docs/playbooks.md), resolves components against the manifest,
// picks driver layers from facts (drivers/), and computes what each node must stage.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "common/result.h"
#include "installer/install/plan.h"
#include "installer/install/playbook.h"
#include "installer/inventory/inventory.h"

namespace airlock::install {

// `selected`: the hosts this run works on (e.g. inventory.select(-g, -w)); the template context
// still sees every host of the inventory (roles.*, hosts.*). `facts_by_node`: probe facts by
// host name (a node without facts cannot run a `driver` step; templates see no `facts`).
// Errors name the step ("playbook.yaml:LINE:COL"), its id and the node.
Result<Plan> make_plan(const Playbook& playbook, const inventory::Inventory& inventory,
                       const std::vector<const inventory::Host*>& selected,
                       const std::map<std::string, nlohmann::json>& facts_by_node,
                       const bundle::Manifest& manifest);

// A host matches a phase when any selector names one of its roles or groups, a "key=value"
// label, its name, or is "all".
bool host_matches(const inventory::Host& host, const std::vector<std::string>& selectors);

// "sha256:" + sha256 of the compact JSON of {"action": action, "params": params} (sorted keys).
std::string step_digest(const std::string& action, const nlohmann::json& params);

}  // namespace airlock::install
