// One authenticated session to a bastion (jump host), shared by every target behind it. Each
// target gets a direct-tcpip channel (ssh_channel_open_forward) bridged to a socketpair; the
// target's own libssh session runs over the other end (SSH_OPTIONS_FD). A pump thread owns the
// bastion session (libssh sessions are not thread-safe) and shovels bytes between channels and
// sockets. The first target to need the bastion connects it; if the bastion connection dies,
// the next target reconnects it.
#pragma once

#include <libssh/libssh.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/result.h"
#include "installer/inventory/inventory.h"
#include "installer/transport/ssh_session.h"
#include "installer/transport/startup_gate.h"

namespace airlock::transport {

class BastionLink {
 public:
  BastionLink(inventory::Bastion bastion, const SshSettings& settings, KeyCache& keys, StartupGate& gate);
  ~BastionLink();
  BastionLink(const BastionLink&) = delete;
  BastionLink& operator=(const BastionLink&) = delete;

  // A socket connected (through the bastion) to host:port, for the target's SSH session.
  // `label` names the target in messages. Errors: the bastion's own connect errors, kUnreachable
  // when the bastion cannot reach the target, kTimeout, kCancelled.
  Result<UniqueFd> open_tunnel(const std::string& label, const std::string& host, int port,
                               Clock::time_point deadline, const std::atomic<bool>& cancelled);

  // How many times the bastion session was established (1 unless it had to reconnect).
  int logins() const { return logins_.load(); }

 private:
  struct Request;
  struct Tunnel;
  enum class State { kDown, kConnecting, kUp };

  Status ensure_up(const std::atomic<bool>& cancelled);
  void pump();
  void open_requests(std::deque<std::shared_ptr<Request>>& opening);
  bool service(Tunnel& t);
  // Fails every waiting request and marks the link down (one critical section, so no request
  // can slip in between).
  void fail_all(std::deque<std::shared_ptr<Request>>& opening, const std::string& why);

  inventory::Bastion bastion_;
  SshSettings settings_;
  KeyCache& keys_;
  StartupGate& gate_;
  Endpoint endpoint_;

  std::mutex mu_;
  std::condition_variable cv_;
  State state_ = State::kDown;
  uint64_t attempt_ = 0;      // connection attempts started
  Error last_error_;          // why attempt `attempt_` failed
  bool last_failed_ = false;
  std::deque<std::shared_ptr<Request>> requests_;  // waiting for the pump
  bool stop_ = false;

  SessionPtr session_;        // owned by the pump thread while state_ == kUp
  std::vector<std::unique_ptr<Tunnel>> tunnels_;   // pump thread only
  std::thread thread_;
  UniqueFd wake_read_, wake_write_;
  std::atomic<int> logins_{0};
};

}  // namespace airlock::transport
