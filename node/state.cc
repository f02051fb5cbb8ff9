// state.json transactions under flock.
#include "node/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "common/clock.h"
#include "common/json.h"
#include "node/util.h"

namespace airlock::node {

nlohmann::json default_state() {
  return {{"schema", kStateSchema},
          {"current", nullptr},
          {"previous", nullptr},
          {"last_known_good", nullptr},
          {"steps", nlohmann::json::object()},
          {"records", nlohmann::json::object()}};
}

Result<nlohmann::json> load_state(const Layout& l) {
  std::string path = l.state_file();
  if (!path_exists(path)) return default_state();
  TRY_ASSIGN(std::string text, read_file(path, 16ull << 20));
  TRY_ASSIGN(nlohmann::json doc, parse_json(text, path));
  if (!doc.is_object() || doc.value("schema", "") != kStateSchema) {
    return make_error(Errc::kParse, path + ": not an " + std::string(kStateSchema) +
                                        " document (fix or remove it; it is never overwritten)");
  }
  // Fill in what an older writer left out, so callers see every member.
  nlohmann::json def = default_state();
  for (auto it = def.begin(); it != def.end(); ++it) {
    if (!doc.contains(it.key())) doc[it.key()] = it.value();
  }
  if (!doc["steps"].is_object() || !doc["records"].is_object()) {
    return make_error(Errc::kParse, path + ": \"steps\" and \"records\" must be objects");
  }
  return doc;
}

Result<StateTxn> begin_state(const Layout& l) {
  TRY_STATUS(make_dirs(l.lib_dir()));
  std::string lock_path = l.state_lock();
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error("open " + lock_path);
  StateTxn t;
  t.lock_ = UniqueFd(fd);
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return sys_error("flock " + lock_path);
  }
  t.layout_ = l;
  TRY_ASSIGN(t.doc_, load_state(l));
  return t;
}

Status StateTxn::commit() {
  doc_["updated_at"] = format_rfc3339(static_cast<int64_t>(::time(nullptr)));
  std::string text = doc_.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  return write_file_atomic(layout_.state_file(), text, 0644);
}

namespace {

bool printable(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

Status check_step_key(const std::string& key) {
  if (!printable(key, 256)) {
    return make_error(Errc::kInvalidArgument,
                      "key '" + key + "': want 1..256 printable ASCII characters, no spaces");
  }
  return {};
}

Result<bool> set_step(const Layout& l, const std::string& key, const std::string& digest) {
  TRY_STATUS(check_step_key(key));
  if (!printable(digest, 256)) {
    return make_error(Errc::kInvalidArgument,
                      "step digest '" + digest + "': want 1..256 printable ASCII characters");
  }
  TRY_ASSIGN(StateTxn t, begin_state(l));
  auto& steps = t.doc()["steps"];
  if (steps.contains(key) && steps[key] == digest) return false;
  steps[key] = digest;
  TRY_STATUS(t.commit());
  return true;
}

Result<bool> check_step(const Layout& l, const std::string& key, const std::string& digest,
                        std::string* recorded) {
  TRY_STATUS(check_step_key(key));
  TRY_ASSIGN(nlohmann::json doc, load_state(l));
  const auto& steps = doc["steps"];
  std::string have;
  if (steps.contains(key) && steps[key].is_string()) have = steps[key].get<std::string>();
  if (recorded) *recorded = have;
  return !have.empty() && have == digest;
}

Result<bool> record_value(const Layout& l, const std::string& key, const nlohmann::json& value) {
  TRY_STATUS(check_step_key(key));
  if (value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size() > kMaxRecordBytes) {
    return make_error(Errc::kLimit, "record '" + key + "': larger than " +
                                        std::to_string(kMaxRecordBytes) + " bytes");
  }
  TRY_ASSIGN(StateTxn t, begin_state(l));
  auto& records = t.doc()["records"];
  if (records.contains(key) && records[key] == value) return false;
  records[key] = value;
  TRY_STATUS(t.commit());
  return true;
}

}  // namespace airlock::node
