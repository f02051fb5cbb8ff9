// What the renderers share: node order (failing first), findings and "not checked" grouped by
// check and reason across nodes, node lists folded into node sets, XML/HTML escaping, and an
// evidence value as text. Internal to installer/validate.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "installer/validate/report.h"

namespace airlock::validate {

// Node indexes: fail, warn, info, pass; input order within each.
std::vector<size_t> nodes_by_status(const Report& r);

struct CheckGroup {
  std::string check;
  Severity severity;
  std::vector<std::string> nodes;  // each node once
  size_t findings = 0;
};
// Every check with findings, blocking first, then by node count.
std::vector<CheckGroup> findings_by_check(const Report& r);

struct NotCheckedGroup {
  std::string check;
  std::string reason;
  std::vector<std::string> nodes;
};
// "Not checked" entries grouped by check and reason, by check id.
std::vector<NotCheckedGroup> not_checked_groups(const Report& r);

// Names folded into a node set ("gpu[001-064,066]"), cut at max_len with the count.
std::string fold_names(const std::vector<std::string>& names, size_t max_len);
// Escapes & < > " ' (valid in XML text and attributes and in HTML).
std::string xml_escape(const std::string& s);
// Strings as they are, other values as compact JSON.
std::string evidence_text(const nlohmann::json& v);

}  // namespace airlock::validate
