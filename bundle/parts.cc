// Part discovery, chunked reading with a raw-byte history, and split writing.
#include "bundle/parts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace airlock::bundle {
namespace {

constexpr size_t kChunk = 1 << 20;
constexpr size_t kHistoryChunks = 4;
constexpr uint64_t kWritebackStep = 64ull << 20;

std::string part_name(const std::string& base, size_t i) {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, ".%03zu", i);
  return base + suffix;
}

}  // namespace

Result<std::vector<std::string>> bundle_parts(const std::string& path) {
  if (path == "-") return std::vector<std::string>{"-"};
  std::string base = path;
  if (!path_exists(path) || (path.size() > 4 && path.compare(path.size() - 4, 4, ".000") == 0)) {
    if (path.size() > 4 && path.compare(path.size() - 4, 4, ".000") == 0) base = path.substr(0, path.size() - 4);
    if (path_exists(part_name(base, 0))) {
      std::vector<std::string> parts;
      for (size_t i = 0; path_exists(part_name(base, i)); ++i) parts.push_back(part_name(base, i));
      return parts;
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return sys_error("cannot open bundle " + path);
  if (S_ISDIR(st.st_mode)) return make_error(Errc::kInvalidArgument, path + " is a directory, not a bundle");
  return std::vector<std::string>{path};
}

Result<PartsReader> PartsReader::open(const std::string& path) {
  PartsReader r;
  r.name_ = path;
  TRY_ASSIGN(r.parts_, bundle_parts(path));
  for (const auto& p : r.parts_) {
    if (p == "-") {
      r.total_ = 0;
      break;
    }
    TRY_ASSIGN(uint64_t sz, file_size(p));
    r.total_ += sz;
  }
  std::vector<std::string> parts = r.parts_;
  r.reader_ = std::make_unique<ReadAhead>(
      parts.size(),
      [parts](size_t i) -> Result<UniqueFd> {
        if (parts[i] == "-") return UniqueFd(::dup(STDIN_FILENO));
        return open_read(parts[i]);
      },
      kChunk, 4);
  return r;
}

Result<size_t> PartsReader::next_chunk(const char** data) {
  for (;;) {
    auto next = reader_->next();
    if (!next.ok()) return next.error().wrap("reading " + name_);
    if (!*next) {
      *data = nullptr;
      return size_t{0};
    }
    ReadAhead::Chunk chunk = std::move(**next);
    if (chunk.data.empty()) continue;  // the end of one part: go on with the next
    if (history_.size() >= kHistoryChunks) {
      reader_->recycle(std::move(history_.front().data));
      history_.pop_front();
    }
    size_t got = chunk.data.size();
    history_.push_back(Chunk{position_, std::move(chunk.data)});
    position_ += got;
    *data = history_.back().data.data();
    return got;
  }
}

bool PartsReader::copy_raw(uint64_t offset, size_t len, char* out) const {
  while (len > 0) {
    const Chunk* hit = nullptr;
    for (const auto& c : history_) {
      if (offset >= c.offset && offset < c.offset + c.data.size()) hit = &c;
    }
    if (hit == nullptr) return false;
    size_t at = static_cast<size_t>(offset - hit->offset);
    size_t n = std::min(len, hit->data.size() - at);
    std::memcpy(out, hit->data.data() + at, n);
    out += n;
    offset += n;
    len -= n;
  }
  return true;
}

Result<PartsPread> PartsPread::open(const std::string& path) {
  PartsPread r;
  TRY_ASSIGN(auto names, bundle_parts(path));
  uint64_t start = 0;
  for (const auto& n : names) {
    if (n == "-") return make_error(Errc::kInvalidArgument, "this command needs a bundle file, not standard input");
    Part p;
    TRY_ASSIGN(p.fd, open_read(n));
    TRY_ASSIGN(p.size, file_size(n));
    p.start = start;
    p.name = n;
    start += p.size;
    r.parts_.push_back(std::move(p));
  }
  return r;
}

Status PartsPread::read_at(uint64_t offset, char* buf, size_t len) const {
  for (const auto& p : parts_) {
    while (len > 0 && offset >= p.start && offset < p.start + p.size) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(len, p.start + p.size - offset));
      ssize_t got = ::pread(p.fd.get(), buf, n, static_cast<off_t>(offset - p.start));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return sys_error("read " + p.name, got < 0 ? errno : EIO);
      buf += got;
      offset += static_cast<uint64_t>(got);
      len -= static_cast<size_t>(got);
    }
  }
  if (len > 0) return make_error(Errc::kIntegrity, "bundle is shorter than its members say (changed since it was verified?)");
  return {};
}

PartsWriter::PartsWriter(std::string path, uint64_t split_size) : path_(std::move(path)), split_(split_size) {}

PartsWriter::~PartsWriter() {
  if (!committed_) {
    for (const auto& t : temp_names_) ::unlink(t.c_str());
  }
}

Status PartsWriter::open_next() {
  std::string final_name = split_ > 0 ? part_name(path_, final_names_.size()) : path_;
  std::string tmp = final_name + ".partial";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return sys_error("cannot create " + tmp);
  if (fd_.valid() && ::fsync(fd_.get()) != 0) return sys_error("fsync " + temp_names_.back());
  fd_ = UniqueFd(fd);
  temp_names_.push_back(tmp);
  final_names_.push_back(final_name);
  in_part_ = 0;
  flushed_ = 0;
  return {};
}

Status PartsWriter::write(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    if (!fd_.valid() || (split_ > 0 && in_part_ == split_)) TRY_STATUS(open_next());
    size_t n = len;
    if (split_ > 0) n = static_cast<size_t>(std::min<uint64_t>(len, split_ - in_part_));
    TRY_STATUS(write_all(fd_.get(), p, n, temp_names_.back()));
    p += n;
    len -= n;
    in_part_ += n;
    written_ += n;
    if (in_part_ - flushed_ >= kWritebackStep) {
      // Start writeback now so that the fsync in commit() has little left to wait for.
      ::sync_file_range(fd_.get(), static_cast<off_t>(flushed_), static_cast<off_t>(in_part_ - flushed_),
                        SYNC_FILE_RANGE_WRITE);
      flushed_ = in_part_;
    }
  }
  return {};
}

Result<std::vector<std::string>> PartsWriter::commit() {
  if (!fd_.valid()) TRY_STATUS(open_next());
  if (::fsync(fd_.get()) != 0) return sys_error("fsync " + temp_names_.back());
  fd_.reset();
  for (size_t i = 0; i < temp_names_.size(); ++i) {
    if (::rename(temp_names_[i].c_str(), final_names_[i].c_str()) != 0) {
      return sys_error("rename " + temp_names_[i]);
    }
  }
  committed_ = true;
  if (split_ > 0) {  // parts left over from an earlier, longer split of the same name
    for (size_t i = final_names_.size(); path_exists(part_name(path_, i)); ++i) {
      ::unlink(part_name(path_, i).c_str());
    }
  }
  TRY_STATUS(fsync_path(dirname_of(path_)));
  return final_names_;
}

}  // namespace airlock::bundle
