// The SSH transport (libssh 0.10): one authenticated session per node, reused for every exec and
// upload; commands run under `timeout` in their own process group on the node and are killed
// through a second channel on timeout or cancel; uploads stream over an exec channel into a temp
// file that the node verifies and renames. The factory owns what sessions share: loaded keys,
// the per-sshd cap on unauthenticated connections, and one session per bastion.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "installer/transport/bastion.h"
#include "installer/transport/exec_channel.h"
#include "installer/transport/ssh_session.h"
#include "installer/transport/startup_gate.h"
#include "installer/transport/transport.h"

namespace airlock::transport {

// Everything SshTransports of one factory share; kept alive by every transport it opened.
struct SshShared {
  SshSettings settings;
  std::chrono::seconds command_timeout{600};  // uploads: plus one second per MiB
  std::map<std::string, inventory::Bastion> bastions;
  KeyCache keys;
  StartupGate gate;
  std::mutex mu;
  std::map<std::string, std::unique_ptr<BastionLink>> links;  // last: destroyed first

  // The shared link for a bastion named in the inventory; nullptr when there is none.
  BastionLink* link(const std::string& name);
};

class SshTransport : public Transport {
 public:
  SshTransport(std::shared_ptr<SshShared> shared, inventory::Host host);
  ~SshTransport() override;

  const std::string& node() const override { return host_.name; }
  Status connect() override;
  Result<ExecResult> exec(const std::vector<std::string>& argv, const ExecOptions& opts) override;
  Result<uint64_t> upload(const std::string& local_path, const std::string& remote_path,
                          const std::string& sha256_hex, int mode = 0644) override;
  void cancel() override;

 private:
  Result<UniqueFd> open_socket(const Endpoint& ep);
  // Runs argv through the exec wrapper on `ch` and turns timeout and cancel into kills.
  Result<ExecResult> run(ExecChannel& ch, const std::vector<std::string>& argv, std::chrono::milliseconds timeout);
  void kill_group(ExecChannel& main, const char* signal);
  void stop_after_cancel(ExecChannel& main);
  Error after_failure(const Error& e);  // marks the session dead when the connection is gone

  std::shared_ptr<SshShared> shared_;
  inventory::Host host_;
  std::string label_;  // "gpu001 (10.0.0.1:22)"
  SessionPtr session_;
  bool session_dead_ = false;  // the connection was lost; reconnect on the next call
  CancelState cancel_;
};

class SshFactory : public TransportFactory {
 public:
  SshFactory(const inventory::Inventory& inv, const SshSettings& settings);
  std::unique_ptr<Transport> open(const inventory::Host& host) override;

  // For tests and diagnostics.
  int bastion_logins(const std::string& name) const;
  const StartupGate& gate() const { return shared_->gate; }

 private:
  std::shared_ptr<SshShared> shared_;
};

}  // namespace airlock::transport
