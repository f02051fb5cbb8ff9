// Collectors: read one node's facts through a SystemRoot (never the host's paths directly) into
// the facts model. Each collector is a thin reader around the parsers in parse.h; a fact that
// cannot be read is recorded with its reason, and a passed deadline marks the remaining
// sections {"error":"timeout"} instead of hanging.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/system_root.h"
#include "probes/model.h"

namespace airlock::probes {

// Where a capture keeps command output (relative to the captured root): <name>.csv is the
// output of a run that succeeded, <name>.error the reason one did not ("timeout", "exit 9: ...").
inline constexpr const char* kCaptureCommands = "airlock-capture/commands";

// Runs a program of the probed machine. argv[0] is the program's root-relative path as found
// through the root ("usr/bin/nvidia-smi"); the runner maps it onto the machine (HostRoot: "/"
// + path) and must return within `timeout` (a timed-out run has timed_out set).
using CommandRunner = std::function<Result<ProcessResult>(const std::vector<std::string>& argv,
                                                          std::chrono::milliseconds timeout)>;

// The runner `airlock-node probe` uses on the live machine: SystemProcessRunner on
// prefix + argv[0], its process group killed on timeout.
CommandRunner system_command_runner(std::string prefix = "/");

struct CollectOptions {
  std::optional<std::chrono::steady_clock::time_point> deadline;
  int64_t now_ns = 0;  // wall clock stamped into collected_at_ns
  // How long one mount's statvfs may take before its space is {"error":"timeout"}.
  std::chrono::milliseconds statvfs_timeout{2000};
  // Runs the node's own tools (nvidia-smi). Empty (the default, and always for --root): nothing
  // is run; a capture's recorded output (kCaptureCommands) is read through the root instead.
  CommandRunner run_command;
  // How long one command may run (never past the deadline).
  std::chrono::milliseconds command_timeout{10000};
  // When set, receives each command's output file for a capture: name under kCaptureCommands
  // ("nvidia-smi.csv" or "nvidia-smi.error") -> content.
  std::map<std::string, std::string>* command_outputs = nullptr;
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
ContainerConfig collect_container_config(const SystemRoot& root);
// Where nvidia-smi is looked for, in order (root-relative).
extern const char* const kNvidiaSmiPaths[3];
// nvidia-smi when present: run through opts.run_command, or its captured output read through the
// root; rows merged into `gpus` by bus id (a row no GPU has becomes a GPU found_by "nvidia-smi").
Fact<NvidiaSmiRun> collect_nvidia_smi(const SystemRoot& root, const CollectOptions& opts,
                                      Fact<std::vector<Gpu>>& gpus);
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
