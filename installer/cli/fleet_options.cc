// Shared fleet options (see fleet_options.h).
#include "installer/cli/fleet_options.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace airlock::cli {

void add_fleet_options(CLI::App* cmd, FleetArgs& a, bool inventory_required) {
  auto* i = cmd->add_option("-i,--inventory", a.inventory, "Inventory file (YAML, docs/inventory.md)");
  if (inventory_required) i->required();
  cmd->add_option("-g,--group", a.groups, "Only hosts with this role, group or label (key=value); repeatable");
  cmd->add_option("-w,--nodes", a.nodeset, "Only these hosts, as a node set: gpu[001-064],mgr1");
  cmd->add_option("--fanout", a.fanout, "Nodes worked on at once (sliding window)")->default_val(64)->check(CLI::Range(1, 4096));
  cmd->add_flag("--accept-new-host-keys", a.accept_new_host_keys,
                "Record host keys of hosts not yet in known_hosts (changed keys are still refused)");
  cmd->add_option("--connect-timeout", a.connect_timeout_s, "Seconds to connect and log in (default: the inventory's, 10)");
}

Result<std::unique_ptr<Fleet>> open_fleet(const FleetArgs& a) {
  auto f = std::make_unique<Fleet>();
  TRY_ASSIGN(f->inv, inventory::load_inventory(a.inventory));
  TRY_ASSIGN(f->hosts, f->inv.select(a.groups, a.nodeset));
  transport::SshSettings s;
  s.known_hosts_file = f->inv.known_hosts_file;
  s.accept_new_host_keys = a.accept_new_host_keys;
  s.connect_timeout = std::chrono::seconds(a.connect_timeout_s > 0 ? a.connect_timeout_s : f->inv.connect_timeout_s);
  s.max_startups = f->inv.max_startups;
  f->factory = transport::make_default_factory(f->inv, s);
  return f;
}

Result<std::string> find_node_binary(const std::string& given) {
  if (!given.empty()) return given;
  if (const char* e = std::getenv("AIRLOCK_NODE_BINARY"); e && *e) return std::string(e);
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  for (const auto& p : {self / "airlock-node", self / "../lib/airlock/airlock-node", self / "../probes/airlock-node"}) {
    if (::access(p.c_str(), X_OK) == 0) return std::filesystem::weakly_canonical(p, ec).string();
  }
  return make_error(Errc::kNotFound, "airlock-node not found next to " + self.string() +
                                         "; give --node-binary PATH or set AIRLOCK_NODE_BINARY");
}

}  // namespace airlock::cli
