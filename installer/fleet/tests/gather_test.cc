// clush -b style gathering: same output and same exit code fold into one node range.
#include "installer/fleet/gather.h"

#include <gtest/gtest.h>

namespace airlock::fleet {
namespace {

NodeResult ok(std::string node, int rc, std::string out, std::string err = "") {
  NodeResult r;
  r.node = std::move(node);
  r.result.exit_code = rc;
  r.result.out = std::move(out);
  r.result.err = std::move(err);
  return r;
}

TEST(Gather, IdenticalOutputAndExitCodeFoldIntoARange) {
  std::vector<NodeResult> rs;
  for (int i = 1; i <= 128; ++i) {
    char n[16];
    std::snprintf(n, sizeof n, "gpu%03d", i);
    rs.push_back(i == 65 ? ok(n, 0, "535.104\n", "") : ok(n, 0, "550.54\n"));
  }
  rs.push_back(ok("login1", 1, "550.54\n"));  // same output, other exit code: its own group
  NodeResult bad;
  bad.node = "gpu200";
  bad.status = make_error(Errc::kHostKey, "gpu200 (10.0.0.200): host key mismatch");
  rs.push_back(bad);
  Gathered g = gather(rs);
  ASSERT_EQ(g.groups.size(), 3u);
  EXPECT_EQ(g.groups[0].folded, "gpu[001-064,066-128]");
  EXPECT_EQ(g.groups[0].out, "550.54\n");
  EXPECT_EQ(g.groups[1].folded, "gpu065");
  EXPECT_EQ(g.groups[2].folded, "login1");
  EXPECT_EQ(g.groups[2].exit_code, 1);
  EXPECT_EQ(g.nonzero_nodes, 1u);
  ASSERT_EQ(g.failures.size(), 1u);
  EXPECT_EQ(g.failures[0].kind, Errc::kHostKey);

  std::string text = render_gathered(g, rs.size());
  EXPECT_NE(text.find("gpu[001-064,066-128] (127 nodes, exit 0)\n---------------\n550.54\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gpu200 (host key rejected)"), std::string::npos) << text;
  EXPECT_NE(text.find("gpu200: gpu200 (10.0.0.200): host key mismatch"), std::string::npos) << text;
  EXPECT_NE(text.find("129/130 nodes ran the command, 1 exited non-zero, 1 failed to run it"), std::string::npos)
      << text;
}

TEST(Gather, StderrIsPartOfTheKey) {
  Gathered g = gather({ok("a1", 0, "x\n", "warn\n"), ok("a2", 0, "x\n")});
  EXPECT_EQ(g.groups.size(), 2u);
  std::string text = render_gathered(g, 2);
  EXPECT_NE(text.find("[stderr]\nwarn\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace airlock::fleet
