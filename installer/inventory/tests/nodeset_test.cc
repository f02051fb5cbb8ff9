// Node set expand/fold: ClusterShell syntax, errors with columns, the size limit, round trips
// and the cost on 100k names.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include "installer/inventory/nodeset.h"

namespace airlock::inventory {
namespace {

std::vector<std::string> ok(std::string_view p) {
  auto r = expand_nodeset(p);
  EXPECT_TRUE(r.ok()) << p << ": " << (r.ok() ? "" : r.error().describe());
  return r.ok() ? *r : std::vector<std::string>{};
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& n : v) s += (s.empty() ? "" : " ") + n;
  return s;
}

TEST(Nodeset, Expand) {
  struct Case {
    const char* pattern;
    const char* names;
  } cases[] = {
      {"login1", "login1"},
      {"gpu[1-3]", "gpu1 gpu2 gpu3"},
      {"gpu[001-003]", "gpu001 gpu002 gpu003"},
      {"n[08-11]", "n08 n09 n10 n11"},
      {"n[098-101]", "n098 n099 n100 n101"},
      {"n[01-100/33]", "n01 n34 n67 n100"},
      {"node[1-9/2]", "node1 node3 node5 node7 node9"},
      {"node[1-8/3]", "node1 node4 node7"},
      {"n[1,3,5-7]", "n1 n3 n5 n6 n7"},
      {"n[0]", "n0"},
      {"rack[1,3]-n[01-02]", "rack1-n01 rack1-n02 rack3-n01 rack3-n02"},
      {"login1,gpu[01-02]", "login1 gpu01 gpu02"},
      {"a , b", "a b"},
      {"n[1-3],n[2-5],n1", "n1 n2 n3 n4 n5"},
      {"gpu[1-2]-ib", "gpu1-ib gpu2-ib"},
      {"10.0.1.[1-3]", "10.0.1.1 10.0.1.2 10.0.1.3"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(joined(ok(c.pattern)), c.names) << c.pattern;
  }
}

TEST(Nodeset, Errors) {
  struct Case {
    const char* pattern;
    const char* message;
  } cases[] = {
      {"gpu[3-1]", "gpu[3-1]: column 5: range end 1 is below its start 3"},
      {"gpu[1-3", "gpu[1-3: column 4: '[' is not closed"},
      {"gpu1-3]", "gpu1-3]: column 7: ']' without a matching '['"},
      {"gpu[1-[2]]", "gpu[1-[2]]: column 7: '[' inside brackets"},
      {"gpu[]", "gpu[]: column 5: empty range"},
      {"gpu[1,,3]", "gpu[1,,3]: column 7: empty range"},
      {"gpu[a-3]", "gpu[a-3]: column 5: range 'a-3' is not numeric (expected N, N-M or N-M/STEP)"},
      {"gpu[1-]", "gpu[1-]: column 5: range '1-' is not numeric (expected N, N-M or N-M/STEP)"},
      {"gpu[1-9/0]", "gpu[1-9/0]: column 5: bad step in '1-9/0': the step must be a number of at least 1"},
      {"gpu[1-9/x]", "gpu[1-9/x]: column 5: bad step in '1-9/x': the step must be a number of at least 1"},
      {"gpu[5/2]", "gpu[5/2]: column 5: bad step in '5/2': a step needs a range, as in 1-9/2"},
      {"gpu[1-010]", "gpu[1-010]: column 5: padding of '1-010' differs between its start and its end"},
      {"a,,b", "a,,b: column 3: empty name"},
      {"a,", "a,: column 2: empty name"},
      {"", ": column 1: empty node set"},
      {"gpu 1", "gpu 1: column 4: space inside a name"},
      {"n[1234567890123456789]", "n[1234567890123456789]: column 3: number in '1234567890123456789' is too large"},
  };
  for (const auto& c : cases) {
    NodesetError where;
    auto r = expand_nodeset(c.pattern, 1000, &where);
    ASSERT_FALSE(r.ok()) << c.pattern;
    EXPECT_EQ(r.error().code, Errc::kParse);
    EXPECT_EQ(r.error().describe(), c.message);
    EXPECT_EQ(std::string(c.message).find(where.reason) != std::string::npos, true) << where.reason;
  }
}

TEST(Nodeset, LimitIsCheckedBeforeBuilding) {
  auto start = std::chrono::steady_clock::now();
  auto r = expand_nodeset("n[1-1000000000]-[1-1000000000]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kLimit);
  EXPECT_EQ(r.error().describe(), "n[1-1000000000]-[1-1000000000]: column 1: expands to more than 1000000 names");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_FALSE(expand_nodeset("n[1-11]", 10).ok());
  EXPECT_TRUE(expand_nodeset("n[1-10]", 10).ok());
}

TEST(Nodeset, Fold) {
  struct Case {
    std::vector<std::string> names;
    const char* folded;
  } cases[] = {
      {{}, ""},
      {{"login"}, "login"},
      {{"gpu001"}, "gpu001"},
      {{"gpu3", "gpu1", "gpu2"}, "gpu[1-3]"},
      {{"n8", "n9", "n10"}, "n[8-10]"},
      {{"n08", "n09", "n10"}, "n[08-10]"},
      {{"n8", "n9", "n10", "n08"}, "n[8-9],n[08,10]"},
      {{"n099", "n100", "n1000"}, "n[099-100],n1000"},
      {{"n01", "n1"}, "n1,n01"},
      {{"n1", "n1", "n2"}, "n[1-2]"},
      {{"login", "gpu02", "gpu01", "mgr"}, "gpu[01-02],login,mgr"},
      {{"rack1-n01", "rack1-n02", "rack3-n01"}, "rack1-n[01-02],rack3-n01"},
      {{"n1-ib", "n2-ib", "n3-eth", "n1-eth"}, "n[1,3]-eth,n[1-2]-ib"},
      {{"a", "a1", "a2"}, "a,a[1-2]"},
  };
  for (const auto& c : cases) EXPECT_EQ(fold_nodeset(c.names), c.folded) << joined(c.names);
  std::vector<std::string> gapped;
  for (int i = 1; i <= 128; ++i) {
    if (i != 65) gapped.push_back("gpu" + std::string(i < 10 ? "00" : i < 100 ? "0" : "") + std::to_string(i));
  }
  EXPECT_EQ(fold_nodeset(gapped), "gpu[001-064,066-128]");
}

TEST(Nodeset, RoundTrips) {
  const char* folded[] = {"gpu[001-064,066-128]", "n[8-10]", "n[08-10]", "n[1,3,5-7]", "node[1,3,5,7,9]",
                          "a,a[1-2]",            "n[098-101]", "gpu[1-2]-ib", "login1", "n[0-1]"};
  for (const char* p : folded) EXPECT_EQ(fold_nodeset(ok(p)), p);
  // Any pattern: folding and expanding again gives the same set of names.
  const char* any[] = {"rack[1,3]-n[01-16]", "login1,gpu[01-04]", "n[1-20/3],n[05-12]", "x[8-12],x[08-12]",
                       "n[1-9/2],n[0-10/2]",  "a1b2,a1b3,a2b2",    "n[99-101],n[099-101]", "gpu[1-3]-ib,gpu[1-3]-eth"};
  for (const char* p : any) {
    auto names = ok(p);
    auto again = ok(fold_nodeset(names));
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), std::set<std::string>(again.begin(), again.end()))
        << p << " -> " << fold_nodeset(names);
    EXPECT_EQ(names.size(), again.size()) << p;
  }
}

TEST(Nodeset, RandomNamesRoundTrip) {
  std::mt19937 rng(42);
  const char* prefixes[] = {"n", "gpu", "r1-n", "", "x9y"};
  const char* suffixes[] = {"", "-ib", "0a"};
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> names;
    int count = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < count; ++i) {
      std::string num = std::to_string(rng() % 130);
      size_t width = rng() % 4;
      if (num.size() < width) num.insert(0, width - num.size(), '0');
      names.push_back(std::string(prefixes[rng() % 5]) + num + suffixes[rng() % 3]);
    }
    std::string folded = fold_nodeset(names);
    auto again = ok(folded);
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), std::set<std::string>(again.begin(), again.end()))
        << folded;
    EXPECT_EQ(fold_nodeset(again), folded);
  }
}

TEST(Nodeset, HundredThousandNamesAreFast) {
  auto start = std::chrono::steady_clock::now();
  auto names = ok("gpu[000001-100000]");
  ASSERT_EQ(names.size(), 100000u);
  std::mt19937 rng(7);
  std::shuffle(names.begin(), names.end(), rng);
  names.erase(names.begin() + 5);  // one gap somewhere
  std::string f = fold_nodeset(names);
  EXPECT_EQ(ok(f).size(), 99999u);
  EXPECT_EQ(std::count(f.begin(), f.end(), ','), 1) << f;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace airlock::inventory
