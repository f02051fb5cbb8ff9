// Driver layer selection from probe facts (see select.h).
#include "drivers/select.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>

namespace airlock::drivers {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A text fact, or "" when absent or recorded as an error object.
std::string fact_text(const nlohmann::json& j, std::initializer_list<const char*> path) {
  const nlohmann::json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object()) return "";
    auto it = cur->find(k);
    if (it == cur->end()) return "";
    cur = &*it;
  }
  return cur->is_string() ? cur->get<std::string>() : "";
}

std::string normal_arch(std::string a) {
  a = lower(std::move(a));
  if (a == "amd64" || a == "x86-64") return "x86_64";
  if (a == "arm64") return "aarch64";
  return a;
}

// The node's CPU architecture: host.arch or host.machine when the probe recorded it, else what
// the kernel's build string says.
std::string node_arch(const nlohmann::json& facts) {
  for (const char* k : {"arch", "machine"}) {
    std::string a = fact_text(facts, {"host", k});
    if (!a.empty()) return normal_arch(a);
  }
  std::string kv = fact_text(facts, {"host", "kernel_version"}) + " " + fact_text(facts, {"host", "kernel_release"});
  if (kv.find("x86_64") != std::string::npos || kv.find("amd64") != std::string::npos) return "x86_64";
  if (kv.find("aarch64") != std::string::npos || kv.find("arm64") != std::string::npos) return "aarch64";
  return "";
}

int64_t order_of(const bundle::Component& c) {
  auto it = c.install.find("order");
  if (it == c.install.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

const nlohmann::json* select_of(const bundle::Component& c) {
  auto it = c.install.find("select");
  if (it == c.install.end() || !it->is_object()) return nullptr;
  return &*it;
}

std::string sel_text(const nlohmann::json& sel, const char* key) {
  auto it = sel.find(key);
  return it != sel.end() && it->is_string() ? lower(it->get<std::string>()) : "";
}

}  // namespace

std::string vendor_label(std::string_view v) {
  std::string id = lower(std::string(v));
  if (id == "10de") return "NVIDIA GPU";
  if (id == "1002") return "AMD GPU";
  if (id == "1da3") return "Habana Gaudi device";
  if (id == "8086") return "Intel device";
  if (id == "1ed2") return "FuriosaAI NPU";
  if (id == "1eff") return "Rebellions NPU";
  if (id == "15b3") return "Mellanox/NVIDIA network device";
  return "PCI vendor " + id + " device";
}

std::string layer_mismatch(const nlohmann::json& facts, const bundle::Component& layer, LayerChoice* out) {
  const nlohmann::json* sel = select_of(layer);
  if (sel == nullptr) return "no install.select (never chosen automatically)";
  std::string vendor = sel_text(*sel, "pci_vendor");
  std::string klass = sel_text(*sel, "pci_class_prefix");
  std::vector<std::string> devices;
  if (auto it = sel->find("pci_devices"); it != sel->end() && it->is_array()) {
    for (const auto& d : *it) {
      if (d.is_string()) devices.push_back(lower(d.get<std::string>()));
    }
  }
  LayerChoice choice;
  choice.component = &layer;
  bool nouveau = false;
  std::string nouveau_bdf;
  if (!vendor.empty() || !klass.empty() || !devices.empty()) {
    bool vendor_seen = false;
    auto pci = facts.find("pci");
    if (pci != facts.end() && pci->is_array()) {
      for (const auto& d : *pci) {
        std::string dv = lower(fact_text(d, {"vendor"}));
        if (!vendor.empty() && dv != vendor) continue;
        vendor_seen = true;
        if (!devices.empty() &&
            std::find(devices.begin(), devices.end(), lower(fact_text(d, {"device"}))) == devices.end()) {
          continue;
        }
        if (!klass.empty() && lower(fact_text(d, {"class"})).rfind(klass, 0) != 0) continue;
        std::string bdf = fact_text(d, {"bdf"});
        choice.devices.push_back(bdf);
        if (fact_text(d, {"driver"}) == "nouveau" && !nouveau) {
          nouveau = true;
          nouveau_bdf = bdf;
        }
      }
    }
    if (choice.devices.empty()) {
      if (!vendor.empty() && !vendor_seen) return "no " + vendor_label(vendor) + " (PCI vendor " + vendor + ")";
      std::string what = (vendor.empty() ? std::string("any vendor") : vendor);
      if (!devices.empty()) {
        what += " device";
        for (size_t i = 0; i < devices.size(); ++i) what += (i == 0 ? " " : "/") + devices[i];
      }
      if (!klass.empty()) what += " of class " + klass + "*";
      return "no PCI device matches " + what;
    }
  }
  std::string kernel_glob = sel_text(*sel, "kernel");
  if (!kernel_glob.empty()) {
    std::string kr = fact_text(facts, {"host", "kernel_release"});
    if (kr.empty()) return "kernel release unknown (select.kernel is " + kernel_glob + ")";
    if (::fnmatch(kernel_glob.c_str(), kr.c_str(), 0) != 0) return "kernel " + kr + " does not match " + kernel_glob;
  }
  std::string arch = sel_text(*sel, "arch");
  if (!arch.empty()) {
    std::string have = node_arch(facts);
    if (have.empty()) return "CPU architecture unknown (select.arch is " + arch + ")";
    if (have != normal_arch(arch)) return "arch " + have + " is not " + normal_arch(arch);
  }
  if (nouveau) {
    choice.reboot_hint = true;
    choice.note = "nouveau is bound to " + nouveau_bdf + ": blacklist it and reboot after installing";
  } else if (vendor == "10de") {
    std::string loaded = fact_text(facts, {"gpu_driver", "nvidia_version"});
    if (!loaded.empty() && loaded != layer.version) {
      choice.reboot_hint = true;
      choice.note = "NVIDIA " + loaded + " is loaded: " + layer.version + " takes effect after a reboot";
    }
  }
  if (out != nullptr) *out = std::move(choice);
  return "";
}

Selection select_driver_layers(const nlohmann::json& facts, const bundle::Manifest& manifest) {
  Selection s;
  std::vector<const bundle::Component*> layers;
  for (const auto& c : manifest.components) {
    if (c.type == "driver-package") layers.push_back(&c);
  }
  std::stable_sort(layers.begin(), layers.end(),
                   [](const bundle::Component* a, const bundle::Component* b) { return order_of(*a) < order_of(*b); });
  if (layers.empty()) {
    s.reason = "the bundle has no driver layers";
    return s;
  }
  std::string reasons;
  for (const bundle::Component* c : layers) {
    LayerChoice choice;
    std::string why = layer_mismatch(facts, *c, &choice);
    if (why.empty()) {
      s.layers.push_back(std::move(choice));
    } else {
      reasons += (reasons.empty() ? "" : "; ") + c->name + ": " + why;
    }
  }
  if (s.layers.empty()) s.reason = reasons;
  return s;
}

std::optional<std::string> already_installed(const nlohmann::json& facts, const bundle::Component& layer) {
  const nlohmann::json* sel = select_of(layer);
  if (sel == nullptr || sel_text(*sel, "pci_vendor") != "10de") return std::nullopt;
  std::string loaded = fact_text(facts, {"gpu_driver", "nvidia_version"});
  if (!loaded.empty() && loaded == layer.version) return loaded + " already loaded";
  return std::nullopt;
}

}  // namespace airlock::drivers
