// A bounded producer/consumer queue of file chunks with one reader thread.
#include "common/read_ahead.h"

#include <fcntl.h>
#include <unistd.h>

namespace airlock {

ReadAhead::ReadAhead(size_t files, std::function<Result<UniqueFd>(size_t)> open_file, size_t chunk_size,
                     size_t depth)
    : files_(files), open_file_(std::move(open_file)), chunk_size_(chunk_size), depth_(depth < 1 ? 1 : depth) {
  thread_ = std::thread([this] { run(); });
}

ReadAhead::~ReadAhead() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool ReadAhead::push(Result<Chunk> item) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stop_ || ready_.size() < depth_; });
  if (stop_) return false;
  ready_.push_back(std::move(item));
  cv_.notify_all();
  return true;
}

void ReadAhead::run() {
  for (size_t i = 0; i < files_; ++i) {
    auto fd = open_file_(i);
    if (!fd.ok()) {
      push(fd.error());
      break;
    }
    ::posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    bool failed = false;
    for (;;) {
      std::vector<char> buf;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!free_.empty()) {
          buf = std::move(free_.back());
          free_.pop_back();
        }
      }
      buf.resize(chunk_size_);
      ssize_t n;
      do {
        n = ::read(fd->get(), buf.data(), buf.size());
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        push(sys_error("read"));
        failed = true;
        break;
      }
      buf.resize(static_cast<size_t>(n));
      bool end = n == 0;
      if (!push(Chunk{i, std::move(buf)})) return;
      if (end) break;
    }
    if (failed) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  cv_.notify_all();
}

Result<std::optional<ReadAhead::Chunk>> ReadAhead::next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !ready_.empty() || done_; });
  if (ready_.empty()) return std::optional<Chunk>();
  Result<Chunk> item = std::move(ready_.front());
  ready_.pop_front();
  cv_.notify_all();
  if (!item.ok()) return item.error();
  return std::optional<Chunk>(std::move(item).value());
}

void ReadAhead::recycle(std::vector<char>&& buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.size() < depth_ + 2) free_.push_back(std::move(buffer));
}

}  // namespace airlock
