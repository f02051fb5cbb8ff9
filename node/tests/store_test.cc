// The content store through the library API: put (verified, atomic), missing (size/digest
// checks remove bad blobs), gc (keeps what is asked and what releases name).
#include "node/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "node/release.h"
#include "node/tests/test_util.h"

namespace airlock::node {
namespace {

using test::list_dir;
using test::put_blob;
using test::TempPrefix;

TEST(NodeStore, ParseWant) {
  std::string d = digest_of("x");
  auto w = parse_want(d);
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->size.has_value());
  w = parse_want(d + "=12");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w->size, 12u);
  for (std::string bad : {std::string("sha256:abc"), d.substr(0, 70) + "G", "md5:" + d.substr(7),
                          d + "=", d + "=-1", d + "=1x", std::string("")}) {
    EXPECT_FALSE(parse_want(bad).ok()) << bad;
  }
}

TEST(NodeStore, PutThenMissingAndIdempotentPut) {
  TempPrefix t;
  std::string a = put_blob(t.layout(), "alpha");
  std::string b = put_blob(t.layout(), "bravo");
  std::string c = digest_of("charlie");
  EXPECT_EQ(test::read_text(blob_path(t.layout(), a)), "alpha");
  struct stat st;
  ASSERT_EQ(::stat(blob_path(t.layout(), a).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0444u);
  auto m = store_missing(t.layout(), {{a, 5}, {c, {}}, {b, {}}, {c, {}}}, false);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->missing, std::vector<std::string>{c});
  EXPECT_EQ(m->present, 2u);
  EXPECT_TRUE(m->removed.empty());
  // A second put of the same blob reads its input and changes nothing.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ASSERT_EQ(::write(p[1], "alpha", 5), 5);
  ::close(p[1]);
  auto r = store_put(t.layout(), {a, {}}, p[0]);
  ::close(p[0]);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->changed);
  EXPECT_EQ(r->size, 5u);
}

TEST(NodeStore, PutRejectsWrongDigestOrSizeAndLeavesNothing) {
  TempPrefix t;
  std::string want = digest_of("the real thing");
  for (int variant = 0; variant < 2; ++variant) {
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    std::string data = variant == 0 ? "an impostor" : "the real thing";
    ASSERT_EQ(::write(p[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(p[1]);
    Want w{want, variant == 0 ? std::optional<uint64_t>() : std::optional<uint64_t>(3)};
    auto r = store_put(t.layout(), w, p[0]);
    ::close(p[0]);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::kIntegrity);
    EXPECT_NE(r.error().describe().find(want), std::string::npos) << r.error().describe();
    EXPECT_TRUE(list_dir(t.layout().blobs_dir()).empty());  // no temp file, no blob
  }
}

TEST(NodeStore, MissingRemovesBlobsOfTheWrongSizeOrContent) {
  TempPrefix t;
  std::string good = put_blob(t.layout(), "good");
  std::string truncated = digest_of("a longer blob");
  std::string corrupt = digest_of("original");
  std::string squatter = digest_of("dir");
  // As left by an interrupted upload straight to the store path, or by bit rot.
  test::write_text(blob_path(t.layout(), truncated), "a long");
  test::write_text(blob_path(t.layout(), corrupt), "origin4l");
  ASSERT_EQ(::mkdir(blob_path(t.layout(), squatter).c_str(), 0755), 0);

  // Without sizes or --verify, a regular file is trusted by its name.
  auto m = store_missing(t.layout(), {{good, {}}, {corrupt, {}}}, false);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->missing.empty());

  m = store_missing(t.layout(), {{good, 4}, {truncated, 13}, {corrupt, 8}, {squatter, {}}}, false);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->missing, (std::vector<std::string>{truncated, squatter}));
  EXPECT_EQ(m->removed, (std::vector<std::string>{truncated, squatter}));
  EXPECT_FALSE(path_exists(blob_path(t.layout(), truncated)));
  EXPECT_FALSE(path_exists(blob_path(t.layout(), squatter)));

  m = store_missing(t.layout(), {{good, 4}, {corrupt, 8}}, true);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->missing, std::vector<std::string>{corrupt});
  EXPECT_EQ(m->removed, std::vector<std::string>{corrupt});
  EXPECT_TRUE(path_exists(blob_path(t.layout(), good)));
}

TEST(NodeStore, GcKeepsListedBlobsAndThoseReleasesName) {
  TempPrefix t;
  std::string keep = put_blob(t.layout(), "keep me");
  std::string used = put_blob(t.layout(), "used by a release");
  std::string drop = put_blob(t.layout(), "drop me");
  auto spec = parse_spec(R"({"files":[{"path":"f","blob":")" + used + R"(","mode":"0644"}]})");
  ASSERT_TRUE(spec.ok()) << spec.error().describe();
  ASSERT_TRUE(build_release(t.layout(), "r1", *spec).ok());
  // An old leftover temporary file goes too; a fresh one (a put in progress) stays.
  std::string old_tmp = t.layout().blobs_dir() + "/.tmp-old";
  std::string new_tmp = t.layout().blobs_dir() + "/.tmp-new";
  test::write_text(old_tmp, "x");
  test::write_text(new_tmp, "y");
  struct timespec times[2] = {{1000, 0}, {1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, old_tmp.c_str(), times, 0), 0);

  auto dry = store_gc(t.layout(), {keep}, true);
  ASSERT_TRUE(dry.ok());
  EXPECT_EQ(dry->removed, std::vector<std::string>{drop});
  EXPECT_TRUE(path_exists(blob_path(t.layout(), drop)));

  auto r = store_gc(t.layout(), {keep}, false);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->removed, std::vector<std::string>{drop});
  EXPECT_EQ(r->kept, 2u);
  EXPECT_EQ(r->freed_bytes, 8u);  // the dropped blob and the old temporary file
  EXPECT_FALSE(path_exists(blob_path(t.layout(), drop)));
  EXPECT_TRUE(path_exists(blob_path(t.layout(), keep)));
  EXPECT_TRUE(path_exists(blob_path(t.layout(), used)));
  EXPECT_FALSE(path_exists(old_tmp));
  EXPECT_TRUE(path_exists(new_tmp));
}

}  // namespace
}  // namespace airlock::node
