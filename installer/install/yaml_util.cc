// Strict YAML reading for playbooks (see yaml_util.h).
#include "installer/install/yaml_util.h"

#include <nlohmann/json.hpp>

#include <charconv>

namespace airlock::install {

Status YamlDoc::check_keys(const YAML::Node& map, const std::set<std::string>& allowed,
                           const std::string& what) const {
  if (map.IsNull()) return {};
  if (!map.IsMap()) return err(map, what + " must be a mapping");
  std::set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node& k = it->first;
    if (!k.IsScalar()) return err(k, what + ": keys must be plain text");
    if (!allowed.count(k.Scalar())) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return err(k, "unknown key in " + what + " (expected one of " + list + ")");
    }
    if (!seen.insert(k.Scalar()).second) return err(k, what + ": key given twice");
  }
  return {};
}

Result<std::string> YamlDoc::text(const YAML::Node& v, const std::string& what) const {
  if (!v.IsScalar() || v.Scalar().empty()) return err(v, what + " must be a text value");
  return v.Scalar();
}

Result<int64_t> YamlDoc::integer(const YAML::Node& v, const std::string& what, int64_t min, int64_t max) const {
  std::string msg = what + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  if (!v.IsScalar()) return err(v, msg);
  const std::string& s = v.Scalar();
  int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || n < min || n > max) return err(v, msg);
  return n;
}

Result<bool> YamlDoc::boolean(const YAML::Node& v, const std::string& what) const {
  if (v.IsScalar()) {
    const std::string& s = v.Scalar();
    if (s == "true" || s == "yes") return true;
    if (s == "false" || s == "no") return false;
  }
  return err(v, what + " must be true or false");
}

Result<int64_t> YamlDoc::duration_ms(const YAML::Node& v, const std::string& what) const {
  std::string msg = what + " must be a duration such as 500ms, 30s or 5m";
  if (!v.IsScalar()) return err(v, msg);
  auto ms = parse_duration_ms(v.Scalar());
  if (!ms) return err(v, msg);
  return *ms;
}

Result<std::vector<std::string>> YamlDoc::list(const YAML::Node& v, const std::string& what) const {
  std::string msg = what + " must be a list of text values";
  std::vector<std::string> out;
  if (v.IsScalar() && !v.Scalar().empty()) {
    out.push_back(v.Scalar());
    return out;
  }
  if (!v.IsSequence()) return err(v, msg);
  for (const auto& e : v) {
    if (!e.IsScalar() || e.Scalar().empty()) return err(e.IsNull() ? v : e, msg);
    out.push_back(e.Scalar());
  }
  return out;
}

std::optional<int64_t> parse_duration_ms(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == 0 || i > 12) return std::nullopt;
  int64_t n = 0;
  std::from_chars(s.data(), s.data() + i, n);
  std::string_view unit = s.substr(i);
  if (unit == "ms") return n;
  if (unit == "s" || unit.empty()) return n * 1000;
  if (unit == "m") return n * 60'000;
  if (unit == "h") return n * 3'600'000;
  return std::nullopt;
}

nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    nlohmann::json j = nlohmann::json::object();
    for (auto it = n.begin(); it != n.end(); ++it) j[it->first.as<std::string>()] = yaml_to_json(it->second);
    return j;
  }
  if (n.IsSequence()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : n) j.push_back(yaml_to_json(e));
    return j;
  }
  if (n.IsScalar()) return n.Scalar();
  return nullptr;
}

}  // namespace airlock::install
