// Inside the planner: resolving one playbook step for one node into its PlanStep params (see
// plan.h for the params of each action) and the blobs it needs. planner.cc drives it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "common/result.h"
#include "installer/install/plan.h"
#include "installer/install/playbook.h"
#include "installer/install/template.h"

namespace airlock::install {

struct NodeInputs {
  std::string node;
  const nlohmann::json* facts = nullptr;  // nullptr: not probed
  const TemplateContext* ctx = nullptr;
  const bundle::Manifest* manifest = nullptr;
  std::string release;
};

struct ResolvedStep {
  nlohmann::json params;
  std::vector<BlobNeed> blobs;  // what this step reads from the node's content store
};

// Every action but `stage` (planner.cc fills stage from the node's other steps).
Result<ResolvedStep> resolve_step(const Step& step, const NodeInputs& in);

// The blob a node stores for a file-like component: its uncompressed content.
BlobNeed content_of(const bundle::Component& c);

}  // namespace airlock::install
