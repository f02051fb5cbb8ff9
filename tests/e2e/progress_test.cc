// Progress on a terminal: under a pseudo-terminal (util-linux `script`), verify draws a
// "verify  N / M  P%  R/s" line that it clears at the end; with --quiet or a pipe it draws none.
#include <gtest/gtest.h>

#include "tests/e2e/cli_harness.h"

namespace airlock::test {
namespace {

TEST(Progress, DrawnOnATerminalOnly) {
  if (!have_tool("script")) GTEST_SKIP() << "util-linux script is not installed";
  if (run({"script", "-qec", "true", "/dev/null"}).exit_code != 0) GTEST_SKIP() << "no pseudo-terminal available";
  TempDir dir;
  std::string key = make_key(dir.path(), "k");
  create_example(dir / "b.airlock", {key});
  std::string cmd = std::string(AIRLOCK_BIN) + " bundle verify " + dir / "b.airlock" + " --pub " + key + ".pub";
  auto tty = run({"script", "-qec", cmd, "/dev/null"});
  ASSERT_EQ(tty.exit_code, 0) << tty.out << tty.err;
  EXPECT_NE(tty.out.find("\r\033[Kverify  "), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("/s"), std::string::npos) << tty.out;
  auto quiet = run({"script", "-qec", cmd + " --quiet", "/dev/null"});
  EXPECT_EQ(quiet.out.find("\r\033[Kverify  "), std::string::npos) << quiet.out;
  auto piped = airlock({"bundle", "verify", dir / "b.airlock", "--pub", key + ".pub"});
  EXPECT_EQ(piped.err.find('\r'), std::string::npos) << piped.err;
}

}  // namespace
}  // namespace airlock::test
