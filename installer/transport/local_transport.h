// The transport for the installer's own machine (`local: true` hosts): argv runs through
// SystemProcessRunner (posix_spawn, own process group) under `timeout`, like on remote nodes, and
// uploads are local copies (temp file, fsync, digest check, rename, fsync folder). The process
// runs as the installer's user, with `sudo -n` in front when the host says sudo.
#pragma once

#include <atomic>
#include <string>

#include "common/process.h"
#include "installer/transport/transport.h"

namespace airlock::transport {

class LocalTransport : public Transport {
 public:
  explicit LocalTransport(inventory::Host host);
  ~LocalTransport() override;

  const std::string& node() const override { return host_.name; }
  Status connect() override;
  Result<ExecResult> exec(const std::vector<std::string>& argv, const ExecOptions& opts) override;
  Result<uint64_t> upload(const std::string& local_path, const std::string& remote_path,
                          const std::string& sha256_hex, int mode = 0644) override;
  void cancel() override;

 private:
  inventory::Host host_;
  SystemProcessRunner runner_;
  std::atomic<bool> cancelled_{false};
  std::string pid_dir_;  // the wrapper writes each command's pid (= its pgid) here
  int runs_ = 0;
};

}  // namespace airlock::transport
