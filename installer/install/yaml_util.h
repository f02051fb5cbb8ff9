// Strict YAML reading for playbooks: the shared positioned core (common/yaml) plus the small
// typed readers the playbook parser needs (text, whole numbers, booleans, durations, lists).
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
#include "common/yaml/yaml_source.h"

namespace airlock::install {

class YamlDoc : public YamlSource {
 public:
  using YamlSource::YamlSource;

  int line(const YAML::Node& n) const { return n.Mark().line + 1; }

  // A mapping whose keys are all in `allowed` (no repeats). A null node counts as empty.
  Status check_keys(const YAML::Node& map, const std::set<std::string>& allowed, const std::string& what) const;

  Result<std::string> text(const YAML::Node& v, const std::string& what) const;  // non-empty scalar
  Result<int64_t> integer(const YAML::Node& v, const std::string& what, int64_t min, int64_t max) const;
  Result<bool> boolean(const YAML::Node& v, const std::string& what) const;
  Result<int64_t> duration_ms(const YAML::Node& v, const std::string& what) const;
  Result<std::vector<std::string>> list(const YAML::Node& v, const std::string& what) const;

};

// "500ms", "30s", "5m", "1h" (a bare number is seconds) -> milliseconds.
std::optional<int64_t> parse_duration_ms(std::string_view s);

// The YAML value as JSON (scalars stay text).
nlohmann::json yaml_to_json(const YAML::Node& n);

}  // namespace airlock::install
