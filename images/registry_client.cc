// OCI distribution client. One curl easy handle (connection reuse); every request has connect
// and stall timeouts. Upload protocol: POST starts a session, PATCH sends chunks with
// Content-Range, PUT ?digest= finishes; after a failure GET on the session URL tells how much
// the registry holds and the upload goes on from there (or starts over if the session is gone).
#include "images/registry_client.h"

#include <curl/curl.h>
#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "common/encoding.h"
#include "common/fs.h"
#include "common/sha256.h"

namespace airlock::images {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// key="value" pairs of a WWW-Authenticate challenge.
std::map<std::string, std::string> challenge_params(const std::string& header) {
  std::map<std::string, std::string> out;
  size_t i = header.find(' ');
  while (i != std::string::npos && i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
    size_t eq = header.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = lower(header.substr(i, eq - i));
    std::string value;
    size_t j = eq + 1;
    if (j < header.size() && header[j] == '"') {
      size_t end = header.find('"', j + 1);
      if (end == std::string::npos) end = header.size();
      value = header.substr(j + 1, end - j - 1);
      i = end + 1;
    } else {
      size_t end = header.find(',', j);
      value = header.substr(j, end == std::string::npos ? std::string::npos : end - j);
      i = end;
    }
    out[key] = value;
  }
  return out;
}

std::string escape(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out = e ? e : s;
  curl_free(e);
  return out;
}

// "0-1234" -> 1235 bytes held; absent -> 0.
uint64_t range_end(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("range");
  if (it == headers.end()) return 0;
  auto dash = it->second.find('-');
  if (dash == std::string::npos) return 0;
  try {
    return std::stoull(it->second.substr(dash + 1)) + 1;
  } catch (...) {
    return 0;
  }
}

std::string registry_error(const RegistryClient::Response& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
    const auto& e = j["errors"][0];
    return e.value("code", std::string("?")) + ": " + e.value("message", std::string());
  }
  std::string body = r.body.substr(0, 200);
  for (char& c : body) {
    if (c < 0x20) c = ' ';
  }
  return body.empty() ? "no details" : "unexpected answer: " + body;
}

}  // namespace

struct RegistryClient::Request {
  std::string method = "GET";
  std::string target;  // a path ("/v2/...") or an absolute Location
  std::vector<std::string> headers;
  const std::string* body = nullptr;  // in-memory body
  const BlobReader* reader = nullptr; // or streamed from the blob
  uint64_t offset = 0;                // reader: start offset
  uint64_t length = 0;                // reader: bytes to send
  std::function<Status(std::string_view)> sink;  // GET: receives the body instead of Response::body
  bool no_auth_challenge = false;     // the token request itself: a 401 is final
};

RegistryClient::RegistryClient(RegistryOptions opts) : opts_(std::move(opts)) {
  static const bool global_init = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)global_init;
  curl_ = curl_easy_init();  // credentials are sent only after the registry asks for them
}

RegistryClient::~RegistryClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::string RegistryClient::url(const std::string& target) const {
  if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) return target;
  return std::string(opts_.insecure ? "http://" : "https://") + opts_.host + target;
}

namespace {

struct Transfer {
  const std::function<Status(std::string_view)>* sink = nullptr;
  Status sink_error;
  const BlobReader* reader = nullptr;
  const std::string* body = nullptr;
  uint64_t offset = 0, length = 0, sent = 0;
  Status read_error;
  std::function<void(uint64_t)> on_bytes;
  RegistryClient::Response* response = nullptr;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (also after a redirect)
    t->response->headers.clear();
    auto sp = line.find(' ');
    t->response->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    t->response->headers[lower(line.substr(0, colon))] = value;
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->sink && t->response->status == 200) {
    t->sink_error = (*t->sink)(std::string_view(data, size * n));
    if (!t->sink_error.ok()) return 0;  // aborts the transfer
  } else if (t->response->body.size() < (4u << 20)) {
    t->response->body.append(data, size * n);
  }
  return size * n;
}

size_t on_read(char* buf, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t want = static_cast<size_t>(std::min<uint64_t>(size * n, t->length - t->sent));
  if (want == 0) return 0;
  if (t->body) {
    std::memcpy(buf, t->body->data() + t->sent, want);
  } else {
    auto st = (*t->reader)(t->offset + t->sent, buf, want);
    if (!st.ok()) {
      t->read_error = st;
      return CURL_READFUNC_ABORT;
    }
  }
  t->sent += want;
  if (t->on_bytes) t->on_bytes(want);
  return want;
}

// curl rewinds the body when it must send it again (a reused connection that turned out dead).
int on_seek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->length) return CURL_SEEKFUNC_FAIL;
  t->sent = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

}  // namespace

Result<RegistryClient::Response> RegistryClient::send(const Request& req) {
  for (int auth_round = 0;; ++auth_round) {
    CURL* c = static_cast<CURL*>(curl_);
    curl_easy_reset(c);
    Response resp;
    Transfer t;
    t.response = &resp;
    std::string target_url = url(req.target);
    curl_easy_setopt(c, CURLOPT_URL, target_url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, opts_.connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, opts_.stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    if (opts_.insecure) {
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (!opts_.ca_file.empty()) {
      curl_easy_setopt(c, CURLOPT_CAINFO, opts_.ca_file.c_str());
    }
    struct curl_slist* hdrs = nullptr;
    for (const auto& h : req.headers) hdrs = curl_slist_append(hdrs, h.c_str());
    hdrs = curl_slist_append(hdrs, "Expect:");
    std::string auth = "Authorization: " + authorization_;
    if (!authorization_.empty()) hdrs = curl_slist_append(hdrs, auth.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    uint64_t length = req.body ? req.body->size() : req.length;
    if (req.sink) {
      t.sink = &req.sink;
      curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);  // blob storage may live elsewhere
      curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    }
    if (req.method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (req.method == "PUT" || req.method == "PATCH" || req.method == "POST") {
      t.reader = req.reader;
      t.body = req.body;
      t.offset = req.offset;
      t.length = length;
      t.on_bytes = req.reader ? opts_.on_bytes : nullptr;
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
      curl_easy_setopt(c, CURLOPT_READDATA, &t);
      curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
      curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(length));
      curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 1L << 20);  // fewer, larger reads of the bundle
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    char detail[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (!t.read_error.ok()) return t.read_error.error();
    if (!t.sink_error.ok()) return t.sink_error.error();
    if (rc != CURLE_OK) {
      std::string why = detail[0] ? detail : curl_easy_strerror(rc);
      bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_SSL_CACERT_BADFILE;
      // TLS trust problems do not heal by retrying (only kIo is retried).
      Error e = make_error(tls ? Errc::kTrust : Errc::kIo, "registry " + opts_.host + ": " + why +
                                                         (tls ? " (give the registry's CA with --ca)" : ""));
      return e;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    if (resp.status == 401 && auth_round == 0 && !req.no_auth_challenge) {
      TRY_STATUS(authenticate(resp.headers["www-authenticate"], req.target));
      continue;
    }
    if (resp.status == 401 || resp.status == 403) {
      return make_error(Errc::kInvalidArgument, "registry " + opts_.host + ": authentication failed (" +
                                                    std::to_string(resp.status) + ", " + registry_error(resp) +
                                                    "); check --user and --password-file");
    }
    return resp;
  }
}

Status RegistryClient::authenticate(const std::string& challenge, const std::string& what) {
  std::string scheme = lower(challenge.substr(0, challenge.find(' ')));
  std::string basic = "Basic " + base64_encode((opts_.user + ":" + opts_.password).data(),
                                               opts_.user.size() + 1 + opts_.password.size());
  if (scheme == "basic") {
    if (opts_.user.empty()) {
      return make_error(Errc::kInvalidArgument, "registry " + opts_.host + " requires authentication; give --user and --password-file");
    }
    authorization_ = basic;
    return {};
  }
  if (scheme != "bearer") {
    return make_error(Errc::kInvalidArgument, "registry " + opts_.host + ": authentication failed (unsupported challenge '" +
                                                  challenge + "')");
  }
  auto params = challenge_params(challenge);
  std::string token_url = params["realm"] + "?service=" + escape(params["service"]);
  if (!params["scope"].empty()) token_url += "&scope=" + escape(params["scope"]);
  Request tr;
  tr.target = token_url;
  tr.no_auth_challenge = true;
  std::string saved = authorization_;
  authorization_ = opts_.user.empty() ? "" : basic;
  auto resp = send(tr);
  authorization_ = saved;
  if (!resp.ok()) return resp.error();
  if (resp->status != 200) {
    return make_error(Errc::kInvalidArgument, "registry " + opts_.host + ": authentication failed (token service answered " +
                                                  std::to_string(resp->status) + ")");
  }
  auto j = nlohmann::json::parse(resp->body, nullptr, false);
  std::string token = j.is_object() ? j.value("token", j.value("access_token", std::string())) : "";
  if (token.empty()) return make_error(Errc::kIo, "registry " + opts_.host + ": token service sent no token");
  authorization_ = "Bearer " + token;
  return {};
}

void RegistryClient::backoff(int attempt, const std::string& why) {
  int delay = opts_.backoff_ms << std::min(attempt, 6);
  if (opts_.note) opts_.note(why + "; retrying in " + std::to_string(delay) + " ms");
  std::this_thread::sleep_for(std::chrono::milliseconds(delay));
}

Result<RegistryClient::Response> RegistryClient::send_with_retries(const Request& req, const std::string& what) {
  for (int attempt = 0;; ++attempt) {
    auto resp = send(req);
    std::string why;
    if (!resp.ok()) {
      if (resp.error().code != Errc::kIo) return resp.error();
      why = resp.error().describe();
      if (what.rfind("registry ", 0) == 0 && why.rfind(what + ": ", 0) == 0) why = why.substr(what.size() + 2);
    } else if (resp->status >= 500 || resp->status == 429) {
      why = "registry " + opts_.host + " answered " + std::to_string(resp->status) + " (" + registry_error(*resp) + ")";
    } else {
      return resp;
    }
    if (attempt >= opts_.retries) {
      return make_error(Errc::kIo, what + ": " + why + " (gave up after " + std::to_string(attempt + 1) + " attempts)");
    }
    backoff(attempt, what + ": " + why);
  }
}

Status RegistryClient::ping() {
  Request req;
  req.target = "/v2/";
  TRY_ASSIGN(Response r, send_with_retries(req, "registry " + opts_.host));
  if (r.status != 200) {
    return make_error(Errc::kIo, "registry " + opts_.host + ": /v2/ answered " + std::to_string(r.status) +
                                     " (" + registry_error(r) + "); is this an OCI registry?");
  }
  return {};
}

Result<bool> RegistryClient::has_blob(const std::string& repo, const std::string& digest) {
  Request req;
  req.method = "HEAD";
  req.target = "/v2/" + repo + "/blobs/" + digest;
  TRY_ASSIGN(Response r, send_with_retries(req, repo + "@" + digest));
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return make_error(Errc::kIo, repo + "@" + digest + ": HEAD answered " + std::to_string(r.status));
}

Result<bool> RegistryClient::mount_blob(const std::string& repo, const std::string& digest, const std::string& from) {
  Request req;
  req.method = "POST";
  req.target = "/v2/" + repo + "/blobs/uploads/?mount=" + escape(digest) + "&from=" + escape(from);
  std::string empty;
  req.body = &empty;
  TRY_ASSIGN(Response r, send_with_retries(req, repo + "@" + digest));
  return r.status == 201;
}

Result<UploadStats> RegistryClient::push_blob(const std::string& repo, const std::string& digest, uint64_t size,
                                              const BlobReader& reader) {
  const std::string what = repo + "@" + digest;
  UploadStats stats;
  std::string empty;
  auto start_session = [&]() -> Result<std::string> {
    Request req;
    req.method = "POST";
    req.target = "/v2/" + repo + "/blobs/uploads/";
    req.body = &empty;
    TRY_ASSIGN(Response r, send_with_retries(req, what));
    if (r.status != 202 || r.headers["location"].empty()) {
      return make_error(Errc::kIo, what + ": starting the upload: " + std::to_string(r.status) + " (" + registry_error(r) + ")");
    }
    return r.headers["location"];
  };
  TRY_ASSIGN(std::string location, start_session());
  uint64_t offset = 0;
  int failures = 0;
  while (offset < size) {
    Request req;
    req.method = "PATCH";
    req.target = location;
    req.reader = &reader;
    req.offset = offset;
    req.length = std::min<uint64_t>(opts_.chunk_size, size - offset);
    req.headers = {"Content-Type: application/octet-stream",
                   "Content-Range: " + std::to_string(offset) + "-" + std::to_string(offset + req.length - 1)};
    auto r = send(req);
    if (r.ok() && r->status == 202) {
      location = r->headers["location"].empty() ? location : r->headers["location"];
      uint64_t held = range_end(r->headers);
      offset = held > 0 ? held : offset + req.length;
      stats.bytes_sent += req.length;
      failures = 0;
      continue;
    }
    if (!r.ok() && r.error().code != Errc::kIo) return r.error();
    std::string why = r.ok() ? "answered " + std::to_string(r->status) + " (" + registry_error(*r) + ")" : r.error().describe();
    if (r.ok() && r->status < 500 && r->status != 429 && r->status != 416) {
      return make_error(Errc::kIo, what + ": upload chunk at " + std::to_string(offset) + ": " + why);
    }
    // Find out what the registry holds and go on from there.
    for (;;) {
      if (++failures > opts_.retries) {
        return make_error(Errc::kIo, what + ": upload failed at byte " + std::to_string(offset) + ": " + why +
                                         " (gave up after " + std::to_string(failures) + " attempts)");
      }
      backoff(failures - 1, what + ": " + why);
      Request status;
      status.target = location;
      auto s = send(status);
      if (!s.ok()) {
        if (s.error().code != Errc::kIo) return s.error();
        why = s.error().describe();
        continue;
      }
      if (s->status == 204) {
        offset = range_end(s->headers);
        if (!s->headers["location"].empty()) location = s->headers["location"];
        stats.resumed = true;
        if (opts_.note) opts_.note(what + ": resuming upload at byte " + std::to_string(offset) + " of " + std::to_string(size));
      } else if (s->status >= 500) {
        why = "answered " + std::to_string(s->status);
        continue;
      } else {
        // The registry cannot continue this session: distribution <= 2.8 refuses one whose stored
        // size moved past the last chunk it acknowledged (a chunk cut off mid-way). Start the
        // blob over; blobs that are complete stay complete.
        if (opts_.note) {
          opts_.note(what + ": the registry cannot resume this upload (" + std::to_string(s->status) + ", " +
                     registry_error(*s) + "); restarting this blob from byte 0");
        }
        TRY_ASSIGN(location, start_session());
        offset = 0;
      }
      break;
    }
  }
  Request done;
  done.method = "PUT";
  done.target = location + (location.find('?') == std::string::npos ? "?" : "&") + "digest=" + escape(digest);
  done.body = &empty;
  TRY_ASSIGN(Response r, send_with_retries(done, what));
  if (r.status != 201) {
    return make_error(Errc::kIo, what + ": finishing the upload: " + std::to_string(r.status) + " (" + registry_error(r) + ")");
  }
  return stats;
}

Status RegistryClient::put_manifest(const std::string& repo, const std::string& reference, const std::string& media_type,
                                    const std::string& bytes) {
  Request req;
  req.method = "PUT";
  req.target = "/v2/" + repo + "/manifests/" + reference;
  req.body = &bytes;
  req.headers = {"Content-Type: " + media_type};
  const std::string what = repo + ":" + reference;
  TRY_ASSIGN(Response r, send_with_retries(req, what));
  if (r.status != 201) {
    return make_error(Errc::kIo, what + ": manifest upload answered " + std::to_string(r.status) + " (" + registry_error(r) + ")");
  }
  return {};
}

Result<RegistryClient::Manifest> RegistryClient::get_manifest(const std::string& repo, const std::string& reference) {
  Request req;
  req.target = "/v2/" + repo + "/manifests/" + reference;
  req.headers = {"Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
                 "application/vnd.docker.distribution.manifest.list.v2+json, "
                 "application/vnd.docker.distribution.manifest.v2+json"};
  const std::string what = repo + (reference.rfind("sha256:", 0) == 0 ? "@" : ":") + reference;
  TRY_ASSIGN(Response r, send_with_retries(req, what));
  if (r.status == 404) return make_error(Errc::kNotFound, what + ": not found in registry " + opts_.host);
  if (r.status != 200) {
    return make_error(Errc::kIo, what + ": manifest request answered " + std::to_string(r.status) + " (" + registry_error(r) + ")");
  }
  Manifest m;
  m.bytes = r.body;
  m.digest = sha256_digest(m.bytes);
  m.media_type = r.headers["content-type"];
  auto semi = m.media_type.find(';');
  if (semi != std::string::npos) m.media_type.resize(semi);
  if (m.media_type.empty() || m.media_type == "application/json") {
    auto j = nlohmann::json::parse(m.bytes, nullptr, false);
    if (j.is_object()) m.media_type = j.value("mediaType", std::string());
  }
  if (reference.rfind("sha256:", 0) == 0 && m.digest != reference) {
    return make_error(Errc::kIntegrity, what + ": the registry sent a manifest whose digest is " + m.digest);
  }
  return m;
}

Status RegistryClient::get_blob(const std::string& repo, const std::string& digest, uint64_t size, const std::string& dest) {
  const std::string what = repo + "@" + digest;
  for (int attempt = 0;; ++attempt) {
    int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return sys_error("create " + dest);
    UniqueFd out(fd);
    Sha256 hash;
    uint64_t got = 0;
    Request req;
    req.target = "/v2/" + repo + "/blobs/" + digest;
    req.sink = [&](std::string_view data) -> Status {
      got += data.size();
      if (got > size) return make_error(Errc::kIntegrity, what + ": the registry sent more than the " + std::to_string(size) + " bytes expected");
      hash.update(data);
      return write_all(out.get(), data.data(), data.size(), dest);
    };
    auto r = send(req);
    std::string why;
    if (!r.ok()) {
      if (r.error().code != Errc::kIo) return r.error();
      why = r.error().describe();
    } else if (r->status >= 500 || r->status == 429) {
      why = "answered " + std::to_string(r->status);
    } else if (r->status != 200) {
      return make_error(Errc::kIo, what + ": blob request answered " + std::to_string(r->status) + " (" + registry_error(*r) + ")");
    } else {
      if (got != size || hash.finish_digest() != digest) {
        return make_error(Errc::kIntegrity, what + ": the registry sent content that does not match the digest");
      }
      return {};
    }
    if (attempt >= opts_.retries) return make_error(Errc::kIo, what + ": " + why + " (gave up)");
    backoff(attempt, what + ": " + why);
  }
}

}  // namespace airlock::images
