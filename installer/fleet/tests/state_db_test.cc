// The state database keeps every probe and returns the newest per node; it survives reopening
// and refuses a schema from the future.
#include "installer/fleet/state_db.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

namespace airlock::fleet {
namespace {

std::string temp_path() {
  auto dir = std::filesystem::temp_directory_path() / ("airlock-statedb-" + std::to_string(::getpid()) + "-" +
                                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  return (dir / "sub" / "state.db").string();
}

TEST(StateDb, NewestFactsPerNodeAcrossReopen) {
  std::string p = temp_path();
  {
    auto db = StateDb::open(p);
    ASSERT_TRUE(db.ok()) << db.error().describe();
    ASSERT_TRUE((*db)->put_facts({"n1", 1, 1, 5, 1, R"({"v":1})"}).ok());
    ASSERT_TRUE((*db)->put_facts({"n2", 2, 2, -7, 1, R"({"v":2})"}).ok());
    ASSERT_TRUE((*db)->put_facts({"n1", 3, 3, 9, 1, R"({"v":3})"}).ok());
    ASSERT_TRUE((*db)->put_node_run({"probe-1", "n3", 4, false, "unreachable", "n3: connection refused"}).ok());
  }
  auto db = StateDb::open(p);
  ASSERT_TRUE(db.ok());
  auto latest = (*db)->latest_facts();
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ((*latest)[0].node, "n1");
  EXPECT_EQ((*latest)[0].facts_json, R"({"v":3})");
  EXPECT_EQ((*latest)[0].skew_ns, 9);
  EXPECT_EQ((*latest)[1].skew_ns, -7);
  auto runs = (*db)->node_runs("probe-1");
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_FALSE((*runs)[0].ok);
  EXPECT_EQ((*runs)[0].reason, "n3: connection refused");
}

TEST(StateDb, RefusesANewerSchema) {
  std::string p = temp_path();
  { ASSERT_TRUE(StateDb::open(p).ok()); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(p.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE meta SET value='99' WHERE key='schema'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto db = StateDb::open(p);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.error().code, Errc::kUnsupported);
  EXPECT_NE(db.error().message.find("schema 99"), std::string::npos);
}

}  // namespace
}  // namespace airlock::fleet
