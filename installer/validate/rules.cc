// The rules file parser and profile selection (see rules.h; format in docs/validate.md).
#include "installer/validate/rules.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include "common/fs.h"
#include "installer/inventory/nodeset.h"
#include "installer/validate/fact_path.h"
#include "installer/validate/yaml_reader.h"

namespace airlock::validate {
namespace {

const std::vector<std::string> kTopKeys = {"defaults", "profiles", "cross_node", "ignore"};
const std::vector<std::string> kProfileKeys = {
    "name",    "match", "nodes",  "cpu",          "memory",    "os",  "kernel",         "accelerators",
    "modules", "rdma",  "pcie",   "mounts",       "free",      "free_inodes", "device_nodes", "hugepages",
    "mtu",     "virtualization", "cgroup", "swap", "mig"};
const std::vector<std::string> kCrossKeys = {"scope", "clock_skew_max", "identical", "fabrics"};

class RulesParser {
 public:
  RulesParser(std::string_view text, std::string path) : r_(text, std::move(path)) {}

  Result<Rules> parse(std::string_view text) {
    Rules rules = builtin_rules();
    rules.source = r_.file();
    TRY_ASSIGN(YAML::Node root, r_.load());
    if (root.IsNull()) return rules;
    if (!root.IsMap()) {
      return r_.err_at(0, 0, "a rules file is a mapping (defaults, profiles, cross_node, ignore)", r_.line_text(0));
    }
    TRY_STATUS(r_.each_key(root, root, "the rules file", kTopKeys, [&](const std::string& name, const YAML::Node& k,
                                                                        const YAML::Node& v) -> Status {
      if (name == "defaults") return parse_profile(k, v, /*is_defaults=*/true, &rules.defaults);
      if (name == "profiles") return parse_profiles(k, v, &rules);
      if (name == "cross_node") return parse_cross(k, v, &rules);
      TRY_ASSIGN(rules.ignore, r_.list(k, v, "ignore"));
      ignore_nodes_ = v;
      return {};
    }));
    // Ignored ids must exist (a typo must not silently keep a check on).
    for (size_t i = 0; i < rules.ignore.size(); ++i) {
      const auto& id = rules.ignore[i];
      bool own = std::any_of(rules.identical.begin(), rules.identical.end(), [&](const auto& r) { return r.id == id; });
      if (find_check(id) == nullptr && !own) {
        return r_.err(ignore_nodes_.IsSequence() ? ignore_nodes_[i] : ignore_nodes_, "ignore: unknown check id");
      }
    }
    return rules;
  }

 private:
  Status parse_profiles(const YAML::Node& k, const YAML::Node& v, Rules* rules) {
    if (!v.IsSequence()) return r_.err_value(k, v, "profiles must be a list of profiles");
    for (const auto& item : v) {
      Profile p;
      p.defined_at = r_.where(item);
      TRY_STATUS(parse_profile(k, item, false, &p));
      if (p.name.empty()) return r_.err(item, "a profile needs a name");
      for (const auto& other : rules->profiles) {
        if (other.name == p.name) return r_.err(item, "profile " + p.name + " given twice (first at " + other.defined_at + ")");
      }
      rules->profiles.push_back(std::move(p));
    }
    return {};
  }

  Status parse_profile(const YAML::Node& key, const YAML::Node& v, bool is_defaults, Profile* p) {
    std::string what = is_defaults ? "defaults" : "profile";
    if (!v.IsMap()) return r_.err_value(key, v, what + " must be a mapping");
    if (!is_defaults && v["name"] && v["name"].IsScalar()) what = "profile " + v["name"].Scalar();
    return r_.each_key(v, key, what, kProfileKeys, [&](const std::string& name, const YAML::Node& k,
                                                       const YAML::Node& x) -> Status {
      if (is_defaults && (name == "name" || name == "match" || name == "nodes")) {
        return r_.err(k, "defaults apply to every node: " + name + " belongs in a profile");
      }
      if (name == "name") {
        TRY_ASSIGN(p->name, r_.text(k, x, what));
      } else if (name == "match") {
        TRY_ASSIGN(p->match, r_.list(k, x, what));
      } else if (name == "nodes") {
        TRY_ASSIGN(std::string pattern, r_.text(k, x, what));
        auto names = inventory::expand_nodeset(pattern);
        if (!names.ok()) return r_.err(x, what + ": nodes: " + names.error().message);
        p->nodes = std::move(*names);
      } else if (name == "cpu") {
        return r_.each_key(x, k, what + " cpu", {"min_logical", "min_sockets", "min_per_accelerator"},
                           [&](const std::string& n, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             TRY_ASSIGN(int64_t i, r_.integer(kk, vv, what + " cpu", 0, 1'000'000));
                             (n == "min_logical" ? p->min_logical_cpus
                              : n == "min_sockets" ? p->min_sockets
                                                   : p->min_cpus_per_accelerator) = i;
                             return {};
                           });
      } else if (name == "memory") {
        return r_.each_key(x, k, what + " memory", {"min", "min_per_accelerator"},
                           [&](const std::string& n, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             TRY_ASSIGN(uint64_t b, r_.size(kk, vv, what + " memory"));
                             (n == "min" ? p->min_memory : p->min_memory_per_accelerator) = Size{b, vv.Scalar()};
                             return {};
                           });
      } else if (name == "os") {
        return r_.each_key(x, k, what + " os", {"id", "version_id"},
                           [&](const std::string& n, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             TRY_ASSIGN((n == "id" ? p->os_ids : p->os_version_ids), r_.list(kk, vv, what + " os"));
                             return {};
                           });
      } else if (name == "kernel") {
        return r_.each_key(x, k, what + " kernel", {"release", "min"},
                           [&](const std::string& n, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             if (n == "release") {
                               TRY_ASSIGN(p->kernel_releases, r_.list(kk, vv, what + " kernel"));
                               return {};
                             }
                             TRY_ASSIGN(std::string m, r_.text(kk, vv, what + " kernel"));
                             if (m.empty() || !std::isdigit(static_cast<unsigned char>(m[0]))) {
                               return r_.err(vv, what + " kernel: min must be a version such as 5.15");
                             }
                             p->kernel_min = m;
                             return {};
                           });
      } else if (name == "accelerators") {
        return r_.each_key(x, k, what + " accelerators", {"vendor", "model", "count"},
                           [&](const std::string& n, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             if (n == "count") {
                               TRY_ASSIGN(p->accel_count, r_.integer(kk, vv, what + " accelerators", 0, 4096));
                             } else if (n == "vendor") {
                               TRY_ASSIGN(p->accel_vendor, r_.text(kk, vv, what + " accelerators"));
                             } else {
                               TRY_ASSIGN(p->accel_model, r_.text(kk, vv, what + " accelerators"));
                             }
                             return {};
                           });
      } else if (name == "modules") {
        TRY_ASSIGN(p->modules, r_.list(k, x, what));
      } else if (name == "rdma") {
        return parse_rdma(k, x, what, p);
      } else if (name == "pcie") {
        return r_.each_key(x, k, what + " pcie", {"ignore_bdfs"},
                           [&](const std::string&, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             TRY_ASSIGN(p->pcie_ignore_bdfs, r_.list(kk, vv, what + " pcie"));
                             return {};
                           });
      } else if (name == "mounts") {
        return parse_mounts(k, x, what, p);
      } else if (name == "free" || name == "free_inodes") {
        return r_.each_key(x, k, what + " " + name, {},
                           [&](const std::string& path, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             if (path.empty() || path[0] != '/') return r_.err(kk, what + " " + name + ": paths must be absolute");
                             if (name == "free") {
                               TRY_ASSIGN(uint64_t b, r_.size(kk, vv, what + " free"));
                               p->free_bytes[path] = Size{b, vv.Scalar()};
                             } else {
                               TRY_ASSIGN(p->free_inodes[path], r_.integer(kk, vv, what + " free_inodes", 0, INT64_MAX));
                             }
                             return {};
                           });
      } else if (name == "device_nodes") {
        TRY_ASSIGN(p->device_nodes, r_.list(k, x, what));
        for (size_t i = 0; i < p->device_nodes.size(); ++i) {
          if (p->device_nodes[i].rfind("/dev/", 0) != 0) {
            return r_.err(x.IsSequence() ? x[i] : x, what + ": device_nodes must be under /dev/");
          }
        }
      } else if (name == "hugepages") {
        return r_.each_key(x, k, what + " hugepages", {},
                           [&](const std::string& sz, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             auto b = parse_size(sz);
                             if (!b || *b == 0) return r_.err(kk, what + " hugepages: keys are page sizes such as 2MiB or 1GiB");
                             TRY_ASSIGN(p->hugepages[*b], r_.integer(kk, vv, what + " hugepages", 0, INT64_MAX));
                             return {};
                           });
      } else if (name == "mtu") {
        return r_.each_key(x, k, what + " mtu", {},
                           [&](const std::string& glob, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             TRY_ASSIGN(int64_t m, r_.integer(kk, vv, what + " mtu", 68, 65536));
                             p->mtu.emplace_back(glob, m);
                             return {};
                           });
      } else if (name == "virtualization") {
        TRY_ASSIGN(p->virtualization, r_.one_of(k, x, what, {"none", "kvm", "vmware", "virtualbox", "hyperv", "xen",
                                                             "amazon", "google", "vm", "unknown"}));
      } else if (name == "cgroup") {
        TRY_ASSIGN(p->cgroup, r_.one_of(k, x, what, {"v1", "v2", "hybrid"}));
      } else if (name == "swap") {
        TRY_ASSIGN(auto s, r_.one_of(k, x, what, {"off", "on"}));
        if (s.size() != 1) return r_.err(x, what + ": swap is off or on");
        p->swap = s[0];
      } else if (name == "mig") {
        TRY_ASSIGN(auto s, r_.one_of(k, x, what, {"enabled", "disabled"}));
        if (s.size() != 1) return r_.err(x, what + ": mig is enabled or disabled");
        p->mig = s[0];
      }
      return {};
    });
  }

  Status parse_rdma(const YAML::Node& k, const YAML::Node& x, const std::string& what, Profile* p) {
    return r_.each_key(x, k, what + " rdma", {"hca_count", "vendor", "min_rate_gbps", "link_layer"},
                       [&](const std::string& n, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                         if (n == "hca_count") {
                           TRY_ASSIGN(p->rdma_hca_count, r_.integer(kk, vv, what + " rdma", 0, 4096));
                         } else if (n == "vendor") {
                           TRY_ASSIGN(std::string id, r_.text(kk, vv, what + " rdma"));
                           if (id.size() != 4 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
                             return r_.err(vv, what + " rdma: vendor is a PCI vendor id such as 15b3");
                           }
                           p->rdma_vendor = id;
                         } else if (n == "min_rate_gbps") {
                           TRY_ASSIGN(p->rdma_min_rate_gbps, r_.number(kk, vv, what + " rdma"));
                         } else {
                           TRY_ASSIGN(auto s, r_.one_of(kk, vv, what + " rdma", {"InfiniBand", "Ethernet"}));
                           p->rdma_link_layer = s.at(0);
                         }
                         return {};
                       });
  }

  Status parse_mounts(const YAML::Node& k, const YAML::Node& x, const std::string& what, Profile* p) {
    if (!x.IsSequence()) return r_.err_value(k, x, what + ": mounts must be a list of {path, fs_type}");
    for (const auto& m : x) {
      Profile::MountReq req;
      if (m.IsScalar()) {
        req.path = m.Scalar();
      } else {
        TRY_STATUS(r_.each_key(m, k, what + " mount", {"path", "fs_type"},
                               [&](const std::string& n, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                                 if (n == "path") {
                                   TRY_ASSIGN(req.path, r_.text(kk, vv, what + " mount"));
                                 } else {
                                   TRY_ASSIGN(req.fs_types, r_.list(kk, vv, what + " mount"));
                                 }
                                 return {};
                               }));
      }
      if (req.path.empty() || req.path[0] != '/') return r_.err(m, what + ": a mount needs an absolute path");
      p->mounts.push_back(std::move(req));
    }
    return {};
  }

  Status parse_cross(const YAML::Node& k, const YAML::Node& v, Rules* rules) {
    return r_.each_key(v, k, "cross_node", kCrossKeys, [&](const std::string& name, const YAML::Node& kk,
                                                           const YAML::Node& x) -> Status {
      if (name == "scope") {
        TRY_ASSIGN(auto s, r_.one_of(kk, x, "cross_node", {"profile", "all"}));
        rules->scope = s.at(0);
      } else if (name == "clock_skew_max") {
        TRY_ASSIGN(rules->clock_skew_max_ns, r_.duration_ns(kk, x, "cross_node"));
      } else if (name == "identical") {
        if (!x.IsSequence()) return r_.err_value(kk, x, "cross_node: identical must be a list");
        for (const auto& item : x) TRY_STATUS(parse_identical(kk, item, rules));
      } else {
        if (!x.IsSequence()) return r_.err_value(kk, x, "cross_node: fabrics must be a list");
        for (const auto& item : x) TRY_STATUS(parse_fabric(kk, item, rules));
      }
      return {};
    });
  }

  Status parse_identical(const YAML::Node& k, const YAML::Node& item, Rules* rules) {
    IdenticalRule r;
    r.defined_at = r_.where(item);
    YAML::Node facts_node;
    TRY_STATUS(r_.each_key(item, k, "identical", {"id", "facts", "severity", "scope"},
                           [&](const std::string& n, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             if (n == "id") {
                               TRY_ASSIGN(r.id, r_.text(kk, vv, "identical"));
                               if (find_check(r.id) != nullptr) return r_.err(vv, "identical: id is a built-in check id");
                             } else if (n == "facts") {
                               TRY_ASSIGN(r.facts, r_.list(kk, vv, "identical"));
                               facts_node = vv;
                             } else if (n == "severity") {
                               TRY_ASSIGN(auto s, r_.one_of(kk, vv, "identical", {"fail", "warn", "info"}));
                               r.severity = s.at(0) == "fail" ? Severity::kFail : s[0] == "warn" ? Severity::kWarn : Severity::kInfo;
                             } else {
                               TRY_ASSIGN(r.scope, r_.text(kk, vv, "identical"));
                             }
                             return {};
                           }));
    if (r.facts.empty()) return r_.err(item, "identical: an entry needs facts");
    for (size_t i = 0; i < r.facts.size(); ++i) {
      std::string why;
      if (!FactPath::parse(r.facts[i], &why)) {
        return r_.err(facts_node.IsSequence() ? facts_node[i] : facts_node, "identical: bad fact path (" + why + ")");
      }
    }
    if (r.id.empty()) r.id = "consistency." + r.facts[0];
    for (const auto& other : rules->identical) {
      if (other.id == r.id) return r_.err(item, "identical: id " + r.id + " given twice (first at " + other.defined_at + ")");
    }
    rules->identical.push_back(std::move(r));
    return {};
  }

  Status parse_fabric(const YAML::Node& k, const YAML::Node& item, Rules* rules) {
    Fabric f;
    f.defined_at = r_.where(item);
    TRY_STATUS(r_.each_key(item, k, "fabric", {"name", "interfaces", "mtu"},
                           [&](const std::string& n, const YAML::Node& kk, const YAML::Node& vv) -> Status {
                             if (n == "name") {
                               TRY_ASSIGN(f.name, r_.text(kk, vv, "fabric"));
                             } else if (n == "interfaces") {
                               TRY_ASSIGN(f.interfaces, r_.list(kk, vv, "fabric"));
                             } else {
                               TRY_ASSIGN(f.mtu, r_.integer(kk, vv, "fabric", 68, 65536));
                             }
                             return {};
                           }));
    if (f.name.empty() || f.interfaces.empty()) return r_.err(item, "fabric: needs a name and interfaces");
    rules->fabrics.push_back(std::move(f));
    return {};
  }

  YamlReader r_;
  YAML::Node ignore_nodes_;
};

template <class T>
void take(std::optional<T>& into, const std::optional<T>& over) {
  if (over) into = over;
}
template <class T>
void take(std::vector<T>& into, const std::vector<T>& over) {
  if (!over.empty()) into = over;
}

}  // namespace

Rules builtin_rules() {
  Rules r;
  r.defaults.name = "default";
  r.defaults.defined_at = "built-in";
  r.defaults.free_bytes["/"] = Size{10ull << 30, "10GiB"};
  r.defaults.modules = {"overlay"};
  return r;
}

Result<Rules> parse_rules(std::string_view yaml_text, std::string_view path) {
  RulesParser p(yaml_text, std::string(path));
  return p.parse(yaml_text);
}

Result<Rules> load_rules(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.error();
  return parse_rules(*text, path);
}

std::optional<uint64_t> parse_size(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, n);
  if (ec != std::errc() || p != s.data() + i) return std::nullopt;
  std::string unit(s.substr(i));
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  static const std::vector<std::pair<std::string, double>> kUnits = {
      {"", 1},         {"B", 1},          {"K", 1e3},        {"KB", 1e3},       {"KiB", 1024.0},
      {"M", 1e6},      {"MB", 1e6},       {"MiB", 1048576.0}, {"G", 1e9},       {"GB", 1e9},
      {"GiB", 1073741824.0}, {"T", 1e12}, {"TB", 1e12},      {"TiB", 1099511627776.0}, {"P", 1e15},
      {"PB", 1e15},    {"PiB", 1125899906842624.0}};
  for (const auto& [u, mult] : kUnits) {
    if (unit == u) {
      double b = n * mult;
      if (b > 1.8e19) return std::nullopt;
      return static_cast<uint64_t>(std::llround(b));
    }
  }
  return std::nullopt;
}

std::optional<int64_t> parse_duration_ns(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, n);
  if (ec != std::errc() || p != s.data() + i) return std::nullopt;
  std::string_view unit = s.substr(i);
  double mult = unit == "ns" ? 1 : unit == "us" ? 1e3 : unit == "ms" ? 1e6 : unit == "s" ? 1e9 : unit == "m" ? 60e9 : -1;
  if (mult < 0) return std::nullopt;
  return static_cast<int64_t>(std::llround(n * mult));
}

bool selector_matches(const std::string& selector, const std::vector<std::string>& roles,
                      const std::vector<std::string>& groups, const std::map<std::string, std::string>& labels) {
  if (selector == "all") return true;
  if (std::find(roles.begin(), roles.end(), selector) != roles.end()) return true;
  if (std::find(groups.begin(), groups.end(), selector) != groups.end()) return true;
  size_t eq = selector.find('=');
  if (eq == std::string::npos) return false;
  auto it = labels.find(selector.substr(0, eq));
  return it != labels.end() && it->second == selector.substr(eq + 1);
}

Profile profile_for(const Rules& rules, const std::string& node, const std::vector<std::string>& roles,
                    const std::vector<std::string>& groups, const std::map<std::string, std::string>& labels) {
  Profile out = rules.defaults;
  for (const auto& p : rules.profiles) {
    bool sel = p.match.empty() || std::any_of(p.match.begin(), p.match.end(), [&](const std::string& s) {
                 return selector_matches(s, roles, groups, labels);
               });
    bool named = p.nodes.empty() || std::find(p.nodes.begin(), p.nodes.end(), node) != p.nodes.end();
    if (!sel || !named) continue;
    out.name = p.name;
    out.defined_at = p.defined_at;
    out.match = p.match;
    out.nodes.clear();
    take(out.min_logical_cpus, p.min_logical_cpus);
    take(out.min_sockets, p.min_sockets);
    take(out.min_cpus_per_accelerator, p.min_cpus_per_accelerator);
    take(out.min_memory, p.min_memory);
    take(out.min_memory_per_accelerator, p.min_memory_per_accelerator);
    take(out.os_ids, p.os_ids);
    take(out.os_version_ids, p.os_version_ids);
    take(out.kernel_releases, p.kernel_releases);
    take(out.kernel_min, p.kernel_min);
    take(out.accel_vendor, p.accel_vendor);
    take(out.accel_model, p.accel_model);
    take(out.accel_count, p.accel_count);
    for (const auto& m : p.modules) {
      if (std::find(out.modules.begin(), out.modules.end(), m) == out.modules.end()) out.modules.push_back(m);
    }
    take(out.rdma_hca_count, p.rdma_hca_count);
    take(out.rdma_vendor, p.rdma_vendor);
    take(out.rdma_min_rate_gbps, p.rdma_min_rate_gbps);
    take(out.rdma_link_layer, p.rdma_link_layer);
    take(out.pcie_ignore_bdfs, p.pcie_ignore_bdfs);
    take(out.mounts, p.mounts);
    for (const auto& [k, v] : p.free_bytes) out.free_bytes[k] = v;
    for (const auto& [k, v] : p.free_inodes) out.free_inodes[k] = v;
    take(out.device_nodes, p.device_nodes);
    for (const auto& [k, v] : p.hugepages) out.hugepages[k] = v;
    take(out.mtu, p.mtu);
    take(out.virtualization, p.virtualization);
    take(out.cgroup, p.cgroup);
    take(out.swap, p.swap);
    take(out.mig, p.mig);
    break;
  }
  return out;
}

}  // namespace airlock::validate
