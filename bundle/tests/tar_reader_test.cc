// Member-name rules of the outer tar (docs/bundle-format.md §E.7).
#include <gtest/gtest.h>

#include "bundle/tar_reader.h"

namespace airlock::bundle {
namespace {

TEST(MemberName, AllowsBundleNames) {
  for (const char* ok : {"bundle.json", "blobs/sha256/abc", "index.json", "oci-layout"}) {
    EXPECT_TRUE(check_member_name(ok).ok()) << ok;
  }
}

TEST(MemberName, RejectsUnsafeNames) {
  struct Case {
    std::string name;
    std::string message;
  } cases[] = {
      {"../x", "member '../x': path escapes the bundle ('..' component)"},
      {"blobs/../../etc/passwd", "member 'blobs/../../etc/passwd': path escapes the bundle ('..' component)"},
      {"/etc/passwd", "member '/etc/passwd': absolute path"},
      {"a\\b", "member 'a\\b': backslash in name"},
      {"a//b", "member 'a//b': non-canonical path"},
      {"./a", "member './a': non-canonical path"},
      {std::string("a\x01"), "member name contains a control character"},
      {"", "member with an empty name"},
      {std::string(300, 'a'), "member name longer than 255 bytes"},
  };
  for (const auto& c : cases) {
    auto st = check_member_name(c.name);
    ASSERT_FALSE(st.ok()) << c.name;
    EXPECT_EQ(st.error().message, c.message);
    EXPECT_EQ(st.error().code, Errc::kUnsafe);
  }
}

}  // namespace
}  // namespace airlock::bundle
