// LocalTransport: argv runs unquoted, stdin and output caps, timeout and cancel kill the whole
// process group, and uploads copy, skip on a matching digest and refuse a wrong one.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "common/fs.h"
#include "common/sha256.h"
#include "installer/transport/local_transport.h"
#include "installer/transport/tests/sshd_fixture.h"
#include "installer/transport/transport.h"

namespace airlock::transport {
namespace {

using namespace std::chrono_literals;

inventory::Host local_host() {
  inventory::Host h;
  h.name = "installer";
  h.local = true;
  return h;
}

std::unique_ptr<Transport> open_local() {
  inventory::Inventory inv;
  auto factory = make_default_factory(inv, SshSettings{});
  return factory->open(local_host());
}

TEST(LocalTransport, RunsArgvAsIs) {
  auto t = open_local();
  EXPECT_EQ(t->node(), "installer");
  ASSERT_TRUE(t->connect().ok());
  auto r = t->exec({"printf", "[%s]", "a b", "it's", "$HOME", ""}, ExecOptions{});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "[a b][it's][$HOME][]");
  auto fail = t->exec({"sh", "-c", "echo oops >&2; exit 7"}, ExecOptions{});
  ASSERT_TRUE(fail.ok());
  EXPECT_EQ(fail->exit_code, 7);
  EXPECT_EQ(fail->err, "oops\n");
  EXPECT_FALSE(fail->timed_out);
}

TEST(LocalTransport, StdinAndOutputCap) {
  auto t = open_local();
  ExecOptions o;
  o.stdin_data = std::string(300000, 'x');
  auto r = t->exec({"wc", "-c"}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "300000\n");
  ExecOptions capped;
  capped.output_cap = 1000;
  auto big = t->exec({"head", "-c", "100000", "/dev/zero"}, capped);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->out.size(), 1000u);
  EXPECT_TRUE(big->truncated);
}

TEST(LocalTransport, TimeoutKillsTheGroup) {
  auto t = open_local();
  ExecOptions o;
  o.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto r = t->exec({"sh", "-c", "sleep 8131.1 & sleep 8131.2 & wait"}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 124);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(testing::wait_gone("sleep 8131"));
}

TEST(LocalTransport, CancelKillsTheGroupAndRefusesNewCalls) {
  auto t = open_local();
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    t->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto r = t->exec({"sh", "-c", "sleep 8132.1 & sleep 8132.2 & wait"}, ExecOptions{});
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_TRUE(testing::wait_gone("sleep 8132"));
  auto again = t->exec({"true"}, ExecOptions{});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kCancelled);
}

TEST(LocalTransport, UploadCopiesSkipsAndVerifies) {
  testing::TempDir dir;
  std::string src = dir.file("src.bin");
  std::string data(700000, 'q');
  std::ofstream(src) << data;
  std::string hex(digest_hex(sha256_digest(data)));
  auto t = open_local();
  std::string dest = dir.file("out/deep/dest.bin");
  auto sent = t->upload(src, dest, hex, 0600);
  ASSERT_TRUE(sent.ok()) << sent.error().describe();
  EXPECT_EQ(*sent, data.size());
  EXPECT_EQ(*read_file(dest), data);
  struct stat st {};
  ::stat(dest.c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto again = t->upload(src, dest, "sha256:" + hex, 0600);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0u);

  auto wrong = t->upload(src, dir.file("out/other.bin"), std::string(64, 'a'));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Errc::kIntegrity);
  std::string listing;
  testing::run({"ls", "-A", dir.file("out")}, &listing);
  EXPECT_EQ(listing, "deep\n");  // no temp file, no other.bin

  std::ofstream(dir.file("plainfile")) << "x";
  auto bad_parent = t->upload(src, dir.file("plainfile/sub/x.bin"), hex);
  ASSERT_FALSE(bad_parent.ok());
  EXPECT_EQ(bad_parent.error().code, Errc::kIo);
  auto bad_digest = t->upload(src, dest, "nothex");
  ASSERT_FALSE(bad_digest.ok());
  EXPECT_EQ(bad_digest.error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace airlock::transport
