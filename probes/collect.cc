// Collectors over a SystemRoot (see collect.h). Paths are root-relative ("sys/...", "proc/...",
// "etc/..."); tests/probe_paths_check.sh fails the build's tests on absolute /sys or /proc
// literals here.
#include "probes/collect.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "probes/parse.h"

namespace airlock::probes {
namespace {

std::string base_name(const std::string& p) {
  size_t k = p.rfind('/');
  return k == std::string::npos ? p : p.substr(k + 1);
}

// The reason for a value that was read but does not parse; sysfs gives "" for e.g. the speed
// of a link that is down.
std::string malformed(const std::string& text) {
  return text.empty() ? "empty" : "malformed: " + text.substr(0, 64);
}

// Thin typed readers: read a file through the root and parse it, or keep the reason.
struct Reader {
  const SystemRoot& root;

  Fact<std::string> text(const std::string& rel) const {
    auto r = root.read_file(rel, 1 << 20);
    if (!r.ok()) return Fact<std::string>::fail(error_reason(r.error()));
    return Fact<std::string>::of(trim(*r));
  }
  Fact<uint64_t> u64(const std::string& rel) const {
    auto t = text(rel);
    if (!t.ok()) return Fact<uint64_t>::fail(t.error);
    auto v = parse_u64(*t.value);
    if (!v) return Fact<uint64_t>::fail(malformed(*t.value));
    return Fact<uint64_t>::of(*v);
  }
  Fact<int64_t> i64(const std::string& rel) const {
    auto t = text(rel);
    if (!t.ok()) return Fact<int64_t>::fail(t.error);
    auto v = parse_i64(*t.value);
    if (!v) return Fact<int64_t>::fail(malformed(*t.value));
    return Fact<int64_t>::of(*v);
  }
  Fact<std::string> hex(const std::string& rel) const {
    auto t = text(rel);
    if (!t.ok()) return t;
    std::string h = parse_hex_id(*t.value);
    if (h.empty()) return Fact<std::string>::fail(malformed(*t.value));
    return Fact<std::string>::of(h);
  }
  // The TOTAL_ERR_* count of an aer_dev_* file.
  Fact<uint64_t> aer(const std::string& rel) const {
    auto r = root.read_file(rel, 1 << 16);
    if (!r.ok()) return Fact<uint64_t>::fail(error_reason(r.error()));
    auto v = parse_aer_total(*r);
    if (!v) return Fact<uint64_t>::fail(malformed(trim(*r)));
    return Fact<uint64_t>::of(*v);
  }
  // Basename of a symlink's target (e.g. the bound driver).
  Fact<std::string> link_base(const std::string& rel) const {
    auto r = root.read_link(rel);
    if (!r.ok()) return Fact<std::string>::fail(error_reason(r.error()));
    return Fact<std::string>::of(base_name(*r));
  }
  // The last PCI address on the resolved path of rel (a device link), or the reason.
  Fact<std::string> pci_of(const std::string& rel) const {
    auto r = root.real_path(rel);
    if (!r.ok()) return Fact<std::string>::fail(error_reason(r.error()));
    auto chain = pci_chain(*r);
    if (chain.empty()) return Fact<std::string>::fail("not a PCI device");
    return Fact<std::string>::of(chain.back());
  }
};

template <class T>
Fact<T> list_fail(const Error& e) {
  return Fact<T>::fail(error_reason(e));
}

const char* const kDmiAttrs[] = {
    "sys_vendor",    "product_name",   "product_family", "product_sku",   "product_version",
    "bios_vendor",   "bios_version",   "bios_date",      "board_vendor",  "board_name",
    "board_version", "chassis_type",   "chassis_vendor", "product_serial", "product_uuid"};

std::string detect_virt(const HostFacts& h, bool hypervisor_flag) {
  auto get = [&](const char* k) -> std::string {
    auto it = h.dmi.find(k);
    return it != h.dmi.end() && it->second.ok() ? *it->second.value : std::string();
  };
  std::string vendor = get("sys_vendor"), product = get("product_name");
  std::string both = vendor + " " + product + " " + get("bios_vendor");
  auto has = [&](const char* s) { return both.find(s) != std::string::npos; };
  if (has("QEMU") || has("KVM") || has("Bochs") || has("SeaBIOS")) return "kvm";
  if (has("VMware")) return "vmware";
  if (has("VirtualBox") || has("innotek")) return "virtualbox";
  if (vendor == "Microsoft Corporation" && product == "Virtual Machine") return "hyperv";
  if (has("Xen")) return "xen";
  if (has("Amazon EC2")) return "amazon";
  if (has("Google Compute Engine")) return "google";
  if (hypervisor_flag) return "vm";
  if (!vendor.empty() || !product.empty()) return "none";
  return "unknown";
}

// Port error counters worth a snapshot (spec check 37).
const char* const kRdmaCounters[] = {"symbol_error", "link_downed", "link_error_recovery",
                                     "port_rcv_errors"};

// Runtime/toolkit name -> root-relative path whose existence marks it present.
const std::pair<const char*, const char*> kRuntimePaths[] = {
    {"docker", "usr/bin/docker"},
    {"dockerd", "usr/bin/dockerd"},
    {"containerd", "usr/bin/containerd"},
    {"containerd_socket", "run/containerd/containerd.sock"},
    {"podman", "usr/bin/podman"},
    {"nvidia_container_runtime", "usr/bin/nvidia-container-runtime"},
    {"nvidia_ctk", "usr/bin/nvidia-ctk"},
    {"nvidia_container_cli", "usr/bin/nvidia-container-cli"},
    {"nvidia_container_config", "etc/nvidia-container-runtime/config.toml"},
};

bool deadline_passed(const CollectOptions& o) {
  return o.deadline && std::chrono::steady_clock::now() >= *o.deadline;
}

}  // namespace

HostFacts collect_host(const SystemRoot& root, const std::vector<Mount>* mounts) {
  Reader rd{root};
  HostFacts h;
  auto os = root.read_file("etc/os-release");
  if (!os.ok()) os = root.read_file("usr/lib/os-release");
  h.os_release = os.ok() ? Fact<std::map<std::string, std::string>>::of(parse_os_release(*os))
                         : Fact<std::map<std::string, std::string>>::fail(error_reason(os.error()));
  h.kernel_release = rd.text("proc/sys/kernel/osrelease");
  h.kernel_version = rd.text("proc/version");
  h.cmdline = rd.text("proc/cmdline");
  auto mods = root.read_file("proc/modules");
  h.modules = mods.ok() ? Fact<std::vector<std::string>>::of(parse_modules(*mods))
                        : Fact<std::vector<std::string>>::fail(error_reason(mods.error()));
  if (h.kernel_release.ok()) {
    auto b = root.read_file("lib/modules/" + *h.kernel_release.value + "/modules.builtin");
    h.modules_builtin = b.ok() ? Fact<std::vector<std::string>>::of(parse_modules_builtin(*b))
                               : Fact<std::vector<std::string>>::fail(error_reason(b.error()));
  } else {
    h.modules_builtin = Fact<std::vector<std::string>>::fail("no kernel release");
  }
  std::string dmi_dir = root.exists("sys/class/dmi/id") ? "sys/class/dmi/id"
                                                        : "sys/devices/virtual/dmi/id";
  for (const char* a : kDmiAttrs) h.dmi[a] = rd.text(dmi_dir + "/" + a);
  bool hv = false;
  if (auto ci = root.read_file("proc/cpuinfo"); ci.ok()) hv = parse_cpuinfo(*ci).hypervisor;
  h.virtualization = detect_virt(h, hv);
  h.tainted = rd.u64("proc/sys/kernel/tainted");
  h.cgroup = "unknown";
  if (mounts) {
    bool v1 = false, v2 = false;
    for (const auto& m : *mounts) {
      if (m.fs_type == "cgroup2") v2 = true;
      if (m.fs_type == "cgroup") v1 = true;
    }
    h.cgroup = v1 && v2 ? "hybrid" : v2 ? "v2" : v1 ? "v1" : "unknown";
  }
  return h;
}

CpuMemFacts collect_cpu_memory(const SystemRoot& root) {
  Reader rd{root};
  CpuMemFacts c;
  if (auto ci = root.read_file("proc/cpuinfo"); ci.ok()) {
    CpuInfo p = parse_cpuinfo(*ci);
    c.cpu_model = p.model.empty() ? Fact<std::string>::fail("not in cpuinfo")
                                  : Fact<std::string>::of(p.model);
    c.logical_cpus = Fact<uint64_t>::of(p.logical_cpus);
    c.sockets = p.sockets ? Fact<uint64_t>::of(p.sockets) : Fact<uint64_t>::fail("not in cpuinfo");
  } else {
    std::string why = error_reason(ci.error());
    c.cpu_model = Fact<std::string>::fail(why);
    c.logical_cpus = Fact<uint64_t>::fail(why);
    c.sockets = Fact<uint64_t>::fail(why);
  }
  if (auto mi = root.read_file("proc/meminfo"); mi.ok()) {
    auto m = parse_meminfo(*mi);
    auto get = [&](const char* k) {
      auto it = m.find(k);
      return it == m.end() ? Fact<uint64_t>::fail("not in meminfo") : Fact<uint64_t>::of(it->second);
    };
    c.mem_total_bytes = get("MemTotal");
    c.mem_available_bytes = get("MemAvailable");
    c.swap_total_bytes = get("SwapTotal");
  } else {
    std::string why = error_reason(mi.error());
    c.mem_total_bytes = c.mem_available_bytes = c.swap_total_bytes = Fact<uint64_t>::fail(why);
  }
  std::string node_dir = "sys/bus/node/devices";
  auto nodes = root.list_dir(node_dir);
  if (!nodes.ok()) {
    node_dir = "sys/devices/system/node";
    nodes = root.list_dir(node_dir);
  }
  if (nodes.ok()) {
    std::vector<NumaNode> out;
    for (const auto& n : *nodes) {
      if (n.rfind("node", 0) != 0) continue;
      auto id = parse_u64(n.substr(4));
      if (!id) continue;
      NumaNode nn;
      nn.id = static_cast<int>(*id);
      std::string d = node_dir + "/" + n;
      nn.cpulist = rd.text(d + "/cpulist");
      if (auto mi = root.read_file(d + "/meminfo"); mi.ok()) {
        auto m = parse_meminfo(*mi);
        auto it = m.find("MemTotal");
        nn.mem_total_bytes = it == m.end() ? Fact<uint64_t>::fail("not in meminfo")
                                           : Fact<uint64_t>::of(it->second);
      } else {
        nn.mem_total_bytes = Fact<uint64_t>::fail(error_reason(mi.error()));
      }
      out.push_back(std::move(nn));
    }
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
    c.numa_nodes = Fact<std::vector<NumaNode>>::of(std::move(out));
  } else {
    c.numa_nodes = list_fail<std::vector<NumaNode>>(nodes.error());
  }
  auto hp = root.list_dir("sys/kernel/mm/hugepages");
  if (hp.ok()) {
    std::vector<HugepagePool> pools;
    for (const auto& d : *hp) {
      // hugepages-2048kB
      if (d.rfind("hugepages-", 0) != 0 || d.size() < 13 || d.substr(d.size() - 2) != "kB") continue;
      auto kb = parse_u64(d.substr(10, d.size() - 12));
      if (!kb) continue;
      HugepagePool p;
      p.page_size_bytes = *kb << 10;
      p.nr_hugepages = rd.u64("sys/kernel/mm/hugepages/" + d + "/nr_hugepages");
      pools.push_back(std::move(p));
    }
    c.hugepages = Fact<std::vector<HugepagePool>>::of(std::move(pools));
  } else {
    c.hugepages = list_fail<std::vector<HugepagePool>>(hp.error());
  }
  return c;
}

namespace {

// Speed/width flags of a link from its current and max values (as PciLink documents).
void set_link_flags(PciLink& l) {
  if (l.current_width.ok() && l.max_width.ok()) {
    l.width_degraded = *l.current_width.value < *l.max_width.value;
  }
  if (l.current_speed.ok() && l.max_speed.ok()) {
    auto cs = parse_leading_number(*l.current_speed.value);
    auto ms = parse_leading_number(*l.max_speed.value);
    if (cs && ms) l.speed_degraded = *cs < *ms;
  }
  if (l.width_degraded && l.speed_degraded) l.degraded = *l.width_degraded || *l.speed_degraded;
}

// The lower of two maximum speeds (raw strings); an unreadable or unparsable end is the reason.
Fact<std::string> lower_speed(const Fact<std::string>& a, const Fact<std::string>& b) {
  if (!a.ok()) return a;
  if (!b.ok()) return b;
  auto x = parse_leading_number(*a.value), y = parse_leading_number(*b.value);
  if (!x) return Fact<std::string>::fail(malformed(*a.value));
  if (!y) return Fact<std::string>::fail(malformed(*b.value));
  return *y < *x ? b : a;
}

Fact<uint64_t> lower_width(const Fact<uint64_t>& a, const Fact<uint64_t>& b) {
  if (!a.ok()) return a;
  if (!b.ok()) return b;
  return *b.value < *a.value ? b : a;
}

// Fills every device's upstream_links from its upstream chain: hop k joins chain[k] and
// chain[k+1] of upstream + [the device]; even hops are physical links (the first joins the
// root port to what is below it), odd hops a switch's internal bus.
void add_upstream_links(std::vector<PciDevice>& devs) {
  std::map<std::string, const PciDevice*> by_bdf;
  for (const auto& d : devs) by_bdf[d.bdf] = &d;
  std::vector<std::vector<PciHop>> all(devs.size());
  for (size_t n = 0; n < devs.size(); ++n) {
    std::vector<std::string> chain = devs[n].upstream;
    chain.push_back(devs[n].bdf);
    for (size_t k = 0; k + 1 < chain.size(); ++k) {
      PciHop h;
      h.upstream_bdf = chain[k];
      h.downstream_bdf = chain[k + 1];
      h.switch_internal = k % 2 == 1;
      if (!h.switch_internal) {
        auto up = by_bdf.find(chain[k]);
        auto dn = by_bdf.find(chain[k + 1]);
        if (up == by_bdf.end() || dn == by_bdf.end()) {
          auto none = Fact<std::string>::fail("no PCI device");
          h.link.current_speed = h.link.max_speed = none;
          h.link.current_width = h.link.max_width = Fact<uint64_t>::fail("no PCI device");
        } else {
          const PciLink& u = up->second->link;
          const PciLink& d = dn->second->link;
          // Both ends of one link read the same current values; the downstream end's first.
          h.link.current_speed = d.current_speed.ok() ? d.current_speed : u.current_speed;
          h.link.current_width = d.current_width.ok() ? d.current_width : u.current_width;
          h.link.max_speed = lower_speed(u.max_speed, d.max_speed);
          h.link.max_width = lower_width(u.max_width, d.max_width);
          set_link_flags(h.link);
        }
      }
      all[n].push_back(std::move(h));
    }
  }
  for (size_t n = 0; n < devs.size(); ++n) devs[n].upstream_links = std::move(all[n]);
}

}  // namespace

Fact<std::vector<PciDevice>> collect_pci(const SystemRoot& root) {
  Reader rd{root};
  auto names = root.list_dir("sys/bus/pci/devices");
  if (!names.ok()) return list_fail<std::vector<PciDevice>>(names.error());
  std::vector<PciDevice> out;
  for (const auto& n : *names) {
    if (!is_pci_address(n)) continue;
    std::string d = "sys/bus/pci/devices/" + n;
    PciDevice p;
    p.bdf = pci_chain(n).front();
    p.class_code = rd.hex(d + "/class");
    p.vendor = rd.hex(d + "/vendor");
    p.device = rd.hex(d + "/device");
    p.subsystem_vendor = rd.hex(d + "/subsystem_vendor");
    p.subsystem_device = rd.hex(d + "/subsystem_device");
    p.driver = rd.link_base(d + "/driver");
    p.numa_node = rd.i64(d + "/numa_node");
    p.local_cpulist = rd.text(d + "/local_cpulist");
    p.link.current_speed = rd.text(d + "/current_link_speed");
    p.link.max_speed = rd.text(d + "/max_link_speed");
    p.link.current_width = rd.u64(d + "/current_link_width");
    p.link.max_width = rd.u64(d + "/max_link_width");
    if (p.link.current_width.ok() && p.link.max_width.ok()) {
      p.link.width_degraded = *p.link.current_width.value < *p.link.max_width.value;
    }
    if (p.link.current_speed.ok() && p.link.max_speed.ok()) {
      auto cs = parse_leading_number(*p.link.current_speed.value);
      auto ms = parse_leading_number(*p.link.max_speed.value);
      if (cs && ms) p.link.speed_degraded = *cs < *ms;
    }
    if (p.link.width_degraded && p.link.speed_degraded) {
      p.link.degraded = *p.link.width_degraded || *p.link.speed_degraded;
      bool nvidia_gpu = p.vendor.ok() && *p.vendor.value == "10de" && p.class_code.ok() &&
                        (p.class_code.value->rfind("0300", 0) == 0 ||
                         p.class_code.value->rfind("0302", 0) == 0);
      if (nvidia_gpu && *p.link.speed_degraded && !*p.link.width_degraded) {
        p.link.speed_may_be_power_saving = true;
      }
    }
    if (auto rp = root.real_path(d); rp.ok()) {
      auto chain = pci_chain(*rp);
      if (!chain.empty()) chain.pop_back();  // the device itself
      p.upstream = std::move(chain);
    }
    p.is_vf = root.exists(d + "/physfn");
    p.iommu_group = rd.link_base(d + "/iommu_group");
    p.sriov.total_vfs = rd.u64(d + "/sriov_totalvfs");
    p.sriov.num_vfs = rd.u64(d + "/sriov_numvfs");
    p.aer.correctable = rd.aer(d + "/aer_dev_correctable");
    p.aer.nonfatal = rd.aer(d + "/aer_dev_nonfatal");
    p.aer.fatal = rd.aer(d + "/aer_dev_fatal");
    out.push_back(std::move(p));
  }
  add_upstream_links(out);
  return Fact<std::vector<PciDevice>>::of(std::move(out));
}

GpuDriver collect_gpu_driver(const SystemRoot& root) {
  GpuDriver g;
  auto v = root.read_file("proc/driver/nvidia/version");
  if (!v.ok()) {
    g.nvidia_version = g.nvidia_flavour = Fact<std::string>::fail(error_reason(v.error()));
    return g;
  }
  auto p = parse_nvidia_version(*v);
  if (!p) {
    g.nvidia_version = g.nvidia_flavour = Fact<std::string>::fail("malformed");
    return g;
  }
  g.nvidia_version = Fact<std::string>::of(p->version);
  g.nvidia_flavour = Fact<std::string>::of(p->flavour);
  return g;
}

Fact<std::vector<Gpu>> collect_gpus(const SystemRoot& root, const std::vector<PciDevice>& pci) {
  Reader rd{root};
  std::vector<Gpu> out;
  auto class_is = [](const PciDevice& p, std::string_view prefix) {
    return p.class_code.ok() && p.class_code.value->rfind(prefix, 0) == 0;
  };
  auto vendor_is = [](const PciDevice& p, std::string_view v) {
    return p.vendor.ok() && *p.vendor.value == v;
  };
  auto from_pci = [](const PciDevice& p, const char* vendor) {
    Gpu g;
    g.bdf = p.bdf;
    g.vendor = vendor;
    g.found_by = "pci";
    g.device_id = p.device;
    g.driver = p.driver;
    g.numa_node = p.numa_node;
    g.model = Fact<std::string>::fail("ENOENT");
    g.uuid = Fact<std::string>::fail("ENOENT");
    return g;
  };
  for (const auto& p : pci) {
    if (vendor_is(p, "10de") && (class_is(p, "0300") || class_is(p, "0302"))) {
      out.push_back(from_pci(p, "nvidia"));
    } else if (vendor_is(p, "1002") && (class_is(p, "0300") || class_is(p, "0380"))) {
      out.push_back(from_pci(p, "amd"));
    }
  }
  // NVIDIA's own view: works when PCI folders are incomplete (vendor files missing).
  auto procs = root.list_dir("proc/driver/nvidia/gpus");
  if (procs.ok()) {
    for (const auto& n : *procs) {
      if (!is_pci_address(n)) continue;
      std::string bdf = pci_chain(n).front();
      auto it = std::find_if(out.begin(), out.end(), [&](const Gpu& g) { return g.bdf == bdf; });
      if (it == out.end()) {
        auto pit = std::find_if(pci.begin(), pci.end(),
                                [&](const PciDevice& p) { return p.bdf == bdf; });
        Gpu g;
        if (pit != pci.end()) {
          g = from_pci(*pit, "nvidia");
        } else {
          g.bdf = bdf;
          g.vendor = "nvidia";
          g.device_id = g.driver = Fact<std::string>::fail("no PCI device");
          g.numa_node = Fact<int64_t>::fail("no PCI device");
        }
        g.found_by = "procfs";
        out.push_back(std::move(g));
        it = out.end() - 1;
      } else {
        it->found_by = "pci+procfs";
      }
      auto info = root.read_file("proc/driver/nvidia/gpus/" + n + "/information");
      if (info.ok()) {
        it->info = parse_colon_kv(*info);
        auto model = it->info.find("Model");
        it->model = model != it->info.end() ? Fact<std::string>::of(model->second)
                                            : Fact<std::string>::fail("not in information");
        auto uuid = it->info.find("GPU UUID");
        it->uuid = uuid != it->info.end() ? Fact<std::string>::of(uuid->second)
                                          : Fact<std::string>::fail("not in information");
        if (it->model.ok()) it->model_source = "procfs";
      } else {
        it->model = it->uuid = Fact<std::string>::fail(error_reason(info.error()));
      }
    }
  }
  // AMD KFD topology: GPU nodes have a non-zero gpu_id; location_id = bus << 8 | devfn.
  if (auto nodes = root.list_dir("sys/class/kfd/kfd/topology/nodes"); nodes.ok()) {
    for (const auto& n : *nodes) {
      std::string d = "sys/class/kfd/kfd/topology/nodes/" + n;
      auto gid = rd.u64(d + "/gpu_id");
      if (!gid.ok() || *gid.value == 0) continue;
      auto props = root.read_file(d + "/properties");
      if (!props.ok()) continue;
      std::string text = *props;
      uint64_t loc = 0, dom = 0;
      size_t i = 0;
      while (i < text.size()) {
        size_t j = text.find('\n', i);
        if (j == std::string::npos) j = text.size();
        std::string line = text.substr(i, j - i);
        size_t sp = line.find(' ');
        if (sp != std::string::npos) {
          auto val = parse_u64(line.substr(sp + 1));
          if (val && line.substr(0, sp) == "location_id") loc = *val;
          if (val && line.substr(0, sp) == "domain") dom = *val;
        }
        i = j + 1;
      }
      char buf[32];
      std::snprintf(buf, sizeof buf, "%04llx:%02llx:%02llx.%llx",
                    static_cast<unsigned long long>(dom), static_cast<unsigned long long>(loc >> 8),
                    static_cast<unsigned long long>((loc >> 3) & 0x1f),
                    static_cast<unsigned long long>(loc & 7));
      auto it = std::find_if(out.begin(), out.end(), [&](const Gpu& g) { return g.bdf == buf; });
      if (it != out.end()) {
        it->found_by = "pci+kfd";
      } else {
        Gpu g;
        g.bdf = buf;
        g.vendor = "amd";
        g.found_by = "kfd";
        g.device_id = g.driver = g.model = g.uuid = Fact<std::string>::fail("no PCI device");
        g.numa_node = Fact<int64_t>::fail("no PCI device");
        out.push_back(std::move(g));
      }
    }
  }
  // Without the driver's view (nouveau, no driver, procfs unreadable): name it by PCI ID.
  for (auto& g : out) {
    if (g.model.ok() || !g.device_id.ok()) continue;
    const char* vid = g.vendor == "nvidia" ? "10de" : g.vendor == "amd" ? "1002" : "";
    if (auto name = gpu_model_from_pci_id(vid, *g.device_id.value)) {
      g.model = Fact<std::string>::of(*name);
      g.model_source = "pci-id";
    }
  }
  return Fact<std::vector<Gpu>>::of(std::move(out));
}

std::vector<Accelerator> collect_accelerators(const std::vector<PciDevice>& pci) {
  std::vector<Accelerator> out;
  for (const auto& p : pci) {
    if (!p.vendor.ok() || !p.device.ok()) continue;
    std::string cls = p.class_code.ok() ? *p.class_code.value : "";
    auto id = classify_accelerator(*p.vendor.value, *p.device.value, cls);
    if (!id) continue;
    Accelerator a;
    a.bdf = p.bdf;
    a.vendor = id->vendor;
    a.family = id->family;
    a.vendor_id = *p.vendor.value;
    a.device_id = *p.device.value;
    a.driver = p.driver;
    a.numa_node = p.numa_node;
    a.is_vf = p.is_vf;
    out.push_back(std::move(a));
  }
  return out;
}

Fact<std::vector<RdmaDevice>> collect_rdma(const SystemRoot& root) {
  Reader rd{root};
  auto hcas = root.list_dir("sys/class/infiniband");
  if (!hcas.ok()) return list_fail<std::vector<RdmaDevice>>(hcas.error());
  std::vector<RdmaDevice> out;
  for (const auto& h : *hcas) {
    std::string d = "sys/class/infiniband/" + h;
    RdmaDevice dev;
    dev.name = h;
    dev.pci_bdf = rd.pci_of(d + "/device");
    dev.node_type = rd.text(d + "/node_type");
    dev.fw_ver = rd.text(d + "/fw_ver");
    dev.hca_type = rd.text(d + "/hca_type");
    dev.board_id = rd.text(d + "/board_id");
    dev.node_guid = rd.text(d + "/node_guid");
    auto ports = root.list_dir(d + "/ports");
    if (ports.ok()) {
      std::vector<RdmaPort> ps;
      for (const auto& pn : *ports) {
        auto num = parse_u64(pn);
        if (!num) continue;
        std::string pd = d + "/ports/" + pn;
        RdmaPort p;
        p.port = static_cast<int>(*num);
        p.state = rd.text(pd + "/state");
        p.phys_state = rd.text(pd + "/phys_state");
        p.rate = rd.text(pd + "/rate");
        p.link_layer = rd.text(pd + "/link_layer");
        if (p.rate.ok()) p.rate_gbps = parse_leading_number(*p.rate.value);
        if (p.state.ok()) {
          if (auto s = parse_state_number(*p.state.value)) p.active = *s == 4;
        }
        if (auto types = root.list_dir(pd + "/gid_attrs/types"); types.ok()) {
          std::map<std::string, uint64_t> counts;
          for (const auto& t : *types) {
            auto r = root.read_file(pd + "/gid_attrs/types/" + t, 256);
            if (!r.ok()) continue;  // EINVAL for an unpopulated GID
            if (auto name = normalize_gid_type(*r)) ++counts[*name];
          }
          p.gid_types = Fact<std::map<std::string, uint64_t>>::of(std::move(counts));
        } else {
          p.gid_types = list_fail<std::map<std::string, uint64_t>>(types.error());
        }
        for (const char* c : kRdmaCounters) p.counters[c] = rd.u64(pd + "/counters/" + c);
        if (auto nd = root.list_dir(pd + "/gid_attrs/ndevs"); nd.ok()) {
          std::map<std::string, std::string> ndevs;
          for (const auto& i : *nd) {
            auto r = root.read_file(pd + "/gid_attrs/ndevs/" + i, 256);
            if (!r.ok()) continue;  // EINVAL for an unpopulated GID
            std::string name = trim(*r);
            if (!name.empty()) ndevs[i] = name;
          }
          p.gid_ndevs = Fact<std::map<std::string, std::string>>::of(std::move(ndevs));
        } else {
          p.gid_ndevs = list_fail<std::map<std::string, std::string>>(nd.error());
        }
        ps.push_back(std::move(p));
      }
      std::sort(ps.begin(), ps.end(), [](auto& a, auto& b) { return a.port < b.port; });
      dev.ports = Fact<std::vector<RdmaPort>>::of(std::move(ps));
    } else {
      dev.ports = list_fail<std::vector<RdmaPort>>(ports.error());
    }
    out.push_back(std::move(dev));
  }
  return Fact<std::vector<RdmaDevice>>::of(std::move(out));
}

Fact<std::vector<NetInterface>> collect_net(const SystemRoot& root) {
  Reader rd{root};
  auto ifs = root.list_dir("sys/class/net");
  if (!ifs.ok()) return list_fail<std::vector<NetInterface>>(ifs.error());
  std::vector<NetInterface> out;
  for (const auto& n : *ifs) {
    if (n == "bonding_masters") continue;
    std::string d = "sys/class/net/" + n;
    NetInterface ni;
    ni.name = n;
    ni.physical = root.exists(d + "/device");
    if (ni.physical) {
      ni.pci_bdf = rd.pci_of(d + "/device");
      ni.driver = rd.link_base(d + "/device/driver");
    } else {
      ni.pci_bdf = ni.driver = Fact<std::string>::fail("virtual");
    }
    ni.operstate = rd.text(d + "/operstate");
    ni.speed_mbps = rd.i64(d + "/speed");
    ni.mtu = rd.u64(d + "/mtu");
    ni.type = rd.u64(d + "/type");
    ni.address = rd.text(d + "/address");
    out.push_back(std::move(ni));
  }
  return Fact<std::vector<NetInterface>>::of(std::move(out));
}

Fact<std::vector<BlockDevice>> collect_block(const SystemRoot& root) {
  Reader rd{root};
  // Whole disks: /sys/block, plus /sys/class/block entries that are not partitions (some trees,
  // and some kernels' NVMe namespaces, appear only there).
  std::set<std::string> names;
  auto blk = root.list_dir("sys/block");
  if (blk.ok()) names.insert(blk->begin(), blk->end());
  auto cls = root.list_dir("sys/class/block");
  if (cls.ok()) {
    for (const auto& n : *cls) {
      if (!root.exists("sys/class/block/" + n + "/partition")) names.insert(n);
    }
  }
  if (!blk.ok() && !cls.ok()) return list_fail<std::vector<BlockDevice>>(blk.error());
  std::vector<BlockDevice> out;
  for (const auto& n : names) {
    if (n.rfind("loop", 0) == 0 || n.rfind("ram", 0) == 0 || n.rfind("zram", 0) == 0) continue;
    std::string d = root.exists("sys/block/" + n) ? "sys/block/" + n : "sys/class/block/" + n;
    BlockDevice b;
    b.name = n;
    auto sectors = rd.u64(d + "/size");
    b.size_bytes = sectors.ok() && *sectors.value <= (UINT64_MAX >> 9)
                       ? Fact<uint64_t>::of(*sectors.value << 9)
                       : Fact<uint64_t>::fail(sectors.ok() ? "malformed" : sectors.error);
    b.rotational = rd.u64(d + "/queue/rotational");
    b.logical_block_size = rd.u64(d + "/queue/logical_block_size");
    b.model = rd.text(d + "/device/model");
    b.pci_bdf = rd.pci_of(d);
    out.push_back(std::move(b));
  }
  return Fact<std::vector<BlockDevice>>::of(std::move(out));
}

ContainerRuntime collect_container_runtime(const SystemRoot& root) {
  ContainerRuntime c;
  for (const auto& [name, path] : kRuntimePaths) c.present[name] = root.exists(path);
  return c;
}

ContainerConfig collect_container_config(const SystemRoot& root) {
  ContainerConfig c;
  for (const char* dir : {"etc/cdi", "var/run/cdi"}) {
    auto l = root.list_dir(dir);
    c.cdi_specs[dir] = l.ok() ? Fact<std::vector<std::string>>::of(*l)
                              : list_fail<std::vector<std::string>>(l.error());
  }
  if (auto d = root.read_file("etc/docker/daemon.json"); d.ok()) {
    if (auto p = parse_docker_daemon_json(*d)) {
      c.docker_nvidia_runtime = Fact<bool>::of(p->nvidia);
      c.docker_default_runtime = Fact<std::string>::of(p->default_runtime);
    } else {
      c.docker_nvidia_runtime = Fact<bool>::fail(malformed(trim(*d)));
      c.docker_default_runtime = Fact<std::string>::fail(malformed(trim(*d)));
    }
  } else {
    c.docker_nvidia_runtime = Fact<bool>::fail(error_reason(d.error()));
    c.docker_default_runtime = Fact<std::string>::fail(error_reason(d.error()));
  }
  auto t = root.read_file("etc/containerd/config.toml");
  c.containerd_nvidia_runtime = t.ok() ? Fact<bool>::of(containerd_has_nvidia_runtime(*t))
                                       : Fact<bool>::fail(error_reason(t.error()));
  return c;
}

const char* const kNvidiaSmiPaths[3] = {"usr/bin/nvidia-smi", "usr/local/bin/nvidia-smi",
                                        "usr/local/nvidia/bin/nvidia-smi"};

namespace {

// First line of a failed command's output, for the reason.
std::string first_line(const std::string& a, const std::string& b) {
  std::string t = trim(a).empty() ? trim(b) : trim(a);
  size_t nl = t.find('\n');
  return trim(t.substr(0, nl == std::string::npos ? t.size() : nl)).substr(0, 120);
}

// The nvidia-smi CSV (or the reason there is none), run live or read from a capture.
Fact<std::string> nvidia_smi_output(const SystemRoot& root, const CollectOptions& opts,
                                    const std::string& path) {
  const std::string csv = std::string(kCaptureCommands) + "/nvidia-smi.csv";
  const std::string err = std::string(kCaptureCommands) + "/nvidia-smi.error";
  if (!opts.run_command) {
    if (auto r = root.read_file(csv, 16 << 20); r.ok()) return Fact<std::string>::of(*r);
    if (auto r = root.read_file(err, 4096); r.ok()) return Fact<std::string>::fail(trim(*r));
    return Fact<std::string>::fail("not captured");
  }
  std::string last;
  for (const char* fields : {kNvidiaSmiFields, kNvidiaSmiFieldsNew}) {
    auto limit = opts.command_timeout;
    if (opts.deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *opts.deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds(0)) return Fact<std::string>::fail("timeout");
      limit = std::min(limit, left);
    }
    auto r = opts.run_command({path, std::string("--query-gpu=") + fields,
                               "--format=csv,noheader,nounits"},
                              limit);
    if (!r.ok()) return Fact<std::string>::fail(error_reason(r.error()));
    if (r->timed_out) return Fact<std::string>::fail("timeout");
    if (r->exit_code == 0) return Fact<std::string>::of(r->out);
    last = "exit " + std::to_string(r->exit_code) + ": " + first_line(r->out, r->err);
    // An older or newer driver that does not know one of the fields: try the other spelling.
    if ((r->out + r->err).find("is not a valid field") == std::string::npos) break;
  }
  return Fact<std::string>::fail(last);
}

}  // namespace

Fact<NvidiaSmiRun> collect_nvidia_smi(const SystemRoot& root, const CollectOptions& opts,
                                      Fact<std::vector<Gpu>>& gpus) {
  std::string path;
  for (const char* p : kNvidiaSmiPaths) {
    if (root.exists(p)) {
      path = p;
      break;
    }
  }
  if (path.empty()) return Fact<NvidiaSmiRun>::fail("not present");
  Fact<std::string> out = nvidia_smi_output(root, opts, path);
  if (opts.command_outputs) {
    if (out.ok()) {
      (*opts.command_outputs)["nvidia-smi.csv"] = *out.value;
    } else if (out.error != "not captured") {
      (*opts.command_outputs)["nvidia-smi.error"] = out.error + "\n";
    }
  }
  if (!out.ok()) return Fact<NvidiaSmiRun>::fail(out.error);
  auto rows = parse_nvidia_smi_csv(*out.value);
  if (rows.empty() && !trim(*out.value).empty()) {
    return Fact<NvidiaSmiRun>::fail(malformed(trim(*out.value)));
  }
  NvidiaSmiRun run;
  run.path = path;
  run.gpu_count = rows.size();
  if (gpus.ok()) {
    auto& list = *gpus.value;
    for (auto& row : rows) {
      auto it = std::find_if(list.begin(), list.end(), [&](const Gpu& g) { return g.bdf == row.bdf; });
      if (it == list.end()) {
        Gpu g;
        g.bdf = row.bdf;
        g.vendor = "nvidia";
        g.found_by = "nvidia-smi";
        g.device_id = g.driver = g.model = g.uuid = Fact<std::string>::fail("no PCI device");
        g.numa_node = Fact<int64_t>::fail("no PCI device");
        list.push_back(std::move(g));
        it = list.end() - 1;
      }
      // The driver's own files first, then nvidia-smi, then the PCI ID table.
      if (row.name.ok() && it->model_source != "procfs") {
        it->model = row.name;
        it->model_source = "nvidia-smi";
      }
      if (!it->uuid.ok() && row.uuid.ok()) it->uuid = row.uuid;
      it->nvidia_smi = std::move(row);
    }
  }
  return Fact<NvidiaSmiRun>::of(std::move(run));
}

CommandRunner system_command_runner(std::string prefix) {
  return [prefix](const std::vector<std::string>& argv,
                  std::chrono::milliseconds timeout) -> Result<ProcessResult> {
    std::vector<std::string> a = argv;
    if (!a.empty()) {
      std::string p = prefix;
      if (p.empty() || p.back() != '/') p += '/';
      a[0] = p + a[0];
    }
    ProcessOptions o;
    o.timeout = timeout;
    o.output_cap = 16 << 20;
    SystemProcessRunner runner;
    return runner.run(a, o);
  };
}

GpuDirectRdma collect_gpudirect_rdma(const SystemRoot& root,
                                     const Fact<std::vector<std::string>>& modules) {
  GpuDirectRdma g;
  auto loaded = [&](const char* name) {
    if (!modules.ok()) return Fact<bool>::fail(modules.error);
    const auto& m = *modules.value;
    return Fact<bool>::of(std::find(m.begin(), m.end(), name) != m.end());
  };
  g.nvidia_peermem_loaded = loaded("nvidia_peermem");
  g.nv_peer_mem_loaded = loaded("nv_peer_mem");
  g.nv_mem_registered = root.exists("sys/kernel/mm/memory_peers/nv_mem/version");
  g.nv_mem_nc_registered = root.exists("sys/kernel/mm/memory_peers/nv_mem_nc/version");
  bool module = (g.nvidia_peermem_loaded.ok() && *g.nvidia_peermem_loaded.value) ||
                (g.nv_peer_mem_loaded.ok() && *g.nv_peer_mem_loaded.value);
  g.ready = module && (g.nv_mem_registered || g.nv_mem_nc_registered);
  return g;
}

Fact<std::vector<Mount>> collect_mounts(const SystemRoot& root) {
  auto mi = root.read_file("proc/self/mountinfo");
  if (mi.ok()) return Fact<std::vector<Mount>>::of(parse_mountinfo(*mi));
  auto pm = root.read_file("proc/mounts");
  if (pm.ok()) return Fact<std::vector<Mount>>::of(parse_proc_mounts(*pm));
  return list_fail<std::vector<Mount>>(mi.error());
}

bool fs_without_space(std::string_view t) {
  static const std::set<std::string_view> kNoSpace = {
      "proc",     "sysfs",       "devpts",    "cgroup",     "cgroup2",  "securityfs",
      "debugfs",  "tracefs",     "pstore",    "bpf",        "mqueue",   "hugetlbfs",
      "configfs", "fusectl",     "autofs",    "binfmt_misc", "efivarfs", "rpc_pipefs",
      "nsfs",     "selinuxfs",   "usbfs",     "cpuset",     "nfsd",     "sockfs",
      "pipefs",   "fuse.gvfsd-fuse", "fuse.portal"};
  return kNoSpace.count(t) > 0;
}

void collect_mount_space(const SystemRoot& root, std::vector<Mount>& mounts,
                         const CollectOptions& opts) {
  using std::chrono::milliseconds;
  for (auto& m : mounts) {
    if (fs_without_space(m.fs_type)) continue;
    milliseconds limit = opts.statvfs_timeout;
    if (opts.deadline) {
      auto left = std::chrono::duration_cast<milliseconds>(*opts.deadline -
                                                           std::chrono::steady_clock::now());
      if (left <= milliseconds(0)) {
        m.space = Fact<MountSpace>::fail("timeout");
        continue;
      }
      limit = std::min(limit, left);
    }
    auto st = root.statvfs(m.mount_point, limit);
    if (!st.ok()) {
      std::string why = error_reason(st.error());
      m.space = Fact<MountSpace>::fail(why == "ETIMEDOUT" ? "timeout" : why);
      continue;
    }
    MountSpace s;
    s.size_bytes = st->size_bytes;
    s.free_bytes = st->free_bytes;
    s.available_bytes = st->available_bytes;
    s.inodes = st->inodes;
    s.inodes_free = st->inodes_free;
    s.inodes_available = st->inodes_available;
    m.space = Fact<MountSpace>::of(s);
  }
}

Facts collect(const SystemRoot& root, const CollectOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  Facts f;
#ifdef AIRLOCK_VERSION
  f.probe_version = AIRLOCK_VERSION;
#endif
  f.collected_at_ns = opts.now_ns;
  f.root = root.describe();
  const char* kTimeout = "timeout";
  auto late = [&](const char* section) {
    if (!deadline_passed(opts)) return false;
    f.errors.push_back(std::string(section) + ": timeout");
    return true;
  };
  if (late("mounts")) {
    f.mounts = Fact<std::vector<Mount>>::fail(kTimeout);
  } else {
    f.mounts = collect_mounts(root);
  }
  if (f.mounts.ok() && !late("mount_space")) collect_mount_space(root, *f.mounts.value, opts);
  if (!late("host")) {
    f.host = collect_host(root, f.mounts.ok() ? &*f.mounts.value : nullptr);
  } else {
    f.host.virtualization = f.host.cgroup = "unknown";
  }
  if (!late("cpu_memory")) f.cpu_memory = collect_cpu_memory(root);
  f.pci = late("pci") ? Fact<std::vector<PciDevice>>::fail(kTimeout) : collect_pci(root);
  static const std::vector<PciDevice> kNone;
  const auto& pci = f.pci.ok() ? *f.pci.value : kNone;
  if (!late("gpu_driver")) f.gpu_driver = collect_gpu_driver(root);
  f.gpus = late("gpus") ? Fact<std::vector<Gpu>>::fail(kTimeout) : collect_gpus(root, pci);
  if (late("nvidia_smi")) {
    f.nvidia_smi = Fact<NvidiaSmiRun>::fail(kTimeout);
  } else {
    f.nvidia_smi = collect_nvidia_smi(root, opts, f.gpus);
  }
  f.accelerators = collect_accelerators(pci);
  f.rdma = late("rdma") ? Fact<std::vector<RdmaDevice>>::fail(kTimeout) : collect_rdma(root);
  f.net = late("net") ? Fact<std::vector<NetInterface>>::fail(kTimeout) : collect_net(root);
  f.block = late("block") ? Fact<std::vector<BlockDevice>>::fail(kTimeout) : collect_block(root);
  if (!late("container_runtime")) f.container_runtime = collect_container_runtime(root);
  if (!late("container_config")) f.container_config = collect_container_config(root);
  if (!late("gpudirect_rdma")) f.gpudirect_rdma = collect_gpudirect_rdma(root, f.host.modules);
  f.duration_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
  return f;
}

}  // namespace airlock::probes
