// JSON form of the facts model (docs/facts-schema.md). Key order is nlohmann's (sorted).
#include "probes/model.h"

namespace airlock::probes {

using nlohmann::json;

void to_json(json& j, const NumaNode& v) {
  j = json{{"id", v.id}, {"cpulist", v.cpulist}, {"mem_total_bytes", v.mem_total_bytes}};
}

void to_json(json& j, const HugepagePool& v) {
  j = json{{"page_size_bytes", v.page_size_bytes}, {"nr_hugepages", v.nr_hugepages}};
}

void to_json(json& j, const PciLink& v) {
  j = json{{"current_speed", v.current_speed},
           {"max_speed", v.max_speed},
           {"current_width", v.current_width},
           {"max_width", v.max_width}};
  if (v.degraded) j["degraded"] = *v.degraded;
  if (v.width_degraded) j["width_degraded"] = *v.width_degraded;
  if (v.speed_degraded) j["speed_degraded"] = *v.speed_degraded;
  if (v.speed_may_be_power_saving) j["speed_may_be_power_saving"] = *v.speed_may_be_power_saving;
}

void to_json(json& j, const PciHop& v) {
  if (v.switch_internal) {
    j = json{{"upstream_bdf", v.upstream_bdf},
             {"downstream_bdf", v.downstream_bdf},
             {"kind", "switch-internal"}};
    return;
  }
  j = v.link;
  j["upstream_bdf"] = v.upstream_bdf;
  j["downstream_bdf"] = v.downstream_bdf;
  j["kind"] = "link";
}

void to_json(json& j, const PciDevice& v) {
  j = json{{"bdf", v.bdf},
           {"class", v.class_code},
           {"vendor", v.vendor},
           {"device", v.device},
           {"subsystem_vendor", v.subsystem_vendor},
           {"subsystem_device", v.subsystem_device},
           {"driver", v.driver},
           {"numa_node", v.numa_node},
           {"local_cpulist", v.local_cpulist},
           {"link", v.link},
           {"upstream", v.upstream},
           {"upstream_links", v.upstream_links},
           {"is_vf", v.is_vf},
           {"iommu_group", v.iommu_group},
           {"sriov", {{"total_vfs", v.sriov.total_vfs}, {"num_vfs", v.sriov.num_vfs}}},
           {"aer",
            {{"correctable", v.aer.correctable},
             {"nonfatal", v.aer.nonfatal},
             {"fatal", v.aer.fatal}}}};
}

void to_json(json& j, const NvidiaSmiGpu& v) {
  j = json{{"index", v.index},
           {"name", v.name},
           {"uuid", v.uuid},
           {"serial", v.serial},
           {"vbios_version", v.vbios_version},
           {"driver_version", v.driver_version},
           {"memory_total_bytes", v.memory_total_bytes},
           {"power_limit_w", v.power_limit_w},
           {"temperature_c", v.temperature_c},
           {"ecc_uncorrected_volatile", v.ecc_uncorrected_volatile},
           {"clocks_throttle_reasons_active", v.clocks_throttle_reasons_active}};
}

void to_json(json& j, const NvidiaSmiRun& v) {
  j = json{{"path", v.path}, {"gpu_count", v.gpu_count}};
}

void to_json(json& j, const Gpu& v) {
  j = json{{"bdf", v.bdf},         {"vendor", v.vendor}, {"found_by", v.found_by},
           {"device", v.device_id}, {"model", v.model},   {"uuid", v.uuid},
           {"driver", v.driver},    {"numa_node", v.numa_node}};
  if (!v.model_source.empty()) j["model_source"] = v.model_source;
  if (!v.info.empty()) j["information"] = v.info;
  if (v.nvidia_smi) j["nvidia_smi"] = *v.nvidia_smi;
}

void to_json(json& j, const Accelerator& v) {
  j = json{{"bdf", v.bdf},         {"vendor", v.vendor},       {"family", v.family},
           {"vendor_id", v.vendor_id}, {"device_id", v.device_id}, {"driver", v.driver},
           {"numa_node", v.numa_node}, {"is_vf", v.is_vf}};
}

void to_json(json& j, const RdmaPort& v) {
  j = json{{"port", v.port},   {"state", v.state},           {"phys_state", v.phys_state},
           {"rate", v.rate},   {"link_layer", v.link_layer}};
  if (v.rate_gbps) j["rate_gbps"] = *v.rate_gbps;
  if (v.active) j["active"] = *v.active;
  j["gid_types"] = v.gid_types;
  j["counters"] = v.counters;
  j["gid_ndevs"] = v.gid_ndevs;
}

void to_json(json& j, const RdmaDevice& v) {
  j = json{{"name", v.name},         {"pci_bdf", v.pci_bdf},   {"node_type", v.node_type},
           {"fw_ver", v.fw_ver},     {"hca_type", v.hca_type}, {"board_id", v.board_id},
           {"node_guid", v.node_guid}, {"ports", v.ports}};
}

void to_json(json& j, const NetInterface& v) {
  j = json{{"name", v.name},           {"physical", v.physical}, {"pci_bdf", v.pci_bdf},
           {"driver", v.driver},       {"operstate", v.operstate},
           {"speed_mbps", v.speed_mbps}, {"mtu", v.mtu},         {"type", v.type},
           {"address", v.address}};
}

void to_json(json& j, const BlockDevice& v) {
  j = json{{"name", v.name},
           {"size_bytes", v.size_bytes},
           {"rotational", v.rotational},
           {"logical_block_size", v.logical_block_size},
           {"model", v.model},
           {"pci_bdf", v.pci_bdf}};
}

void to_json(json& j, const MountSpace& v) {
  j = json{{"size_bytes", v.size_bytes},         {"free_bytes", v.free_bytes},
           {"available_bytes", v.available_bytes}, {"inodes", v.inodes},
           {"inodes_free", v.inodes_free},       {"inodes_available", v.inodes_available}};
}

void to_json(json& j, const Mount& v) {
  j = json{{"source", v.source}, {"mount_point", v.mount_point}, {"fs_type", v.fs_type},
           {"options", v.options}, {"kind", v.kind}};
  if (v.space) j["space"] = *v.space;
}

void to_json(json& j, const Facts& v) {
  const HostFacts& h = v.host;
  const CpuMemFacts& c = v.cpu_memory;
  j = json{
      {"schema", v.schema},
      {"probe_version", v.probe_version},
      {"collected_at_ns", v.collected_at_ns},
      {"duration_ns", v.duration_ns},
      {"root", v.root},
      {"host",
       {{"os_release", h.os_release},
        {"kernel_release", h.kernel_release},
        {"kernel_version", h.kernel_version},
        {"cmdline", h.cmdline},
        {"modules", h.modules},
        {"modules_builtin", h.modules_builtin},
        {"dmi", h.dmi},
        {"virtualization", h.virtualization},
        {"cgroup", h.cgroup},
        {"tainted", h.tainted}}},
      {"cpu_memory",
       {{"cpu_model", c.cpu_model},
        {"logical_cpus", c.logical_cpus},
        {"sockets", c.sockets},
        {"mem_total_bytes", c.mem_total_bytes},
        {"mem_available_bytes", c.mem_available_bytes},
        {"swap_total_bytes", c.swap_total_bytes},
        {"numa_nodes", c.numa_nodes},
        {"hugepages", c.hugepages}}},
      {"pci", v.pci},
      {"gpu_driver",
       {{"nvidia_version", v.gpu_driver.nvidia_version},
        {"nvidia_flavour", v.gpu_driver.nvidia_flavour}}},
      {"gpus", v.gpus},
      {"nvidia_smi", v.nvidia_smi},
      {"accelerators", v.accelerators},
      {"rdma", v.rdma},
      {"net", v.net},
      {"block", v.block},
      {"mounts", v.mounts},
      {"container_runtime", v.container_runtime.present},
      {"container_config",
       {{"cdi_specs", v.container_config.cdi_specs},
        {"docker_nvidia_runtime", v.container_config.docker_nvidia_runtime},
        {"docker_default_runtime", v.container_config.docker_default_runtime},
        {"containerd_nvidia_runtime", v.container_config.containerd_nvidia_runtime}}},
      {"gpudirect_rdma",
       {{"nvidia_peermem_loaded", v.gpudirect_rdma.nvidia_peermem_loaded},
        {"nv_peer_mem_loaded", v.gpudirect_rdma.nv_peer_mem_loaded},
        {"nv_mem_registered", v.gpudirect_rdma.nv_mem_registered},
        {"nv_mem_nc_registered", v.gpudirect_rdma.nv_mem_nc_registered},
        {"ready", v.gpudirect_rdma.ready}}},
      {"errors", v.errors},
  };
}

}  // namespace airlock::probes
