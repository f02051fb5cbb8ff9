// StartupGate: a map of counters under one mutex and one condition variable. Contention is tiny
// (one acquire and one release per connection), so nothing cleverer is needed.
#include "installer/transport/startup_gate.h"

#include <algorithm>
#include <chrono>

namespace airlock::transport {

StartupGate::Slot::~Slot() {
  if (gate_ != nullptr) {
    gate_->release(key_);
  }
}

StartupGate::Slot& StartupGate::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    if (gate_ != nullptr) {
      gate_->release(key_);
    }
    gate_ = o.gate_;
    key_ = std::move(o.key_);
    o.gate_ = nullptr;
  }
  return *this;
}

std::optional<StartupGate::Slot> StartupGate::acquire(const std::string& key, int limit,
                                                      const std::atomic<bool>& cancelled) {
  limit = std::max(limit, 1);
  std::unique_lock lock(mu_);
  while (counters_[key].in_use >= limit) {
    if (cancelled.load()) {
      return std::nullopt;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
  if (cancelled.load()) {
    return std::nullopt;
  }
  Counter& c = counters_[key];
  ++c.in_use;
  c.peak = std::max(c.peak, c.in_use);
  return Slot(this, key);
}

void StartupGate::release(const std::string& key) {
  {
    std::lock_guard lock(mu_);
    --counters_[key].in_use;
  }
  cv_.notify_all();
}

int StartupGate::in_use(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = counters_.find(key);
  return it == counters_.end() ? 0 : it->second.in_use;
}

int StartupGate::peak(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = counters_.find(key);
  return it == counters_.end() ? 0 : it->second.peak;
}

}  // namespace airlock::transport
