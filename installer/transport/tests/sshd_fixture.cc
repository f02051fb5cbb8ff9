// See sshd_fixture.h. sshd runs in the foreground (-D) with its log on stderr (-e) redirected to
// a file, so tests can count "Accepted publickey" lines.
#include "installer/transport/tests/sshd_fixture.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/fs.h"
#include "common/process.h"

namespace airlock::transport::testing {

namespace {
const char kSshd[] = "/usr/sbin/sshd";

std::string slurp(const std::string& path) {
  auto r = read_file(path);
  return r.ok() ? *r : std::string();
}
}  // namespace

std::string skip_reason() {
  if (::geteuid() != 0) {
    return "sshd integration tests need root (sshd privilege separation)";
  }
  if (::access(kSshd, X_OK) != 0) {
    return std::string(kSshd) + " is not installed (apt-get install openssh-server)";
  }
  if (::access("/usr/bin/ssh-keygen", X_OK) != 0) {
    return "ssh-keygen is not installed";
  }
  return "";
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/airlock-transport-test-XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) {
    path_ = tmpl;
  }
}

TempDir::~TempDir() {
  if (!path_.empty()) {
    remove_tree(path_);
  }
}

int run(const std::vector<std::string>& argv, std::string* out) {
  SystemProcessRunner runner;
  ProcessOptions opts;
  opts.timeout = std::chrono::seconds(20);
  auto r = runner.run(argv, opts);
  if (!r.ok()) {
    return -1;
  }
  if (out != nullptr) {
    *out = r->out;
  }
  return r->exit_code;
}

KeyPair make_key(const std::string& dir, const std::string& name, const std::string& type) {
  KeyPair k;
  k.private_path = dir + "/" + name;
  run({"ssh-keygen", "-q", "-t", type, "-N", "", "-C", name, "-f", k.private_path});
  k.public_line = slurp(k.private_path + ".pub");
  while (!k.public_line.empty() && k.public_line.back() == '\n') {
    k.public_line.pop_back();
  }
  std::string listing;
  run({"ssh-keygen", "-l", "-f", k.private_path + ".pub"}, &listing);
  std::istringstream in(listing);
  std::string bits;
  in >> bits >> k.fingerprint;
  return k;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool process_exists(const std::string& marker) { return run({"pgrep", "-f", marker}) == 0; }

bool wait_gone(const std::string& marker, int ms) {
  for (int waited = 0; waited <= ms; waited += 50) {
    if (!process_exists(marker)) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

Sshd::~Sshd() { stop(); }

bool Sshd::start(const std::vector<std::string>& authorized_keys, SshdOptions opts, std::string* error) {
  ::mkdir("/run/sshd", 0755);  // sshd's privilege separation folder
  host_key_ = make_key(dir_.path(), "host_ed25519");
  std::string keys;
  for (const auto& k : authorized_keys) {
    keys += k + "\n";
  }
  std::ofstream(dir_.file("authorized_keys")) << keys;
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    std::ofstream cfg(dir_.file("sshd_config"));
    cfg << "Port " << port_ << "\n"
        << "ListenAddress 127.0.0.1\n"
        << "HostKey " << host_key_.private_path << "\n"
        << "AuthorizedKeysFile " << dir_.file("authorized_keys") << "\n"
        << "PidFile none\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n"
        << "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        << "AllowTcpForwarding " << (opts.allow_tcp_forwarding ? "yes" : "no") << "\n"
        << "MaxStartups 100\nMaxSessions 30\nLogLevel INFO\n";
    cfg.close();
    std::string log_path = dir_.file("sshd.log");
    std::string cfg_path = dir_.file("sshd_config");
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(kSshd, kSshd, "-D", "-e", "-f", cfg_path.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int waited = 0; waited < 5000; waited += 20) {
      if (log().find("Server listening") != std::string::npos) {
        return true;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      stop();
    }
  }
  *error = "sshd did not start: " + log();
  return false;
}

void Sshd::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

std::string Sshd::log() const { return slurp(dir_.file("sshd.log")); }

int Sshd::count_in_log(const std::string& needle) const {
  std::string text = log();
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

std::string Sshd::known_hosts_line() const {
  std::istringstream in(host_key_.public_line);
  std::string type, blob;
  in >> type >> blob;
  return "[127.0.0.1]:" + std::to_string(port_) + " " + type + " " + blob;
}

}  // namespace airlock::transport::testing
