// How the installer talks to one node: run a command (argv, under a timeout, in its own process
// group on the node), upload a file (streamed, verified by digest, renamed into place), cancel.
// Implementations: SSH (libssh, ssh_transport.h), local (this machine, local_transport.h) and a
// scripted fake for unit tests (fake_transport.h). One Transport per node; it connects once and
// reuses its session for every step. A Transport is used by one thread at a time, except
// cancel(), which any thread may call.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "installer/inventory/inventory.h"

namespace airlock::transport {

struct ExecOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  std::string stdin_data;             // sent, then EOF; empty: EOF at once
  size_t output_cap = 16u << 20;      // per stream; the rest is dropped and `truncated` set
};

struct ExecResult {
  int exit_code = -1;       // 128+signal when the remote command was killed by a signal
  std::string out;
  std::string err;
  bool timed_out = false;   // killed by the timeout (exit_code is then 124 or 137)
  bool truncated = false;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const std::string& node() const = 0;

  // Connects and authenticates (no-op when already connected). Errors: kUnreachable (refused,
  // no route, closed during handshake), kTimeout (connect timeout), kHostKey (unknown without
  // accept-new, changed, other type; message says "host key mismatch" for changed/other), kAuth.
  virtual Status connect() = 0;

  // Runs argv on the node. Quoting happens here and only here. The command runs in its own
  // process group (session) under opts.timeout; on timeout the whole group gets TERM, then KILL.
  // Non-zero exit is a result, not an error; errors are transport failures.
  virtual Result<ExecResult> exec(const std::vector<std::string>& argv, const ExecOptions& opts) = 0;

  // Puts the local file at remote_path with the given mode: streamed into a temp file next to
  // it, fsynced, checked against sha256_hex on the node, renamed over remote_path, directory
  // fsynced. Parent folders are created. When remote_path already has that digest nothing is
  // sent. Returns the number of bytes sent (0 when skipped).
  virtual Result<uint64_t> upload(const std::string& local_path, const std::string& remote_path,
                                  const std::string& sha256_hex, int mode = 0644) = 0;

  // Any thread: kill the process groups of running commands on the node, make the blocked call
  // return kCancelled, refuse new calls. Idempotent.
  virtual void cancel() = 0;
};

// Opens transports for inventory hosts; owns what they share (bastion sessions, the
// per-sshd cap on unauthenticated connections, loaded keys). Thread-safe.
class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  // Does not connect; the caller calls connect() (so connection errors are per node).
  virtual std::unique_ptr<Transport> open(const inventory::Host& host) = 0;
};

// Keeps one transport per host for as long as it lives, so a run with several phases (probe,
// stage, drivers, services...) connects and authenticates to each node once. open() hands out
// a handle to the cached transport; a node is used by one phase at a time.
class CachingFactory : public TransportFactory {
 public:
  explicit CachingFactory(TransportFactory& inner) : inner_(inner) {}
  std::unique_ptr<Transport> open(const inventory::Host& host) override;

 private:
  TransportFactory& inner_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Transport>> cache_;
};

struct SshSettings {
  std::string known_hosts_file;        // used for hosts without pinned fingerprints
  bool accept_new_host_keys = false;   // record UNKNOWN keys in known_hosts (serialised writes)
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  int max_startups = 10;               // concurrent unauthenticated connections per sshd / bastion
};

// SSH for remote hosts, the local transport for `local: true` hosts.
std::unique_ptr<TransportFactory> make_default_factory(const inventory::Inventory& inv,
                                                       const SshSettings& settings);

// Quotes argv into one POSIX sh command line ('...' with embedded quotes escaped).
std::string shell_join(const std::vector<std::string>& argv);

}  // namespace airlock::transport
