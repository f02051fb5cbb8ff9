// Releases: <prefix>/opt/airlock/releases/<release>/ materialised from the content store, and the
// <prefix>/opt/airlock/current symlink switched between them. A release appears only whole: it is
// built under a hidden temporary name (.RELEASE.tmp-<pid>), every file and directory fsynced,
// then renamed into place. `current` is replaced by rename(2) of a fresh symlink, so it always
// resolves (never unlink + symlink).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "node/layout.h"

namespace airlock::node {

inline constexpr const char* kReleaseMeta = ".airlock-release.json";
inline constexpr const char* kReleaseSchema = "airlock.release/v1";

struct SpecFile {
  std::string path;  // relative, validated
  std::string blob;  // sha256:<hex>
  unsigned mode = 0644;
};

struct ReleaseSpec {
  std::vector<SpecFile> files;  // sorted by path
  nlohmann::json canonical;     // {"files":[{"blob","mode":"0755","path"}...]} sorted by path
  std::string digest;           // sha256 of canonical.dump()
};

// {"files":[{"path":"bin/agent","blob":"sha256:...","mode":"0755"}, ...]}. Paths relative, no
// "." or ".." or empty components, no duplicates, no file that is also another's directory;
// mode an octal string (default "0644").
Result<ReleaseSpec> parse_spec(std::string_view text, std::string_view what = "release spec");

struct BuildOptions {
  bool replace = false;  // an existing release with another spec is rebuilt and swapped in
  bool verify = false;   // hash each blob while materialising
  // Called after each file is materialised; an error aborts the build (tests inject failures).
  std::function<Status(const std::string& path)> after_file;
};

struct BuildResult {
  bool changed = false;
  bool replaced = false;
  std::string spec_digest;
  size_t files = 0, linked = 0, copied = 0;
};

// Files whose mode equals the stored blob's (0444) are hard-linked from the store, the others
// copied and given their mode. A missing blob is an error naming it; nothing becomes visible.
Result<BuildResult> build_release(const Layout& l, const std::string& release,
                                  const ReleaseSpec& spec, const BuildOptions& opts = {});

struct ReleaseInfo {
  std::string name;
  std::string spec_digest;         // "" when the metadata is missing or unreadable
  std::vector<std::string> blobs;  // digests the spec names
};
// Every complete release (hidden temporary directories are skipped), sorted by name.
Result<std::vector<ReleaseInfo>> list_releases(const Layout& l);

// Removes a release; refuses the current and the last known good one. false: it was not there.
Result<bool> remove_release(const Layout& l, const std::string& release);

// The release `current` points at ("" when there is no link).
Result<std::string> current_release(const Layout& l);

struct SwitchResult {
  std::string release;
  std::string previous;  // what current pointed at before ("" none)
  bool changed = false;
};
// Points current at releases/RELEASE (symlink to a temporary name, rename over current, fsync of
// the directory) and records current/previous in state.json under the state lock.
Result<SwitchResult> switch_release(const Layout& l, const std::string& release);
// Switches to state.json's last_known_good; an error when none is recorded.
Result<SwitchResult> switch_to_last_good(const Layout& l);
// Switches to state.json's previous; an error when none is recorded.
Result<SwitchResult> switch_to_previous(const Layout& l);
// Records RELEASE (which must exist) as last_known_good; false when it already was.
Result<bool> mark_good(const Layout& l, const std::string& release);

}  // namespace airlock::node
