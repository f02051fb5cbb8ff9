// A simulated cluster for integration tests: N real sshd nodes on this machine, made and torn
// down by tests/sim/simcluster (see tests/sim/README.md). Needs root; tests call skip_reason()
// first and GTEST_SKIP() with it when it is not empty:
//
//   if (auto why = SimCluster::skip_reason(); !why.empty()) GTEST_SKIP() << why;
//   SimCluster::Options o; o.n = 4; o.fixtures["node002"] = ".../synthetic/h100-8x-ndr";
//   std::string err;
//   auto c = SimCluster::start(o, &err);
//   ASSERT_TRUE(c) << err;
//   ... c->inventory_path(), c->address("node002"), c->fault("node003", {"stop-sshd"}) ...
//
// The destructor always runs `simcluster down`, then removes the cluster's folder unless
// AIRLOCK_SIM_KEEP=1 is set in the environment (its sshd and holder logs help after a failure).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/process.h"

namespace airlock::sim {

class SimCluster {
 public:
  struct Options {
    int n = 4;
    std::string prefix = "node";                     // nodes are <prefix>001, <prefix>002, ...
    std::map<std::string, std::string> fixtures;     // node name -> fixture folder (sys/, proc/)
    std::string fixture_all;                         // fixture for nodes not in `fixtures`
    std::string bastion;                             // a node name: inventory routes the others via it
    std::string user_key;                            // client private key; generated when empty
    std::string dir;                                 // cluster folder; a fresh temp folder when empty
    std::chrono::seconds timeout{120};               // for `up`
    // Services per node: Debian's daemonless systemctl (unpacked by scripts/setup.sh into
    // /opt/airlock-test/systemctl; SIMCLUSTER_SYSTEMCTL overrides) bound over /usr/bin/systemctl,
    // with a private /run, /etc/systemd/system, /usr/lib/systemd/system and /var/log. Used when
    // it is there (see services_skip_reason()); false: --no-systemctl.
    bool systemctl = true;
    // e.g. "64M": /opt/airlock and /var/lib/airlock are tmpfs of that size inside each node
    // (fault fill-disk PATH / free-disk [PATH]); read them with exec() or node_path(). Empty:
    // bound from node_dir()/opt-airlock and var-lib-airlock as usual.
    std::string disk_size;
  };

  // Empty when this machine can run a cluster; otherwise why not (not root, no sshd, no ip,
  // no namespaces), for GTEST_SKIP().
  static std::string skip_reason();
  // Runs `simcluster up`. nullptr on failure, with the script's output in *error (or on stderr).
  static std::unique_ptr<SimCluster> start(const Options& options, std::string* error = nullptr);
  static std::string script_path();
  // Empty when `up` will give nodes the daemonless systemctl (services run for real); otherwise
  // why not (it is not unpacked here: run scripts/setup.sh), for GTEST_SKIP().
  static std::string services_skip_reason();
  // Both: empty when a cluster whose nodes run services for real can start here.
  static std::string services_cluster_skip_reason() {
    if (auto why = skip_reason(); !why.empty()) return why;
    return services_skip_reason();
  }

  ~SimCluster();
  SimCluster(const SimCluster&) = delete;
  SimCluster& operator=(const SimCluster&) = delete;

  const std::string& dir() const { return dir_; }
  std::string inventory_path() const { return dir_ + "/inventory.yaml"; }
  std::string identity_path() const { return dir_ + "/id_ed25519"; }
  std::string known_hosts_path() const { return dir_ + "/known_hosts"; }
  std::string node_dir(const std::string& node) const { return dir_ + "/nodes/" + node; }
  const std::vector<std::string>& nodes() const { return names_; }
  const std::vector<std::string>& addresses() const { return addresses_; }
  // The node's address; throws std::out_of_range for an unknown name.
  const std::string& address(const std::string& node) const;
  // The installer's side of the cluster network (10.X.0.1).
  const std::string& host_address() const { return host_address_; }
  // The last `up`'s one-line summary.
  const std::string& summary() const { return summary_; }
  // The daemonless systemctl bound over /usr/bin/systemctl in the nodes; empty when none.
  const std::string& systemctl_path() const { return systemctl_; }
  // `path` inside the node as seen from this machine: /proc/HOLDER/root/path (the node's mount
  // namespace). For what is not in node_dir(), like the --disk-size tmpfs and the node's /run.
  std::string node_path(const std::string& node, const std::string& path) const;

  // `simcluster fault --dir DIR NODE ACTION...`: {"stop-sshd"}, {"shape", "10mbit"}, ...
  ProcessResult fault(const std::string& node, const std::vector<std::string>& action) const;
  // `simcluster exec`: runs argv inside the node's network and mount namespaces.
  ProcessResult exec(const std::string& node, const std::vector<std::string>& argv,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // The system ssh client to the node with the cluster's key and known_hosts, strict host-key
  // checking, no ~/.ssh/config. `command` is a remote shell command line. extra_options go
  // first, so they override the defaults (ssh keeps the first value of an option).
  ProcessResult ssh(const std::string& node, const std::string& command,
                    const std::vector<std::string>& extra_options = {},
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // The options ssh() uses (for building ProxyCommand lines and the like).
  std::vector<std::string> ssh_options() const;
  // `simcluster down`; the destructor calls it too (idempotent). Returns its output.
  ProcessResult down();

 private:
  SimCluster() = default;
  ProcessResult run_script(const std::vector<std::string>& args, std::chrono::milliseconds timeout) const;

  std::string dir_;
  bool owns_dir_ = false;
  bool down_ = false;
  std::vector<std::string> names_;
  std::vector<std::string> addresses_;
  std::string host_address_;
  std::string summary_;
  std::string systemctl_;
};

}  // namespace airlock::sim

// In a test that needs a cluster whose services run for real: skips it, saying why, when this
// machine cannot start one.
#define SKIP_WITHOUT_SIM_SERVICES()                                                       \
  do {                                                                                     \
    if (auto why = ::airlock::sim::SimCluster::services_cluster_skip_reason(); !why.empty()) { \
      GTEST_SKIP() << why;                                                                 \
    }                                                                                      \
  } while (0)

