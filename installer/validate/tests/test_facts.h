// Test inputs for the validator: the synthetic fixtures' expected facts
// (tests/fixtures/nodes/synthetic/*.expected.json), real captured machines probed through the
// probe library (hwloc fixtures unpacked by the build), and helpers to run the evaluator on a
// few nodes and pick out findings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "installer/validate/report.h"

namespace airlock::validate::test {

using json = nlohmann::json;

// tests/fixtures/nodes/synthetic/<name>.expected.json
json synthetic(const std::string& name);
// airlock.facts/v1 of a captured machine (build/probes/fixtures/hwloc/<name>).
json hwloc(const std::string& name);

// Evaluates named facts (node name, facts) with the rules (built-in by default).
Report run(const std::vector<std::pair<std::string, json>>& nodes, const Rules& rules = builtin_rules(),
           const Options& opts = {});
// Rules parsed from text (asserts they parse).
Rules rules(const std::string& yaml);

const NodeResult& node(const Report& r, const std::string& name);
// Findings of one check on one node.
std::vector<Finding> findings(const Report& r, const std::string& node, const std::string& check);
// The reason a check was not evaluated on a node ("" when it was).
std::string not_checked(const Report& r, const std::string& node, const std::string& check);
bool passed(const Report& r, const std::string& node, const std::string& check);
// "check subject: message" of every finding on a node, for failure messages.
std::string dump(const Report& r, const std::string& node);

}  // namespace airlock::validate::test
