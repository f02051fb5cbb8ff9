// The run report (report.h): node status (ok, failed, skipped, not reached), failures first with
// phase, step and reason, per-step details and totals in RUN.json; a self-contained HTML file
// with everything escaped (checked with `tidy -errors -q` when Debian's tidy is installed).
#include "installer/install/report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "installer/install/tests/test_site.h"

namespace airlock::install {
namespace {

using json = nlohmann::json;
using testing::plan_site;
using testing::shipped_playbook;

Plan site_plan() {
  auto pb = shipped_playbook("install.yaml");
  EXPECT_TRUE(pb.ok()) << (pb.ok() ? "" : pb.error().describe());
  return plan_site(*pb);
}

StepEvent ev(const std::string& phase, const std::string& node, const std::string& step, const std::string& status,
             const std::string& msg, uint64_t bytes, int64_t ms) {
  return {phase, node, step, step.substr(step.rfind('.') + 1), status, msg, bytes, ms};
}

// A run where gpu2 fails its agents.0.files step with a message full of markup, gpu3 could not
// be reached (no step event), and the run stopped before the check phase (mgr1's).
struct FailedRun {
  Plan plan = site_plan();
  RunResult r;
  std::vector<StepEvent> events;
  RunReportInfo info;

  FailedRun() {
    for (const char* n : {"mgr1", "gpu1", "gpu2", "gpu3"}) {
      events.push_back(ev("stage", n, "stage.0.stage", "changed", "2 blob(s) stored", 1 << 20, 1500));
    }
    events.push_back(ev("agents", "gpu1", "agents.0.files", "changed", "1 file(s)", 0, 20));
    events.push_back(ev("agents", "gpu2", "agents.0.files", "failed",
                        "gpu2: step agents.0.files: <script>alert(1)</script> & \"no space\"", 0, 30));
    r.phases.push_back({"stage", {"mgr1", "gpu1", "gpu2", "gpu3"}, {}, {}, false});
    r.phases.push_back({"drivers", {"gpu1", "gpu2", "gpu3"}, {}, {}, false});
    r.phases.push_back({"manager", {"mgr1"}, {}, {}, false});
    r.phases.push_back({"agents", {"gpu1"}, {"gpu2", "gpu3"}, {}, true});
    r.node_failures["gpu2"] = "gpu2: step agents.0.files: <script>alert(1)</script> & \"no space\"";
    r.node_failures["gpu3"] = "gpu3: connect: unreachable";
    r.changed = 5;
    r.bytes_sent = 4 << 20;
    r.stopped = true;
    r.stop_reason = "phase agents: 2 of 3 node(s) failed (max_fail 10%)";
    info.run_id = "install-20261128T091500Z-1a2b";
    info.status = "failed";
    info.started_at_ns = 1795824000LL * 1000000000LL;
    info.wall_ms = 65400;
    info.validation = {{"ran", true},
                       {"skipped", true},
                       {"blocks", true},
                       {"rules", "built-in"},
                       {"counts", {{"nodes", 4}, {"pass", 2}, {"warn", 1}, {"fail", 1}}},
                       {"problems", json::array({{{"node", "gpu2"},
                                                  {"check", "container.gpu_runtime"},
                                                  {"severity", "fail"},
                                                  {"subject", ""},
                                                  {"message", "NVIDIA Container Toolkit <not> installed"}}})}};
  }
};

TEST(RunReport, JsonHasEveryNodeStepAndFailuresFirst) {
  FailedRun f;
  json j = run_report_json(f.plan, f.r, f.events, f.info);
  // The keys of run_result_json() stay.
  for (const char* k : {"ok", "phases", "failures", "changed", "unchanged", "bytes_sent", "stopped", "stop_reason",
                        "interrupted"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(j["run"], f.info.run_id);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["wall_ms"], 65400);
  EXPECT_EQ(j["nodes"]["gpu2"]["status"], "failed");
  EXPECT_EQ(j["nodes"]["gpu3"]["status"], "failed");
  EXPECT_EQ(j["nodes"]["gpu1"]["status"], "ok");
  EXPECT_EQ(j["nodes"]["mgr1"]["status"], "not reached");  // the check phase never ran
  ASSERT_EQ(j["nodes"]["gpu1"]["steps"].size(), 2u);
  EXPECT_EQ(j["nodes"]["gpu1"]["steps"][0]["step"], "stage.0.stage");
  EXPECT_EQ(j["nodes"]["gpu1"]["steps"][0]["duration_ms"], 1500);
  EXPECT_EQ(j["nodes"]["gpu1"]["steps"][0]["bytes_sent"], 1 << 20);
  EXPECT_EQ(j["nodes"]["gpu1"]["bytes_sent"], 1 << 20);
  ASSERT_EQ(j["failure_list"].size(), 2u);
  EXPECT_EQ(j["failure_list"][0]["node"], "gpu2");
  EXPECT_EQ(j["failure_list"][0]["phase"], "agents");
  EXPECT_EQ(j["failure_list"][0]["step"], "agents.0.files");
  EXPECT_EQ(j["failure_list"][1]["node"], "gpu3");
  EXPECT_EQ(j["failure_list"][1]["phase"], "agents");
  EXPECT_EQ(j["failure_list"][1]["step"], "");
  EXPECT_EQ(j["totals"]["nodes"], 4);
  EXPECT_EQ(j["totals"]["nodes_failed"], 2);
  EXPECT_EQ(j["totals"]["changed"], 5);
  EXPECT_EQ(j["totals"]["failed_steps"], 1);
  EXPECT_EQ(j["totals"]["bytes_sent"], 4 << 20);
  // Phases: every phase of the plan, the ones not run marked.
  ASSERT_EQ(j["phases"].size(), f.plan.phases.size());
  bool saw_unreached = false;
  for (const auto& p : j["phases"]) {
    if (p["name"] == "agents") {
      EXPECT_EQ(p["failed"], json::array({"gpu2", "gpu3"}));
      EXPECT_EQ(p["exceeded_max_fail"], true);
      EXPECT_EQ(p["failed_steps"], 1);
    }
    if (p["name"] == "check") {
      EXPECT_EQ(p["reached"], false);
      saw_unreached = true;
    }
  }
  EXPECT_TRUE(saw_unreached) << j["phases"].dump();
  EXPECT_EQ(j["validation"]["problems"][0]["check"], "container.gpu_runtime");
}

TEST(RunReport, OkRunEveryNodeOk) {
  Plan plan = site_plan();
  RunResult r;
  std::vector<StepEvent> events;
  for (const auto& ph : plan.phases) {
    r.phases.push_back({ph.name, {}, {}, {}, false});
    for (const auto& n : ph.nodes) {
      auto st = ph.steps.find(n);
      if (st == ph.steps.end() || st->second.empty()) continue;
      r.phases.back().ok.push_back(n);
      for (const auto& s : st->second) events.push_back(ev(ph.name, n, s.id, "unchanged", "already done on the node", 0, 3));
    }
  }
  RunReportInfo info{"install-x", "install", "ok", 0, 1200, nullptr};
  json j = run_report_json(plan, r, events, info);
  EXPECT_EQ(j["ok"], true);
  for (const auto& [node, n] : j["nodes"].items()) EXPECT_EQ(n["status"], "ok") << node;
  EXPECT_EQ(j["failure_list"].size(), 0u);
  EXPECT_EQ(j["totals"]["unchanged"], events.size());
  std::string html = run_report_html(plan, r, events, info);
  EXPECT_NE(html.find("installed on every node"), std::string::npos);
  EXPECT_NE(html.find("No validation ran"), std::string::npos);
}

TEST(RunReport, HtmlIsSelfContainedEscapedAndFailuresFirst) {
  FailedRun f;
  std::string html = run_report_html(f.plan, f.r, f.events, f.info);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;no space&quot;"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_NE(html.find("Toolkit &lt;not&gt; installed"), std::string::npos);
  EXPECT_NE(html.find("Validation failed and was skipped"), std::string::npos);
  EXPECT_NE(html.find("1 min 5 s"), std::string::npos);  // wall time
  // Failures come before the phases; the failed nodes' details come first and are open.
  size_t failures = html.find("id=\"failures\"");
  size_t phases = html.find("id=\"phases\"");
  ASSERT_NE(failures, std::string::npos);
  EXPECT_LT(failures, phases);
  EXPECT_LT(html.find("<details id=\"node-gpu2\" open>"), html.find("<details id=\"node-gpu1\""));
  EXPECT_NE(html.find("stage.0.stage"), std::string::npos);

  if (std::system("command -v tidy >/dev/null 2>&1") == 0) {
    char path[] = "/tmp/airlock-report-XXXXXX.html";
    int fd = ::mkstemps(path, 5);
    ASSERT_GE(fd, 0);
    ::close(fd);
    std::ofstream(path) << html;
    std::string cmd = std::string("tidy -errors -q ") + path + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    int rc = ::pclose(p);
    ::unlink(path);
    EXPECT_EQ(rc, 0) << out;
  }
}

TEST(RunReport, HumanUnits) {
  EXPECT_EQ(human_bytes(312), "312 B");
  EXPECT_EQ(human_bytes(1536 * 1024), "1.5 MiB");
  EXPECT_EQ(human_duration_ms(250), "250 ms");
  EXPECT_EQ(human_duration_ms(1234), "1.2 s");
  EXPECT_EQ(human_duration_ms(184000), "3 min 4 s");
}

}  // namespace
}  // namespace airlock::install
