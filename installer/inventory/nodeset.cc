// Node sets in ClusterShell syntax (see nodeset.h). expand: the pattern is checked and its size
// counted in one pass over its text, then built piece by piece (bracket groups multiply out left
// to right). fold: names are grouped by (prefix, suffix, padding) around their last number in a
// hash map, each group's numbers are sorted once and printed as ranges.
#include "installer/inventory/nodeset.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace airlock::inventory {
namespace {

constexpr size_t kMaxDigits = 18;  // fits in uint64_t with room to spare

// One item of a bracket group: "7", "1-9" or "1-9/2". width > 0: zero-padded to that width.
struct RangeItem {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t step = 1;
  size_t width = 0;
};

// A part of one name pattern: literal text, or a bracket group.
struct Segment {
  std::string literal;
  bool is_range = false;
  std::vector<RangeItem> items;
};

struct Piece {
  std::vector<Segment> segments;
};

struct ParseFailure {
  size_t column = 0;  // 1-based
  std::string reason;
};

uint64_t add_sat(uint64_t a, uint64_t b, uint64_t cap) { return (a > cap || b > cap - a) ? cap + 1 : a + b; }
uint64_t mul_sat(uint64_t a, uint64_t b, uint64_t cap) {
  if (a == 0 || b == 0) return 0;
  if (a > cap || b > cap / a) return cap + 1;
  return a * b;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}
bool has_leading_zero(std::string_view digits) { return digits.size() > 1 && digits[0] == '0'; }

uint64_t to_u64(std::string_view digits) {
  uint64_t v = 0;
  for (char c : digits) v = v * 10 + static_cast<uint64_t>(c - '0');
  return v;
}

std::string format_number(uint64_t v, size_t width) {
  std::string s = std::to_string(v);
  if (s.size() < width) s.insert(0, width - s.size(), '0');
  return s;
}

// Parses one bracket item such as "001-128/2" that starts at 0-based offset `at` of the pattern.
bool parse_item(std::string_view text, size_t at, RangeItem* item, ParseFailure* fail) {
  auto failed = [&](std::string reason) {
    fail->column = at + 1;
    fail->reason = std::move(reason);
    return false;
  };
  if (text.empty()) return failed("empty range");
  std::string_view range = text, step;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    range = text.substr(0, slash);
    step = text.substr(slash + 1);
    if (range.find('-') == std::string_view::npos) {
      return failed("bad step in '" + std::string(text) + "': a step needs a range, as in 1-9/2");
    }
    if (!all_digits(step) || step.size() > kMaxDigits || to_u64(step) == 0) {
      return failed("bad step in '" + std::string(text) + "': the step must be a number of at least 1");
    }
  }
  std::string_view first = range, last = range;
  if (size_t dash = range.find('-'); dash != std::string_view::npos) {
    first = range.substr(0, dash);
    last = range.substr(dash + 1);
  }
  if (!all_digits(first) || !all_digits(last)) {
    return failed("range '" + std::string(text) + "' is not numeric (expected N, N-M or N-M/STEP)");
  }
  if (first.size() > kMaxDigits || last.size() > kMaxDigits) {
    return failed("number in '" + std::string(text) + "' is too large");
  }
  if (has_leading_zero(last) && last.size() != first.size()) {
    return failed("padding of '" + std::string(text) + "' differs between its start and its end");
  }
  item->start = to_u64(first);
  item->end = to_u64(last);
  item->step = step.empty() ? 1 : to_u64(step);
  item->width = has_leading_zero(first) ? first.size() : 0;
  if (item->end < item->start) {
    return failed("range end " + std::string(last) + " is below its start " + std::string(first));
  }
  return true;
}

// Parses the name pattern pattern[b, e) (no top-level commas in it) into segments.
bool parse_piece(std::string_view pattern, size_t b, size_t e, Piece* piece, ParseFailure* fail) {
  size_t i = b;
  while (i < e) {
    if (pattern[i] != '[') {
      size_t next = pattern.find('[', i);
      if (next == std::string_view::npos || next > e) next = e;
      Segment seg;
      seg.literal = std::string(pattern.substr(i, next - i));
      piece->segments.push_back(std::move(seg));
      i = next;
      continue;
    }
    size_t close = pattern.find(']', i);  // balanced: checked by the caller
    Segment seg;
    seg.is_range = true;
    size_t item_start = i + 1;
    for (size_t k = i + 1; k <= close; ++k) {
      if (k == close || pattern[k] == ',') {
        RangeItem item;
        if (!parse_item(pattern.substr(item_start, k - item_start), item_start, &item, fail)) return false;
        seg.items.push_back(item);
        item_start = k + 1;
      }
    }
    piece->segments.push_back(std::move(seg));
    i = close + 1;
  }
  return true;
}

// Splits at top-level commas, checking brackets, and parses every piece.
bool parse_pattern(std::string_view pattern, std::vector<Piece>* pieces, ParseFailure* fail) {
  auto failed = [&](size_t at, std::string reason) {
    fail->column = at + 1;
    fail->reason = std::move(reason);
    return false;
  };
  size_t open = std::string_view::npos;
  size_t piece_start = 0;
  for (size_t i = 0; i <= pattern.size(); ++i) {
    char c = i < pattern.size() ? pattern[i] : ',';
    if (c == '[') {
      if (open != std::string_view::npos) return failed(i, "'[' inside brackets");
      open = i;
    } else if (c == ']') {
      if (open == std::string_view::npos) return failed(i, "']' without a matching '['");
      open = std::string_view::npos;
    } else if (i == pattern.size() && open != std::string_view::npos) {
      return failed(open, "'[' is not closed");
    } else if (c == ',' && open == std::string_view::npos) {
      size_t b = piece_start, e = i;
      while (b < e && pattern[b] == ' ') ++b;
      while (e > b && pattern[e - 1] == ' ') --e;
      if (b == e) return failed(i < pattern.size() ? i : (piece_start > 0 ? piece_start - 1 : 0), "empty name");
      for (size_t k = b; k < e; ++k) {
        if (pattern[k] == ' ' || pattern[k] == '\t' || pattern[k] == '\n') return failed(k, "space inside a name");
      }
      Piece piece;
      if (!parse_piece(pattern, b, e, &piece, fail)) return false;
      pieces->push_back(std::move(piece));
      piece_start = i + 1;
    }
  }
  return true;
}

uint64_t count_names(const std::vector<Piece>& pieces, uint64_t cap) {
  uint64_t total = 0;
  for (const auto& p : pieces) {
    uint64_t n = 1;
    for (const auto& s : p.segments) {
      if (!s.is_range) continue;
      uint64_t in_group = 0;
      for (const auto& it : s.items) in_group = add_sat(in_group, (it.end - it.start) / it.step + 1, cap);
      n = mul_sat(n, in_group, cap);
    }
    total = add_sat(total, n, cap);
  }
  return total;
}

std::vector<std::string> build_piece(const Piece& p) {
  std::vector<std::string> names{""};
  for (const auto& s : p.segments) {
    if (!s.is_range) {
      for (auto& n : names) n += s.literal;
      continue;
    }
    std::vector<std::string> next;
    for (const auto& prefix : names) {
      for (const auto& it : s.items) {
        for (uint64_t v = it.start;; v += it.step) {
          next.push_back(prefix + format_number(v, it.width));
          if (it.end - v < it.step) break;  // no overflow past end
        }
      }
    }
    names = std::move(next);
  }
  return names;
}

// A name split around its last run of digits ("gpu001-ib" -> "gpu", "001", "-ib").
struct Split {
  std::string_view prefix, digits, suffix;
};
bool split_last_number(std::string_view name, Split* out) {
  size_t end = name.size();
  while (end > 0 && !(name[end - 1] >= '0' && name[end - 1] <= '9')) --end;
  if (end == 0) return false;
  size_t start = end;
  while (start > 0 && name[start - 1] >= '0' && name[start - 1] <= '9') --start;
  if (end - start > kMaxDigits) return false;
  out->prefix = name.substr(0, start);
  out->digits = name.substr(start, end - start);
  out->suffix = name.substr(end);
  return true;
}

std::string ps_key(std::string_view prefix, std::string_view suffix) {
  std::string k(prefix);
  k += '\0';
  k += suffix;
  return k;
}

// A group of names that differ only in one number; width 0: not padded.
struct FoldGroup {
  std::string prefix, suffix;
  size_t width = 0;
  std::vector<uint64_t> numbers;
};

// One element of fold's output with what it sorts by.
struct Folded {
  std::string prefix, suffix;
  bool has_number = false;
  uint64_t first = 0;
  size_t width = 0;
  std::string text;
};

}  // namespace

Result<std::vector<std::string>> expand_nodeset(std::string_view pattern, size_t limit, NodesetError* where) {
  auto fail_with = [&](Errc code, size_t column, const std::string& reason) -> Error {
    if (where != nullptr) {
      where->column = column;
      where->reason = reason;
    }
    return make_error(code, std::string(pattern) + ": column " + std::to_string(column) + ": " + reason);
  };
  if (pattern.empty()) return fail_with(Errc::kParse, 1, "empty node set");
  std::vector<Piece> pieces;
  ParseFailure pf;
  if (!parse_pattern(pattern, &pieces, &pf)) return fail_with(Errc::kParse, pf.column, pf.reason);
  uint64_t n = count_names(pieces, limit);
  if (n > limit) {
    return fail_with(Errc::kLimit, 1, "expands to more than " + std::to_string(limit) + " names");
  }
  std::vector<std::string> out;
  out.reserve(n);
  std::unordered_set<std::string> seen;
  seen.reserve(n);
  for (const auto& p : pieces) {
    for (auto& name : build_piece(p)) {
      if (seen.insert(name).second) out.push_back(std::move(name));
    }
  }
  return out;
}

Result<std::vector<std::string>> expand_nodeset(std::string_view pattern, size_t limit) {
  return expand_nodeset(pattern, limit, nullptr);
}

std::string fold_nodeset(const std::vector<std::string>& names) {
  // Pass 1: which zero-padded widths occur per (prefix, suffix); "10" may then join "08".
  std::unordered_map<std::string, std::vector<size_t>> padded_widths;
  for (const auto& name : names) {
    Split s;
    if (!split_last_number(name, &s) || !has_leading_zero(s.digits)) continue;
    auto& widths = padded_widths[ps_key(s.prefix, s.suffix)];
    if (std::find(widths.begin(), widths.end(), s.digits.size()) == widths.end()) widths.push_back(s.digits.size());
  }
  // Pass 2: group.
  std::unordered_map<std::string, size_t> group_index;
  std::vector<FoldGroup> groups;
  std::unordered_set<std::string> plain_seen;
  std::vector<Folded> out;
  for (const auto& name : names) {
    Split s;
    if (!split_last_number(name, &s)) {
      if (plain_seen.insert(name).second) out.push_back({name, "", false, 0, 0, name});
      continue;
    }
    std::string key = ps_key(s.prefix, s.suffix);
    size_t width = 0;
    if (has_leading_zero(s.digits)) {
      width = s.digits.size();
    } else if (auto it = padded_widths.find(key); it != padded_widths.end()) {
      const auto& w = it->second;
      if (std::find(w.begin(), w.end(), s.digits.size()) != w.end()) width = s.digits.size();
    }
    key += '\0';
    key += std::to_string(width);
    auto [it, added] = group_index.emplace(key, groups.size());
    if (added) groups.push_back({std::string(s.prefix), std::string(s.suffix), width, {}});
    groups[it->second].numbers.push_back(to_u64(s.digits));
  }
  for (auto& g : groups) {
    std::sort(g.numbers.begin(), g.numbers.end());
    g.numbers.erase(std::unique(g.numbers.begin(), g.numbers.end()), g.numbers.end());
    Folded f{g.prefix, g.suffix, true, g.numbers.front(), g.width, ""};
    if (g.numbers.size() == 1) {
      f.text = g.prefix + format_number(g.numbers.front(), g.width) + g.suffix;
    } else {
      std::string ranges;
      for (size_t i = 0; i < g.numbers.size();) {
        size_t j = i;
        while (j + 1 < g.numbers.size() && g.numbers[j + 1] == g.numbers[j] + 1) ++j;
        if (!ranges.empty()) ranges += ',';
        ranges += format_number(g.numbers[i], g.width);
        if (j > i) ranges += '-' + format_number(g.numbers[j], g.width);
        i = j + 1;
      }
      f.text = g.prefix + "[" + ranges + "]" + g.suffix;
    }
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const Folded& a, const Folded& b) {
    return std::tie(a.prefix, a.suffix, a.has_number, a.first, a.width, a.text) <
           std::tie(b.prefix, b.suffix, b.has_number, b.first, b.width, b.text);
  });
  std::string result;
  for (const auto& f : out) {
    if (!result.empty()) result += ',';
    result += f.text;
  }
  return result;
}

}  // namespace airlock::inventory
