// Pure parsers for the text a probe reads from sysfs/procfs/etc: each takes the file's text and
// returns values, never touches the machine, and never throws on malformed input (bad lines
// are skipped; a value that cannot be parsed comes back empty).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "probes/model.h"

namespace airlock::probes {

std::string trim(std::string_view s);
std::optional<uint64_t> parse_u64(std::string_view s);
std::optional<int64_t> parse_i64(std::string_view s);
// "0x10DE\n" -> "10de"; empty when not hex.
std::string parse_hex_id(std::string_view s);
// Leading decimal number of "16.0 GT/s PCIe", "8 GT/s", "56 Gb/sec (4X FDR)"; empty for "Unknown".
std::optional<double> parse_leading_number(std::string_view s);
// "4: ACTIVE" -> 4.
std::optional<int> parse_state_number(std::string_view s);

// /etc/os-release: KEY=VALUE, quotes stripped, comments and malformed lines skipped.
std::map<std::string, std::string> parse_os_release(std::string_view text);
// /proc/modules: the first column of each line.
std::vector<std::string> parse_modules(std::string_view text);
// /proc/meminfo and node meminfo ("Node 0 MemTotal: 123 kB"): values in bytes when "kB".
std::map<std::string, uint64_t> parse_meminfo(std::string_view text);
// "Key:\tvalue" lines (e.g. /proc/driver/nvidia/gpus/<bdf>/information).
std::map<std::string, std::string> parse_colon_kv(std::string_view text);

struct CpuInfo {
  std::string model;
  uint64_t logical_cpus = 0;
  uint64_t sockets = 0;  // distinct "physical id"; 0 when the file has none
  bool hypervisor = false;
};
CpuInfo parse_cpuinfo(std::string_view text);

struct NvidiaVersion {
  std::string version;  // "535.129.03"
  std::string flavour;  // "open" or "proprietary"
};
// First line of /proc/driver/nvidia/version; nullopt when it does not name a version.
std::optional<NvidiaVersion> parse_nvidia_version(std::string_view text);

// "dddd:bb:dd.f" with a hex domain of 4 or more digits (32-bit domains exist, e.g. 10000:00).
bool is_pci_address(std::string_view s);
// The PCI addresses along a resolved sysfs device path, root port first.
std::vector<std::string> pci_chain(std::string_view resolved_path);

// /proc/self/mountinfo ("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw") and
// the older /proc/mounts format; octal escapes such as \040 decoded.
std::vector<Mount> parse_mountinfo(std::string_view text);
std::vector<Mount> parse_proc_mounts(std::string_view text);
std::string unescape_mount_field(std::string_view s);
// "network" (nfs, cifs...), "parallel" (lustre, gpfs, wekafs, beegfs, ceph...), "pseudo" (proc,
// sysfs, cgroup, tmpfs...), or "local".
std::string classify_fs(std::string_view fs_type);

struct AcceleratorId {
  std::string vendor;
  std::string family;
};
// Accelerator/NPU by PCI vendor, device and class (probe-spec.md table (b)); nullopt otherwise.
std::optional<AcceleratorId> classify_accelerator(std::string_view vendor, std::string_view device,
                                                  std::string_view class_code);

// GPU product name by PCI vendor and device ID (probe-spec.md table (b)), for when the driver's
// own view (/proc/driver/nvidia) is absent, e.g. nouveau or no driver bound; nullopt otherwise.
std::optional<std::string> gpu_model_from_pci_id(std::string_view vendor, std::string_view device);

// /sys/class/infiniband/<hca>/ports/<n>/gid_attrs/types/<i> -> the name counted for it:
// "RoCE v2", "IB/RoCE v1" (trimmed as read), nullopt for an empty entry.
std::optional<std::string> normalize_gid_type(std::string_view text);

// The fields airlock asks nvidia-smi for, in this order (`--query-gpu=` + this, with
// `--format=csv,noheader,nounits`). Every name is valid from the R470 drivers on; R535 renamed
// clocks_throttle_reasons to clocks_event_reasons and keeps the old name as an alias, so
// kNvidiaSmiFieldsNew is the fallback for a driver that one day drops it.
inline constexpr const char* kNvidiaSmiFields =
    "index,pci.bus_id,name,uuid,serial,vbios_version,driver_version,memory.total,power.limit,"
    "temperature.gpu,ecc.errors.uncorrected.volatile.total,clocks_throttle_reasons.active";
inline constexpr const char* kNvidiaSmiFieldsNew =
    "index,pci.bus_id,name,uuid,serial,vbios_version,driver_version,memory.total,power.limit,"
    "temperature.gpu,ecc.errors.uncorrected.volatile.total,clocks_event_reasons.active";

// nvidia-smi's bus id ("00000000:62:00.0", upper or lower case) -> "0000:62:00.0"; empty when
// it is not one.
std::string normalize_pci_bus_id(std::string_view s);

// The CSV nvidia-smi prints for kNvidiaSmiFields (noheader, nounits): one row per line with
// the fields separated by ", " (a comma inside the product name is kept in the name). Lines
// with too few fields or no valid bus id are skipped. Values "[N/A]", "[Not Supported]",
// "[Unknown Error]"... are errors with the text inside the brackets.
std::vector<NvidiaSmiGpu> parse_nvidia_smi_csv(std::string_view text);

// lib/modules/<release>/modules.builtin ("kernel/drivers/nvme/host/nvme-core.ko") -> module
// names as /proc/modules spells them ("nvme_core"), in file order.
std::vector<std::string> parse_modules_builtin(std::string_view text);

// The TOTAL_ERR_* line of an aer_dev_{correctable,nonfatal,fatal} file ("TOTAL_ERR_COR 3").
std::optional<uint64_t> parse_aer_total(std::string_view text);

// /etc/docker/daemon.json: whether "runtimes" has an "nvidia" entry, and "default-runtime"
// ("runc" when absent). nullopt when the text is not a JSON object.
struct DockerRuntimes {
  bool nvidia = false;
  std::string default_runtime;
};
std::optional<DockerRuntimes> parse_docker_daemon_json(std::string_view text);

// /etc/containerd/config.toml: whether a runtimes.nvidia table is declared (any plugin path,
// `.nvidia]` or `."nvidia"]` in a table header, comments ignored).
bool containerd_has_nvidia_runtime(std::string_view text);

}  // namespace airlock::probes
