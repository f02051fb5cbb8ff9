// The validation rules (docs/validate.md): node profiles chosen per node by role, group, label
// or node name (Gravity-style requirements: CPU/RAM minimums, OS and kernel constraints,
// accelerators, kernel modules, RDMA, PCIe, mounts, free space, device nodes, hugepages, MTU,
// swap, cgroup, virtualization) and cross-node rules (facts that must be identical within a
// scope, clock skew limit, MTU per fabric). Parsed strictly from YAML: unknown keys, bad sizes
// and bad patterns are errors "file:line:col: message: `offending text`". The built-in defaults
// (builtin_rules()) are the same structure; a rules file overrides them field by field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "installer/validate/checks.h"

namespace airlock::validate {

// A size with the text it came from ("20GiB"), for messages.
struct Size {
  uint64_t bytes = 0;
  std::string text;
};

struct Profile {
  std::string name;
  std::string defined_at;            // "file:line:col" ("built-in" for the defaults)
  // Which nodes it applies to. A node matches when (match is empty or one selector is one of
  // its roles, groups or key=value labels) and (nodes is empty or its name is in the set).
  std::vector<std::string> match;
  std::vector<std::string> nodes;    // expanded node set (`nodes: gpu[01-64]`)

  // Every field is optional: unset means "no requirement" (the check says not configured).
  std::optional<int64_t> min_logical_cpus;
  std::optional<int64_t> min_sockets;
  std::optional<int64_t> min_cpus_per_accelerator;
  std::optional<Size> min_memory;
  std::optional<Size> min_memory_per_accelerator;
  std::vector<std::string> os_ids;          // os-release ID values allowed (ubuntu, rhel, ...)
  std::vector<std::string> os_version_ids;  // VERSION_ID globs ("22.04", "9.*")
  std::vector<std::string> kernel_releases; // osrelease globs ("5.15.0-*-generic")
  std::optional<std::string> kernel_min;    // lowest kernel ("5.15")
  std::optional<std::string> accel_vendor;  // nvidia, amd, habana, furiosa, rebellions, ...
  std::optional<std::string> accel_model;   // glob on the model / family
  std::optional<int64_t> accel_count;
  std::vector<std::string> modules;         // required kernel modules (loaded or built in)
  std::optional<int64_t> rdma_hca_count;
  std::optional<std::string> rdma_vendor;   // PCI vendor id of the HCAs counted ("15b3")
  std::optional<double> rdma_min_rate_gbps;
  std::optional<std::string> rdma_link_layer;  // InfiniBand or Ethernet
  std::vector<std::string> pcie_ignore_bdfs;    // links below these functions are by design
  struct MountReq {
    std::string path;
    std::vector<std::string> fs_types;  // empty: any
  };
  std::vector<MountReq> mounts;
  std::map<std::string, Size> free_bytes;          // path -> minimum available bytes
  std::map<std::string, int64_t> free_inodes;      // path -> minimum available inodes
  std::vector<std::string> device_nodes;           // /dev paths (globs) that must exist
  std::map<uint64_t, int64_t> hugepages;           // page size bytes -> minimum nr_hugepages
  std::vector<std::pair<std::string, int64_t>> mtu;  // interface glob -> required MTU
  std::vector<std::string> virtualization;         // allowed values (none, kvm, ...)
  std::vector<std::string> cgroup;                 // allowed values (v2, v1, hybrid)
  std::optional<std::string> swap;                 // "off" or "on"
  std::optional<std::string> mig;                  // "enabled" or "disabled"
};

// Facts that must have one value across the nodes of a scope.
struct IdenticalRule {
  std::string id;                 // check id for its findings ("consistency.ofed")
  Severity severity = Severity::kWarn;
  std::vector<std::string> facts;  // fact paths: host.kernel_release, rdma[*].fw_ver, ...
  std::string scope;               // "" = the cross-node scope; else a role/group/key=value selector
  std::string defined_at;
};

struct Fabric {
  std::string name;
  std::vector<std::string> interfaces;  // interface name globs ("ib*")
  std::optional<int64_t> mtu;           // required MTU; unset: identical across nodes
  std::string defined_at;
};

struct Rules {
  std::string source = "built-in";  // the rules file, or "built-in"
  Profile defaults;                  // applies to every node under its profile
  std::vector<Profile> profiles;     // first match wins
  // Cross-node scope of the built-in consistency checks: "profile" (nodes of the same profile)
  // or "all".
  std::string scope = "profile";
  int64_t clock_skew_max_ns = 300'000'000;  // gravity's MaxOutOfSyncTimeDelta
  std::vector<IdenticalRule> identical;
  std::vector<Fabric> fabrics;
  std::vector<std::string> ignore;   // check ids (also --ignore)
};

// The built-in defaults: `/` needs 10 GiB available, `overlay` must be loaded, 300 ms skew.
Rules builtin_rules();
// Parses a rules file over the built-in defaults. `path` names the file in messages.
Result<Rules> parse_rules(std::string_view yaml_text, std::string_view path);
Result<Rules> load_rules(const std::string& path);

// "10GiB", "500G", "1.5TB", "4096" -> bytes; nullopt when malformed.
std::optional<uint64_t> parse_size(std::string_view s);
// "300ms", "2s", "500us" -> ns; nullopt when malformed.
std::optional<int64_t> parse_duration_ns(std::string_view s);

// The profile that applies to a node (merged over the defaults), given its inventory roles,
// groups and labels (empty when there is no inventory).
Profile profile_for(const Rules& rules, const std::string& node, const std::vector<std::string>& roles,
                    const std::vector<std::string>& groups, const std::map<std::string, std::string>& labels);
// Whether a role/group/key=value selector names this node (inventory -g semantics); "all"
// matches every node.
bool selector_matches(const std::string& selector, const std::vector<std::string>& roles,
                      const std::vector<std::string>& groups, const std::map<std::string, std::string>& labels);

}  // namespace airlock::validate
