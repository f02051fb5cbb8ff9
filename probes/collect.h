// Collectors: read one node's facts through a SystemRoot (never the host's paths directly) into
// the facts model. Each collector is a thin reader around the parsers in parse.h; a fact that
// cannot be read is recorded with its reason, and a passed deadline marks the remaining
// sections {"error":"timeout"} instead of hanging.
#pragma once

#include <chrono>
#include <optional>

#include "common/system_root.h"
#include "probes/model.h"

namespace airlock::probes {

struct CollectOptions {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  int64_t now_ns = 0;  // wall clock stamped into collected_at_ns
  // How long one mount's statvfs may take before its space is {"error":"timeout"}.
  std::chrono::milliseconds statvfs_timeout{2000};
};

HostFacts collect_host(const SystemRoot& root, const std::vector<Mount>* mounts);
CpuMemFacts collect_cpu_memory(const SystemRoot& root);
Fact<std::vector<PciDevice>> collect_pci(const SystemRoot& root);
GpuDriver collect_gpu_driver(const SystemRoot& root);
Fact<std::vector<Gpu>> collect_gpus(const SystemRoot& root, const std::vector<PciDevice>& pci);
std::vector<Accelerator> collect_accelerators(const std::vector<PciDevice>& pci);
Fact<std::vector<RdmaDevice>> collect_rdma(const SystemRoot& root);
Fact<std::vector<NetInterface>> collect_net(const SystemRoot& root);
Fact<std::vector<BlockDevice>> collect_block(const SystemRoot& root);
Fact<std::vector<Mount>> collect_mounts(const SystemRoot& root);
ContainerRuntime collect_container_runtime(const SystemRoot& root);
GpuDirectRdma collect_gpudirect_rdma(const SystemRoot& root,
                                     const Fact<std::vector<std::string>>& modules);
// True for filesystems whose statvfs means nothing (proc, sysfs, cgroup, devpts...) or
// could trigger a mount (autofs); their `space` is left out.
bool fs_without_space(std::string_view fs_type);
// Fills each mount's `space` through root.statvfs, one mount at a time, each bounded by
// opts.statvfs_timeout and by what is left before opts.deadline.
void collect_mount_space(const SystemRoot& root, std::vector<Mount>& mounts,
                         const CollectOptions& opts);

Facts collect(const SystemRoot& root, const CollectOptions& opts = {});

}  // namespace airlock::probes
