// Runs a shell command line for the probe tests and captures its exit code and stdout.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace airlock::probes::test {

struct CmdResult {
  int rc = -1;
  std::string out;
};

inline CmdResult run_cmd(const std::string& cmd) {
  CmdResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace airlock::probes::test
