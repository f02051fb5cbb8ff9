// Per-node built-in checks: for each, a fixture that makes it fail with the exact finding
// (real where one exists: the hwloc capture's i40e at 2.5 GT/s, the synthetic degraded H100
// link, nouveau, an IB port in INIT; otherwise an expected facts JSON mutated here), and the
// clean fixtures passing.
#include <gtest/gtest.h>

#include "installer/validate/tests/test_facts.h"

namespace airlock::validate::test {
namespace {

json& by(json& list, const char* key, const std::string& value) {
  for (auto& x : list) {
    if (x.is_object() && x.value(key, std::string()) == value) return x;
  }
  ADD_FAILURE() << "no " << key << " = " << value;
  return list[0];
}
json& pci(json& f, const std::string& bdf) { return by(f["pci"], "bdf", bdf); }
json& gpu(json& f, const std::string& bdf) { return by(f["gpus"], "bdf", bdf); }
json& hca(json& f, const std::string& name) { return by(f["rdma"], "name", name); }

// The one finding of `check` on node "n", asserting there is exactly one.
Finding one(const Report& r, const std::string& check) {
  auto fs = findings(r, "n", check);
  EXPECT_EQ(fs.size(), 1u) << dump(r, "n");
  return fs.empty() ? Finding{} : fs[0];
}

Report run1(const json& f, const std::string& yaml = "") {
  return run({{"n", f}}, yaml.empty() ? builtin_rules() : rules(yaml));
}

TEST(CleanFixtures, PassWithTheBuiltInRules) {
  for (const char* name : {"h100-8x-ndr", "furiosa-rngd", "gaudi2", "rebellions-atom"}) {
    auto r = run({{name, synthetic(name)}});
    EXPECT_EQ(r.exit_code(), 0) << name << "\n" << dump(r, name);
    for (const auto& f : node(r, name).findings) EXPECT_EQ(f.severity, Severity::kInfo) << name << ": " << f.message;
    EXPECT_TRUE(passed(r, name, "pcie.link.width_degraded")) << name;
    EXPECT_TRUE(passed(r, name, "kernel.module.missing")) << name;
  }
}

TEST(Pcie, DegradedH100LinkPerHop) {
  auto r = run1(synthetic("h100-degraded-link"));
  Finding w = one(r, "pcie.link.width_degraded");
  EXPECT_EQ(w.subject, "0000:5c:00.0");
  EXPECT_EQ(w.message, "PCIe link 0000:5b:00.0 -> 0000:5c:00.0 (NVIDIA GPU 10de:2330 (nvidia)) trained at x8, capable of x16");
  ASSERT_EQ(w.evidence.size(), 2u);
  EXPECT_EQ(w.evidence[0].path, "pci[0000:5c:00.0].upstream_links[2].current_width");
  EXPECT_EQ(w.evidence[0].value, 8);
  EXPECT_EQ(w.evidence[1].value, 16);
  // An idle GPU's speed is only a warning.
  Finding s = one(r, "pcie.link.gpu_speed_low");
  EXPECT_EQ(s.severity, Severity::kWarn);
  EXPECT_EQ(s.message, "PCIe link 0000:5b:00.0 -> 0000:5c:00.0 (NVIDIA GPU 10de:2330 (nvidia)) at 16.0 GT/s PCIe, capable of "
                       "32.0 GT/s PCIe (idle GPUs down-train: confirm under load)");
  EXPECT_TRUE(findings(r, "n", "pcie.link.speed_degraded").empty());
  EXPECT_EQ(r.exit_code(), 2);
}

TEST(Pcie, RealCaptureI40eAt2_5GTs) {
  auto r = run1(hwloc("32intel64-2p8co2t+8ve"));
  auto fs = findings(r, "n", "pcie.link.speed_degraded");
  ASSERT_EQ(fs.size(), 2u) << dump(r, "n");
  EXPECT_EQ(fs[0].subject, "0000:60:00.0");
  EXPECT_EQ(fs[0].message, "PCIe link 0000:5f:03.0 -> 0000:60:00.0 (NIC 8086:37d2 (i40e)) at 2.5 GT/s, capable of 8 GT/s");
  EXPECT_EQ(fs[0].evidence[0].path, "pci[0000:60:00.0].link.current_speed");
  EXPECT_EQ(fs[0].evidence[0].value, "2.5 GT/s");
  // Its bridge is missing from the capture: said, not silently passed.
  EXPECT_NE(not_checked(r, "n", "pcie.link.speed_degraded").find("upstream_links[2].current_width: no PCI device"), std::string::npos);
}

TEST(Pcie, SwitchUplinkDegradedIsReportedOnceAndIgnorable) {
  json f = synthetic("h100-8x-ndr");
  // The uplink 0000:59:01.0 -> 0000:5a:00.0 is shared by GPU 5c and HCA 5d.
  for (const char* dev : {"0000:5c:00.0", "0000:5d:00.0"}) {
    for (auto& h : pci(f, dev)["upstream_links"]) {
      if (h["downstream_bdf"] == "0000:5a:00.0") h["current_width"] = 4;
    }
  }
  auto r = run1(f);
  Finding w = one(r, "pcie.link.width_degraded");
  EXPECT_EQ(w.subject, "0000:5a:00.0");
  EXPECT_EQ(w.message, "PCIe link 0000:59:01.0 -> 0000:5a:00.0 (bridge 1000:c030 (pcieport)) trained at x4, capable of x16");
  auto ok = run1(f, "profiles:\n  - name: p\n    pcie: {ignore_bdfs: ['0000:5c:00.0', '0000:5d:00.0']}\n");
  EXPECT_TRUE(findings(ok, "n", "pcie.link.width_degraded").empty()) << dump(ok, "n");
}

TEST(Pcie, HostLimitedSlotIsInfo) {
  json f = synthetic("h100-8x-ndr");
  auto& hop = pci(f, "0000:18:00.0")["upstream_links"].back();
  hop["max_speed"] = "16.0 GT/s PCIe";
  hop["current_speed"] = "16.0 GT/s PCIe";
  Finding i = one(run1(f), "pcie.link.host_limited");
  EXPECT_EQ(i.severity, Severity::kInfo);
  EXPECT_EQ(i.message, "NVIDIA GPU 10de:2330 (nvidia) capable of 32.0 GT/s PCIe x16, its slot of 16.0 GT/s PCIe x16");
}

TEST(Pcie, AerIommuNumaAcs) {
  json f = synthetic("h100-8x-ndr");
  pci(f, "0000:5c:00.0")["aer"]["nonfatal"] = 2;
  pci(f, "0000:19:00.0")["numa_node"] = -1;
  f["host"]["cmdline"] = "BOOT_IMAGE=/vmlinuz ro intel_iommu=on";
  pci(f, "0000:5b:00.0")["acs_ctl"] = "SrcValid+ TransBlk- ReqRedir+ CmpltRedir+ UpstreamFwd+";
  auto r = run1(f);
  auto aer = findings(r, "n", "pcie.aer.errors");
  ASSERT_EQ(aer.size(), 2u) << dump(r, "n");  // nonfatal (warn) first, then the recorded correctable (info)
  EXPECT_EQ(aer[0].message, "NVIDIA GPU 10de:2330 (nvidia): 2 nonfatal AER error(s)");
  EXPECT_EQ(aer[0].severity, Severity::kWarn);
  EXPECT_EQ(one(r, "pcie.numa.unknown").message, "HCA 15b3:1021 (mlx5_core) has no NUMA node on a 2-node host");
  Finding io = one(r, "pcie.iommu.mode");
  EXPECT_EQ(io.message, "IOMMU translating DMA without iommu=pt: GPUDirect RDMA is slow or fails");
  EXPECT_EQ(io.evidence[0].path, "host.cmdline");
  EXPECT_EQ(one(r, "pcie.acs.enabled").subject, "0000:5b:00.0");
}

TEST(Topology, GpuWithoutNicOnItsNumaNodeAndSnc) {
  json f = synthetic("h100-8x-ndr");
  for (const char* b : {"0000:9b:00.0", "0000:bb:00.0", "0000:cb:00.0", "0000:db:00.0"}) pci(f, b)["numa_node"] = 0;
  f["cpu_memory"]["numa_nodes"].push_back({{"id", 2}, {"cpulist", "x"}, {"mem_total_bytes", 1}});
  f["cpu_memory"]["numa_nodes"].push_back({{"id", 3}, {"cpulist", "y"}, {"mem_total_bytes", 1}});
  auto r = run1(f);
  auto fs = findings(r, "n", "topology.gpu_nic.affinity");
  ASSERT_EQ(fs.size(), 4u) << dump(r, "n");
  EXPECT_EQ(fs[0].subject, "0000:9a:00.0");
  EXPECT_EQ(fs[0].message, "GPU on NUMA node 1 has no RDMA NIC on that node");
  EXPECT_EQ(one(r, "topology.snc").message, "4 NUMA nodes on 2 socket(s): sub-NUMA clustering / NPS is on");
}

TEST(Gpu, NouveauBoundAndLoadedRealFixture) {
  auto r = run1(synthetic("nouveau"));
  auto fs = findings(r, "n", "gpu.nouveau");
  ASSERT_EQ(fs.size(), 5u) << dump(r, "n");
  EXPECT_EQ(fs[0].message, "bound to nouveau: blacklist it (modprobe.blacklist=nouveau) before the NVIDIA driver");
  EXPECT_EQ(fs[0].evidence[0].value, "nouveau");
  EXPECT_EQ(fs[4].message, "the nouveau module is loaded");
  // The same node has no NVIDIA toolkit and no nvidia module.
  auto rt = findings(r, "n", "container.gpu_runtime");
  ASSERT_EQ(rt.size(), 2u);
  EXPECT_EQ(rt[0].message, "NVIDIA Container Toolkit not installed (no nvidia-container-runtime, nvidia-ctk or nvidia-container-cli)");
  EXPECT_EQ(rt[1].message, "no container runtime knows the nvidia runtime and no CDI spec exists");
  auto mods = findings(r, "n", "kernel.module.missing");
  ASSERT_EQ(mods.size(), 2u);
  EXPECT_EQ(mods[0].message, "module nvidia is not loaded (host.modules_builtin: ENOENT: if it is built in, ignore this)");
  EXPECT_EQ(not_checked(r, "n", "gpu.driver.userspace_mismatch"), "tool absent: nvidia-smi not installed");
}

TEST(Gpu, CountsDriverAndHealth) {
  json f = synthetic("h100-8x-ndr");
  gpu(f, "0000:3a:00.0")["found_by"] = "pci";
  gpu(f, "0000:4b:00.0")["information"]["GPU Excluded"] = "Yes";
  f["nvidia_smi"]["gpu_count"] = 7;
  gpu(f, "0000:18:00.0")["nvidia_smi"]["driver_version"] = "550.54.15";
  gpu(f, "0000:18:00.0")["nvidia_smi"]["ecc_uncorrected_volatile"] = 3;
  gpu(f, "0000:18:00.0")["nvidia_smi"]["persistence_mode"] = "Disabled";
  gpu(f, "0000:18:00.0")["nvidia_smi"]["mig_mode_current"] = "Enabled";
  gpu(f, "0000:18:00.0")["nvlink"] = {{"0", "Up"}, {"1", "Down"}};
  f["dcgm_diag"] = {{"result", "fail"}};
  auto r = run1(f, "defaults:\n  mig: disabled\n");
  auto cnt = findings(r, "n", "gpu.count.mismatch");
  ASSERT_EQ(cnt.size(), 3u) << dump(r, "n");
  EXPECT_EQ(cnt[0].message, "GPU on PCI but not in /proc/driver/nvidia/gpus (driver did not take it)");
  EXPECT_EQ(cnt[1].message, "GPU excluded by the driver");
  EXPECT_EQ(cnt[2].message, "nvidia-smi lists 7 GPUs, PCI/driver show 8");
  EXPECT_EQ(one(r, "gpu.driver.userspace_mismatch").message,
            "nvidia-smi reports driver 550.54.15, the kernel module is 550.90.07 (Driver/library version mismatch)");
  EXPECT_EQ(one(r, "gpu.memory.health").message, "ecc_uncorrected_volatile = 3");
  EXPECT_EQ(one(r, "gpu.persistence_mode").message, "persistence mode Disabled");
  EXPECT_EQ(one(r, "gpu.mig.mode").message, "MIG Enabled, profile default wants Disabled");
  EXPECT_EQ(one(r, "gpu.nvlink.down").message, "NVLink 1 is Down");
  EXPECT_EQ(one(r, "gpu.dcgm_diag").message, "dcgmi diag: fail");
}

TEST(Gpu, FabricManagerAndUnboundAccelerator) {
  json f = synthetic("h100-8x-ndr");
  f["pci"].push_back({{"bdf", "0000:05:00.0"}, {"class", "068000"}, {"vendor", "10de"}, {"device", "22a3"}});
  f["services"] = {{"nvidia-fabricmanager", "inactive"}};
  EXPECT_EQ(one(run1(f), "gpu.fabric_manager").message, "nvidia-fabricmanager is inactive");
  json a = synthetic("rebellions-atom");
  a["accelerators"][0]["driver"] = {{"error", "ENOENT"}};
  Finding u = one(run1(a), "accel.driver.unbound");
  EXPECT_EQ(u.message, "no driver bound (ENOENT)");
  EXPECT_EQ(u.evidence[0].path, "accelerators[" + a["accelerators"][0]["bdf"].get<std::string>() + "].driver");
}

TEST(Accelerators, CountModelAndHeterogeneity) {
  json f = synthetic("h100-8x-ndr");
  auto r = run1(f, "profiles:\n  - name: a100\n    accelerators: {vendor: nvidia, model: 'NVIDIA A100*', count: 4}\n");
  EXPECT_EQ(one(r, "accel.count").message, "8 nvidia accelerators found, profile a100 expects 4");
  EXPECT_EQ(findings(r, "n", "accel.model").size(), 8u);
  EXPECT_EQ(findings(r, "n", "accel.model")[0].message, "model NVIDIA H100 80GB HBM3, profile a100 expects NVIDIA A100*");
  gpu(f, "0000:18:00.0")["model"] = "NVIDIA H100 PCIe";
  EXPECT_EQ(one(run1(f), "accel.model.heterogeneous").message, "2 accelerator models in one node");
  json n = synthetic("h100-8x-ndr");
  pci(n, "0000:19:00.0")["device"] = "020b";
  EXPECT_EQ(one(run1(n), "nic.flash_recovery").message, "Mellanox device in flash-recovery mode (15b3:020b): reflash its firmware");
}

TEST(Rdma, PortInInitRealFixture) {
  auto r = run1(synthetic("ib-port-init"));
  Finding p = one(r, "rdma.port.not_active");
  EXPECT_EQ(p.subject, "mlx5_5/1");
  EXPECT_EQ(p.message, "port mlx5_5/1 is 2: INIT / 5: LinkUp: no subnet manager has configured it (INIT)");
  EXPECT_EQ(p.evidence[0].path, "rdma[mlx5_5].ports[0].state");
  EXPECT_EQ(p.evidence[0].value, "2: INIT");
  EXPECT_EQ(one(r, "rdma.counters.errors").message, "port mlx5_5/1 link_downed = 1");
  EXPECT_EQ(not_checked(r, "n", "gpu.count.mismatch"), "nvidia-smi count: nvidia-smi: timeout");
}

TEST(Rdma, CountRateLayerRoceGdr) {
  json f = synthetic("h100-8x-ndr");
  auto& port = hca(f, "mlx5_3")["ports"][0];
  port["rate_gbps"] = 200;
  port["rate"] = "200 Gb/sec (4X HDR)";
  auto r = run1(f, "profiles:\n  - name: p\n    rdma: {hca_count: 4, link_layer: Ethernet}\n");
  EXPECT_EQ(one(r, "rdma.hca.count").message, "8 HCA(s) found, profile p expects 4");
  EXPECT_EQ(one(r, "rdma.port.rate_low").message, "port mlx5_3/1 at 200 Gb/sec (4X HDR), the node's other ports run at 400 Gb/s");
  EXPECT_EQ(findings(r, "n", "rdma.port.link_layer").size(), 8u);
  EXPECT_EQ(findings(r, "n", "rdma.port.link_layer")[0].message, "port mlx5_0/1 is InfiniBand, profile p expects Ethernet");
  auto floor = run1(f, "profiles:\n  - name: p\n    rdma: {min_rate_gbps: 400}\n");
  EXPECT_EQ(one(floor, "rdma.port.rate_low").message, "port mlx5_3/1 at 200 Gb/sec (4X HDR), profile p expects 400 Gb/s");

  json e = synthetic("h100-8x-ndr");
  auto& rp = hca(e, "mlx5_0")["ports"][0];
  rp["link_layer"] = "Ethernet";
  rp["gid_types"] = {{"IB/RoCE v1", 2}};
  rp["gid_ndevs"] = {{"0", "eno1np0"}};
  e["gpudirect_rdma"]["ready"] = false;
  e["gpudirect_rdma"]["nvidia_peermem_loaded"] = false;
  auto re = run1(e);
  auto roce = findings(re, "n", "rdma.roce.config");
  ASSERT_EQ(roce.size(), 2u) << dump(re, "n");
  EXPECT_EQ(roce[0].message, "port mlx5_0/1 has no RoCE v2 GID");
  EXPECT_EQ(roce[1].message, "RoCE netdev eno1np0 has MTU 1500 (jumbo frames, 9000, expected)");
  EXPECT_EQ(one(re, "rdma.gpudirect.not_ready").message, "nvidia_peermem is not loaded: GPUDirect RDMA unavailable");

  json none = synthetic("nouveau");
  EXPECT_EQ(one(run1(none, "defaults:\n  rdma: {hca_count: 1}\n"), "rdma.hca.count").message,
            "0 HCA(s) found, profile default expects 1");
}

TEST(Host, ProfileRequirements) {
  json f = synthetic("h100-8x-ndr");
  f["host"]["virtualization"] = "kvm";
  f["cpu_memory"]["swap_total_bytes"] = 8589934592;
  f["cpu_memory"]["scaling_governor"] = "powersave";
  f["host"]["kernel_headers"] = false;
  f["device_nodes"] = {"/dev/nvidia0", "/dev/nvidia-uvm"};
  f["host"]["modules"].erase(std::find(f["host"]["modules"].begin(), f["host"]["modules"].end(), "nvidia_uvm"));
  auto r = run1(f, R"(defaults:
  virtualization: none
  os: {id: [rhel], version_id: ["9.*"]}
  kernel: {min: "6.1"}
  cpu: {min_logical: 256, min_per_accelerator: 32}
  memory: {min: 4TiB}
  hugepages: {2MiB: 1024}
  swap: off
  cgroup: v1
  device_nodes: [/dev/nvidiactl, "/dev/nvidia[0-9]*"]
  modules: [nvidia_peermem, ip_vs]
)");
  EXPECT_EQ(one(r, "host.virtualization").message, "virtual machine (kvm)");
  EXPECT_EQ(one(r, "host.virtualization.unexpected").message, "virtualization kvm, profile default allows none");
  EXPECT_EQ(one(r, "os.unsupported").message, "OS ubuntu 22.04 not allowed by profile default (rhel 9.*)");
  EXPECT_EQ(one(r, "kernel.unsupported").message, "kernel 5.15.0-113-generic is older than 6.1 (profile default)");
  auto cpu = findings(r, "n", "host.cpu.min");
  ASSERT_EQ(cpu.size(), 2u);
  EXPECT_EQ(cpu[0].message, "224 logical CPUs, profile default needs 256");
  EXPECT_EQ(cpu[1].message, "224 logical CPUs for 8 accelerators, profile default needs 256");
  EXPECT_EQ(one(r, "host.memory.min").message, "2.0 TiB RAM, profile default needs 4TiB");
  EXPECT_EQ(one(r, "host.hugepages").message, "0 hugepages of 2.0 MiB, profile default needs 1024");
  EXPECT_EQ(one(r, "host.swap").message, "swap is on (8.0 GiB), profile default wants it off");
  EXPECT_EQ(one(r, "host.cgroup").message, "cgroup v2, profile default needs v1");
  EXPECT_EQ(one(r, "host.cpu.governor").message, "CPU governor powersave (performance expected)");
  EXPECT_EQ(one(r, "kernel.headers.missing").message, "no headers for the running kernel (DKMS drivers cannot build)");
  EXPECT_EQ(one(r, "host.device_nodes").message, "no device node /dev/nvidiactl");
  auto mods = findings(r, "n", "kernel.module.missing");
  ASSERT_EQ(mods.size(), 2u) << dump(r, "n");
  EXPECT_EQ(mods[0].subject, "ip_vs");
  EXPECT_EQ(mods[1].message, "module nvidia_uvm is not loaded");
}

TEST(Storage, FreeMountsAndHungMounts) {
  json f = synthetic("h100-8x-ndr");
  by(f["mounts"], "mount_point", "/lustre/scratch")["space"] = {{"error", "timeout"}};
  auto r = run1(f, R"(defaults:
  free: {/: 4TiB, /var/lib/docker: 1GiB}
  free_inodes: {/home: 2000000000}
  mounts:
    - {path: /data, fs_type: nfs4}
    - {path: /home, fs_type: lustre}
)");
  auto free = findings(r, "n", "storage.free.low");
  ASSERT_EQ(free.size(), 2u) << dump(r, "n");
  EXPECT_EQ(free[0].message, "3.0 TiB available for /, profile default needs 4TiB");
  EXPECT_EQ(free[0].evidence[0].path, "mounts[/].space.available_bytes");
  EXPECT_EQ(free[1].message, "1600000000 inodes available for /home, profile default needs 2000000000");
  auto m = findings(r, "n", "storage.mount.missing");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].message, "/data is not mounted (nfs4 expected)");
  EXPECT_EQ(m[1].message, "/home is nfs4, profile default expects lustre");
  EXPECT_EQ(one(r, "storage.mount.unresponsive").message,
            "lustre mount /lustre/scratch (10.30.0.11@o2ib:10.30.0.12@o2ib:/scratch) did not answer statfs within 2 s");
  EXPECT_EQ(not_checked(r, "n", "storage.disk_perf"), "missing fact disk_perf (opt-in active test, not run)");
}

TEST(Facts, IncompleteMissingSchemaAndAbsentFacts) {
  json f = synthetic("gaudi2");
  f["errors"] = {"pci: timeout"};
  EXPECT_EQ(one(run1(f), "facts.incomplete").message, "the probe skipped or cut short 1 section(s): [\"pci: timeout\"]");
  json bad = {{"schema", "other/v9"}};
  EXPECT_EQ(one(run1(bad), "facts.invalid").message, "not airlock.facts/v1 facts (schema other/v9)");
  // A whole section missing: every check that reads it says so.
  json nopci = synthetic("h100-8x-ndr");
  nopci.erase("pci");
  auto r = run1(nopci);
  EXPECT_EQ(not_checked(r, "n", "pcie.link.width_degraded"), "missing fact pci");
  EXPECT_FALSE(passed(r, "n", "pcie.link.width_degraded"));
  json err = synthetic("h100-8x-ndr");
  err["rdma"] = {{"error", "EACCES"}};
  EXPECT_EQ(not_checked(run1(err), "n", "rdma.port.not_active"), "rdma: EACCES");
}

TEST(Ignore, RemovesTheCheckAndEnforceMakesWarningsBlock) {
  json f = synthetic("ib-port-init");
  Options o;
  o.ignore = {"rdma.port.not_active"};
  auto r = run({{"n", f}}, builtin_rules(), o);
  EXPECT_TRUE(findings(r, "n", "rdma.port.not_active").empty());
  EXPECT_EQ(r.exit_code(), 1);  // the link_downed counter is a warning
  o.enforce_warnings = true;
  EXPECT_EQ(run({{"n", f}}, builtin_rules(), o).exit_code(), 2);
}

}  // namespace
}  // namespace airlock::validate::test
