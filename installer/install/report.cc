// The run report (see report.h): a model of the run built once from the plan, the RunResult and
// the step events, rendered as JSON and as one self-contained HTML file (inline CSS, no
// scripts, fonts or images: it is opened inside the air gap). Every text from nodes, messages
// or names is escaped; failures come first.
#include "installer/install/report.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <set>

#include "installer/inventory/nodeset.h"

namespace airlock::install {
namespace {

using json = nlohmann::json;

struct NodeModel {
  std::string name;
  std::string status;            // ok | failed | skipped | not reached
  std::string failure;           // the engine's reason
  std::string failed_phase, failed_step;
  std::vector<const StepEvent*> steps;
  size_t changed = 0, unchanged = 0, failed_steps = 0;
  uint64_t bytes = 0;
  int64_t duration_ms = 0;
};

struct PhaseModel {
  std::string name;
  bool reached = false;
  const PhaseResult* result = nullptr;
  std::vector<std::string> planned;      // nodes with steps in this phase
  std::vector<std::string> not_reached;  // planned but neither ok, failed nor skipped
  size_t changed = 0, unchanged = 0, failed_steps = 0;
  uint64_t bytes = 0;
};

struct Model {
  std::vector<NodeModel> nodes;          // failed first, then plan order
  std::vector<PhaseModel> phases;
  size_t changed = 0, unchanged = 0, failed_steps = 0;
  uint64_t bytes = 0;
  size_t ok = 0, failed = 0, skipped = 0, not_reached = 0;
};

Model build(const Plan& plan, const RunResult& r, const std::vector<StepEvent>& events) {
  Model m;
  std::map<std::string, size_t> index;
  auto node = [&](const std::string& n) -> NodeModel& {
    auto it = index.find(n);
    if (it != index.end()) return m.nodes[it->second];
    index[n] = m.nodes.size();
    m.nodes.push_back({});
    m.nodes.back().name = n;
    return m.nodes.back();
  };
  std::map<std::string, const PhaseResult*> results;
  for (const auto& p : r.phases) results[p.name] = &p;
  std::set<std::string> not_reached;
  for (const auto& ph : plan.phases) {
    PhaseModel pm;
    pm.name = ph.name;
    auto it = results.find(ph.name);
    pm.reached = it != results.end();
    pm.result = pm.reached ? it->second : nullptr;
    for (const auto& n : ph.nodes) {
      node(n);
      auto st = ph.steps.find(n);
      if (st == ph.steps.end() || st->second.empty()) continue;
      pm.planned.push_back(n);
      bool accounted = pm.result && (std::count(pm.result->ok.begin(), pm.result->ok.end(), n) ||
                                     std::count(pm.result->failed.begin(), pm.result->failed.end(), n) ||
                                     std::count(pm.result->not_started.begin(), pm.result->not_started.end(), n));
      if (!accounted) {
        pm.not_reached.push_back(n);
        not_reached.insert(n);
      }
    }
    m.phases.push_back(std::move(pm));
  }
  // Phases the plan does not have (should not happen) still show.
  for (const auto& p : r.phases) {
    if (std::none_of(m.phases.begin(), m.phases.end(), [&](const auto& x) { return x.name == p.name; })) {
      m.phases.push_back({p.name, true, &p, {}, {}, 0, 0, 0, 0});
    }
  }
  std::map<std::string, PhaseModel*> by_phase;
  for (auto& p : m.phases) by_phase[p.name] = &p;
  for (const auto& e : events) {
    NodeModel& n = node(e.node);
    n.steps.push_back(&e);
    n.bytes += e.bytes_sent;
    n.duration_ms += e.duration_ms;
    PhaseModel* pm = by_phase.count(e.phase) ? by_phase[e.phase] : nullptr;
    size_t* counters[3] = {&n.changed, pm ? &pm->changed : nullptr, &m.changed};
    if (e.status == "unchanged") {
      counters[0] = &n.unchanged;
      counters[1] = pm ? &pm->unchanged : nullptr;
      counters[2] = &m.unchanged;
    } else if (e.status == "failed") {
      counters[0] = &n.failed_steps;
      counters[1] = pm ? &pm->failed_steps : nullptr;
      counters[2] = &m.failed_steps;
      if (n.failed_step.empty()) {
        n.failed_step = e.step;
        n.failed_phase = e.phase;
      }
    }
    for (size_t* c : counters) {
      if (c) ++*c;
    }
    if (pm) pm->bytes += e.bytes_sent;
    m.bytes += e.bytes_sent;
  }
  std::set<std::string> skipped, ok;
  for (const auto& p : r.phases) {
    skipped.insert(p.not_started.begin(), p.not_started.end());
    ok.insert(p.ok.begin(), p.ok.end());
    for (const auto& f : p.failed) {
      NodeModel& n = node(f);
      if (n.failed_phase.empty()) n.failed_phase = p.name;
    }
  }
  for (auto& n : m.nodes) {
    auto f = r.node_failures.find(n.name);
    if (f != r.node_failures.end()) {
      n.status = "failed";
      n.failure = f->second;
    } else if (not_reached.count(n.name)) {
      n.status = "not reached";
    } else if (skipped.count(n.name)) {
      n.status = "skipped";
    } else {
      n.status = "ok";
    }
    if (n.status == "ok") ++m.ok;
    if (n.status == "failed") ++m.failed;
    if (n.status == "skipped") ++m.skipped;
    if (n.status == "not reached") ++m.not_reached;
  }
  std::stable_partition(m.nodes.begin(), m.nodes.end(), [](const NodeModel& n) { return n.status == "failed"; });
  return m;
}

json step_json(const StepEvent& e) {
  return {{"phase", e.phase},     {"step", e.step},         {"action", e.action},          {"status", e.status},
          {"message", e.message}, {"duration_ms", e.duration_ms}, {"bytes_sent", e.bytes_sent}};
}

std::string utc(int64_t ns) {
  if (ns <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(ns / 1000000000);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

std::string h(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default:
        // Control characters other than tab and newline are not allowed in HTML text.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          o += "&#xFFFD;";
        } else {
          o += c;
        }
    }
  }
  return o;
}

// An id usable in href="#..." for a node name.
std::string anchor(const std::string& node) {
  std::string o = "node-";
  for (char c : node) o += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return o;
}

const char* kStyle = R"css(
:root{--fail:#c62828;--warn:#a35b00;--info:#1565c0;--pass:#2e7d32;--skip:#6b7785;--line:#dde1e6;--muted:#5f6b7a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2933;background:#f4f6f8}
header{background:#1f2933;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#c5ccd6}
nav{background:#fff;border-bottom:1px solid var(--line);padding:8px 28px;position:sticky;top:0}
nav a{margin-right:18px;color:#1f2933;text-decoration:none;font-weight:600}
main{padding:8px 28px 40px;max-width:1500px}
h2{margin:28px 0 10px;font-size:18px;border-bottom:2px solid var(--line);padding-bottom:4px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 18px;min-width:120px}
.card .n{font-size:28px;font-weight:700;line-height:1.1}
.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.fail .n{color:var(--fail)}.card.pass .n{color:var(--pass)}.card.warn .n{color:var(--warn)}
.verdict{margin:14px 0 0;padding:10px 14px;border-radius:6px;font-weight:600;color:#fff}
.verdict.failed,.verdict.refused{background:var(--fail)}.verdict.interrupted{background:var(--warn)}.verdict.ok{background:var(--pass)}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef1f4;font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:#3e4c59}
td.num{text-align:right;white-space:nowrap}
.badge{display:inline-block;min-width:44px;text-align:center;padding:1px 7px;border-radius:10px;color:#fff;font-size:11px;font-weight:700;text-transform:uppercase;white-space:nowrap}
.s-failed,.s-fail{background:var(--fail)}.s-changed,.s-ok,.s-pass{background:var(--pass)}.s-unchanged{background:var(--info)}
.s-skipped,.s-not-reached{background:var(--skip)}.s-warn{background:var(--warn)}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;background:#eef1f4;padding:0 3px;border-radius:3px;word-break:break-all}
.msg{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;white-space:pre-wrap;word-break:break-all}
.muted{color:var(--muted)}
.nodes{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;word-break:break-all}
details{background:#fff;border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:0 10px}
details summary{cursor:pointer;padding:7px 0;font-weight:600}
details table{margin:4px 0 10px}
)css";

std::string badge(const std::string& status) {
  std::string cls = status;
  std::replace(cls.begin(), cls.end(), ' ', '-');
  return "<span class=\"badge s-" + h(cls) + "\">" + h(status) + "</span>";
}

std::string card(const std::string& n, const std::string& label, const std::string& cls = "") {
  return "<div class=\"card" + (cls.empty() ? "" : " " + cls) + "\"><div class=\"n\">" + h(n) + "</div><div class=\"l\">" +
         h(label) + "</div></div>";
}

std::string fold(const std::vector<std::string>& nodes) {
  return nodes.empty() ? "<span class=\"muted\">-</span>" : "<span class=\"nodes\">" + h(inventory::fold_nodeset(nodes)) + "</span>";
}

}  // namespace

std::string human_duration_ms(int64_t ms) {
  char buf[48];
  if (ms < 0) ms = 0;
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lld ms", static_cast<long long>(ms));
  } else if (ms < 60000) {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  } else if (ms < 3600000) {
    std::snprintf(buf, sizeof buf, "%lld min %lld s", static_cast<long long>(ms / 60000),
                  static_cast<long long>((ms / 1000) % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld h %lld min", static_cast<long long>(ms / 3600000),
                  static_cast<long long>((ms / 60000) % 60));
  }
  return buf;
}

json run_report_json(const Plan& plan, const RunResult& r, const std::vector<StepEvent>& events,
                     const RunReportInfo& info) {
  Model m = build(plan, r, events);
  json out = run_result_json(r);
  out["run"] = info.run_id;
  out["kind"] = info.kind;
  out["status"] = info.status;
  out["release"] = plan.release;
  out["playbook"] = plan.playbook;
  out["bundle"] = {{"name", plan.bundle_name}, {"version", plan.bundle_version}, {"release", plan.bundle_release}};
  out["started_at_ns"] = info.started_at_ns;
  out["wall_ms"] = info.wall_ms;
  out["totals"] = {{"nodes", m.nodes.size()},    {"nodes_ok", m.ok},          {"nodes_failed", m.failed},
                   {"nodes_skipped", m.skipped}, {"nodes_not_reached", m.not_reached},
                   {"changed", m.changed},       {"unchanged", m.unchanged},  {"failed_steps", m.failed_steps},
                   {"bytes_sent", m.bytes},      {"wall_ms", info.wall_ms}};
  json phases = json::array();
  for (const auto& p : m.phases) {
    json j = {{"name", p.name},       {"reached", p.reached},     {"planned", p.planned.size()},
              {"ok", json::array()},  {"failed", json::array()},  {"not_started", json::array()},
              {"not_reached", p.not_reached}, {"exceeded_max_fail", false}, {"changed", p.changed},
              {"unchanged", p.unchanged}, {"failed_steps", p.failed_steps}, {"bytes_sent", p.bytes}};
    if (p.result) {
      j["ok"] = p.result->ok;
      j["failed"] = p.result->failed;
      j["not_started"] = p.result->not_started;
      j["exceeded_max_fail"] = p.result->exceeded;
    }
    phases.push_back(std::move(j));
  }
  out["phases"] = phases;
  json nodes = json::object();
  json failure_list = json::array();
  for (const auto& n : m.nodes) {
    json steps = json::array();
    for (const auto* e : n.steps) steps.push_back(step_json(*e));
    nodes[n.name] = {{"status", n.status},       {"failure", n.failure},   {"changed", n.changed},
                     {"unchanged", n.unchanged}, {"bytes_sent", n.bytes},   {"duration_ms", n.duration_ms},
                     {"steps", steps}};
    if (n.status == "failed") {
      failure_list.push_back({{"node", n.name}, {"phase", n.failed_phase}, {"step", n.failed_step}, {"reason", n.failure}});
    }
  }
  out["nodes"] = nodes;
  out["failure_list"] = failure_list;
  out["validation"] = info.validation;
  return out;
}

std::string run_report_html(const Plan& plan, const RunResult& r, const std::vector<StepEvent>& events,
                            const RunReportInfo& info) {
  Model m = build(plan, r, events);
  std::string o;
  std::string title = "airlock " + info.kind + " " + info.run_id + ": " + info.status;
  o += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
       h(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  o += "<header><h1>Run report: " + h(info.kind) + " " + h(plan.release) + "</h1><p>run " + h(info.run_id) +
       " &middot; bundle " + h(plan.bundle_name) + " version " + std::to_string(plan.bundle_version) +
       (plan.bundle_release.empty() ? "" : " (" + h(plan.bundle_release) + ")") + " &middot; playbook " +
       h(plan.playbook) + " &middot; started " + h(utc(info.started_at_ns)) + " &middot; wall time " +
       h(human_duration_ms(info.wall_ms)) + "</p></header>\n";
  o += "<nav><a href=\"#summary\">Summary</a><a href=\"#failures\">Failures</a><a href=\"#validation\">Validation</a>"
       "<a href=\"#phases\">Phases</a><a href=\"#nodes\">Nodes</a></nav>\n<main>\n";

  // Summary.
  o += "<h2 id=\"summary\">Summary</h2>\n<div class=\"cards\">";
  o += card(std::to_string(m.nodes.size()), "nodes");
  o += card(std::to_string(m.ok), "nodes ok", "pass");
  o += card(std::to_string(m.failed), "nodes failed", m.failed ? "fail" : "");
  o += card(std::to_string(m.skipped + m.not_reached), "skipped / not reached");
  o += card(std::to_string(m.changed), "steps changed");
  o += card(std::to_string(m.unchanged), "steps unchanged");
  o += card(human_bytes(m.bytes), "sent");
  o += card(human_duration_ms(info.wall_ms), "wall time");
  o += "</div>\n";
  std::string verdict;
  if (info.status == "ok") {
    verdict = "Release " + plan.release + " installed on every node.";
  } else if (info.status == "interrupted") {
    verdict = "Interrupted: finish it with `airlock resume " + info.run_id + "`.";
  } else {
    verdict = "Failed: " + std::to_string(m.failed) + " node(s) failed" +
              (r.stopped ? "; stopped: " + r.stop_reason : "") + ". Fix them and run `airlock resume " + info.run_id + "`.";
  }
  std::string vcls = info.status == "ok" || info.status == "interrupted" ? info.status : "failed";
  o += "<p class=\"verdict " + vcls + "\">" + h(verdict) + "</p>\n";

  // Failures first.
  o += "<h2 id=\"failures\">Failures</h2>\n";
  if (m.failed == 0) {
    o += "<p class=\"muted\">No node failed.</p>\n";
  } else {
    o += "<table>\n<thead><tr><th>node</th><th>phase</th><th>step</th><th>reason</th></tr></thead>\n<tbody>\n";
    for (const auto& n : m.nodes) {
      if (n.status != "failed") continue;
      o += "<tr><td><a href=\"#" + anchor(n.name) + "\">" + h(n.name) + "</a></td><td>" + h(n.failed_phase) +
           "</td><td><code>" + h(n.failed_step.empty() ? "-" : n.failed_step) + "</code></td><td class=\"msg\">" +
           h(n.failure) + "</td></tr>\n";
    }
    o += "</tbody>\n</table>\n";
  }
  if (r.stopped) o += "<p><strong>Stopped:</strong> " + h(r.stop_reason) + "</p>\n";

  // Validation.
  o += "<h2 id=\"validation\">Validation</h2>\n";
  const json& v = info.validation;
  if (!v.is_object() || !v.value("ran", false)) {
    o += "<p class=\"muted\">No validation ran for this run.</p>\n";
  } else {
    const json& c = v.value("counts", json::object());
    o += "<p>" + std::to_string(c.value("nodes", 0)) + " node(s): " + std::to_string(c.value("fail", 0)) + " fail, " +
         std::to_string(c.value("warn", 0)) + " warn, " + std::to_string(c.value("pass", 0)) + " pass" +
         " &middot; rules: " + h(v.value("rules", std::string("built-in"))) +
         (v.value("enforce_warnings", false) ? " &middot; warnings enforced" : "") + "</p>\n";
    if (v.value("skipped", false) && v.value("blocks", false)) {
      o += "<p class=\"verdict failed\">Validation failed and was skipped (--skip-validation).</p>\n";
    }
    if (v.contains("reports") && v["reports"].is_object()) {
      o += "<p>Full report:";
      for (const auto& [k, path] : v["reports"].items()) {
        if (path.is_string()) o += " " + h(k) + " <code>" + h(path.get<std::string>()) + "</code>";
      }
      o += "</p>\n";
    }
    const json& problems = v.value("problems", json::array());
    if (!problems.empty()) {
      o += "<table>\n<thead><tr><th>node</th><th>check</th><th>severity</th><th>message</th></tr></thead>\n<tbody>\n";
      for (const auto& p : problems) {
        std::string subject = p.value("subject", "");
        o += "<tr><td>" + h(p.value("node", "")) + "</td><td><code>" + h(p.value("check", "")) + "</code></td><td>" +
             badge(p.value("severity", "")) + "</td><td>" + (subject.empty() ? "" : h(subject) + ": ") +
             h(p.value("message", "")) + "</td></tr>\n";
      }
      o += "</tbody>\n</table>\n";
    }
  }

  // Phases.
  o += "<h2 id=\"phases\">Phases</h2>\n<table>\n<thead><tr><th>phase</th><th>nodes</th><th>ok</th><th>failed</th>"
       "<th>skipped</th><th>not reached</th><th>changed</th><th>unchanged</th><th>sent</th></tr></thead>\n<tbody>\n";
  for (const auto& p : m.phases) {
    static const std::vector<std::string> none;
    const auto& ok = p.result ? p.result->ok : none;
    const auto& failed = p.result ? p.result->failed : none;
    const auto& skipped = p.result ? p.result->not_started : none;
    o += "<tr><td>" + h(p.name) + (p.result && p.result->exceeded ? " " + badge("failed") : "") +
         (p.reached ? "" : " <span class=\"muted\">(not reached)</span>") + "</td><td class=\"num\">" +
         std::to_string(p.planned.size()) + "</td><td>" + std::to_string(ok.size()) + " " + fold(ok) + "</td><td>" +
         std::to_string(failed.size()) + " " + fold(failed) + "</td><td>" + std::to_string(skipped.size()) + " " +
         fold(skipped) + "</td><td>" + std::to_string(p.not_reached.size()) + " " + fold(p.not_reached) +
         "</td><td class=\"num\">" + std::to_string(p.changed) + "</td><td class=\"num\">" +
         std::to_string(p.unchanged) + "</td><td class=\"num\">" + h(human_bytes(p.bytes)) + "</td></tr>\n";
  }
  o += "</tbody>\n</table>\n";

  // Nodes: failed first, each with every step.
  o += "<h2 id=\"nodes\">Nodes</h2>\n";
  for (const auto& n : m.nodes) {
    o += std::string("<details id=\"") + anchor(n.name) + "\"" + (n.status == "failed" ? " open" : "") + "><summary>" +
         h(n.name) + " " + badge(n.status) + " <span class=\"muted\">" + std::to_string(n.steps.size()) +
         " step(s), " + std::to_string(n.changed) + " changed, " + h(human_bytes(n.bytes)) + ", " +
         h(human_duration_ms(n.duration_ms)) + "</span></summary>\n";
    if (!n.failure.empty()) o += "<p class=\"msg\">" + h(n.failure) + "</p>\n";
    if (n.steps.empty()) {
      o += "<p class=\"muted\">No step ran on this node in this run.</p>\n";
    } else {
      o += "<table>\n<thead><tr><th>phase</th><th>step</th><th>action</th><th>status</th><th>message</th>"
           "<th>duration</th><th>sent</th></tr></thead>\n<tbody>\n";
      for (const auto* e : n.steps) {
        o += "<tr><td>" + h(e->phase) + "</td><td><code>" + h(e->step) + "</code></td><td>" + h(e->action) +
             "</td><td>" + badge(e->status) + "</td><td class=\"msg\">" + h(e->message) + "</td><td class=\"num\">" +
             h(human_duration_ms(e->duration_ms)) + "</td><td class=\"num\">" + h(human_bytes(e->bytes_sent)) +
             "</td></tr>\n";
      }
      o += "</tbody>\n</table>\n";
    }
    o += "</details>\n";
  }
  o += "</main>\n</body>\n</html>\n";
  return o;
}

}  // namespace airlock::install
