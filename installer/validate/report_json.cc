// The JSON rendering of a Report: `airlock.validate/v1`, documented in docs/validate.md.
// Fields are only added within v1.
#include "installer/validate/report.h"
#include "installer/validate/report_util.h"

namespace airlock::validate {

nlohmann::json render_json(const Report& r) {
  using nlohmann::json;
  auto c = r.counts();
  json out;
  out["schema"] = "airlock.validate/v1";
  out["airlock_version"] = AIRLOCK_VERSION;
  out["generated_at_ns"] = r.generated_at_ns;
  out["rules"] = {{"source", r.rules_source}, {"ignored", r.ignored}, {"enforce_warnings", r.enforce_warnings}};
  out["summary"] = {{"nodes", c.nodes},
                    {"status", {{"pass", c.pass}, {"info", c.info}, {"warn", c.warn}, {"fail", c.fail}}},
                    {"findings", {{"fail", c.findings_fail}, {"warn", c.findings_warn}, {"info", c.findings_info}}},
                    {"not_checked", c.not_checked},
                    {"exit_code", r.exit_code()}};
  json checks = json::array();
  for (const auto& ci : catalog()) {
    bool ignored = std::find(r.ignored.begin(), r.ignored.end(), ci.id) != r.ignored.end();
    checks.push_back({{"id", ci.id}, {"severity", severity_name(ci.severity)}, {"spec", ci.spec}, {"title", ci.title},
                      {"reads", ci.reads}, {"ignored", ignored}});
  }
  out["checks"] = std::move(checks);
  json nodes = json::array();
  for (const auto& n : r.nodes) {
    json jn = {{"name", n.name}, {"status", status_name(n.status)}, {"profile", n.profile}, {"roles", n.roles}, {"source", n.source}};
    json id = json::object();
    for (const auto& [k, v] : n.identity) id[k] = v;
    jn["identity"] = std::move(id);
    json fs = json::array();
    for (const auto& f : n.findings) {
      json ev = json::array();
      for (const auto& e : f.evidence) ev.push_back({{"path", e.path}, {"value", e.value}});
      fs.push_back({{"check", f.check}, {"severity", severity_name(f.severity)}, {"subject", f.subject}, {"message", f.message},
                    {"evidence", std::move(ev)}});
    }
    jn["findings"] = std::move(fs);
    json nc = json::array();
    for (const auto& x : n.not_checked) nc.push_back({{"check", x.check}, {"reason", x.reason}});
    jn["not_checked"] = std::move(nc);
    jn["passed"] = n.passed;
    nodes.push_back(std::move(jn));
  }
  out["nodes"] = std::move(nodes);
  json ms = json::array();
  for (const auto& m : r.matrices) {
    json rows = json::array();
    for (const auto& row : m.rows) rows.push_back({{"value", row.value}, {"outlier", row.outlier}, {"count", row.nodes.size()}, {"nodes", row.nodes}});
    ms.push_back({{"check", m.check}, {"title", m.title}, {"fact", m.fact}, {"scope", m.scope}, {"rows", std::move(rows)}});
  }
  out["cross_node"] = std::move(ms);
  json groups = json::array();
  for (const auto& g : not_checked_groups(r)) {
    groups.push_back({{"check", g.check}, {"reason", g.reason}, {"count", g.nodes.size()}, {"nodes", g.nodes}});
  }
  out["not_checked"] = std::move(groups);
  return out;
}

}  // namespace airlock::validate
