// Terminal and JUnit renderings of a Report. Terminal: one line per node (failing nodes first,
// their blocking findings first), then the blocking checks and a summary. JUnit: one
// <testsuite> per node, one <testcase> per check: <failure> for fail (and warn with
// --enforce-warnings), <skipped> for checks not evaluated, warnings and info in <system-out>.
#include <algorithm>
#include <cstdio>
#include <map>

#include "installer/inventory/nodeset.h"
#include "installer/validate/report.h"
#include "installer/validate/report_util.h"

namespace airlock::validate {

std::string render_terminal(const Report& r, bool color) {
  auto paint = [&](Status s, const std::string& text) {
    if (!color) return text;
    const char* c = s == Status::kFail ? "\033[31;1m" : s == Status::kWarn ? "\033[33;1m" : s == Status::kInfo ? "\033[36m" : "\033[32m";
    return std::string(c) + text + "\033[0m";
  };
  std::string out;
  for (size_t i : nodes_by_status(r)) {
    const NodeResult& n = r.nodes[i];
    std::string tag = status_name(n.status);
    std::transform(tag.begin(), tag.end(), tag.begin(), ::toupper);
    char head[128];
    std::snprintf(head, sizeof head, "%-4s", tag.c_str());
    std::string line = paint(n.status, head) + "  " + n.name;
    size_t shown = 0;
    for (const auto& f : n.findings) {
      if (f.severity == Severity::kInfo || shown == 2) continue;
      line += (shown == 0 ? "  " : "; ") + f.check + (f.subject.empty() ? "" : " " + f.subject) + ": " + f.message;
      ++shown;
    }
    size_t blocking = 0;
    for (const auto& f : n.findings) blocking += f.severity != Severity::kInfo ? 1 : 0;
    if (blocking > shown) line += " (+" + std::to_string(blocking - shown) + " more)";
    out += line + "\n";
  }
  // Which checks block, on how many nodes.
  auto by_check = findings_by_check(r);
  bool any = false;
  for (const auto& g : by_check) {
    if (g.severity == Severity::kInfo) continue;
    if (!any) out += "\nblocking:\n";
    any = true;
    char buf[96];
    std::snprintf(buf, sizeof buf, "  %-4s %-30s %5zu node(s)  ", severity_name(g.severity), g.check.c_str(), g.nodes.size());
    out += buf + fold_names(g.nodes, 120) + "\n";
  }
  auto c = r.counts();
  char sum[512];
  std::snprintf(sum, sizeof sum,
                "\nvalidate: %zu node(s): %zu fail, %zu warn, %zu pass (%zu with info only); findings: %zu fail, %zu warn, %zu "
                "info; %zu check(s) not evaluated on some node (see the report's \"not checked\")%s\n",
                c.nodes, c.fail, c.warn, c.pass + c.info, c.info, c.findings_fail, c.findings_warn, c.findings_info,
                not_checked_groups(r).size(), r.enforce_warnings ? "; warnings enforced" : "");
  out += sum;
  return out;
}

std::string render_junit(const Report& r) {
  auto c = r.counts();
  std::string body;
  size_t total_tests = 0, total_fail = 0, total_skip = 0;
  for (const auto& n : r.nodes) {
    std::map<std::string, std::vector<const Finding*>> by;
    for (const auto& f : n.findings) by[f.check].push_back(&f);
    std::string cases;
    size_t tests = 0, fails = 0, skips = 0;
    std::string cls = "airlock.validate." + xml_escape(n.name);
    for (const auto& [check, fs] : by) {
      ++tests;
      bool failing = false;
      std::string text;
      for (const Finding* f : fs) {
        failing = failing || f->severity == Severity::kFail || (f->severity == Severity::kWarn && r.enforce_warnings);
        text += std::string(severity_name(f->severity)) + " " + (f->subject.empty() ? "" : f->subject + ": ") + f->message + "\n";
        for (const auto& e : f->evidence) text += "  " + e.path + " = " + evidence_text(e.value) + "\n";
      }
      cases += "    <testcase classname=\"" + cls + "\" name=\"" + xml_escape(check) + "\">";
      if (failing) {
        ++fails;
        cases += "<failure type=\"" + std::string(severity_name(fs[0]->severity)) + "\" message=\"" + xml_escape(fs[0]->message) +
                 "\">" + xml_escape(text) + "</failure>";
      } else {
        cases += "<system-out>" + xml_escape(text) + "</system-out>";
      }
      cases += "</testcase>\n";
    }
    for (const auto& nc : n.not_checked) {
      if (by.count(nc.check)) continue;
      ++tests;
      ++skips;
      cases += "    <testcase classname=\"" + cls + "\" name=\"" + xml_escape(nc.check) + "\"><skipped message=\"" +
               xml_escape(nc.reason) + "\"/></testcase>\n";
    }
    for (const auto& id : n.passed) {
      ++tests;
      cases += "    <testcase classname=\"" + cls + "\" name=\"" + xml_escape(id) + "\"/>\n";
    }
    total_tests += tests;
    total_fail += fails;
    total_skip += skips;
    body += "  <testsuite name=\"" + xml_escape(n.name) + "\" tests=\"" + std::to_string(tests) + "\" failures=\"" +
            std::to_string(fails) + "\" errors=\"0\" skipped=\"" + std::to_string(skips) + "\">\n" + cases + "  </testsuite>\n";
  }
  (void)c;
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"airlock validate\" tests=\"" + std::to_string(total_tests) +
         "\" failures=\"" + std::to_string(total_fail) + "\" errors=\"0\" skipped=\"" + std::to_string(total_skip) + "\">\n" + body +
         "</testsuites>\n";
}

}  // namespace airlock::validate
