// Collector tests: MemRoot trees for error reporting and synthetic devices, and the real
// hwloc captures (tests/fixtures/nodes/hwloc, unpacked into the build dir) checked against what
// hwloc's own lstopo output confirms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>

#include "common/system_root.h"
#include "probes/collect.h"

namespace airlock::probes {
namespace {

const PciDevice* find_pci(const Facts& f, const std::string& bdf) {
  if (!f.pci.ok()) return nullptr;
  for (const auto& p : *f.pci.value) {
    if (p.bdf == bdf) return &p;
  }
  return nullptr;
}

Facts probe_fixture(const std::string& name) {
  DirRoot root(std::string(AIRLOCK_NODE_FIXTURES) + "/" + name);
  return collect(root);
}

TEST(CollectMem, ReportsReasonsInsteadOfDropping) {
  MemRoot m;
  m.add_file("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/vendor", "0x10de\n");
  m.add_file("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/device", "0x2330\n");
  m.add_file("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/class", "0x030200\n");
  m.add_file("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/numa_node", "garbage\n");
  m.add_file("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/current_link_speed", "16.0 GT/s PCIe\n");
  m.add_file("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/max_link_speed", "32.0 GT/s PCIe\n");
  m.add_file("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/current_link_width", "16\n");
  m.add_file("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/max_link_width", "16\n");
  m.add_link("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/driver", "../../../../bus/pci/drivers/nouveau");
  m.add_link("sys/bus/pci/devices/0000:01:00.0", "../../../devices/pci0000:00/0000:00:01.0/0000:01:00.0");
  m.add_file("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/subsystem_vendor", "0x10de\n");
  m.set_error("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/subsystem_vendor", EACCES);
  m.add_file("proc/driver/nvidia/version",
             "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n");
  Facts f = collect(m);
  EXPECT_EQ(f.schema, "airlock.facts/v1");
  const PciDevice* p = find_pci(f, "0000:01:00.0");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->upstream, std::vector<std::string>{"0000:00:01.0"});
  EXPECT_EQ(*p->driver.value, "nouveau");
  EXPECT_EQ(p->numa_node.error, "malformed: garbage");
  EXPECT_EQ(p->subsystem_vendor.error, "EACCES");
  EXPECT_EQ(p->subsystem_device.error, "ENOENT");
  EXPECT_EQ(p->link.degraded, true);
  ASSERT_TRUE(f.gpus.ok());
  ASSERT_EQ(f.gpus.value->size(), 1u);
  EXPECT_EQ((*f.gpus.value)[0].found_by, "pci");
  EXPECT_EQ(*(*f.gpus.value)[0].driver.value, "nouveau");
  EXPECT_EQ(*f.gpu_driver.nvidia_version.value, "580.65.06");
  EXPECT_EQ(*f.gpu_driver.nvidia_flavour.value, "open");
  EXPECT_EQ(f.host.kernel_release.error, "ENOENT");
  EXPECT_EQ(f.rdma.error, "ENOENT");
  nlohmann::json j = f;
  EXPECT_EQ(j["schema"], "airlock.facts/v1");
  EXPECT_EQ(j["pci"][0]["numa_node"]["error"], "malformed: garbage");
  EXPECT_EQ(j["host"]["kernel_release"]["error"], "ENOENT");
}

// A PCI function under root port 0000:00:01.0 with the given IDs, driver and link.
void add_pci(MemRoot& m, const std::string& bdf, const std::string& vendor,
             const std::string& device, const std::string& cls, const std::string& driver,
             const std::string& cur_speed, int cur_width, const std::string& max_speed,
             int max_width) {
  std::string d = "sys/devices/pci0000:00/0000:00:01.0/" + bdf;
  m.add_file(d + "/vendor", "0x" + vendor + "\n");
  m.add_file(d + "/device", "0x" + device + "\n");
  m.add_file(d + "/class", "0x" + cls + "\n");
  m.add_file(d + "/current_link_speed", cur_speed + "\n");
  m.add_file(d + "/max_link_speed", max_speed + "\n");
  m.add_file(d + "/current_link_width", std::to_string(cur_width) + "\n");
  m.add_file(d + "/max_link_width", std::to_string(max_width) + "\n");
  if (!driver.empty()) m.add_link(d + "/driver", "../../../../bus/pci/drivers/" + driver);
  m.add_link("sys/bus/pci/devices/" + bdf, "../../../devices/pci0000:00/0000:00:01.0/" + bdf);
}

const Gpu* find_gpu(const Facts& f, const std::string& bdf) {
  for (const auto& g : *f.gpus.value) {
    if (g.bdf == bdf) return &g;
  }
  return nullptr;
}

TEST(CollectMem, GpuModelFromPciIdWithoutNvidiaProcfs) {
  MemRoot m;
  const std::string g5 = "32.0 GT/s PCIe";
  add_pci(m, "0000:01:00.0", "10de", "26b9", "030200", "nouveau", g5, 16, g5, 16);
  add_pci(m, "0000:02:00.0", "10de", "2330", "030200", "", g5, 16, g5, 16);
  add_pci(m, "0000:03:00.0", "1002", "74a1", "038000", "", g5, 16, g5, 16);
  add_pci(m, "0000:04:00.0", "10de", "1234", "030200", "", g5, 16, g5, 16);  // not in the table
  Facts f = collect(m);
  ASSERT_TRUE(f.gpus.ok());
  ASSERT_EQ(f.gpus.value->size(), 4u);
  const Gpu* l40s = find_gpu(f, "0000:01:00.0");
  EXPECT_EQ(*l40s->model.value, "L40S");
  EXPECT_EQ(l40s->model_source, "pci-id");
  EXPECT_EQ(*find_gpu(f, "0000:02:00.0")->model.value, "H100 SXM5 80GB");
  EXPECT_EQ(*find_gpu(f, "0000:03:00.0")->model.value, "Instinct MI300X");
  const Gpu* unknown = find_gpu(f, "0000:04:00.0");
  EXPECT_EQ(unknown->model.error, "ENOENT");
  EXPECT_EQ(unknown->model_source, "");
  nlohmann::json j = *l40s;
  EXPECT_EQ(j["model"], "L40S");
  EXPECT_EQ(j["model_source"], "pci-id");
  EXPECT_FALSE(nlohmann::json(*unknown).contains("model_source"));
}

TEST(CollectMem, ProcfsModelWinsOverPciId) {
  MemRoot m;
  const std::string g5 = "32.0 GT/s PCIe";
  add_pci(m, "0000:01:00.0", "10de", "2330", "030200", "nvidia", g5, 16, g5, 16);
  m.add_file("proc/driver/nvidia/gpus/0000:01:00.0/information",
             "Model: \t\t NVIDIA H100 80GB HBM3\nGPU UUID: \t GPU-1\n");
  Facts f = collect(m);
  const Gpu* g = find_gpu(f, "0000:01:00.0");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(*g->model.value, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(g->model_source, "procfs");
}

TEST(CollectMem, LinkWidthAndSpeedDegradedSeparately) {
  MemRoot m;
  const std::string g4 = "16.0 GT/s PCIe", g5 = "32.0 GT/s PCIe";
  add_pci(m, "0000:01:00.0", "10de", "2330", "030200", "nvidia", g4, 16, g5, 16);  // idle GPU
  add_pci(m, "0000:02:00.0", "10de", "2330", "030200", "nvidia", g5, 8, g5, 16);   // width
  add_pci(m, "0000:03:00.0", "10de", "2330", "030200", "nvidia", g4, 8, g5, 16);   // both
  add_pci(m, "0000:04:00.0", "15b3", "1021", "020700", "mlx5_core", g4, 16, g5, 16);  // NIC
  add_pci(m, "0000:05:00.0", "10de", "2330", "030200", "nvidia", g5, 16, g5, 16);  // full
  add_pci(m, "0000:06:00.0", "10de", "2330", "030200", "nvidia", "Unknown", 16, g5, 16);
  Facts f = collect(m);
  auto link = [&](const char* bdf) { return find_pci(f, bdf)->link; };
  EXPECT_EQ(link("0000:01:00.0").speed_degraded, true);
  EXPECT_EQ(link("0000:01:00.0").width_degraded, false);
  EXPECT_EQ(link("0000:01:00.0").degraded, true);
  EXPECT_EQ(link("0000:01:00.0").speed_may_be_power_saving, true);
  EXPECT_EQ(link("0000:02:00.0").width_degraded, true);
  EXPECT_EQ(link("0000:02:00.0").speed_degraded, false);
  EXPECT_EQ(link("0000:02:00.0").speed_may_be_power_saving, std::nullopt);
  EXPECT_EQ(link("0000:03:00.0").degraded, true);
  EXPECT_EQ(link("0000:03:00.0").speed_may_be_power_saving, std::nullopt);
  EXPECT_EQ(link("0000:04:00.0").speed_degraded, true);
  EXPECT_EQ(link("0000:04:00.0").speed_may_be_power_saving, std::nullopt);  // not a GPU
  EXPECT_EQ(link("0000:05:00.0").degraded, false);
  EXPECT_EQ(link("0000:05:00.0").speed_degraded, false);
  EXPECT_EQ(link("0000:05:00.0").width_degraded, false);
  EXPECT_EQ(link("0000:06:00.0").speed_degraded, std::nullopt);
  EXPECT_EQ(link("0000:06:00.0").width_degraded, false);
  EXPECT_EQ(link("0000:06:00.0").degraded, std::nullopt);
  nlohmann::json j = *find_pci(f, "0000:01:00.0");
  EXPECT_EQ(j["link"]["speed_may_be_power_saving"], true);
  EXPECT_EQ(j["link"]["width_degraded"], false);
  EXPECT_FALSE(nlohmann::json(*find_pci(f, "0000:05:00.0"))["link"].contains(
      "speed_may_be_power_saving"));
}

TEST(CollectMem, ContainerRuntimeTaintAndGpuDirect) {
  MemRoot m;
  m.add_file("usr/bin/containerd", "");
  m.add_file("run/containerd/containerd.sock", "");
  m.add_file("usr/bin/nvidia-ctk", "");
  m.add_link("usr/bin/nvidia-container-runtime", "nvidia-ctk");
  m.add_file("etc/nvidia-container-runtime/config.toml", "");
  m.add_file("proc/sys/kernel/tainted", "12288\n");
  m.add_file("proc/modules",
             "nvidia_peermem 16384 0 - Live 0x0\nnvidia 1 0 - Live 0x0\n");
  m.add_file("sys/kernel/mm/memory_peers/nv_mem/version", "1.3\n");
  Facts f = collect(m);
  const auto& p = f.container_runtime.present;
  EXPECT_FALSE(p.at("docker"));
  EXPECT_FALSE(p.at("podman"));
  EXPECT_TRUE(p.at("containerd"));
  EXPECT_TRUE(p.at("containerd_socket"));
  EXPECT_TRUE(p.at("nvidia_ctk"));
  EXPECT_TRUE(p.at("nvidia_container_runtime"));
  EXPECT_TRUE(p.at("nvidia_container_config"));
  EXPECT_EQ(*f.host.tainted.value, 12288u);
  EXPECT_EQ(*f.gpudirect_rdma.nvidia_peermem_loaded.value, true);
  EXPECT_EQ(*f.gpudirect_rdma.nv_peer_mem_loaded.value, false);
  EXPECT_TRUE(f.gpudirect_rdma.nv_mem_registered);
  EXPECT_FALSE(f.gpudirect_rdma.nv_mem_nc_registered);
  EXPECT_TRUE(f.gpudirect_rdma.ready);
  nlohmann::json j = f;
  EXPECT_EQ(j["container_runtime"]["containerd"], true);
  EXPECT_EQ(j["host"]["tainted"], 12288);
  EXPECT_EQ(j["gpudirect_rdma"]["ready"], true);

  MemRoot bare;  // module loaded but not registered; no /proc/modules at all
  bare.add_file("proc/modules", "nvidia_peermem 16384 0 - Live 0x0\n");
  EXPECT_FALSE(collect(bare).gpudirect_rdma.ready);
  Facts none = collect(MemRoot());
  EXPECT_EQ(none.gpudirect_rdma.nvidia_peermem_loaded.error, "ENOENT");
  EXPECT_FALSE(none.gpudirect_rdma.ready);
  EXPECT_EQ(none.host.tainted.error, "ENOENT");
  EXPECT_FALSE(none.container_runtime.present.at("docker"));
}

TEST(CollectMem, RdmaGidTypesAndCounters) {
  MemRoot m;
  std::string p = "sys/class/infiniband/mlx5_0/ports/1";
  m.add_file(p + "/state", "4: ACTIVE\n");
  m.add_file(p + "/link_layer", "Ethernet\n");
  m.add_file(p + "/gid_attrs/types/0", "IB/RoCE v1\n");
  m.add_file(p + "/gid_attrs/types/1", "RoCE v2\n");
  m.add_file(p + "/gid_attrs/types/2", "IB/RoCE v1\n");
  m.add_file(p + "/gid_attrs/types/3", "RoCE v2\n");
  m.add_file(p + "/gid_attrs/types/4", "");
  m.set_error(p + "/gid_attrs/types/4", EINVAL);  // unpopulated GID
  m.add_file(p + "/counters/symbol_error", "0\n");
  m.add_file(p + "/counters/link_downed", "3\n");
  m.add_file(p + "/counters/port_rcv_errors", "17\n");
  std::string q = "sys/class/infiniband/mlx5_1/ports/1";
  m.add_file(q + "/state", "4: ACTIVE\n");
  Facts f = collect(m);
  ASSERT_TRUE(f.rdma.ok());
  ASSERT_EQ(f.rdma.value->size(), 2u);
  const RdmaPort& port = f.rdma.value->at(0).ports.value->at(0);
  ASSERT_TRUE(port.gid_types.ok());
  EXPECT_EQ(*port.gid_types.value,
            (std::map<std::string, uint64_t>{{"IB/RoCE v1", 2}, {"RoCE v2", 2}}));
  EXPECT_EQ(*port.counters.at("symbol_error").value, 0u);
  EXPECT_EQ(*port.counters.at("link_downed").value, 3u);
  EXPECT_EQ(*port.counters.at("port_rcv_errors").value, 17u);
  EXPECT_EQ(port.counters.at("link_error_recovery").error, "ENOENT");
  const RdmaPort& bare = f.rdma.value->at(1).ports.value->at(0);
  EXPECT_EQ(bare.gid_types.error, "ENOENT");
  nlohmann::json j = port;
  EXPECT_EQ(j["gid_types"]["RoCE v2"], 2);
  EXPECT_EQ(j["counters"]["link_downed"], 3);
  EXPECT_EQ(j["counters"]["link_error_recovery"]["error"], "ENOENT");
}

TEST(CollectMem, PassedDeadlineMarksSectionsTimeout) {
  MemRoot m;
  CollectOptions o;
  o.deadline = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  Facts f = collect(m, o);
  EXPECT_EQ(f.pci.error, "timeout");
  EXPECT_EQ(f.rdma.error, "timeout");
  EXPECT_FALSE(f.errors.empty());
}

TEST(CollectMem, RejectsGarbageWithoutCrashing) {
  MemRoot m;
  m.add_file("proc/cpuinfo", std::string("\0\0:::\n\xff\xfe", 8));
  m.add_file("proc/self/mountinfo", "- - - -\n1 2 3\n");
  m.add_file("sys/class/infiniband/x/ports/1/state", "ACTIVE");
  m.add_file("sys/class/infiniband/x/ports/nope/state", "");
  m.add_link("sys/class/net/eth0", "/../../../../etc");
  m.add_link("sys/bus/pci/devices/0000:00:00.0", "0000:00:00.0");  // self loop
  Facts f = collect(m);
  nlohmann::json j = f;
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  EXPECT_FALSE(s.empty());
  ASSERT_TRUE(f.pci.ok());
  EXPECT_EQ((*f.pci.value)[0].vendor.error, "ELOOP");
  ASSERT_TRUE(f.rdma.ok());
  EXPECT_EQ((*f.rdma.value)[0].ports.value->size(), 1u);
}

TEST(HwlocFixture, ConnectX3FdrNvmeAndTwoNumaNodes) {
  Facts f = probe_fixture("32em64t-2n8c+dax+nvme+mic+dimms");
  ASSERT_TRUE(f.pci.ok()) << f.pci.error;
  EXPECT_EQ(f.pci.value->size(), 137u);
  ASSERT_TRUE(f.rdma.ok()) << f.rdma.error;
  auto it = std::find_if(f.rdma.value->begin(), f.rdma.value->end(),
                         [](const RdmaDevice& d) { return d.name == "mlx4_0"; });
  ASSERT_NE(it, f.rdma.value->end());
  EXPECT_EQ(*it->pci_bdf.value, "0000:82:00.0");
  ASSERT_TRUE(it->ports.ok());
  const RdmaPort& port = it->ports.value->at(0);
  EXPECT_EQ(port.port, 1);
  EXPECT_EQ(*port.state.value, "4: ACTIVE");
  EXPECT_EQ(port.active, true);
  EXPECT_EQ(*port.rate.value, "56 Gb/sec (4X FDR)");
  EXPECT_EQ(port.rate_gbps, 56.0);
  EXPECT_EQ(*port.link_layer.value, "InfiniBand");
  const PciDevice* hca = find_pci(f, "0000:82:00.0");
  ASSERT_NE(hca, nullptr);
  EXPECT_EQ(*hca->vendor.value, "15b3");
  EXPECT_EQ(*hca->device.value, "1003");
  ASSERT_TRUE(f.block.ok());
  auto nvme = std::find_if(f.block.value->begin(), f.block.value->end(),
                           [](const BlockDevice& b) { return b.name == "nvme0n1"; });
  ASSERT_NE(nvme, f.block.value->end());
  // hwloc: Size 390711384KiB = 373 GiB.
  EXPECT_EQ(*nvme->size_bytes.value, 390711384ull * 1024);
  EXPECT_EQ((*nvme->size_bytes.value + (1ull << 29)) >> 30, 373u);
  EXPECT_EQ(*nvme->pci_bdf.value, "0000:00:02.0");
  EXPECT_EQ(*find_pci(f, "0000:00:02.0")->numa_node.value, -1);
  ASSERT_TRUE(f.cpu_memory.numa_nodes.ok());
  EXPECT_EQ(f.cpu_memory.numa_nodes.value->size(), 2u);
  ASSERT_EQ(f.accelerators.size(), 1u);  // the Xeon Phi
  EXPECT_EQ(f.accelerators[0].family, "Xeon Phi");
  EXPECT_TRUE(f.gpus.ok() && f.gpus.value->empty());
}

TEST(HwlocFixture, EightVectorEnginesConnectX4AndDegradedI40e) {
  Facts f = probe_fixture("32intel64-2p8co2t+8ve");
  ASSERT_TRUE(f.pci.ok());
  int ve = 0;
  for (const auto& a : f.accelerators) ve += a.vendor == "nec" && a.vendor_id == "1bcf";
  EXPECT_EQ(ve, 8);
  int cx4 = 0;
  for (const auto& p : *f.pci.value) {
    if (p.vendor.ok() && *p.vendor.value == "15b3" && *p.device.value == "1013") {
      ++cx4;
      EXPECT_EQ(*p.driver.value, "mlx5_core");
      EXPECT_EQ(*p.class_code.value, "020700");
      // Behind a PLX switch: an upstream bridge is a 10b5 device.
      bool plx = false;
      for (const auto& up : p.upstream) {
        const PciDevice* b = find_pci(f, up);
        plx |= b && b->vendor.ok() && *b->vendor.value == "10b5";
      }
      EXPECT_TRUE(plx) << p.bdf;
    }
  }
  EXPECT_EQ(cx4, 2);
  const PciDevice* nic = find_pci(f, "0000:60:00.0");
  ASSERT_NE(nic, nullptr);
  EXPECT_EQ(*nic->driver.value, "i40e");
  EXPECT_EQ(*nic->link.current_speed.value, "2.5 GT/s");
  EXPECT_EQ(*nic->link.max_speed.value, "8 GT/s");
  EXPECT_EQ(*nic->link.current_width.value, 1u);
  EXPECT_EQ(nic->link.degraded, true);
  const PciDevice* ve0 = find_pci(f, "0000:1b:00.0");
  ASSERT_NE(ve0, nullptr);
  EXPECT_EQ(ve0->link.degraded, false);
  EXPECT_EQ(f.rdma.error, "ENOENT");  // no /sys/class/infiniband in this capture
  EXPECT_EQ(f.cpu_memory.numa_nodes.value->size(), 2u);
}

TEST(HwlocFixture, SixV100FoundThroughProcDriverNvidia) {
  Facts f = probe_fixture("nvidiagpunumanodes");
  ASSERT_TRUE(f.gpus.ok());
  ASSERT_EQ(f.gpus.value->size(), 6u);
  for (const auto& g : *f.gpus.value) {
    EXPECT_EQ(g.vendor, "nvidia");
    EXPECT_EQ(g.found_by, "procfs");
    EXPECT_EQ(g.device_id.error, "ENOENT");  // PCI folder lacks the vendor/device files
  }
  EXPECT_EQ((*f.gpus.value)[0].bdf, "0004:05:00.0");
  EXPECT_EQ(f.gpu_driver.nvidia_version.error, "ENOENT");
}

TEST(HwlocFixture, ThirtyTwoBitPciDomain) {
  Facts f = probe_fixture("2pa-pcidomain32bits");
  const PciDevice* p = find_pci(f, "10000:00:04.0");
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(f.block.ok());
  auto vda = std::find_if(f.block.value->begin(), f.block.value->end(),
                          [](const BlockDevice& b) { return b.name == "vda"; });
  ASSERT_NE(vda, f.block.value->end());
  EXPECT_EQ(*vda->pci_bdf.value, "10000:00:04.0");
  EXPECT_EQ(f.host.virtualization, "kvm");
  EXPECT_TRUE(f.gpus.value->empty());  // the Cirrus VGA is not a compute GPU
}

TEST(HwlocFixture, Aarch64WithoutIo) {
  Facts f = probe_fixture("128arm-2pa2n8cluster4co");
  EXPECT_EQ(f.pci.error, "ENOENT");
  EXPECT_TRUE(f.gpus.ok() && f.gpus.value->empty());
  EXPECT_EQ(f.net.error, "ENOENT");
  EXPECT_EQ(f.block.error, "ENOENT");
  EXPECT_EQ(f.cpu_memory.numa_nodes.value->size(), 4u);
  nlohmann::json j = f;
  EXPECT_EQ(j["pci"]["error"], "ENOENT");
}

}  // namespace
}  // namespace airlock::probes
