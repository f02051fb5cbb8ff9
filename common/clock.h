// Time behind an interface so expiry and timeout logic is tested with a fixed clock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace airlock {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch.
  virtual int64_t now() const = 0;
};

class SystemClock : public Clock {
 public:
  int64_t now() const override;
};

class FixedClock : public Clock {
 public:
  explicit FixedClock(int64_t t) : t_(t) {}
  int64_t now() const override { return t_; }
  void set(int64_t t) { t_ = t; }

 private:
  int64_t t_;
};

// RFC 3339 UTC with a "Z" suffix and no fraction: "2026-11-28T00:00:00Z".
std::string format_rfc3339(int64_t unix_seconds);
Result<int64_t> parse_rfc3339(std::string_view text);

}  // namespace airlock
