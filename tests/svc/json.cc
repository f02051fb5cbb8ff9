// airlock-testsvc: a small strict JSON reader (objects, arrays, strings with \u escapes,
// numbers, true/false/null) and a string quoter. Enough for register bodies, the manager's
// state file and the watcher's log; no dependency beyond libstdc++.
#include <cstdio>
#include <cstdlib>

#include "testsvc.h"

namespace testsvc {

const Json* Json::get(const std::string& key) const {
  if (kind != Object) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &it->second;
}

std::optional<std::string> Json::str(const std::string& key) const {
  const Json* v = get(key);
  if (!v || v->kind != String) return std::nullopt;
  return v->s;
}

namespace {

struct Parser {
  const std::string& t;
  size_t i = 0;
  std::string err;

  void ws() {
    while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
  }
  bool fail(const std::string& m) {
    if (err.empty()) err = m + " at offset " + std::to_string(i);
    return false;
  }
  bool lit(const char* word) {
    std::string w(word);
    if (t.compare(i, w.size(), w) != 0) return fail("bad literal");
    i += w.size();
    return true;
  }
  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  bool hex4(unsigned& v) {
    if (i + 4 > t.size()) return fail("short \\u escape");
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = t[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else return fail("bad \\u escape");
    }
    return true;
  }
  bool string(std::string& out) {
    ++i;  // opening quote
    while (i < t.size()) {
      char c = t[i++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= t.size()) break;
      char e = t[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && t.compare(i, 2, "\\u") == 0) {
            i += 2;
            unsigned lo = 0;
            if (!hex4(lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(out, cp);
          break;
        }
        default: return fail("bad escape");
      }
    }
    return fail("unterminated string");
  }
  bool value(Json& v, int depth) {
    if (depth > 64) return fail("nested too deep");
    ws();
    if (i >= t.size()) return fail("unexpected end");
    char c = t[i];
    if (c == '{') {
      v.kind = Json::Object;
      ++i;
      ws();
      if (i < t.size() && t[i] == '}') return ++i, true;
      for (;;) {
        ws();
        if (i >= t.size() || t[i] != '"') return fail("expected a key");
        std::string key;
        if (!string(key)) return false;
        ws();
        if (i >= t.size() || t[i] != ':') return fail("expected ':'");
        ++i;
        if (!value(v.obj[key], depth + 1)) return false;
        ws();
        if (i < t.size() && t[i] == ',') { ++i; continue; }
        if (i < t.size() && t[i] == '}') return ++i, true;
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = Json::Array;
      ++i;
      ws();
      if (i < t.size() && t[i] == ']') return ++i, true;
      for (;;) {
        v.arr.emplace_back();
        if (!value(v.arr.back(), depth + 1)) return false;
        ws();
        if (i < t.size() && t[i] == ',') { ++i; continue; }
        if (i < t.size() && t[i] == ']') return ++i, true;
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') return v.kind = Json::String, string(v.s);
    if (c == 't') return v.kind = Json::Bool, v.b = true, lit("true");
    if (c == 'f') return v.kind = Json::Bool, v.b = false, lit("false");
    if (c == 'n') return v.kind = Json::Null, lit("null");
    if (c == '-' || (c >= '0' && c <= '9')) {
      const char* start = t.c_str() + i;
      char* end = nullptr;
      v.kind = Json::Number;
      v.n = std::strtod(start, &end);
      if (end == start) return fail("bad number");
      i += size_t(end - start);
      return true;
    }
    return fail("unexpected character");
  }
};

}  // namespace

std::optional<Json> json_parse(const std::string& text, std::string* error) {
  Parser p{text, 0, {}};
  Json v;
  bool ok = p.value(v, 0);
  if (ok) {
    p.ws();
    if (p.i != text.size()) ok = p.fail("trailing characters");
  }
  if (!ok) {
    if (error) *error = p.err;
    return std::nullopt;
  }
  return v;
}

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace testsvc
