// Strict YAML reading for the rules file (see yaml_reader.h).
#include "installer/validate/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_map>

#include "installer/validate/rules.h"

namespace airlock::validate {

YamlReader::YamlReader(std::string_view text, std::string file) : file_(std::move(file)) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    lines_.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
}

std::string YamlReader::where(const YAML::Node& n) const {
  return file_ + ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
}

std::string YamlReader::line_text(int line0) const {
  if (line0 < 0 || lines_.empty()) return "";
  size_t i = std::min(static_cast<size_t>(line0), lines_.size() - 1);
  while (i > 0 && lines_[i].find_first_not_of(" \t\r") == std::string::npos) --i;
  const std::string& s = lines_[i];
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

Error YamlReader::err_at(int line0, int col0, const std::string& msg, const std::string& text) const {
  return make_error(Errc::kParse, file_ + ":" + std::to_string(line0 + 1) + ":" + std::to_string(col0 + 1) + ": " +
                                      msg + ": `" + text + "`");
}

Error YamlReader::err(const YAML::Node& n, const std::string& msg) const {
  return err_at(n.Mark().line, n.Mark().column, msg, n.IsScalar() ? n.Scalar() : line_text(n.Mark().line));
}

Error YamlReader::err_value(const YAML::Node& key, const YAML::Node& v, const std::string& msg) const {
  if (!v.IsDefined() || v.IsNull()) return err_at(key.Mark().line, key.Mark().column, msg, line_text(key.Mark().line));
  return err(v, msg);
}

Result<YAML::Node> YamlReader::load(std::string_view text) const {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    return err_at(e.mark.line, e.mark.column, "YAML syntax: " + e.msg, line_text(e.mark.line));
  } catch (const YAML::Exception& e) {
    return err_at(e.mark.line, e.mark.column, std::string("YAML: ") + e.what(), line_text(e.mark.line));
  }
}

Status YamlReader::each_key(const YAML::Node& map, const YAML::Node& key_of_map, const std::string& what,
                            const std::vector<std::string>& allowed, const KeyFn& fn) const {
  if (map.IsNull()) return {};
  if (!map.IsMap()) return err_value(key_of_map, map, what + " must be a mapping");
  std::unordered_map<std::string, std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node& k = it->first;
    if (!k.IsScalar()) return err(k, what + ": keys must be plain text");
    const std::string& name = k.Scalar();
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return err(k, "unknown key in " + what + " (expected one of " + join(allowed) + ")");
    }
    auto [prev, added] = seen.emplace(name, where(k));
    if (!added) return err(k, what + ": key given twice (first at " + prev->second + ")");
    TRY_STATUS(fn(name, k, it->second));
  }
  return {};
}

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
