// Helpers for the node tests: a temporary prefix, blobs put into its store, a command runner.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "node/layout.h"
#include "node/store.h"
#include "node/util.h"

namespace airlock::node::test {

class TempPrefix {
 public:
  TempPrefix() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/nodeops-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
    layout_.prefix = path_;
  }
  ~TempPrefix() {
    // Read-only directories made by a test would stop the cleanup of a non-root user.
    std::string cmd = "chmod -R u+w '" + path_ + "' 2>/dev/null; rm -rf '" + path_ + "'";
    if (!path_.empty()) (void)!std::system(cmd.c_str());
  }
  const std::string& path() const { return path_; }
  const Layout& layout() const { return layout_; }

 private:
  std::string path_;
  Layout layout_;
};

inline void write_text(const std::string& path, const std::string& data) {
  ASSERT_TRUE(write_file_atomic(path, data).ok()) << path;
}

inline std::string read_text(const std::string& path) {
  auto r = read_file(path);
  return r.ok() ? *r : std::string("<unreadable>");
}

// Puts data into the store through store_put; returns its digest.
inline std::string put_blob(const Layout& l, const std::string& data) {
  std::string digest = digest_of(data);
  std::string src = l.prefix + "/.src-" + std::string(hex_of(digest)).substr(0, 12);
  write_text(src, data);
  int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  auto r = store_put(l, Want{digest, data.size()}, fd);
  ::close(fd);
  ::unlink(src.c_str());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  return digest;
}

// Names in a directory (hidden ones included), sorted.
inline std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.push_back(e.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

struct CmdResult {
  int rc = -1;
  std::string out;
  nlohmann::json json;
};

// Runs a shell command line; stdout is parsed as JSON when it is.
inline CmdResult run_cmd(const std::string& cmd) {
  CmdResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.json = nlohmann::json::parse(r.out, nullptr, false);
  return r;
}

}  // namespace airlock::node::test
