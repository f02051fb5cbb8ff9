// Cross-node checks (probe-spec.md rows 3, 4, 7, 10, 32, 34, 36, 44 and the rules file's
// `identical:` entries): a fact's value on every node of a scope (nodes of the same profile,
// all nodes, or a role/group/label), the most common value taken as the reference, outliers
// reported on their nodes, and the matrices kept for the report. Internal to
// installer/validate.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "installer/validate/report.h"

namespace airlock::validate {

struct CrossInput {
  const NodeInput* in;
  NodeResult* out;
  std::string profile;
};

void run_cross_checks(std::vector<CrossInput>& nodes, const Rules& rules, const std::set<std::string>& ignored,
                      std::vector<Matrix>* matrices);

}  // namespace airlock::validate
