// bundle.yaml errors point at file:line:col with the offending text.
#include <gtest/gtest.h>

#include "bundle/spec.h"

namespace airlock::bundle {
namespace {

TEST(Spec, ParsesComponents) {
  auto s = parse_bundle_spec(R"(bundle:
  name: site
  version: 3
  expires_in_days: 30
components:
  - type: service-binary
    name: agent
    version: "1.0"
    source: bin/agent
    install: {path: /opt/airlock/bin/agent, mode: "0755", order: 20}
  - type: oci-image
    name: registry.local/web
    ref: "1.2"
    layout: images/web
)", "b.yaml", "/base");
  ASSERT_TRUE(s.ok()) << s.error().describe();
  EXPECT_EQ(s->components.size(), 2u);
  EXPECT_EQ(s->components[0].source, "/base/bin/agent");
  EXPECT_EQ(s->components[0].install["order"], 20);
  EXPECT_EQ(s->components[1].layout, "/base/images/web");
  EXPECT_EQ(*s->expires_in_days, 30);
}

TEST(Spec, ErrorsNameFileLineColumn) {
  struct Case {
    const char* yaml;
    const char* message;
  } cases[] = {
      {"bundle: {name: a, version: 1}\ncomponents:\n  - type: file\n    name: x\n    version: 1\n    sorce: y\n",
       "b.yaml:6:5: components[0]: unknown field 'sorce'"},
      {"bundle: {name: a, version: -1}\ncomponents: []\n", "b.yaml:1:28: bundle.version must be a non-negative integer"},
      {"bundle: {name: a, version: 1}\ncomponents:\n  - {type: tarball, name: x}\n",
       "b.yaml:3:12: components[0]: unknown type 'tarball' (use oci-image, service-binary, driver-package or file)"},
      {"bundle: {name: a, version: 1}\ncomponents:\n  - {type: file, name: x, version: 1, source: a}\n  - {type: file, name: x, version: 1, source: b}\n",
       "b.yaml:4:24: components[1]: component name 'x' is used twice"},
      {"bundle: {name: a, version: 1}\ncomponents:\n  - {type: file, name: x, version: 1, source: a, install: {mode: 755}}\n",
       "b.yaml:3:66: components[0].install.mode must be an octal mode like \"0755\""},
      {"bundle: [\n", "b.yaml:2:1: end of sequence flow not found"},
  };
  for (const auto& c : cases) {
    auto s = parse_bundle_spec(c.yaml, "b.yaml", ".");
    ASSERT_FALSE(s.ok()) << c.yaml;
    EXPECT_EQ(s.error().message, c.message);
  }
}

TEST(Spec, DriverSelect) {
  auto s = parse_bundle_spec(R"(bundle: {name: a, version: 1}
components:
  - type: driver-package
    name: nvidia
    version: "550.54.15"
    source: nvidia.tar.gz
    install:
      method: script
      select: {pci_vendor: "10de", pci_devices: ["2330", "2331"], pci_class_prefix: "0302", kernel: "6.1.*", arch: x86_64}
)",
                             "b.yaml", ".");
  ASSERT_TRUE(s.ok()) << s.error().describe();
  EXPECT_EQ(s->components[0].install["select"]["pci_devices"], nlohmann::json({"2330", "2331"}));
  EXPECT_EQ(s->components[0].install["select"]["kernel"], "6.1.*");
  const std::string head = "bundle: {name: a, version: 1}\ncomponents:\n";
  struct Case {
    std::string yaml, message;
  } cases[] = {
      {"  - {type: driver-package, name: x, version: 1, source: a, install: {select: {vendor: 10de}}}\n",
       "b.yaml:3:79: components[0].install.select: unknown field 'vendor'"},
      {"  - {type: driver-package, name: x, version: 1, source: a, install: {select: {pci_vendor: nvidia}}}\n",
       "b.yaml:3:91: components[0].install.select.pci_vendor must be 4 hex digits like \"10de\""},
      {"  - {type: driver-package, name: x, version: 1, source: a, install: {select: {pci_devices: \"2330\"}}}\n",
       "b.yaml:3:92: components[0].install.select.pci_devices must be a list like [\"2330\", \"2331\"]"},
      {"  - {type: file, name: x, version: 1, source: a, install: {select: {arch: x86_64}}}\n",
       "b.yaml:3:68: components[0].install.select applies only to driver-package"},
  };
  for (const auto& c : cases) {
    auto r = parse_bundle_spec(head + c.yaml, "b.yaml", ".");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.error().message, c.message);
  }
}

}  // namespace
}  // namespace airlock::bundle
