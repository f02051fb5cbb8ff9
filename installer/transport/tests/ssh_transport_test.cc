// SshTransport against a real OpenSSH sshd on loopback: output, exit codes, argv quoting, stdin,
// timeouts and cancel that leave no remote process, host key policy (pinned, known_hosts,
// changed, other type, unknown, accept-new), authentication and connection failures, uploads,
// session reuse and the MaxStartups cap. Label: integration (needs root).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "common/fs.h"
#include "common/sha256.h"
#include "installer/transport/tests/ssh_test_base.h"

namespace airlock::transport::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class SshTransportTest : public SshTestBase {};

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

TEST_F(SshTransportTest, ExecOutputAndExitCodes) {
  auto t = open(host());
  ASSERT_TRUE(t->connect().ok());
  auto r = t->exec({"sh", "-c", "echo out; echo err >&2; exit 3"}, ExecOptions{});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");  // the wrapper's pgid line is filtered out
  EXPECT_FALSE(r->timed_out);
  auto ok = t->exec({"true"}, ExecOptions{});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->exit_code, 0);
  auto signalled = t->exec({"sh", "-c", "kill -KILL $$"}, ExecOptions{});
  ASSERT_TRUE(signalled.ok());
  EXPECT_EQ(signalled->exit_code, 137);
  auto missing = t->exec({"/nonexistent/program"}, ExecOptions{});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit_code, 127);
}

TEST_F(SshTransportTest, ArgvArrivesUnchanged) {
  std::vector<std::string> nasty = {"a b", "it's", "\"dq\"", "$HOME", "$(echo pwned)", "`id`", "",
                                    "*", "x\ny", "back\\slash", ";exit 9", "'", "tab\t", "ünï", "-n"};
  std::vector<std::string> argv = {"printf", "[%s]\\n"};
  argv.insert(argv.end(), nasty.begin(), nasty.end());
  auto t = open(host());
  auto r = t->exec(argv, ExecOptions{});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  std::string want;
  for (const auto& a : nasty) {
    want += "[" + a + "]\n";
  }
  EXPECT_EQ(r->out, want);
  EXPECT_EQ(r->exit_code, 0);
}

TEST_F(SshTransportTest, StdinLargerThanTheWindow) {
  std::string data;
  for (int i = 0; data.size() < (3u << 20); ++i) {
    data += "line " + std::to_string(i) + "\n";
  }
  auto t = open(host());
  ExecOptions o;
  o.stdin_data = data;
  auto r = t->exec({"sha256sum"}, o);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->out.substr(0, 64), digest_hex(sha256_digest(data)));
  auto echo = t->exec({"cat"}, o);
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->out, data);
}

TEST_F(SshTransportTest, OutputCap) {
  auto t = open(host());
  ExecOptions o;
  o.output_cap = 1000;
  auto r = t->exec({"head", "-c", "300000", "/dev/zero"}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->exit_code, 0);
}

TEST_F(SshTransportTest, TimeoutKillsTheRemoteGroup) {
  auto t = open(host());
  ExecOptions o;
  o.timeout = 500ms;
  auto start = Clock::now();
  auto r = t->exec({"sh", "-c", "sleep 8141.1 & sleep 8141.2 & wait"}, o);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 124);
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_TRUE(wait_gone("sleep 8141"));
  // The session is still good.
  auto after = t->exec({"echo", "still here"}, ExecOptions{});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->out, "still here\n");
}

TEST_F(SshTransportTest, TimeoutEscalatesToKillWhenTermIsIgnored) {
  auto t = open(host());
  ExecOptions o;
  o.timeout = 300ms;
  auto start = Clock::now();
  auto r = t->exec({"sh", "-c", "trap '' TERM; sleep 8142.1 & sleep 8142.2; wait"}, o);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 137);
  EXPECT_LT(Clock::now() - start, 8s);
  EXPECT_TRUE(wait_gone("sleep 8142"));
}

TEST_F(SshTransportTest, LocalDeadlineKillsTheGroupWhenTimeoutIsStuck) {
  // The command stops `timeout` itself, so only our own deadline (timeout + kill-after + grace)
  // and the kill through a second channel can end it.
  auto t = open(host());
  ExecOptions o;
  o.timeout = 300ms;
  auto start = Clock::now();
  auto r = t->exec({"sh", "-c", "kill -STOP $PPID; exec sleep 8153.1"}, o);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 137);
  EXPECT_LT(Clock::now() - start, 14s);
  EXPECT_TRUE(wait_gone("sleep 8153"));
  auto after = t->exec({"echo", "ok"}, ExecOptions{});
  ASSERT_TRUE(after.ok()) << after.error().describe();
  EXPECT_EQ(after->out, "ok\n");
}

TEST_F(SshTransportTest, BackgroundProcessHoldingStdoutDoesNotHang) {
  auto t = open(host());
  auto start = Clock::now();
  auto r = t->exec({"sh", "-c", "sleep 8152.1 & echo $!"}, ExecOptions{});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_LT(Clock::now() - start, 4s);
  long pid = std::stol(r->out);
  ::kill(static_cast<pid_t>(pid), SIGKILL);
  EXPECT_TRUE(wait_gone("sleep 8152"));
}

TEST_F(SshTransportTest, CancelFromAnotherThreadKillsTheRemoteGroup) {
  auto t = open(host());
  ASSERT_TRUE(t->connect().ok());
  std::thread canceller([&] {
    std::this_thread::sleep_for(500ms);
    t->cancel();
  });
  auto start = Clock::now();
  auto r = t->exec({"sh", "-c", "sleep 8143.1 & sleep 8143.2; wait"}, ExecOptions{});
  auto took = Clock::now() - start;
  canceller.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kCancelled);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(wait_gone("sleep 8143"));
  auto again = t->exec({"true"}, ExecOptions{});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kCancelled);
}

TEST_F(SshTransportTest, SessionIsReused) {
  int before = sshd_->count_in_log("Accepted publickey");
  auto t = open(host());
  for (int i = 0; i < 5; ++i) {
    auto r = t->exec({"echo", std::to_string(i)}, ExecOptions{});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->out, std::to_string(i) + "\n");
  }
  EXPECT_EQ(sshd_->count_in_log("Accepted publickey") - before, 1);
}

TEST_F(SshTransportTest, LostConnectionIsUnreachableThenReconnects) {
  auto t = open(host());
  ASSERT_TRUE(t->exec({"true"}, ExecOptions{}).ok());
  // Kill this sshd's per-connection processes (children of the listener we started).
  run({"pkill", "-KILL", "-P", std::to_string(sshd_->pid())});
  std::this_thread::sleep_for(100ms);
  auto lost = t->exec({"true"}, ExecOptions{});
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, Errc::kUnreachable) << lost.error().describe();
  auto back = t->exec({"echo", "back"}, ExecOptions{});
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(back->out, "back\n");
}

TEST_F(SshTransportTest, PinnedFingerprintMismatch) {
  auto h = host();
  h.host_key_fingerprints = {stranger_.fingerprint};
  auto t = open(h);
  Status st = t->connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kHostKey);
  EXPECT_TRUE(contains(st.error().message, "host key mismatch")) << st.error().message;
  EXPECT_TRUE(contains(st.error().message, sshd_->host_key().fingerprint)) << st.error().message;
  EXPECT_TRUE(contains(st.error().message, "node1 (127.0.0.1:")) << st.error().message;
}

TEST_F(SshTransportTest, KnownHostsOk) {
  TempDir dir;
  std::ofstream(dir.file("known_hosts")) << sshd_->known_hosts_line() << "\n";
  auto h = host();
  h.host_key_fingerprints.clear();
  SshSettings s;
  s.known_hosts_file = dir.file("known_hosts");
  auto t = open(h, s);
  Status st = t->connect();
  EXPECT_TRUE(st.ok()) << st.error().describe();
}

TEST_F(SshTransportTest, KnownHostsChangedKeyFailsClosed) {
  TempDir dir;
  std::string line = sshd_->known_hosts_line();
  std::string type = line.substr(line.find(' ') + 1, line.find(' ', line.find(' ') + 1) - line.find(' ') - 1);
  std::string other_blob = stranger_.public_line.substr(stranger_.public_line.find(' ') + 1);
  other_blob = other_blob.substr(0, other_blob.find(' '));
  std::ofstream(dir.file("known_hosts")) << "[127.0.0.1]:" << sshd_->port() << " " << type << " " << other_blob << "\n";
  auto h = host();
  h.host_key_fingerprints.clear();
  SshSettings s;
  s.known_hosts_file = dir.file("known_hosts");
  s.accept_new_host_keys = true;  // never overrides a changed key
  auto t = open(h, s);
  Status st = t->connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kHostKey);
  EXPECT_TRUE(contains(st.error().message, "host key mismatch")) << st.error().message;
  EXPECT_TRUE(contains(st.error().message, sshd_->host_key().fingerprint)) << st.error().message;
}

TEST_F(SshTransportTest, KnownHostsOtherKeyTypeFailsClosed) {
  TempDir dir;
  KeyPair ecdsa = make_key(dir.path(), "ecdsa", "ecdsa");
  std::string blob = ecdsa.public_line.substr(0, ecdsa.public_line.rfind(' '));
  std::ofstream(dir.file("known_hosts")) << "[127.0.0.1]:" << sshd_->port() << " " << blob << "\n";
  auto h = host();
  h.host_key_fingerprints.clear();
  SshSettings s;
  s.known_hosts_file = dir.file("known_hosts");
  s.accept_new_host_keys = true;
  auto t = open(h, s);
  Status st = t->connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kHostKey);
  EXPECT_TRUE(contains(st.error().message, "host key mismatch")) << st.error().message;
}

TEST_F(SshTransportTest, UnknownHostKeyRefused) {
  TempDir dir;
  std::ofstream(dir.file("known_hosts")) << "";
  auto h = host();
  h.host_key_fingerprints.clear();
  SshSettings s;
  s.known_hosts_file = dir.file("known_hosts");
  auto t = open(h, s);
  Status st = t->connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kHostKey);
  EXPECT_TRUE(contains(st.error().message, "unknown host key " + sshd_->host_key().fingerprint)) << st.error().message;
}

TEST_F(SshTransportTest, UnknownHostKeyAcceptedWhenAsked) {
  TempDir dir;
  auto h = host();
  h.host_key_fingerprints.clear();
  SshSettings s;
  s.known_hosts_file = dir.file("sub/known_hosts");  // neither file nor folder exists yet
  s.accept_new_host_keys = true;
  {
    auto t = open(h, s);
    Status st = t->connect();
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }
  auto written = read_file(s.known_hosts_file);
  ASSERT_TRUE(written.ok());
  EXPECT_TRUE(contains(*written, "[127.0.0.1]:" + std::to_string(sshd_->port()))) << *written;
  s.accept_new_host_keys = false;
  auto t2 = open(h, s);
  Status again = t2->connect();
  EXPECT_TRUE(again.ok()) << again.error().describe();
}

TEST_F(SshTransportTest, WrongKeyIsAnAuthError) {
  auto h = host();
  h.identity_file = stranger_.private_path;
  auto t = open(h);
  Status st = t->connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kAuth);
  EXPECT_TRUE(contains(st.error().message, "node1 (127.0.0.1:")) << st.error().message;
  h.identity_file = "/nonexistent/key";
  auto t2 = open(h);
  Status missing = t2->connect();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kAuth);
  EXPECT_TRUE(contains(missing.error().describe(), "/nonexistent/key")) << missing.error().describe();
}

TEST_F(SshTransportTest, ConnectionRefusedIsUnreachableAndFast) {
  auto h = host();
  h.port = free_port();
  auto t = open(h);
  auto start = Clock::now();
  Status st = t->connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kUnreachable);
  EXPECT_TRUE(contains(st.error().message, "refused")) << st.error().message;
  EXPECT_LT(Clock::now() - start, 1s);
}

// A listener that never accepts and whose queue is full: the kernel drops further SYNs, so a
// connect hangs exactly like one to a host that drops packets.
struct Blackhole {
  int fd = -1;
  int port = 0;
  std::vector<int> fillers;
  explicit Blackhole(bool fill_queue) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    for (int i = 0; fill_queue && i < 2; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers.push_back(c);
    }
    if (fill_queue) {
      std::this_thread::sleep_for(50ms);
    }
  }
  ~Blackhole() {
    for (int c : fillers) ::close(c);
    ::close(fd);
  }
};

TEST_F(SshTransportTest, ConnectTimeoutWhenSynsAreDropped) {
  Blackhole hole(true);
  auto h = host();
  h.port = hole.port;
  SshSettings s;
  s.connect_timeout = 1s;
  auto t = open(h, s);
  auto start = Clock::now();
  Status st = t->connect();
  auto took = Clock::now() - start;
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kTimeout) << st.error().describe();
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2500ms);
}

TEST_F(SshTransportTest, HandshakeTimeoutWhenNoBannerComes) {
  Blackhole hole(false);  // accepts (in the kernel) but never speaks
  auto h = host();
  h.port = hole.port;
  SshSettings s;
  s.connect_timeout = 1s;
  auto t = open(h, s);
  auto start = Clock::now();
  Status st = t->connect();
  auto took = Clock::now() - start;
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kTimeout) << st.error().describe();
  EXPECT_LT(took, 3s);
}

TEST_F(SshTransportTest, CancelWhileConnecting) {
  Blackhole hole(false);
  auto h = host();
  h.port = hole.port;
  SshSettings s;
  s.connect_timeout = 20s;
  auto t = open(h, s);
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    t->cancel();
  });
  auto start = Clock::now();
  Status st = t->connect();
  canceller.join();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kCancelled) << st.error().describe();
  EXPECT_LT(Clock::now() - start, 2s);
}

TEST_F(SshTransportTest, UploadNewSkipChangedWrongAndBadParent) {
  TempDir dir;
  std::string data(5u << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<char>((i * 131) % 251);
  }
  std::ofstream(dir.file("src.bin"), std::ios::binary) << data;
  std::string hex(digest_hex(sha256_digest(data)));
  auto t = open(host());
  std::string dest = dir.file("remote/deep/dest.bin");

  auto sent = t->upload(dir.file("src.bin"), dest, hex, 0640);
  ASSERT_TRUE(sent.ok()) << sent.error().describe();
  EXPECT_EQ(*sent, data.size());
  EXPECT_EQ(*read_file(dest, 64u << 20), data);
  struct stat st {};
  ::stat(dest.c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  auto skipped = t->upload(dir.file("src.bin"), dest, "sha256:" + hex, 0640);
  ASSERT_TRUE(skipped.ok()) << skipped.error().describe();
  EXPECT_EQ(*skipped, 0u);

  std::string small = "version 2\n";
  std::ofstream(dir.file("v2.bin")) << small;
  auto replaced = t->upload(dir.file("v2.bin"), dest, std::string(digest_hex(sha256_digest(small))));
  ASSERT_TRUE(replaced.ok()) << replaced.error().describe();
  EXPECT_EQ(*replaced, small.size());
  EXPECT_EQ(*read_file(dest), small);

  auto wrong = t->upload(dir.file("v2.bin"), dest, std::string(64, 'b'));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Errc::kIntegrity);
  EXPECT_TRUE(contains(wrong.error().message, "digest mismatch")) << wrong.error().message;
  EXPECT_EQ(*read_file(dest), small);  // untouched
  std::string listing;
  run({"ls", "-A", dir.file("remote/deep")}, &listing);
  EXPECT_EQ(listing, "dest.bin\n");  // no temp file left

  std::ofstream(dir.file("plain")) << "x";
  auto bad_parent = t->upload(dir.file("v2.bin"), dir.file("plain/sub/x.bin"), std::string(digest_hex(sha256_digest(small))));
  ASSERT_FALSE(bad_parent.ok());
  EXPECT_EQ(bad_parent.error().code, Errc::kIo);
  EXPECT_TRUE(contains(bad_parent.error().message, "cannot create folder")) << bad_parent.error().message;

  auto no_source = t->upload(dir.file("missing.bin"), dest, hex);
  ASSERT_FALSE(no_source.ok());
}

TEST_F(SshTransportTest, MaxStartupsCapsConcurrentHandshakes) {
  SshSettings s;
  s.max_startups = 2;
  factory_ = std::make_unique<SshFactory>(inventory_, s);
  std::vector<std::unique_ptr<Transport>> ts;
  for (int i = 0; i < 6; ++i) {
    ts.push_back(factory_->open(host("n" + std::to_string(i))));
  }
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (auto& t : ts) {
    threads.emplace_back([&t, &ok] {
      if (t->connect().ok()) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 6);
  std::string key = "127.0.0.1:" + std::to_string(sshd_->port());
  EXPECT_LE(factory_->gate().peak(key), 2);
  EXPECT_GE(factory_->gate().peak(key), 1);
  EXPECT_EQ(factory_->gate().in_use(key), 0);
}

}  // namespace
}  // namespace airlock::transport::testing
