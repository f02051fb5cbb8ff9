// A counting semaphore per key ("10.0.0.5:22", "via:bastion-1"): at most `limit` holders at a
// time. The SSH factory holds a slot from the TCP connect until authentication ends, so no sshd
// (or bastion) sees more unauthenticated connections from us than its MaxStartups allows.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace airlock::transport {

class StartupGate {
 public:
  // Releases its slot when destroyed.
  class Slot {
   public:
    Slot(StartupGate* gate, std::string key) : gate_(gate), key_(std::move(key)) {}
    Slot(Slot&& o) noexcept : gate_(o.gate_), key_(std::move(o.key_)) { o.gate_ = nullptr; }
    Slot& operator=(Slot&& o) noexcept;
    Slot(const Slot&) = delete;
    ~Slot();

   private:
    StartupGate* gate_;
    std::string key_;
  };

  // Blocks until `key` has fewer than `limit` holders (limit < 1 counts as 1). Returns nothing
  // when `cancelled` becomes true first (checked every 50 ms).
  std::optional<Slot> acquire(const std::string& key, int limit, const std::atomic<bool>& cancelled);

  int in_use(const std::string& key) const;
  // The most holders `key` ever had at once (for tests and diagnostics).
  int peak(const std::string& key) const;

 private:
  void release(const std::string& key);

  struct Counter {
    int in_use = 0;
    int peak = 0;
  };
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Counter> counters_;
};

}  // namespace airlock::transport
