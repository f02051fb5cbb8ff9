// The renderings: terminal lines (failing nodes first), the JSON schema's fields, JUnit
// counts, HTML escaping and size, and the evaluator's speed on 1,000 nodes.
#include <gtest/gtest.h>

#include <chrono>

#include "installer/validate/tests/test_facts.h"

namespace airlock::validate::test {
namespace {

Report sample() {
  return run({{"ok", synthetic("h100-8x-ndr")}, {"bad", synthetic("ib-port-init")}, {"npu", synthetic("gaudi2")}});
}

TEST(Report, TerminalFailingFirstThenSummary) {
  std::string t = render_terminal(sample(), false);
  EXPECT_EQ(t.rfind("FAIL  bad  rdma.port.not_active mlx5_5/1: port mlx5_5/1 is 2: INIT / 5: LinkUp: no subnet manager has "
                    "configured it (INIT); rdma.counters.errors mlx5_5/1: port mlx5_5/1 link_downed = 1\n", 0), 0u) << t;
  EXPECT_NE(t.find("\nINFO  ok\n"), std::string::npos) << t;
  EXPECT_NE(t.find("  fail rdma.port.not_active               1 node(s)  bad\n"), std::string::npos) << t;
  EXPECT_NE(t.find("validate: 3 node(s): 1 fail, 1 warn, 1 pass (1 with info only); findings: 1 fail, 3 warn, 2 info"), std::string::npos) << t;
}

TEST(Report, JsonSchema) {
  auto j = render_json(sample());
  EXPECT_EQ(j["schema"], "airlock.validate/v1");
  EXPECT_EQ(j["summary"]["nodes"], 3);
  EXPECT_EQ(j["summary"]["status"]["fail"], 1);
  EXPECT_EQ(j["summary"]["exit_code"], 2);
  const auto& bad = j["nodes"][1];
  EXPECT_EQ(bad["name"], "bad");
  EXPECT_EQ(bad["status"], "fail");
  EXPECT_EQ(bad["findings"][0]["check"], "rdma.port.not_active");
  EXPECT_EQ(bad["findings"][0]["evidence"][0]["path"], "rdma[mlx5_5].ports[0].state");
  EXPECT_EQ(bad["findings"][0]["evidence"][0]["value"], "2: INIT");
  EXPECT_EQ(bad["identity"]["nvidia driver"], "550.90.07");
  EXPECT_TRUE(j["checks"].is_array());
  EXPECT_FALSE(j["not_checked"].empty());
  EXPECT_EQ(j["not_checked"][0].count("reason"), 1u);
  EXPECT_FALSE(j["cross_node"].empty());
}

TEST(Report, JunitCountsFailuresAndSkips) {
  std::string x = render_junit(sample());
  EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"airlock validate\"", 0), 0u);
  EXPECT_NE(x.find("<testcase classname=\"airlock.validate.bad\" name=\"rdma.port.not_active\"><failure type=\"fail\" "
                   "message=\"port mlx5_5/1 is 2: INIT / 5: LinkUp: no subnet manager has configured it (INIT)\">"),
            std::string::npos);
  EXPECT_NE(x.find("name=\"time.skew\"><skipped message=\"no clock reading"), std::string::npos);
  EXPECT_NE(x.find("<testsuite name=\"bad\" tests=\""), std::string::npos);
}

TEST(Report, HtmlEscapesEverything) {
  json f = synthetic("gaudi2");
  f["host"]["kernel_release"] = "<script>alert('x')</script>";
  f["host"]["os_release"]["PRETTY_NAME"] = "Evil & \"Co\" \xff";
  auto r = run({{"a&b<c>", f}, {"d", synthetic("gaudi2")}, {"e", synthetic("gaudi2")}});
  std::string h = render_html(r);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_NE(h.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(h.find("a&amp;b&lt;c&gt;"), std::string::npos);
  EXPECT_NE(h.find("Evil &amp; &quot;Co&quot; \xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(h.find("src="), std::string::npos);
  EXPECT_EQ(h.find("http"), std::string::npos);  // nothing fetched from anywhere
  EXPECT_NE(h.find("<section id=\"not-checked\"><h2>Not checked, and why</h2>"), std::string::npos);
  EXPECT_NE(h.find("<span class=\"mark\">outlier</span>"), std::string::npos);
}

TEST(Report, ThousandNodesFastAndSmall) {
  std::vector<json> base = {synthetic("h100-8x-ndr"), synthetic("h100-degraded-link"), synthetic("ib-port-init"),
                            synthetic("gaudi2"), synthetic("nouveau")};
  std::vector<std::pair<std::string, json>> nodes;
  for (int i = 0; i < 1000; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "gpu%04d", i);
    json f = base[i % 37 == 0 ? 1 + i % 4 : 0];
    if (i % 101 == 0) f["host"]["kernel_release"] = "5.15.0-119-generic";
    nodes.emplace_back(name, std::move(f));
  }
  auto t0 = std::chrono::steady_clock::now();
  auto r = run(nodes);
  std::string h = render_html(r);
  std::string j = render_json(r).dump(1);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 2.0);
  EXPECT_LT(h.size(), 5u << 20);
  EXPECT_EQ(r.nodes.size(), 1000u);
  std::printf("1000 nodes: evaluate + HTML + JSON %.3f s, HTML %zu bytes, JSON %zu bytes\n", s, h.size(), j.size());
}

}  // namespace
}  // namespace airlock::validate::test
