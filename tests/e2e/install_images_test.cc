// `airlock install` with `images` steps, end to end through the CLI:
// * target registry: the example bundle's image pushed into a real registry (Debian's
//   docker-registry) once per run, whatever the number of nodes; skopeo checks the tag's digest;
//   a re-run changes nothing, and a step that runs again against a registry that has the image
//   uploads nothing and says so.
// * target runtime: the node loads the image from its content store into podman (real, rootful,
//   with its storage in the test's folder; skipped when podman is missing), docker and containerd
//   (stand-ins on PATH, as in runtime_load_test.cc: no daemon runs here; skopeo reads what they
//   were fed); an image the runtime has is not loaded again; a node without the runtime fails
//   with an error naming it.
// The runtime cases and the one-node registry case use a `local` inventory (the installer's own
// machine, under a prefix); the fleet registry case a simulated cluster. Needs root.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bundle/manifest.h"
#include "installer/install/act_images.h"
#include "installer/install/playbook.h"
#include "tests/e2e/cli_harness.h"
#include "tests/e2e/registry_harness.h"
#include "tests/sim/sim_cluster.h"

namespace airlock::test {
namespace {

using json = nlohmann::json;

const char* kImage = "example/busybox-httpd";

// The config digest of the example image, read by skopeo from the example's OCI layout.
std::string example_config_digest() {
  RunResult r = run({"skopeo", "inspect", "--raw", "oci:" + example_dir() + "/build/oci:1.35"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out, nullptr, false).value("config", json::object()).value("digest", "");
}

// The step events of an `install --json` run.
std::vector<json> step_events(const std::string& out) {
  std::vector<json> v;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    json j = json::parse(out.substr(start, nl - start), nullptr, false);
    if (j.is_object() && j.value("type", "") == "step") v.push_back(j);
    start = nl + 1;
  }
  return v;
}

std::string images_messages(const std::string& out) {
  std::string s;
  for (const auto& e : step_events(out)) {
    if (e.value("action", "") == "images") s += e.value("node", "") + " " + e.value("status", "") + ": " + e.value("message", "") + "\n";
  }
  return s;
}

class InstallImages : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (the install engine writes under the node's prefix as root)";
    if (!have_tool("skopeo")) GTEST_SKIP() << "skopeo is not installed";
    std::string base = make_key(dir_.path(), "ops");
    pub_ = base + ".pub";
    bundle_ = dir_ / "site.airlock";
    create_example(bundle_, {base});
    root_ = dir_ / "root";
    std::filesystem::create_directories(root_);
    bin_ = dir_ / "bin";
    std::filesystem::create_directories(bin_);
  }

  // A one-host inventory: this machine, under root_.
  std::string inventory(const std::string& extra_vars = "") {
    std::string path = dir_ / "inventory.yaml";
    write_all(path, "hosts:\n  here:\n    local: true\n    vars: {airlock_prefix: \"" + root_ + "\"" + extra_vars + "}\n");
    return path;
  }
  std::string playbook(const std::string& name, const std::string& steps, const std::string& phase = "images") {
    std::string path = dir_ / (name + ".yaml");
    write_all(path, "playbook: " + name + "\nphases:\n  - name: " + phase + "\n    hosts: [all]\n    steps:\n" + steps);
    return path;
  }
  RunResult install(const std::string& inv, const std::string& pb, const std::map<std::string, std::string>& env = {}) {
    return airlock({"install", "-i", inv, bundle_, "--pub", pub_, "--playbook", pb, "--state", dir_ / "state.db",
                    "--skip-validation", "--json"},
                   env);
  }
  std::map<std::string, std::string> path_env() {
    return {{"PATH", bin_ + ":" + std::string(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin")}};
  }

  // A stand-in for docker or ctr: `load`/`import` keeps the archive (PROG-N.tar) and records the
  // image it names; `image inspect --format {{.Id}} REF` and `images ls` answer from that record.
  void fake_runtime(const std::string& prog) {
    std::string path = bin_ + "/" + prog;
    write_all(path, R"PY(#!/usr/bin/python3
import io, json, os, sys, tarfile
state = ")PY" + dir_.path() + R"PY("
prog = os.path.basename(sys.argv[0])
args = sys.argv[1:]
db_path = os.path.join(state, prog + ".json")
db = json.load(open(db_path)) if os.path.exists(db_path) else {}
with open(os.path.join(state, prog + ".log"), "a") as log:
    log.write(" ".join(args) + "\n")
if prog == "ctr" and args[:1] == ["-n"]:
    args = args[2:]
if args[-1:] in (["load"], ["-"]):
    data = sys.stdin.buffer.read()
    n = len([f for f in os.listdir(state) if f.startswith(prog + "-")])
    open(os.path.join(state, "%s-%d.tar" % (prog, n)), "wb").write(data)
    t = tarfile.open(fileobj=io.BytesIO(data))
    m = json.load(t.extractfile("manifest.json"))[0]
    idx = json.load(t.extractfile("index.json"))
    name = m["RepoTags"][0]
    if prog == "docker":
        name = "docker.io/" + name
    db[name] = {"id": "sha256:" + os.path.basename(m["Config"]), "digest": idx["manifests"][0]["digest"]}
    json.dump(db, open(db_path, "w"))
    print("Loaded image: " + name)
elif args[:2] == ["image", "inspect"]:
    ref = args[-1]
    if ref not in db and prog == "docker":
        ref = "docker.io/" + ref
    if ref not in db:
        print("Error: No such image: " + args[-1], file=sys.stderr)
        sys.exit(1)
    print(db[ref]["id"])
elif args[:2] == ["images", "ls"]:
    print("REF TYPE DIGEST SIZE PLATFORMS LABELS")
    for name, v in db.items():
        print("%s application/vnd.oci.image.manifest.v1+json %s 1.0 MiB linux/amd64 -" % (name, v["digest"]))
else:
    print("unexpected: " + " ".join(args), file=sys.stderr)
    sys.exit(2)
)PY");
    chmod(path.c_str(), 0755);
  }

  TempDir dir_;
  std::string pub_, bundle_, root_, bin_;
};

TEST(ImagesRefs, NormalizedAsTheRuntimesNameThem) {
  EXPECT_EQ(install::normalized_image_ref("example/app", "1"), "docker.io/example/app:1");
  EXPECT_EQ(install::normalized_image_ref("app", "1"), "docker.io/library/app:1");
  EXPECT_EQ(install::normalized_image_ref("registry.local/team/app", "1"), "registry.local/team/app:1");
  EXPECT_EQ(install::normalized_image_ref("localhost/app", "1"), "localhost/app:1");
  EXPECT_EQ(install::normalized_image_ref("reg:5000/app", "1"), "reg:5000/app:1");
  std::string ls =
      "REF                          TYPE                                       DIGEST      SIZE    PLATFORMS   LABELS\n"
      "docker.io/example/app:1 application/vnd.oci.image.manifest.v1+json sha256:aa 1.0 MiB linux/amd64 -\n";
  EXPECT_TRUE(install::ctr_lists_image(ls, "example/app", "1", "sha256:aa"));
  EXPECT_FALSE(install::ctr_lists_image(ls, "example/app", "1", "sha256:bb"));  // another image under that name
  EXPECT_FALSE(install::ctr_lists_image(ls, "example/app", "2", "sha256:aa"));
}

TEST(ImagesPlaybook, OptionsAndTheirErrors) {
  const std::string head = "playbook: x\nphases:\n  - name: a\n    hosts: [all]\n    steps:\n";
  auto parse = [&](const std::string& steps) {
    return install::parse_playbook(head + steps, "pb.yaml", [](const std::string&) -> Result<std::string> {
      return make_error(Errc::kNotFound, "no sources here");
    });
  };
  auto ok = parse("      - images: {target: registry}\n"
                  "      - images: {target: registry, registry: \"reg.site:5000\", prefix: \"{{ vars.p }}\", ca: /etc/ca.pem,"
                  " user: u, password_file: /etc/pw}\n"
                  "      - images: {target: runtime, runtime: containerd, namespace: k8s.io, only: [a/b]}\n");
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  const auto& steps = ok->phases[0].steps;
  EXPECT_EQ(steps[0].args["registry"], "{{ vars.registry }}");  // the default
  EXPECT_EQ(steps[0].args["insecure"], false);
  EXPECT_EQ(steps[1].args["registry"], "reg.site:5000");
  EXPECT_EQ(steps[1].args["prefix"], "{{ vars.p }}");
  EXPECT_EQ(steps[1].args["password_file"], "/etc/pw");
  EXPECT_EQ(steps[2].args["namespace"], "k8s.io");
  struct Case {
    std::string steps, want;
  };
  std::vector<Case> cases = {
      {"      - images: {target: runtime, runtime: docker, registry: r:1}\n",
       "pb.yaml:6:62: images.registry applies only to target: registry: `r:1`"},
      {"      - images: {target: runtime, runtime: docker, namespace: k8s.io}\n",
       "pb.yaml:6:63: images.namespace applies only to runtime: containerd: `k8s.io`"},
      {"      - images: {target: registry, namespace: k8s.io}\n",
       "pb.yaml:6:47: images.namespace applies only to target: runtime: `k8s.io`"},
      {"      - images: {target: registry, user: u}\n", "pb.yaml:6:42: images: user and password_file go together: `u`"},
      {"      - images: {target: registry, insecure: true, ca: /c}\n",
       "pb.yaml:6:56: images: ca and insecure: true exclude each other: `/c`"},
      {"      - images: {target: registry, insecure: maybe}\n", ""},
      {"      - images: {target: registry, tls: false}\n", ""},
  };
  for (const auto& c : cases) {
    auto r = parse(c.steps);
    ASSERT_FALSE(r.ok()) << c.steps;
    if (!c.want.empty()) {
      EXPECT_EQ(r.error().describe(), c.want) << c.steps;
    }
  }
}

// The installer's map of verified local files gains every blob of every image of an extracted
// bundle (what `stage` sends and `images` pushes or loads).
TEST_F(InstallImages, ImageBlobsOfAnExtractedBundle) {
  std::string out = dir_ / "x";
  RunResult r = airlock({"bundle", "extract", bundle_, "-C", out, "--pub", pub_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto m = bundle::parse_manifest(read_all(out + "/bundle.json"));
  ASSERT_TRUE(m.ok()) << m.error().describe();
  std::map<std::string, std::string> content = {{"sha256:other", "/elsewhere"}};
  install::add_image_blobs(*m, out, content);
  const bundle::Component* c = m->find_component(kImage);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(content.size(), c->closure.size() + 1);
  for (const auto& d : c->closure) {
    ASSERT_TRUE(content.count(d)) << d;
    EXPECT_EQ(content[d], out + "/blobs/sha256/" + d.substr(7));
    EXPECT_TRUE(exists(content[d]));
  }
}

TEST_F(InstallImages, RegistryPushThenNoOpReRuns) {
  Registry reg;
  if (!reg.ok()) GTEST_SKIP() << reg.error();
  std::string inv = inventory(", registry: \"" + reg.host() + "\"");
  std::string pb = playbook("push", "      - images: {target: registry, insecure: true, prefix: site}\n");

  RunResult plan = airlock({"install", "-i", inv, bundle_, "--pub", pub_, "--playbook", pb, "--state", dir_ / "state.db",
                            "--skip-validation", "--plan", "--json"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  json p = json::parse(plan.out, nullptr, false);
  ASSERT_TRUE(p.is_object()) << plan.out;
  json params = p["phases"][0]["steps"]["here"][0]["params"];
  EXPECT_EQ(params["registry"], reg.host()) << params;  // vars.registry, rendered
  EXPECT_EQ(params["prefix"], "site");
  EXPECT_EQ(params["insecure"], true);

  RunResult r = install(inv, pb);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string msgs = images_messages(r.out);
  EXPECT_NE(msgs.find("here changed: pushed " + reg.host() + "/site/example/busybox-httpd:1.35@sha256:"), std::string::npos)
      << msgs;
  // skopeo, from the registry: the tag is the bundle's image, config and all.
  std::vector<std::string> inspect = {"skopeo", "inspect", "--raw"};
  for (auto& f : reg.skopeo_flags()) inspect.push_back(f);
  inspect.push_back("docker://" + reg.host() + "/site/example/busybox-httpd:1.35");
  RunResult raw = run(inspect);
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(json::parse(raw.out)["config"]["digest"], example_config_digest());
  RunResult src = run({"skopeo", "inspect", "--raw", "oci:" + example_dir() + "/build/oci:1.35"});
  EXPECT_EQ(raw.out, src.out);  // the manifest byte for byte: same digest

  // The same install again: the node has done that step.
  r = install(inv, pb);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"changed\":0"), std::string::npos) << r.out;

  // A step that has not run on this node (another phase), against a registry that has the
  // image: nothing is uploaded, and it says so.
  std::string again = playbook("push-again", "      - images: {target: registry, insecure: true, prefix: site}\n", "again");
  r = install(inv, again);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  msgs = images_messages(r.out);
  EXPECT_NE(msgs.find("here unchanged: registry already has " + reg.host() +
                      "/site/example/busybox-httpd:1.35 at the bundle's digest: nothing uploaded"),
            std::string::npos)
      << msgs;
}

TEST_F(InstallImages, RegistryUnreachableIsAClearFailure) {
  std::string inv = inventory(", registry: \"127.0.0.1:9\"");
  std::string pb = playbook("push", "      - images: {target: registry, insecure: true}\n");
  RunResult r = install(inv, pb);
  EXPECT_NE(r.exit_code, 0);
  std::string msgs = images_messages(r.out);
  EXPECT_NE(msgs.find("here failed: "), std::string::npos) << r.out << r.err;
  EXPECT_NE(msgs.find("images (target registry): registry 127.0.0.1:9: "), std::string::npos) << msgs;
}

TEST_F(InstallImages, PodmanLoadsFromTheContentStoreOnce) {
  if (!have_tool("podman")) GTEST_SKIP() << "podman is not installed (apt-get install podman)";
  // Podman's storage in the test's folder (vfs: works inside a container too).
  std::string conf = dir_ / "storage.conf";
  write_all(conf, "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + dir_.path() + "/graph\"\nrunroot = \"" + dir_.path() +
                      "/run\"\n");
  std::map<std::string, std::string> env = {{"CONTAINERS_STORAGE_CONF", conf}};
  std::string inv = inventory();
  std::string pb = playbook("load", "      - images: {target: runtime, runtime: podman}\n");
  RunResult r = install(inv, pb, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string msgs = images_messages(r.out);
  std::string config = example_config_digest();
  EXPECT_NE(msgs.find("here changed: loaded example/busybox-httpd:1.35 (sha256:" + config.substr(7, 12) + ") into podman"),
            std::string::npos)
      << msgs;
  // What podman holds, read by skopeo from the same storage: the bundle's config.
  RunResult raw = run({"skopeo", "inspect", "--raw", "containers-storage:localhost/example/busybox-httpd:1.35"}, env);
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(json::parse(raw.out)["config"]["digest"], config);
  // The blobs are in the node's content store; the temporary archive folder is gone.
  EXPECT_TRUE(exists(root_ + "/var/lib/airlock/blobs/sha256/" + config.substr(7)));
  EXPECT_EQ(count_entries(root_ + "/var/lib/airlock/tmp"), 0);

  r = install(inv, pb, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"changed\":0"), std::string::npos) << r.out;
  // Another step loading the same image: podman has it (same id), nothing is loaded.
  std::string again = playbook("load-again", "      - images: {target: runtime, runtime: podman}\n", "again");
  r = install(inv, again, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  msgs = images_messages(r.out);
  EXPECT_NE(msgs.find("here unchanged: podman already has example/busybox-httpd:1.35 (sha256:" + config.substr(7, 12) + ")"),
            std::string::npos)
      << msgs;
}

TEST_F(InstallImages, DockerAndContainerdStandIns) {
  fake_runtime("docker");
  fake_runtime("ctr");
  std::string inv = inventory();
  // No stage step: the images step sends what the node's content store lacks itself.
  std::string pb = playbook("load",
                            "      - images: {target: runtime, runtime: docker}\n"
                            "      - images: {target: runtime, runtime: containerd, namespace: k8s.io}\n");
  RunResult r = install(inv, pb, path_env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string msgs = images_messages(r.out);
  EXPECT_NE(msgs.find("into docker (3 blob(s) sent first)"), std::string::npos) << msgs;
  EXPECT_NE(msgs.find("into containerd\n"), std::string::npos) << msgs;  // the blobs were there by then
  EXPECT_NE(read_all(dir_ / "ctr.log").find("-n k8s.io images import -\n"), std::string::npos) << read_all(dir_ / "ctr.log");
  std::string config = example_config_digest();
  for (const char* prog : {"docker", "ctr"}) {
    RunResult raw = run({"skopeo", "inspect", "--raw", "docker-archive:" + dir_ / (std::string(prog) + "-0.tar")});
    ASSERT_EQ(raw.exit_code, 0) << prog << ": " << raw.err;
    EXPECT_EQ(json::parse(raw.out)["config"]["digest"], config) << prog;
    EXPECT_FALSE(exists(dir_ / (std::string(prog) + "-1.tar"))) << prog << " loaded twice";
  }
  // Both already have the image: another run of the steps loads nothing.
  std::string again = playbook("again",
                               "      - images: {target: runtime, runtime: docker}\n"
                               "      - images: {target: runtime, runtime: containerd, namespace: k8s.io}\n",
                               "again");
  r = install(inv, again, path_env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  msgs = images_messages(r.out);
  EXPECT_NE(msgs.find("here unchanged: docker already has example/busybox-httpd:1.35"), std::string::npos) << msgs;
  EXPECT_NE(msgs.find("here unchanged: containerd already has example/busybox-httpd:1.35"), std::string::npos) << msgs;
  for (const char* prog : {"docker", "ctr"}) EXPECT_FALSE(exists(dir_ / (std::string(prog) + "-1.tar"))) << prog;

  // A runtime that refuses the archive: the node fails, with the runtime's words.
  write_all(bin_ + "/docker", "#!/bin/sh\ncase \"$*\" in *load*) cat >/dev/null; echo 'no space left on device' >&2; exit 1;; esac\nexit 1\n");
  std::string fresh = playbook("fresh", "      - images: {target: runtime, runtime: docker}\n", "fresh");
  r = install(inv, fresh, path_env());
  EXPECT_NE(r.exit_code, 0);
  msgs = images_messages(r.out);
  EXPECT_NE(msgs.find("here: loading example/busybox-httpd:1.35 into docker: docker load exited 1: no space left on device"),
            std::string::npos)
      << msgs;
}

// The usual playbook: `stage` brings the image blobs, `images` only loads.
TEST_F(InstallImages, StagedThenLoaded) {
  fake_runtime("docker");
  std::string inv = inventory();
  std::string pb = playbook("load", "      - stage: {}\n      - images: {target: runtime, runtime: docker}\n");
  RunResult r = install(inv, pb, path_env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string msgs = images_messages(r.out);
  EXPECT_NE(msgs.find("here changed: loaded example/busybox-httpd:1.35 (sha256:"), std::string::npos) << msgs;
  EXPECT_EQ(msgs.find("sent first"), std::string::npos) << msgs;  // stage had brought them
  RunResult raw = run({"skopeo", "inspect", "--raw", "docker-archive:" + dir_ / "docker-0.tar"});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(json::parse(raw.out)["config"]["digest"], example_config_digest());
}

TEST_F(InstallImages, ANodeWithoutTheRuntimeFailsByName) {
  if (have_tool("ctr")) GTEST_SKIP() << "this machine has ctr";
  std::string inv = inventory();
  std::string pb = playbook("load", "      - images: {target: runtime, runtime: containerd}\n");
  RunResult r = install(inv, pb, {{"PATH", bin_ + ":/usr/sbin:/usr/bin:/sbin:/bin"}});  // bin_ has no ctr
  EXPECT_NE(r.exit_code, 0);
  std::string msgs = images_messages(r.out);
  EXPECT_NE(msgs.find("node here has no containerd: `ctr` is not on its PATH"), std::string::npos) << r.out << r.err;
}

// Several nodes, one push: the first node's step pushes, the others reuse it in the same run.
TEST(InstallImagesSim, RegistryPushedOncePerRunForAFleet) {
  if (auto why = sim::SimCluster::skip_reason(); !why.empty()) GTEST_SKIP() << why;
  if (!have_tool("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  Registry reg;
  if (!reg.ok()) GTEST_SKIP() << reg.error();
  TempDir dir;
  std::string base = make_key(dir.path(), "ops");
  std::string bundle = dir / "site.airlock";
  create_example(bundle, {base});
  sim::SimCluster::Options o;
  o.n = 3;
  o.systemctl = false;
  std::string err;
  auto c = sim::SimCluster::start(o, &err);
  ASSERT_TRUE(c) << err;
  std::string pb = dir / "push.yaml";
  write_all(pb, "playbook: push\nvars: {registry: \"" + reg.host() +
                    "\"}\nphases:\n  - name: registry\n    hosts: [all]\n    concurrency: 3\n    steps:\n"
                    "      - images: {target: registry, insecure: true}\n");
  std::vector<std::string> args = {"install", "-i", c->inventory_path(), bundle, "--pub", base + ".pub", "--playbook", pb,
                                   "--state", dir / "state.db", "--skip-validation", "--json"};
  RunResult r = airlock(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  int pushed = 0, reused = 0;
  for (const auto& e : step_events(r.out)) {
    std::string m = e.value("message", "");
    if (m.rfind("pushed ", 0) == 0) ++pushed;
    if (m.rfind("done by this run earlier: ", 0) == 0) ++reused;
  }
  EXPECT_EQ(pushed, 1) << images_messages(r.out);
  EXPECT_EQ(reused, 2) << images_messages(r.out);
  std::vector<std::string> inspect = {"skopeo", "inspect", "--raw"};
  for (auto& f : reg.skopeo_flags()) inspect.push_back(f);
  inspect.push_back("docker://" + reg.host() + "/example/busybox-httpd:1.35");
  RunResult raw = run(inspect);
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(json::parse(raw.out)["config"]["digest"], example_config_digest());

  r = airlock(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"changed\":0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace airlock::test
