// shell_join(): exact quoting for plain and hostile arguments, and a round trip through /bin/sh
// proving every argument arrives unchanged.
#include <gtest/gtest.h>

#include "installer/transport/tests/sshd_fixture.h"
#include "installer/transport/transport.h"

namespace airlock::transport {
namespace {

TEST(ShellJoin, QuotesOnlyWhatNeedsIt) {
  struct Case {
    std::vector<std::string> argv;
    std::string want;
  } cases[] = {
      {{}, ""},
      {{"ls", "-l", "/opt/airlock"}, "ls -l /opt/airlock"},
      {{"a b"}, "'a b'"},
      {{""}, "''"},
      {{"it's"}, "'it'\\''s'"},
      {{"$HOME", "`id`", "*"}, "'$HOME' '`id`' '*'"},
      {{"x\ny"}, "'x\ny'"},
      {{"key=value", "user@host:1,2", "50%+1"}, "key=value user@host:1,2 50%+1"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(shell_join(c.argv), c.want);
  }
}

const std::vector<std::string>& nasty() {
  static const std::vector<std::string> v = {
      "plain", "a b", "it's", "\"double\"", "$HOME", "$(echo pwned)", "`id`", "", "*", "x\ny",
      "back\\slash", ";rm -rf /nonexistent", "'", "''", "tab\there", "ünï", "-n", "--"};
  return v;
}

TEST(ShellJoin, RoundTripsThroughSh) {
  std::vector<std::string> argv = {"printf", "[%s]\\n"};
  argv.insert(argv.end(), nasty().begin(), nasty().end());
  std::string out;
  ASSERT_EQ(testing::run({"/bin/sh", "-c", shell_join(argv)}, &out), 0);
  std::string want;
  for (const auto& a : nasty()) {
    want += "[" + a + "]\n";
  }
  EXPECT_EQ(out, want);
}

}  // namespace
}  // namespace airlock::transport
