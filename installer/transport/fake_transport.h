// A scripted Transport for unit tests of everything above the transport (executor, gathering,
// fleet probe, later the rollout engine). Each node gets a script: how connect() fails, how
// long a command takes, what it prints; the fake honours timeouts and cancel() like the real
// ones and records every call so tests can assert on what was run and sent.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>

#include "installer/transport/transport.h"

namespace airlock::transport {

struct FakeNode {
  std::optional<Error> connect_error{};              // connect() fails with this
  std::chrono::milliseconds connect_delay{0};
  std::chrono::milliseconds exec_delay{0};         // each exec takes this long (timeouts apply)
  // Produces the result of a command; default: exit 0 with "<node>: <argv joined>\n" on stdout.
  std::function<ExecResult(const std::string& node, const std::vector<std::string>& argv,
                           const std::string& stdin_data)> on_exec{};
  std::optional<Error> exec_error{};                 // every exec fails with this (dropped connection)
};

// What the fake saw, per node.
struct FakeRecord {
  int connects = 0;
  std::vector<std::vector<std::string>> execs;
  std::map<std::string, std::string> files;        // remote path -> sha256 hex of what was uploaded
  uint64_t bytes_uploaded = 0;
  bool cancelled = false;
};

class FakeFactory : public TransportFactory {
 public:
  void script(const std::string& node, FakeNode n);
  std::unique_ptr<Transport> open(const inventory::Host& host) override;

  FakeRecord record(const std::string& node) const;
  int max_concurrent_execs() const { return max_concurrent_.load(); }

 private:
  friend class FakeTransport;
  mutable std::mutex mu_;
  std::map<std::string, FakeNode> scripts_;
  std::map<std::string, FakeRecord> records_;
  std::atomic<int> running_{0};
  std::atomic<int> max_concurrent_{0};
};

}  // namespace airlock::transport
