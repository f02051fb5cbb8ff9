// The facts model: what one probe run found on one node, as plain structs with no I/O, and
// its JSON form ("schema": "airlock.facts/v1", documented in docs/facts-schema.md). A fact that
// could not be read keeps the reason (ENOENT, EACCES, timeout) instead of being dropped.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace airlock::probes {

inline constexpr const char* kFactsSchema = "airlock.facts/v1";

// A value, or the reason it could not be read. Serialises as the value or {"error": reason}.
template <class T>
struct Fact {
  std::optional<T> value;
  std::string error;

  static Fact of(T v) { return Fact{std::move(v), {}}; }
  static Fact fail(std::string reason) { return Fact{std::nullopt, std::move(reason)}; }
  bool ok() const { return value.has_value(); }
};

template <class T>
void to_json(nlohmann::json& j, const Fact<T>& f) {
  if (f.value) {
    j = *f.value;
  } else {
    j = nlohmann::json{{"error", f.error}};
  }
}

struct HostFacts {
  Fact<std::map<std::string, std::string>> os_release;
  Fact<std::string> kernel_release;
  Fact<std::string> kernel_version;
  Fact<std::string> cmdline;
  Fact<std::vector<std::string>> modules;
  // lib/modules/<kernel_release>/modules.builtin: built-in modules never appear in
  // /proc/modules (names as there: basename without .ko, '-' as '_').
  Fact<std::vector<std::string>> modules_builtin;
  std::map<std::string, Fact<std::string>> dmi;
  std::string virtualization;  // "none", "kvm", "vmware", ... or "unknown"
  std::string cgroup;          // "v2", "v1", "hybrid" or "unknown" (from the mount table)
  Fact<uint64_t> tainted;      // /proc/sys/kernel/tainted bit flags
};

// Presence of container runtimes and the NVIDIA container toolkit (files only, nothing run).
struct ContainerRuntime {
  std::map<std::string, bool> present;  // name -> the root-relative path exists
};

// How the container runtimes are configured for GPUs: CDI specs and the `nvidia` runtime.
struct ContainerConfig {
  std::map<std::string, Fact<std::vector<std::string>>> cdi_specs;  // dir -> spec file names
  Fact<bool> docker_nvidia_runtime;      // etc/docker/daemon.json names a runtime "nvidia"
  Fact<std::string> docker_default_runtime;  // its "default-runtime" ("runc" when unset)
  Fact<bool> containerd_nvidia_runtime;  // etc/containerd/config.toml has a runtimes.nvidia table
};

// GPUDirect RDMA readiness (spec check 35): peer-memory module loaded and registered.
struct GpuDirectRdma {
  Fact<bool> nvidia_peermem_loaded;  // in /proc/modules (error when that is unreadable)
  Fact<bool> nv_peer_mem_loaded;     // legacy Mellanox module
  bool nv_mem_registered = false;     // sys/kernel/mm/memory_peers/nv_mem/version exists
  bool nv_mem_nc_registered = false;  // .../nv_mem_nc/version
  bool ready = false;  // a peer-memory module loaded and one of the registrations present
};

struct NumaNode {
  int id = 0;
  Fact<std::string> cpulist;
  Fact<uint64_t> mem_total_bytes;
};

struct HugepagePool {
  uint64_t page_size_bytes = 0;
  Fact<uint64_t> nr_hugepages;
};

struct CpuMemFacts {
  Fact<std::string> cpu_model;
  Fact<uint64_t> logical_cpus;
  Fact<uint64_t> sockets;
  Fact<uint64_t> mem_total_bytes;
  Fact<uint64_t> mem_available_bytes;
  Fact<uint64_t> swap_total_bytes;
  Fact<std::vector<NumaNode>> numa_nodes;
  Fact<std::vector<HugepagePool>> hugepages;
};

struct PciLink {
  Fact<std::string> current_speed;  // raw sysfs string, e.g. "8 GT/s" or "16.0 GT/s PCIe"
  Fact<std::string> max_speed;
  Fact<uint64_t> current_width;
  Fact<uint64_t> max_width;
  std::optional<bool> degraded;  // set when all four were read: current below max
  std::optional<bool> width_degraded;  // set when both widths were read
  std::optional<bool> speed_degraded;  // set when both speeds were read and parsed
  // NVIDIA GPU whose speed alone is below max: idle GPUs down-train (spec check 20), so this
  // is a warning until measured under load. Set (true) only then.
  std::optional<bool> speed_may_be_power_saving;
};

// One hop of a device's upstream chain (root port first, the device itself last): the pair of
// functions it joins and, for a physical link, how it trained against the lower of both ends'
// maximum. In a switch the upstream port joins its downstream ports over the switch's internal
// bus (kind "switch-internal": no link of its own); physical links and internal hops alternate
// from the root port down (root port - switch upstream port is a link, upstream port -
// downstream port internal, downstream port - next device a link, ...).
struct PciHop {
  std::string upstream_bdf;    // the function nearer the root
  std::string downstream_bdf;  // the function farther from it
  bool switch_internal = false;
  // For a physical link: current_* as the downstream end reads them (the upstream end's when
  // that is unreadable), max_* the lower of both ends' maxima; the *_degraded flags as in
  // PciLink. Unused for internal hops.
  PciLink link;
};

// SR-IOV capability of a physical function (sriov_totalvfs, sriov_numvfs).
struct PciSriov {
  Fact<uint64_t> total_vfs;
  Fact<uint64_t> num_vfs;
};

// AER error totals (aer_dev_correctable/nonfatal/fatal, their TOTAL_ERR_* line).
struct PciAer {
  Fact<uint64_t> correctable;
  Fact<uint64_t> nonfatal;
  Fact<uint64_t> fatal;
};

struct PciDevice {
  std::string bdf;  // dddd:bb:dd.f, lower case (domain may be longer than 4 digits)
  Fact<std::string> class_code;  // 6 hex digits, no 0x
  Fact<std::string> vendor;      // 4 hex digits
  Fact<std::string> device;
  Fact<std::string> subsystem_vendor;
  Fact<std::string> subsystem_device;
  Fact<std::string> driver;  // {"error":"ENOENT"} = no driver bound
  Fact<int64_t> numa_node;   // -1 = unknown to the kernel
  Fact<std::string> local_cpulist;
  PciLink link;
  std::vector<std::string> upstream;  // bridges from the root port down to the parent
  std::vector<PciHop> upstream_links;  // one per hop of upstream + the device itself
  bool is_vf = false;
  Fact<std::string> iommu_group;  // basename of the iommu_group link (ENOENT: no IOMMU)
  PciSriov sriov;
  PciAer aer;
};

// One row of `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` (kNvidiaSmiFields in
// parse.h). "[N/A]" / "[Not Supported]" values are errors with that text ("N/A").
struct NvidiaSmiGpu {
  std::string bdf;  // pci.bus_id normalised ("00000000:62:00.0" -> "0000:62:00.0")
  Fact<uint64_t> index;
  Fact<std::string> name;
  Fact<std::string> uuid;
  Fact<std::string> serial;
  Fact<std::string> vbios_version;
  Fact<std::string> driver_version;
  Fact<uint64_t> memory_total_bytes;        // memory.total MiB x 2^20
  Fact<double> power_limit_w;               // power.limit
  Fact<int64_t> temperature_c;              // temperature.gpu
  Fact<uint64_t> ecc_uncorrected_volatile;  // ecc.errors.uncorrected.volatile.total
  Fact<std::string> clocks_throttle_reasons_active;  // bitmask as printed ("0x0000000000000000")
};

// The nvidia-smi run itself: where it was found and how many GPUs it listed, or why there is
// no output ("not present", "timeout", "exit 9: ...", "not captured").
struct NvidiaSmiRun {
  std::string path;  // root-relative, e.g. "usr/bin/nvidia-smi"
  uint64_t gpu_count = 0;
};

struct Gpu {
  std::string bdf;
  std::string vendor;  // "nvidia", "amd"
  std::string found_by;  // "pci", "procfs", "pci+procfs", "kfd"
  Fact<std::string> device_id;
  Fact<std::string> model;
  std::string model_source;  // "procfs" or "pci-id"; empty when model is an error
  Fact<std::string> uuid;
  Fact<std::string> driver;
  Fact<int64_t> numa_node;
  std::map<std::string, std::string> info;  // /proc/driver/nvidia/gpus/<bdf>/information
  std::optional<NvidiaSmiGpu> nvidia_smi;    // the nvidia-smi row with this bus id
};

struct GpuDriver {
  Fact<std::string> nvidia_version;  // "535.129.03"
  Fact<std::string> nvidia_flavour;  // "proprietary" or "open"
};

struct Accelerator {
  std::string bdf;
  std::string vendor;  // "habana", "furiosa", "rebellions", "tenstorrent", "nec", ...
  std::string family;  // "Gaudi2", "Vector Engine", ... or "unknown device XXXX"
  std::string vendor_id;
  std::string device_id;
  Fact<std::string> driver;
  Fact<int64_t> numa_node;
  bool is_vf = false;
};

struct RdmaPort {
  int port = 0;
  Fact<std::string> state;       // raw "4: ACTIVE"
  Fact<std::string> phys_state;  // raw "5: LinkUp"
  Fact<std::string> rate;        // raw "56 Gb/sec (4X FDR)"
  Fact<std::string> link_layer;  // "InfiniBand" or "Ethernet"
  std::optional<double> rate_gbps;
  std::optional<bool> active;
  // gid_attrs/types/*: count per type string ("RoCE v2", "IB/RoCE v1"); unpopulated entries
  // (empty or EINVAL) are skipped.
  Fact<std::map<std::string, uint64_t>> gid_types;
  std::map<std::string, Fact<uint64_t>> counters;  // counters/<name>, see kRdmaCounters
  // gid_attrs/ndevs/<index>: the netdev of each populated GID (RoCE; empty on IB ports).
  Fact<std::map<std::string, std::string>> gid_ndevs;
};

struct RdmaDevice {
  std::string name;  // mlx5_0
  Fact<std::string> pci_bdf;
  Fact<std::string> node_type;
  Fact<std::string> fw_ver;
  Fact<std::string> hca_type;
  Fact<std::string> board_id;
  Fact<std::string> node_guid;
  Fact<std::vector<RdmaPort>> ports;
};

struct NetInterface {
  std::string name;
  bool physical = false;  // has a device link
  Fact<std::string> pci_bdf;
  Fact<std::string> driver;
  Fact<std::string> operstate;
  Fact<int64_t> speed_mbps;  // EINVAL when the link is down
  Fact<uint64_t> mtu;
  Fact<uint64_t> type;  // 1 Ethernet, 32 IPoIB
  Fact<std::string> address;
};

struct BlockDevice {
  std::string name;
  Fact<uint64_t> size_bytes;  // sysfs size is always in 512-byte sectors
  Fact<uint64_t> rotational;
  Fact<uint64_t> logical_block_size;
  Fact<std::string> model;
  Fact<std::string> pci_bdf;
};

// statvfs of a mount point, in bytes and inodes.
struct MountSpace {
  uint64_t size_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t available_bytes = 0;  // free to unprivileged users
  uint64_t inodes = 0;
  uint64_t inodes_free = 0;
  uint64_t inodes_available = 0;
};

struct Mount {
  std::string source;
  std::string mount_point;
  std::string fs_type;
  std::string options;
  std::string kind;  // "local", "network", "parallel", "pseudo"
  // Absent for filesystems without space (proc, sysfs, cgroup...) and for roots that were
  // not asked; {"error":"timeout"} when statvfs did not answer within the per-mount timeout.
  std::optional<Fact<MountSpace>> space;
};

struct Facts {
  std::string schema = kFactsSchema;
  std::string probe_version;
  int64_t collected_at_ns = 0;
  int64_t duration_ns = 0;
  std::string root;
  HostFacts host;
  CpuMemFacts cpu_memory;
  Fact<std::vector<PciDevice>> pci;
  GpuDriver gpu_driver;
  Fact<std::vector<Gpu>> gpus;
  Fact<NvidiaSmiRun> nvidia_smi;
  std::vector<Accelerator> accelerators;
  Fact<std::vector<RdmaDevice>> rdma;
  Fact<std::vector<NetInterface>> net;
  Fact<std::vector<BlockDevice>> block;
  Fact<std::vector<Mount>> mounts;
  ContainerRuntime container_runtime;
  ContainerConfig container_config;
  GpuDirectRdma gpudirect_rdma;
  std::vector<std::string> errors;  // sections skipped (deadline) or otherwise incomplete
};

void to_json(nlohmann::json& j, const NumaNode& v);
void to_json(nlohmann::json& j, const HugepagePool& v);
void to_json(nlohmann::json& j, const PciLink& v);
void to_json(nlohmann::json& j, const PciHop& v);
void to_json(nlohmann::json& j, const PciDevice& v);
void to_json(nlohmann::json& j, const NvidiaSmiGpu& v);
void to_json(nlohmann::json& j, const NvidiaSmiRun& v);
void to_json(nlohmann::json& j, const Gpu& v);
void to_json(nlohmann::json& j, const Accelerator& v);
void to_json(nlohmann::json& j, const RdmaPort& v);
void to_json(nlohmann::json& j, const RdmaDevice& v);
void to_json(nlohmann::json& j, const NetInterface& v);
void to_json(nlohmann::json& j, const BlockDevice& v);
void to_json(nlohmann::json& j, const MountSpace& v);
void to_json(nlohmann::json& j, const Mount& v);
void to_json(nlohmann::json& j, const Facts& v);

}  // namespace airlock::probes
