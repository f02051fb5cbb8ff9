// Strict YAML reading for playbooks: positions as "file:line:col" (1-based), errors as
// "file:line:col: message: `offending text`", yaml-cpp's exceptions kept inside, and the small
// typed readers the playbook parser needs (text, whole numbers, booleans, durations, lists).
// The bundle/ and validate/ readers are private to their folders, so this is the install one.
#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace airlock::install {

class YamlDoc {
 public:
  YamlDoc(std::string_view text, std::string file);

  const std::string& file() const { return file_; }
  std::string where(const YAML::Node& n) const;  // "file:line:col"
  int line(const YAML::Node& n) const { return n.Mark().line + 1; }

  // The whole document; a syntax error becomes a positioned error.
  Result<YAML::Node> load() const;

  Error err(const YAML::Node& n, const std::string& msg) const;
  Error err_at(int line0, int col0, const std::string& msg, const std::string& text) const;

  // A mapping whose keys are all in `allowed` (no repeats). A null node counts as empty.
  Status check_keys(const YAML::Node& map, const std::set<std::string>& allowed, const std::string& what) const;

  Result<std::string> text(const YAML::Node& v, const std::string& what) const;  // non-empty scalar
  Result<int64_t> integer(const YAML::Node& v, const std::string& what, int64_t min, int64_t max) const;
  Result<bool> boolean(const YAML::Node& v, const std::string& what) const;
  Result<int64_t> duration_ms(const YAML::Node& v, const std::string& what) const;
  Result<std::vector<std::string>> list(const YAML::Node& v, const std::string& what) const;

 private:
  std::string line_text(int line0) const;

  std::string file_;
  std::string text_;
  std::vector<std::string> lines_;
};

// "500ms", "30s", "5m", "1h" (a bare number is seconds) -> milliseconds.
std::optional<int64_t> parse_duration_ms(std::string_view s);

// The YAML value as JSON (scalars stay text).
nlohmann::json yaml_to_json(const YAML::Node& n);

}  // namespace airlock::install
