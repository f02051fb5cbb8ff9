// Strict YAML reading for the rules file: the shared positioned core (common/yaml) plus the
// typed scalars rules need (text, whole numbers, sizes, durations, lists of text), each error
// at the value or, when it is empty, at its key.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/yaml/yaml_source.h"
#include "installer/validate/fact_path.h"

namespace airlock::validate {

class YamlReader : public YamlSource {
 public:
  using YamlSource::YamlSource;

  // fn(name, key node, value node) for each entry; `allowed` empty accepts any key (still no
  // repeats). A null node is an empty mapping.
  Status each_key(const YAML::Node& map, const YAML::Node& key_of_map, const std::string& what,
                  const std::vector<std::string>& allowed, const KeyFn& fn) const {
    return YamlSource::each_key(map, key_of_map, what, allowed.empty() ? nullptr : &allowed, fn);
  }

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

};

}  // namespace airlock::validate
