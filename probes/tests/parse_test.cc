// Table-driven tests for the probe's pure parsers: malformed input gives empty values, never a
// crash.
#include <gtest/gtest.h>

#include "probes/parse.h"

namespace airlock::probes {
namespace {

TEST(Parse, HexIdsAndNumbers) {
  EXPECT_EQ(parse_hex_id("0x10DE\n"), "10de");
  EXPECT_EQ(parse_hex_id("0x030200"), "030200");
  EXPECT_EQ(parse_hex_id("zz"), "");
  EXPECT_EQ(parse_hex_id(""), "");
  EXPECT_EQ(parse_u64(" 42\n"), 42u);
  EXPECT_FALSE(parse_u64("4x2"));
  EXPECT_FALSE(parse_u64(""));
  EXPECT_EQ(parse_i64("-1\n"), -1);
  struct Case {
    const char* in;
    std::optional<double> want;
  } cases[] = {{"16.0 GT/s PCIe", 16.0}, {"8 GT/s", 8.0}, {"2.5 GT/s", 2.5},
               {"Unknown", std::nullopt}, {"", std::nullopt}, {"56 Gb/sec (4X FDR)", 56.0}};
  for (const auto& c : cases) EXPECT_EQ(parse_leading_number(c.in), c.want) << c.in;
  EXPECT_EQ(parse_state_number("4: ACTIVE"), 4);
  EXPECT_EQ(parse_state_number("ACTIVE"), std::nullopt);
}

TEST(Parse, PciAddresses) {
  EXPECT_TRUE(is_pci_address("0000:00:02.0"));
  EXPECT_TRUE(is_pci_address("10000:00:04.0"));
  EXPECT_FALSE(is_pci_address("pci0000:00"));
  EXPECT_FALSE(is_pci_address("0000:00:02"));
  EXPECT_FALSE(is_pci_address("0000:0:02.0"));
  EXPECT_FALSE(is_pci_address("0000:00:02.9"));
  EXPECT_EQ(pci_chain("sys/devices/pci0000:80/0000:80:02.2/0000:82:00.0/infiniband/mlx4_0"),
            (std::vector<std::string>{"0000:80:02.2", "0000:82:00.0"}));
}

TEST(Parse, OsReleaseModulesMeminfo) {
  auto os = parse_os_release("# c\nID=debian\nVERSION_ID=\"12\"\nbad line\nPRETTY_NAME='D 12'\n");
  EXPECT_EQ(os["ID"], "debian");
  EXPECT_EQ(os["VERSION_ID"], "12");
  EXPECT_EQ(os["PRETTY_NAME"], "D 12");
  EXPECT_EQ(os.size(), 3u);
  EXPECT_EQ(parse_modules("nvidia_uvm 1 0 - Live 0x0\nmlx5_ib 2 0 - Live\n\n"),
            (std::vector<std::string>{"nvidia_uvm", "mlx5_ib"}));
  auto mi = parse_meminfo("MemTotal:  1024 kB\nHugePages_Total: 4\nNode 0 MemFree: 2 kB\njunk\n");
  EXPECT_EQ(mi["MemTotal"], 1024u << 10);
  EXPECT_EQ(mi["HugePages_Total"], 4u);
  EXPECT_EQ(mi["MemFree"], 2048u);
}

TEST(Parse, NvidiaVersion) {
  auto p = parse_nvidia_version(
      "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\n"
      "GCC version:  gcc version 12.2.0\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->version, "535.129.03");
  EXPECT_EQ(p->flavour, "proprietary");
  auto o = parse_nvidia_version(
      "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build\n");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->version, "580.65.06");
  EXPECT_EQ(o->flavour, "open");
  EXPECT_FALSE(parse_nvidia_version(""));
  EXPECT_FALSE(parse_nvidia_version("garbage\n"));
}

TEST(Parse, Mounts) {
  auto m = parse_mountinfo(
      "36 35 98:0 / /mnt/my\\040data rw,noatime master:1 - ext4 /dev/sda1 rw\n"
      "40 35 0:50 / /scratch rw - lustre 10.0.0.1@o2ib:/fs rw\n"
      "41 35 0:51 / /home rw shared:5 - nfs4 srv:/home rw,proto=rdma\n"
      "short line\n");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].mount_point, "/mnt/my data");
  EXPECT_EQ(m[0].kind, "local");
  EXPECT_EQ(m[1].kind, "parallel");
  EXPECT_EQ(m[2].kind, "network");
  EXPECT_EQ(m[2].source, "srv:/home");
  auto pm = parse_proc_mounts("proc /proc proc rw 0 0\nweka /mnt/w wekafs rw 0 0\nx\n");
  ASSERT_EQ(pm.size(), 2u);
  EXPECT_EQ(pm[0].kind, "pseudo");
  EXPECT_EQ(pm[1].kind, "parallel");
  EXPECT_EQ(unescape_mount_field("a\\"), "a\\");
}

TEST(Parse, Accelerators) {
  struct Case {
    const char* vendor;
    const char* device;
    const char* cls;
    const char* want_vendor;  // nullptr = not an accelerator
  } cases[] = {
      {"1da3", "1020", "120000", "habana"},   {"1ed2", "0001", "120000", "furiosa"},
      {"1eff", "1250", "120000", "rebellions"}, {"1e52", "401e", "120000", "tenstorrent"},
      {"1bcf", "001c", "0b4000", "nec"},      {"19e5", "d802", "120000", "huawei"},
      {"19e5", "1822", "020000", nullptr},    {"1ae0", "0042", "020000", nullptr},
      {"1ae0", "0063", "000000", "google"},   {"1d0f", "ec20", "020000", nullptr},
      {"8086", "225c", "0b4000", "intel"},    {"8086", "1521", "020000", nullptr},
      {"1e0f", "0001", "010802", nullptr},    {"1f3f", "0001", "120000", nullptr},
  };
  for (const auto& c : cases) {
    auto id = classify_accelerator(c.vendor, c.device, c.cls);
    if (c.want_vendor) {
      ASSERT_TRUE(id) << c.vendor << ":" << c.device;
      EXPECT_EQ(id->vendor, c.want_vendor);
    } else {
      EXPECT_FALSE(id) << c.vendor << ":" << c.device;
    }
  }
}

TEST(Parse, GpuModelFromPciId) {
  EXPECT_EQ(gpu_model_from_pci_id("10de", "2330"), "H100 SXM5 80GB");
  EXPECT_EQ(gpu_model_from_pci_id("10de", "2331"), "H100 PCIe");
  EXPECT_EQ(gpu_model_from_pci_id("10de", "2324"), "H800");
  EXPECT_EQ(gpu_model_from_pci_id("10de", "26b9"), "L40S");
  EXPECT_EQ(gpu_model_from_pci_id("10de", "20b0"), "A100 SXM4 40GB");
  EXPECT_EQ(gpu_model_from_pci_id("10de", "20b2"), "A100 SXM4 80GB");
  EXPECT_EQ(gpu_model_from_pci_id("10de", "20f1"), "A100 PCIe 40GB");
  EXPECT_EQ(gpu_model_from_pci_id("10de", "2335"), "H200 SXM 141GB");
  EXPECT_EQ(gpu_model_from_pci_id("10de", "1db5"), "Tesla V100 SXM2 32GB");
  EXPECT_EQ(gpu_model_from_pci_id("1002", "740c"), "Instinct MI250X / MI250");
  EXPECT_EQ(gpu_model_from_pci_id("1002", "74a1"), "Instinct MI300X");
  EXPECT_FALSE(gpu_model_from_pci_id("10de", "22a3"));  // NVSwitch, not a GPU
  EXPECT_FALSE(gpu_model_from_pci_id("1002", "2330"));  // device ID of another vendor
  EXPECT_FALSE(gpu_model_from_pci_id("10de", ""));
}

TEST(Parse, GidType) {
  EXPECT_EQ(normalize_gid_type("RoCE v2\n"), "RoCE v2");
  EXPECT_EQ(normalize_gid_type("IB/RoCE v1\n"), "IB/RoCE v1");
  EXPECT_FALSE(normalize_gid_type("\n"));
}

TEST(Parse, PciBusIdFromNvidiaSmi) {
  EXPECT_EQ(normalize_pci_bus_id("00000000:1B:00.0"), "0000:1b:00.0");
  EXPECT_EQ(normalize_pci_bus_id("00010000:02:00.0"), "10000:02:00.0");
  EXPECT_EQ(normalize_pci_bus_id(" 0000:62:00.0 "), "0000:62:00.0");
  EXPECT_EQ(normalize_pci_bus_id("GPU 0"), "");
  EXPECT_EQ(normalize_pci_bus_id("00000000:1B:00"), "");
}

// Golden: the CSV nvidia-smi prints for kNvidiaSmiFields, parsed to the JSON the facts carry.
TEST(Parse, NvidiaSmiCsvGolden) {
  const char* csv =
      "0, 00000000:18:00.0, NVIDIA H100 80GB HBM3, GPU-6a1c3e50-8b2d-4f00-9c17-3e5a7b2c9d00, "
      "1652823014410, 96.00.99.00.01, 550.90.07, 81559, 700.00, 31, 0, 0x0000000000000001\n"
      "1, 00000000:AF:00.0, NVIDIA A100-SXM4-40GB, GPU-1, [N/A], 92.00.45.00.06, 550.90.07, "
      "40960, [Not Supported], 45, [N/A], 0x0000000000000004\n"
      "2, 00000000:D8:00.0, Quadro RTX 8000, Founders, Edition, GPU-2, 0324, 90.02.0B.00.0E, "
      "550.90.07, 46080, 260.00, 50, 0, 0x0000000000000000\n"
      "No devices were found\n"
      "3, not-a-bus-id, X, GPU-3, 1, 1, 1, 1, 1, 1, 1, 0x0\n"
      "4, 00000000:3B:00.0, truncated\n";
  auto rows = parse_nvidia_smi_csv(csv);
  nlohmann::json got = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json j = r;
    j["bdf"] = r.bdf;
    got.push_back(j);
  }
  auto want = nlohmann::json::parse(R"([
    {"bdf": "0000:18:00.0", "index": 0, "name": "NVIDIA H100 80GB HBM3",
     "uuid": "GPU-6a1c3e50-8b2d-4f00-9c17-3e5a7b2c9d00", "serial": "1652823014410",
     "vbios_version": "96.00.99.00.01", "driver_version": "550.90.07",
     "memory_total_bytes": 85520809984, "power_limit_w": 700.0, "temperature_c": 31,
     "ecc_uncorrected_volatile": 0, "clocks_throttle_reasons_active": "0x0000000000000001"},
    {"bdf": "0000:af:00.0", "index": 1, "name": "NVIDIA A100-SXM4-40GB", "uuid": "GPU-1",
     "serial": {"error": "N/A"}, "vbios_version": "92.00.45.00.06",
     "driver_version": "550.90.07", "memory_total_bytes": 42949672960,
     "power_limit_w": {"error": "Not Supported"}, "temperature_c": 45,
     "ecc_uncorrected_volatile": {"error": "N/A"},
     "clocks_throttle_reasons_active": "0x0000000000000004"},
    {"bdf": "0000:d8:00.0", "index": 2, "name": "Quadro RTX 8000, Founders, Edition",
     "uuid": "GPU-2", "serial": "0324", "vbios_version": "90.02.0B.00.0E",
     "driver_version": "550.90.07", "memory_total_bytes": 48318382080, "power_limit_w": 260.0,
     "temperature_c": 50, "ecc_uncorrected_volatile": 0,
     "clocks_throttle_reasons_active": "0x0000000000000000"}
  ])");
  EXPECT_EQ(got, want) << nlohmann::json::diff(want, got).dump(1);
  EXPECT_TRUE(parse_nvidia_smi_csv("").empty());
  EXPECT_TRUE(parse_nvidia_smi_csv("NVIDIA-SMI has failed because it couldn't communicate\n").empty());
}

TEST(Parse, BuiltinModulesAerAndRuntimeConfigs) {
  EXPECT_EQ(parse_modules_builtin("kernel/drivers/nvme/host/nvme-core.ko\n"
                                  "kernel/fs/ext4/ext4.ko\n\nkernel/lib/crc32c.ko\n"),
            (std::vector<std::string>{"nvme_core", "ext4", "crc32c"}));
  EXPECT_EQ(parse_aer_total("RxErr 2\nBadTLP 1\nTOTAL_ERR_COR 3\n"), 3u);
  EXPECT_EQ(parse_aer_total("TOTAL_ERR_FATAL 0\n"), 0u);
  EXPECT_EQ(parse_aer_total("RxErr 2\n"), std::nullopt);
  auto d = parse_docker_daemon_json(
      R"({"default-runtime": "nvidia", "runtimes": {"nvidia": {"path": "nvidia-container-runtime"}}})");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->nvidia);
  EXPECT_EQ(d->default_runtime, "nvidia");
  d = parse_docker_daemon_json(R"({"log-driver": "json-file"})");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->nvidia);
  EXPECT_EQ(d->default_runtime, "runc");
  EXPECT_FALSE(parse_docker_daemon_json("{not json"));
  EXPECT_FALSE(parse_docker_daemon_json("[]"));
  EXPECT_TRUE(containerd_has_nvidia_runtime(
      "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n"));
  EXPECT_TRUE(containerd_has_nvidia_runtime(
      "  [plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.\"nvidia\".options]\n"));
  EXPECT_FALSE(containerd_has_nvidia_runtime(
      "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
      "# [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia]\n"));
  EXPECT_FALSE(containerd_has_nvidia_runtime(
      "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia-cdi]\n"));
}

}  // namespace
}  // namespace airlock::probes
