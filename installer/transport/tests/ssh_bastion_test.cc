// Targets behind a bastion: sshd A (AllowTcpForwarding yes) is the bastion, sshd B the target.
// Three targets share ONE authenticated bastion session (one "Accepted publickey" in A's log),
// bulk data flows through the tunnel, and the bastion's failures name the bastion.
// Label: integration (needs root).
#include <fstream>
#include <thread>

#include "common/fs.h"
#include "common/sha256.h"
#include "installer/transport/tests/ssh_test_base.h"

namespace airlock::transport::testing {
namespace {

using namespace std::chrono_literals;

class SshBastionTest : public SshTestBase {
 protected:
  static void SetUpTestSuite() {
    SshTestBase::SetUpTestSuite();
    if (!started_) {
      return;
    }
    bastion_ = new Sshd;
    SshdOptions o;
    o.allow_tcp_forwarding = true;
    bastion_started_ = bastion_->start({client_.public_line}, o, &start_error_);
  }
  static void TearDownTestSuite() {
    delete bastion_;
    bastion_ = nullptr;
    SshTestBase::TearDownTestSuite();
  }
  void SetUp() override {
    SshTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    ASSERT_TRUE(bastion_started_) << start_error_;
    inventory::Bastion b;
    b.name = "bh";
    b.address = "127.0.0.1";
    b.port = bastion_->port();
    b.user = "root";
    b.identity_file = client_.private_path;
    b.host_key_fingerprints = {bastion_->host_key().fingerprint};
    b.max_startups = 2;
    inventory_.bastions["bh"] = b;
  }

  static inventory::Host behind(const std::string& name) {
    inventory::Host h = host(name);
    h.bastion = "bh";
    return h;
  }

  static inline Sshd* bastion_ = nullptr;
  static inline bool bastion_started_ = false;
};

TEST_F(SshBastionTest, ThreeTargetsShareOneBastionSession) {
  int bastion_logins = bastion_->count_in_log("Accepted publickey");
  int target_logins = sshd_->count_in_log("Accepted publickey");
  factory_ = std::make_unique<SshFactory>(inventory_, SshSettings{});
  std::vector<std::unique_ptr<Transport>> ts;
  for (int i = 1; i <= 3; ++i) {
    ts.push_back(factory_->open(behind("t" + std::to_string(i))));
  }
  std::vector<std::string> outs(3);
  std::vector<std::string> errors(3);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      auto r = ts[i]->exec({"echo", "hello from " + ts[i]->node()}, ExecOptions{});
      if (r.ok()) {
        outs[i] = r->out;
      } else {
        errors[i] = r.error().describe();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(errors[i], "");
    EXPECT_EQ(outs[i], "hello from t" + std::to_string(i + 1) + "\n");
  }
  EXPECT_EQ(bastion_->count_in_log("Accepted publickey") - bastion_logins, 1);
  EXPECT_EQ(sshd_->count_in_log("Accepted publickey") - target_logins, 3);
  EXPECT_EQ(factory_->bastion_logins("bh"), 1);
  EXPECT_LE(factory_->gate().peak("via:bh"), 2);

  // Bulk data both ways through the tunnel, and a second command on the same session.
  std::string data(3u << 20, 'z');
  ExecOptions o;
  o.stdin_data = data;
  auto echo = ts[0]->exec({"cat"}, o);
  ASSERT_TRUE(echo.ok()) << echo.error().describe();
  EXPECT_EQ(echo->out.size(), data.size());
  EXPECT_TRUE(echo->out == data);

  TempDir dir;
  std::string blob(2u << 20, 'u');
  std::ofstream(dir.file("blob")) << blob;
  auto sent = ts[1]->upload(dir.file("blob"), dir.file("out/blob"), std::string(digest_hex(sha256_digest(blob))));
  ASSERT_TRUE(sent.ok()) << sent.error().describe();
  EXPECT_EQ(*sent, blob.size());

  // Closing targets closes their tunnels; the bastion session stays for the next one.
  ts.clear();
  auto later = factory_->open(behind("t4"));
  auto r = later->exec({"true"}, ExecOptions{});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(factory_->bastion_logins("bh"), 1);
}

TEST_F(SshBastionTest, TargetTheBastionCannotReach) {
  factory_ = std::make_unique<SshFactory>(inventory_, SshSettings{});
  auto h = behind("dead");
  h.port = free_port();
  auto t = factory_->open(h);
  Status st = t->connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kUnreachable) << st.error().describe();
  EXPECT_NE(st.error().describe().find("bastion bh"), std::string::npos) << st.error().describe();
}

TEST_F(SshBastionTest, BastionHostKeyIsChecked) {
  inventory_.bastions["bh"].host_key_fingerprints = {stranger_.fingerprint};
  factory_ = std::make_unique<SshFactory>(inventory_, SshSettings{});
  auto t = factory_->open(behind("t1"));
  Status st = t->connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kHostKey);
  EXPECT_NE(st.error().message.find("bastion bh"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("host key mismatch"), std::string::npos) << st.error().message;
}

TEST_F(SshBastionTest, UnknownBastionName) {
  factory_ = std::make_unique<SshFactory>(inventory_, SshSettings{});
  auto h = behind("t1");
  h.bastion = "nope";
  Status st = factory_->open(h)->connect();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace airlock::transport::testing
