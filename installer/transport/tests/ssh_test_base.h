// Shared setup for the sshd integration tests: one sshd per test suite (started lazily, stopped
// at the end), a client key it accepts and one it does not, and helpers to describe hosts.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "installer/transport/ssh_transport.h"
#include "installer/transport/tests/sshd_fixture.h"

namespace airlock::transport::testing {

class SshTestBase : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!skip_reason().empty()) {
      return;
    }
    keys_ = new TempDir;
    client_ = make_key(keys_->path(), "client");
    stranger_ = make_key(keys_->path(), "stranger");
    sshd_ = new Sshd;
    started_ = sshd_->start({client_.public_line}, SshdOptions{}, &start_error_);
  }
  static void TearDownTestSuite() {
    delete sshd_;
    sshd_ = nullptr;
    delete keys_;
    keys_ = nullptr;
  }
  void SetUp() override {
    if (!skip_reason().empty()) {
      GTEST_SKIP() << skip_reason();
    }
    ASSERT_TRUE(started_) << start_error_;
  }

  // A host on the suite's sshd, its host key pinned.
  static inventory::Host host(const std::string& name = "node1") {
    inventory::Host h;
    h.name = name;
    h.address = "127.0.0.1";
    h.port = sshd_->port();
    h.user = "root";
    h.identity_file = client_.private_path;
    h.host_key_fingerprints = {sshd_->host_key().fingerprint};
    return h;
  }

  std::unique_ptr<Transport> open(const inventory::Host& h, SshSettings settings = {}) {
    if (settings.connect_timeout == std::chrono::seconds(10)) {
      settings.connect_timeout = std::chrono::seconds(5);
    }
    factory_ = std::make_unique<SshFactory>(inventory_, settings);
    return factory_->open(h);
  }

  static inline TempDir* keys_ = nullptr;
  static inline KeyPair client_, stranger_;
  static inline Sshd* sshd_ = nullptr;
  static inline bool started_ = false;
  static inline std::string start_error_;
  inventory::Inventory inventory_;
  std::unique_ptr<SshFactory> factory_;
};

}  // namespace airlock::transport::testing
