// Unit files for the service supervisor (see unit_file.h).
#include "node/unit_file.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

namespace airlock::node {

std::string trim_blanks(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

namespace {

Error unit_error(const std::string& path, int line, const std::string& msg, std::string_view text) {
  return make_error(Errc::kParse, path + ":" + std::to_string(line) + ": " + msg + ": `" + std::string(text) + "`");
}

// systemd's word splitting: whitespace separates words; "..." and '...' quote; C-like backslash
// escapes; `%%` is `%` (other specifiers are not supported); in ExecStart `$$` is `$` and
// variable references are not supported.
Result<std::vector<std::string>> split_words(std::string_view v, bool exec, const std::string& path, int line,
                                             std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quote == 0 && (c == ' ' || c == '\t')) {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (quote == 0 && (c == '"' || c == '\'')) {
      quote = c;
      continue;
    }
    if (quote != 0 && c == quote) {
      quote = 0;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= v.size()) return unit_error(path, line, "a backslash at the end of the value", text);
      char n = v[++i];
      static const std::map<char, char> esc = {{'a', '\a'}, {'b', '\b'}, {'f', '\f'}, {'n', '\n'}, {'r', '\r'},
                                               {'t', '\t'}, {'v', '\v'}, {'\\', '\\'}, {'"', '"'}, {'\'', '\''},
                                               {'s', ' '}};
      auto it = esc.find(n);
      if (it == esc.end()) return unit_error(path, line, std::string("unsupported escape \\") + n, text);
      cur += it->second;
      continue;
    }
    if (c == '%') {
      if (i + 1 < v.size() && v[i + 1] == '%') {
        cur += '%';
        ++i;
        continue;
      }
      return unit_error(path, line, "specifiers (%x) are not supported by airlock-node service (write %% for %)",
                        text);
    }
    if (exec && c == '$') {
      if (i + 1 < v.size() && v[i + 1] == '$') {
        cur += '$';
        ++i;
        continue;
      }
      return unit_error(path, line,
                        "environment variable references ($NAME) are not supported by airlock-node service "
                        "(write $$ for $)",
                        text);
    }
    cur += c;
  }
  if (quote != 0) return unit_error(path, line, "an unterminated quote", text);
  if (in_word) words.push_back(std::move(cur));
  return words;
}

// A systemd time span: "90", "5s", "500ms", "2min", "1h", "1min 30s", "infinity".
bool parse_timespan_ms(const std::string& v, int64_t* ms) {
  if (v == "infinity") {
    *ms = int64_t{1} << 50;
    return true;
  }
  static const std::map<std::string, double> units = {
      {"", 1000},     {"s", 1000},     {"sec", 1000},     {"second", 1000}, {"seconds", 1000},
      {"ms", 1},      {"msec", 1},     {"m", 60000},      {"min", 60000},   {"minute", 60000},
      {"minutes", 60000}, {"h", 3600000}, {"hr", 3600000}, {"hour", 3600000}, {"hours", 3600000}};
  double total = 0;
  size_t i = 0;
  bool any = false;
  while (i < v.size()) {
    while (i < v.size() && v[i] == ' ') ++i;
    if (i >= v.size()) break;
    size_t j = i;
    while (j < v.size() && (std::isdigit(static_cast<unsigned char>(v[j])) || v[j] == '.')) ++j;
    if (j == i) return false;
    double n = std::strtod(v.substr(i, j - i).c_str(), nullptr);
    size_t k = j;
    while (k < v.size() && std::isalpha(static_cast<unsigned char>(v[k]))) ++k;
    auto u = units.find(v.substr(j, k - j));
    if (u == units.end()) return false;
    total += n * u->second;
    any = true;
    i = k;
  }
  if (!any || !std::isfinite(total)) return false;
  *ms = static_cast<int64_t>(total);
  return true;
}

int parse_signal(std::string s) {
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  static const std::map<std::string, int> sigs = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},
                                                  {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
                                                  {"USR2", SIGUSR2}};
  auto it = sigs.find(s);
  return it == sigs.end() ? 0 : it->second;
}

}  // namespace

Result<UnitSpec> parse_unit(std::string_view text, const std::string& path) {
  UnitSpec u;
  u.path = path;
  std::string section;
  bool have_exec = false;
  // Logical lines: a trailing backslash continues the line.
  std::vector<std::pair<int, std::string>> lines;
  {
    int no = 0;
    std::string pending;
    int pending_no = 0;
    size_t i = 0;
    while (i <= text.size()) {
      size_t j = text.find('\n', i);
      if (j == std::string_view::npos) j = text.size();
      std::string raw(text.substr(i, j - i));
      ++no;
      std::string t = trim_blanks(raw);
      if (pending.empty() && !t.empty() && (t[0] == '#' || t[0] == ';')) {
        // a comment
      } else if (!t.empty() && t.back() == '\\' && (t.size() < 2 || t[t.size() - 2] != '\\')) {
        if (pending.empty()) pending_no = no;
        pending += t.substr(0, t.size() - 1) + " ";
      } else if (!pending.empty()) {
        lines.push_back({pending_no, pending + t});
        pending.clear();
      } else {
        lines.push_back({no, t});
      }
      if (j == text.size()) break;
      i = j + 1;
    }
    if (!pending.empty()) lines.push_back({pending_no, pending});
  }
  for (const auto& [no, t] : lines) {
    if (t.empty()) continue;
    if (t.front() == '[') {
      if (t.back() != ']') return unit_error(path, no, "a section header must end with ]", t);
      section = t.substr(1, t.size() - 2);
      if (section != "Unit" && section != "Service" && section != "Install") {
        return unit_error(path, no, "section not supported by airlock-node service (Unit, Service, Install)", t);
      }
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos) return unit_error(path, no, "expected KEY=VALUE", t);
    if (section.empty()) return unit_error(path, no, "a setting before any [section]", t);
    std::string key = trim_blanks(std::string_view(t).substr(0, eq));
    std::string value = trim_blanks(std::string_view(t).substr(eq + 1));
    if (section != "Service") continue;  // [Unit] and [Install]: ordering and boot wiring, not ours
    if (key == "Type") {
      if (value != "simple" && value != "exec") {
        return unit_error(path, no, "only Type=simple or Type=exec is supported by airlock-node service", t);
      }
    } else if (key == "ExecStart") {
      if (have_exec) return unit_error(path, no, "more than one ExecStart", t);
      if (!value.empty() && std::string("-@:+!").find(value[0]) != std::string::npos) {
        return unit_error(path, no, "ExecStart prefixes (- @ : + !) are not supported by airlock-node service", t);
      }
      TRY_ASSIGN(u.exec_start, split_words(value, true, path, no, t));
      if (u.exec_start.empty()) return unit_error(path, no, "ExecStart has no command", t);
      if (u.exec_start[0].empty() || u.exec_start[0][0] != '/') {
        return unit_error(path, no, "ExecStart must name its program by an absolute path", t);
      }
      have_exec = true;
    } else if (key == "Environment") {
      if (value.empty()) {
        u.environment.clear();
        continue;
      }
      TRY_ASSIGN(auto words, split_words(value, false, path, no, t));
      for (const auto& w : words) {
        size_t e = w.find('=');
        if (e == std::string::npos || e == 0) return unit_error(path, no, "Environment wants KEY=VALUE words", t);
        u.environment.push_back(w);
      }
    } else if (key == "WorkingDirectory") {
      std::string d = value;
      if (!d.empty() && d[0] == '-') {
        u.working_directory_optional = true;
        d = d.substr(1);
      }
      if (d.empty() || d[0] != '/') return unit_error(path, no, "WorkingDirectory must be an absolute path", t);
      u.working_directory = d;
    } else if (key == "KillSignal") {
      u.kill_signal = parse_signal(value);
      if (u.kill_signal == 0) return unit_error(path, no, "unknown signal (SIGTERM, SIGINT, SIGHUP, SIGQUIT, ...)", t);
    } else if (key == "TimeoutStopSec") {
      if (!parse_timespan_ms(value, &u.timeout_stop_ms)) return unit_error(path, no, "not a time span", t);
    } else if (key == "Restart") {
      if (value != "no") {
        return unit_error(path, no, "airlock-node service does not restart services (only Restart=no)", t);
      }
    } else if (key == "RemainAfterExit") {
      if (value != "no" && value != "false") return unit_error(path, no, "only RemainAfterExit=no is supported", t);
    } else {
      return unit_error(path, no,
                        "key not supported by airlock-node service (Type, ExecStart, Environment, "
                        "WorkingDirectory, KillSignal, TimeoutStopSec, Restart=no)",
                        t);
    }
  }
  if (!have_exec) return make_error(Errc::kParse, path + ": no ExecStart= in [Service]");
  return u;
}

}  // namespace airlock::node
