// Test-only helpers shared by tamper_test.cc and malicious_test.cc (header-only, so the test
// target needs no new source file): locate members in a raw ustar stream, re-pack members with
// libarchive (pax_restricted, like the product's writer), hand-craft raw tar headers (pax 'x',
// GNU 'L', links, devices, FIFOs) that a well-behaved writer would never emit, and run
// `airlock bundle verify` plus `airlock bundle extract` on a bad bundle, checking that both
// reject it (exit 1, an expected message) and that extraction leaves nothing behind.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tests/e2e/cli_harness.h"

namespace airlock::test::tarcraft {

// ---- reading raw ustar headers --------------------------------------------------------------

struct RawMember {
  std::string name;
  char type = '0';
  uint64_t size = 0;           // data size (pax "size" when a pax header gave one)
  uint64_t header_offset = 0;  // first header of the entry (its pax header, if any)
  uint64_t data_offset = 0;    // first data byte
};

inline uint64_t parse_octal(const char* p, size_t n) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < n && p[i] == ' ') ++i;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; ++i) v = v * 8 + static_cast<uint64_t>(p[i] - '0');
  return v;
}

inline uint64_t pad512(uint64_t n) { return (n + 511) / 512 * 512; }

// Walks 512-byte headers: name at 0 (with the ustar prefix at 345), octal size at 124, type at
// 156; data follows the header, padded to 512. Pax 'x' records "size" and "path" apply to the
// next header. Stops at the first all-zero block.
inline std::vector<RawMember> scan_ustar(const std::string& bytes) {
  std::vector<RawMember> out;
  uint64_t pos = 0;
  std::string pax_path;
  uint64_t pax_size = 0;
  bool have_pax_size = false;
  uint64_t entry_start = 0;
  bool in_entry = false;
  while (pos + 512 <= bytes.size()) {
    const char* h = bytes.data() + pos;
    bool zero = true;
    for (int i = 0; i < 512 && zero; ++i) zero = h[i] == 0;
    if (zero) break;
    if (!in_entry) entry_start = pos;
    in_entry = true;
    std::string name(h, strnlen(h, 100));
    std::string prefix(h + 345, strnlen(h + 345, 155));
    if (!prefix.empty()) name = prefix + "/" + name;
    uint64_t size = parse_octal(h + 124, 12);
    char type = h[156];
    if (type == 'x') {
      std::string rec = bytes.substr(pos + 512, size);
      size_t p = 0;
      while (p < rec.size()) {
        size_t sp = rec.find(' ', p);
        if (sp == std::string::npos) break;
        uint64_t len = std::stoull(rec.substr(p, sp - p));
        std::string kv = rec.substr(sp + 1, len - (sp - p) - 2);
        size_t eq = kv.find('=');
        if (kv.substr(0, eq) == "size") {
          pax_size = std::stoull(kv.substr(eq + 1));
          have_pax_size = true;
        } else if (kv.substr(0, eq) == "path") {
          pax_path = kv.substr(eq + 1);
        }
        p += len;
      }
      pos += 512 + pad512(size);
      continue;
    }
    RawMember m;
    m.name = pax_path.empty() ? name : pax_path;
    m.type = type;
    m.size = have_pax_size ? pax_size : size;
    m.header_offset = entry_start;
    m.data_offset = pos + 512;
    out.push_back(m);
    pos += 512 + pad512(m.size);
    pax_path.clear();
    have_pax_size = false;
    in_entry = false;
  }
  return out;
}

inline const RawMember& find_member(const std::vector<RawMember>& members, const std::string& name) {
  for (const auto& m : members) {
    if (m.name == name) return m;
  }
  ADD_FAILURE() << "no member '" << name << "' in the bundle";
  static const RawMember none;
  return none;
}

// ---- re-packing with libarchive -------------------------------------------------------------

struct Entry {
  std::string name;
  std::string data;
};

// Every member of a tar file, with its data (bundles in these tests are a few MiB).
inline std::vector<Entry> read_entries(const std::string& path) {
  std::vector<Entry> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) != ARCHIVE_OK) {
    ADD_FAILURE() << "cannot open " << path << ": " << archive_error_string(a);
    archive_read_free(a);
    return out;
  }
  struct archive_entry* e = nullptr;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    Entry entry{archive_entry_pathname(e), ""};
    char buf[1 << 16];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) entry.data.append(buf, static_cast<size_t>(n));
    out.push_back(std::move(entry));
  }
  archive_read_free(a);
  return out;
}

// Writes regular-file members in the given order, as the product's writer does (pax_restricted,
// 0644, uid/gid 0, mtime = the test epoch).
inline void write_entries(const std::string& path, const std::vector<Entry>& entries) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_add_filter_none(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK) << archive_error_string(a);
  for (const auto& en : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, en.name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(en.data.size()));
    archive_entry_set_mtime(e, std::stoll(kEpoch), 0);
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    ASSERT_EQ(archive_write_data(a, en.data.data(), en.data.size()), static_cast<la_ssize_t>(en.data.size()));
    archive_entry_free(e);
  }
  ASSERT_EQ(archive_write_close(a), ARCHIVE_OK) << archive_error_string(a);
  archive_write_free(a);
}

// ---- raw header crafting --------------------------------------------------------------------

inline void put_octal(std::string& h, size_t off, size_t len, uint64_t v) {
  // len-1 octal digits, zero-padded, then NUL.
  std::string digits(len - 1, '0');
  for (size_t i = len - 1; i-- > 0 && v;) {
    digits[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  std::memcpy(&h[off], digits.data(), len - 1);
  h[off + len - 1] = '\0';
}

// A ustar header (magic "ustar\0" "00"). size_field, when given, is written instead of the
// octal size (e.g. GNU base-256 bytes).
inline std::string ustar_header(const std::string& name, uint64_t size, char type, const std::string& link = "",
                                unsigned devmajor = 0, unsigned devminor = 0, const std::string& size_field = "") {
  std::string h(512, '\0');
  std::memcpy(&h[0], name.data(), std::min<size_t>(name.size(), 100));
  put_octal(h, 100, 8, type == '2' ? 0777 : 0644);
  put_octal(h, 108, 8, 0);
  put_octal(h, 116, 8, 0);
  if (size_field.empty()) {
    put_octal(h, 124, 12, size);
  } else {
    std::memcpy(&h[124], size_field.data(), 12);
  }
  put_octal(h, 136, 12, static_cast<uint64_t>(std::stoll(kEpoch)));
  h[156] = type;
  std::memcpy(&h[157], link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(&h[257], "ustar\0" "00", 8);
  put_octal(h, 329, 8, devmajor);
  put_octal(h, 337, 8, devminor);
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  std::memcpy(&h[148], chk, 6);
  h[154] = '\0';
  h[155] = ' ';
  return h;
}

inline std::string padded(std::string data) {
  data.resize(pad512(data.size()), '\0');
  return data;
}

// A pax extended header ('x') with the given records, including its padded body.
inline std::string pax_header(const std::string& name, const std::vector<std::pair<std::string, std::string>>& records) {
  std::string body;
  for (const auto& [k, v] : records) {
    std::string rest = " " + k + "=" + v + "\n";
    size_t len = rest.size() + 1;
    while (std::to_string(len).size() + rest.size() != len) ++len;
    body += std::to_string(len) + rest;
  }
  return ustar_header("PaxHeader/" + name.substr(0, 80), body.size(), 'x') + padded(body);
}

// A regular-file member: header plus padded data.
inline std::string file_member(const std::string& name, const std::string& data) {
  return ustar_header(name, data.size(), '0') + padded(data);
}

inline std::string end_of_archive() { return std::string(1024, '\0'); }

// ---- running the CLI on a bad bundle --------------------------------------------------------

struct Measured {
  RunResult r;
  double seconds = 0;
  long max_rss_kb = -1;  // -1: /usr/bin/time not available
};

inline std::string strip_rss_line(std::string& err, long* kb) {
  static const std::string tag = "AIRLOCK_TEST_MAXRSS_KB=";
  size_t p = err.rfind(tag);
  if (p == std::string::npos) return err;
  *kb = std::stol(err.substr(p + tag.size()));
  err.erase(p);
  // GNU time adds "Command exited with non-zero status N" before the format line.
  size_t c = err.rfind("Command exited with non-zero status");
  if (c != std::string::npos) err.erase(c);
  return err;
}

// Runs the airlock binary (under /usr/bin/time when available, for the peak RSS).
inline Measured run_measured(const std::vector<std::string>& args) {
  static const bool have_time = std::filesystem::exists("/usr/bin/time");
  std::vector<std::string> argv;
  if (have_time) argv = {"/usr/bin/time", "-f", "AIRLOCK_TEST_MAXRSS_KB=%M"};
  argv.push_back(AIRLOCK_BIN);
  argv.insert(argv.end(), args.begin(), args.end());
  Measured m;
  auto t0 = std::chrono::steady_clock::now();
  m.r = run(argv, {{"SOURCE_DATE_EPOCH", kEpoch}});
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (have_time) strip_rss_line(m.r.err, &m.max_rss_kb);
  return m;
}

struct Limits {
  double max_seconds = 0;     // 0: not checked
  long max_rss_kb = 0;        // 0: not checked
};

inline std::vector<std::string> pub_args(const std::vector<std::string>& pubs, size_t threshold) {
  std::vector<std::string> a;
  for (const auto& p : pubs) {
    a.push_back("--pub");
    a.push_back(p);
  }
  if (threshold > 0) {
    a.push_back("--threshold");
    a.push_back(std::to_string(threshold));
  }
  return a;
}

inline void check_limits(const Measured& m, const Limits& lim, const std::string& what) {
  // Recorded in the test's XML/JSON output (--gtest_output) for reports.
  ::testing::Test::RecordProperty(what + "_ms", std::to_string(static_cast<long>(m.seconds * 1000)));
  ::testing::Test::RecordProperty(what + "_max_rss_kb", std::to_string(m.max_rss_kb));
  if (lim.max_seconds > 0) {
    EXPECT_LT(m.seconds, lim.max_seconds) << what << " took too long";
  }
  if (lim.max_rss_kb > 0 && m.max_rss_kb >= 0) {
    EXPECT_LT(m.max_rss_kb, lim.max_rss_kb) << what << " peak RSS (KiB) too high";
  }
}

// Checks that `airlock bundle extract` of `bundle` into a fresh directory fails with exit 1 and
// `expected` on stderr, and that neither the target nor a "*.staging-*" directory (nor anything
// else, e.g. a "../" escape) appears in the target's parent.
inline void expect_extract_rejected(const std::string& bundle, const std::vector<std::string>& pubs,
                                    const std::string& expected, size_t threshold = 0, const Limits& lim = {}) {
  TempDir parent;
  std::string target = parent / "out";
  std::vector<std::string> args = {"bundle", "extract", bundle, "-C", target};
  auto extra = pub_args(pubs, threshold);
  args.insert(args.end(), extra.begin(), extra.end());
  Measured m = run_measured(args);
  EXPECT_EQ(m.r.exit_code, 1) << "extract: " << m.r.err;
  EXPECT_NE(m.r.err.find(expected), std::string::npos) << "extract stderr lacks \"" << expected << "\": " << m.r.err;
  EXPECT_FALSE(exists(target)) << "extract target exists after a rejected extract";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(parent.path(), ec)) {
    std::string n = e.path().filename().string();
    if (n.find(".staging-") != std::string::npos) {
      ADD_FAILURE() << "staging directory left behind: " << e.path();
    } else {
      ADD_FAILURE() << "unexpected entry beside the extract target: " << e.path();
    }
  }
  check_limits(m, lim, "extract");
}

inline void expect_verify_rejected(const std::string& bundle, const std::vector<std::string>& pubs,
                                   const std::string& expected, size_t threshold = 0, const Limits& lim = {}) {
  std::vector<std::string> args = {"bundle", "verify", bundle};
  auto extra = pub_args(pubs, threshold);
  args.insert(args.end(), extra.begin(), extra.end());
  Measured m = run_measured(args);
  EXPECT_EQ(m.r.exit_code, 1) << "verify: " << m.r.err;
  EXPECT_NE(m.r.err.find(expected), std::string::npos) << "verify stderr lacks \"" << expected << "\": " << m.r.err;
  check_limits(m, lim, "verify");
}

// Both verify and extract must reject the bundle with the same expected message.
inline void expect_rejected(const std::string& bundle, const std::vector<std::string>& pubs,
                            const std::string& expected, size_t threshold = 0, const Limits& lim = {}) {
  {
    SCOPED_TRACE("airlock bundle verify");
    expect_verify_rejected(bundle, pubs, expected, threshold, lim);
  }
  {
    SCOPED_TRACE("airlock bundle extract");
    expect_extract_rejected(bundle, pubs, expected, threshold, lim);
  }
}

// Both verify and extract must accept the bundle (controls: the crafting itself is sound).
inline void expect_accepted(const std::string& bundle, const std::vector<std::string>& pubs) {
  auto v = airlock([&] {
    std::vector<std::string> a = {"bundle", "verify", bundle};
    auto extra = pub_args(pubs, 0);
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }());
  EXPECT_EQ(v.exit_code, 0) << "verify: " << v.err;
  TempDir parent;
  std::string target = parent / "out";
  std::vector<std::string> a = {"bundle", "extract", bundle, "-C", target};
  auto extra = pub_args(pubs, 0);
  a.insert(a.end(), extra.begin(), extra.end());
  auto x = airlock(a);
  EXPECT_EQ(x.exit_code, 0) << "extract: " << x.err;
  EXPECT_TRUE(exists(target + "/bundle.json"));
}

}  // namespace airlock::test::tarcraft
