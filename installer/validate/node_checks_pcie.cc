// Per-node PCIe and topology checks (probe-spec.md c.4 rows 19-28). Links are judged per hop
// along each GPU's, accelerator's and NIC's upstream chain (pci[].upstream_links: current
// against the lower of both ends' maxima), each physical link once, so a degraded switch
// uplink is reported once and an endpoint trained at the slot's limit is not. Facts from an
// older probe without upstream_links fall back to the device's own link (said in "not
// checked"). NVIDIA GPUs down-train their speed when idle, so their speed is a warning.
#include <algorithm>
#include <set>

#include "installer/validate/node_ctx.h"

namespace airlock::validate {
namespace {

constexpr int64_t kCorrectableAerWarn = 100;

bool is_nvidia_gpu(const json* d) {
  std::string cls = str_of(*d, "class", "");
  return str_of(*d, "vendor", "") == "10de" && (cls.rfind("0300", 0) == 0 || cls.rfind("0302", 0) == 0);
}

// The endpoints whose links matter: GPUs, accelerators, NICs/HCAs, NVSwitches (not VFs).
std::vector<std::string> devices_of_interest(const NodeFacts& nf, const Profile& p) {
  std::set<std::string> out;
  for (const auto& [bdf, d] : nf.pci) {
    std::string cls = str_of(*d, "class", "");
    std::string vendor = str_of(*d, "vendor", "");
    bool gpu = (cls.rfind("0300", 0) == 0 || cls.rfind("0302", 0) == 0 || cls.rfind("0380", 0) == 0) &&
               (vendor == "10de" || vendor == "1002");
    bool nic = cls.rfind("02", 0) == 0;
    bool accel = cls.rfind("12", 0) == 0 || cls.rfind("0b40", 0) == 0 || (vendor == "10de" && cls.rfind("0680", 0) == 0);
    if ((gpu || nic || accel) && !bool_of(*d, "is_vf", false)) out.insert(bdf);
  }
  for (const json* a : nf.accels) {
    if (!bool_of(*a, "is_vf", false)) out.insert(str_of(*a, "bdf", ""));
  }
  for (const std::string& b : p.pcie_ignore_bdfs) out.erase(b);
  out.erase("");
  std::vector<std::string> v(out.begin(), out.end());
  return v;
}

struct LinkJudge {
  NodeCtx& c;
  const NodeFacts& nf;
  std::set<std::string> seen;

  // One physical link: `path` is where its fields live, `up` -> `down` the functions it joins.
  void judge(const json& l, const std::string& path, const std::string& up, const std::string& down) {
    std::string key = up + ">" + down;
    if (!seen.insert(key).second) return;
    std::string name = up.empty() ? down : up + " -> " + down;
    const json* cw = child(l, "current_width");
    const json* mw = child(l, "max_width");
    if (cw && mw && cw->is_number() && mw->is_number()) {
      c.evaluated("pcie.link.width_degraded");
      if (cw->get<int64_t>() < mw->get<int64_t>()) {
        c.finding("pcie.link.width_degraded", down,
                  "PCIe link " + name + " (" + nf.describe(down) + ") trained at x" + show(*cw) + ", capable of x" + show(*mw),
                  {{path + ".current_width", *cw}, {path + ".max_width", *mw}});
      }
    } else {
      c.not_checked("pcie.link.width_degraded", why_absent(cw && cw->is_number() ? mw : cw,
                                                           path + (cw && cw->is_number() ? ".max_width" : ".current_width")));
    }
    const json* cs = child(l, "current_speed");
    const json* ms = child(l, "max_speed");
    double cur = parse_gts(cs), max = parse_gts(ms);
    const json* dev = nf.pci_of(down);
    bool gpu = dev != nullptr && is_nvidia_gpu(dev);
    const char* id = gpu ? "pcie.link.gpu_speed_low" : "pcie.link.speed_degraded";
    if (cur > 0 && max > 0) {
      c.evaluated(id);
      if (cur + 1e-9 < max) {
        std::string msg = "PCIe link " + name + " (" + nf.describe(down) + ") at " + show(*cs) + ", capable of " + show(*ms);
        if (gpu) msg += " (idle GPUs down-train: confirm under load)";
        c.finding(id, down, msg, {{path + ".current_speed", *cs}, {path + ".max_speed", *ms}});
      }
    } else {
      const json* bad = cur > 0 ? ms : cs;
      std::string why = why_absent(bad, path + (cur > 0 ? ".max_speed" : ".current_speed"));
      c.not_checked(id, why.empty() ? path + ": speed " + show(*bad) + " not understood" : why);
    }
  }
};

}  // namespace

void check_pcie(NodeCtx& c) {
  const auto& nf = c.facts;
  const json* pci = child(c.f, "pci");
  if (pci == nullptr || !pci->is_array()) {
    std::string why = why_absent(pci, "pci");
    for (const char* id : {"pcie.link.width_degraded", "pcie.link.speed_degraded", "pcie.aer.errors", "pcie.numa.unknown"}) {
      c.not_checked(id, why);
    }
    return;
  }
  std::vector<std::string> devs = devices_of_interest(nf, c.profile);
  LinkJudge judge{c, nf, {}};
  bool legacy = false;
  std::set<std::string> chain;  // devices of interest and every bridge above them
  for (const std::string& bdf : devs) {
    const json* d = nf.pci_of(bdf);
    if (d == nullptr) continue;
    chain.insert(bdf);
    if (const json* up = child(*d, "upstream"); up && up->is_array()) {
      for (const auto& b : *up) {
        if (b.is_string()) chain.insert(b.get<std::string>());
      }
    }
    const json* hops = child(*d, "upstream_links");
    std::string base = "pci[" + bdf + "]";
    if (hops != nullptr && hops->is_array() && !hops->empty()) {
      for (size_t i = 0; i < hops->size(); ++i) {
        const json& h = (*hops)[i];
        if (str_of(h, "kind", "link") != "link") continue;
        std::string hpath = base + ".upstream_links[" + std::to_string(i) + "]";
        std::string up = str_of(h, "upstream_bdf", ""), down = str_of(h, "downstream_bdf", "");
        // The device's own hop unreadable (e.g. its bridge is missing from the tree) while the
        // device reads its link: judge that, against the device's own maximum.
        const json* own = child(*d, "link");
        const json* hw = child(h, "current_width");
        const json* ow = own ? child(*own, "current_width") : nullptr;
        if (down == bdf && (hw == nullptr || !hw->is_number()) && ow && ow->is_number()) {
          std::string why = why_absent(hw, hpath + ".current_width");
          for (const char* id : {"pcie.link.width_degraded", "pcie.link.speed_degraded"}) {
            c.not_checked(id, why + ": judged on " + base + ".link against the device's own maximum");
          }
          judge.judge(*own, base + ".link", up, down);
          continue;
        }
        judge.judge(h, hpath, up, down);
      }
      // 21: the slot (or root port) is slower or narrower than the device: by design, recorded.
      const json& last = hops->back();
      const json* own = child(*d, "link");
      if (own && str_of(last, "downstream_bdf", "") == bdf && str_of(last, "kind", "link") == "link") {
        const json* omw = child(*own, "max_width");
        const json* hmw = child(last, "max_width");
        double oms = parse_gts(child(*own, "max_speed")), hms = parse_gts(child(last, "max_speed"));
        if (omw && hmw && omw->is_number() && hmw->is_number() && oms > 0 && hms > 0) {
          c.evaluated("pcie.link.host_limited");
          if (omw->get<int64_t>() > hmw->get<int64_t>() || oms > hms + 1e-9) {
            std::string hpath = base + ".upstream_links[" + std::to_string(hops->size() - 1) + "]";
            c.finding("pcie.link.host_limited", bdf,
                      nf.describe(bdf) + " capable of " + show((*own)["max_speed"]) + " x" + show(*omw) + ", its slot of " +
                          show(last["max_speed"]) + " x" + show(*hmw),
                      {{base + ".link.max_speed", (*own)["max_speed"]}, {base + ".link.max_width", *omw},
                       {hpath + ".max_speed", last["max_speed"]}, {hpath + ".max_width", *hmw}});
          }
        }
      }
    } else if (const json* own = child(*d, "link"); own && own->is_object()) {
      // No upstream chain: an older probe, or a function without a bridge above it.
      // A function right on the root complex has no link (its fields are errors): nothing to judge.
      const json* w = child(*own, "current_width");
      if (hops == nullptr) legacy = true;
      if (hops == nullptr || (w && w->is_number())) judge.judge(*own, base + ".link", "", bdf);
    }
  }
  if (legacy) {
    for (const char* id : {"pcie.link.width_degraded", "pcie.link.speed_degraded"}) {
      c.not_checked(id, "upstream hops: missing fact pci[].upstream_links (older probe): endpoint links only, against the "
                        "device's own maximum");
    }
  }

  // 22: AER errors on those devices and their bridges.
  bool any_aer = false;
  std::string aer_why;
  for (const std::string& bdf : chain) {
    const json* d = nf.pci_of(bdf);
    const json* aer = d ? child(*d, "aer") : nullptr;
    if (aer == nullptr || !aer->is_object() || is_error(aer)) {
      if (aer_why.empty()) aer_why = why_absent(aer, "pci[" + bdf + "].aer");
      continue;
    }
    for (const char* k : {"fatal", "nonfatal", "correctable"}) {
      const json* v = child(*aer, k);
      if (v == nullptr || !v->is_number()) {
        if (aer_why.empty()) aer_why = why_absent(v, "pci[" + bdf + "].aer." + k);
        continue;
      }
      any_aer = true;
      int64_t n = v->get<int64_t>();
      if (n <= 0) continue;
      // Correctable errors happen on healthy links; a few are recorded, many are a warning.
      bool few = std::string(k) == "correctable" && n < kCorrectableAerWarn;
      c.finding("pcie.aer.errors", few ? Severity::kInfo : Severity::kWarn, bdf,
                nf.describe(bdf) + ": " + show(*v) + " " + k + " AER error(s)" +
                    (few ? " (below " + std::to_string(kCorrectableAerWarn) + ": recorded)" : ""),
                {{"pci[" + bdf + "].aer." + k, *v}});
    }
  }
  if (any_aer) c.evaluated("pcie.aer.errors");
  if (!any_aer && !chain.empty()) c.not_checked("pcie.aer.errors", aer_why + " (no AER statistics on any device checked)");

  // 23: ACS control is not in the facts (lspci -vvv needs root).
  if (!nf.gpus.empty() || !nf.accels.empty()) {
    bool any_acs = false;
    for (const std::string& bdf : chain) {
      const json* d = nf.pci_of(bdf);
      const json* acs = d ? child(*d, "acs_ctl") : nullptr;
      if (acs == nullptr || !acs->is_string()) continue;
      any_acs = true;
      const std::string& s = acs->get_ref<const std::string&>();
      if (str_of(*d, "class", "").rfind("0604", 0) == 0 && s.find("SrcValid+") != std::string::npos) {
        c.finding("pcie.acs.enabled", bdf, "ACS enabled on bridge " + bdf + " above a GPU/NIC (P2P goes through the root complex)",
                  {{"pci[" + bdf + "].acs_ctl", *acs}});
      }
    }
    if (any_acs) {
      c.evaluated("pcie.acs.enabled");
    } else {
      c.not_checked("pcie.acs.enabled", "missing fact pci[].acs_ctl (ACS control is not collected)");
    }
  }

  // 24: IOMMU for GPUDirect RDMA: off or pass-through.
  if (!nf.nvidia_gpus.empty() && !nf.hcas.empty()) {
    const json* host = child(c.f, "host");
    const json* cmd = host ? child(*host, "cmdline") : nullptr;
    if (cmd == nullptr || !cmd->is_string()) {
      c.not_checked("pcie.iommu.mode", why_absent(cmd, "host.cmdline"));
    } else {
      c.evaluated("pcie.iommu.mode");
      std::string line = " " + cmd->get<std::string>() + " ";
      bool pt = line.find(" iommu=pt ") != std::string::npos || line.find(" iommu=off ") != std::string::npos ||
                line.find(" intel_iommu=off ") != std::string::npos || line.find(" amd_iommu=off ") != std::string::npos;
      std::string group_bdf;
      for (const auto& [bdf, d] : nf.pci) {
        const json* g = child(*d, "iommu_group");
        if (g && g->is_string()) group_bdf = bdf;
      }
      bool on = !group_bdf.empty() || line.find(" intel_iommu=on ") != std::string::npos;
      if (on && !pt) {
        std::vector<Evidence> ev = {{"host.cmdline", *cmd}};
        if (!group_bdf.empty()) ev.push_back({"pci[" + group_bdf + "].iommu_group", nf.pci_of(group_bdf)->at("iommu_group")});
        c.finding("pcie.iommu.mode", "", "IOMMU translating DMA without iommu=pt: GPUDirect RDMA is slow or fails", ev);
      }
    }
  }

  // 25: NUMA node known for every device of interest on a multi-NUMA host.
  if (nf.num_numa_nodes() > 1) {
    c.evaluated("pcie.numa.unknown");
    for (const std::string& bdf : devs) {
      const json* d = nf.pci_of(bdf);
      const json* n = d ? child(*d, "numa_node") : nullptr;
      if (n == nullptr || !n->is_number()) {
        c.not_checked("pcie.numa.unknown", why_absent(n, "pci[" + bdf + "].numa_node"));
      } else if (n->get<int64_t>() < 0) {
        c.finding("pcie.numa.unknown", bdf, nf.describe(bdf) + " has no NUMA node on a " +
                                                std::to_string(nf.num_numa_nodes()) + "-node host",
                  {{"pci[" + bdf + "].numa_node", *n}});
      }
    }
  }
}

void check_topology(NodeCtx& c) {
  const auto& nf = c.facts;
  const json* cm = child(c.f, "cpu_memory");
  const json* sockets = cm ? child(*cm, "sockets") : nullptr;
  int numa = nf.num_numa_nodes();
  // 28: record sub-NUMA clustering / NPS.
  if (sockets == nullptr || !sockets->is_number() || numa == 0) {
    c.not_checked("topology.snc", why_absent(sockets && sockets->is_number() ? nullptr : sockets,
                                             sockets && sockets->is_number() ? "cpu_memory.numa_nodes" : "cpu_memory.sockets"));
  } else {
    c.evaluated("topology.snc");
    if (numa > sockets->get<int64_t>()) {
      c.finding("topology.snc", "", std::to_string(numa) + " NUMA nodes on " + show(*sockets) +
                                        " socket(s): sub-NUMA clustering / NPS is on",
                {{"cpu_memory.sockets", *sockets}, {"cpu_memory.numa_nodes", numa}});
    }
  }
  // 26: every GPU has an HCA on its NUMA node (rail design).
  if (nf.gpus.empty() || nf.hcas.empty() || numa < 2) return;
  std::set<int64_t> hca_numa;
  for (const json* h : nf.hcas) {
    const json* b = child(*h, "pci_bdf");
    const json* d = b && b->is_string() ? nf.pci_of(b->get<std::string>()) : nullptr;
    const json* n = d ? child(*d, "numa_node") : nullptr;
    if (n && n->is_number() && n->get<int64_t>() >= 0) hca_numa.insert(n->get<int64_t>());
  }
  for (const json* g : nf.gpus) {
    const json* n = child(*g, "numa_node");
    std::string bdf = str_of(*g, "bdf", "");
    if (n == nullptr || !n->is_number() || n->get<int64_t>() < 0 || hca_numa.empty()) {
      c.not_checked("topology.gpu_nic.affinity", hca_numa.empty() ? "rdma[].pci_bdf: no HCA with a known NUMA node"
                                                                  : why_absent(n, "gpus[" + bdf + "].numa_node") +
                                                                        (n && n->is_number() ? "NUMA node unknown" : ""));
      continue;
    }
    c.evaluated("topology.gpu_nic.affinity");
    if (!hca_numa.count(n->get<int64_t>())) {
      c.finding("topology.gpu_nic.affinity", bdf, "GPU on NUMA node " + show(*n) + " has no RDMA NIC on that node",
                {{"gpus[" + bdf + "].numa_node", *n}});
    }
  }
}

}  // namespace airlock::validate
