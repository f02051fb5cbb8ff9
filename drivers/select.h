// Driver layer selection: which of a bundle's driver-package components a node needs, from its
// probe facts (airlock.facts/v1). A layer states what it is for in bundle.yaml's
// `install.select` (pci_vendor, pci_devices, pci_class_prefix, kernel glob, arch; all optional,
// all must match, the PCI ones on one and the same device); a layer without `select` is never
// chosen automatically. Pure: facts and manifest in, choice and reasons out.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/manifest.h"

namespace airlock::drivers {

struct LayerChoice {
  const bundle::Component* component = nullptr;
  std::vector<std::string> devices;  // BDFs of the PCI devices it matched (empty: no PCI criteria)
  bool reboot_hint = false;          // the new driver takes effect only after a reboot
  std::string note;                  // why a reboot is needed, for the plan and the report
};

struct Selection {
  std::vector<LayerChoice> layers;  // the matching layers, by install.order then bundle order
  std::string reason;               // when none matches: why, e.g. "nvidia-550: no NVIDIA GPU (PCI vendor 10de)"
};

Selection select_driver_layers(const nlohmann::json& facts, const bundle::Manifest& manifest);

// Why `layer` does not apply to the node ("" when it does); fills `out` when it does.
std::string layer_mismatch(const nlohmann::json& facts, const bundle::Component& layer, LayerChoice* out);

// The reason to skip installing `layer` because that version is already loaded (e.g.
// "550.54.15 already loaded"), or nullopt. Known today: NVIDIA (facts gpu_driver.nvidia_version).
std::optional<std::string> already_installed(const nlohmann::json& facts, const bundle::Component& layer);

// "NVIDIA GPU" for 10de and so on; "PCI vendor <id> device" when unknown.
std::string vendor_label(std::string_view pci_vendor);

}  // namespace airlock::drivers
