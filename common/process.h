// Running local programs (docker load, ctr, skopeo, dkms...) behind a small interface, so the
// logic above is tested with a recording fake. argv vectors only, never shell strings. Each run
// has a timeout; the child gets its own process group, which is killed on timeout.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace airlock {

struct ProcessResult {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string out;     // capped at ProcessOptions::output_cap
  std::string err;
  bool timed_out = false;
};

using StdinWriter = std::function<Status(const std::function<Status(const void*, size_t)>& write)>;

struct ProcessOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  StdinWriter stdin_writer;  // streams the child's standard input; empty: /dev/null
  size_t output_cap = 1 << 20;
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // An error only when the program could not be started or its input could not be produced;
  // a non-zero exit is a result, not an error.
  virtual Result<ProcessResult> run(const std::vector<std::string>& argv, const ProcessOptions& opts) = 0;
};

class SystemProcessRunner : public ProcessRunner {
 public:
  Result<ProcessResult> run(const std::vector<std::string>& argv, const ProcessOptions& opts) override;
};

}  // namespace airlock
