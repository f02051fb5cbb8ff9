// The installer's state database: one SQLite file (no server), default
// $XDG_STATE_HOME/airlock/state.db (~/.local/state/airlock/state.db), `--state FILE` to choose.
// Today it keeps every node's probed facts with when they were taken and the clock skew seen,
// and the outcome of every node in every probe run, so partial results survive a failed or
// interrupted run. Later issues add the install journal here. Writes are serialised and each
// record is committed on its own (WAL), so a killed installer loses at most the record in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

struct sqlite3;

namespace airlock::fleet {

struct FactsRecord {
  std::string node;
  int64_t received_at_ns = 0;     // installer clock, when the facts arrived
  int64_t collected_at_ns = 0;    // node clock, when the probe ran
  int64_t skew_ns = 0;            // node clock minus installer clock (estimate)
  int64_t skew_error_ns = 0;      // +/- bound of that estimate (half the round trip)
  std::string facts_json;
};

struct NodeRunRecord {
  std::string run;                // e.g. "probe-20261128T061500Z"
  std::string node;
  int64_t at_ns = 0;
  bool ok = false;
  std::string kind;               // failure kind (errc name) when !ok
  std::string reason;
};

// One install/upgrade/rollback run: its inputs (to resume it) and how it ended.
struct RunRecord {
  std::string id;                 // "install-20261128T071500Z-1a2b"
  std::string kind;               // install | upgrade | rollback
  int64_t started_at_ns = 0;
  int64_t finished_at_ns = 0;     // 0 while running (or killed)
  std::string status;             // running | ok | failed | interrupted
  std::string args_json;          // what `resume` needs to run it again
};

// The write-ahead journal: every (run, node, step, digest) goes intent -> done | failed.
struct JournalEntry {
  std::string run;
  std::string node;
  std::string step;               // plan step id
  std::string digest;
  std::string state;              // intent | done | failed
  int64_t at_ns = 0;
  std::string message;
};

class StateDb {
 public:
  ~StateDb();
  static std::string default_path();
  // Creates the file (and its folder) when missing; refuses a file with a newer schema.
  static Result<std::unique_ptr<StateDb>> open(const std::string& path);

  Status put_facts(const FactsRecord& r);
  Status put_node_run(const NodeRunRecord& r);
  // The newest facts of every node that has any, by node name.
  Result<std::vector<FactsRecord>> latest_facts() const;
  Result<std::vector<NodeRunRecord>> node_runs(const std::string& run) const;
  Status put_run(const RunRecord& r);  // insert or replace
  Result<std::optional<RunRecord>> get_run(const std::string& id) const;
  Result<std::vector<RunRecord>> recent_runs(int limit) const;
  Status journal(const JournalEntry& e);  // appended and committed before the step acts
  // The latest entry of every (node, step) of a run, in journal order.
  Result<std::vector<JournalEntry>> journal_latest(const std::string& run) const;

  const std::string& path() const { return path_; }

 private:
  StateDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status exec(const char* sql);
  sqlite3* db_;
  std::string path_;
  mutable std::mutex mu_;
};

}  // namespace airlock::fleet
