// Per-node RDMA and network checks (probe-spec.md c.5 rows 29-35 and 37): HCA count, port
// state, rate and link layer, RoCE GIDs and MTU, GPUDirect RDMA readiness, error counters,
// interface MTU against the profile. HCAs are filtered by PCI vendor first: Gaudi's
// habanalabs_ib and AWS EFA register under /sys/class/infiniband too and are not the fabric.
#include <algorithm>
#include <map>
#include <set>

#include "installer/validate/node_ctx.h"

namespace airlock::validate {
namespace {

std::string port_path(const json* hca, size_t i) {
  return "rdma[" + str_of(*hca, "name", "?") + "].ports[" + std::to_string(i) + "]";
}
std::string port_name(const json* hca, const json& port) { return str_of(*hca, "name", "?") + "/" + show(port.value("port", json(1))); }

bool starts_with_num(const json* v, const char* prefix) {
  return v != nullptr && v->is_string() && v->get_ref<const std::string&>().rfind(prefix, 0) == 0;
}

std::string hint(const std::string& state, const std::string& phys) {
  if (state.rfind("2:", 0) == 0) return ": no subnet manager has configured it (INIT)";
  if (phys.rfind("2:", 0) == 0) return ": the link is training (Polling): check the cable and the peer";
  if (phys.rfind("3:", 0) == 0) return ": the port is disabled";
  if (state.rfind("1:", 0) == 0) return ": the link is down";
  return "";
}

}  // namespace

void check_rdma(NodeCtx& c) {
  const auto& nf = c.facts;
  const Profile& p = c.profile;
  const json* rdma = child(c.f, "rdma");
  bool none = is_error(rdma) && show((*rdma)["error"]) == "ENOENT";  // no /sys/class/infiniband
  if (rdma == nullptr || (!rdma->is_array() && !none)) {
    std::string why = why_absent(rdma, "rdma");
    for (const char* id : {"rdma.hca.count", "rdma.port.not_active", "rdma.port.rate_low"}) c.not_checked(id, why);
    return;
  }

  // 29: HCA count.
  if (!p.rdma_hca_count) {
    if (!nf.hcas.empty()) c.not_configured("rdma.hca.count", "rdma.hca_count");
  } else {
    c.evaluated("rdma.hca.count");
    int64_t n = 0;
    for (const json* h : nf.hcas) {
      std::string vendor;
      if (const json* b = child(*h, "pci_bdf"); b && b->is_string()) {
        if (const json* d = nf.pci_of(b->get<std::string>())) vendor = str_of(*d, "vendor", "");
      }
      if (!p.rdma_vendor || vendor == *p.rdma_vendor) ++n;
    }
    if (n != *p.rdma_hca_count) {
      c.finding("rdma.hca.count", "", std::to_string(n) + (p.rdma_vendor ? " " + *p.rdma_vendor : std::string()) +
                                          " HCA(s) found, profile " + p.name + " expects " + std::to_string(*p.rdma_hca_count),
                {{"rdma", none ? *rdma : json(static_cast<int64_t>(nf.hcas.size()))}});
    }
  }
  if (nf.hcas.empty()) return;

  // Highest active rate per link layer: the node's own design when the profile names none.
  std::map<std::string, double> best;
  for (const json* h : nf.hcas) {
    const json* ports = child(*h, "ports");
    if (ports == nullptr || !ports->is_array()) continue;
    for (const auto& port : *ports) {
      const json* r = child(port, "rate_gbps");
      if (bool_of(port, "active", false) && r && r->is_number()) {
        double& b = best[str_of(port, "link_layer", "")];
        b = std::max(b, r->get<double>());
      }
    }
  }

  bool gid_checked = false;
  for (const json* h : nf.hcas) {
    const json* ports = child(*h, "ports");
    if (ports == nullptr || !ports->is_array()) {
      c.not_checked("rdma.port.not_active", why_absent(ports, "rdma[" + str_of(*h, "name", "?") + "].ports"));
      continue;
    }
    for (size_t i = 0; i < ports->size(); ++i) {
      const json& port = (*ports)[i];
      std::string path = port_path(h, i), name = port_name(h, port);
      // 30: state and physical state.
      const json* st = child(port, "state");
      const json* ph = child(port, "phys_state");
      bool active = starts_with_num(st, "4:") && starts_with_num(ph, "5:");
      if (st == nullptr || ph == nullptr || !st->is_string() || !ph->is_string()) {
        c.not_checked("rdma.port.not_active", why_absent(st && st->is_string() ? ph : st, path + (st && st->is_string() ? ".phys_state" : ".state")));
      } else {
        c.evaluated("rdma.port.not_active");
        if (!active) {
          c.finding("rdma.port.not_active", name, "port " + name + " is " + show(*st) + " / " + show(*ph) +
                                                       hint(show(*st), show(*ph)),
                    {{path + ".state", *st}, {path + ".phys_state", *ph}});
        }
      }
      std::string layer = str_of(port, "link_layer", "");
      // 31: rate (active ports only: a down port reports its lowest rate).
      const json* rate = child(port, "rate_gbps");
      if (active) {
        double want = p.rdma_min_rate_gbps ? *p.rdma_min_rate_gbps : best[layer];
        if (rate == nullptr || !rate->is_number()) {
          c.not_checked("rdma.port.rate_low", why_absent(rate, path + ".rate_gbps"));
        } else {
          c.evaluated("rdma.port.rate_low");
          if (rate->get<double>() + 1e-9 < want) {
            char w[32];
            std::snprintf(w, sizeof w, "%g", want);
            std::string whose = p.rdma_min_rate_gbps ? "profile " + p.name + " expects " : "the node's other ports run at ";
            c.finding("rdma.port.rate_low", name, "port " + name + " at " + str_of(port, "rate", show(*rate)) + ", " + whose + w + " Gb/s",
                      {{path + ".rate", port.value("rate", json())}, {path + ".rate_gbps", *rate}});
          }
        }
      }
      // 32: link layer against the profile.
      if (p.rdma_link_layer) {
        c.evaluated("rdma.port.link_layer");
        if (layer != *p.rdma_link_layer) {
          c.finding("rdma.port.link_layer", name, "port " + name + " is " + layer + ", profile " + p.name + " expects " + *p.rdma_link_layer,
                    {{path + ".link_layer", port.value("link_layer", json())}});
        }
      }
      // 33: RoCE: a RoCE v2 GID and jumbo MTU on its netdev.
      if (layer == "Ethernet") {
        gid_checked = true;
        const json* gt = child(port, "gid_types");
        if (gt == nullptr || !gt->is_object() || is_error(gt)) {
          c.not_checked("rdma.roce.config", why_absent(gt, path + ".gid_types"));
        } else {
          c.evaluated("rdma.roce.config");
          if (int_of(*gt, "RoCE v2") == 0) {
            c.finding("rdma.roce.config", name, "port " + name + " has no RoCE v2 GID", {{path + ".gid_types", *gt}});
          }
        }
        const json* nd = child(port, "gid_ndevs");
        if (nd != nullptr && nd->is_object() && !is_error(nd)) {
          static const json kNone = json::array();
          const json* net = child(c.f, "net");
          const json& nets = net && net->is_array() ? *net : kNone;
          std::set<std::string> devs;
          for (const auto& [gid, dev] : nd->items()) {
            if (dev.is_string()) devs.insert(dev.get<std::string>());
          }
          for (const std::string& dev : devs) {
            for (const auto& n : nets) {
              const json* mtu = child(n, "mtu");
              if (str_of(n, "name", "") != dev || mtu == nullptr || !mtu->is_number()) continue;
              if (mtu->get<int64_t>() < 9000) {
                c.finding("rdma.roce.config", name, "RoCE netdev " + dev + " has MTU " + show(*mtu) + " (jumbo frames, 9000, expected)",
                          {{"net[" + dev + "].mtu", *mtu}});
              }
            }
          }
        } else {
          c.not_checked("rdma.roce.config", "RoCE MTU: " + why_absent(nd, path + ".gid_ndevs"));
        }
      }
      // 37: error counters.
      const json* counters = child(port, "counters");
      if (counters == nullptr || !counters->is_object() || is_error(counters)) {
        c.not_checked("rdma.counters.errors", why_absent(counters, path + ".counters"));
      } else {
        for (const auto& [k, v] : counters->items()) {
          if (!v.is_number()) continue;
          c.evaluated("rdma.counters.errors");
          if (v.get<int64_t>() > 0) {
            c.finding("rdma.counters.errors", name, "port " + name + " " + k + " = " + show(v), {{path + ".counters." + k, v}});
          }
        }
      }
    }
  }
  if (!p.rdma_link_layer) c.not_configured("rdma.port.link_layer", "rdma.link_layer (rails are still compared across nodes)");
  (void)gid_checked;

  // 35: GPUDirect RDMA on nodes with NVIDIA GPUs and an RDMA fabric.
  if (!nf.nvidia_gpus.empty()) {
    const json* g = child(c.f, "gpudirect_rdma");
    const json* ready = g ? child(*g, "ready") : nullptr;
    if (ready == nullptr || !ready->is_boolean()) {
      c.not_checked("rdma.gpudirect.not_ready", why_absent(ready, "gpudirect_rdma.ready"));
    } else {
      c.evaluated("rdma.gpudirect.not_ready");
      if (!ready->get<bool>()) {
        bool loaded = bool_of(*g, "nvidia_peermem_loaded", false) == true || bool_of(*g, "nv_peer_mem_loaded", false) == true;
        c.finding("rdma.gpudirect.not_ready", "",
                  loaded ? "nvidia_peermem is loaded but not registered (no /sys/kernel/mm/memory_peers/nv_mem*)"
                         : "nvidia_peermem is not loaded: GPUDirect RDMA unavailable",
                  {{"gpudirect_rdma.ready", *ready}, {"gpudirect_rdma.nvidia_peermem_loaded", g->value("nvidia_peermem_loaded", json())},
                   {"gpudirect_rdma.nv_mem_registered", g->value("nv_mem_registered", json())}});
      }
    }
  }
}

void check_net(NodeCtx& c) {
  const Profile& p = c.profile;
  const json* net = child(c.f, "net");
  if (p.mtu.empty()) {
    c.not_configured("net.mtu", "mtu");
    return;
  }
  if (net == nullptr || !net->is_array()) {
    c.not_checked("net.mtu", why_absent(net, "net"));
    return;
  }
  c.evaluated("net.mtu");
  for (const auto& n : *net) {
    std::string name = str_of(n, "name", "");
    for (const auto& [glob, want] : p.mtu) {
      if (!glob_match(glob, name)) continue;
      const json* mtu = child(n, "mtu");
      if (mtu == nullptr || !mtu->is_number()) {
        c.not_checked("net.mtu", why_absent(mtu, "net[" + name + "].mtu"));
      } else if (mtu->get<int64_t>() != want) {
        c.finding("net.mtu", name, "interface " + name + " has MTU " + show(*mtu) + ", profile " + p.name + " requires " +
                                       std::to_string(want),
                  {{"net[" + name + "].mtu", *mtu}});
      }
      break;
    }
  }
}

}  // namespace airlock::validate
