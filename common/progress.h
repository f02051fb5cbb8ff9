// Progress of long byte-oriented operations (create, verify, extract): bytes done, rate and
// ETA, redrawn in place at most 10 times a second on a terminal. Off for --quiet/--json or when
// stderr is not a terminal, so scripts and logs see no carriage returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace airlock {

class Progress {
 public:
  // total == 0 means unknown (no percentage or ETA).
  Progress(std::string label, uint64_t total, bool enabled);
  ~Progress();
  void add(uint64_t bytes);
  void set_total(uint64_t total) { total_ = total; }
  // Clears the line; prints nothing when disabled.
  void finish();
  uint64_t done() const { return done_; }

  // True when stderr is a terminal (the default for `enabled`).
  static bool stderr_is_tty();

 private:
  void draw(bool force);
  std::string label_;
  uint64_t total_;
  uint64_t done_ = 0;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace airlock
