// Sequential reading of a list of files on a background thread, a few chunks ahead of the
// consumer, so that reading from the page cache or disk overlaps with hashing and writing.
// Chunks never span two files. Memory is bounded: at most `depth` chunks are in flight, and the
// consumer hands buffers back with recycle(). Errors (from open_file or read) arrive in order.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/result.h"

namespace airlock {

class ReadAhead {
 public:
  struct Chunk {
    size_t file = 0;         // index into the list
    std::vector<char> data;  // empty: end of that file
  };
  // open_file(i) opens the i-th file; it runs on the reader thread. A pipe works (short reads
  // are handed over as they come).
  ReadAhead(size_t files, std::function<Result<UniqueFd>(size_t)> open_file, size_t chunk_size, size_t depth);
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  // The next chunk, or nullopt when every file has been read.
  Result<std::optional<Chunk>> next();
  void recycle(std::vector<char>&& buffer);

 private:
  void run();
  bool push(Result<Chunk> item);  // false when stopping

  size_t files_;
  std::function<Result<UniqueFd>(size_t)> open_file_;
  size_t chunk_size_;
  size_t depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Result<Chunk>> ready_;
  std::vector<std::vector<char>> free_;
  bool done_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace airlock
