// The test site (see test_site.h).
#include "installer/install/tests/test_site.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/fs.h"
#include "installer/install/planner.h"

namespace airlock::install::testing {
namespace {

bundle::Component file_component(const std::string& type, const std::string& name, const std::string& version,
                                 char fill, nlohmann::json install) {
  bundle::Component c;
  c.type = type;
  c.name = name;
  c.version = version;
  c.blob = bundle::Descriptor{"application/octet-stream", "sha256:" + std::string(64, fill), 1000};
  c.install = std::move(install);
  return c;
}

}  // namespace

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inventory::Inventory site_inventory() {
  auto inv = inventory::parse_inventory(R"(defaults: {user: root}
hosts:
  mgr1: {address: 10.0.0.10, roles: [manager]}
  "gpu[1-3]": {address: "10.0.1.[1-3]", roles: [agent]}
)",
                                        "site.yaml");
  EXPECT_TRUE(inv.ok()) << inv.error().describe();
  return std::move(inv).value();
}

bundle::Manifest site_manifest() {
  bundle::Manifest m;
  m.bundle.name = "site";
  m.bundle.version = 42;
  m.bundle.release = "2026.11";
  bundle::Component svc = file_component("service-binary", "testsvc", "1.0.0", 'b', {{"mode", "0755"}});
  svc.blob->media_type = "application/zstd";
  svc.content = bundle::ContentInfo{"sha256:" + std::string(64, 'c'), 4000};  // stored compressed
  m.components.push_back(svc);
  m.components.push_back(file_component("driver-package", "nvidia-test", "550.54.15", 'd',
                                        {{"method", "script"}, {"select", {{"pci_vendor", "10de"}}}}));
  m.components.push_back(file_component("driver-package", "habana-test", "1.17.0", 'e',
                                        {{"method", "dpkg"}, {"select", {{"pci_vendor", "1da3"}}}}));
  bundle::Component img;
  img.type = "oci-image";
  img.name = "registry.local/backend.ai/manager";
  img.ref = "24.09";
  img.closure = {"sha256:" + std::string(64, '1'), "sha256:" + std::string(64, '2')};
  m.components.push_back(img);
  m.files.push_back({"blobs/sha256/" + std::string(64, '1'), 111, "sha256:" + std::string(64, '1')});
  m.files.push_back({"blobs/sha256/" + std::string(64, '2'), 222, "sha256:" + std::string(64, '2')});
  return m;
}

std::map<std::string, nlohmann::json> site_facts() {
  auto load = [](const std::string& name) {
    return nlohmann::json::parse(read_text(std::string(AIRLOCK_FIXTURES) + "/nodes/synthetic/" + name + ".expected.json"));
  };
  nlohmann::json h100 = load("h100-8x-ndr");
  return {{"gpu1", h100}, {"gpu2", h100}, {"gpu3", load("gaudi2")}};
}

std::vector<const inventory::Host*> all_hosts(const inventory::Inventory& inv) {
  std::vector<const inventory::Host*> out;
  for (const auto& h : inv.hosts) out.push_back(&h);
  return out;
}

Result<Playbook> shipped_playbook(const std::string& name) {
  std::string dir = std::string(AIRLOCK_SOURCE_DIR) + "/playbooks";
  TRY_ASSIGN(std::string text, read_file(dir + "/" + name));
  SourceReader reader = [dir](const std::string& rel) { return read_file(join_path(dir, rel)); };
  return parse_playbook(text, "playbooks/" + name, reader);
}

Plan plan_site(const Playbook& pb) {
  inventory::Inventory inv = site_inventory();
  auto plan = make_plan(pb, inv, all_hosts(inv), site_facts(), site_manifest());
  EXPECT_TRUE(plan.ok()) << plan.error().describe();
  return plan.ok() ? std::move(plan).value() : Plan{};
}

}  // namespace airlock::install::testing
