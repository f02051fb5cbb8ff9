// Getting one authenticated libssh session: TCP connect by address with a timeout, the SSH
// handshake over a socket we own (direct, or one end of a bastion tunnel), the host key check
// (pinned fingerprints, else known_hosts with optional accept-new) and public key
// authentication with a key loaded once per file. Shared by SshTransport and the bastion link.
#pragma once

#include <libssh/libssh.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/result.h"
#include "installer/transport/transport.h"

namespace airlock::transport {

using Clock = std::chrono::steady_clock;

struct SessionFree {
  void operator()(ssh_session s) const;
};
using SessionPtr = std::unique_ptr<ssh_session_struct, SessionFree>;

struct KeyFree {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyFree>;

// Who we connect to, and how we name it in messages.
struct Endpoint {
  std::string label;    // "gpu001 (10.0.0.1:22)" or "bastion bh1 (192.0.2.1:22)"
  std::string address;  // numeric or a name; also the known_hosts key with the port
  int port = 22;
  std::string user;
  std::string identity_file;
  std::vector<std::string> pinned;  // "SHA256:..." fingerprints; empty: known_hosts
};

// A cancel flag plus the socket to shut down while a blocking handshake is using it, so
// cancel() from another thread interrupts connect() at once.
class CancelState {
 public:
  void cancel();
  bool cancelled() const { return flag_.load(); }
  const std::atomic<bool>& flag() const { return flag_; }
  void watch_fd(int fd);
  void unwatch_fd();

 private:
  std::atomic<bool> flag_{false};
  std::mutex mu_;
  int fd_ = -1;
};

// Private keys loaded once per file; each session gets its own copy (ssh_key_dup).
class KeyCache {
 public:
  ~KeyCache();
  Result<KeyPtr> get(const std::string& path);

 private:
  std::mutex mu_;
  std::map<std::string, ssh_key> keys_;
};

// Calls ssh_init() once per process.
void init_libssh();

// Non-blocking TCP connect bounded by `timeout`; kUnreachable (refused, no route, cannot
// resolve), kTimeout, kCancelled. The socket is returned in non-blocking mode.
Result<UniqueFd> tcp_connect(const Endpoint& ep, std::chrono::milliseconds timeout,
                             const std::atomic<bool>& cancelled);

// Handshake, host key check and authentication over `fd` (which the session then owns).
// The session is left in blocking mode.
Result<SessionPtr> ssh_login(const Endpoint& ep, UniqueFd fd, const SshSettings& settings,
                             KeyCache& keys, CancelState* cancel);

// "SHA256:<base64, no padding>" of the server's host key, as ssh-keygen -l prints it.
Result<std::string> server_fingerprint(ssh_session s);

}  // namespace airlock::transport
