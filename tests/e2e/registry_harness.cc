// A real docker-registry per test, and background processes (fork + exec, so that the child can
// ask for SIGKILL when the test process dies and no registry outlives a crashed test).
#include "tests/e2e/registry_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

extern char** environ;

namespace airlock::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- processes --------------------------------------------------------------------------------

Spawned::Spawned(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path,
                 const std::map<std::string, std::string>& env, bool append)
    : out_path_(out_path), err_path_(err_path) {
  if (argv.empty()) {
    spawn_error_ = "empty argv";
    return;
  }
  // Everything the child needs is prepared before fork: it only calls async-signal-safe functions.
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) {
    if (v != kUnset) env_strings.push_back(k + "=" + v);
  }
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  const bool same = out_path == err_path;

  int report[2];  // the child writes errno here when exec fails; EOF means exec worked
  if (pipe2(report, O_CLOEXEC) != 0) {
    spawn_error_ = std::string("pipe: ") + std::strerror(errno);
    return;
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    spawn_error_ = std::string("fork: ") + std::strerror(errno);
    close(report[0]);
    close(report[1]);
    return;
  }
  if (pid == 0) {
    close(report[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the test died between fork and prctl
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(out_path_.c_str(), flags, 0644);
    int err = same ? out : open(err_path_.c_str(), flags, 0644);
    int e = 0;
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
      e = errno;
    } else {
      execvpe(args[0], args.data(), envp.data());
      e = errno;
    }
    ssize_t ignored = write(report[1], &e, sizeof e);
    (void)ignored;
    _exit(127);
  }
  close(report[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  pid_ = pid;
  if (n > 0) {
    spawn_error_ = "cannot run " + argv[0] + ": " + std::strerror(child_errno);
    waitpid(pid, nullptr, 0);
    exit_code_ = 127;
    reaped_ = true;
  }
}

Spawned::~Spawned() {
  if (pid_ > 0 && !reaped_) kill(SIGKILL);
}

void Spawned::reap(int status) {
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  reaped_ = true;
}

bool Spawned::running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reap(status);
    return false;
  }
  return r == 0;
}

int Spawned::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(5ms);
  }
  return exit_code_;
}

void Spawned::kill(int sig, int wait_ms) {
  if (!running()) return;
  ::kill(pid_, sig);
  if (wait_ms > 0) {
    if (wait(std::chrono::milliseconds(wait_ms)) >= 0) return;
    ::kill(pid_, SIGKILL);
  } else if (sig != SIGKILL) {
    return;
  }
  int status = 0;
  if (waitpid(pid_, &status, 0) == pid_) reap(status);
}

RunResult run_bounded(const std::vector<std::string>& argv, std::chrono::seconds timeout,
                      const std::map<std::string, std::string>& env) {
  TempDir io;
  RunResult r;
  Spawned p(argv, io / "stdout", io / "stderr", env);
  if (!p.started() || !p.spawn_error().empty()) {
    r.err = "spawn failed: " + p.spawn_error();
    return r;
  }
  int code = p.wait(timeout);
  bool timed_out = code < 0;
  if (timed_out) {
    p.kill(SIGKILL);
    code = 137;
  }
  r.exit_code = code;
  r.out = p.out();
  r.err = p.err();
  if (timed_out) r.err += "\n[test harness: " + argv[0] + " killed after " + std::to_string(timeout.count()) + " s]\n";
  return r;
}

static std::map<std::string, std::string> airlock_env(const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> e = {{"SOURCE_DATE_EPOCH", kEpoch}};
  for (const auto& [k, v] : env) e[k] = v;
  return e;
}

RunResult airlock_bounded(const std::vector<std::string>& args, std::chrono::seconds timeout,
                          const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {AIRLOCK_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_bounded(argv, timeout, airlock_env(env));
}

std::unique_ptr<Spawned> airlock_spawn(const std::vector<std::string>& args, const std::string& dir,
                                       const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv = {AIRLOCK_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<Spawned>(argv, dir + "/airlock.out", dir + "/airlock.err", airlock_env(env));
}

// ---- small helpers ----------------------------------------------------------------------------

namespace {

std::string base64(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {tbl[v >> 18], tbl[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], '='};
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// A port that was free a moment ago (the kernel picks it; bind, read it back, close).
int free_port() {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(s);
  return port;
}

// Parses "HTTP/1.x CODE ...\r\nName: value\r\n...\r\n\r\nbody".
HttpResponse parse_http(const std::string& raw) {
  HttpResponse r;
  size_t start = raw.find("HTTP/1.");
  if (start == std::string::npos) {
    r.error = raw.empty() ? "no answer" : "not an HTTP response: " + raw.substr(0, 200);
    return r;
  }
  size_t head_end = raw.find("\r\n\r\n", start);
  std::string head = raw.substr(start, head_end == std::string::npos ? std::string::npos : head_end - start);
  r.body = head_end == std::string::npos ? "" : raw.substr(head_end + 4);
  size_t eol = head.find("\r\n");
  std::string status_line = head.substr(0, eol);
  size_t sp = status_line.find(' ');
  if (sp != std::string::npos) r.status = std::atoi(status_line.c_str() + sp + 1);
  while (eol != std::string::npos) {
    size_t next = head.find("\r\n", eol + 2);
    std::string line = head.substr(eol + 2, next == std::string::npos ? std::string::npos : next - eol - 2);
    size_t colon = line.find(':');
    if (colon != std::string::npos) r.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    eol = next;
  }
  if (r.status == 0) r.error = "bad status line: " + status_line;
  return r;
}

// Plain-HTTP exchange on 127.0.0.1:port (the request asks the server to close the connection).
std::string http_exchange(int port, const std::string& request, int timeout_s) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return "";
  timeval tv{timeout_s, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  std::string raw;
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      send(s, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[65536];
    ssize_t n;
    while ((n = recv(s, buf, sizeof buf, 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  }
  close(s);
  return raw;
}

std::string tail(const std::string& s, size_t n) { return s.size() <= n ? s : "..." + s.substr(s.size() - n); }

}  // namespace

std::string registry_binary() {
  if (access("/usr/bin/docker-registry", X_OK) == 0) return "/usr/bin/docker-registry";
  auto r = run({"sh", "-c", "command -v docker-registry"});
  return r.exit_code == 0 ? trim(r.out) : "";
}

// ---- the registry -----------------------------------------------------------------------------

Registry::Registry(RegistryOptions opts) : opts_(std::move(opts)) {
  if (!prepare()) return;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (launch_and_wait()) {
      ok_ = true;
      return;
    }
    // Another process may have taken the port between free_port() and the registry's bind.
    if (log().find("address already in use") == std::string::npos) return;
    port_ = free_port();
    if (port_ == 0 || !write_config()) return;
  }
}

Registry::~Registry() { stop(); }

std::string Registry::host() const { return "127.0.0.1:" + std::to_string(port_); }
std::string Registry::ca_file() const { return dir_ ? *dir_ / "certs/ca.crt" : ""; }
std::string Registry::cert_dir() const { return dir_ ? *dir_ / "cert-dir" : ""; }
std::string Registry::password_file() const { return dir_ ? *dir_ / "password" : ""; }
std::string Registry::storage_dir() const { return dir_ ? *dir_ / "storage" : ""; }
std::string Registry::log() const { return dir_ ? read_all(*dir_ / "registry.log") : ""; }

bool Registry::prepare() {
  if (registry_binary().empty()) {
    error_ = "docker-registry is not installed (Debian package docker-registry)";
    return false;
  }
  dir_ = std::make_unique<TempDir>();
  const TempDir& d = *dir_;
  fs::create_directories(d / "storage");
  if (opts_.tls) {
    if (!have_tool("openssl")) {
      error_ = "openssl is not installed (needed for the registry's TLS certificate)";
      return false;
    }
    fs::create_directories(d / "certs");
    fs::create_directories(d / "cert-dir");
    write_all(d / "certs/server.ext",
              "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
              "basicConstraints=critical,CA:FALSE\n"
              "keyUsage=critical,digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=serverAuth\n");
    const std::vector<std::vector<std::string>> steps = {
        {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", d / "certs/ca.key", "-out", d / "certs/ca.crt", "-days", "30", "-subj",
         "/CN=airlock e2e test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
         "keyUsage=critical,keyCertSign,cRLSign"},
        {"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", d / "certs/server.key", "-out", d / "certs/server.csr", "-subj", "/CN=localhost"},
        {"openssl", "x509", "-req", "-in", d / "certs/server.csr", "-CA", d / "certs/ca.crt", "-CAkey",
         d / "certs/ca.key", "-set_serial", "2", "-days", "30", "-extfile", d / "certs/server.ext", "-out",
         d / "certs/server.crt"},
    };
    for (const auto& argv : steps) {
      auto r = run(argv);
      if (r.exit_code != 0) {
        error_ = "openssl failed (" + argv[1] + "): " + r.err;
        return false;
      }
    }
    fs::copy_file(d / "certs/ca.crt", d / "cert-dir/ca.crt", fs::copy_options::overwrite_existing);
  }
  if (opts_.basic_auth) {
    if (!have_tool("htpasswd")) {
      error_ = "htpasswd is not installed (Debian package apache2-utils)";
      return false;
    }
    // distribution accepts only bcrypt entries.
    auto r = run({"htpasswd", "-Bbn", opts_.user, opts_.password});
    std::string line = trim(r.out);
    if (r.exit_code != 0 || line.rfind(opts_.user + ":$2", 0) != 0) {
      error_ = "htpasswd -Bbn failed: " + r.out + r.err;
      return false;
    }
    write_all(d / "htpasswd", line + "\n");
    write_all(d / "password", opts_.password + "\n");
  }
  port_ = free_port();
  if (port_ == 0) {
    error_ = "no free port on 127.0.0.1";
    return false;
  }
  return write_config();
}

bool Registry::write_config() {
  const TempDir& d = *dir_;
  std::string c =
      "version: 0.1\n"
      "log:\n"
      "  level: info\n"
      "  formatter: text\n"
      "  accesslog:\n"
      "    disabled: false\n"
      "storage:\n"
      "  filesystem:\n"
      "    rootdirectory: \"" + d / "storage" + "\"\n"
      "  delete:\n"
      "    enabled: true\n"
      "  maintenance:\n"
      "    uploadpurging:\n"
      "      enabled: false\n"
      "http:\n"
      "  addr: 127.0.0.1:" + std::to_string(port_) + "\n"
      // Fixed: upload URLs carry an HMAC of the upload state made with this secret; a restarted
      // registry must accept the URLs handed out before the restart.
      "  secret: airlock-e2e-fixed-http-secret-0123456789\n";
  if (opts_.tls) {
    c += "  tls:\n"
         "    certificate: \"" + d / "certs/server.crt" + "\"\n"
         "    key: \"" + d / "certs/server.key" + "\"\n";
  }
  if (opts_.basic_auth) {
    c += "auth:\n"
         "  htpasswd:\n"
         "    realm: airlock-e2e\n"
         "    path: \"" + d / "htpasswd" + "\"\n";
  }
  c += "health:\n"
       "  storagedriver:\n"
       "    enabled: false\n";
  write_all(d / "config.yml", c);
  return true;
}

bool Registry::launch_and_wait() {
  const TempDir& d = *dir_;
  std::string logfile = d / "registry.log";
  // Variables such as REGISTRY_HTTP_ADDR would override the config file.
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    if (kv.rfind("REGISTRY_", 0) == 0) env[kv.substr(0, kv.find('='))] = Spawned::kUnset;
  }
  proc_ = std::make_unique<Spawned>(std::vector<std::string>{registry_binary(), "serve", d / "config.yml"},
                                    logfile, logfile, env, /*append=*/true);
  if (!proc_->spawn_error().empty()) {
    error_ = "cannot start the registry: " + proc_->spawn_error();
    proc_.reset();
    return false;
  }
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!proc_->running()) {
      error_ = "the registry exited (code " + std::to_string(proc_->exit_code()) + ") on " + host() +
               "; log:\n" + tail(log(), 4000);
      proc_.reset();
      return false;
    }
    HttpResponse r = request("GET", "/v2/", /*auth=*/false);
    if (r.status == 200 || r.status == 401) {
      error_.clear();
      return true;
    }
    last = r.status ? "HTTP " + std::to_string(r.status) : r.error;
    std::this_thread::sleep_for(50ms);
  }
  error_ = "the registry did not answer GET /v2/ on " + host() + " within 10 s (last: " + last + "); log:\n" +
           tail(log(), 4000);
  proc_->kill(SIGKILL);
  proc_.reset();
  return false;
}

void Registry::stop() {
  if (!proc_) return;
  proc_->kill(SIGTERM, 5000);
  proc_.reset();
}

void Registry::start() {
  if (!dir_ || port_ == 0) return;  // prepare() failed: error_ says why
  if (proc_ && proc_->running()) return;
  proc_.reset();
  ok_ = launch_and_wait();
}

HttpResponse Registry::request(const std::string& method, const std::string& path, bool auth) const {
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: " + host() + "\r\nUser-Agent: airlock-e2e-harness\r\n";
  if (auth && opts_.basic_auth) req += "Authorization: Basic " + base64(opts_.user + ":" + opts_.password) + "\r\n";
  req += "Connection: close\r\n\r\n";
  if (!opts_.tls) return parse_http(http_exchange(port_, req, 10));
  // https: openssl s_client verifies the server certificate against our CA and the IP SAN.
  TempDir io;
  write_all(io / "request", req);
  auto r = run_bounded({"sh", "-c",
                        "exec openssl s_client -quiet -connect \"$1\" -CAfile \"$2\" -verify_return_error "
                        "-verify_ip 127.0.0.1 <\"$3\"",
                        "sh", host(), ca_file(), io / "request"},
                       10s);
  HttpResponse resp = parse_http(r.out);
  if (resp.status == 0) resp.error += " (openssl s_client exit " + std::to_string(r.exit_code) + ": " + trim(r.err) + ")";
  return resp;
}

std::vector<std::string> Registry::skopeo_flags(const std::string& prefix) const {
  std::vector<std::string> f;
  if (opts_.tls) {
    f = {"--" + prefix + "cert-dir", cert_dir()};
  } else {
    f = {"--" + prefix + "tls-verify=false"};
  }
  if (opts_.basic_auth) {
    f.push_back("--" + prefix + "creds");
    f.push_back(opts_.user + ":" + opts_.password);
  }
  return f;
}

std::vector<std::string> Registry::push_flags() const {
  std::vector<std::string> f = {"--registry", host()};
  if (opts_.tls) {
    f.push_back("--ca");
    f.push_back(ca_file());
  } else {
    f.push_back("--insecure");
  }
  if (opts_.basic_auth) {
    f.insert(f.end(), {"--user", opts_.user, "--password-file", password_file()});
  }
  return f;
}

}  // namespace airlock::test
