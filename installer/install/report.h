// The run report of `airlock install` (and upgrade, rollback): what happened to every node and
// every step of one run, written at the end of every run (ok, failed or interrupted) as
// STATE_DIR/runs/RUN.json and RUN.html. Pure: the plan, the engine's RunResult and the StepEvents
// it reported (engine.h) in, strings out; the caller measures the time and writes the files.
//
// RUN.json keeps every key of run_result_json() (ok, phases, failures, changed, unchanged,
// bytes_sent, stopped, stop_reason, interrupted) and adds: run, kind, status, release, bundle,
// started_at_ns, wall_ms, totals, nodes (per node: status, failure, steps with status, message,
// duration_ms, bytes_sent), failure_list (failures first, with phase and step), validation.
// RUN.html is one self-contained file (no scripts, no external resources).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/encoding.h"
#include "installer/install/engine.h"
#include "installer/install/plan.h"

namespace airlock::install {

struct RunReportInfo {
  std::string run_id;
  std::string kind = "install";      // install | upgrade | rollback | resume
  std::string status;                // ok | failed | interrupted
  int64_t started_at_ns = 0;         // wall clock (UTC ns) when the run started
  int64_t wall_ms = 0;               // how long it ran
  // The validation gate's summary (cli validation_summary(): ran, skipped, blocks, counts,
  // problems[{node, check, severity, subject, message}], reports{json, html}); null: none ran.
  nlohmann::json validation;
};

// Node status in a report: "ok", "failed", "skipped" (not started after an earlier failure),
// "not reached" (the run stopped or was interrupted before its phase).
nlohmann::json run_report_json(const Plan& plan, const RunResult& r, const std::vector<StepEvent>& events,
                               const RunReportInfo& info);
std::string run_report_html(const Plan& plan, const RunResult& r, const std::vector<StepEvent>& events,
                            const RunReportInfo& info);

// "1.2 s", "3 min 4 s" (shared with the live progress line; bytes: common's human_bytes).
std::string human_duration_ms(int64_t ms);

}  // namespace airlock::install
