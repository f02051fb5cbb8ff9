// Loading an image from a verified bundle into a node's container runtime: docker (`docker
// load`), containerd (`ctr -n NS images import -`) or podman (`podman load`), fed a
// docker-archive stream straight from the bundle through a pipe. The node agent chooses the
// runtime from what the probe found on the node.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/process.h"
#include "images/bundle_images.h"

namespace airlock::images {

enum class Runtime { kDocker, kContainerd, kPodman };

const char* runtime_name(Runtime r);
Result<Runtime> parse_runtime(const std::string& name);

struct RuntimeFacts {  // from the node probe (container runtime presence)
  bool docker = false;
  bool containerd = false;
  bool podman = false;
};

// The preferred runtime if the node has it; else docker, then containerd, then podman.
Result<Runtime> choose_runtime(const RuntimeFacts& facts, std::optional<Runtime> preferred = std::nullopt);

struct LoadOptions {
  std::string containerd_namespace = "default";
  std::string platform;  // for a multi-platform image (default linux/amd64)
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
};

std::vector<std::string> load_command(Runtime r, const LoadOptions& opts);

Status load_image(ProcessRunner& runner, Runtime runtime, const BundleImages& bundle, const Image& image,
                  const LoadOptions& opts);

}  // namespace airlock::images
