// The positioned core of airlock's strict YAML readers (inventory, playbooks, rules files):
// the document's text kept by line, positions as "file:line:col" (1-based), errors as
// "file:line:col: message: `offending text`", yaml-cpp's exceptions kept inside, and mappings
// walked with an allow-list of keys (an unknown or repeated key is an error). Each reader adds
// its own typed values on top (derive from YamlSource).
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace airlock {

class YamlSource {
 public:
  YamlSource(std::string_view text, std::string file);

  const std::string& file() const { return file_; }
  std::string where(int line0, int col0) const;  // "file:line:col"
  std::string where(const YAML::Node& n) const;
  // The source line, trimmed: the offending text for anything that is not a plain value. An
  // empty line (yaml-cpp reports a missing bracket at the next line) gives the one above it.
  std::string line_text(int line0) const;
  // A non-empty scalar's own text, else its line.
  std::string offending(const YAML::Node& n) const;

  Error err_at(int line0, int col0, const std::string& msg, const std::string& text) const;
  Error err(const YAML::Node& n, const std::string& msg) const;
  // For a value: its own position, or its key's when it is empty or missing (yaml-cpp places an
  // empty value on the next token).
  Error err_value(const YAML::Node& key, const YAML::Node& v, const std::string& msg) const;

  // The whole document; a syntax error becomes a positioned error.
  Result<YAML::Node> load() const;

  using KeyFn = std::function<Status(const std::string&, const YAML::Node&, const YAML::Node&)>;
  // fn(name, key node, value node) for each entry of a mapping, refusing keys not in `allowed`
  // (nullptr: any key) and keys given twice. A null node is an empty mapping.
  Status each_key(const YAML::Node& map, const YAML::Node& key_of_map, const std::string& what,
                  const std::vector<std::string>* allowed, const KeyFn& fn) const;

 private:
  std::string file_;
  std::string text_;
  std::vector<std::string> lines_;
};

// "a, b, c".
std::string join_names(const std::vector<std::string>& names);

}  // namespace airlock
