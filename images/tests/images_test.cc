// Unit tests for images/: repository naming.
#include <gtest/gtest.h>

#include "images/bundle_images.h"
#include "images/export.h"

namespace airlock::images {
namespace {

TEST(Repository, StripsRegistryHostAndAddsPrefix) {
  struct Case {
    const char* name;
    const char* prefix;
    const char* repo;
  } cases[] = {
      {"registry.local:5000/team/app", "", "team/app"},
      {"registry.example.com/app", "", "app"},
      {"localhost/app", "", "app"},
      {"example/busybox-httpd", "", "example/busybox-httpd"},
      {"example/busybox-httpd", "site", "site/example/busybox-httpd"},
      {"app", "site/", "site/app"},
  };
  for (const auto& c : cases) EXPECT_EQ(repository_for(c.name, c.prefix), c.repo) << c.name;
}

TEST(ExportFormat, Parses) {
  EXPECT_EQ(*parse_export_format("docker-archive"), ExportFormat::kDockerArchive);
  EXPECT_EQ(*parse_export_format("oci"), ExportFormat::kOciArchive);
  auto bad = parse_export_format("tarball");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::kInvalidArgument);
}

}  // namespace
}  // namespace airlock::images
