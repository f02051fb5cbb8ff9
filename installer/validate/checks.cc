// The built-in check catalog (see checks.h). Keep docs/validate.md in step with this table.
#include "installer/validate/checks.h"

namespace airlock::validate {

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::kInfo: return "info";
    case Severity::kWarn: return "warn";
    case Severity::kFail: return "fail";
  }
  return "fail";
}

namespace {
constexpr Severity F = Severity::kFail;
constexpr Severity W = Severity::kWarn;
constexpr Severity I = Severity::kInfo;
}  // namespace

const std::vector<CheckInfo>& catalog() {
  static const std::vector<CheckInfo> kChecks = {
      // The facts themselves.
      {"facts.missing", F, "-", "The node has facts", "state database / <node>.json"},
      {"facts.invalid", F, "-", "The facts are airlock.facts/v1 JSON", "schema"},
      {"facts.incomplete", W, "-", "The probe collected every section", "errors"},
      // c.1 Inventory & identity
      {"accel.count", F, "1", "Accelerator count as the profile expects", "gpus, accelerators (VFs excluded)"},
      {"accel.model", F, "1", "Accelerator vendor and model as the profile expects", "gpus[].vendor/model, accelerators[].vendor/family"},
      {"gpu.count.mismatch", F, "2", "GPUs seen by PCI, the driver and nvidia-smi agree; none excluded", "gpus[].found_by, gpus[].information.GPU Excluded, nvidia_smi.gpu_count"},
      {"accel.driver.unbound", F, "2", "Every GPU and accelerator has a driver bound", "gpus[].driver, accelerators[].driver"},
      {"accel.model.heterogeneous", W, "3", "One accelerator model per node and per scope", "gpus[].model, accelerators[].family"},
      {"firmware.mismatch", W, "4", "GPU VBIOS and system BIOS identical across nodes", "gpus[].information.Video BIOS, host.dmi.bios_version"},
      {"nic.flash_recovery", F, "5", "No Mellanox NIC in flash-recovery mode", "pci[].vendor/device (15b3:0209-0229)"},
      {"host.virtualization", I, "6", "Whether the node is a virtual machine", "host.virtualization"},
      {"host.virtualization.unexpected", F, "6", "Virtualization as the profile expects", "host.virtualization"},
      // c.2 Drivers, kernel, software stack
      {"gpu.driver.mismatch", F, "7", "NVIDIA driver version and flavour identical across nodes", "gpu_driver.nvidia_version, gpu_driver.nvidia_flavour"},
      {"gpu.driver.userspace_mismatch", F, "8", "nvidia-smi (userspace) reports the kernel driver's version", "gpus[].nvidia_smi.driver_version, gpu_driver.nvidia_version"},
      {"os.unsupported", F, "9", "OS as the profile allows", "host.os_release.ID/VERSION_ID"},
      {"kernel.unsupported", F, "9", "Kernel release as the profile allows", "host.kernel_release"},
      {"kernel.headers.missing", F, "9", "Kernel headers for the running kernel", "host.kernel_headers"},
      {"kernel.mismatch", W, "10", "Kernel release identical across nodes", "host.kernel_release"},
      {"gpu.nouveau", F, "11", "nouveau neither bound nor loaded", "pci[].driver, host.modules"},
      {"kernel.module.missing", F, "12", "Required kernel modules loaded or built in", "host.modules, host.modules_builtin"},
      {"host.device_nodes", F, "13", "Device nodes the profile lists exist", "device_nodes"},
      {"gpu.persistence_mode", F, "14", "NVIDIA persistence mode enabled", "gpus[].nvidia_smi.persistence_mode"},
      {"gpu.fabric_manager", F, "14", "Fabric Manager running on NVSwitch systems", "pci[] (10de class 0680), services.nvidia-fabricmanager"},
      {"gpu.memory.health", F, "15", "No uncorrectable ECC errors, pending row remaps or retired pages", "gpus[].nvidia_smi.ecc_uncorrected_volatile, retired_pages_pending, remapped_rows_pending"},
      {"gpu.mig.mode", W, "16", "MIG mode as the profile intends", "gpus[].nvidia_smi.mig_mode_current"},
      {"container.gpu_runtime", F, "17", "Container runtime integrated with the NVIDIA toolkit (runtime entry or CDI)", "container_runtime, container_config"},
      {"gpu.dcgm_diag", F, "18", "DCGM diagnostics (dcgmi diag -r 1) pass", "dcgm_diag"},
      // c.4 PCIe & topology
      {"pcie.link.width_degraded", F, "19", "Every link to a GPU, accelerator or NIC at full width (per hop)", "pci[].upstream_links[], pci[].link"},
      {"pcie.link.speed_degraded", F, "20", "Every link to an accelerator or NIC at full speed (per hop)", "pci[].upstream_links[], pci[].link"},
      {"pcie.link.gpu_speed_low", W, "20", "NVIDIA GPU link below its speed (idle GPUs down-train: measure under load)", "pci[].upstream_links[], pci[].link"},
      {"pcie.link.host_limited", I, "21", "Slot or root port slower/narrower than the device (by design)", "pci[].link.max_*, pci[].upstream_links[].max_*"},
      {"pcie.aer.errors", W, "22", "No PCIe AER errors on GPUs, NICs and their bridges", "pci[].aer"},
      {"pcie.acs.enabled", W, "23", "ACS off on switch ports above GPUs and NICs (bare metal)", "pci[].acs_ctl"},
      {"pcie.iommu.mode", W, "24", "IOMMU off or pass-through (iommu=pt) for GPUDirect RDMA", "host.cmdline, pci[].iommu_group"},
      {"pcie.numa.unknown", W, "25", "NUMA node known for every accelerator and NIC on multi-NUMA hosts", "pci[].numa_node, cpu_memory.numa_nodes"},
      {"topology.gpu_nic.affinity", W, "26", "Every GPU has an RDMA NIC on its NUMA node", "gpus[].numa_node, rdma[].pci_bdf, pci[].numa_node"},
      {"gpu.nvlink.down", F, "27", "All NVLinks up on NVLink systems", "gpus[].nvlink"},
      {"topology.snc", I, "28", "Sub-NUMA clustering / NPS: NUMA nodes per socket", "cpu_memory.numa_nodes, cpu_memory.sockets"},
      // c.5 RDMA / fabric
      {"rdma.hca.count", F, "29", "RDMA HCA count as the profile expects", "rdma[], pci[].vendor"},
      {"rdma.port.not_active", F, "30", "Every RDMA port ACTIVE and LinkUp", "rdma[].ports[].state/phys_state"},
      {"rdma.port.rate_low", F, "31", "Every RDMA port at the designed rate", "rdma[].ports[].rate_gbps"},
      {"rdma.port.link_layer", F, "32", "Link layer as designed, the same per rail across nodes", "rdma[].ports[].link_layer"},
      {"rdma.roce.config", W, "33", "RoCE ports have a RoCE v2 GID and jumbo MTU", "rdma[].ports[].gid_types, gid_ndevs, net[].mtu"},
      {"net.mtu", F, "34", "Interface MTU as the profile or fabric requires", "net[].mtu"},
      {"net.mtu.mismatch", F, "34", "MTU identical per interface/fabric across nodes", "net[].mtu"},
      {"rdma.gpudirect.not_ready", F, "35", "GPUDirect RDMA usable (peermem loaded and registered)", "gpudirect_rdma"},
      {"rdma.fw.mismatch", W, "36", "HCA firmware and PSID identical across nodes", "rdma[].fw_ver, rdma[].board_id"},
      {"rdma.ofed.mismatch", W, "36", "OFED version identical across nodes", "ofed_version"},
      {"rdma.counters.errors", W, "37", "RDMA port error counters zero", "rdma[].ports[].counters"},
      // c.6 Host resources, storage, time
      {"host.cpu.min", F, "38", "CPU minimums (logical CPUs, sockets, per accelerator)", "cpu_memory.logical_cpus, cpu_memory.sockets"},
      {"host.memory.min", F, "38", "RAM minimums (total, per accelerator)", "cpu_memory.mem_total_bytes"},
      {"storage.free.low", F, "39", "Free bytes and inodes on the paths the profile lists", "mounts[].space"},
      {"storage.mount.missing", F, "40", "Required mounts present with the right filesystem type", "mounts[].mount_point/fs_type"},
      {"storage.mount.unresponsive", F, "40", "Network and parallel filesystems answer statfs", "mounts[].space"},
      {"storage.disk_perf", W, "41", "Disk write/fsync performance (opt-in active test)", "disk_perf"},
      {"host.hugepages", W, "42", "Hugepages as required", "cpu_memory.hugepages"},
      {"host.swap", W, "43", "Swap as the policy says", "cpu_memory.swap_total_bytes"},
      {"time.skew", F, "44", "Clock within the skew limit of the installer's", "state database skew_ns/skew_error_ns"},
      {"host.cpu.governor", W, "45", "CPU frequency governor uniform (performance)", "cpu_memory.scaling_governor"},
      {"host.cgroup", F, "46", "cgroup version as required", "host.cgroup"},
  };
  return kChecks;
}

const CheckInfo* find_check(std::string_view id) {
  for (const auto& c : catalog()) {
    if (id == c.id) return &c;
  }
  return nullptr;
}

}  // namespace airlock::validate
