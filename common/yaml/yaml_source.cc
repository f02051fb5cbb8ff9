// The positioned core of the strict YAML readers (see yaml_source.h).
#include "common/yaml/yaml_source.h"

#include <algorithm>
#include <unordered_map>

namespace airlock {

YamlSource::YamlSource(std::string_view text, std::string file) : file_(std::move(file)), text_(text) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    lines_.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
}

std::string YamlSource::where(int line0, int col0) const {
  return file_ + ":" + std::to_string(line0 + 1) + ":" + std::to_string(col0 + 1);
}

std::string YamlSource::where(const YAML::Node& n) const { return where(n.Mark().line, n.Mark().column); }

std::string YamlSource::line_text(int line0) const {
  if (line0 < 0 || lines_.empty()) return "";
  size_t i = std::min(static_cast<size_t>(line0), lines_.size() - 1);
  while (i > 0 && lines_[i].find_first_not_of(" \t\r") == std::string::npos) --i;
  const std::string& s = lines_[i];
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string YamlSource::offending(const YAML::Node& n) const {
  return n.IsScalar() && !n.Scalar().empty() ? n.Scalar() : line_text(n.Mark().line);
}

Error YamlSource::err_at(int line0, int col0, const std::string& msg, const std::string& text) const {
  return make_error(Errc::kParse, where(line0, col0) + ": " + msg + ": `" + text + "`");
}

Error YamlSource::err(const YAML::Node& n, const std::string& msg) const {
  return err_at(n.Mark().line, n.Mark().column, msg, offending(n));
}

Error YamlSource::err_value(const YAML::Node& key, const YAML::Node& v, const std::string& msg) const {
  if (!v.IsDefined() || v.IsNull()) return err_at(key.Mark().line, key.Mark().column, msg, line_text(key.Mark().line));
  return err(v, msg);
}

Result<YAML::Node> YamlSource::load() const {
  try {
    return YAML::Load(text_);
  } catch (const YAML::ParserException& e) {
    return err_at(e.mark.line, e.mark.column, "YAML syntax: " + e.msg, line_text(e.mark.line));
  } catch (const YAML::Exception& e) {
    return err_at(e.mark.line, e.mark.column, std::string("YAML: ") + e.what(), line_text(e.mark.line));
  }
}

Status YamlSource::each_key(const YAML::Node& map, const YAML::Node& key_of_map, const std::string& what,
                            const std::vector<std::string>* allowed, const KeyFn& fn) const {
  if (map.IsNull()) return {};
  if (!map.IsMap()) return err_value(key_of_map, map, what + " must be a mapping");
  std::unordered_map<std::string, std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const YAML::Node& k = it->first;
    if (!k.IsScalar()) return err(k, what + ": keys must be plain text");
    const std::string& name = k.Scalar();
    if (allowed != nullptr && std::find(allowed->begin(), allowed->end(), name) == allowed->end()) {
      return err(k, "unknown key in " + what + " (expected one of " + join_names(*allowed) + ")");
    }
    auto [prev, added] = seen.emplace(name, where(k));
    if (!added) return err(k, what + ": key given twice (first at " + prev->second + ")");
    TRY_STATUS(fn(name, k, it->second));
  }
  return {};
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace airlock
