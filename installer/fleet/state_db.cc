// SQLite-backed state database (see state_db.h).
#include "installer/fleet/state_db.h"

#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>

namespace airlock::fleet {
namespace {

constexpr int kSchemaVersion = 1;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS facts(
  id INTEGER PRIMARY KEY,
  node TEXT NOT NULL,
  received_at_ns INTEGER NOT NULL,
  collected_at_ns INTEGER NOT NULL,
  skew_ns INTEGER NOT NULL,
  skew_error_ns INTEGER NOT NULL,
  facts TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS facts_by_node ON facts(node, id);
CREATE TABLE IF NOT EXISTS node_runs(
  id INTEGER PRIMARY KEY,
  run TEXT NOT NULL,
  node TEXT NOT NULL,
  at_ns INTEGER NOT NULL,
  ok INTEGER NOT NULL,
  kind TEXT NOT NULL,
  reason TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS node_runs_by_run ON node_runs(run, node);
CREATE TABLE IF NOT EXISTS runs(
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  started_at_ns INTEGER NOT NULL,
  finished_at_ns INTEGER NOT NULL,
  status TEXT NOT NULL,
  args TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal(
  id INTEGER PRIMARY KEY,
  run TEXT NOT NULL,
  node TEXT NOT NULL,
  step TEXT NOT NULL,
  digest TEXT NOT NULL,
  state TEXT NOT NULL,
  at_ns INTEGER NOT NULL,
  message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS journal_by_run ON journal(run, node, step, id);
)sql";

// A prepared statement that finalises itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return s_; }
  void bind(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
  void bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); }
  std::string text(int col) {
    const unsigned char* p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, col)) : std::string();
  }
  int64_t i64(int col) { return sqlite3_column_int64(s_, col); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

Error db_error(sqlite3* db, const std::string& what) {
  return make_error(Errc::kIo, what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

StateDb::~StateDb() { sqlite3_close(db_); }

std::string StateDb::default_path() {
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/airlock/state.db";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/state/airlock/state.db";
}

Result<std::unique_ptr<StateDb>> StateDb::open(const std::string& path) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    Error e = db_error(db, "state database " + path);
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, 10000);
  std::unique_ptr<StateDb> s(new StateDb(db, path));
  TRY_STATUS(s->exec("PRAGMA journal_mode=WAL"));
  TRY_STATUS(s->exec("PRAGMA synchronous=NORMAL"));
  TRY_STATUS(s->exec(kSchema));
  Stmt get(db, "SELECT value FROM meta WHERE key='schema'");
  if (!get.ok()) return db_error(db, "state database " + path);
  if (sqlite3_step(get.get()) == SQLITE_ROW) {
    int v = std::atoi(get.text(0).c_str());
    if (v > kSchemaVersion) {
      return make_error(Errc::kUnsupported, "state database " + path + " has schema " + std::to_string(v) +
                                                ", newer than this airlock understands (" +
                                                std::to_string(kSchemaVersion) + ")");
    }
  } else {
    TRY_STATUS(s->exec("INSERT INTO meta(key, value) VALUES('schema', '1')"));
  }
  return s;
}

Status StateDb::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return make_error(Errc::kIo, "state database " + path_ + ": " + m);
  }
  return {};
}

Status StateDb::put_facts(const FactsRecord& r) {
  std::lock_guard lk(mu_);
  Stmt st(db_, "INSERT INTO facts(node, received_at_ns, collected_at_ns, skew_ns, skew_error_ns, facts) "
               "VALUES(?, ?, ?, ?, ?, ?)");
  if (!st.ok()) return db_error(db_, "state database " + path_);
  st.bind(1, r.node);
  st.bind(2, r.received_at_ns);
  st.bind(3, r.collected_at_ns);
  st.bind(4, r.skew_ns);
  st.bind(5, r.skew_error_ns);
  st.bind(6, r.facts_json);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return db_error(db_, "state database " + path_ + ": storing facts of " + r.node);
  return {};
}

Status StateDb::put_node_run(const NodeRunRecord& r) {
  std::lock_guard lk(mu_);
  Stmt st(db_, "INSERT INTO node_runs(run, node, at_ns, ok, kind, reason) VALUES(?, ?, ?, ?, ?, ?)");
  if (!st.ok()) return db_error(db_, "state database " + path_);
  st.bind(1, r.run);
  st.bind(2, r.node);
  st.bind(3, r.at_ns);
  st.bind(4, int64_t{r.ok ? 1 : 0});
  st.bind(5, r.kind);
  st.bind(6, r.reason);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return db_error(db_, "state database " + path_ + ": storing run of " + r.node);
  return {};
}

Result<std::vector<FactsRecord>> StateDb::latest_facts() const {
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT node, received_at_ns, collected_at_ns, skew_ns, skew_error_ns, facts FROM facts "
               "WHERE id IN (SELECT MAX(id) FROM facts GROUP BY node) ORDER BY node");
  if (!st.ok()) return db_error(db_, "state database " + path_);
  std::vector<FactsRecord> out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    out.push_back({st.text(0), st.i64(1), st.i64(2), st.i64(3), st.i64(4), st.text(5)});
  }
  if (rc != SQLITE_DONE) return db_error(db_, "state database " + path_);
  return out;
}

Result<std::vector<NodeRunRecord>> StateDb::node_runs(const std::string& run) const {
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT run, node, at_ns, ok, kind, reason FROM node_runs WHERE run = ? ORDER BY node");
  if (!st.ok()) return db_error(db_, "state database " + path_);
  st.bind(1, run);
  std::vector<NodeRunRecord> out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    out.push_back({st.text(0), st.text(1), st.i64(2), st.i64(3) != 0, st.text(4), st.text(5)});
  }
  if (rc != SQLITE_DONE) return db_error(db_, "state database " + path_);
  return out;
}

Status StateDb::put_run(const RunRecord& r) {
  std::lock_guard lk(mu_);
  Stmt st(db_, "INSERT OR REPLACE INTO runs(id, kind, started_at_ns, finished_at_ns, status, args) "
               "VALUES(?, ?, ?, ?, ?, ?)");
  if (!st.ok()) return db_error(db_, "state database " + path_);
  st.bind(1, r.id);
  st.bind(2, r.kind);
  st.bind(3, r.started_at_ns);
  st.bind(4, r.finished_at_ns);
  st.bind(5, r.status);
  st.bind(6, r.args_json);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return db_error(db_, "state database " + path_ + ": storing run " + r.id);
  return {};
}

namespace {
RunRecord run_from(Stmt& st) {
  return RunRecord{st.text(0), st.text(1), st.i64(2), st.i64(3), st.text(4), st.text(5)};
}
}  // namespace

Result<std::optional<RunRecord>> StateDb::get_run(const std::string& id) const {
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT id, kind, started_at_ns, finished_at_ns, status, args FROM runs WHERE id = ?");
  if (!st.ok()) return db_error(db_, "state database " + path_);
  st.bind(1, id);
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_ROW) return std::optional<RunRecord>(run_from(st));
  if (rc != SQLITE_DONE) return db_error(db_, "state database " + path_);
  return std::optional<RunRecord>();
}

Result<std::vector<RunRecord>> StateDb::recent_runs(int limit) const {
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT id, kind, started_at_ns, finished_at_ns, status, args FROM runs "
               "ORDER BY started_at_ns DESC LIMIT ?");
  if (!st.ok()) return db_error(db_, "state database " + path_);
  st.bind(1, int64_t{limit});
  std::vector<RunRecord> out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) out.push_back(run_from(st));
  if (rc != SQLITE_DONE) return db_error(db_, "state database " + path_);
  return out;
}

Status StateDb::journal(const JournalEntry& e) {
  std::lock_guard lk(mu_);
  Stmt st(db_, "INSERT INTO journal(run, node, step, digest, state, at_ns, message) VALUES(?, ?, ?, ?, ?, ?, ?)");
  if (!st.ok()) return db_error(db_, "state database " + path_);
  st.bind(1, e.run);
  st.bind(2, e.node);
  st.bind(3, e.step);
  st.bind(4, e.digest);
  st.bind(5, e.state);
  st.bind(6, e.at_ns);
  st.bind(7, e.message);
  if (sqlite3_step(st.get()) != SQLITE_DONE) {
    return db_error(db_, "state database " + path_ + ": journal " + e.node + " " + e.step);
  }
  return {};
}

Result<std::vector<JournalEntry>> StateDb::journal_latest(const std::string& run) const {
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT run, node, step, digest, state, at_ns, message FROM journal WHERE id IN "
               "(SELECT MAX(id) FROM journal WHERE run = ? GROUP BY node, step) ORDER BY id");
  if (!st.ok()) return db_error(db_, "state database " + path_);
  st.bind(1, run);
  std::vector<JournalEntry> out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    out.push_back({st.text(0), st.text(1), st.text(2), st.text(3), st.text(4), st.i64(5), st.text(6)});
  }
  if (rc != SQLITE_DONE) return db_error(db_, "state database " + path_);
  return out;
}

}  // namespace airlock::fleet
