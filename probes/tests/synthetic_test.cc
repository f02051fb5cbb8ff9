// Synthetic node fixtures (tests/fixtures/nodes/synthetic, written by its make.sh): modern GPU,
// NPU and InfiniBand nodes for which no real capture exists yet. Each tree is probed through a
// DirRoot and compared with <name>.expected.json (golden), then the facts each tree exists for
// are asserted directly so a regenerated golden file cannot silently drop them.
//
// Golden comparison ignores the run-specific keys collected_at_ns, duration_ns, root (the
// checkout path) and probe_version. After a deliberate change to the facts, regenerate with
//   tests/fixtures/nodes/synthetic/make.sh --expected <build>/probes/airlock-node
// and review the JSON diff.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/system_root.h"
#include "probes/collect.h"

namespace airlock::probes {
namespace {

using nlohmann::json;

const char* const kTrees[] = {"h100-8x-ndr", "h100-degraded-link", "ib-port-init", "nouveau",
                              "gaudi2",      "furiosa-rngd",       "rebellions-atom"};

std::string tree_dir(const std::string& name) {
  return std::string(AIRLOCK_SYNTHETIC_FIXTURES) + "/" + name;
}

Facts probe(const std::string& name) {
  DirRoot root(tree_dir(name));
  return collect(root);
}

json without_run_fields(json j) {
  for (const char* k : {"collected_at_ns", "duration_ns", "root", "probe_version"}) j.erase(k);
  return j;
}

json load_expected(const std::string& name) {
  std::ifstream in(tree_dir(name) + ".expected.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, false);
}

// The JSON patch from expected to actual, shortened for a failure message.
std::string describe_diff(const json& expected, const json& actual) {
  std::string d = json::diff(expected, actual).dump(1);
  return d.size() > 6000 ? d.substr(0, 6000) + "\n..." : d;
}

const PciDevice* find_pci(const Facts& f, const std::string& bdf) {
  for (const auto& p : *f.pci.value) {
    if (p.bdf == bdf) return &p;
  }
  return nullptr;
}

bool is(const Fact<std::string>& f, const std::string& v) { return f.ok() && *f.value == v; }

std::vector<const PciDevice*> pci_with(const Facts& f, const std::string& vendor,
                                       const std::string& device) {
  std::vector<const PciDevice*> out;
  for (const auto& p : *f.pci.value) {
    if (is(p.vendor, vendor) && is(p.device, device)) out.push_back(&p);
  }
  return out;
}

// ---- golden ------------------------------------------------------------------------------------

class SyntheticGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(SyntheticGolden, MatchesExpectedJson) {
  const std::string name = GetParam();
  json expected = load_expected(name);
  ASSERT_FALSE(expected.is_discarded()) << name << ".expected.json missing or not JSON";
  Facts f = probe(name);
  EXPECT_TRUE(f.errors.empty());
  json actual = without_run_fields(json(f));
  EXPECT_TRUE(actual == expected)
      << name << " differs from " << name << ".expected.json; JSON patch (expected -> probed):\n"
      << describe_diff(expected, actual);
}

INSTANTIATE_TEST_SUITE_P(Trees, SyntheticGolden, ::testing::ValuesIn(kTrees),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           std::string s = i.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(SyntheticFixtures, EveryTreeHasExpectedJsonAndATest) {
  namespace fs = std::filesystem;
  std::set<std::string> dirs, expected;
  for (const auto& e : fs::directory_iterator(AIRLOCK_SYNTHETIC_FIXTURES)) {
    std::string n = e.path().filename().string();
    const std::string suffix = ".expected.json";
    if (e.is_directory()) dirs.insert(n);
    if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0) {
      expected.insert(n.substr(0, n.size() - suffix.size()));
    }
  }
  std::set<std::string> listed(std::begin(kTrees), std::end(kTrees));
  EXPECT_EQ(dirs, listed);
  EXPECT_EQ(expected, listed);
}

// The binary and the library give the same document (make.sh writes the golden files with the
// binary; the golden test above probes in-process).
TEST(SyntheticFixtures, BinaryOutputMatchesExpectedJson) {
  std::string cmd = std::string(AIRLOCK_NODE_BIN) + " probe --root '" + tree_dir("h100-8x-ndr") + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  json j = json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["schema"], "airlock.facts/v1");
  EXPECT_EQ(j["root"], tree_dir("h100-8x-ndr"));
  json expected = load_expected("h100-8x-ndr");
  json actual = without_run_fields(j);
  EXPECT_TRUE(actual == expected) << describe_diff(expected, actual);
}

// ---- targeted facts ----------------------------------------------------------------------------

// The GPU and NIC of one PCIe switch: every H100 shares its switch with one ConnectX-7.
void expect_hgx_h100(const Facts& f) {
  ASSERT_TRUE(f.pci.ok() && f.gpus.ok() && f.rdma.ok() && f.net.ok());
  ASSERT_EQ(f.gpus.value->size(), 8u);
  std::map<int64_t, int> per_numa;
  for (const auto& g : *f.gpus.value) {
    EXPECT_EQ(g.vendor, "nvidia");
    EXPECT_EQ(g.found_by, "pci+procfs") << g.bdf;
    EXPECT_TRUE(is(g.device_id, "2330")) << g.bdf;
    EXPECT_TRUE(is(g.model, "NVIDIA H100 80GB HBM3")) << g.bdf;
    EXPECT_TRUE(is(g.driver, "nvidia")) << g.bdf;
    ASSERT_TRUE(g.uuid.ok());
    EXPECT_EQ(g.uuid.value->rfind("GPU-", 0), 0u);
    EXPECT_EQ(g.info.at("Bus Location"), g.bdf);
    ++per_numa[*g.numa_node.value];
  }
  EXPECT_EQ(per_numa, (std::map<int64_t, int>{{0, 4}, {1, 4}}));
  // NVSwitches: in the PCI inventory (class 0680, nvidia-nvswitch), never counted as GPUs.
  auto switches = pci_with(f, "10de", "22a3");
  ASSERT_EQ(switches.size(), 4u);
  for (const auto* s : switches) {
    EXPECT_TRUE(is(s->class_code, "068000"));
    EXPECT_TRUE(is(s->driver, "nvidia-nvswitch"));
    for (const auto& g : *f.gpus.value) EXPECT_NE(g.bdf, s->bdf);
  }
  // Eight ConnectX-7 HCAs in InfiniBand mode, one NDR port each.
  auto cx7 = pci_with(f, "15b3", "1021");
  ASSERT_EQ(cx7.size(), 8u);
  ASSERT_EQ(f.rdma.value->size(), 8u);
  for (const auto& d : *f.rdma.value) {
    EXPECT_EQ(d.name.rfind("mlx5_", 0), 0u);
    EXPECT_TRUE(is(d.hca_type, "MT4129"));
    ASSERT_TRUE(d.pci_bdf.ok()) << d.name << ": " << d.pci_bdf.error;
    const PciDevice* hca = find_pci(f, *d.pci_bdf.value);
    ASSERT_NE(hca, nullptr);
    EXPECT_TRUE(is(hca->device, "1021"));
    EXPECT_TRUE(is(hca->class_code, "020700"));
    EXPECT_TRUE(is(hca->driver, "mlx5_core"));
    ASSERT_TRUE(d.ports.ok());
    ASSERT_EQ(d.ports.value->size(), 1u);
    const RdmaPort& p = d.ports.value->front();
    EXPECT_EQ(p.port, 1);
    EXPECT_TRUE(is(p.rate, "400 Gb/sec (4X NDR)"));
    EXPECT_EQ(p.rate_gbps, 400.0);
    EXPECT_TRUE(is(p.link_layer, "InfiniBand"));
    EXPECT_TRUE(is(p.phys_state, "5: LinkUp"));
    ASSERT_TRUE(p.gid_types.ok()) << d.name;
    EXPECT_EQ(*p.gid_types.value, (std::map<std::string, uint64_t>{{"IB/RoCE v1", 2}}));
    EXPECT_EQ(*p.counters.at("symbol_error").value, 0u);
    EXPECT_EQ(*p.counters.at("port_rcv_errors").value, 0u);
  }
  EXPECT_TRUE(f.gpudirect_rdma.ready);
  EXPECT_TRUE(f.container_runtime.present.at("nvidia_ctk"));
  EXPECT_TRUE(f.container_runtime.present.at("containerd"));
  EXPECT_FALSE(f.container_runtime.present.at("docker"));
  ASSERT_TRUE(f.host.tainted.ok());
  EXPECT_EQ(*f.host.tainted.value & 12288u, 12288u);  // out-of-tree, unsigned nvidia.ko
  for (const auto& g : *f.gpus.value) EXPECT_EQ(g.model_source, "procfs") << g.bdf;
  for (const auto& g : *f.gpus.value) {
    const PciDevice* gp = find_pci(f, g.bdf);
    ASSERT_NE(gp, nullptr);
    ASSERT_EQ(gp->upstream.size(), 3u);
    int nics = 0;
    for (const auto* n : cx7) nics += n->upstream.size() == 3 && n->upstream[1] == gp->upstream[1];
    EXPECT_EQ(nics, 1) << g.bdf;
  }
}

TEST(SyntheticH100, EightH100FourNvswitchesEightNdrPortsActive) {
  Facts f = probe("h100-8x-ndr");
  expect_hgx_h100(f);
  // nvidia-smi's recorded output merged by bus id; nothing was run.
  ASSERT_TRUE(f.nvidia_smi.ok()) << f.nvidia_smi.error;
  EXPECT_EQ(f.nvidia_smi.value->path, "usr/bin/nvidia-smi");
  EXPECT_EQ(f.nvidia_smi.value->gpu_count, 8u);
  for (const auto& g : *f.gpus.value) {
    ASSERT_TRUE(g.nvidia_smi) << g.bdf;
    EXPECT_TRUE(is(g.nvidia_smi->driver_version, "550.90.07"));
    EXPECT_EQ(*g.nvidia_smi->memory_total_bytes.value, 81559ull << 20);
    EXPECT_TRUE(is(g.nvidia_smi->uuid, *g.uuid.value));
    const PciDevice* p = find_pci(f, g.bdf);
    EXPECT_EQ(*p->iommu_group.value, std::to_string(40 + *g.nvidia_smi->index.value));
    EXPECT_EQ(*p->aer.correctable.value, g.bdf == "0000:9a:00.0" ? 3u : 0u);
  }
  for (const auto* n : pci_with(f, "15b3", "1021")) EXPECT_EQ(*n->sriov.total_vfs.value, 16u);
  EXPECT_EQ(f.container_config.containerd_nvidia_runtime.value, true);
  EXPECT_EQ(*f.container_config.cdi_specs.at("etc/cdi").value,
            std::vector<std::string>{"nvidia.yaml"});
  EXPECT_TRUE(is(f.gpu_driver.nvidia_version, "550.90.07"));
  EXPECT_TRUE(is(f.gpu_driver.nvidia_flavour, "open"));
  for (const auto& d : *f.rdma.value) {
    const RdmaPort& p = d.ports.value->front();
    EXPECT_TRUE(is(p.state, "4: ACTIVE")) << d.name;
    EXPECT_EQ(p.active, true) << d.name;
  }
  // Every link trained at its maximum; GPUs and HCAs at Gen5 x16.
  for (const auto& p : *f.pci.value) {
    EXPECT_EQ(p.link.degraded, false) << p.bdf;
    if (is(p.vendor, "15b3") || is(p.class_code, "030200")) {
      EXPECT_TRUE(is(p.link.current_speed, "32.0 GT/s PCIe")) << p.bdf;
      EXPECT_EQ(*p.link.current_width.value, 16u) << p.bdf;
    }
  }
  int ipoib = 0;
  for (const auto& n : *f.net.value) {
    if (!n.type.ok() || *n.type.value != 32) continue;
    ++ipoib;
    EXPECT_TRUE(is(n.operstate, "up")) << n.name;
    EXPECT_EQ(*n.speed_mbps.value, 400000) << n.name;
    EXPECT_TRUE(is(n.driver, "mlx5_core")) << n.name;
  }
  EXPECT_EQ(ipoib, 8);
  auto& mods = *f.host.modules.value;
  for (const char* m : {"nvidia", "nvidia_uvm", "nvidia_peermem", "mlx5_ib", "ib_uverbs", "rdma_ucm"}) {
    EXPECT_NE(std::find(mods.begin(), mods.end(), m), mods.end()) << m;
  }
}

TEST(SyntheticH100, OneGpuLinkDegraded) {
  Facts f = probe("h100-degraded-link");
  expect_hgx_h100(f);
  EXPECT_TRUE(is(f.gpu_driver.nvidia_version, "535.183.01"));
  EXPECT_TRUE(is(f.gpu_driver.nvidia_flavour, "proprietary"));
  // Both ends of the degraded link read it: the GPU and its switch downstream port.
  std::vector<std::string> degraded;
  for (const auto& p : *f.pci.value) {
    ASSERT_TRUE(p.link.degraded.has_value()) << p.bdf;
    if (*p.link.degraded) degraded.push_back(p.bdf);
  }
  EXPECT_EQ(degraded, (std::vector<std::string>{"0000:5b:00.0", "0000:5c:00.0"}));
  // Per hop, one link is degraded, and it is the GPU's: downstream port 5b -> GPU 5c.
  std::set<std::pair<std::string, std::string>> bad_hops;
  for (const auto& p : *f.pci.value) {
    for (const auto& h : p.upstream_links) {
      if (h.link.degraded.value_or(false)) bad_hops.insert({h.upstream_bdf, h.downstream_bdf});
    }
  }
  EXPECT_EQ(bad_hops, (std::set<std::pair<std::string, std::string>>{
                          {"0000:5b:00.0", "0000:5c:00.0"}}));
  const PciDevice* g = find_pci(f, "0000:5c:00.0");
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(is(g->class_code, "030200"));
  EXPECT_TRUE(is(g->link.current_speed, "16.0 GT/s PCIe"));
  EXPECT_TRUE(is(g->link.max_speed, "32.0 GT/s PCIe"));
  EXPECT_EQ(*g->link.current_width.value, 8u);
  EXPECT_EQ(*g->link.max_width.value, 16u);
  EXPECT_EQ(g->link.width_degraded, true);
  EXPECT_EQ(g->link.speed_degraded, true);
  // Width is down too, so the slow speed is not just an idle GPU saving power.
  EXPECT_EQ(g->link.speed_may_be_power_saving, std::nullopt);
  nlohmann::json j = f;
  bool seen = false;
  for (const auto& p : j["pci"]) {
    if (p["bdf"] == "0000:5c:00.0") seen = p["link"]["degraded"] == true;
  }
  EXPECT_TRUE(seen);
}

TEST(SyntheticH100, IbPortInInitIsNotActive) {
  Facts f = probe("ib-port-init");
  expect_hgx_h100(f);
  int active = 0;
  for (const auto& d : *f.rdma.value) {
    const RdmaPort& p = d.ports.value->front();
    if (d.name == "mlx5_5") {
      EXPECT_TRUE(is(p.state, "2: INIT"));
      EXPECT_TRUE(is(p.phys_state, "5: LinkUp"));
      EXPECT_EQ(p.active, false);
      EXPECT_TRUE(is(d.pci_bdf, "0000:bb:00.0"));
    } else {
      EXPECT_EQ(p.active, true) << d.name;
      ++active;
    }
  }
  EXPECT_EQ(active, 7);
  EXPECT_EQ(f.nvidia_smi.error, "timeout");  // as recorded by the capture
  for (const auto& g : *f.gpus.value) EXPECT_FALSE(g.nvidia_smi) << g.bdf;
  auto it = std::find_if(f.net.value->begin(), f.net.value->end(),
                         [](const NetInterface& n) { return n.name == "ibp187s0"; });
  ASSERT_NE(it, f.net.value->end());
  EXPECT_TRUE(is(it->operstate, "down"));
  EXPECT_TRUE(is(it->pci_bdf, "0000:bb:00.0"));
}

TEST(SyntheticNouveau, NouveauReportedAsTheBoundDriver) {
  Facts f = probe("nouveau");
  ASSERT_TRUE(f.gpus.ok());
  ASSERT_EQ(f.gpus.value->size(), 4u);
  for (const auto& g : *f.gpus.value) {
    EXPECT_EQ(g.vendor, "nvidia");
    EXPECT_EQ(g.found_by, "pci");  // no /proc/driver/nvidia without the NVIDIA driver
    EXPECT_TRUE(is(g.device_id, "26b9")) << g.bdf;
    EXPECT_TRUE(is(g.driver, "nouveau")) << g.bdf;
    // No driver view: named from the PCI ID table instead of {"error":"ENOENT"}.
    EXPECT_TRUE(is(g.model, "L40S")) << g.bdf;
    EXPECT_EQ(g.model_source, "pci-id") << g.bdf;
  }
  EXPECT_EQ(f.gpu_driver.nvidia_version.error, "ENOENT");
  const auto& mods = *f.host.modules.value;
  EXPECT_NE(std::find(mods.begin(), mods.end(), "nouveau"), mods.end());
  EXPECT_EQ(std::find(mods.begin(), mods.end(), "nvidia"), mods.end());
  EXPECT_EQ(f.rdma.error, "ENOENT");
  EXPECT_EQ(f.nvidia_smi.error, "not present");
  nlohmann::json j = f;
  EXPECT_EQ(j["gpus"][0]["driver"], "nouveau");
}

// Accelerator nodes: COUNT devices of one vendor/family, split evenly over the NUMA nodes, no
// GPU, every link at its maximum.
void expect_accelerators(const std::string& tree, size_t count, const std::string& vendor,
                         const std::string& vendor_id, const std::string& device_id,
                         const std::string& family, const std::string& driver,
                         const std::string& speed) {
  SCOPED_TRACE(tree);
  Facts f = probe(tree);
  ASSERT_EQ(f.accelerators.size(), count);
  std::map<int64_t, size_t> per_numa;
  for (const auto& a : f.accelerators) {
    EXPECT_EQ(a.vendor, vendor);
    EXPECT_EQ(a.vendor_id, vendor_id);
    EXPECT_EQ(a.device_id, device_id);
    EXPECT_EQ(a.family, family);
    EXPECT_TRUE(is(a.driver, driver)) << a.bdf;
    EXPECT_FALSE(a.is_vf);
    ++per_numa[*a.numa_node.value];
    const PciDevice* p = find_pci(f, a.bdf);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(is(p->class_code, "120000"));
    EXPECT_TRUE(is(p->link.current_speed, speed)) << a.bdf;
    EXPECT_EQ(p->link.degraded, false) << a.bdf;
  }
  EXPECT_EQ(per_numa, (std::map<int64_t, size_t>{{0, count / 2}, {1, count / 2}}));
  ASSERT_TRUE(f.gpus.ok());
  EXPECT_TRUE(f.gpus.value->empty());
  EXPECT_EQ(f.gpu_driver.nvidia_version.error, "ENOENT");
  const auto& mods = *f.host.modules.value;
  EXPECT_NE(std::find(mods.begin(), mods.end(), driver), mods.end());
}

TEST(SyntheticAccelerators, Gaudi2) {
  expect_accelerators("gaudi2", 8, "habana", "1da3", "1020", "Gaudi2", "habanalabs",
                      "16.0 GT/s PCIe");
}

TEST(SyntheticAccelerators, FuriosaRngd) {
  expect_accelerators("furiosa-rngd", 8, "furiosa", "1ed2", "0001", "RNGD", "furiosa_rngd",
                      "32.0 GT/s PCIe");
}

TEST(SyntheticAccelerators, RebellionsAtom) {
  expect_accelerators("rebellions-atom", 4, "rebellions", "1eff", "1220",
                      "ATOM-Plus (RBLN-CA22)", "rebellions", "32.0 GT/s PCIe");
}

}  // namespace
}  // namespace airlock::probes
