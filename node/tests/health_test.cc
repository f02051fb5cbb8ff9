// Health probes against local listeners: TCP up, refused then up, never up; HTTP status and body
// checks against a tiny responder; exec until a command succeeds; soak time.
#include "node/health.h"

#include <gtest/gtest.h>

#include "node/tests/responder.h"
#include "node/tests/test_util.h"

namespace airlock::node {
namespace {

using test::Responder;

HealthOptions quick(int64_t deadline_ms, int64_t interval_ms = 50) {
  HealthOptions o;
  o.deadline_ms = deadline_ms;
  o.interval_ms = interval_ms;
  return o;
}

TEST(NodeHealth, ParsesEndpointsAndUrls) {
  EXPECT_TRUE(parse_endpoint("127.0.0.1:80").ok());
  EXPECT_TRUE(parse_endpoint("localhost:8080").ok());
  EXPECT_TRUE(parse_endpoint("[::1]:443").ok());
  for (const char* bad : {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x", ":80",
                          "manager.example:80", "[::1]"}) {
    EXPECT_FALSE(parse_endpoint(bad).ok()) << bad;
  }
  auto u = parse_http_url("http://127.0.0.1:8080/health?x=1#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->path, "/health?x=1");
  EXPECT_EQ(u->host_header, "127.0.0.1:8080");
  u = parse_http_url("http://localhost");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->path, "/");
  u = parse_http_url("http://[::1]/x");
  ASSERT_TRUE(u.ok());
  auto tls = parse_http_url("https://127.0.0.1/");
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.error().code, Errc::kUnsupported);
  for (const char* bad : {"ftp://1.2.3.4/", "http://user@1.2.3.4/", "http://name.example/",
                          "http:///x", "http://1.2.3.4/a b"}) {
    EXPECT_FALSE(parse_http_url(bad).ok()) << bad;
  }
}

TEST(NodeHealth, TcpUpRefusedThenUpAndNeverUp) {
  {
    Responder up({});
    auto r = health_tcp(*parse_endpoint("127.0.0.1:" + std::to_string(up.port())), quick(2000));
    EXPECT_TRUE(r.ok) << r.last_error;
    EXPECT_EQ(r.attempts, 1);
  }
  {
    Responder later({}, 400);  // bound (connects refused) until it listens
    auto r = health_tcp(*parse_endpoint("127.0.0.1:" + std::to_string(later.port())), quick(5000));
    EXPECT_TRUE(r.ok) << r.last_error;
    EXPECT_GT(r.attempts, 1);
    EXPECT_GE(r.elapsed_ms, 300);
  }
  int port;
  {
    Responder gone({});
    port = gone.port();
  }
  auto r = health_tcp(*parse_endpoint("127.0.0.1:" + std::to_string(port)), quick(600, 100));
  EXPECT_FALSE(r.ok);
  EXPECT_GT(r.attempts, 2);
  EXPECT_GE(r.elapsed_ms, 500);
  EXPECT_LT(r.elapsed_ms, 2000);
  EXPECT_NE(r.last_error.find("refused"), std::string::npos) << r.last_error;
}

TEST(NodeHealth, HttpStatusAndBody) {
  Responder srv({{503, "starting"}, {503, "starting"}, {200, "{\"status\":\"ready\"}"}});
  std::string url = "http://127.0.0.1:" + std::to_string(srv.port()) + "/health";
  HttpExpect e;
  e.body_contains = "ready";
  auto r = health_http(*parse_http_url(url), e, quick(5000));
  EXPECT_TRUE(r.ok) << r.last_error;
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(srv.last_request().rfind("GET /health HTTP/1.0\r\n", 0), 0u) << srv.last_request();
  EXPECT_NE(srv.last_request().find("Host: 127.0.0.1:"), std::string::npos);

  e.body_contains = "elephant";
  r = health_http(*parse_http_url(url), e, quick(300, 100));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.last_error.find("elephant"), std::string::npos);

  Responder down({{503, "down"}});
  url = "http://127.0.0.1:" + std::to_string(down.port()) + "/";
  r = health_http(*parse_http_url(url), HttpExpect{}, quick(300, 100));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.http_status, 503);
  EXPECT_NE(r.last_error.find("status 503, want 2xx"), std::string::npos) << r.last_error;
  r = health_http(*parse_http_url(url), HttpExpect{503, "down"}, quick(300, 100));
  EXPECT_TRUE(r.ok) << r.last_error;
}

TEST(NodeHealth, ExecUntilItSucceeds) {
  test::TempPrefix t;
  std::string flag = t.path() + "/ready";
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    test::write_text(flag, "");
  });
  auto r = health_exec({"sh", "-c", "test -e '" + flag + "'"}, quick(5000));
  later.join();
  EXPECT_TRUE(r.ok) << r.last_error;
  EXPECT_GT(r.attempts, 1);
  EXPECT_EQ(r.exit_code, 0);

  r = health_exec({"sh", "-c", "echo not yet >&2; exit 3"}, quick(300, 100));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.last_error.find("exit 3: not yet"), std::string::npos) << r.last_error;
  r = health_exec({"/nonexistent/program"}, quick(100));
  EXPECT_FALSE(r.ok);
  // A command that hangs is killed at the deadline.
  r = health_exec({"sleep", "30"}, quick(300));
  EXPECT_FALSE(r.ok);
  EXPECT_LT(r.elapsed_ms, 3000);
}

TEST(NodeHealth, SoakNeedsContinuousHealth) {
  Responder up({});
  auto ep = *parse_endpoint("127.0.0.1:" + std::to_string(up.port()));
  HealthOptions o = quick(3000, 50);
  o.soak_ms = 300;
  auto r = health_tcp(ep, o);
  EXPECT_TRUE(r.ok) << r.last_error;
  EXPECT_GE(r.elapsed_ms, 300);
  EXPECT_GT(r.attempts, 3);

  // Healthy only on every other attempt: the soak never completes.
  int n = 0;
  o.deadline_ms = 600;
  r = health_loop(o, [&](int64_t) -> Status {
    if (++n % 2) return {};
    return make_error(Errc::kIo, "flapping");
  });
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.last_error.empty());
}

}  // namespace
}  // namespace airlock::node
