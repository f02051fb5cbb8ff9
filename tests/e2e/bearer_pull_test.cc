// Pull with bearer-token authentication (the Docker Hub / Harbor scheme): a small read-only
// registry in this test serves the example image from its OCI layout, but only to requests that
// carry a token, which its token endpoint issues against basic credentials. Debian's
// docker-registry needs a separate JWT token service for this, so the scheme is played here by
// hand; the client under test is airlock's real RegistryClient through `bundle create`.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/encoding.h"
#include "tests/e2e/cli_harness.h"

namespace airlock::test {
namespace {

class TokenRegistry {
 public:
  TokenRegistry(std::string layout, std::string user, std::string password)
      : layout_(std::move(layout)), basic_("Basic " + base64_encode((user + ":" + password).data(), user.size() + 1 + password.size())) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TokenRegistry() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> token_requests() {
    std::lock_guard<std::mutex> l(mu_);
    return token_requests_;
  }

 private:
  std::string answer(const std::string& request) {
    std::string line = request.substr(0, request.find("\r\n"));
    std::string path = line.substr(line.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    auto header = [&](const std::string& name) {
      auto p = request.find("\r\n" + name + ": ");
      if (p == std::string::npos) return std::string();
      p += name.size() + 4;
      return request.substr(p, request.find("\r\n", p) - p);
    };
    auto reply = [](int status, const std::string& type, const std::string& body, const std::string& extra = "") {
      return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + type + "\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n" + extra + "Connection: close\r\n\r\n" + body;
    };
    if (path.rfind("/token?", 0) == 0) {
      std::lock_guard<std::mutex> l(mu_);
      token_requests_.push_back(path);
      if (header("Authorization") != basic_) return reply(401, "application/json", "{}");
      return reply(200, "application/json", "{\"token\":\"t0k3n\"}");
    }
    if (header("Authorization") != "Bearer t0k3n") {
      return reply(401, "application/json", "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"token needed\"}]}",
                   "WWW-Authenticate: Bearer realm=\"http://" + host() +
                       "/token\",service=\"test-registry\",scope=\"repository:src/busybox:pull\"\r\n");
    }
    if (path == "/v2/") return reply(200, "application/json", "{}");
    auto index = nlohmann::json::parse(read_all(layout_ + "/index.json"));
    std::string manifest_digest = index["manifests"][0]["digest"];
    if (path == "/v2/src/busybox/manifests/1.35" || path == "/v2/src/busybox/manifests/" + manifest_digest) {
      return reply(200, index["manifests"][0]["mediaType"], read_all(layout_ + "/blobs/sha256/" + manifest_digest.substr(7)));
    }
    const std::string blobs = "/v2/src/busybox/blobs/sha256:";
    if (path.rfind(blobs, 0) == 0) {
      std::string file = layout_ + "/blobs/sha256/" + path.substr(blobs.size());
      if (exists(file)) return reply(200, "application/octet-stream", read_all(file));
    }
    return reply(404, "application/json", "{\"errors\":[{\"code\":\"NOT_FOUND\",\"message\":\"no\"}]}");
  }

  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
        pollfd q{c, POLLIN, 0};
        if (poll(&q, 1, 2000) <= 0) break;
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      std::string resp = answer(req);
      size_t off = 0;
      while (off < resp.size()) {
        ssize_t n = send(c, resp.data() + off, resp.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      shutdown(c, SHUT_RDWR);
      close(c);
    }
  }

  std::string layout_, basic_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> token_requests_;
  std::thread thread_;
};

TEST(BearerPull, TokenIsFetchedWithBasicCredentialsAndUsed) {
  std::string layout = example_dir() + "/build/oci";
  TokenRegistry reg(layout, "puller", "pw");
  TempDir dir;
  std::string key = make_key(dir.path(), "k");
  write_all(dir / "b.yaml", "bundle: {name: pulled, version: 1}\ncomponents:\n"
                            "  - {type: oci-image, name: mirror/busybox, ref: '1.35', image: '" + reg.host() + "/src/busybox:1.35'}\n");
  write_all(dir / "pw", "pw\n");
  auto r = airlock({"bundle", "create", "-f", dir / "b.yaml", "-o", dir / "b.airlock", "--key", key + ".key",
                    "--registry-insecure", "--registry-user", "puller", "--registry-password-file", dir / "pw"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto tokens = reg.token_requests();
  ASSERT_FALSE(tokens.empty());
  EXPECT_EQ(tokens[0], "/token?service=test-registry&scope=repository%3Asrc%2Fbusybox%3Apull");
  r = airlock({"images", "list", dir / "b.airlock", "--pub", key + ".pub", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto index = nlohmann::json::parse(read_all(layout + "/index.json"));
  EXPECT_EQ(nlohmann::json::parse(r.out)["images"][0]["digest"], index["manifests"][0]["digest"]);

  write_all(dir / "pw", "wrong\n");
  r = airlock({"bundle", "create", "-f", dir / "b.yaml", "-o", dir / "c.airlock", "--key", key + ".key",
               "--registry-insecure", "--registry-user", "puller", "--registry-password-file", dir / "pw"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("authentication failed (401"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace airlock::test
