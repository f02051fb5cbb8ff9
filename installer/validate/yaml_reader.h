// Strict YAML reading for the rules file: positions as "file:line:col" (1-based), errors as
// "file:line:col: message: `offending text`", mappings walked with an allow-list of keys (an
// unknown or repeated key is an error), and typed scalars (text, whole numbers, sizes,
// durations, lists of text). yaml-cpp's exceptions stay inside this file.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "installer/validate/fact_path.h"

namespace airlock::validate {

class YamlReader {
 public:
  YamlReader(std::string_view text, std::string file);

  const std::string& file() const { return file_; }
  std::string where(const YAML::Node& n) const;
  std::string line_text(int line0) const;

  Error err_at(int line0, int col0, const std::string& msg, const std::string& text) const;
  Error err(const YAML::Node& n, const std::string& msg) const;
  // For a value: its own position, or its key's when the value is empty.
  Error err_value(const YAML::Node& key, const YAML::Node& v, const std::string& msg) const;

  // Loads the document; a syntax error becomes a positioned error.
  Result<YAML::Node> load(std::string_view text) const;

  using KeyFn = std::function<Status(const std::string&, const YAML::Node&, const YAML::Node&)>;
  // fn(name, key node, value node) for each entry; `allowed` empty accepts any key (still no
  // repeats). A null node is an empty mapping.
  Status each_key(const YAML::Node& map, const YAML::Node& key_of_map, const std::string& what,
                  const std::vector<std::string>& allowed, const KeyFn& fn) const;

  Result<std::string> text(const YAML::Node& k, const YAML::Node& v, const std::string& what) const;
  Result<int64_t> integer(const YAML::Node& k, const YAML::Node& v, const std::string& what, int64_t min,
                          int64_t max) const;
  Result<double> number(const YAML::Node& k, const YAML::Node& v, const std::string& what) const;
  Result<uint64_t> size(const YAML::Node& k, const YAML::Node& v, const std::string& what) const;
  Result<int64_t> duration_ns(const YAML::Node& k, const YAML::Node& v, const std::string& what) const;
  // A list of non-empty text values; a single text value is a list of one.
  Result<std::vector<std::string>> list(const YAML::Node& k, const YAML::Node& v, const std::string& what) const;
  // Like list() but checks every item against `allowed`.
  Result<std::vector<std::string>> one_of(const YAML::Node& k, const YAML::Node& v, const std::string& what,
                                          const std::vector<std::string>& allowed) const;

 private:
  std::string file_;
  std::vector<std::string> lines_;
};

}  // namespace airlock::validate
