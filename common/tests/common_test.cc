// Unit tests for common/: digests, encodings, sizes, timestamps, strict JSON, atomic writes.
#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/encoding.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/process.h"
#include "common/read_ahead.h"
#include "common/sha256.h"

namespace airlock {
namespace {

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Digest, Validation) {
  EXPECT_TRUE(is_valid_digest(sha256_digest("x")));
  EXPECT_FALSE(is_valid_digest("sha256:ABC"));
  std::string upper = sha256_digest("x");
  upper[10] = 'A';
  EXPECT_FALSE(is_valid_digest(upper));
  EXPECT_FALSE(is_valid_digest("sha512:" + std::string(64, 'a')));
}

TEST(Base64, RoundTripAndStrict) {
  std::string raw = "Ed\x01\x02";
  std::string enc = base64_encode(raw.data(), raw.size());
  EXPECT_EQ(enc, "RWQBAg==");
  auto dec = base64_decode(enc);
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(*dec, raw);
  EXPECT_FALSE(base64_decode("RWQBAg==x").ok());
  EXPECT_FALSE(base64_decode("R*QBAg==").ok());
}

TEST(Size, Parse) {
  EXPECT_EQ(*parse_size("4G"), 4ull << 30);
  EXPECT_EQ(*parse_size("700M"), 700ull << 20);
  EXPECT_EQ(*parse_size("512"), 512u);
  EXPECT_FALSE(parse_size("12X").ok());
  EXPECT_FALSE(parse_size("").ok());
  EXPECT_FALSE(parse_size("99999999999999999999T").ok());
}

TEST(Rfc3339, RoundTrip) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(*parse_rfc3339("2026-11-28T00:00:00Z"), 1795824000);
  EXPECT_FALSE(parse_rfc3339("2026-11-28 00:00:00").ok());
  EXPECT_FALSE(parse_rfc3339("2026-13-28T00:00:00Z").ok());
}

TEST(StrictJson, RejectsDuplicatesFloatsBigIntsAndTrailing) {
  EXPECT_TRUE(parse_json_strict(R"({"a":1,"b":{"a":2}})", "t").ok());
  auto dup = parse_json_strict(R"({"a":1,"a":2})", "bundle.json");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "bundle.json: duplicate key \"a\"");
  EXPECT_FALSE(parse_json_strict(R"({"a":1.5})", "t").ok());
  EXPECT_FALSE(parse_json_strict(R"({"a":9007199254740993})", "t").ok());
  EXPECT_FALSE(parse_json_strict(R"({"a":1} x)", "t").ok());
  EXPECT_FALSE(parse_json_strict(std::string("{\"a\":\"\0\"}", 9), "t").ok());
  EXPECT_FALSE(parse_json_strict("[[[[[[1]]]]]]", "t", 4).ok());
  EXPECT_FALSE(parse_json_strict("{\"a\":\"\xff\"}", "t").ok());
}

TEST(Fs, AtomicWriteAndReadLimit) {
  char tmpl[] = "/tmp/airlock-common-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string f = std::string(tmpl) + "/x";
  ASSERT_TRUE(write_file_atomic(f, "hello").ok());
  EXPECT_EQ(*read_file(f), "hello");
  auto big = read_file(f, 3);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::kLimit);
  auto missing = read_file(f + "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  remove_tree(tmpl);
}

TEST(Error, CauseChain) {
  Error inner = make_error(Errc::kIntegrity, "digest mismatch");
  Error outer = inner.wrap("member blobs/sha256/ab");
  EXPECT_EQ(outer.describe(), "member blobs/sha256/ab: digest mismatch");
  EXPECT_EQ(outer.root_code(), Errc::kIntegrity);
}

}  // namespace
}  // namespace airlock

namespace airlock {
namespace {

TEST(ReadAhead, ReadsFilesInOrderAndReportsErrorsInPlace) {
  char tmpl[] = "/tmp/airlock-ra-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_TRUE(write_file_atomic(dir + "/a", std::string(2500, 'a')).ok());
  ASSERT_TRUE(write_file_atomic(dir + "/b", "").ok());
  ASSERT_TRUE(write_file_atomic(dir + "/c", "ccc").ok());
  std::vector<std::string> names = {dir + "/a", dir + "/b", dir + "/c", dir + "/missing"};
  ReadAhead reader(names.size(), [&](size_t i) { return open_read(names[i]); }, 1000, 2);
  std::vector<std::string> got(names.size());
  std::vector<int> ends(names.size(), 0);
  Error last;
  for (;;) {
    auto next = reader.next();
    if (!next.ok()) {
      last = next.error();
      break;
    }
    ASSERT_TRUE(next->has_value()) << "the missing file must end the stream with an error";
    auto& chunk = **next;
    EXPECT_LE(chunk.data.size(), 1000u);
    if (chunk.data.empty()) ++ends[chunk.file];
    got[chunk.file].append(chunk.data.begin(), chunk.data.end());
    reader.recycle(std::move(chunk.data));
  }
  EXPECT_EQ(got[0], std::string(2500, 'a'));
  EXPECT_EQ(got[1], "");
  EXPECT_EQ(got[2], "ccc");
  EXPECT_EQ(ends, (std::vector<int>{1, 1, 1, 0}));
  EXPECT_EQ(last.code, Errc::kNotFound);
  EXPECT_NE(last.describe().find("missing"), std::string::npos);
  remove_tree(dir);
}

}  // namespace
}  // namespace airlock

namespace airlock {
namespace {

TEST(SystemProcessRunner, CapturesOutputExitCodeAndStdin) {
  SystemProcessRunner runner;
  auto r = runner.run({"sh", "-c", "echo out; echo err >&2; exit 3"}, {});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");

  ProcessOptions opts;
  std::string big(3 << 20, 'x');  // larger than a pipe buffer: the feeder must stream
  opts.stdin_writer = [&](const std::function<Status(const void*, size_t)>& write) {
    return write(big.data(), big.size());
  };
  r = runner.run({"wc", "-c"}, opts);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(std::stoul(r->out), big.size());
}

TEST(SystemProcessRunner, KillsTheProcessGroupOnTimeout) {
  SystemProcessRunner runner;
  ProcessOptions opts;
  opts.timeout = std::chrono::milliseconds(300);
  auto start = std::chrono::steady_clock::now();
  auto r = runner.run({"sh", "-c", "sleep 30 & sleep 30"}, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(SystemProcessRunner, MissingProgramIsAnError) {
  SystemProcessRunner runner;
  auto r = runner.run({"/nonexistent/airlock-no-such-tool"}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().describe().find("cannot run /nonexistent/airlock-no-such-tool"), std::string::npos);
}

}  // namespace
}  // namespace airlock
