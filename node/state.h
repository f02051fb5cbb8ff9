// The node state file, <prefix>/var/lib/airlock/state.json (schema airlock.node-state/v1, see
// docs/node-side.md): current/previous/last known good release, completed steps (key -> digest)
// for the installer's journal, and small recorded values. Every change runs as a transaction:
// an exclusive flock on state.lock, read, modify, write_file_atomic (temp, fsync, rename, fsync
// of the directory), so concurrent airlock-node invocations never lose an update.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/result.h"
#include "node/layout.h"

namespace airlock::node {

inline constexpr const char* kStateSchema = "airlock.node-state/v1";
inline constexpr size_t kMaxRecordBytes = 64 * 1024;

// {"schema":..., "current":null, "previous":null, "last_known_good":null, "steps":{}, "records":{}}
nlohmann::json default_state();

// Reads state.json without locking (it is only ever replaced by rename, so a reader sees one
// whole version); the default when there is none. A corrupt file is an error, never replaced.
Result<nlohmann::json> load_state(const Layout& l);

class StateTxn {
 public:
  nlohmann::json& doc() { return doc_; }
  // Writes doc() (with updated_at) atomically; the lock is held until the object goes away.
  Status commit();

 private:
  friend Result<StateTxn> begin_state(const Layout& l);
  Layout layout_;
  UniqueFd lock_;
  nlohmann::json doc_;
};
// Takes the exclusive lock (waits for it) and loads the state.
Result<StateTxn> begin_state(const Layout& l);

// A step key: 1..256 printable ASCII characters. A step digest: 1..256 printable characters,
// usually "sha256:..." of the step's inputs.
Status check_step_key(const std::string& key);

// Records that step KEY completed for DIGEST; false when it was already recorded so.
Result<bool> set_step(const Layout& l, const std::string& key, const std::string& digest);
// True when step KEY is recorded with exactly DIGEST; *recorded gets what is recorded ("" none).
Result<bool> check_step(const Layout& l, const std::string& key, const std::string& digest,
                        std::string* recorded = nullptr);
// Stores a small JSON value (at most kMaxRecordBytes serialised) under records[KEY].
Result<bool> record_value(const Layout& l, const std::string& key, const nlohmann::json& value);

}  // namespace airlock::node
