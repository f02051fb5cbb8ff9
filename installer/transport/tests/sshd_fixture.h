// Test helpers: a real OpenSSH sshd on 127.0.0.1 with its own config, host key, authorized_keys
// and log (sshd -D -e), client keys made with ssh-keygen, and small process utilities. sshd needs
// root; skip_reason() says why a machine cannot run these tests.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace airlock::transport::testing {

// "" when sshd tests can run here; otherwise the reason to print with GTEST_SKIP.
std::string skip_reason();

// A fresh temporary folder, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct KeyPair {
  std::string private_path;
  std::string public_line;   // "ssh-ed25519 AAAA... comment"
  std::string fingerprint;   // "SHA256:..." as ssh-keygen -l prints it
};
// ssh-keygen -t TYPE -N '' -f DIR/NAME.
KeyPair make_key(const std::string& dir, const std::string& name, const std::string& type = "ed25519");

struct SshdOptions {
  bool allow_tcp_forwarding = false;
};

class Sshd {
 public:
  Sshd() = default;
  ~Sshd();
  Sshd(const Sshd&) = delete;
  Sshd& operator=(const Sshd&) = delete;

  // Starts sshd accepting the given public keys; returns false (with `error`) when it cannot.
  bool start(const std::vector<std::string>& authorized_keys, SshdOptions opts, std::string* error);
  void stop();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const KeyPair& host_key() const { return host_key_; }
  std::string log() const;
  int count_in_log(const std::string& needle) const;
  // "[127.0.0.1]:PORT <host key>" for a known_hosts file.
  std::string known_hosts_line() const;

 private:
  TempDir dir_;
  KeyPair host_key_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A port on 127.0.0.1 nothing listens on (bound once, then released).
int free_port();
// Runs argv, returns its exit code (and stdout in *out when given).
int run(const std::vector<std::string>& argv, std::string* out = nullptr);
// True when some process's command line contains `marker` (pgrep -f).
bool process_exists(const std::string& marker);
// Waits up to `ms` for no process to contain `marker`; true when none is left.
bool wait_gone(const std::string& marker, int ms = 3000);

}  // namespace airlock::transport::testing
