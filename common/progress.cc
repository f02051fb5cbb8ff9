// Terminal progress line: "verify  1.2 GiB / 3.4 GiB  35%  410.2 MiB/s  ETA 5s".
#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

#include "common/encoding.h"

namespace airlock {

Progress::Progress(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

bool Progress::stderr_is_tty() { return ::isatty(STDERR_FILENO) == 1; }

void Progress::add(uint64_t bytes) {
  done_ += bytes;
  if (enabled_) draw(false);
}

void Progress::draw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  double rate = secs > 0 ? static_cast<double>(done_) / secs : 0;
  std::string line = label_ + "  " + human_bytes(done_);
  if (total_ > 0) {
    line += " / " + human_bytes(total_);
    char pct[16];
    std::snprintf(pct, sizeof pct, "  %3d%%", static_cast<int>(100.0 * done_ / total_));
    line += pct;
  }
  line += "  " + human_bytes(static_cast<uint64_t>(rate)) + "/s";
  if (total_ > 0 && rate > 0 && done_ < total_) {
    line += "  ETA " + std::to_string(static_cast<long>((total_ - done_) / rate)) + "s";
  }
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (enabled_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  drawn_ = false;
  enabled_ = false;
}

}  // namespace airlock
