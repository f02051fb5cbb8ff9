// The HTML rendering of a Report: one self-contained file (inline CSS, no scripts, fonts or
// images: it is opened inside the air gap) with the summary, the blocking checks, a per-node
// table, each node's findings with their evidence (fact path and raw value), the cross-node
// matrices with outliers marked, "not checked, and why", and the check catalog. Every text
// from facts, rules or names is escaped. Node lists are folded into node sets so that 1,000
// nodes stay well under 5 MB.
#include <algorithm>
#include <array>
#include <ctime>
#include <map>
#include <set>

#include "installer/validate/report.h"
#include "installer/validate/report_util.h"

namespace airlock::validate {
namespace {

const char* kStyle = R"css(
:root{--fail:#c62828;--warn:#a35b00;--info:#1565c0;--pass:#2e7d32;--line:#dde1e6;--muted:#5f6b7a}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2933;background:#f4f6f8}
header{background:#1f2933;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#c5ccd6}
nav{background:#fff;border-bottom:1px solid var(--line);padding:8px 28px;position:sticky;top:0}
nav a{margin-right:18px;color:#1f2933;text-decoration:none;font-weight:600}
main{padding:8px 28px 40px;max-width:1500px}
h2{margin:28px 0 10px;font-size:18px;border-bottom:2px solid var(--line);padding-bottom:4px}
h3{margin:18px 0 6px;font-size:15px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 18px;min-width:120px}
.card .n{font-size:30px;font-weight:700;line-height:1.1}
.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.fail .n{color:var(--fail)}.card.warn .n{color:var(--warn)}.card.pass .n{color:var(--pass)}.card.info .n{color:var(--info)}
.verdict{margin:14px 0 0;padding:10px 14px;border-radius:6px;font-weight:600;color:#fff}
.verdict.fail{background:var(--fail)}.verdict.warn{background:var(--warn)}.verdict.pass{background:var(--pass)}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line)}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef1f4;font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:#3e4c59}
.nowrap{white-space:nowrap}
td.num{text-align:right;white-space:nowrap}
.badge{display:inline-block;min-width:44px;text-align:center;padding:1px 7px;border-radius:10px;color:#fff;font-size:11px;font-weight:700;text-transform:uppercase}
.s-fail{background:var(--fail)}.s-warn{background:var(--warn)}.s-info{background:var(--info)}.s-pass{background:var(--pass)}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;background:#eef1f4;padding:0 3px;border-radius:3px;word-break:break-all}
.muted{color:var(--muted)}
code.id{white-space:nowrap;word-break:normal}
td.who{width:38%}
.nodes{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;word-break:break-all}
tr.outlier td{background:#fff3e0}
.mark{color:var(--warn);font-weight:700}
details{background:#fff;border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:0 10px}
details summary{cursor:pointer;padding:7px 0;font-weight:600}
details table{margin:4px 0 10px}
dl.id{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:4px 0 10px}
dl.id dt{color:var(--muted)}dl.id dd{margin:0}
ul.ev{margin:0;padding-left:16px}
)css";

std::string h(const std::string& s) { return xml_escape(s); }

// A folded node set with a space after each top-level comma, so that it wraps between names.
std::string nodes_text(const std::vector<std::string>& names, size_t max_len) {
  std::string f = fold_names(names, max_len), out;
  int depth = 0;
  for (char ch : f) {
    depth += ch == '[' ? 1 : ch == ']' ? -1 : 0;
    out += ch;
    if (ch == ',' && depth == 0) out += ' ';
  }
  return h(out);
}

std::string join_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& s : ids) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string badge(const std::string& s) { return "<span class=\"badge s-" + h(s) + "\">" + h(s) + "</span>"; }

std::string utc(int64_t ns) {
  if (ns <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string identity_of(const NodeResult& n, const char* key) {
  for (const auto& [k, v] : n.identity) {
    if (k == key) return v;
  }
  return "-";
}

void summary(const Report& r, std::string& o) {
  auto c = r.counts();
  o += "<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">";
  auto card = [&](const char* cls, size_t n, const char* label) {
    o += "<div class=\"card " + std::string(cls) + "\"><div class=\"n\">" + std::to_string(n) + "</div><div class=\"l\">" + label + "</div></div>";
  };
  card("", c.nodes, "nodes");
  card("fail", c.fail, "nodes failing");
  card("warn", c.warn, "nodes with warnings");
  card("pass", c.pass + c.info, "nodes passing");
  card("fail", c.findings_fail, "fail findings");
  card("warn", c.findings_warn, "warn findings");
  card("info", c.findings_info, "info findings");
  card("", not_checked_groups(r).size(), "not checked (check, reason)");
  o += "</div>";
  int code = r.exit_code();
  const char* v = code == 2 ? "fail" : code == 1 ? "warn" : "pass";
  std::string text = code == 2 ? "Blocked: some node fails a check (exit 2)."
                   : code == 1 ? "Warnings need sign-off (exit 1)."
                               : "Every node passes (exit 0).";
  o += "<p class=\"verdict " + std::string(v) + "\">" + h(text) + "</p></section>\n";
}

void blocking(const Report& r, std::string& o) {
  o += "<section id=\"blocking\"><h2>Findings by check</h2>";
  auto groups = findings_by_check(r);
  if (groups.empty()) {
    o += "<p>No findings.</p></section>\n";
    return;
  }
  o += "<table><thead><tr><th>Severity</th><th>Check</th><th>What it checks</th><th>Nodes</th><th>Which</th></tr></thead><tbody>";
  for (const auto& g : groups) {
    const CheckInfo* ci = find_check(g.check);
    o += "<tr><td>" + badge(severity_name(g.severity)) + "</td><td><code class=\"id\">" + h(g.check) + "</code></td><td>" +
         h(ci ? ci->title : "rules file: identical facts") + "</td><td class=\"num\">" + std::to_string(g.nodes.size()) +
         "</td><td class=\"nodes who\">" + nodes_text(g.nodes, 600) + "</td></tr>";
  }
  o += "</tbody></table></section>\n";
}

void node_table(const Report& r, const std::vector<size_t>& order, std::string& o) {
  o += "<section id=\"nodes\"><h2>Nodes</h2><table><thead><tr><th>Status</th><th>Node</th><th>Profile</th><th>OS / kernel</th>"
       "<th>Accelerators</th><th>Findings</th></tr></thead><tbody>";
  for (size_t i : order) {
    const NodeResult& n = r.nodes[i];
    std::string first;
    size_t count = 0;
    for (const auto& f : n.findings) {
      if (first.empty()) first = f.check + (f.subject.empty() ? "" : " " + f.subject) + ": " + f.message;
      ++count;
    }
    std::string name = n.findings.empty() ? h(n.name) : "<a href=\"#n" + std::to_string(i) + "\">" + h(n.name) + "</a>";
    o += "<tr><td>" + badge(status_name(n.status)) + "</td><td class=\"nowrap\">" + name + "</td><td>" + h(n.profile) + "</td><td>" +
         h(identity_of(n, "os")) + "<br><span class=\"muted\">" + h(identity_of(n, "kernel")) + "</span></td><td>" +
         h(identity_of(n, "accelerators")) + "</td><td>" + h(first) +
         (count > 1 ? " <span class=\"muted\">(+" + std::to_string(count - 1) + " more)</span>" : "") + "</td></tr>";
  }
  o += "</tbody></table></section>\n";
}

void node_details(const Report& r, const std::vector<size_t>& order, std::string& o) {
  o += "<section id=\"findings\"><h2>Findings per node, with evidence</h2>";
  bool open = r.nodes.size() <= 20;
  bool any = false;
  for (size_t i : order) {
    const NodeResult& n = r.nodes[i];
    if (n.findings.empty()) continue;
    any = true;
    o += "<details id=\"n" + std::to_string(i) + "\"" + (open ? " open" : "") + "><summary>" + badge(status_name(n.status)) + " " +
         h(n.name) + " <span class=\"muted\">(" + std::to_string(n.findings.size()) + " finding(s), profile " + h(n.profile) +
         ")</span></summary>";
    o += "<dl class=\"id\">";
    for (const auto& [k, v] : n.identity) o += "<dt>" + h(k) + "</dt><dd>" + h(v) + "</dd>";
    o += "<dt>facts</dt><dd>" + h(n.source.empty() ? "-" : n.source) + "</dd></dl>";
    o += "<table><thead><tr><th>Severity</th><th>Check</th><th>Where</th><th>Finding</th><th>Evidence (fact path = raw value)</th></tr></thead><tbody>";
    for (const auto& f : n.findings) {
      o += "<tr><td>" + badge(severity_name(f.severity)) + "</td><td><code class=\"id\">" + h(f.check) + "</code></td><td>" + h(f.subject) +
           "</td><td>" + h(f.message) + "</td><td><ul class=\"ev\">";
      for (const auto& e : f.evidence) o += "<li><code>" + h(e.path) + "</code> = <code>" + h(evidence_text(e.value)) + "</code></li>";
      o += "</ul></td></tr>";
    }
    o += "</tbody></table></details>\n";
  }
  if (!any) o += "<p>No node has findings.</p>";
  o += "</section>\n";
}

void matrices(const Report& r, std::string& o) {
  o += "<section id=\"matrices\"><h2>Cross-node matrices</h2><p class=\"muted\">Each fact's values over the nodes of a scope; "
       "the most common value is the reference, <span class=\"mark\">outliers</span> are marked and reported on their nodes.</p>";
  if (r.matrices.empty()) o += "<p>No cross-node comparison applied.</p>";
  for (const auto& m : r.matrices) {
    bool any_outlier = false;
    for (const auto& row : m.rows) any_outlier = any_outlier || row.outlier;
    o += "<h3>" + h(m.title) + " <span class=\"muted\">&middot; " + h(m.scope) + " &middot; <code>" + h(m.check) + "</code>" +
         (any_outlier ? " &middot; <span class=\"mark\">outliers</span>" : "") + "</span></h3>";
    o += "<table><thead><tr><th>Value</th><th>Nodes</th><th>Which</th></tr></thead><tbody>";
    for (const auto& row : m.rows) {
      o += std::string(row.outlier ? "<tr class=\"outlier\">" : "<tr>") + "<td><code>" + h(row.value) + "</code>" +
           (row.outlier ? " <span class=\"mark\">outlier</span>" : "") + "</td><td class=\"num\">" + std::to_string(row.nodes.size()) +
           "</td><td class=\"nodes who\">" + nodes_text(row.nodes, 400) + "</td></tr>";
    }
    o += "</tbody></table>";
  }
  o += "</section>\n";
}

void not_checked(const Report& r, std::string& o) {
  o += "<section id=\"not-checked\"><h2>Not checked, and why</h2><p class=\"muted\">A check that could not be evaluated is "
       "never counted as passed: the fact is missing from the probe, unreadable (no root, timeout), a tool is absent, or the "
       "rules set no requirement.</p>";
  auto groups = not_checked_groups(r);
  if (groups.empty()) {
    o += "<p>Every check was evaluated on every node.</p></section>\n";
    return;
  }
  o += "<table><thead><tr><th>Check</th><th>Why</th><th>Nodes</th><th>Which</th></tr></thead><tbody>";
  for (const auto& g : groups) {
    o += "<tr><td><code class=\"id\">" + h(g.check) + "</code></td><td>" + h(g.reason) + "</td><td class=\"num\">" +
         std::to_string(g.nodes.size()) + "</td><td class=\"nodes who\">" + nodes_text(g.nodes, 300) + "</td></tr>";
  }
  o += "</tbody></table></section>\n";
}

void check_catalog(const Report& r, std::string& o) {
  std::map<std::string, std::array<size_t, 3>> tally;  // id -> nodes with finding, passed, not checked
  for (const auto& n : r.nodes) {
    std::set<std::string> with;
    for (const auto& f : n.findings) with.insert(f.check);
    for (const auto& id : with) ++tally[id][0];
    for (const auto& id : n.passed) ++tally[id][1];
    for (const auto& nc : n.not_checked) ++tally[nc.check][2];
  }
  o += "<section id=\"checks\"><h2>Checks</h2><table><thead><tr><th>Check</th><th>Severity</th><th>Spec</th><th>What it checks</th>"
       "<th>Reads</th><th>Findings</th><th>Passed</th><th>Not checked</th></tr></thead><tbody>";
  for (const auto& ci : catalog()) {
    bool ignored = std::find(r.ignored.begin(), r.ignored.end(), ci.id) != r.ignored.end();
    auto t = tally[ci.id];
    o += "<tr><td><code class=\"id\">" + h(ci.id) + "</code></td><td>" + badge(severity_name(ci.severity)) + "</td><td>" + h(ci.spec) + "</td><td>" +
         h(ci.title) + (ignored ? " <strong>(ignored)</strong>" : "") + "</td><td class=\"muted\">" + h(ci.reads) + "</td><td class=\"num\">" +
         std::to_string(t[0]) + "</td><td class=\"num\">" + std::to_string(t[1]) + "</td><td class=\"num\">" + std::to_string(t[2]) +
         "</td></tr>";
  }
  o += "</tbody></table></section>\n";
}

}  // namespace

std::string render_html(const Report& r) {
  auto c = r.counts();
  std::vector<size_t> order = nodes_by_status(r);
  std::string o;
  o.reserve(64 * 1024 + r.nodes.size() * 1024);
  o += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>airlock validate: " +
       std::to_string(c.nodes) + " nodes, " + std::to_string(c.fail) + " failing</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  o += "<header><h1>Hardware validation report</h1><p>" + std::to_string(c.nodes) + " nodes &middot; generated " +
       h(utc(r.generated_at_ns)) + " by airlock " + h(AIRLOCK_VERSION) + " &middot; rules: " + h(r.rules_source) +
       (r.ignored.empty() ? "" : " &middot; ignored: " + h(join_ids(r.ignored))) +
       (r.enforce_warnings ? " &middot; warnings enforced" : "") + "</p></header>\n";
  o += "<nav><a href=\"#summary\">Summary</a><a href=\"#blocking\">Findings by check</a><a href=\"#nodes\">Nodes</a>"
       "<a href=\"#findings\">Evidence</a><a href=\"#matrices\">Cross-node</a><a href=\"#not-checked\">Not checked</a>"
       "<a href=\"#checks\">Checks</a></nav>\n<main>\n";
  summary(r, o);
  blocking(r, o);
  node_table(r, order, o);
  node_details(r, order, o);
  matrices(r, o);
  not_checked(r, o);
  check_catalog(r, o);
  o += "</main>\n</body>\n</html>\n";
  return o;
}

}  // namespace airlock::validate
