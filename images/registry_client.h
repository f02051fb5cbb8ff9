// A client for the OCI distribution API (the registry protocol), over libcurl: blob existence
// checks (HEAD), cross-repository mounts, chunked uploads that resume from the offset the
// registry reports after a failure, manifest uploads; anonymous, basic and bearer-token auth;
// retries with exponential backoff; connect and stall timeouts so nothing hangs forever.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/result.h"

namespace airlock::images {

struct RegistryOptions {
  std::string host;      // "HOST:PORT"
  bool insecure = false; // plain http (and no certificate checks)
  std::string ca_file;   // extra CA for https
  std::string user;
  std::string password;
  int retries = 5;
  int backoff_ms = 500;  // first retry delay; doubles each time
  uint64_t chunk_size = 64ull << 20;
  long connect_timeout_s = 10;
  long stall_timeout_s = 60;  // no progress for this long: the request fails (and is retried)
  std::function<void(const std::string&)> note;  // progress messages (resuming, retrying)
  std::function<void(uint64_t)> on_bytes;        // bytes uploaded, for progress display
};

// Reads [offset, offset+len) of the blob being uploaded.
using BlobReader = std::function<Status(uint64_t offset, char* buf, size_t len)>;

struct UploadStats {
  bool resumed = false;
  uint64_t bytes_sent = 0;
};

class RegistryClient {
 public:
  explicit RegistryClient(RegistryOptions opts);
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // GET /v2/: reachability and credentials, with a clear error otherwise.
  Status ping();
  Result<bool> has_blob(const std::string& repo, const std::string& digest);
  // Cross-repository mount; false when the registry would rather have an upload.
  Result<bool> mount_blob(const std::string& repo, const std::string& digest, const std::string& from_repo);
  Result<UploadStats> push_blob(const std::string& repo, const std::string& digest, uint64_t size,
                                const BlobReader& reader);
  Status put_manifest(const std::string& repo, const std::string& reference, const std::string& media_type,
                      const std::string& bytes);

  struct Manifest {
    std::string media_type;
    std::string digest;  // sha256 of bytes (checked against a digest reference)
    std::string bytes;
  };
  // GET a manifest or index by tag or digest (OCI and Docker schema 2 media types accepted).
  Result<Manifest> get_manifest(const std::string& repo, const std::string& reference);
  // GET a blob into a new file, checking size and sha256 on the way (redirects are followed).
  Status get_blob(const std::string& repo, const std::string& digest, uint64_t size, const std::string& dest);

  struct Response {
    long status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
  };

 private:
  struct Request;
  Result<Response> send(const Request& req);         // one attempt, with auth handling
  Result<Response> send_with_retries(const Request& req, const std::string& what);
  Status authenticate(const std::string& challenge, const std::string& what);
  std::string url(const std::string& path_or_location) const;
  void backoff(int attempt, const std::string& why);

  RegistryOptions opts_;
  std::string authorization_;  // "Basic ..." or "Bearer ..."
  void* curl_ = nullptr;
};

}  // namespace airlock::images
