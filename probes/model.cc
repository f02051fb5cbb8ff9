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

void to_json(json& j, const PciDevice& v) {
  json link{{"current_speed", v.link.current_speed},
            {"max_speed", v.link.max_speed},
            {"current_width", v.link.current_width},
            {"max_width", v.link.max_width}};
  if (v.link.degraded) link["degraded"] = *v.link.degraded;
  if (v.link.width_degraded) link["width_degraded"] = *v.link.width_degraded;
  if (v.link.speed_degraded) link["speed_degraded"] = *v.link.speed_degraded;
  if (v.link.speed_may_be_power_saving) {
    link["speed_may_be_power_saving"] = *v.link.speed_may_be_power_saving;
  }
  j = json{{"bdf", v.bdf},
           {"class", v.class_code},
           {"vendor", v.vendor},
           {"device", v.device},
           {"subsystem_vendor", v.subsystem_vendor},
           {"subsystem_device", v.subsystem_device},
           {"driver", v.driver},
           {"numa_node", v.numa_node},
           {"local_cpulist", v.local_cpulist},
           {"link", link},
           {"upstream", v.upstream},
           {"is_vf", v.is_vf}};
}

void to_json(json& j, const Gpu& v) {
  j = json{{"bdf", v.bdf},         {"vendor", v.vendor}, {"found_by", v.found_by},
           {"device", v.device_id}, {"model", v.model},   {"uuid", v.uuid},
           {"driver", v.driver},    {"numa_node", v.numa_node}};
  if (!v.model_source.empty()) j["model_source"] = v.model_source;
  if (!v.info.empty()) j["information"] = v.info;
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
      {"accelerators", v.accelerators},
      {"rdma", v.rdma},
      {"net", v.net},
      {"block", v.block},
      {"mounts", v.mounts},
      {"container_runtime", v.container_runtime.present},
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
