// The inventory: which nodes make up the site and how to reach them. Loaded from YAML
// (docs/inventory.md) with defaults, groups, ClusterShell host ranges with matching address
// ranges, roles, labels, vars, bastions and pinned host keys. Every error is
// "file:line:col: message: `offending text`". Pure: parsing takes text, no network, no files
// other than the inventory itself (identity and known_hosts paths are resolved, not read).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace airlock::inventory {

// How to reach a jump host. Bastions are declared once under `bastions:` and referred to by
// name from a host, a group or the defaults.
struct Bastion {
  std::string name;
  std::string address;  // numeric IP or resolvable name (resolved once, up front)
  int port = 22;
  std::string user;                                // default: defaults' user, else "root"
  std::string identity_file;                       // absolute (resolved against the inventory's folder)
  std::vector<std::string> host_key_fingerprints;  // "SHA256:<base64, no padding>" as ssh-keygen -l prints
  int max_startups = 10;                           // cap on concurrent unauthenticated connections through it
};

struct Host {
  std::string name;          // unique; from `hosts:` (a range pattern expands into several)
  std::string address;       // numeric IP or name; "" for a local host
  int port = 22;
  std::string user;          // default "root"
  std::string identity_file; // absolute; "" means: none (agent not used unless asked)
  bool local = false;        // the installer's own machine: no SSH
  bool sudo = false;         // run remote commands through `sudo -n` (non-root users)
  std::vector<std::string> roles;   // manager, scheduler, agent, storage, registry, or free-form
  std::map<std::string, std::string> labels;
  nlohmann::json vars = nlohmann::json::object();  // defaults < groups (in file order) < host
  std::vector<std::string> groups;  // names of the groups this host is in
  std::string bastion;              // name of a Bastion, "" for direct
  std::vector<std::string> host_key_fingerprints;  // pinned; empty: use known_hosts
  std::string defined_at;           // "file:line:col" of the entry that made it, for messages
};

struct Inventory {
  std::string path;                          // the file it was loaded from
  std::vector<Host> hosts;                   // in file order, ranges expanded in order
  std::map<std::string, std::vector<std::string>> groups;  // group -> host names
  std::map<std::string, Bastion> bastions;
  std::string known_hosts_file;              // `ssh: known_hosts:`; default ~/.ssh/known_hosts
  int connect_timeout_s = 10;                // `ssh: connect_timeout:`
  int command_timeout_s = 600;               // `ssh: command_timeout:`
  int max_startups = 10;                     // `ssh: max_startups:` per sshd

  std::unordered_map<std::string, size_t> host_index;  // name -> position in hosts (parse fills it)

  // The host of that name, or nullptr. O(1) through host_index (falls back to a scan when
  // hosts was changed after parsing).
  const Host* find(std::string_view name) const;
  // Hosts selected by role/label/group names (-g: a host matches if any of its roles, groups,
  // or "key=value" labels matches one of `selectors`) and/or a node set pattern (-w). Both
  // empty: all hosts. Both given: the hosts that pass both (-g narrows -w). The result is in
  // inventory order. Unknown names in -w are an error naming them (kInvalidArgument); a -g that
  // matches nothing is an error too (a typo must not silently select nothing).
  Result<std::vector<const Host*>> select(const std::vector<std::string>& selectors,
                                          std::string_view nodeset) const;
};

// `path` is used in error messages and to resolve relative identity/known_hosts paths.
Result<Inventory> parse_inventory(std::string_view yaml_text, std::string_view path);
Result<Inventory> load_inventory(const std::string& path);

}  // namespace airlock::inventory
