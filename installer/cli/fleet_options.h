// What every fleet command (`exec`, `probe -i`, later validate/install/upgrade) shares: the
// inventory and node selection (-i, -g, -w), the window (--fanout), SSH policy
// (--accept-new-host-keys, --connect-timeout), and turning those into hosts and a transport
// factory.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "installer/inventory/inventory.h"
#include "installer/transport/transport.h"

namespace airlock::cli {

struct FleetArgs {
  std::string inventory;
  std::vector<std::string> groups;   // -g: roles, groups or key=value labels
  std::string nodeset;               // -w
  int fanout = 64;
  bool accept_new_host_keys = false;
  int connect_timeout_s = 0;         // 0: the inventory's value
};

void add_fleet_options(CLI::App* cmd, FleetArgs& a, bool inventory_required = true);

struct Fleet {
  inventory::Inventory inv;
  std::vector<const inventory::Host*> hosts;
  std::unique_ptr<transport::TransportFactory> factory;
};

// Loads the inventory, selects the hosts, builds the factory. The Fleet must not move after
// this returns (hosts point into inv), hence the unique_ptr.
Result<std::unique_ptr<Fleet>> open_fleet(const FleetArgs& a);

// The airlock-node to send to nodes: --node-binary, $AIRLOCK_NODE_BINARY, or next to this program
// (installed: same folder or ../lib/airlock; build tree: ../probes).
Result<std::string> find_node_binary(const std::string& given);

}  // namespace airlock::cli
