// Looking hosts up in a loaded inventory: by name, and the -g/-w selection that every fleet
// command (`airlock inventory show`, `exec`, `probe`) uses.
#include <algorithm>

#include "installer/inventory/inventory.h"
#include "installer/inventory/nodeset.h"

namespace airlock::inventory {
namespace {

bool matches(const Host& h, const std::string& selector) {
  if (std::find(h.roles.begin(), h.roles.end(), selector) == h.roles.end() &&
      std::find(h.groups.begin(), h.groups.end(), selector) == h.groups.end()) {
    size_t eq = selector.find('=');
    if (eq == std::string::npos) return false;
    auto it = h.labels.find(selector.substr(0, eq));
    return it != h.labels.end() && it->second == selector.substr(eq + 1);
  }
  return true;
}

std::string known_names(const Inventory& inv) {
  std::vector<std::string> roles;
  for (const auto& h : inv.hosts) {
    for (const auto& r : h.roles) {
      if (std::find(roles.begin(), roles.end(), r) == roles.end()) roles.push_back(r);
    }
  }
  std::sort(roles.begin(), roles.end());
  std::string out = "roles:";
  for (const auto& r : roles) out += " " + r;
  out += "; groups:";
  for (const auto& [g, members] : inv.groups) out += " " + g;
  return out;
}

}  // namespace

const Host* Inventory::find(std::string_view name) const {
  if (auto it = host_index.find(std::string(name)); it != host_index.end()) {
    if (it->second < hosts.size() && hosts[it->second].name == name) return &hosts[it->second];
  }
  for (const auto& h : hosts) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

Result<std::vector<const Host*>> Inventory::select(const std::vector<std::string>& selectors,
                                                   std::string_view nodeset) const {
  std::vector<char> keep(hosts.size(), 1);
  if (!selectors.empty()) {
    std::fill(keep.begin(), keep.end(), 0);
    for (const auto& sel : selectors) {
      bool any = false;
      for (size_t i = 0; i < hosts.size(); ++i) {
        if (matches(hosts[i], sel)) {
          keep[i] = 1;
          any = true;
        }
      }
      if (!any) {
        return make_error(Errc::kInvalidArgument, "-g " + sel + ": no host in " + path +
                                                      " has this role, group or key=value label (" +
                                                      known_names(*this) + ")");
      }
    }
  }
  if (!nodeset.empty()) {
    auto names = expand_nodeset(nodeset);
    if (!names.ok()) return names.error().wrap("-w");
    std::vector<char> named(hosts.size(), 0);
    std::vector<std::string> unknown;
    for (const auto& n : *names) {
      const Host* h = find(n);
      if (h == nullptr) {
        unknown.push_back(n);
      } else {
        named[static_cast<size_t>(h - hosts.data())] = 1;
      }
    }
    if (!unknown.empty()) {
      return make_error(Errc::kInvalidArgument, "-w names hosts that are not in " + path + ": " + fold_nodeset(unknown));
    }
    for (size_t i = 0; i < hosts.size(); ++i) keep[i] = keep[i] && named[i];
  }
  std::vector<const Host*> out;
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (keep[i]) out.push_back(&hosts[i]);
  }
  return out;
}

}  // namespace airlock::inventory
