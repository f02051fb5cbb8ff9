// The shell text the SSH transport sends: exact strings, and the scripts run here with /bin/sh
// (the same dash and coreutils a Debian node has) to check what they do: the pgid line, the
// process group `timeout` makes, and the upload script's verify-then-rename.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/fs.h"
#include "common/process.h"
#include "common/sha256.h"
#include "installer/transport/remote_command.h"
#include "installer/transport/tests/sshd_fixture.h"
#include "installer/transport/transport.h"

namespace airlock::transport {
namespace {

using namespace std::chrono_literals;

ProcessResult sh(const std::string& command, const std::string& input = "") {
  SystemProcessRunner runner;
  ProcessOptions opts;
  opts.timeout = 20s;
  if (!input.empty()) {
    opts.stdin_writer = [&](const std::function<Status(const void*, size_t)>& write) {
      return write(input.data(), input.size());
    };
  }
  auto r = runner.run({"/bin/sh", "-c", command}, opts);
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : ProcessResult{};
}

TEST(RemoteCommand, ExecWrapperText) {
  EXPECT_EQ(exec_wrapper({"echo", "a b"}, 1500ms, false),
            "sh -c 'echo \"airlock-pgid $$\" >&2; exec timeout -k 5s 1.500s \"$@\"' airlock-exec echo 'a b'");
  EXPECT_EQ(exec_wrapper({"id"}, 10s, true),
            "sudo -n sh -c 'echo \"airlock-pgid $$\" >&2; exec timeout -k 5s 10.000s \"$@\"' airlock-exec id");
}

TEST(RemoteCommand, KillCommandText) {
  EXPECT_EQ(kill_command(1234, "TERM", false),
            "sh -c 'kill -s \"$1\" -- \"-$2\" 2>/dev/null || kill -s \"$1\" -- \"$2\" 2>/dev/null; exit 0' "
            "airlock-kill TERM 1234");
  EXPECT_EQ(kill_command(7, "KILL", true).rfind("sudo -n sh -c ", 0), 0u);
}

TEST(RemoteCommand, WrapperPrintsThePgidOfTimeoutsGroup) {
  // The command prints its own process group; it must be the pid the wrapper announced.
  auto r = sh(exec_wrapper({"sh", "-c", "ps -o pgid= -p $$ | tr -d ' '"}, 5s, false));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.err.rfind("airlock-pgid ", 0), 0u) << r.err;
  long pgid = parse_pgid_line(r.err.substr(0, r.err.find('\n')));
  EXPECT_GT(pgid, 1);
  EXPECT_EQ(r.out, std::to_string(pgid) + "\n");
}

TEST(RemoteCommand, WrapperTimeoutKillsTheWholeGroup) {
  auto start = std::chrono::steady_clock::now();
  auto r = sh(exec_wrapper({"sh", "-c", "sleep 8123.1 & sleep 8123.2 & wait"}, 300ms, false));
  EXPECT_EQ(r.exit_code, 124);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(testing::wait_gone("sleep 8123"));
}

TEST(RemoteCommand, KillCommandStopsAGroup) {
  auto r = sh("setsid sh -c 'sleep 8124.1 & sleep 8124.2 & wait' >/dev/null 2>&1 & echo $!");
  long pid = std::stol(r.out);
  ASSERT_TRUE(testing::process_exists("sleep 8124.1"));
  auto k = sh(kill_command(pid, "KILL", false));
  EXPECT_EQ(k.exit_code, 0);
  EXPECT_TRUE(testing::wait_gone("sleep 8124"));
  // A group that does not exist is not an error.
  EXPECT_EQ(sh(kill_command(pid, "KILL", false)).exit_code, 0);
}

TEST(RemoteCommand, ParsePgidLine) {
  EXPECT_EQ(parse_pgid_line("airlock-pgid 4242"), 4242);
  EXPECT_EQ(parse_pgid_line("airlock-pgid 1"), -1);
  EXPECT_EQ(parse_pgid_line("airlock-pgid 12x"), -1);
  EXPECT_EQ(parse_pgid_line("sudo: a password is required"), -1);
  EXPECT_EQ(parse_pgid_line(""), -1);
}

TEST(RemoteCommand, SignalNumbersAndSeconds) {
  EXPECT_EQ(signal_number("KILL"), 9);
  EXPECT_EQ(signal_number("SIGTERM"), 15);
  EXPECT_EQ(signal_number("NOPE"), 0);
  EXPECT_EQ(format_seconds(1500ms), "1.500s");
  EXPECT_EQ(format_seconds(0ms), "0.000s");
  EXPECT_EQ(format_seconds(600000ms), "600.000s");
}

std::string mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%o", st.st_mode & 07777);
  return buf;
}

TEST(RemoteCommand, UploadScriptWritesVerifiesAndRenames) {
  testing::TempDir dir;
  std::string data = "hello node\n";
  std::string hex(digest_hex(sha256_digest(data)));
  std::string dest = dir.file("a b/c/it's.bin");
  auto r = sh(shell_join(upload_argv(dest, 0750, hex)), data);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto got = read_file(dest);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, data);
  EXPECT_EQ(mode_of(dest), "750");
  EXPECT_EQ(mode_of(dir.file("a b")), "755");
  std::string listing;
  testing::run({"ls", "-A", dir.file("a b/c")}, &listing);
  EXPECT_EQ(listing, "it's.bin\n");  // no temp file left

  auto digest = sh(shell_join(digest_argv(dest)));
  EXPECT_EQ(digest.out.substr(0, 64), hex);
}

TEST(RemoteCommand, UploadScriptRejectsWrongDigestAndLeavesNothing) {
  testing::TempDir dir;
  std::string dest = dir.file("x.bin");
  auto r = sh(shell_join(upload_argv(dest, 0644, std::string(64, '0'))), "data");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("airlock-upload: digest mismatch"), std::string::npos) << r.err;
  std::string listing;
  testing::run({"ls", "-A", dir.path()}, &listing);
  EXPECT_EQ(listing, "");
}

TEST(RemoteCommand, UploadScriptReportsABadParent) {
  testing::TempDir dir;
  std::ofstream(dir.file("file")) << "x";
  auto r = sh(shell_join(upload_argv(dir.file("file/sub/x.bin"), 0644, std::string(64, '0'))), "data");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("airlock-upload: cannot create folder"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace airlock::transport
