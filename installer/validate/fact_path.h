// Fact paths as the rules file names them: dot-separated keys into the airlock.facts/v1
// document, `[*]` to take every element of an array ("rdma[*].fw_ver",
// "gpus[*].information.Video BIOS", "host.dmi.bios_version"). Also the helpers every check
// uses to read a fact and say why it is absent: a missing key, or a fact that is
// {"error": REASON}.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace airlock::validate {

using json = nlohmann::json;

class FactPath {
 public:
  // nullopt (and `why`) when the path is empty or malformed.
  static std::optional<FactPath> parse(const std::string& text, std::string* why);
  const std::string& text() const { return text_; }

  // Every value the path reaches, as text (strings as they are, others as JSON), in document
  // order; duplicates removed. When the path reaches nothing, `missing` says why ("missing
  // fact rdma" or "rdma: ENOENT").
  std::vector<std::string> values(const json& facts, std::string* missing) const;

 private:
  struct Step {
    std::string key;
    bool each = false;  // key[*]
  };
  std::string text_;
  std::vector<Step> steps_;
};

// The child `key` of an object, or nullptr (also when obj is not an object).
const json* child(const json& obj, const char* key);
// Whether v is a fact that could not be read: {"error": REASON}.
bool is_error(const json* v);
// Why a fact is absent: "missing fact PATH" (nullptr) or "PATH: REASON" (an error), else "".
std::string why_absent(const json* v, const std::string& path);
// A value for messages and evidence: strings as they are, other values as compact JSON.
std::string show(const json& v);
// Safe member reads (nlohmann's value() throws when a fact is an {"error": ...} object):
// the member when it has the type, else the default.
std::string str_of(const json& obj, const char* key, const std::string& def = "");
bool bool_of(const json& obj, const char* key, bool def = false);
int64_t int_of(const json& obj, const char* key, int64_t def = 0);
// "a, b, c".
std::string join(const std::vector<std::string>& v, const char* sep = ", ");

}  // namespace airlock::validate
