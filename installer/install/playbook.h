// Playbooks: the YAML rollout plans in playbooks/ (docs/playbooks.md). A playbook is a list of
// phases; each phase targets hosts by role, group, key=value label or name and lists steps,
// each a one-key map naming a built-in action. Loading is strict (unknown keys and actions are
// errors, "file:line:col: message: `offending text`"), checks every action's arguments and
// template syntax, and reads template/unit sources (relative to the playbook) into the object,
// so that planning needs no files. Values stay unrendered here; the planner renders per node.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "installer/install/template.h"

namespace airlock::install {

// The actions a step may name, in documentation order.
inline const std::vector<std::string> kActions = {"stage", "driver", "images", "files",  "template",
                                                  "switch", "service", "health", "command", "remove"};

// A file a step reads at load time (template `src`, service `unit`).
struct SourceFile {
  std::string path;  // as shown in messages: the playbook's folder joined with what it wrote
  std::string text;
  Template compiled;
};

struct Step {
  std::string action;      // one of kActions
  // The arguments, checked and normalised (durations in ms; defaults filled), unrendered:
  //   stage {}            driver {component?}       images {target, runtime, only[]}
  //   files {files:[{component, path, mode}]}       template {src, dest, mode}
  //   switch {} or {to}   (to: "last-good", "previous" or a release name, unrendered)
//   service {name, unit?, state, enabled}
  //   health {kind: http|tcp|exec, target (text, or argv list for exec), expect_status,
  //           deadline_ms, soak_ms, interval_ms}
  //   command {argv[], timeout_ms, creates}         remove {paths[]}
  nlohmann::json args = nlohmann::json::object();
  std::optional<SourceFile> source;  // template: src; service: unit
  std::string when;                  // a context path; the step applies only where it is true
  std::string defined_at;            // "file:line:col" of the step item
};

struct Phase {
  std::string name;
  std::vector<std::string> hosts;  // selectors: "all", role, group, key=value label, host name
  int concurrency = 64;
  std::string max_fail = "0";      // "N" or "P%"
  bool stop_on_failure = true;
  // airlock upgrade/rollback run this phase under the rollout scheduler (rollout.h: canary,
  // batches, one max_unavailable budget, max_fail from the command line) instead of
  // concurrency/max_fail; airlock install runs it like any other phase.
  bool rolling = false;
  std::vector<Step> steps;
  std::string defined_at;
};

struct Playbook {
  std::string name;
  std::string file;                // what errors call it
  std::string release = "{{ bundle.name }}-{{ bundle.version }}";  // template of the release dir name
  nlohmann::json vars = nlohmann::json::object();  // defaults under every host's vars
  std::vector<Phase> phases;
};

// Reads a source file named relative to the playbook; returns its text.
using SourceReader = std::function<Result<std::string>(const std::string& relative_path)>;

// `file` is what errors call the playbook; sources are shown as dirname(file)/src.
Result<Playbook> parse_playbook(const std::string& text, const std::string& file, const SourceReader& read);
// Reads the file and its sources from disk (relative to the playbook's folder).
Result<Playbook> load_playbook(const std::string& path);

}  // namespace airlock::install
