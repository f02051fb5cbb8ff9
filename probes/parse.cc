// Pure text parsers for the probe (see parse.h). No I/O; malformed input never throws.
#include "probes/parse.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <set>

namespace airlock::probes {
namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find('\n', i);
    if (j == std::string_view::npos) j = text.size();
    out.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t j = i;
    while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

bool all_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c));
  });
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

}  // namespace

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  std::string t = trim(s);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || t.empty()) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_i64(std::string_view s) {
  std::string t = trim(s);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || t.empty()) return std::nullopt;
  return v;
}

std::string parse_hex_id(std::string_view s) {
  std::string t = trim(s);
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) t = t.substr(2);
  if (!all_hex(t) || t.size() > 16) return {};
  return lower(t);
}

std::optional<double> parse_leading_number(std::string_view s) {
  std::string t = trim(s);
  size_t n = 0;
  while (n < t.size() && (std::isdigit(static_cast<unsigned char>(t[n])) || t[n] == '.')) ++n;
  if (n == 0 || n > 24) return std::nullopt;
  std::string num = t.substr(0, n);
  char* end = nullptr;
  double v = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size()) return std::nullopt;
  return v;
}

std::optional<int> parse_state_number(std::string_view s) {
  std::string t = trim(s);
  size_t colon = t.find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto v = parse_i64(std::string_view(t).substr(0, colon));
  if (!v || *v < 0 || *v > 1000) return std::nullopt;
  return static_cast<int>(*v);
}

std::map<std::string, std::string> parse_os_release(std::string_view text) {
  std::map<std::string, std::string> out;
  for (auto line : lines_of(text)) {
    std::string l = trim(line);
    if (l.empty() || l[0] == '#') continue;
    size_t eq = l.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string key = l.substr(0, eq);
    if (!std::all_of(key.begin(), key.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        })) {
      continue;
    }
    std::string val = l.substr(eq + 1);
    if (val.size() >= 2 && (val.front() == '"' || val.front() == '\'') && val.back() == val.front()) {
      val = val.substr(1, val.size() - 2);
    }
    out[key] = val;
  }
  return out;
}

std::vector<std::string> parse_modules(std::string_view text) {
  std::vector<std::string> out;
  for (auto line : lines_of(text)) {
    auto f = fields_of(line);
    if (!f.empty()) out.emplace_back(f[0]);
  }
  return out;
}

std::map<std::string, uint64_t> parse_meminfo(std::string_view text) {
  std::map<std::string, uint64_t> out;
  for (auto line : lines_of(text)) {
    auto f = fields_of(line);
    size_t k = 0;
    if (f.size() >= 2 && f[0] == "Node") k = 2;
    if (f.size() < k + 2) continue;
    std::string_view key = f[k];
    if (key.empty() || key.back() != ':') continue;
    key.remove_suffix(1);
    auto v = parse_u64(f[k + 1]);
    if (!v) continue;
    uint64_t val = *v;
    if (f.size() > k + 2 && f[k + 2] == "kB") {
      if (val > (UINT64_MAX >> 10)) continue;
      val <<= 10;
    }
    out[std::string(key)] = val;
  }
  return out;
}

std::map<std::string, std::string> parse_colon_kv(std::string_view text) {
  std::map<std::string, std::string> out;
  for (auto line : lines_of(text)) {
    size_t c = line.find(':');
    if (c == std::string_view::npos) continue;
    std::string k = trim(line.substr(0, c));
    if (k.empty()) continue;
    out[k] = trim(line.substr(c + 1));
  }
  return out;
}

CpuInfo parse_cpuinfo(std::string_view text) {
  CpuInfo ci;
  std::set<std::string> packages;
  for (auto line : lines_of(text)) {
    size_t c = line.find(':');
    if (c == std::string_view::npos) continue;
    std::string k = trim(line.substr(0, c));
    std::string v = trim(line.substr(c + 1));
    if (k == "processor" && parse_u64(v)) {
      ++ci.logical_cpus;
    } else if (ci.model.empty() && (k == "model name" || k == "cpu" || k == "Processor")) {
      ci.model = v;
    } else if (k == "physical id") {
      packages.insert(v);
    } else if (k == "flags") {
      for (auto f : fields_of(v)) {
        if (f == "hypervisor") ci.hypervisor = true;
      }
    }
  }
  ci.sockets = packages.size();
  return ci;
}

std::optional<NvidiaVersion> parse_nvidia_version(std::string_view text) {
  auto ls = lines_of(text);
  if (ls.empty()) return std::nullopt;
  std::string_view first = ls[0];
  size_t km = first.find("Kernel Module");
  if (km == std::string_view::npos) return std::nullopt;
  NvidiaVersion v;
  v.flavour = first.find("Open Kernel Module") != std::string_view::npos ? "open" : "proprietary";
  for (auto f : fields_of(first.substr(km + 13))) {
    if (!f.empty() && std::isdigit(static_cast<unsigned char>(f[0])) &&
        f.find('.') != std::string_view::npos &&
        std::all_of(f.begin(), f.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
        })) {
      v.version = std::string(f);
      return v;
    }
  }
  return std::nullopt;
}

bool is_pci_address(std::string_view s) {
  // domain:bus:dev.fn
  size_t c1 = s.find(':');
  if (c1 == std::string_view::npos || c1 < 4 || c1 > 8) return false;
  size_t c2 = s.find(':', c1 + 1);
  size_t dot = s.find('.', c1 + 1);
  if (c2 == std::string_view::npos || dot == std::string_view::npos || dot < c2) return false;
  return all_hex(s.substr(0, c1)) && c2 - c1 - 1 == 2 && all_hex(s.substr(c1 + 1, 2)) &&
         dot - c2 - 1 == 2 && all_hex(s.substr(c2 + 1, 2)) && s.size() - dot - 1 == 1 &&
         std::isdigit(static_cast<unsigned char>(s[dot + 1])) && s[dot + 1] < '8';
}

std::vector<std::string> pci_chain(std::string_view resolved_path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= resolved_path.size()) {
    size_t j = resolved_path.find('/', i);
    if (j == std::string_view::npos) j = resolved_path.size();
    auto comp = resolved_path.substr(i, j - i);
    if (is_pci_address(comp)) out.push_back(lower(comp));
    i = j + 1;
  }
  return out;
}

std::string unescape_mount_field(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      auto oct = s.substr(i + 1, 3);
      if (oct.size() == 3 && std::all_of(oct.begin(), oct.end(), [](char c) {
            return c >= '0' && c <= '7';
          })) {
        out.push_back(static_cast<char>(((oct[0] - '0') << 6) | ((oct[1] - '0') << 3) |
                                        (oct[2] - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string classify_fs(std::string_view t) {
  static const std::set<std::string_view> kNetwork = {
      "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "virtiofs", "fuse.sshfs", "fuse.s3fs",
      "fuse.gcsfuse", "fuse.juicefs", "afs", "ncpfs"};
  static const std::set<std::string_view> kParallel = {
      "lustre", "gpfs", "wekafs", "beegfs", "ceph", "fuse.ceph-fuse", "glusterfs",
      "fuse.glusterfs", "panfs", "orangefs", "pvfs2", "fuse.weka"};
  static const std::set<std::string_view> kPseudo = {
      "proc", "sysfs", "devtmpfs", "devpts", "tmpfs", "cgroup", "cgroup2", "securityfs",
      "debugfs", "tracefs", "pstore", "bpf", "mqueue", "hugetlbfs", "configfs", "fusectl",
      "autofs", "binfmt_misc", "efivarfs", "rpc_pipefs", "nsfs", "overlay", "ramfs", "rootfs",
      "selinuxfs", "usbfs", "cpuset", "dax", "nfsd", "sockfs", "pipefs"};
  if (kNetwork.count(t)) return "network";
  if (kParallel.count(t)) return "parallel";
  if (kPseudo.count(t)) return "pseudo";
  return "local";
}

std::vector<Mount> parse_mountinfo(std::string_view text) {
  std::vector<Mount> out;
  for (auto line : lines_of(text)) {
    auto f = fields_of(line);
    size_t dash = 0;
    for (size_t i = 6; i < f.size(); ++i) {
      if (f[i] == "-") {
        dash = i;
        break;
      }
    }
    if (dash == 0 || f.size() < dash + 3) continue;
    Mount m;
    m.mount_point = unescape_mount_field(f[4]);
    m.options = std::string(f[5]);
    m.fs_type = std::string(f[dash + 1]);
    m.source = unescape_mount_field(f[dash + 2]);
    m.kind = classify_fs(m.fs_type);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<Mount> parse_proc_mounts(std::string_view text) {
  std::vector<Mount> out;
  for (auto line : lines_of(text)) {
    auto f = fields_of(line);
    if (f.size() < 4) continue;
    Mount m;
    m.source = unescape_mount_field(f[0]);
    m.mount_point = unescape_mount_field(f[1]);
    m.fs_type = std::string(f[2]);
    m.options = std::string(f[3]);
    m.kind = classify_fs(m.fs_type);
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

struct AccelDevice {
  const char* device;
  const char* family;
};
struct AccelVendor {
  const char* vendor_id;
  const char* vendor;
  const char* class_prefix;  // "" = any class
  bool listed_only;          // only the device IDs below are accelerators
  std::vector<AccelDevice> devices;
};

const std::vector<AccelVendor>& accel_table() {
  static const std::vector<AccelVendor> k = {
      {"1da3", "habana", "", false,
       {{"0001", "Goya"}, {"0030", "Greco"}, {"1000", "Gaudi"}, {"1010", "Gaudi (secured)"},
        {"1020", "Gaudi2"}, {"1060", "Gaudi3"}, {"1063", "Gaudi3 (HL-338)"}}},
      {"1ed2", "furiosa", "", false,
       {{"0000", "Warboy"}, {"0001", "RNGD"}, {"0002", "RNGD-Plus"}, {"2222", "RNGD-S"}}},
      {"1eff", "rebellions", "", false,
       {{"1020", "ATOM (RBLN-CA02)"}, {"1021", "ATOM VF"}, {"1110", "RBLN-CA11"},
        {"1120", "ATOM-Plus (RBLN-CA12)"}, {"1210", "RBLN-CA21"}, {"1220", "ATOM-Plus (RBLN-CA22)"},
        {"1250", "ATOM-Max (RBLN-CA25)"}, {"2030", "REBEL (RBLN-CR03)"}, {"2130", "RBLN-CR13"},
        {"2230", "RBLN-CR23"}}},
      {"1e52", "tenstorrent", "", false,
       {{"faca", "Grayskull"}, {"401e", "Wormhole"}, {"b140", "Blackhole"}}},
      {"1bcf", "nec", "", false, {{"001c", "SX-Aurora Vector Engine"}}},
      {"19e5", "huawei", "12", false,
       {{"d100", "Ascend 310"}, {"d500", "Ascend 310P"}, {"d801", "Ascend 910"},
        {"d802", "Ascend 910B"}, {"d803", "Ascend 910C"}}},
      {"1ae0", "google", "", true,
       {{"005e", "TPU v4"}, {"0056", "TPU v4 lite"}, {"0063", "TPU v5e"}, {"0062", "TPU v5p"},
        {"006f", "TPU v6e"}}},
      {"1d95", "graphcore", "", false, {{"0001", "Colossus GC2 (C2)"}, {"0002", "GC1 (S1)"}}},
      {"1d0f", "aws", "", true,
       {{"7064", "Inferentia"}, {"7164", "Trainium"}, {"7264", "Inferentia2"},
        {"7364", "Trainium2"}, {"7564", "Trainium3"}, {"7565", "Trainium3"}}},
      {"1d22", "baidu", "", false, {{"3684", "Kunlun"}, {"3685", "Kunlun2 VF"}}},
      {"1e3e", "iluvatar", "", false, {}},
      {"8086", "intel", "0b40", false, {{"225c", "Xeon Phi"}, {"2250", "Xeon Phi"}}},
      {"8086", "intel", "", true,
       {{"0bd5", "Data Center GPU Max 1550"}, {"0bd6", "Data Center GPU Max 1550"},
        {"0bd9", "Data Center GPU Max 1100"}, {"0bda", "Data Center GPU Max 1100"},
        {"0bdb", "Data Center GPU Max 1100"}, {"7d1d", "NPU"}, {"643e", "NPU"},
        {"ad1d", "NPU"}, {"b03e", "NPU"}}},
  };
  return k;
}

}  // namespace

std::optional<AcceleratorId> classify_accelerator(std::string_view vendor, std::string_view device,
                                                  std::string_view class_code) {
  for (const auto& v : accel_table()) {
    if (vendor != v.vendor_id) continue;
    std::string_view cp = v.class_prefix;
    if (!cp.empty() && class_code.substr(0, cp.size()) != cp) continue;
    for (const auto& d : v.devices) {
      if (device == d.device) return AcceleratorId{v.vendor, d.family};
    }
    if (!v.listed_only) {
      if (!cp.empty() && cp == "0b40") return AcceleratorId{v.vendor, "co-processor " + std::string(device)};
      return AcceleratorId{v.vendor, "unknown device " + std::string(device)};
    }
  }
  return std::nullopt;
}

std::optional<std::string> gpu_model_from_pci_id(std::string_view vendor,
                                                 std::string_view device) {
  struct Entry {
    const char* vendor;
    const char* device;
    const char* model;
  };
  // probe-spec.md table (b) (pci.ids @ c1c12547). Names as NVIDIA/AMD market them.
  static const Entry kTable[] = {
      {"10de", "1db1", "Tesla V100 SXM2 16GB"},
      {"10de", "1db4", "Tesla V100 PCIe 16GB"},
      {"10de", "1db5", "Tesla V100 SXM2 32GB"},
      {"10de", "1df6", "Tesla V100S PCIe 32GB"},
      {"10de", "1eb8", "Tesla T4"},
      {"10de", "20b0", "A100 SXM4 40GB"},
      {"10de", "20b2", "A100 SXM4 80GB"},
      {"10de", "20b1", "A100 PCIe 40GB"},
      {"10de", "20f1", "A100 PCIe 40GB"},
      {"10de", "20b5", "A100 PCIe 80GB"},
      {"10de", "20f3", "A800 SXM4 80GB"},
      {"10de", "20b7", "A30"},
      {"10de", "2236", "A10"},
      {"10de", "26b5", "L40"},
      {"10de", "26b9", "L40S"},
      {"10de", "27b8", "L4"},
      {"10de", "2330", "H100 SXM5 80GB"},
      {"10de", "2331", "H100 PCIe"},
      {"10de", "2321", "H100 NVL"},
      {"10de", "2339", "H100"},
      {"10de", "2324", "H800"},
      {"10de", "2322", "H800 PCIe"},
      {"10de", "2329", "H20"},
      {"10de", "2335", "H200 SXM 141GB"},
      {"10de", "233b", "H200 NVL"},
      {"10de", "2342", "GH200"},
      {"10de", "2348", "GH200"},
      {"10de", "2901", "B200"},
      {"10de", "2909", "HGX B200"},
      {"10de", "2920", "B100"},
      {"10de", "29bc", "B100"},
      {"10de", "2941", "HGX GB200"},
      {"10de", "3182", "B300 SXM6"},
      {"10de", "31c2", "GB300"},
      {"10de", "31c3", "GB300"},
      {"10de", "2bb5", "RTX PRO 6000 Blackwell Server Edition"},
      {"1002", "6860", "Instinct MI25"},
      {"1002", "66a1", "Instinct MI50"},
      {"1002", "738c", "Instinct MI100"},
      {"1002", "738e", "Instinct MI100"},
      {"1002", "740f", "Instinct MI210"},
      {"1002", "740c", "Instinct MI250X / MI250"},
      {"1002", "7408", "Instinct MI250X"},
      {"1002", "74a0", "Instinct MI300A"},
      {"1002", "74a1", "Instinct MI300X"},
      {"1002", "74a2", "Instinct MI308X"},
      {"1002", "74a5", "Instinct MI325X"},
      {"1002", "74b5", "Instinct MI300X VF"},
      {"1002", "75a0", "Instinct MI350X"},
      {"1002", "75a3", "Instinct MI355X"},
  };
  for (const auto& e : kTable) {
    if (vendor == e.vendor && device == e.device) return std::string(e.model);
  }
  return std::nullopt;
}

std::optional<std::string> normalize_gid_type(std::string_view text) {
  std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  return t;
}

std::string normalize_pci_bus_id(std::string_view s) {
  std::string t = lower(trim(s));
  size_t c1 = t.find(':');
  if (c1 == std::string::npos) return "";
  std::string dom = t.substr(0, c1);
  size_t nz = dom.find_first_not_of('0');
  dom = nz == std::string::npos ? "" : dom.substr(nz);
  if (dom.size() < 4) dom = std::string(4 - dom.size(), '0') + dom;
  std::string out = dom + t.substr(c1);
  return is_pci_address(out) ? out : "";
}

namespace {

// One nvidia-smi CSV value: trimmed; "[N/A]" / "N/A" / "[Not Supported]" are errors.
Fact<std::string> smi_value(std::string_view raw) {
  std::string v = trim(raw);
  if (v.size() >= 2 && v.front() == '[' && v.back() == ']') {
    return Fact<std::string>::fail(v.substr(1, v.size() - 2));
  }
  if (v == "N/A" || v.empty()) return Fact<std::string>::fail(v.empty() ? "empty" : v);
  return Fact<std::string>::of(v);
}

template <class T, class F>
Fact<T> smi_number(std::string_view raw, F parse) {
  auto v = smi_value(raw);
  if (!v.ok()) return Fact<T>::fail(v.error);
  auto n = parse(*v.value);
  if (!n) return Fact<T>::fail("malformed: " + v.value->substr(0, 64));
  return Fact<T>::of(static_cast<T>(*n));
}

std::optional<double> parse_double(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return std::nullopt;
  return d;
}

}  // namespace

std::vector<NvidiaSmiGpu> parse_nvidia_smi_csv(std::string_view text) {
  constexpr size_t kFields = 12;
  std::vector<NvidiaSmiGpu> out;
  for (auto line : lines_of(text)) {
    std::vector<std::string_view> f;
    size_t i = 0;
    while (true) {
      size_t j = line.find(',', i);
      if (j == std::string_view::npos) {
        f.push_back(line.substr(i));
        break;
      }
      f.push_back(line.substr(i, j - i));
      i = j + 1;
    }
    if (f.size() < kFields) continue;
    // A comma inside the product name: join the extra fields back into the name (field 2).
    size_t extra = f.size() - kFields;
    std::string name(f[2]);
    for (size_t k = 0; k < extra; ++k) name += "," + std::string(f[3 + k]);
    f.erase(f.begin() + 3, f.begin() + 3 + static_cast<std::ptrdiff_t>(extra));
    NvidiaSmiGpu g;
    g.bdf = normalize_pci_bus_id(f[1]);
    if (g.bdf.empty()) continue;
    g.index = smi_number<uint64_t>(f[0], [](const std::string& v) { return parse_u64(v); });
    g.name = smi_value(name);
    g.uuid = smi_value(f[3]);
    g.serial = smi_value(f[4]);
    g.vbios_version = smi_value(f[5]);
    g.driver_version = smi_value(f[6]);
    g.memory_total_bytes = smi_number<uint64_t>(f[7], [](const std::string& v) {
      auto mib = parse_u64(v);
      return mib && *mib <= (UINT64_MAX >> 20) ? std::optional<uint64_t>(*mib << 20)
                                               : std::nullopt;
    });
    g.power_limit_w = smi_number<double>(f[8], parse_double);
    g.temperature_c = smi_number<int64_t>(f[9], [](const std::string& v) { return parse_i64(v); });
    g.ecc_uncorrected_volatile =
        smi_number<uint64_t>(f[10], [](const std::string& v) { return parse_u64(v); });
    g.clocks_throttle_reasons_active = smi_value(f[11]);
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<std::string> parse_modules_builtin(std::string_view text) {
  std::vector<std::string> out;
  for (auto line : lines_of(text)) {
    std::string l = trim(line);
    if (l.empty()) continue;
    size_t slash = l.rfind('/');
    std::string base = slash == std::string::npos ? l : l.substr(slash + 1);
    if (base.size() > 3 && base.compare(base.size() - 3, 3, ".ko") == 0) {
      base.resize(base.size() - 3);
    }
    std::replace(base.begin(), base.end(), '-', '_');
    if (!base.empty()) out.push_back(base);
  }
  return out;
}

std::optional<uint64_t> parse_aer_total(std::string_view text) {
  for (auto line : lines_of(text)) {
    auto f = fields_of(line);
    if (f.size() == 2 && f[0].rfind("TOTAL_ERR_", 0) == 0) return parse_u64(f[1]);
  }
  return std::nullopt;
}

std::optional<DockerRuntimes> parse_docker_daemon_json(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  DockerRuntimes d;
  auto rt = j.find("runtimes");
  d.nvidia = rt != j.end() && rt->is_object() && rt->contains("nvidia");
  auto def = j.find("default-runtime");
  d.default_runtime = def != j.end() && def->is_string() ? def->get<std::string>() : "runc";
  return d;
}

bool containerd_has_nvidia_runtime(std::string_view text) {
  for (auto line : lines_of(text)) {
    std::string l = trim(line);
    if (l.empty() || l[0] != '[') continue;
    size_t close = l.find(']');
    if (close == std::string::npos) continue;
    std::string header = l.substr(0, close);
    if (header.find("runtimes.nvidia") != std::string::npos ||
        header.find("runtimes.\"nvidia\"") != std::string::npos) {
      // [..runtimes.nvidia] or [..runtimes.nvidia.options]; not runtimes.nvidia-cdi.
      size_t at = header.find("runtimes.");
      std::string rest = header.substr(at + 9);
      if (rest == "nvidia" || rest == "\"nvidia\"" || rest.rfind("nvidia.", 0) == 0 ||
          rest.rfind("\"nvidia\".", 0) == 0) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace airlock::probes
