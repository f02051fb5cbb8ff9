// The validation report: what `airlock validate` found, node by node and across nodes, and
// what it could not check and why. evaluate() is a pure function from facts, inventory hosts
// and rules to a Report; the render_* functions turn a Report into the terminal summary, the
// JSON document (airlock.validate/v1, docs/validate.md), JUnit XML and one self-contained HTML
// file.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "installer/validate/checks.h"
#include "installer/validate/rules.h"

namespace airlock::validate {

// One node as the evaluator sees it.
struct NodeInput {
  std::string name;
  const nlohmann::json* facts = nullptr;  // nullptr: no facts (load_error says why, or none taken)
  std::string load_error;                 // why the facts could not be read or parsed
  std::string source;                     // "state database" or the facts file
  std::vector<std::string> roles;         // from the inventory (empty without one)
  std::vector<std::string> groups;
  std::map<std::string, std::string> labels;
  bool has_skew = false;                  // from the state database only
  int64_t skew_ns = 0;                    // node clock minus installer clock
  int64_t skew_error_ns = 0;              // +/- bound of that estimate
};

struct Evidence {
  std::string path;        // readable fact path: pci[0000:5c:00.0].upstream_links[2].current_width
  nlohmann::json value;    // the raw value
};

struct Finding {
  std::string check;
  Severity severity = Severity::kFail;
  std::string subject;     // what inside the node: a PCI address, a port, a mount ("" for the node)
  std::string message;
  std::vector<Evidence> evidence;
};

struct NotChecked {
  std::string check;
  std::string reason;      // "missing fact X", "X: EACCES", "not configured: ...", "tool absent: ..."
};

enum class Status { kPass, kInfo, kWarn, kFail };
const char* status_name(Status s);  // "pass", "info", "warn", "fail"

struct NodeResult {
  std::string name;
  std::string profile;
  std::vector<std::string> roles;
  std::string source;
  Status status = Status::kPass;
  std::vector<Finding> findings;          // blocking first (fail, then warn, then info)
  std::vector<NotChecked> not_checked;
  std::vector<std::string> passed;        // check ids evaluated with no finding
  // Identity for the report: os, kernel, cpu, memory, accelerators, driver, ...
  std::vector<std::pair<std::string, std::string>> identity;
};

// One cross-node matrix: a fact's values over the nodes of a scope.
struct MatrixRow {
  std::string value;
  std::vector<std::string> nodes;
  bool outlier = false;    // not the most common value
};
struct Matrix {
  std::string check;       // the check that reports its outliers
  std::string title;       // "NVIDIA driver", "Kernel", ...
  std::string fact;        // fact path(s) read
  std::string scope;       // "profile h100" or "all nodes"
  std::vector<MatrixRow> rows;  // most common first
};

struct Options {
  std::vector<std::string> ignore;  // --ignore (added to the rules' ignore list)
  bool enforce_warnings = false;
  int64_t now_ns = 0;               // for the report header only
};

struct Report {
  std::string rules_source;
  std::vector<std::string> ignored;
  bool enforce_warnings = false;
  int64_t generated_at_ns = 0;
  std::vector<NodeResult> nodes;    // in input order
  std::vector<Matrix> matrices;
  std::vector<std::string> check_ids;  // every check id that ran (catalog minus ignored, plus rule ids)

  struct Counts {
    size_t nodes = 0, pass = 0, info = 0, warn = 0, fail = 0;
    size_t findings_fail = 0, findings_warn = 0, findings_info = 0, not_checked = 0;
  };
  Counts counts() const;
  // 0 all pass (info allowed), 1 warnings only (unless enforced), 2 any failure.
  int exit_code() const;
};

// Pure: the same inputs give the same report.
Report evaluate(const std::vector<NodeInput>& nodes, const Rules& rules, const Options& opts);

std::string render_terminal(const Report& r, bool color);
nlohmann::json render_json(const Report& r);
std::string render_junit(const Report& r);
std::string render_html(const Report& r);

}  // namespace airlock::validate
