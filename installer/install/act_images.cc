// The `images` action (see act_images.h).
#include "installer/install/act_images.h"

#include <filesystem>
#include <mutex>
#include <sstream>

#include "common/encoding.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "images/bundle_images.h"
#include "images/export.h"
#include "images/push.h"

namespace airlock::install {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t i = s.find_first_not_of(" \t\r\n");
  return i == std::string::npos ? "" : s.substr(i);
}

// The verified local copy of a blob: install adds the image blobs of the extracted bundle to
// the engine's content map (add_image_blobs). Empty when the bundle does not have it.
std::string local_blob(const EngineOptions& o, const std::string& digest) {
  auto it = o.content.find(digest);
  return it == o.content.end() ? "" : it->second;
}

struct ImageEntry {
  std::string name, ref;
  bundle::Descriptor root;
  std::string label() const { return name + ":" + ref; }
};

Result<std::vector<ImageEntry>> entries_of(const json& p) {
  std::vector<ImageEntry> out;
  for (const auto& e : p.value("images", json::array())) {
    ImageEntry i;
    i.name = e.value("component", "");
    i.ref = e.value("ref", "");
    i.root.digest = e.value("digest", "");
    i.root.media_type = e.value("media_type", "");
    i.root.size = e.value("size", uint64_t{0});
    if (i.root.digest.empty()) {
      return make_error(Errc::kInvalidArgument, "image " + i.label() + ": the plan has no digest for it (re-plan)");
    }
    out.push_back(std::move(i));
  }
  return out;
}

// The images of the step over the installer's verified local blobs.
images::BundleImages local_images(const std::vector<ImageEntry>& entries, const EngineOptions& o) {
  bundle::Manifest m;
  for (const auto& e : entries) {
    bundle::Component c;
    c.type = "oci-image";
    c.name = e.name;
    c.ref = e.ref;
    c.descriptor = e.root;
    m.components.push_back(std::move(c));
  }
  return images::BundleImages::from_files(std::move(m), [&o](const std::string& d) { return local_blob(o, d); });
}

std::string short_id(const std::string& digest) {
  std::string_view hex = digest_hex(digest);
  return "sha256:" + std::string(hex.substr(0, 12));
}

// ---- target registry: once per run, from the installer host ----

struct PushMemo {
  std::mutex mu;  // one push at a time; the others wait for it
  std::map<std::string, std::pair<std::string, std::string>> done;  // key -> (node that pushed, outcome)
  std::map<std::string, Error> failed;  // registry -> why it failed in this run (not retried per node)
};

PushMemo& push_memo() {
  static PushMemo m;
  return m;
}

Result<std::string> read_password(const std::string& file) {
  auto text = read_file(file);
  if (!text.ok()) return text.error().wrap("images.password_file");
  std::string s = *text;
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

Result<ActionResult> act_registry(NodeSession& s, const json& p, const EngineOptions& o) {
  TRY_ASSIGN(auto entries, entries_of(p));
  images::PushOptions po;
  po.registry.host = p.value("registry", "");
  po.registry.insecure = p.value("insecure", false);
  po.registry.ca_file = p.value("ca", "");
  po.prefix = p.value("prefix", "");
  if (p.contains("user")) {
    po.registry.user = p.value("user", "");
    TRY_ASSIGN(po.registry.password, read_password(p.value("password_file", "")));
  }
  const std::string& reg = po.registry.host;
  images::BundleImages bundle = local_images(entries, o);

  PushMemo& memo = push_memo();
  std::lock_guard lk(memo.mu);
  const std::string failed_key = o.run_id + "\n" + reg;
  if (auto f = memo.failed.find(failed_key); f != memo.failed.end()) {
    return f->second.wrap("images: the push to " + reg + " failed earlier in this run");
  }
  auto fail = [&](Error e) {
    memo.failed.emplace(failed_key, e);
    return e;
  };
  std::vector<std::string> pushed, already, earlier;
  uint64_t uploaded = 0, skipped = 0, bytes = 0;
  std::unique_ptr<images::RegistryClient> client;
  for (const auto& e : entries) {
    std::string repo = images::repository_for(e.name, po.prefix);
    std::string where = reg + "/" + repo + ":" + e.ref;
    std::string key = o.run_id + "\n" + reg + "\n" + po.prefix + "\n" + e.label() + "@" + e.root.digest;
    if (auto it = memo.done.find(key); it != memo.done.end()) {
      earlier.push_back(where + " (" + it->second.second + " for " + it->second.first + ")");
      continue;
    }
    if (!client) {
      images::RegistryOptions ro = po.registry;
      client = std::make_unique<images::RegistryClient>(ro);
      if (auto st = client->ping(); !st.ok()) return fail(st.error().wrap("images (target registry)"));
    }
    // A tag already at this digest: the registry has the whole image (it accepted the manifest
    // only once every blob it names was there).
    auto have = client->get_manifest(repo, e.ref);
    if (have.ok() && have->digest == e.root.digest) {
      already.push_back(where);
      memo.done[key] = {s.host().name, "already there"};
      continue;
    }
    if (!have.ok() && have.error().code != Errc::kNotFound) return fail(have.error().wrap("images (target registry)"));
    images::PushOptions one = po;
    one.only = e.label();
    auto pr = images::push_images(bundle, one);
    if (!pr.ok()) return fail(pr.error());
    const images::PushResult& r = *pr;
    uploaded += r.uploaded_blobs + r.mounted_blobs;
    skipped += r.skipped_blobs;
    bytes += r.uploaded_bytes;
    pushed.push_back(where + "@" + short_id(e.root.digest));
    memo.done[key] = {s.host().name, "pushed"};
  }
  ActionResult out;
  out.changed = !pushed.empty();
  std::string msg;
  auto add = [&msg](const std::string& part) { msg += (msg.empty() ? "" : "; ") + part; };
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (!pushed.empty()) {
    add("pushed " + join(pushed) + " (" + std::to_string(uploaded) + " blob(s) uploaded or mounted, " +
        human_bytes(bytes) + "; " + std::to_string(skipped) + " the registry already had)");
  }
  if (!already.empty()) add("registry already has " + join(already) + " at the bundle's digest: nothing uploaded");
  if (!earlier.empty()) add("done by this run earlier: " + join(earlier));
  if (msg.empty()) msg = "no images to push";
  out.message = msg;
  return out;
}

// ---- target runtime: the node loads from its content store ----

struct Runtime {
  std::string name;     // docker | containerd | podman
  std::string program;  // docker | ctr | podman
  std::string ns;       // containerd namespace
  std::vector<std::string> load() const {
    if (name == "containerd") return {program, "-n", ns, "images", "import", "-"};
    return {program, "load"};
  }
};

// Whether the runtime has NAME:REF with this image's id.
Result<bool> runtime_has(NodeSession& s, const Runtime& rt, const ImageEntry& e,
                         const images::DockerArchiveLayout& layout) {
  auto minute = std::chrono::seconds(60);
  if (rt.name == "containerd") {
    TRY_ASSIGN(std::string out, s.must({rt.program, "-n", rt.ns, "images", "ls"}, minute));
    return ctr_lists_image(out, e.name, e.ref, layout.manifest.digest);
  }
  // Both resolve NAME:REF as they named it on load (docker: docker.io/NAME; podman: localhost/NAME
  // from the archive's index.json).
  TRY_ASSIGN(auto r, s.run({rt.program, "image", "inspect", "--format", "{{.Id}}", e.label()}, minute));
  if (r.exit_code != 0) return false;  // not there (or not under this name)
  std::string id = trim(r.out);
  if (id.rfind("sha256:", 0) != 0) id = "sha256:" + id;  // podman prints the bare hex
  return id == layout.config_digest;
}

// The node builds the Docker >= 25 archive (OCI layout + manifest.json) from its store, links
// only, and pipes it into the runtime; tar's own status is checked too.
const char* kLoadScript = R"SH(set -e
store=$1; base=$2; index=$3; manifest=$4; blobs=$5; shift 5
mkdir -p "$base"
d=$(mktemp -d "$base/load.XXXXXX")
trap 'rm -rf "$d" "$d.rc"' EXIT
mkdir -p "$d/blobs/sha256"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$d/oci-layout"
printf '%s' "$index" > "$d/index.json"
printf '%s' "$manifest" > "$d/manifest.json"
for h in $blobs; do
  [ -f "$store/$h" ] || { echo "blob sha256:$h is not in the content store $store" >&2; exit 1; }
  ln -s "$store/$h" "$d/blobs/sha256/$h"
done
{ tar -chf - -C "$d" oci-layout index.json manifest.json blobs; echo $? > "$d.rc"; } | "$@"
rc=$(cat "$d.rc")
[ "$rc" = 0 ] || { echo "tar of $d failed ($rc)" >&2; exit 1; }
)SH";

Result<ActionResult> act_runtime(NodeSession& s, const json& p, const EngineOptions& o) {
  TRY_ASSIGN(auto entries, entries_of(p));
  Runtime rt;
  rt.name = p.value("runtime", "");
  if (rt.name.empty() && !p.value("images", json::array()).empty()) rt.name = p["images"][0].value("runtime", "");
  rt.program = rt.name == "containerd" ? "ctr" : rt.name;
  rt.ns = p.value("namespace", "default");
  if (rt.name != "docker" && rt.name != "containerd" && rt.name != "podman") {
    return make_error(Errc::kInvalidArgument, "images: unknown runtime `" + rt.name + "`");
  }
  auto minute = std::chrono::seconds(60);
  TRY_ASSIGN(auto which, s.run({"sh", "-c", "command -v \"$1\"", "sh", rt.program}, minute));
  if (which.exit_code != 0) {
    return make_error(Errc::kNotFound, "node " + s.host().name + " has no " + rt.name + ": `" + rt.program +
                                           "` is not on its PATH (images: {target: runtime, runtime: " + rt.name + "})");
  }
  images::BundleImages bundle = local_images(entries, o);
  ActionResult out;
  out.changed = false;
  std::vector<std::string> loaded, present;
  size_t sent_blobs = 0;
  for (const auto& e : entries) {
    TRY_ASSIGN(images::Image img, bundle.find(e.label()));
    TRY_ASSIGN(images::DockerArchiveLayout layout, images::docker_archive_layout(img, ""));
    std::string id = rt.name == "containerd" ? layout.manifest.digest : layout.config_digest;
    TRY_ASSIGN(bool has, runtime_has(s, rt, e, layout));
    if (has) {
      present.push_back(e.label() + " (" + short_id(id) + ")");
      continue;
    }
    // The blobs come with `stage`; send what the store still lacks (a playbook without stage).
    std::vector<std::string> args = {"store", "missing"};
    std::string hexes;
    for (const auto& d : layout.blobs) {
      args.push_back(d.digest + "=" + std::to_string(d.size));
      hexes += (hexes.empty() ? "" : " ") + std::string(digest_hex(d.digest));
    }
    TRY_ASSIGN(json missing, s.node(args));
    for (const auto& d : missing.value("missing", json::array())) {
      std::string digest = d.get<std::string>();
      std::string local = local_blob(o, digest);
      if (local.empty()) return make_error(Errc::kInternal, "image " + e.label() + ": blob " + digest + " is not in the verified bundle");
      TRY_ASSIGN(uint64_t n, s.send(local, s.paths().blob(digest), std::string(digest_hex(digest)), 0444));
      out.bytes += n;
      ++sent_blobs;
    }
    std::vector<std::string> argv = {"sh", "-c", kLoadScript, "airlock-images",
                                     s.paths().path("/var/lib/airlock/blobs/sha256"),
                                     s.paths().path("/var/lib/airlock/tmp"), layout.index_json, layout.manifest_json, hexes};
    for (auto& a : rt.load()) argv.push_back(a);
    TRY_ASSIGN(auto r, s.run(argv, std::chrono::minutes(30)));
    if (r.exit_code != 0) {
      return make_error(Errc::kIo, s.host().name + ": loading " + e.label() + " into " + rt.name + ": " +
                                       transport::shell_join(rt.load()) + " exited " + std::to_string(r.exit_code) +
                                       ": " + first_line(r.err.empty() ? r.out : r.err));
    }
    TRY_ASSIGN(has, runtime_has(s, rt, e, layout));
    if (!has) {
      return make_error(Errc::kIo, s.host().name + ": " + rt.name + " accepted " + e.label() + " but does not list it with id " +
                                       id + " afterwards (it said: " + first_line(r.out) + ")");
    }
    loaded.push_back(e.label() + " (" + short_id(id) + ")");
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  std::string msg;
  if (!loaded.empty()) {
    msg = "loaded " + join(loaded) + " into " + rt.name;
    if (sent_blobs) msg += " (" + std::to_string(sent_blobs) + " blob(s) sent first)";
  }
  if (!present.empty()) msg += (msg.empty() ? "" : "; ") + rt.name + " already has " + join(present);
  if (msg.empty()) msg = "no images to load (" + rt.name + ")";
  out.changed = !loaded.empty();
  out.message = msg;
  return out;
}

}  // namespace

std::string normalized_image_ref(const std::string& name, const std::string& ref) {
  std::string n = name;
  auto slash = n.find('/');
  std::string first = slash == std::string::npos ? "" : n.substr(0, slash);
  bool has_host = !first.empty() && (first.find('.') != std::string::npos || first.find(':') != std::string::npos ||
                                     first == "localhost");
  if (!has_host) n = slash == std::string::npos ? "docker.io/library/" + n : "docker.io/" + n;
  return n + ":" + ref;
}

bool ctr_lists_image(const std::string& out, const std::string& name, const std::string& ref, const std::string& digest) {
  std::string plain = name + ":" + ref, full = normalized_image_ref(name, ref);
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream cols(line);
    std::string r, type, d;
    cols >> r >> type >> d;
    if ((r == plain || r == full) && d == digest) return true;
  }
  return false;
}

void add_image_blobs(const bundle::Manifest& manifest, const std::string& extract_dir,
                     std::map<std::string, std::string>& content) {
  for (const auto& c : manifest.components) {
    if (c.type != "oci-image") continue;
    for (const auto& d : c.closure) {
      std::string path = extract_dir + "/blobs/sha256/" + std::string(digest_hex(d));
      std::error_code ec;
      if (fs::is_regular_file(path, ec)) content.emplace(d, path);
    }
  }
}

Result<ActionResult> act_images(NodeSession& s, const json& params, const EngineOptions& o) {
  bool registry = params.contains("registry");
  if (!registry) {
    for (const auto& e : params.value("images", json::array())) registry = registry || e.value("target", "") == "registry";
  }
  return registry ? act_registry(s, params, o) : act_runtime(s, params, o);
}

}  // namespace airlock::install
