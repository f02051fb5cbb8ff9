// Per-node host checks (probe-spec.md c.1 row 6, c.2 rows 9, 12, 13, c.6 rows 38-46 except
// the cross-node ones): virtualization, OS and kernel against the profile, kernel modules
// (the profile's plus those the hardware needs), device nodes, CPU/RAM minimums, hugepages,
// swap, cgroup, CPU governor, free space and inodes, required and unresponsive mounts.
#include <algorithm>
#include <set>

#include "installer/validate/node_ctx.h"

namespace airlock::validate {
namespace {

std::string norm_module(std::string m) {
  std::replace(m.begin(), m.end(), '-', '_');
  return m;
}

int64_t accelerator_count(const NodeFacts& nf) {
  int64_t n = static_cast<int64_t>(nf.gpus.size());
  for (const json* a : nf.accels) n += bool_of(*a, "is_vf", false) ? 0 : 1;
  return n;
}

// The mount that holds `path` (longest mount point that is a path prefix), or nullptr.
const json* mount_of(const json& mounts, const std::string& path) {
  const json* best = nullptr;
  size_t best_len = 0;
  for (const auto& m : mounts) {
    std::string mp = str_of(m, "mount_point", "");
    bool under = mp == "/" || path == mp || (path.size() > mp.size() && path.compare(0, mp.size(), mp) == 0 && path[mp.size()] == '/');
    if (under && mp.size() >= best_len) {  // later entries stack on top of earlier ones
      best = &m;
      best_len = mp.size();
    }
  }
  return best;
}

}  // namespace

void check_host(NodeCtx& c) {
  const auto& nf = c.facts;
  const Profile& p = c.profile;
  const json* host = child(c.f, "host");
  static const json kEmpty = json::object();
  const json& h = host && host->is_object() ? *host : kEmpty;

  // 6: virtualization.
  const json* virt = child(h, "virtualization");
  if (virt == nullptr || !virt->is_string() || virt->get<std::string>() == "unknown") {
    c.not_checked("host.virtualization", virt && virt->is_string() ? "host.virtualization: unknown" : why_absent(virt, "host.virtualization"));
    if (!p.virtualization.empty()) c.not_checked("host.virtualization.unexpected", why_absent(virt, "host.virtualization"));
  } else {
    std::string v = virt->get<std::string>();
    c.evaluated("host.virtualization");
    if (v != "none") c.finding("host.virtualization", "", "virtual machine (" + v + ")", {{"host.virtualization", *virt}});
    if (p.virtualization.empty()) {
      c.not_configured("host.virtualization.unexpected", "virtualization");
    } else {
      c.evaluated("host.virtualization.unexpected");
      if (std::find(p.virtualization.begin(), p.virtualization.end(), v) == p.virtualization.end()) {
        c.finding("host.virtualization.unexpected", "", "virtualization " + v + ", profile " + p.name + " allows " + join(p.virtualization),
                  {{"host.virtualization", *virt}});
      }
    }
  }

  // 9: OS and kernel against the profile.
  if (p.os_ids.empty() && p.os_version_ids.empty()) {
    c.not_configured("os.unsupported", "os");
  } else {
    const json* os = child(h, "os_release");
    if (os == nullptr || !os->is_object() || is_error(os)) {
      c.not_checked("os.unsupported", why_absent(os, "host.os_release"));
    } else {
      c.evaluated("os.unsupported");
      std::string id = str_of(*os, "ID", ""), ver = str_of(*os, "VERSION_ID", "");
      bool id_ok = p.os_ids.empty() || std::find(p.os_ids.begin(), p.os_ids.end(), id) != p.os_ids.end();
      bool ver_ok = p.os_version_ids.empty() ||
                    std::any_of(p.os_version_ids.begin(), p.os_version_ids.end(), [&](const std::string& g) { return glob_match(g, ver); });
      if (!id_ok || !ver_ok) {
        c.finding("os.unsupported", "", "OS " + id + " " + ver + " not allowed by profile " + p.name + " (" +
                                            join(p.os_ids.empty() ? std::vector<std::string>{"*"} : p.os_ids, "|") + " " +
                                            join(p.os_version_ids.empty() ? std::vector<std::string>{"*"} : p.os_version_ids, "|") + ")",
                  {{"host.os_release.ID", id}, {"host.os_release.VERSION_ID", ver}});
      }
    }
  }
  const json* krel = child(h, "kernel_release");
  if (p.kernel_releases.empty() && !p.kernel_min) {
    c.not_configured("kernel.unsupported", "kernel");
  } else if (krel == nullptr || !krel->is_string()) {
    c.not_checked("kernel.unsupported", why_absent(krel, "host.kernel_release"));
  } else {
    c.evaluated("kernel.unsupported");
    std::string k = krel->get<std::string>();
    if (!p.kernel_releases.empty() &&
        std::none_of(p.kernel_releases.begin(), p.kernel_releases.end(), [&](const std::string& g) { return glob_match(g, k); })) {
      c.finding("kernel.unsupported", "", "kernel " + k + " does not match " + join(p.kernel_releases, " | ") + " (profile " + p.name + ")",
                {{"host.kernel_release", *krel}});
    } else if (p.kernel_min && version_numbers(k) < version_numbers(*p.kernel_min)) {
      c.finding("kernel.unsupported", "", "kernel " + k + " is older than " + *p.kernel_min + " (profile " + p.name + ")",
                {{"host.kernel_release", *krel}});
    }
  }
  if (!nf.gpus.empty() || !nf.accels.empty()) {
    const json* hd = child(h, "kernel_headers");
    if (hd == nullptr || !hd->is_boolean()) {
      c.not_checked("kernel.headers.missing", why_absent(hd, "host.kernel_headers") + " (lib/modules/<release>/build is not collected)");
    } else {
      c.evaluated("kernel.headers.missing");
      if (!hd->get<bool>()) c.finding("kernel.headers.missing", "", "no headers for the running kernel (DKMS drivers cannot build)", {{"host.kernel_headers", *hd}});
    }
  }

  // 12: kernel modules: the profile's, plus what the hardware needs.
  std::vector<std::string> need = p.modules;
  auto add = [&](const char* m) {
    if (std::find(need.begin(), need.end(), m) == need.end()) need.push_back(m);
  };
  if (!nf.nvidia_gpus.empty()) {
    add("nvidia");
    add("nvidia_uvm");
  }
  for (const json* hca : nf.hcas) {
    if (str_of(*hca, "name", "").rfind("mlx5_", 0) == 0) {
      add("mlx5_ib");
      add("ib_uverbs");
      add("rdma_ucm");
    }
  }
  const json* builtin = child(h, "modules_builtin");
  std::set<std::string> built;
  if (builtin && builtin->is_array()) {
    for (const auto& m : *builtin) {
      if (m.is_string()) built.insert(norm_module(m.get<std::string>()));
    }
  }
  if (!nf.modules_known) {
    if (!need.empty()) c.not_checked("kernel.module.missing", why_absent(child(h, "modules"), "host.modules"));
  } else if (!need.empty()) {
    c.evaluated("kernel.module.missing");
    for (const auto& m : need) {
      std::string n = norm_module(m);
      if (nf.loaded_modules.count(n) || built.count(n)) continue;
      std::string note = builtin && builtin->is_array() ? "" : " (" + why_absent(builtin, "host.modules_builtin") + ": if it is built in, ignore this)";
      c.finding("kernel.module.missing", n, "module " + n + " is not loaded" + note, {{"host.modules", "(" + std::to_string(nf.loaded_modules.size()) + " loaded, not " + n + ")"}});
    }
  }

  // 13: device nodes (not in airlock.facts/v1 yet).
  if (!p.device_nodes.empty()) {
    const json* dn = child(c.f, "device_nodes");
    if (dn == nullptr || !dn->is_array()) {
      c.not_checked("host.device_nodes", why_absent(dn, "device_nodes") + " (device nodes are not collected)");
    } else {
      c.evaluated("host.device_nodes");
      for (const auto& want : p.device_nodes) {
        bool found = std::any_of(dn->begin(), dn->end(), [&](const json& x) { return x.is_string() && glob_match(want, x.get<std::string>()); });
        if (!found) c.finding("host.device_nodes", want, "no device node " + want, {{"device_nodes", *dn}});
      }
    }
  } else {
    c.not_configured("host.device_nodes", "device_nodes");
  }

  // 38: CPU and RAM minimums, also per accelerator.
  const json* cm = child(c.f, "cpu_memory");
  static const json kNone = json::object();
  const json& m = cm && cm->is_object() ? *cm : kNone;
  int64_t accels = accelerator_count(nf);
  if (!p.min_logical_cpus && !p.min_sockets && !p.min_cpus_per_accelerator) {
    c.not_configured("host.cpu.min", "cpu");
  } else {
    const json* cpus = child(m, "logical_cpus");
    const json* sockets = child(m, "sockets");
    auto need_min = [&](const json* v, const char* path, std::optional<int64_t> min, const std::string& what) {
      if (!min) return;
      if (v == nullptr || !v->is_number()) {
        c.not_checked("host.cpu.min", why_absent(v, path));
        return;
      }
      c.evaluated("host.cpu.min");
      if (v->get<int64_t>() < *min) {
        c.finding("host.cpu.min", "", show(*v) + " " + what + ", profile " + p.name + " needs " + std::to_string(*min), {{path, *v}});
      }
    };
    need_min(cpus, "cpu_memory.logical_cpus", p.min_logical_cpus, "logical CPUs");
    need_min(sockets, "cpu_memory.sockets", p.min_sockets, "socket(s)");
    if (p.min_cpus_per_accelerator && accels > 0) {
      need_min(cpus, "cpu_memory.logical_cpus", *p.min_cpus_per_accelerator * accels,
               "logical CPUs for " + std::to_string(accels) + " accelerators");
    }
  }
  if (!p.min_memory && !p.min_memory_per_accelerator) {
    c.not_configured("host.memory.min", "memory");
  } else {
    const json* mem = child(m, "mem_total_bytes");
    if (mem == nullptr || !mem->is_number()) {
      c.not_checked("host.memory.min", why_absent(mem, "cpu_memory.mem_total_bytes"));
    } else {
      c.evaluated("host.memory.min");
      uint64_t have = mem->get<uint64_t>();
      uint64_t want = p.min_memory ? p.min_memory->bytes : 0;
      std::string why = p.min_memory ? p.min_memory->text : "";
      if (p.min_memory_per_accelerator && accels > 0 && p.min_memory_per_accelerator->bytes * accels > want) {
        want = p.min_memory_per_accelerator->bytes * static_cast<uint64_t>(accels);
        why = p.min_memory_per_accelerator->text + " x " + std::to_string(accels) + " accelerators";
      }
      if (have < want) {
        c.finding("host.memory.min", "", fmt_bytes(have) + " RAM, profile " + p.name + " needs " + why, {{"cpu_memory.mem_total_bytes", *mem}});
      }
    }
  }

  // 42: hugepages; 43: swap; 45: governor.
  if (p.hugepages.empty()) {
    c.not_configured("host.hugepages", "hugepages");
  } else {
    const json* hp = child(m, "hugepages");
    if (hp == nullptr || !hp->is_array()) {
      c.not_checked("host.hugepages", why_absent(hp, "cpu_memory.hugepages"));
    } else {
      c.evaluated("host.hugepages");
      for (const auto& [size, want] : p.hugepages) {
        int64_t have = 0;
        for (const auto& pool : *hp) {
          if (static_cast<uint64_t>(int_of(pool, "page_size_bytes")) == size) have = int_of(pool, "nr_hugepages");
        }
        if (have < want) {
          c.finding("host.hugepages", fmt_bytes(size), std::to_string(have) + " hugepages of " + fmt_bytes(size) + ", profile " + p.name +
                                                           " needs " + std::to_string(want),
                    {{"cpu_memory.hugepages[" + std::to_string(size) + "].nr_hugepages", have}});
        }
      }
    }
  }
  if (!p.swap) {
    c.not_configured("host.swap", "swap");
  } else {
    const json* sw = child(m, "swap_total_bytes");
    if (sw == nullptr || !sw->is_number()) {
      c.not_checked("host.swap", why_absent(sw, "cpu_memory.swap_total_bytes"));
    } else {
      c.evaluated("host.swap");
      bool on = sw->get<uint64_t>() > 0;
      if (on != (*p.swap == "on")) {
        c.finding("host.swap", "", std::string("swap is ") + (on ? "on (" + fmt_bytes(sw->get<uint64_t>()) + ")" : "off") +
                                       ", profile " + p.name + " wants it " + *p.swap,
                  {{"cpu_memory.swap_total_bytes", *sw}});
      }
    }
  }
  if (const json* gov = child(m, "scaling_governor"); gov == nullptr || is_error(gov)) {
    c.not_checked("host.cpu.governor", why_absent(gov, "cpu_memory.scaling_governor"));
  } else {
    c.evaluated("host.cpu.governor");
    if (show(*gov) != "performance") c.finding("host.cpu.governor", "", "CPU governor " + show(*gov) + " (performance expected)", {{"cpu_memory.scaling_governor", *gov}});
  }

  // 46: cgroup version.
  if (p.cgroup.empty()) {
    c.not_configured("host.cgroup", "cgroup");
  } else {
    const json* cg = child(h, "cgroup");
    if (cg == nullptr || !cg->is_string() || cg->get<std::string>() == "unknown") {
      c.not_checked("host.cgroup", cg && cg->is_string() ? "host.cgroup: unknown" : why_absent(cg, "host.cgroup"));
    } else {
      c.evaluated("host.cgroup");
      if (std::find(p.cgroup.begin(), p.cgroup.end(), cg->get<std::string>()) == p.cgroup.end()) {
        c.finding("host.cgroup", "", "cgroup " + cg->get<std::string>() + ", profile " + p.name + " needs " + join(p.cgroup, " or "),
                  {{"host.cgroup", *cg}});
      }
    }
  }
}

void check_storage(NodeCtx& c) {
  const Profile& p = c.profile;
  const json* mounts = child(c.f, "mounts");
  if (mounts == nullptr || !mounts->is_array()) {
    std::string why = why_absent(mounts, "mounts");
    for (const char* id : {"storage.free.low", "storage.mount.missing", "storage.mount.unresponsive"}) c.not_checked(id, why);
    return;
  }
  // 39: free bytes and inodes.
  auto space_of = [&](const std::string& path, const char* key, const char* id) -> std::pair<const json*, std::string> {
    const json* m = mount_of(*mounts, path);
    if (m == nullptr) {
      c.not_checked(id, "no mount holds " + path);
      return {nullptr, ""};
    }
    std::string mp = "mounts[" + str_of(*m, "mount_point", "") + "].space";
    const json* sp = child(*m, "space");
    const json* v = sp && sp->is_object() && !is_error(sp) ? child(*sp, key) : nullptr;
    if (v == nullptr || !v->is_number()) {
      c.not_checked(id, why_absent(v ? v : sp, v ? mp + "." + key : mp));
      return {nullptr, ""};
    }
    return {v, mp + "." + key};
  };
  if (p.free_bytes.empty() && p.free_inodes.empty()) c.not_configured("storage.free.low", "free");
  for (const auto& [path, want] : p.free_bytes) {
    auto [v, ev] = space_of(path, "available_bytes", "storage.free.low");
    if (v == nullptr) continue;
    c.evaluated("storage.free.low");
    if (v->get<uint64_t>() < want.bytes) {
      c.finding("storage.free.low", path, fmt_bytes(v->get<uint64_t>()) + " available for " + path + ", profile " + p.name + " needs " + want.text,
                {{ev, *v}});
    }
  }
  for (const auto& [path, want] : p.free_inodes) {
    auto [v, ev] = space_of(path, "inodes_available", "storage.free.low");
    if (v == nullptr) continue;
    c.evaluated("storage.free.low");
    if (v->get<int64_t>() < want) {
      c.finding("storage.free.low", path, show(*v) + " inodes available for " + path + ", profile " + p.name + " needs " + std::to_string(want),
                {{ev, *v}});
    }
  }
  // 40: required mounts with their filesystem type.
  if (p.mounts.empty()) {
    c.not_configured("storage.mount.missing", "mounts");
  } else {
    c.evaluated("storage.mount.missing");
    for (const auto& req : p.mounts) {
      const json* found = nullptr;
      for (const auto& m : *mounts) {
        if (str_of(m, "mount_point", "") == req.path) found = &m;
      }
      if (found == nullptr) {
        c.finding("storage.mount.missing", req.path, req.path + " is not mounted" +
                                                         (req.fs_types.empty() ? "" : " (" + join(req.fs_types, " or ") + " expected)"),
                  {{"mounts[" + req.path + "]", nullptr}});
      } else if (!req.fs_types.empty() &&
                 std::find(req.fs_types.begin(), req.fs_types.end(), str_of(*found, "fs_type", "")) == req.fs_types.end()) {
        c.finding("storage.mount.missing", req.path, req.path + " is " + str_of(*found, "fs_type", "?") + ", profile " + p.name +
                                                         " expects " + join(req.fs_types, " or "),
                  {{"mounts[" + req.path + "].fs_type", found->value("fs_type", json())}});
      }
    }
  }
  // 40: network and parallel filesystems that did not answer statfs.
  c.evaluated("storage.mount.unresponsive");
  for (const auto& m : *mounts) {
    std::string kind = str_of(m, "kind", "");
    if (kind != "network" && kind != "parallel") continue;
    const json* sp = child(m, "space");
    if (is_error(sp) && show((*sp)["error"]) == "timeout") {
      std::string mp = str_of(m, "mount_point", "");
      c.finding("storage.mount.unresponsive", mp, str_of(m, "fs_type", "") + " mount " + mp + " (" + str_of(m, "source", "") +
                                                      ") did not answer statfs within 2 s",
                {{"mounts[" + mp + "].space", *sp}});
    }
  }
  // 41: disk performance is an opt-in active test the probe does not run.
  if (const json* dp = child(c.f, "disk_perf"); dp == nullptr || is_error(dp)) {
    c.not_checked("storage.disk_perf", why_absent(dp, "disk_perf") + " (opt-in active test, not run)");
  }
}

}  // namespace airlock::validate
