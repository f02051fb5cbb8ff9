// `{{ path }}` templates (see template.h).
#include "installer/install/template.h"

#include <cctype>
#include <optional>

namespace airlock::install {
namespace {

bool path_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

bool valid_path(const std::string& p) {
  if (p.empty() || p.front() == '.' || p.back() == '.') return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!path_char(p[i])) return false;
    if (p[i] == '.' && i + 1 < p.size() && p[i + 1] == '.') return false;
  }
  return true;
}

}  // namespace

const nlohmann::json* TemplateContext::find(std::string_view path) const {
  size_t dot = path.find('.');
  auto it = roots.find(std::string(path.substr(0, dot)));
  if (it == roots.end() || it->second == nullptr) return nullptr;
  const nlohmann::json* cur = it->second;
  while (dot != std::string_view::npos) {
    size_t start = dot + 1;
    dot = path.find('.', start);
    std::string seg(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (cur->is_object()) {
      auto f = cur->find(seg);
      if (f == cur->end()) return nullptr;
      cur = &*f;
    } else if (cur->is_array()) {
      if (seg.empty() || seg.find_first_not_of("0123456789") != std::string::npos || seg.size() > 9) return nullptr;
      size_t idx = std::stoul(seg);
      if (idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

std::optional<std::string> value_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean() || v.is_number()) return v.dump();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      if (!(e.is_string() || e.is_boolean() || e.is_number())) return std::nullopt;
      if (!out.empty()) out += ",";
      out += e.is_string() ? e.get<std::string>() : e.dump();
    }
    return out;
  }
  return std::nullopt;
}

std::string Template::where(int line, int col) const {
  if (inline_) return name_;
  return name_ + ":" + std::to_string(line) + ":" + std::to_string(col);
}

Result<Template> Template::compile(std::string_view text, std::string name, bool inline_value) {
  Template t;
  t.name_ = std::move(name);
  t.inline_ = inline_value;
  int line = 1, col = 1;
  std::string literal;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 2, "{{") == 0) {
      int open_line = line, open_col = col;
      size_t close = text.find("}}", i + 2);
      size_t nl = text.find('\n', i + 2);
      if (close == std::string_view::npos || (nl != std::string_view::npos && nl < close)) {
        return make_error(Errc::kParse, t.where(open_line, open_col) + ": `{{` without `}}` on the same line: `" +
                                            std::string(text.substr(i, std::min<size_t>({40, text.size() - i, nl == std::string_view::npos ? text.size() : nl - i}))) + "`");
      }
      std::string inner(text.substr(i + 2, close - i - 2));
      size_t b = inner.find_first_not_of(" \t");
      size_t e = inner.find_last_not_of(" \t");
      std::string path = b == std::string::npos ? "" : inner.substr(b, e - b + 1);
      if (!valid_path(path)) {
        return make_error(Errc::kParse, t.where(open_line, open_col) +
                                            ": a placeholder holds one dotted name like {{ host.address }}: `{{" +
                                            inner + "}}`");
      }
      t.pieces_.push_back({std::move(literal), path, open_line, open_col});
      literal.clear();
      col += static_cast<int>(close + 2 - i);
      i = close + 2;
      continue;
    }
    char c = text[i++];
    literal += c;
    if (c == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  t.pieces_.push_back({std::move(literal), "", line, col});
  return t;
}

Result<std::string> Template::render(const TemplateContext& ctx) const {
  std::string out;
  for (const auto& p : pieces_) {
    out += p.literal;
    if (p.path.empty()) continue;
    const nlohmann::json* v = ctx.find(p.path);
    if (v == nullptr) {
      return make_error(Errc::kNotFound, where(p.line, p.col) + ": no value for `" + p.path + "`");
    }
    auto s = value_text(*v);
    if (!s) {
      const char* kind = v->is_object() ? "an object" : v->is_null() ? "null" : "a nested list";
      return make_error(Errc::kInvalidArgument,
                        where(p.line, p.col) + ": `" + p.path + "` is " + kind + ", not a value");
    }
    out += *s;
  }
  return out;
}

std::vector<std::string> Template::paths() const {
  std::vector<std::string> out;
  for (const auto& p : pieces_) {
    if (!p.path.empty()) out.push_back(p.path);
  }
  return out;
}

bool Template::has_placeholders() const { return pieces_.size() > 1; }

Result<std::string> render_inline(std::string_view text, const std::string& where, const TemplateContext& ctx) {
  if (text.find("{{") == std::string_view::npos) return std::string(text);
  TRY_ASSIGN(Template t, Template::compile(text, where, true));
  return t.render(ctx);
}

}  // namespace airlock::install
