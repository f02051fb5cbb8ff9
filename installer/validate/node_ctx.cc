// The per-node check context and the helpers the check files share (see node_ctx.h).
#include "installer/validate/node_ctx.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstdlib>

namespace airlock::validate {

NodeFacts::NodeFacts(const json& facts) : f(facts) {
  if (const json* p = child(f, "pci"); p != nullptr && p->is_array()) {
    pci.reserve(p->size());
    for (const auto& d : *p) {
      if (const json* b = child(d, "bdf"); b != nullptr && b->is_string()) pci.emplace(b->get<std::string>(), &d);
    }
  }
  if (const json* g = child(f, "gpus"); g != nullptr && g->is_array()) {
    for (const auto& x : *g) {
      gpus.push_back(&x);
      if (str_of(x, "vendor", "") == "nvidia") nvidia_gpus.push_back(&x);
    }
  }
  if (const json* a = child(f, "accelerators"); a != nullptr && a->is_array()) {
    for (const auto& x : *a) accels.push_back(&x);
  }
  if (const json* r = child(f, "rdma"); r != nullptr && r->is_array()) {
    for (const auto& d : *r) {
      std::string name = str_of(d, "name", "");
      std::string vendor;
      if (const json* b = child(d, "pci_bdf"); b != nullptr && b->is_string()) {
        if (const json* dev = pci_of(b->get<std::string>())) vendor = str_of(*dev, "vendor", "");
      }
      // Gaudi's habanalabs_ib and AWS EFA register here too; they are not the fabric.
      if (vendor == "1da3" || vendor == "1d0f" || name.rfind("hbl_", 0) == 0 || name.rfind("efa", 0) == 0) continue;
      hcas.push_back(&d);
    }
  }
  if (const json* h = child(f, "host")) {
    if (const json* m = child(*h, "modules"); m != nullptr && m->is_array()) {
      modules_known = true;
      for (const auto& x : *m) {
        if (x.is_string()) loaded_modules.insert(x.get<std::string>());
      }
    }
  }
}

const json* NodeFacts::pci_of(const std::string& bdf) const {
  auto it = pci.find(bdf);
  return it == pci.end() ? nullptr : it->second;
}

std::string NodeFacts::describe(const std::string& bdf) const {
  const json* d = pci_of(bdf);
  if (d == nullptr) return bdf;
  std::string vendor = str_of(*d, "vendor", "?");
  std::string device = str_of(*d, "device", "?");
  std::string cls = str_of(*d, "class", "");
  std::string kind = "device";
  if (cls.rfind("0300", 0) == 0 || cls.rfind("0302", 0) == 0 || cls.rfind("0380", 0) == 0) {
    kind = vendor == "10de" ? "NVIDIA GPU" : vendor == "1002" ? "AMD GPU" : "GPU";
  } else if (cls.rfind("0207", 0) == 0) {
    kind = "HCA";
  } else if (cls.rfind("02", 0) == 0) {
    kind = "NIC";
  } else if (cls.rfind("0604", 0) == 0) {
    kind = "bridge";
  } else if (cls.rfind("0108", 0) == 0) {
    kind = "NVMe";
  } else if (cls.rfind("12", 0) == 0 || cls.rfind("0b40", 0) == 0) {
    kind = "accelerator";
  } else if (cls.rfind("0680", 0) == 0 && vendor == "10de") {
    kind = "NVSwitch";
  }
  for (const json* a : accels) {
    if (str_of(*a, "bdf", "") == bdf) kind = str_of(*a, "family", "accelerator");
  }
  std::string out = kind + " " + vendor + ":" + device;
  if (const json* drv = child(*d, "driver"); drv != nullptr && drv->is_string()) out += " (" + drv->get<std::string>() + ")";
  return out;
}

int NodeFacts::num_numa_nodes() const {
  const json* cm = child(f, "cpu_memory");
  const json* n = cm ? child(*cm, "numa_nodes") : nullptr;
  return n != nullptr && n->is_array() ? static_cast<int>(n->size()) : 0;
}

void NodeCtx::finding(const std::string& id, std::string subject, std::string message, std::vector<Evidence> evidence) {
  const CheckInfo* ci = find_check(id);
  finding(id, ci ? ci->severity : Severity::kFail, std::move(subject), std::move(message), std::move(evidence));
}

void NodeCtx::finding(const std::string& id, Severity sev, std::string subject, std::string message,
                      std::vector<Evidence> evidence) {
  if (!on(id)) return;
  evaluated_.insert(id);
  out_->findings.push_back(Finding{id, sev, std::move(subject), std::move(message), std::move(evidence)});
}

void NodeCtx::not_checked(const std::string& id, const std::string& reason) {
  if (!on(id)) return;
  auto it = nc_index_.find(id);
  if (it == nc_index_.end()) {
    nc_index_[id] = out_->not_checked.size();
    out_->not_checked.push_back(NotChecked{id, reason});
  } else {
    ++nc_more_[id];
  }
}

void NodeCtx::not_configured(const std::string& id, const std::string& what) {
  not_checked(id, "not configured: " + what + " (profile " + profile.name + ")");
}

void NodeCtx::finish() {
  for (const auto& [id, more] : nc_more_) {
    out_->not_checked[nc_index_[id]].reason += " (and " + std::to_string(more) + " more)";
  }
  std::stable_sort(out_->findings.begin(), out_->findings.end(),
                   [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
  std::set<std::string> with_findings;
  for (const auto& fd : out_->findings) with_findings.insert(fd.check);
  for (const auto& id : evaluated_) {
    if (!with_findings.count(id) && !nc_index_.count(id)) out_->passed.push_back(id);
  }
}

bool glob_match(const std::string& pattern, const std::string& text) {
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

double parse_gts(const json* v) {
  if (v == nullptr || !v->is_string()) return 0;
  const std::string& s = v->get_ref<const std::string&>();
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || s.find("GT/s") == std::string::npos) return 0;
  return d;
}

std::vector<long> version_numbers(const std::string& v) {
  std::vector<long> out;
  size_t i = 0;
  while (i < v.size()) {
    if (std::isdigit(static_cast<unsigned char>(v[i]))) {
      size_t j = i;
      while (j < v.size() && std::isdigit(static_cast<unsigned char>(v[j]))) ++j;
      out.push_back(std::strtol(v.substr(i, j - i).c_str(), nullptr, 10));
      i = j;
      if (i < v.size() && v[i] != '.' && v[i] != '-') break;  // "5.15.0-113-generic": stop at letters
      ++i;
    } else {
      break;
    }
  }
  return out;
}

std::string fmt_bytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

}  // namespace airlock::validate
