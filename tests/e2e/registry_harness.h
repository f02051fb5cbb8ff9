// A real OCI registry for end-to-end tests: Debian's `docker-registry` (CNCF distribution 2.8)
// on 127.0.0.1 with a free port, filesystem storage in its own temporary directory, optionally
// TLS (a throw-away CA and a server certificate made with openssl) and basic auth (htpasswd,
// bcrypt). It can be stopped and started again with the same port, storage and http.secret, so
// upload sessions survive a restart (for resume tests). Also: spawning a process without
// waiting for it (a push running in the background), and running one with a time limit.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/cli_harness.h"

namespace airlock::test {

// A child process started without waiting: stdout and stderr go to files (read them at any
// time); the child gets SIGKILL when the test process dies (PR_SET_PDEATHSIG), and the
// destructor kills (SIGKILL) and reaps a child that is still running.
class Spawned {
 public:
  // argv[0] is searched in PATH; env is merged over the current environment. stdout and stderr
  // are written to out_path and err_path (both may be the same file: then it gets both, in
  // order); append=true keeps what the files already hold. A variable whose value in env is
  // kUnset is removed from the child's environment.
  Spawned(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path,
          const std::map<std::string, std::string>& env = {}, bool append = false);
  ~Spawned();
  static constexpr const char* kUnset = "\x01(unset)";
  Spawned(const Spawned&) = delete;
  Spawned& operator=(const Spawned&) = delete;

  bool started() const { return pid_ > 0; }
  const std::string& spawn_error() const { return spawn_error_; }
  pid_t pid() const { return pid_; }
  // True while the child runs (reaps it when it has exited).
  bool running();
  // Waits up to `timeout` for the child to exit; its exit code (128+signal when killed), or -1
  // when it is still running after the timeout.
  int wait(std::chrono::milliseconds timeout);
  // Sends sig (SIGKILL: and reaps the child). With wait_ms > 0: waits that long for the exit,
  // then SIGKILLs and reaps.
  void kill(int sig, int wait_ms = 0);
  int exit_code() const { return exit_code_; }  // -1 until reaped
  std::string out() const { return read_all(out_path_); }
  std::string err() const { return read_all(err_path_); }

 private:
  void reap(int status);

  pid_t pid_ = -1;
  int exit_code_ = -1;
  bool reaped_ = false;
  std::string out_path_, err_path_, spawn_error_;
};

// Runs argv like run(), but kills the process (SIGKILL) when it runs longer than timeout; then
// exit_code is 137 and err ends with a line saying so.
RunResult run_bounded(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                      const std::map<std::string, std::string>& env = {});
// The airlock binary under test, bounded (SOURCE_DATE_EPOCH fixed as in airlock()).
RunResult airlock_bounded(const std::vector<std::string>& args, std::chrono::seconds timeout,
                          const std::map<std::string, std::string>& env = {});
// The airlock binary under test started in the background; output in dir/airlock.out|err.
std::unique_ptr<Spawned> airlock_spawn(const std::vector<std::string>& args, const std::string& dir,
                                       const std::map<std::string, std::string>& env = {});

struct RegistryOptions {
  bool tls = false;
  bool basic_auth = false;
  std::string user = "tester";
  std::string password = "s3cret";
};

// An HTTP response from Registry::request (status 0: no answer; error says why).
struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;
};

class Registry {
 public:
  // Starts the registry and waits (at most 10 s) until GET /v2/ answers 200 or 401.
  explicit Registry(RegistryOptions opts = {});
  ~Registry();  // stops it (SIGTERM, SIGKILL after 5 s)
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // False, with a reason, when the binary or a tool is missing or the registry did not come up.
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

  std::string host() const;                       // "127.0.0.1:PORT"
  int port() const { return port_; }
  const RegistryOptions& options() const { return opts_; }
  std::string ca_file() const;                    // tls: the CA that signed the server certificate
  std::string cert_dir() const;                   // tls: a directory holding only ca.crt (skopeo --cert-dir)
  std::string password_file() const;              // basic_auth: the password and a newline
  std::string storage_dir() const;                // the registry's filesystem root
  std::string log() const;                        // everything the registry printed, all runs

  // Stops the registry (SIGTERM, SIGKILL after 5 s); start() runs it again with the same port,
  // storage and secret and waits until it answers (ok() and error() report the outcome).
  void stop();
  void start();
  bool running() const { return proc_ != nullptr; }

  // One HTTP request to the registry (http or https with the CA; basic credentials when the
  // registry wants them and auth is true). For checks that need no client library, e.g.
  // request("GET", "/v2/REPO/tags/list"). Bounded to 10 s.
  HttpResponse request(const std::string& method, const std::string& path, bool auth = true) const;

  // skopeo flags to reach this registry: prefix "" for inspect (--tls-verify, --cert-dir,
  // --creds), "src-" or "dest-" for copy.
  std::vector<std::string> skopeo_flags(const std::string& prefix = "") const;
  // Flags for `airlock images push` to reach this registry: --registry HOST, --insecure or
  // --ca FILE, and --user/--password-file when basic auth is on.
  std::vector<std::string> push_flags() const;

 private:
  bool prepare();           // config, certificates, htpasswd (once)
  bool write_config();
  bool launch_and_wait();   // one start attempt on port_

  RegistryOptions opts_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Spawned> proc_;
  int port_ = 0;
  bool ok_ = false;
  std::string error_;
};

// The registry binary, or "" when it is not installed.
std::string registry_binary();

}  // namespace airlock::test
