// Helpers shared by the report renderers (see report_util.h).
#include "installer/validate/report_util.h"

#include <algorithm>
#include <map>

#include "installer/inventory/nodeset.h"

namespace airlock::validate {

std::vector<size_t> nodes_by_status(const Report& r) {
  std::vector<size_t> idx(r.nodes.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  auto rank = [](Status s) { return s == Status::kFail ? 0 : s == Status::kWarn ? 1 : s == Status::kInfo ? 2 : 3; };
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return rank(r.nodes[a].status) < rank(r.nodes[b].status); });
  return idx;
}

std::vector<CheckGroup> findings_by_check(const Report& r) {
  std::map<std::string, CheckGroup> by;
  for (const auto& n : r.nodes) {
    for (const auto& f : n.findings) {
      auto [it, added] = by.emplace(f.check, CheckGroup{f.check, f.severity, {}, 0});
      CheckGroup& g = it->second;
      g.severity = std::max(g.severity, f.severity);
      ++g.findings;
      if (g.nodes.empty() || g.nodes.back() != n.name) g.nodes.push_back(n.name);
    }
  }
  std::vector<CheckGroup> out;
  for (auto& [k, g] : by) out.push_back(std::move(g));
  std::stable_sort(out.begin(), out.end(), [](const CheckGroup& a, const CheckGroup& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    return a.nodes.size() > b.nodes.size();
  });
  return out;
}

std::vector<NotCheckedGroup> not_checked_groups(const Report& r) {
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> by;
  for (const auto& n : r.nodes) {
    for (const auto& nc : n.not_checked) by[{nc.check, nc.reason}].push_back(n.name);
  }
  std::vector<NotCheckedGroup> out;
  for (auto& [k, nodes] : by) out.push_back(NotCheckedGroup{k.first, k.second, std::move(nodes)});
  return out;
}

std::string fold_names(const std::vector<std::string>& names, size_t max_len) {
  std::string s = inventory::fold_nodeset(names);
  if (s.size() <= max_len) return s;
  size_t cut = s.rfind(',', max_len);
  if (cut == std::string::npos || cut < max_len / 2) cut = max_len;
  return s.substr(0, cut) + ", ... (" + std::to_string(names.size()) + " nodes)";
}

namespace {
// Length of a valid UTF-8 sequence starting at s[i], or 0.
size_t utf8_len(const std::string& s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 0;
  }
  return n;
}
}  // namespace

std::string xml_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_len(s, i);
    if (n == 0) {  // not UTF-8: the replacement character
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (n > 1) {
      out.append(s, i, n);
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default:
        // Control characters are not allowed in XML 1.0; keep tab and newline.
        out += (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '?' : static_cast<char>(c);
    }
  }
  return out;
}

std::string evidence_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace airlock::validate
