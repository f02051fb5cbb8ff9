// Strict YAML reading for the rules file (see yaml_reader.h).
#include "installer/validate/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_map>

#include "installer/validate/rules.h"

namespace airlock::validate {

Result<std::string> YamlReader::text(const YAML::Node& k, const YAML::Node& v, const std::string& what) const {
  if (!v.IsScalar() || v.Scalar().empty()) return err_value(k, v, what + ": " + k.Scalar() + " must be a text value");
  return v.Scalar();
}

Result<int64_t> YamlReader::integer(const YAML::Node& k, const YAML::Node& v, const std::string& what, int64_t min,
                                    int64_t max) const {
  std::string msg = what + ": " + k.Scalar() + " must be a whole number from " + std::to_string(min) + " to " +
                    std::to_string(max);
  if (!v.IsScalar()) return err_value(k, v, msg);
  const std::string& s = v.Scalar();
  int64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || n < min || n > max) return err(v, msg);
  return n;
}

Result<double> YamlReader::number(const YAML::Node& k, const YAML::Node& v, const std::string& what) const {
  std::string msg = what + ": " + k.Scalar() + " must be a number";
  if (!v.IsScalar()) return err_value(k, v, msg);
  const std::string& s = v.Scalar();
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || d < 0) return err(v, msg);
  return d;
}

Result<uint64_t> YamlReader::size(const YAML::Node& k, const YAML::Node& v, const std::string& what) const {
  std::string msg = what + ": " + k.Scalar() + " must be a size such as 20GiB, 500G or 1048576";
  if (!v.IsScalar()) return err_value(k, v, msg);
  auto n = parse_size(v.Scalar());
  if (!n) return err(v, msg);
  return *n;
}

Result<int64_t> YamlReader::duration_ns(const YAML::Node& k, const YAML::Node& v, const std::string& what) const {
  std::string msg = what + ": " + k.Scalar() + " must be a duration such as 300ms or 1s";
  if (!v.IsScalar()) return err_value(k, v, msg);
  auto n = parse_duration_ns(v.Scalar());
  if (!n) return err(v, msg);
  return *n;
}

Result<std::vector<std::string>> YamlReader::list(const YAML::Node& k, const YAML::Node& v,
                                                  const std::string& what) const {
  std::string msg = what + ": " + k.Scalar() + " must be a list of text values";
  std::vector<std::string> out;
  if (v.IsScalar() && !v.Scalar().empty()) {
    out.push_back(v.Scalar());
  } else if (v.IsSequence()) {
    for (const auto& e : v) {
      if (!e.IsScalar() || e.Scalar().empty()) return err_value(k, e, msg);
      out.push_back(e.Scalar());
    }
  } else {
    return err_value(k, v, msg);
  }
  return out;
}

Result<std::vector<std::string>> YamlReader::one_of(const YAML::Node& k, const YAML::Node& v, const std::string& what,
                                                    const std::vector<std::string>& allowed) const {
  TRY_ASSIGN(auto items, list(k, v, what));
  size_t i = 0;
  for (const auto& s : items) {
    if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
      const YAML::Node& at = v.IsSequence() ? v[i] : v;
      return err(at, what + ": " + k.Scalar() + " must be one of " + join(allowed));
    }
    ++i;
  }
  return items;
}

}  // namespace airlock::validate
