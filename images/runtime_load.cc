// Runtime choice and the load command, over ProcessRunner.
#include "images/runtime_load.h"

#include "images/export.h"

namespace airlock::images {
namespace {

// Adapts the child's stdin to the ByteSink that the archive writer expects.
class WriteFnSink : public bundle::ByteSink {
 public:
  explicit WriteFnSink(const std::function<Status(const void*, size_t)>& write) : write_(write) {}
  Status write(const void* data, size_t len) override { return write_(data, len); }

 private:
  const std::function<Status(const void*, size_t)>& write_;
};

}  // namespace

const char* runtime_name(Runtime r) {
  switch (r) {
    case Runtime::kDocker: return "docker";
    case Runtime::kContainerd: return "containerd";
    case Runtime::kPodman: return "podman";
  }
  return "?";
}

Result<Runtime> parse_runtime(const std::string& name) {
  if (name == "docker") return Runtime::kDocker;
  if (name == "containerd") return Runtime::kContainerd;
  if (name == "podman") return Runtime::kPodman;
  return make_error(Errc::kInvalidArgument, "unknown container runtime '" + name + "' (docker, containerd or podman)");
}

Result<Runtime> choose_runtime(const RuntimeFacts& f, std::optional<Runtime> preferred) {
  auto has = [&](Runtime r) {
    return (r == Runtime::kDocker && f.docker) || (r == Runtime::kContainerd && f.containerd) ||
           (r == Runtime::kPodman && f.podman);
  };
  if (preferred) {
    if (has(*preferred)) return *preferred;
    return make_error(Errc::kNotFound, std::string("the node has no ") + runtime_name(*preferred));
  }
  for (Runtime r : {Runtime::kDocker, Runtime::kContainerd, Runtime::kPodman}) {
    if (has(r)) return r;
  }
  return make_error(Errc::kNotFound, "the node has no container runtime (docker, containerd or podman)");
}

std::vector<std::string> load_command(Runtime r, const LoadOptions& opts) {
  switch (r) {
    case Runtime::kDocker: return {"docker", "load"};
    case Runtime::kContainerd: return {"ctr", "--namespace", opts.containerd_namespace, "images", "import", "-"};
    case Runtime::kPodman: return {"podman", "load"};
  }
  return {};
}

Status load_image(ProcessRunner& runner, Runtime runtime, const BundleImages& bundle, const Image& image,
                  const LoadOptions& opts) {
  const std::string what = "loading " + image.component->name + ":" + image.component->ref + " into " + runtime_name(runtime);
  ProcessOptions p;
  p.timeout = opts.timeout;
  ExportOptions e;
  e.format = ExportFormat::kDockerArchive;
  e.platform = opts.platform;
  p.stdin_writer = [&](const std::function<Status(const void*, size_t)>& write) {
    WriteFnSink sink(write);
    return write_image_archive(bundle, image, sink, e);
  };
  auto argv = load_command(runtime, opts);
  auto r = runner.run(argv, p);
  if (!r.ok()) return r.error().wrap(what);
  if (r->timed_out) {
    return make_error(Errc::kIo, what + ": " + argv[0] + " did not finish within " +
                                     std::to_string(opts.timeout.count()) + " ms and was killed");
  }
  if (r->exit_code != 0) {
    std::string err = r->err.empty() ? r->out : r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return make_error(Errc::kIo, what + ": " + argv[0] + " exited with " + std::to_string(r->exit_code) +
                                     (err.empty() ? "" : ": " + err.substr(0, 500)));
  }
  return {};
}

}  // namespace airlock::images
