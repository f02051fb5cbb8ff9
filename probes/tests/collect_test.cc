// Collector tests: MemRoot trees for error reporting and synthetic devices, and the real
// hwloc captures (tests/fixtures/nodes/hwloc, unpacked into the build dir) checked against what
// hwloc's own lstopo output confirms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "common/system_root.h"
#include "probes/collect.h"
#include "probes/parse.h"

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

// A PCIe function at sys/devices/<path> (path from the root complex down, e.g.
// "pci0000:00/0000:00:01.0/0000:01:00.0") with its link values.
void add_chain_dev(MemRoot& m, const std::string& path, const std::string& cls,
                   const std::string& cur_speed, int cur_width, const std::string& max_speed,
                   int max_width) {
  std::string d = "sys/devices/" + path;
  std::string bdf = path.substr(path.rfind('/') + 1);
  m.add_file(d + "/vendor", "0x1000\n");
  m.add_file(d + "/device", "0xc030\n");
  m.add_file(d + "/class", "0x" + cls + "\n");
  m.add_file(d + "/current_link_speed", cur_speed + "\n");
  m.add_file(d + "/max_link_speed", max_speed + "\n");
  m.add_file(d + "/current_link_width", std::to_string(cur_width) + "\n");
  m.add_file(d + "/max_link_width", std::to_string(max_width) + "\n");
  m.add_link("sys/bus/pci/devices/" + bdf, "../../../devices/" + path);
}

// Per-hop link data: a Gen5 NIC in a Gen4 slot is at its best (the endpoint's own view calls it
// degraded), and a switch uplink trained at x8 is found although every endpoint below is fine.
TEST(CollectMem, UpstreamLinksJudgeEachHopAgainstBothEnds) {
  MemRoot m;
  const std::string g4 = "16.0 GT/s PCIe", g5 = "32.0 GT/s PCIe";
  // Root port 00:01.0 (Gen4 slot) -> Gen5 NIC at Gen4 x16.
  add_chain_dev(m, "pci0000:00/0000:00:01.0", "060400", g4, 16, g4, 16);
  add_chain_dev(m, "pci0000:00/0000:00:01.0/0000:01:00.0", "020700", g4, 16, g5, 16);
  // Root port 00:02.0 -> switch upstream port 02:00.0 (uplink trained x8 of x16) -> downstream
  // port 03:00.0 -> GPU 04:00.0 at Gen5 x16.
  const std::string rp = "pci0000:00/0000:00:02.0", usp = rp + "/0000:02:00.0",
                    dsp = usp + "/0000:03:00.0", gpu = dsp + "/0000:04:00.0";
  add_chain_dev(m, rp, "060400", g5, 8, g5, 16);
  add_chain_dev(m, usp, "060400", g5, 8, g5, 16);
  add_chain_dev(m, dsp, "060400", g5, 16, g5, 16);
  add_chain_dev(m, gpu, "030200", g5, 16, g5, 16);
  Facts f = collect(m);
  const PciDevice* nic = find_pci(f, "0000:01:00.0");
  ASSERT_NE(nic, nullptr);
  EXPECT_EQ(nic->link.speed_degraded, true);  // the endpoint alone: 16 < 32
  ASSERT_EQ(nic->upstream_links.size(), 1u);
  const PciHop& h = nic->upstream_links[0];
  EXPECT_EQ(h.upstream_bdf, "0000:00:01.0");
  EXPECT_EQ(h.downstream_bdf, "0000:01:00.0");
  EXPECT_FALSE(h.switch_internal);
  EXPECT_EQ(*h.link.max_speed.value, g4);  // the slot's maximum is the lower one
  EXPECT_EQ(h.link.speed_degraded, false);
  EXPECT_EQ(h.link.degraded, false);

  const PciDevice* g = find_pci(f, "0000:04:00.0");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->link.degraded, false);
  ASSERT_EQ(g->upstream_links.size(), 3u);
  const auto& hops = g->upstream_links;
  EXPECT_EQ(hops[0].upstream_bdf, "0000:00:02.0");
  EXPECT_EQ(hops[0].downstream_bdf, "0000:02:00.0");
  EXPECT_EQ(hops[0].link.width_degraded, true);
  EXPECT_EQ(hops[0].link.degraded, true);
  EXPECT_EQ(*hops[0].link.current_width.value, 8u);
  EXPECT_TRUE(hops[1].switch_internal);
  EXPECT_EQ(hops[1].upstream_bdf, "0000:02:00.0");
  EXPECT_EQ(hops[1].downstream_bdf, "0000:03:00.0");
  EXPECT_EQ(hops[2].link.degraded, false);
  nlohmann::json j = *g;
  EXPECT_EQ(j["upstream_links"][0]["kind"], "link");
  EXPECT_EQ(j["upstream_links"][0]["degraded"], true);
  EXPECT_EQ(j["upstream_links"][1], (nlohmann::json{{"kind", "switch-internal"},
                                                    {"upstream_bdf", "0000:02:00.0"},
                                                    {"downstream_bdf", "0000:03:00.0"}}));
  // Unreadable maxima leave the hop's flags out, with the reason in max_*.
  MemRoot m2;
  add_chain_dev(m2, "pci0000:00/0000:00:01.0", "060400", g4, 16, g4, 16);
  add_chain_dev(m2, "pci0000:00/0000:00:01.0/0000:01:00.0", "020700", g4, 16, g5, 16);
  m2.set_error("sys/devices/pci0000:00/0000:00:01.0/max_link_speed", EACCES);
  Facts f2 = collect(m2);
  const PciHop& h2 = find_pci(f2, "0000:01:00.0")->upstream_links.at(0);
  EXPECT_EQ(h2.link.max_speed.error, "EACCES");
  EXPECT_EQ(h2.link.speed_degraded, std::nullopt);
  EXPECT_EQ(h2.link.degraded, std::nullopt);
}

// A MemRoot GPU node with nvidia-smi present (and a fake runner standing in for the program).
void smi_node(MemRoot& m) {
  add_pci(m, "0000:01:00.0", "10de", "2330", "030200", "nvidia", "32.0 GT/s PCIe", 16,
          "32.0 GT/s PCIe", 16);
  m.add_file("usr/bin/nvidia-smi", "");
}

const char* kSmiRow =
    "0, 00000000:01:00.0, NVIDIA H100 80GB HBM3, GPU-aaaa, 1652823014410, 96.00.99.00.01, "
    "550.90.07, 81559, 700.00, 31, 0, 0x0000000000000001\n"
    "1, 00000000:02:00.0, NVIDIA H100 80GB HBM3, GPU-bbbb, 1652823014411, 96.00.99.00.01, "
    "550.90.07, 81559, 700.00, 33, 0, 0x0000000000000001\n";

TEST(CollectNvidiaSmi, RunsWhenPresentAndMergesByBusId) {
  MemRoot m;
  smi_node(m);
  std::vector<std::vector<std::string>> calls;
  CollectOptions o;
  o.run_command = [&](const std::vector<std::string>& argv, std::chrono::milliseconds t)
      -> Result<ProcessResult> {
    calls.push_back(argv);
    EXPECT_LE(t.count(), 10000);
    ProcessResult r;
    r.exit_code = 0;
    r.out = kSmiRow;
    return r;
  };
  std::map<std::string, std::string> outputs;
  o.command_outputs = &outputs;
  Facts f = collect(m, o);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], (std::vector<std::string>{"usr/bin/nvidia-smi",
                                                std::string("--query-gpu=") + kNvidiaSmiFields,
                                                "--format=csv,noheader,nounits"}));
  ASSERT_TRUE(f.nvidia_smi.ok()) << f.nvidia_smi.error;
  EXPECT_EQ(f.nvidia_smi.value->path, "usr/bin/nvidia-smi");
  EXPECT_EQ(f.nvidia_smi.value->gpu_count, 2u);
  ASSERT_EQ(f.gpus.value->size(), 2u);
  const Gpu& a = f.gpus.value->at(0);
  EXPECT_EQ(a.bdf, "0000:01:00.0");
  EXPECT_EQ(a.found_by, "pci");
  ASSERT_TRUE(a.nvidia_smi);
  EXPECT_EQ(*a.nvidia_smi->temperature_c.value, 31);
  EXPECT_EQ(*a.model.value, "NVIDIA H100 80GB HBM3");  // no procfs: nvidia-smi names it
  EXPECT_EQ(a.model_source, "nvidia-smi");
  EXPECT_EQ(*a.uuid.value, "GPU-aaaa");
  const Gpu& b = f.gpus.value->at(1);  // only nvidia-smi sees it
  EXPECT_EQ(b.bdf, "0000:02:00.0");
  EXPECT_EQ(b.found_by, "nvidia-smi");
  EXPECT_EQ(b.device_id.error, "no PCI device");
  EXPECT_EQ(outputs, (std::map<std::string, std::string>{{"nvidia-smi.csv", kSmiRow}}));
}

TEST(CollectNvidiaSmi, ReasonsWhenAbsentFailingTimedOutOrNotCaptured) {
  CollectOptions o;
  bool ran = false;
  o.run_command = [&](const std::vector<std::string>&, std::chrono::milliseconds)
      -> Result<ProcessResult> {
    ran = true;
    return ProcessResult{};
  };
  MemRoot bare;
  add_pci(bare, "0000:01:00.0", "10de", "2330", "030200", "nvidia", "32.0 GT/s PCIe", 16,
          "32.0 GT/s PCIe", 16);
  Facts f = collect(bare, o);
  EXPECT_EQ(f.nvidia_smi.error, "not present");
  EXPECT_FALSE(ran);
  EXPECT_EQ(nlohmann::json(f)["nvidia_smi"], (nlohmann::json{{"error", "not present"}}));

  // Timed out; the reason is kept for a capture too.
  MemRoot m;
  smi_node(m);
  std::map<std::string, std::string> outputs;
  o.command_outputs = &outputs;
  o.run_command = [&](const std::vector<std::string>&, std::chrono::milliseconds)
      -> Result<ProcessResult> {
    ProcessResult r;
    r.timed_out = true;
    r.exit_code = 137;
    return r;
  };
  f = collect(m, o);
  EXPECT_EQ(f.nvidia_smi.error, "timeout");
  EXPECT_FALSE(f.gpus.value->at(0).nvidia_smi);
  EXPECT_EQ(outputs["nvidia-smi.error"], "timeout\n");

  // The driver is not loaded: nvidia-smi's own message.
  int runs = 0;
  o.run_command = [&](const std::vector<std::string>&, std::chrono::milliseconds)
      -> Result<ProcessResult> {
    ++runs;
    ProcessResult r;
    r.exit_code = 9;
    r.out = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n";
    return r;
  };
  f = collect(m, o);
  EXPECT_EQ(f.nvidia_smi.error,
            "exit 9: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.");
  EXPECT_EQ(runs, 1);

  // A driver that does not know clocks_throttle_reasons: asked again with the new spelling.
  std::vector<std::string> queries;
  o.run_command = [&](const std::vector<std::string>& argv, std::chrono::milliseconds)
      -> Result<ProcessResult> {
    queries.push_back(argv.at(1));
    ProcessResult r;
    if (argv.at(1).find("clocks_throttle_reasons") != std::string::npos) {
      r.exit_code = 2;
      r.out = "Field \"clocks_throttle_reasons.active\" is not a valid field to query.\n";
    } else {
      r.exit_code = 0;
      r.out = kSmiRow;
    }
    return r;
  };
  f = collect(m, o);
  ASSERT_TRUE(f.nvidia_smi.ok()) << f.nvidia_smi.error;
  EXPECT_EQ(queries, (std::vector<std::string>{std::string("--query-gpu=") + kNvidiaSmiFields,
                                               std::string("--query-gpu=") + kNvidiaSmiFieldsNew}));

  // No runner (a --root tree): nothing runs; the captured output or "not captured".
  CollectOptions replay;
  f = collect(m, replay);
  EXPECT_EQ(f.nvidia_smi.error, "not captured");
  m.add_file("airlock-capture/commands/nvidia-smi.error", "timeout\n");
  EXPECT_EQ(collect(m, replay).nvidia_smi.error, "timeout");
  m.add_file("airlock-capture/commands/nvidia-smi.csv", kSmiRow);
  f = collect(m, replay);
  ASSERT_TRUE(f.nvidia_smi.ok());
  EXPECT_EQ(f.nvidia_smi.value->gpu_count, 2u);
}

// The real runner: kills a hung program at the timeout.
TEST(CollectNvidiaSmi, SystemRunnerTimesOut) {
  auto run = system_command_runner("/");
  auto t0 = std::chrono::steady_clock::now();
  auto r = run({"bin/sleep", "10"}, std::chrono::milliseconds(300));
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(took, std::chrono::seconds(3));
  auto missing = run({"nonexistent/nvidia-smi"}, std::chrono::milliseconds(300));
  EXPECT_FALSE(missing.ok());
}

TEST(CollectMem, BuiltinModulesContainerConfigGidNdevsSriovAer) {
  MemRoot m;
  m.add_file("proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
  m.add_file("lib/modules/6.1.0-18-amd64/modules.builtin", "kernel/drivers/nvme/host/nvme-core.ko\n");
  m.add_file("etc/docker/daemon.json", R"({"runtimes": {"nvidia": {"path": "x"}}})");
  m.add_file("etc/cdi/nvidia.yaml", "cdiVersion: 0.5.0\n");
  m.add_dir("var/run/cdi");
  m.set_error("etc/containerd/config.toml", EACCES);
  std::string d = "sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0";
  add_pci(m, "0000:01:00.0", "15b3", "1017", "020000", "mlx5_core", "8.0 GT/s PCIe", 16,
          "8.0 GT/s PCIe", 16);
  m.add_file(d + "/sriov_totalvfs", "8\n");
  m.add_file(d + "/sriov_numvfs", "2\n");
  m.add_link(d + "/iommu_group", "../../../../kernel/iommu_groups/17");
  m.add_dir("sys/kernel/iommu_groups/17");
  m.add_file(d + "/aer_dev_correctable", "RxErr 1\nTOTAL_ERR_COR 1\n");
  m.add_file(d + "/aer_dev_fatal", "garbage\n");
  std::string ib = d + "/infiniband/mlx5_0";
  m.add_link("sys/class/infiniband/mlx5_0", "../../devices/pci0000:00/0000:00:01.0/0000:01:00.0/infiniband/mlx5_0");
  m.add_link(ib + "/device", "../../../0000:01:00.0");
  m.add_file(ib + "/ports/1/state", "4: ACTIVE\n");
  m.add_file(ib + "/ports/1/gid_attrs/ndevs/0", "ens1f0np0\n");
  m.add_file(ib + "/ports/1/gid_attrs/ndevs/1", "ens1f0np0\n");
  m.add_file(ib + "/ports/1/gid_attrs/ndevs/2", "");
  m.set_error(ib + "/ports/1/gid_attrs/ndevs/2", EINVAL);
  Facts f = collect(m);
  EXPECT_EQ(*f.host.modules_builtin.value, std::vector<std::string>{"nvme_core"});
  EXPECT_EQ(*f.container_config.docker_nvidia_runtime.value, true);
  EXPECT_EQ(*f.container_config.docker_default_runtime.value, "runc");
  EXPECT_EQ(f.container_config.containerd_nvidia_runtime.error, "EACCES");
  EXPECT_EQ(*f.container_config.cdi_specs.at("etc/cdi").value, std::vector<std::string>{"nvidia.yaml"});
  EXPECT_TRUE(f.container_config.cdi_specs.at("var/run/cdi").value->empty());
  const PciDevice* p = find_pci(f, "0000:01:00.0");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p->sriov.total_vfs.value, 8u);
  EXPECT_EQ(*p->sriov.num_vfs.value, 2u);
  EXPECT_EQ(*p->iommu_group.value, "17");
  EXPECT_EQ(*p->aer.correctable.value, 1u);
  EXPECT_EQ(p->aer.nonfatal.error, "ENOENT");
  EXPECT_EQ(p->aer.fatal.error, "malformed: garbage");
  const RdmaPort& port = f.rdma.value->at(0).ports.value->at(0);
  EXPECT_EQ(*port.gid_ndevs.value,
            (std::map<std::string, std::string>{{"0", "ens1f0np0"}, {"1", "ens1f0np0"}}));
  MemRoot none;
  EXPECT_EQ(collect(none).host.modules_builtin.error, "no kernel release");
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
