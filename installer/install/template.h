// Templates for configuration files and unit files: `{{ path.to.value }}` substitution only (no
// logic, no escaping). A template is compiled once (syntax errors name file:line:col) and
// rendered per node against a TemplateContext: named JSON roots (host, vars, bundle, release,
// facts, roles, hosts; see docs/playbooks.md) that the caller owns. Rendering a path that is
// missing, or that names an object, is an error naming the template file, line and path.
#pragma once

#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace airlock::install {

// The values a template can name. Roots are borrowed pointers (the planner builds the shared
// ones once for the whole inventory and the host-specific ones per node).
struct TemplateContext {
  std::map<std::string, const nlohmann::json*> roots;

  // The value at "a.b.c" (an array index is a number: "roles.agent.list.0"), or nullptr.
  const nlohmann::json* find(std::string_view path) const;
};

class Template {
 public:
  // `name` is what errors call it: a file ("playbooks/templates/agent.conf"), or for a value
  // written inline in the playbook its position ("install.yaml:12:9"), with `inline_value`.
  static Result<Template> compile(std::string_view text, std::string name, bool inline_value = false);

  Result<std::string> render(const TemplateContext& ctx) const;
  // The paths it names, in order (for tests and for checking a playbook without a site).
  std::vector<std::string> paths() const;
  bool has_placeholders() const;

 private:
  struct Piece {
    std::string literal;  // text before the placeholder (or the tail)
    std::string path;     // empty for the tail
    int line = 0;         // 1-based position of the "{{"
    int col = 0;
  };
  std::string name_;
  bool inline_ = false;
  std::vector<Piece> pieces_;

  std::string where(int line, int col) const;
};

// compile + render in one go, for inline values.
Result<std::string> render_inline(std::string_view text, const std::string& where, const TemplateContext& ctx);

// How a value prints: text as is, numbers and booleans as JSON, a list of those comma-joined.
// Objects, nested lists and null have no text form (nullopt).
std::optional<std::string> value_text(const nlohmann::json& v);

}  // namespace airlock::install
