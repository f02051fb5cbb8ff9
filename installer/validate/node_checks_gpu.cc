// Per-node checks of accelerators and the GPU software stack (probe-spec.md c.1 rows 1-5,
// c.2 rows 8, 11, 14-18 and 27): counts and models against the profile, PCI vs driver vs
// nvidia-smi, unbound devices, NICs in flash recovery, nouveau, userspace/kernel driver
// versions, persistence mode, memory health, MIG, container runtime integration.
#include <algorithm>
#include <set>

#include "installer/validate/node_ctx.h"

namespace airlock::validate {
namespace {

std::string gpu_path(const json* g) { return "gpus[" + str_of(*g, "bdf", "?") + "]"; }
std::string acc_path(const json* a) { return "accelerators[" + str_of(*a, "bdf", "?") + "]"; }

// The top-level nvidia-smi run: nullptr when it gave rows, else why it did not.
std::string smi_absent(const json& f) {
  const json* s = child(f, "nvidia_smi");
  if (s == nullptr) return "missing fact nvidia_smi";
  if (is_error(s)) {
    std::string why = show((*s)["error"]);
    if (why == "not present") return "tool absent: nvidia-smi not installed";
    return "nvidia-smi: " + why;
  }
  return "";
}

}  // namespace

void check_facts_health(NodeCtx& c) {
  if (!c.on("facts.incomplete")) return;
  const json* e = child(c.f, "errors");
  if (e == nullptr || !e->is_array()) {
    c.not_checked("facts.incomplete", why_absent(e, "errors"));
    return;
  }
  c.evaluated("facts.incomplete");
  if (!e->empty()) {
    c.finding("facts.incomplete", "", "the probe skipped or cut short " + std::to_string(e->size()) +
                                          " section(s): " + show(*e), {{"errors", *e}});
  }
}

void check_accelerators(NodeCtx& c) {
  const auto& nf = c.facts;
  const json* gpus = child(c.f, "gpus");
  bool gpus_known = gpus != nullptr && gpus->is_array();
  const Profile& p = c.profile;

  // 1: count and model against the profile.
  struct Dev {
    const json* j;
    std::string path, vendor, model;
    bool model_known;
  };
  std::vector<Dev> devs;
  for (const json* g : nf.gpus) {
    const json* m = child(*g, "model");
    devs.push_back({g, gpu_path(g), str_of(*g, "vendor", ""), m && m->is_string() ? m->get<std::string>() : "", m && m->is_string()});
  }
  for (const json* a : nf.accels) {
    if (bool_of(*a, "is_vf", false)) continue;
    devs.push_back({a, acc_path(a), str_of(*a, "vendor", ""), str_of(*a, "family", ""), true});
  }
  if (!p.accel_count) {
    c.not_configured("accel.count", "accelerators.count");
  } else if (!gpus_known) {
    c.not_checked("accel.count", why_absent(gpus, "gpus"));
  } else {
    c.evaluated("accel.count");
    int64_t n = 0;
    for (const auto& d : devs) n += (!p.accel_vendor || d.vendor == *p.accel_vendor) ? 1 : 0;
    if (n != *p.accel_count) {
      std::string what = p.accel_vendor ? *p.accel_vendor + " accelerators" : "accelerators";
      c.finding("accel.count", "", std::to_string(n) + " " + what + " found, profile " + p.name + " expects " +
                                       std::to_string(*p.accel_count),
                {{"gpus", static_cast<int64_t>(nf.gpus.size())}, {"accelerators", static_cast<int64_t>(nf.accels.size())}});
    }
  }
  if (!p.accel_vendor && !p.accel_model) {
    c.not_configured("accel.model", "accelerators.vendor/model");
  } else {
    c.evaluated("accel.model");
    for (const auto& d : devs) {
      if (p.accel_vendor && d.vendor != *p.accel_vendor) {
        c.finding("accel.model", str_of(*d.j, "bdf", ""), "vendor " + d.vendor + ", profile " + p.name + " expects " + *p.accel_vendor,
                  {{d.path + ".vendor", d.vendor}});
      } else if (p.accel_model && !d.model_known) {
        c.not_checked("accel.model", why_absent(child(*d.j, "model"), d.path + ".model"));
      } else if (p.accel_model && !glob_match(*p.accel_model, d.model)) {
        c.finding("accel.model", str_of(*d.j, "bdf", ""), "model " + d.model + ", profile " + p.name + " expects " + *p.accel_model,
                  {{d.path + (d.j->contains("family") ? ".family" : ".model"), d.model}});
      }
    }
  }

  // 3 (within the node): one model.
  std::set<std::string> models;
  for (const auto& d : devs) {
    if (d.model_known) models.insert(d.vendor + " " + d.model);
  }
  if (!devs.empty()) {
    c.evaluated("accel.model.heterogeneous");
    if (models.size() > 1) {
      json list = json::array();
      for (const auto& m : models) list.push_back(m);
      c.finding("accel.model.heterogeneous", "", std::to_string(models.size()) + " accelerator models in one node", {{"models", list}});
    }
  }

  // 2: PCI vs driver vs nvidia-smi; excluded GPUs; unbound devices.
  if (!nf.nvidia_gpus.empty()) {
    const json* drv = child(c.f, "gpu_driver");
    const json* ver = drv ? child(*drv, "nvidia_version") : nullptr;
    bool driver_loaded = ver != nullptr && ver->is_string();
    if (!driver_loaded) {
      c.not_checked("gpu.count.mismatch", "PCI vs driver: " + why_absent(ver, "gpu_driver.nvidia_version") +
                                              " (NVIDIA driver not loaded)");
    } else {
      c.evaluated("gpu.count.mismatch");
      for (const json* g : nf.nvidia_gpus) {
        std::string by = str_of(*g, "found_by", "");
        std::string bdf = str_of(*g, "bdf", "");
        if (by == "pci") {
          c.finding("gpu.count.mismatch", bdf, "GPU on PCI but not in /proc/driver/nvidia/gpus (driver did not take it)",
                    {{gpu_path(g) + ".found_by", by}});
        } else if (by == "nvidia-smi") {
          c.finding("gpu.count.mismatch", bdf, "GPU listed only by nvidia-smi: neither on PCI nor in /proc/driver/nvidia/gpus",
                    {{gpu_path(g) + ".found_by", by}});
        } else if (by == "procfs") {
          c.finding("gpu.count.mismatch", bdf, "GPU known to the driver but missing from PCI (fallen off the bus?)",
                    {{gpu_path(g) + ".found_by", by}});
        }
        if (const json* info = child(*g, "information")) {
          if (const json* ex = child(*info, "GPU Excluded"); ex && ex->is_string() && ex->get<std::string>() == "Yes") {
            c.finding("gpu.count.mismatch", bdf, "GPU excluded by the driver", {{gpu_path(g) + ".information.GPU Excluded", *ex}});
          }
        }
      }
    }
    std::string smi = smi_absent(c.f);
    if (!smi.empty()) {
      c.not_checked("gpu.count.mismatch", "nvidia-smi count: " + smi);
    } else {
      c.evaluated("gpu.count.mismatch");
      const json& s = c.f["nvidia_smi"];
      const json* n = child(s, "gpu_count");
      if (n != nullptr && n->is_number() && n->get<int64_t>() != static_cast<int64_t>(nf.nvidia_gpus.size())) {
        c.finding("gpu.count.mismatch", "", "nvidia-smi lists " + show(*n) + " GPUs, PCI/driver show " +
                                                std::to_string(nf.nvidia_gpus.size()),
                  {{"nvidia_smi.gpu_count", *n}, {"gpus", static_cast<int64_t>(nf.nvidia_gpus.size())}});
      }
    }
  }
  if (!devs.empty()) c.evaluated("accel.driver.unbound");
  for (const auto& d : devs) {
    const json* drv = child(*d.j, "driver");
    if (drv == nullptr) {
      c.not_checked("accel.driver.unbound", "missing fact " + d.path + ".driver");
    } else if (is_error(drv)) {
      c.finding("accel.driver.unbound", str_of(*d.j, "bdf", ""), "no driver bound (" + show((*drv)["error"]) + ")",
                {{d.path + ".driver", *drv}});
    }
  }

  // 5: Mellanox NIC in flash-recovery mode (device ids 0209-0229).
  const json* pci = child(c.f, "pci");
  if (pci == nullptr || !pci->is_array()) {
    c.not_checked("nic.flash_recovery", why_absent(pci, "pci"));
  } else {
    c.evaluated("nic.flash_recovery");
    for (const auto& [bdf, d] : nf.pci) {
      if (str_of(*d, "vendor", "") != "15b3") continue;
      long dev = std::strtol(str_of(*d, "device", "0").c_str(), nullptr, 16);
      if (dev >= 0x0209 && dev <= 0x0229) {
        c.finding("nic.flash_recovery", bdf, "Mellanox device in flash-recovery mode (15b3:" + str_of(*d, "device", "") +
                                                 "): reflash its firmware",
                  {{"pci[" + bdf + "].device", str_of(*d, "device", "")}});
      }
    }
  }
}

void check_gpu_software(NodeCtx& c) {
  const auto& nf = c.facts;
  // 11: nouveau bound or loaded.
  const json* pci = child(c.f, "pci");
  if ((pci == nullptr || !pci->is_array()) && !nf.modules_known) {
    c.not_checked("gpu.nouveau", why_absent(pci, "pci"));
  } else {
    c.evaluated("gpu.nouveau");
    for (const auto& [bdf, d] : nf.pci) {
      const json* drv = child(*d, "driver");
      if (drv && drv->is_string() && drv->get<std::string>() == "nouveau") {
        c.finding("gpu.nouveau", bdf, "bound to nouveau: blacklist it (modprobe.blacklist=nouveau) before the NVIDIA driver",
                  {{"pci[" + bdf + "].driver", "nouveau"}});
      }
    }
    if (nf.loaded_modules.count("nouveau")) {
      c.finding("gpu.nouveau", "", "the nouveau module is loaded", {{"host.modules", "nouveau"}});
    }
  }
  if (nf.nvidia_gpus.empty()) return;  // the rest is about NVIDIA GPUs

  std::string smi = smi_absent(c.f);
  const json* drv = child(c.f, "gpu_driver");
  const json* kver = drv ? child(*drv, "nvidia_version") : nullptr;
  // 8: userspace (nvidia-smi) vs kernel driver.
  if (!smi.empty()) {
    c.not_checked("gpu.driver.userspace_mismatch", smi);
  } else if (kver == nullptr || !kver->is_string()) {
    c.not_checked("gpu.driver.userspace_mismatch", why_absent(kver, "gpu_driver.nvidia_version"));
  } else {
    for (const json* g : nf.nvidia_gpus) {
      const json* s = child(*g, "nvidia_smi");
      const json* uv = s ? child(*s, "driver_version") : nullptr;
      if (uv == nullptr || !uv->is_string()) {
        c.not_checked("gpu.driver.userspace_mismatch", why_absent(uv, gpu_path(g) + ".nvidia_smi.driver_version"));
        continue;
      }
      c.evaluated("gpu.driver.userspace_mismatch");
      if (*uv != *kver) {
        c.finding("gpu.driver.userspace_mismatch", str_of(*g, "bdf", ""),
                  "nvidia-smi reports driver " + uv->get<std::string>() + ", the kernel module is " + kver->get<std::string>() +
                      " (Driver/library version mismatch)",
                  {{gpu_path(g) + ".nvidia_smi.driver_version", *uv}, {"gpu_driver.nvidia_version", *kver}});
      }
    }
  }
  // 14, 15, 16: from nvidia-smi rows.
  for (const json* g : nf.nvidia_gpus) {
    std::string path = gpu_path(g) + ".nvidia_smi";
    const json* s = child(*g, "nvidia_smi");
    std::string bdf = str_of(*g, "bdf", "");
    if (s == nullptr) {
      std::string why = smi.empty() ? "missing fact " + path : smi;
      c.not_checked("gpu.persistence_mode", why);
      c.not_checked("gpu.memory.health", why);
      if (c.profile.mig) c.not_checked("gpu.mig.mode", why);
      continue;
    }
    if (const json* pm = child(*s, "persistence_mode"); pm && pm->is_string()) {
      c.evaluated("gpu.persistence_mode");
      if (pm->get<std::string>() != "Enabled") {
        c.finding("gpu.persistence_mode", bdf, "persistence mode " + pm->get<std::string>(), {{path + ".persistence_mode", *pm}});
      }
    } else {
      c.not_checked("gpu.persistence_mode", why_absent(pm, path + ".persistence_mode"));
    }
    bool any_health = false;
    for (const char* key : {"ecc_uncorrected_volatile", "retired_pages_pending", "remapped_rows_pending", "remapped_rows_failure"}) {
      const json* v = child(*s, key);
      if (v == nullptr || is_error(v)) continue;
      any_health = true;
      bool bad = (v->is_number() && v->get<double>() > 0) || (v->is_string() && v->get<std::string>() == "Yes") ||
                 (v->is_boolean() && v->get<bool>());
      if (bad) c.finding("gpu.memory.health", bdf, std::string(key) + " = " + show(*v), {{path + "." + key, *v}});
    }
    if (any_health) {
      c.evaluated("gpu.memory.health");
    } else {
      c.not_checked("gpu.memory.health", why_absent(child(*s, "ecc_uncorrected_volatile"), path + ".ecc_uncorrected_volatile"));
    }
    if (c.profile.mig) {
      const json* m = child(*s, "mig_mode_current");
      if (m == nullptr || !m->is_string()) {
        c.not_checked("gpu.mig.mode", why_absent(m, path + ".mig_mode_current"));
      } else {
        c.evaluated("gpu.mig.mode");
        std::string want = *c.profile.mig == "enabled" ? "Enabled" : "Disabled";
        if (m->get<std::string>() != want) {
          c.finding("gpu.mig.mode", bdf, "MIG " + m->get<std::string>() + ", profile " + c.profile.name + " wants " + want,
                    {{path + ".mig_mode_current", *m}});
        }
      }
    }
  }
  if (!c.profile.mig) c.not_configured("gpu.mig.mode", "mig");

  // 14: Fabric Manager on NVSwitch systems.
  bool nvswitch = false;
  for (const auto& [bdf, d] : nf.pci) {
    if (str_of(*d, "vendor", "") == "10de" && str_of(*d, "class", "").rfind("0680", 0) == 0) nvswitch = true;
  }
  if (nvswitch) {
    const json* svc = child(c.f, "services");
    const json* fm = svc ? child(*svc, "nvidia-fabricmanager") : nullptr;
    if (fm == nullptr || is_error(fm)) {
      c.not_checked("gpu.fabric_manager", why_absent(fm, "services.nvidia-fabricmanager"));
    } else {
      c.evaluated("gpu.fabric_manager");
      if (show(*fm) != "active") c.finding("gpu.fabric_manager", "", "nvidia-fabricmanager is " + show(*fm), {{"services.nvidia-fabricmanager", *fm}});
    }
  }

  // 17: container runtime integration.
  const json* rt = child(c.f, "container_runtime");
  const json* cc = child(c.f, "container_config");
  if (rt == nullptr || !rt->is_object()) {
    c.not_checked("container.gpu_runtime", why_absent(rt, "container_runtime"));
  } else {
    c.evaluated("container.gpu_runtime");
    bool toolkit = false;
    for (const char* k : {"nvidia_container_runtime", "nvidia_ctk", "nvidia_container_cli"}) {
      toolkit = toolkit || bool_of(*rt, k);
    }
    if (!toolkit) {
      c.finding("container.gpu_runtime", "", "NVIDIA Container Toolkit not installed (no nvidia-container-runtime, nvidia-ctk or nvidia-container-cli)",
                {{"container_runtime.nvidia_container_runtime", bool_of(*rt, "nvidia_container_runtime", false)},
                 {"container_runtime.nvidia_ctk", bool_of(*rt, "nvidia_ctk", false)}});
    }
    if (cc == nullptr || !cc->is_object()) {
      c.not_checked("container.gpu_runtime", "runtime entry / CDI: " + why_absent(cc, "container_config"));
    } else {
      bool integrated = false;
      for (const char* k : {"docker_nvidia_runtime", "containerd_nvidia_runtime"}) {
        const json* v = child(*cc, k);
        integrated = integrated || (v && v->is_boolean() && v->get<bool>());
      }
      if (const json* cdi = child(*cc, "cdi_specs"); cdi && cdi->is_object()) {
        for (const auto& [dir, files] : cdi->items()) integrated = integrated || (files.is_array() && !files.empty());
      }
      if (!integrated) {
        c.finding("container.gpu_runtime", "", "no container runtime knows the nvidia runtime and no CDI spec exists",
                  {{"container_config.docker_nvidia_runtime", cc->value("docker_nvidia_runtime", json())},
                   {"container_config.containerd_nvidia_runtime", cc->value("containerd_nvidia_runtime", json())},
                   {"container_config.cdi_specs", cc->value("cdi_specs", json())}});
      }
    }
  }

  // 18 and 27: active tests and NVLink state are not in the facts yet.
  if (const json* d = child(c.f, "dcgm_diag"); d == nullptr || is_error(d)) {
    c.not_checked("gpu.dcgm_diag", why_absent(d, "dcgm_diag") + " (active test, not run by the probe)");
  } else {
    c.evaluated("gpu.dcgm_diag");
    if (str_of(*d, "result", "") != "pass") c.finding("gpu.dcgm_diag", "", "dcgmi diag: " + str_of(*d, "result", "?"), {{"dcgm_diag", *d}});
  }
  for (const json* g : nf.nvidia_gpus) {
    const json* nl = child(*g, "nvlink");
    if (nl == nullptr || is_error(nl)) {
      c.not_checked("gpu.nvlink.down", why_absent(nl, gpu_path(g) + ".nvlink"));
      continue;
    }
    c.evaluated("gpu.nvlink.down");
    if (nl->is_object()) {
      for (const auto& [link, state] : nl->items()) {
        if (state.is_string() && state.get<std::string>() != "Up") {
          c.finding("gpu.nvlink.down", str_of(*g, "bdf", ""), "NVLink " + link + " is " + state.get<std::string>(),
                    {{gpu_path(g) + ".nvlink." + link, state}});
        }
      }
    }
  }
}

}  // namespace airlock::validate
