// The `images` action (docs/playbooks.md, "Images"): the bundle's images into the site registry
// or into a node's container runtime.
//
// * target registry: the push runs on the installer host, where the verified bundle is, once
//   per run for each (registry, prefix, image): the first node whose step runs pushes (blobs the
//   registry has are skipped, an image whose tag already points at its digest is not touched at
//   all), every other node of the run waits for that push and reuses its result. Nothing is
//   done on the nodes themselves.
// * target runtime: the node assembles a docker-archive from the blobs in its content store
//   (the `stage` step brings them; whatever is still missing is sent first) and loads it with
//   `docker load`, `ctr -n NS images import -` or `podman load`. An image the runtime already
//   has with the same id (docker, podman: the config digest; containerd: the manifest digest)
//   is skipped. A node without that runtime fails with an error naming the node.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "bundle/manifest.h"
#include "common/result.h"
#include "installer/install/actions.h"

namespace airlock::install {

// Does an `images` step (params: plan.h) for the node of `s`.
Result<ActionResult> act_images(NodeSession& s, const nlohmann::json& params, const EngineOptions& o);

// For the installer: adds every image blob of an extracted bundle (extract_dir/blobs/sha256/<hex>,
// as `bundle extract` and install's verify_and_extract write it) to `content` (digest -> local
// file), so that `stage` can send image blobs and `images` can push or load them.
void add_image_blobs(const bundle::Manifest& manifest, const std::string& extract_dir,
                     std::map<std::string, std::string>& content);

// The reference docker, podman and containerd give an image they load as NAME:REF: a name
// without a registry host is on docker.io ("example/app:1" -> "docker.io/example/app:1",
// "app:1" -> "docker.io/library/app:1").
std::string normalized_image_ref(const std::string& name, const std::string& ref);

// Whether `ctr images ls` output lists `name:ref` (as given or normalized) at manifest `digest`.
bool ctr_lists_image(const std::string& ctr_ls_output, const std::string& name, const std::string& ref,
                     const std::string& digest);

}  // namespace airlock::install
