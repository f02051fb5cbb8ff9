// Driver layer selection on the synthetic probe fixtures (tests/fixtures/nodes/synthetic).
#include "drivers/select.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace airlock::drivers {
namespace {

nlohmann::json facts(const std::string& name) {
  std::ifstream in(std::string(AIRLOCK_FIXTURES) + "/nodes/synthetic/" + name + ".expected.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

bundle::Component layer(const std::string& name, const std::string& version, nlohmann::json select,
                        int order = 0) {
  bundle::Component c;
  c.type = "driver-package";
  c.name = name;
  c.version = version;
  c.blob = bundle::Descriptor{"application/gzip", "sha256:" + std::string(64, 'a'), 10};
  c.install = {{"method", "script"}, {"order", order}};
  if (!select.is_null()) c.install["select"] = std::move(select);
  return c;
}

bundle::Manifest catalog() {
  bundle::Manifest m;
  m.bundle.name = "site";
  m.components.push_back(layer("habana-1.17", "1.17.0", {{"pci_vendor", "1da3"}}, 20));
  m.components.push_back(layer("nvidia-550", "550.54.15", {{"pci_vendor", "10de"}, {"pci_class_prefix", "03"}}, 10));
  bundle::Component svc;
  svc.type = "service-binary";
  svc.name = "agent";
  m.components.push_back(svc);
  return m;
}

std::vector<std::string> names(const Selection& s) {
  std::vector<std::string> out;
  for (const auto& l : s.layers) out.push_back(l.component->name);
  return out;
}

TEST(DriverSelect, H100NodesSelectNvidia) {
  bundle::Manifest m = catalog();
  for (const char* node : {"h100-8x-ndr", "h100-degraded-link"}) {
    Selection s = select_driver_layers(facts(node), m);
    EXPECT_EQ(names(s), std::vector<std::string>{"nvidia-550"}) << node;
    ASSERT_EQ(s.layers.size(), 1u);
    EXPECT_EQ(s.layers[0].devices.size(), 8u) << node;
    // Another version is loaded (550.90.07, 535.183.01): the new one needs a reboot.
    EXPECT_TRUE(s.layers[0].reboot_hint);
    EXPECT_NE(s.layers[0].note.find(" is loaded: 550.54.15 takes effect after a reboot"), std::string::npos)
        << s.layers[0].note;
  }
}

TEST(DriverSelect, Gaudi2SelectsHabana) {
  Selection s = select_driver_layers(facts("gaudi2"), catalog());
  EXPECT_EQ(names(s), std::vector<std::string>{"habana-1.17"});
  EXPECT_FALSE(s.layers[0].reboot_hint);
}

TEST(DriverSelect, NouveauNeedsReboot) {
  Selection s = select_driver_layers(facts("nouveau"), catalog());
  ASSERT_EQ(names(s), std::vector<std::string>{"nvidia-550"});
  EXPECT_TRUE(s.layers[0].reboot_hint);
  EXPECT_NE(s.layers[0].note.find("nouveau is bound to 0000:41:00.0"), std::string::npos) << s.layers[0].note;
}

TEST(DriverSelect, NoMatchGivesReasons) {
  Selection s = select_driver_layers(facts("rebellions-atom"), catalog());
  EXPECT_TRUE(s.layers.empty());
  EXPECT_EQ(s.reason,
            "nvidia-550: no NVIDIA GPU (PCI vendor 10de); habana-1.17: no Habana Gaudi device (PCI vendor 1da3)");
  bundle::Manifest none;
  EXPECT_EQ(select_driver_layers(facts("gaudi2"), none).reason, "the bundle has no driver layers");
}

TEST(DriverSelect, OrderFollowsInstallOrder) {
  bundle::Manifest m;
  m.components.push_back(layer("b", "1", {{"pci_vendor", "10de"}}, 5));
  m.components.push_back(layer("a", "1", {{"pci_vendor", "10de"}}, 1));
  m.components.push_back(layer("c", "1", {{"pci_vendor", "10de"}}, 5));
  EXPECT_EQ(names(select_driver_layers(facts("h100-8x-ndr"), m)), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(DriverSelect, DevicesKernelArch) {
  nlohmann::json h100 = facts("h100-8x-ndr");
  LayerChoice out;
  EXPECT_EQ(layer_mismatch(h100, layer("x", "1", {{"pci_vendor", "10de"}, {"pci_devices", {"2330", "2331"}}}), &out), "");
  EXPECT_EQ(layer_mismatch(facts("nouveau"), layer("x", "1", {{"pci_vendor", "10de"}, {"pci_devices", {"2330"}}}), &out),
            "no PCI device matches 10de device 2330");
  EXPECT_EQ(layer_mismatch(h100, layer("x", "1", {{"kernel", "5.15.*"}}), &out), "");
  EXPECT_EQ(layer_mismatch(h100, layer("x", "1", {{"kernel", "6.1.*"}}), &out),
            "kernel 5.15.0-113-generic does not match 6.1.*");
  EXPECT_EQ(layer_mismatch(h100, layer("x", "1", {{"arch", "x86_64"}}), &out), "");
  EXPECT_EQ(layer_mismatch(h100, layer("x", "1", {{"arch", "arm64"}}), &out), "arch x86_64 is not aarch64");
  EXPECT_EQ(layer_mismatch(h100, layer("x", "1", nullptr), &out), "no install.select (never chosen automatically)");
  // No PCI criteria: kernel/arch alone decide, and no devices are named.
  EXPECT_EQ(layer_mismatch(h100, layer("x", "1", nlohmann::json::object()), &out), "");
  EXPECT_TRUE(out.devices.empty());
}

TEST(DriverSelect, AlreadyInstalled) {
  nlohmann::json h100 = facts("h100-8x-ndr");
  EXPECT_EQ(already_installed(h100, layer("n", "550.90.07", {{"pci_vendor", "10de"}})), "550.90.07 already loaded");
  EXPECT_EQ(already_installed(h100, layer("n", "550.54.15", {{"pci_vendor", "10de"}})), std::nullopt);
  EXPECT_EQ(already_installed(facts("nouveau"), layer("n", "550.54.15", {{"pci_vendor", "10de"}})), std::nullopt);
  EXPECT_EQ(already_installed(facts("gaudi2"), layer("h", "1.17.0", {{"pci_vendor", "1da3"}})), std::nullopt);
  // Same version loaded: no reboot hint either.
  LayerChoice out;
  EXPECT_EQ(layer_mismatch(h100, layer("n", "550.90.07", {{"pci_vendor", "10de"}}), &out), "");
  EXPECT_FALSE(out.reboot_hint);
}

}  // namespace
}  // namespace airlock::drivers
