#include "tests/sim/sim_cluster.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace airlock::sim {
namespace {

ProcessResult run_argv(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  SystemProcessRunner runner;
  ProcessOptions opts;
  opts.timeout = timeout;
  auto r = runner.run(argv, opts);
  if (!r.ok()) {
    ProcessResult failed;
    failed.exit_code = 127;
    failed.err = r.error().describe();
    return failed;
  }
  return std::move(r).value();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string SimCluster::script_path() { return AIRLOCK_SIMCLUSTER_SCRIPT; }

std::string SimCluster::skip_reason() {
  auto r = run_argv({"bash", script_path(), "check"}, std::chrono::seconds(30));
  if (r.exit_code == 0) return "";
  std::string why = trim(r.out.empty() ? r.err : r.out);
  if (why.empty()) why = "simcluster check failed (exit " + std::to_string(r.exit_code) + ")";
  return "simulated cluster unavailable: " + why;
}

std::string SimCluster::services_skip_reason() {
  const char* env = getenv("SIMCLUSTER_SYSTEMCTL");
  std::string path = env && *env ? env : "/opt/airlock-test/systemctl/usr/bin/systemctl";
  if (::access(path.c_str(), X_OK) != 0) {
    return "no daemonless systemctl at " + path +
           " (Debian package systemctl, unpacked there by scripts/setup.sh; not installed on this "
           "machine since it conflicts with systemd): services cannot run in simulated nodes";
  }
  return "";
}

std::unique_ptr<SimCluster> SimCluster::start(const Options& o, std::string* error) {
  auto fail = [&](std::string msg) -> std::unique_ptr<SimCluster> {
    if (error) {
      *error = std::move(msg);
    } else {
      std::fprintf(stderr, "SimCluster::start: %s\n", msg.c_str());
    }
    return nullptr;
  };
  std::unique_ptr<SimCluster> c(new SimCluster());
  if (o.dir.empty()) {
    const char* tmp = getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/airlock-sim-XXXXXX";
    if (!mkdtemp(tmpl.data())) return fail("mkdtemp " + tmpl + " failed");
    c->dir_ = tmpl;
    c->owns_dir_ = true;
  } else {
    c->dir_ = o.dir;
  }
  std::vector<std::string> args = {"up", "--dir", c->dir_, "-n", std::to_string(o.n), "--prefix", o.prefix,
                                   "--timeout", std::to_string(o.timeout.count())};
  for (const auto& [node, path] : o.fixtures) args.insert(args.end(), {"--fixture", node + "=" + path});
  if (!o.fixture_all.empty()) args.insert(args.end(), {"--fixture-all", o.fixture_all});
  if (!o.bastion.empty()) args.insert(args.end(), {"--bastion", o.bastion});
  if (!o.user_key.empty()) args.insert(args.end(), {"--user-key", o.user_key});
  if (!o.systemctl) args.push_back("--no-systemctl");
  if (!o.disk_size.empty()) args.insert(args.end(), {"--disk-size", o.disk_size});
  // The script's own timeout covers the wait for sshd; this one covers everything else too.
  auto r = c->run_script(args, o.timeout + std::chrono::seconds(60));
  if (r.exit_code != 0 || r.timed_out) {
    std::string msg = "simcluster up failed (exit " + std::to_string(r.exit_code) +
                      (r.timed_out ? ", timed out" : "") + "): " + trim(r.err) +
                      (r.out.empty() ? "" : "\n" + trim(r.out));
    return fail(msg);  // c's destructor runs down (up already tore down; down is idempotent)
  }
  c->summary_ = trim(r.out);

  std::ifstream list(c->dir_ + "/nodes.list");
  std::string line;
  while (std::getline(list, line)) {
    std::istringstream ls(line);
    std::string name, addr;
    if (ls >> name >> addr) {
      c->names_.push_back(name);
      c->addresses_.push_back(addr);
    }
  }
  std::ifstream state(c->dir_ + "/state");
  while (std::getline(state, line)) {
    if (line.rfind("HOST_ADDR=", 0) == 0) c->host_address_ = line.substr(10);
    if (line.rfind("SYSTEMCTL=", 0) == 0) c->systemctl_ = line.substr(10);
  }
  if (static_cast<int>(c->names_.size()) != o.n) {
    return fail("simcluster up succeeded but " + c->dir_ + "/nodes.list names " +
                std::to_string(c->names_.size()) + " nodes, not " + std::to_string(o.n));
  }
  return c;
}

SimCluster::~SimCluster() {
  down();
  const char* keep = getenv("AIRLOCK_SIM_KEEP");
  if (owns_dir_ && !(keep && *keep && std::string(keep) != "0")) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

ProcessResult SimCluster::down() {
  if (down_) return {0, "", "", false};
  down_ = true;
  return run_script({"down", "--dir", dir_}, std::chrono::minutes(5));
}

const std::string& SimCluster::address(const std::string& node) const {
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == node) return addresses_[i];
  }
  throw std::out_of_range("no node " + node + " in the simulated cluster at " + dir_);
}

std::string SimCluster::node_path(const std::string& node, const std::string& path) const {
  address(node);  // throws for an unknown node
  long holder = 0;
  std::ifstream(node_dir(node) + "/holder.pid") >> holder;
  return "/proc/" + std::to_string(holder) + "/root" + (path.empty() || path[0] != '/' ? "/" : "") + path;
}

ProcessResult SimCluster::run_script(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv = {"bash", script_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_argv(argv, timeout);
}

ProcessResult SimCluster::fault(const std::string& node, const std::vector<std::string>& action) const {
  std::vector<std::string> args = {"fault", "--dir", dir_, node};
  args.insert(args.end(), action.begin(), action.end());
  return run_script(args, std::chrono::seconds(60));
}

ProcessResult SimCluster::exec(const std::string& node, const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout) const {
  std::vector<std::string> args = {"exec", "--dir", dir_, node, "--"};
  args.insert(args.end(), argv.begin(), argv.end());
  return run_script(args, timeout);
}

std::vector<std::string> SimCluster::ssh_options() const {
  return {"-F", "/dev/null", "-i", identity_path(), "-o", "IdentitiesOnly=yes",
          "-o", "UserKnownHostsFile=" + known_hosts_path(), "-o", "GlobalKnownHostsFile=/dev/null",
          "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
          "-o", "LogLevel=ERROR"};
}

ProcessResult SimCluster::ssh(const std::string& node, const std::string& command,
                              const std::vector<std::string>& extra_options,
                              std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv = {"ssh"};
  for (auto& a : extra_options) argv.push_back(a);  // first: for ssh the first value of an option wins
  for (auto& a : ssh_options()) argv.push_back(a);
  argv.push_back("root@" + address(node));
  argv.push_back(command);
  return run_argv(argv, timeout);
}

}  // namespace airlock::sim
