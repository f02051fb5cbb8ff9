// Importing image archives for `bundle create`: turns a docker-archive (`docker save`, skopeo
// docker-archive:) or an oci-archive (a tar of an OCI image layout; also Docker >= 25's `docker
// save`, which carries both) into a fresh OCI image layout directory that bundle/oci_layout.cc
// can read. The archive is untrusted input: it is read with libarchive (tar, optionally gzip)
// and never extracted; only regular files, directories and symlinks that stay inside the archive
// are accepted (docs/bundle-format.md §E), and every blob is hashed while it is copied.
// docker-archive images are rewritten without recompressing: the config and layer bytes are kept
// as they are (digests are the sha256 of the archive's own bytes) and described by an OCI image
// manifest (layers .tar, or .tar+gzip when a layer starts with the gzip magic), so that skopeo's
// oci: transport and every OCI tool can read the layout.
#pragma once

#include <string>

#include "bundle/spec.h"
#include "common/result.h"

namespace airlock::images {

// Unpacks/converts `archive_path` into a fresh directory under `work_dir` (which must exist) and
// returns the layout's path. `format` is "docker-archive", "oci-archive" or empty: detect (an
// `oci-layout` member means oci-archive, else a `manifest.json` member means docker-archive).
// `tag` selects the image inside the archive (oci-archive: org.opencontainers.image.ref.name,
// or the io.containerd.image.name that `docker save` adds; docker-archive: a RepoTags entry
// "name:tag", the same name with or without "docker.io/" and "library/", or just "tag"); empty:
// the archive must hold exactly one image. The layout's index.json has exactly one entry,
// annotated org.opencontainers.image.ref.name = out_tag (no annotation when out_tag is empty).
// On error nothing is left under work_dir.
Result<std::string> archive_to_layout(const std::string& archive_path, const std::string& format,
                                      const std::string& tag, const std::string& work_dir,
                                      const std::string& out_tag);

// For every oci-image component with `archive` set: converts it (tag: c.tag, out_tag: c.ref),
// then sets c.layout to the result, c.tag = c.ref, and clears c.archive and c.format. Errors are
// wrapped with c.where + ": component '<name>'". Layouts made before a failure stay under
// work_dir for the caller to remove with it.
Status resolve_archive_inputs(bundle::BundleSpec& spec, const std::string& work_dir);

}  // namespace airlock::images
