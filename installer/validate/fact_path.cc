// Fact paths and fact-reading helpers (see fact_path.h).
#include "installer/validate/fact_path.h"

#include <algorithm>

namespace airlock::validate {

std::optional<FactPath> FactPath::parse(const std::string& text, std::string* why) {
  FactPath p;
  p.text_ = text;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string seg = text.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    Step s;
    if (seg.size() >= 3 && seg.compare(seg.size() - 3, 3, "[*]") == 0) {
      s.each = true;
      seg.resize(seg.size() - 3);
    }
    if (seg.empty()) {
      *why = "empty key at column " + std::to_string(start + 1);
      return std::nullopt;
    }
    if (seg.find_first_of("[]") != std::string::npos) {
      *why = "only [*] may follow a key (at column " + std::to_string(start + 1) + ")";
      return std::nullopt;
    }
    s.key = seg;
    p.steps_.push_back(std::move(s));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return p;
}

std::vector<std::string> FactPath::values(const json& facts, std::string* missing) const {
  std::vector<const json*> cur = {&facts};
  std::string walked;
  for (const auto& s : steps_) {
    walked += (walked.empty() ? "" : ".") + s.key;
    std::vector<const json*> next;
    std::string reason;
    for (const json* v : cur) {
      const json* c = child(*v, s.key.c_str());
      if (c == nullptr || is_error(c)) {
        if (reason.empty()) reason = why_absent(c, walked);
        continue;
      }
      if (s.each) {
        if (!c->is_array()) {
          if (reason.empty()) reason = walked + ": not a list";
          continue;
        }
        for (const auto& e : *c) next.push_back(&e);
      } else {
        next.push_back(c);
      }
    }
    if (s.each) walked += "[*]";
    if (next.empty()) {
      *missing = reason.empty() ? walked + ": empty list" : reason;
      return {};
    }
    cur = std::move(next);
  }
  std::vector<std::string> out;
  for (const json* v : cur) {
    if (is_error(v)) continue;
    std::string s = show(*v);
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  }
  if (out.empty()) *missing = why_absent(cur.front(), text_);
  return out;
}

const json* child(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

bool is_error(const json* v) { return v != nullptr && v->is_object() && v->size() == 1 && v->contains("error"); }

std::string why_absent(const json* v, const std::string& path) {
  if (v == nullptr || v->is_null()) return "missing fact " + path;
  if (is_error(v)) return path + ": " + show((*v)["error"]);
  return "";
}

std::string show(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string str_of(const json& obj, const char* key, const std::string& def) {
  const json* v = child(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : def;
}

bool bool_of(const json& obj, const char* key, bool def) {
  const json* v = child(obj, key);
  return v != nullptr && v->is_boolean() ? v->get<bool>() : def;
}

int64_t int_of(const json& obj, const char* key, int64_t def) {
  const json* v = child(obj, key);
  return v != nullptr && v->is_number() ? v->get<int64_t>() : def;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

}  // namespace airlock::validate
