// Releases and the current switch through the library API: spec validation, materialisation
// (links and copies, modes, metadata), idempotence and --replace, crash safety (a missing or
// corrupt blob midway, an injected failure, a full disk, a build killed midway: nothing
// half-built is visible and the old current is intact), and switch atomicity.
#include "node/release.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "node/state.h"
#include "node/tests/test_util.h"

namespace airlock::node {
namespace {

using test::list_dir;
using test::put_blob;
using test::TempPrefix;

std::string spec_json(const std::vector<std::tuple<std::string, std::string, std::string>>& files) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [path, blob, mode] : files) {
    nlohmann::json f = {{"path", path}, {"blob", blob}};
    if (!mode.empty()) f["mode"] = mode;
    arr.push_back(f);
  }
  return nlohmann::json{{"files", arr}}.dump();
}

ReleaseSpec must_parse(const std::string& text) {
  auto s = parse_spec(text);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().describe());
  return s.ok() ? *s : ReleaseSpec{};
}

// Visible entries of releases/ (no hidden staging directories).
std::vector<std::string> visible_releases(const Layout& l) {
  std::vector<std::string> out;
  for (const auto& n : list_dir(l.releases_dir())) {
    if (n[0] != '.') out.push_back(n);
  }
  return out;
}

// A prefix with release v1 built and current.
struct WithV1 {
  TempPrefix t;
  std::string a, b;
  WithV1() {
    a = put_blob(t.layout(), "agent v1\n");
    b = put_blob(t.layout(), "config v1\n");
    auto r = build_release(t.layout(), "v1", must_parse(spec_json({{"bin/agent", a, "0755"}, {"etc/agent.toml", b, "0444"}})));
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(switch_release(t.layout(), "v1").ok());
  }
  void expect_v1_current() {
    EXPECT_EQ(test::read_text(t.layout().current_link() + "/bin/agent"), "agent v1\n");
    auto cur = current_release(t.layout());
    ASSERT_TRUE(cur.ok());
    EXPECT_EQ(*cur, "v1");
  }
};

TEST(NodeReleaseSpec, RejectsBadSpecs) {
  std::string d = digest_of("x");
  struct Case {
    std::string text;
    std::string message;
  } cases[] = {
      {spec_json({{"/etc/passwd", d, ""}}), "is absolute"},
      {spec_json({{"a/../../etc", d, ""}}), "'..'"},
      {spec_json({{"./a", d, ""}}), "'.'"},
      {spec_json({{"a//b", d, ""}}), "empty component"},
      {spec_json({{"a/", d, ""}}), "empty component"},
      {spec_json({{"", d, ""}}), "is empty"},
      {spec_json({{"a", d, ""}, {"a", d, ""}}), "duplicate path 'a'"},
      {spec_json({{"bin", d, ""}, {"bin/agent", d, ""}}), "'bin' is both a file and the directory"},
      {spec_json({{"a", "sha256:123", ""}}), "is not sha256"},
      {spec_json({{"a", d, "0855"}}), "bad mode"},
      {spec_json({{"a", d, "17777"}}), "bad mode"},
      {spec_json({{".airlock-release.json", d, ""}}), "reserved"},
      {R"({"files":[{"path":"a","blob":")" + d + R"(","mode":493}]})", "octal string"},
      {R"({"files":[{"path":"a","blob":")" + d + R"(","owner":"root"}]})", "unknown member \"owner\""},
      {R"({"files":{}})", "\"files\" array"},
      {R"({"files":[],"extra":1})", "unknown member \"extra\""},
      {"not json", "release spec"},
  };
  for (const auto& c : cases) {
    auto s = parse_spec(c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.error().describe().find(c.message), std::string::npos)
        << c.text << " -> " << s.error().describe();
  }
}

TEST(NodeReleaseSpec, DigestIgnoresOrderAndDefaultMode) {
  std::string d = digest_of("x"), e = digest_of("y");
  auto s1 = must_parse(spec_json({{"b", d, "0644"}, {"a", e, "0755"}}));
  auto s2 = must_parse(spec_json({{"a", e, "755"}, {"b", d, ""}}));
  EXPECT_EQ(s1.digest, s2.digest);
  EXPECT_EQ(s1.files[0].path, "a");
  EXPECT_EQ(s1.canonical["files"][0]["mode"], "0755");
  auto s3 = must_parse(spec_json({{"a", e, "0700"}, {"b", d, ""}}));
  EXPECT_NE(s1.digest, s3.digest);
}

TEST(NodeRelease, BuildMaterialisesLinksCopiesAndIsIdempotent) {
  TempPrefix t;
  std::string a = put_blob(t.layout(), "#!/bin/sh\necho agent\n");
  std::string c = put_blob(t.layout(), "data");
  auto spec = must_parse(spec_json({{"bin/agent", a, "0755"}, {"share/x/data", c, "0444"}, {"copy", c, ""}}));
  auto r = build_release(t.layout(), "2024.1", spec);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->files, 3u);
  EXPECT_EQ(r->linked, 1u);
  EXPECT_EQ(r->copied, 2u);
  std::string dir = t.layout().release_dir("2024.1");
  struct stat st, blob;
  ASSERT_EQ(::stat((dir + "/bin/agent").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat((dir + "/share/x/data").c_str(), &st), 0);
  ASSERT_EQ(::stat(blob_path(t.layout(), c).c_str(), &blob), 0);
  EXPECT_EQ(st.st_ino, blob.st_ino);  // hard link: same mode as the stored blob
  ASSERT_EQ(::stat((dir + "/copy").c_str(), &st), 0);
  EXPECT_NE(st.st_ino, blob.st_ino);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(blob.st_mode & 07777, 0444u);  // copying never changed the store's mode
  EXPECT_EQ(test::read_text(dir + "/copy"), "data");
  auto meta = nlohmann::json::parse(test::read_text(dir + "/" + kReleaseMeta));
  EXPECT_EQ(meta["spec_digest"], spec.digest);
  EXPECT_EQ(meta["spec"], spec.canonical);
  EXPECT_EQ(meta["release"], "2024.1");
  EXPECT_EQ(list_dir(t.layout().releases_dir()), std::vector<std::string>{"2024.1"});

  auto again = build_release(t.layout(), "2024.1", spec);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);

  auto infos = list_releases(t.layout());
  ASSERT_TRUE(infos.ok());
  ASSERT_EQ(infos->size(), 1u);
  EXPECT_EQ((*infos)[0].spec_digest, spec.digest);
  EXPECT_EQ((*infos)[0].blobs.size(), 3u);
}

TEST(NodeRelease, AnotherSpecNeedsReplaceWhichSwapsInPlace) {
  WithV1 f;
  std::string a2 = put_blob(f.t.layout(), "agent v2\n");
  auto spec2 = must_parse(spec_json({{"bin/agent", a2, "0755"}}));
  auto r = build_release(f.t.layout(), "v1", spec2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().describe().find("--replace"), std::string::npos) << r.error().describe();
  f.expect_v1_current();
  BuildOptions o;
  o.replace = true;
  r = build_release(f.t.layout(), "v1", spec2, o);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->replaced);
  EXPECT_EQ(test::read_text(f.t.layout().current_link() + "/bin/agent"), "agent v2\n");
  EXPECT_FALSE(path_exists(f.t.layout().current_link() + "/etc/agent.toml"));
  EXPECT_EQ(list_dir(f.t.layout().releases_dir()), std::vector<std::string>{"v1"});
}

TEST(NodeReleaseCrash, MissingBlobInTheMiddleLeavesNothingVisible) {
  WithV1 f;
  std::string x = put_blob(f.t.layout(), "x");
  std::string absent = digest_of("never stored");
  auto spec = must_parse(spec_json({{"a", x, ""}, {"m", absent, ""}, {"z", x, ""}}));
  auto r = build_release(f.t.layout(), "v2", spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().root_code(), Errc::kNotFound);
  EXPECT_NE(r.error().describe().find(absent), std::string::npos);
  EXPECT_NE(r.error().describe().find("for m"), std::string::npos);
  EXPECT_EQ(list_dir(f.t.layout().releases_dir()), std::vector<std::string>{"v1"});
  f.expect_v1_current();
}

TEST(NodeReleaseCrash, FailureMidwayRemovesTheStagingTree) {
  WithV1 f;
  std::string x = put_blob(f.t.layout(), "x");
  std::string y = put_blob(f.t.layout(), "y");
  // A corrupt blob in the middle, caught by --verify after the first file is in place.
  test::write_text(blob_path(f.t.layout(), y), "Y");
  auto spec = must_parse(spec_json({{"a/1", x, ""}, {"b/2", y, ""}, {"c/3", x, ""}}));
  BuildOptions o;
  o.verify = true;
  auto r = build_release(f.t.layout(), "v2", spec, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().root_code(), Errc::kIntegrity);
  EXPECT_NE(r.error().describe().find("corrupt"), std::string::npos) << r.error().describe();
  EXPECT_EQ(list_dir(f.t.layout().releases_dir()), std::vector<std::string>{"v1"});
  // An I/O error after the second file (injected).
  spec = must_parse(spec_json({{"a/1", x, ""}, {"b/2", x, "0755"}, {"c/3", x, ""}}));
  int calls = 0;
  o = {};
  o.after_file = [&](const std::string& path) -> Status {
    if (++calls == 2) return make_error(Errc::kIo, "injected: no space left writing " + path);
    return {};
  };
  r = build_release(f.t.layout(), "v2", spec, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().describe().find("injected"), std::string::npos);
  EXPECT_EQ(list_dir(f.t.layout().releases_dir()), std::vector<std::string>{"v1"});
  f.expect_v1_current();
  // And then it builds.
  ASSERT_TRUE(build_release(f.t.layout(), "v2", spec).ok());
}

TEST(NodeReleaseCrash, FullDiskAndKilledBuildLeaveNothingVisible) {
  WithV1 f;
  std::string big = put_blob(f.t.layout(), std::string(1 << 20, 'b'));
  std::string small = put_blob(f.t.layout(), "s");
  auto spec = must_parse(spec_json({{"a", small, "0755"}, {"big", big, "0755"}, {"z", small, "0755"}}));
  // kill_it = false: SIGXFSZ ignored, the write fails with EFBIG (like ENOSPC) and the build
  // cleans up. true: the build dies of SIGXFSZ midway, like a crash or kill -9.
  for (bool kill_it : {false, true}) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::signal(SIGXFSZ, kill_it ? SIG_DFL : SIG_IGN);
      struct rlimit lim = {64 * 1024, 64 * 1024};
      ::setrlimit(RLIMIT_FSIZE, &lim);
      auto r = build_release(f.t.layout(), "v2", spec);
      ::_exit(r.ok() ? 0 : 42);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    if (kill_it) {
      ASSERT_TRUE(WIFSIGNALED(status)) << status;
      EXPECT_EQ(WTERMSIG(status), SIGXFSZ);
      // Its staging directory is left (hidden), nothing else.
      EXPECT_EQ(list_dir(f.t.layout().releases_dir()),
                (std::vector<std::string>{".v2.tmp-" + std::to_string(pid), "v1"}));
    } else {
      ASSERT_TRUE(WIFEXITED(status));
      EXPECT_EQ(WEXITSTATUS(status), 42);
      EXPECT_EQ(list_dir(f.t.layout().releases_dir()), std::vector<std::string>{"v1"});
    }
    EXPECT_EQ(visible_releases(f.t.layout()), std::vector<std::string>{"v1"});
    f.expect_v1_current();
  }
  // The next build removes the dead build's staging directory and succeeds.
  auto r = build_release(f.t.layout(), "v2", spec);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(list_dir(f.t.layout().releases_dir()), (std::vector<std::string>{"v1", "v2"}));
}

TEST(NodeReleaseCrash, ReadOnlyReleasesDirectory) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
  WithV1 f;
  std::string x = put_blob(f.t.layout(), "x");
  ASSERT_EQ(::chmod(f.t.layout().releases_dir().c_str(), 0555), 0);
  auto r = build_release(f.t.layout(), "v2", must_parse(spec_json({{"a", x, ""}})));
  ::chmod(f.t.layout().releases_dir().c_str(), 0755);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(list_dir(f.t.layout().releases_dir()), std::vector<std::string>{"v1"});
  f.expect_v1_current();
}

TEST(NodeSwitch, RecordsCurrentPreviousAndLastKnownGood) {
  WithV1 f;
  const Layout& l = f.t.layout();
  ASSERT_TRUE(build_release(l, "v2", must_parse(spec_json({{"bin/agent", put_blob(l, "agent v2\n"), "0755"}}))).ok());
  auto m = mark_good(l, "v1");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(*m);
  EXPECT_FALSE(*mark_good(l, "v1"));
  EXPECT_FALSE(mark_good(l, "v9").ok());

  auto s = switch_release(l, "v2");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->changed);
  EXPECT_EQ(s->previous, "v1");
  char target[256] = {};
  ASSERT_GT(::readlink(l.current_link().c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "releases/v2");  // relative: the prefix can move
  s = switch_release(l, "v2");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->changed);
  auto st = load_state(l);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["current"], "v2");
  EXPECT_EQ((*st)["previous"], "v1");
  EXPECT_EQ((*st)["last_known_good"], "v1");
  EXPECT_EQ((*st)["history"].size(), 2u);

  s = switch_to_last_good(l);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->release, "v1");
  EXPECT_TRUE(s->changed);
  f.expect_v1_current();
  s = switch_to_previous(l);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->release, "v2");

  // Refusals leave current alone.
  EXPECT_EQ(switch_release(l, "nope").error().code, Errc::kNotFound);
  ASSERT_EQ(::mkdir(l.release_dir("half").c_str(), 0755), 0);  // no metadata: not ours
  auto bad = switch_release(l, "half");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().describe().find("not a complete airlock release"), std::string::npos);
  EXPECT_FALSE(switch_release(l, "../v1").ok());
  EXPECT_EQ(*current_release(l), "v2");

  // remove refuses current and last known good.
  EXPECT_FALSE(remove_release(l, "v2").ok());
  EXPECT_FALSE(remove_release(l, "v1").ok());
  ASSERT_TRUE(mark_good(l, "v2").ok());
  auto rm = remove_release(l, "v1");
  ASSERT_TRUE(rm.ok()) << rm.error().describe();
  EXPECT_TRUE(*rm);
  EXPECT_EQ(load_state(l)->at("previous"), nullptr);
  EXPECT_FALSE(*remove_release(l, "v1"));
}

TEST(NodeSwitch, NoLastKnownGoodIsAnError) {
  WithV1 f;
  auto s = switch_to_last_good(f.t.layout());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().describe().find("last_known_good"), std::string::npos);
}

TEST(NodeSwitch, RefusesToReplaceARealDirectory) {
  TempPrefix t;
  ASSERT_TRUE(build_release(t.layout(), "v1", must_parse(spec_json({{"a", put_blob(t.layout(), "a"), ""}}))).ok());
  ASSERT_EQ(::mkdir(t.layout().current_link().c_str(), 0755), 0);
  test::write_text(t.layout().current_link() + "/keep", "k");
  EXPECT_FALSE(switch_release(t.layout(), "v1").ok());
  EXPECT_EQ(test::read_text(t.layout().current_link() + "/keep"), "k");
  EXPECT_EQ(list_dir(t.layout().opt_dir()), (std::vector<std::string>{"current", "releases"}));
}

TEST(NodeSwitch, CurrentAlwaysResolvesDuring1000Switches) {
  TempPrefix t;
  const Layout& l = t.layout();
  for (const char* r : {"v1", "v2"}) {
    ASSERT_TRUE(build_release(l, r, must_parse(spec_json({{"marker", put_blob(l, r), "0444"}}))).ok());
  }
  ASSERT_TRUE(switch_release(l, "v1").ok());
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, failures{0};
  std::string marker = l.current_link() + "/marker";
  std::thread reader([&] {
    while (!stop.load()) {
      struct stat st;
      if (::stat(marker.c_str(), &st) != 0) failures.fetch_add(1);
      reads.fetch_add(1);
    }
  });
  int changed = 0;
  for (int i = 0; i < 1000; ++i) {
    auto s = switch_release(l, i % 2 == 0 ? "v2" : "v1");
    ASSERT_TRUE(s.ok()) << s.error().describe();
    changed += s->changed;
  }
  stop = true;
  reader.join();
  EXPECT_EQ(changed, 1000);
  EXPECT_EQ(failures.load(), 0) << "of " << reads.load() << " reads";
  EXPECT_GT(reads.load(), 1000);
  EXPECT_EQ(*current_release(l), "v1");
  // No temporary links left behind.
  EXPECT_EQ(list_dir(l.opt_dir()), (std::vector<std::string>{"current", "releases"}));
}

}  // namespace
}  // namespace airlock::node
