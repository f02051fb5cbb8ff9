// A small site for the install tests: 1 manager + 3 agents (two H100 nodes, one Gaudi2), a
// manifest with the test service binary, two driver layers and an image, and probe facts from
// the synthetic fixtures. Also: the shipped playbooks loaded with stable file names.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "installer/install/playbook.h"
#include "installer/install/plan.h"
#include "installer/inventory/inventory.h"

namespace airlock::install::testing {

inventory::Inventory site_inventory();
bundle::Manifest site_manifest();
std::map<std::string, nlohmann::json> site_facts();  // gpu1, gpu2: h100-8x-ndr; gpu3: gaudi2; mgr1: none
std::vector<const inventory::Host*> all_hosts(const inventory::Inventory& inv);

// A shipped playbook (name like "install.yaml") read from playbooks/, called
// "playbooks/<name>" in messages so that plans and goldens do not depend on the checkout path.
Result<Playbook> shipped_playbook(const std::string& name);

// The plan of a shipped playbook for the test site (fails the test on errors).
Plan plan_site(const Playbook& pb);

std::string read_text(const std::string& path);

}  // namespace airlock::install::testing
