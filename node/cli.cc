// Argument parsing and JSON output for the node-side subcommands.
#include "node/cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/json.h"
#include "node/health.h"
#include "node/release.h"
#include "node/service.h"
#include "node/state.h"
#include "node/store.h"
#include "node/util.h"

namespace airlock::node {

const char* const kCliUsage =
    "       airlock-node store missing [--root-dir P] [--verify] [--stdin] DIGEST[=SIZE]...\n"
    "       airlock-node store put DIGEST[=SIZE] [--root-dir P] < DATA\n"
    "       airlock-node store gc --keep [DIGEST...] [--stdin] [--dry-run] [--root-dir P]\n"
    "       airlock-node release build RELEASE [--replace] [--verify] [--root-dir P] < SPEC.json\n"
    "       airlock-node release list [--root-dir P]\n"
    "       airlock-node release remove RELEASE [--root-dir P]\n"
    "       airlock-node switch RELEASE|--to-last-good|--to-previous [--root-dir P]\n"
    "       airlock-node mark-good RELEASE [--root-dir P]\n"
    "       airlock-node state get [--root-dir P]\n"
    "       airlock-node state set-step KEY DIGEST [--root-dir P]\n"
    "       airlock-node state check-step KEY DIGEST [--root-dir P]\n"
    "       airlock-node state record KEY JSON|- [--root-dir P]\n"
    "       airlock-node health tcp HOST:PORT [--deadline S] [--interval MS] [--soak S]\n"
    "       airlock-node health http URL [--expect-status N] [--expect-body TEXT] [--deadline S]\n"
    "                                    [--interval MS] [--soak S]\n"
    "       airlock-node health exec [--deadline S] [--interval MS] [--soak S] -- CMD [ARG...]\n"
    "       airlock-node service start|stop|restart|is-active|status NAME [--root-dir P]\n";

namespace {

using nlohmann::json;

int emit(json j, int rc) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
  return rc;
}

int ok(json j) {
  j["ok"] = true;
  return emit(std::move(j), 0);
}

int failed(const Error& e, json extra = json::object()) {
  extra["ok"] = false;
  extra["error"] = e.describe();
  extra["code"] = errc_name(e.root_code());
  return emit(std::move(extra), 1);
}

int usage(const std::string& cmd, const std::string& msg) {
  std::fprintf(stderr, "airlock-node %s: %s\nusage:\n%s", cmd.c_str(), msg.c_str(), kCliUsage);
  return emit({{"ok", false}, {"error", "airlock-node " + cmd + ": " + msg}, {"code", "usage"}}, 2);
}

json null_or(const std::string& s) { return s.empty() ? json() : json(s); }

// Options and positionals of one subcommand. Value options take the next argument; "--" ends
// the options (the rest are positionals, e.g. health exec's command).
struct Args {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
  std::vector<std::string> pos;
  std::string error;
};

Args parse(const std::vector<std::string>& in, size_t from, const std::set<std::string>& value_opts,
           const std::set<std::string>& flag_opts) {
  Args a;
  for (size_t i = from; i < in.size(); ++i) {
    const std::string& s = in[i];
    if (s == "--") {
      a.pos.insert(a.pos.end(), in.begin() + static_cast<long>(i) + 1, in.end());
      break;
    }
    if (value_opts.count(s)) {
      if (i + 1 >= in.size()) {
        a.error = s + " needs a value";
        return a;
      }
      a.values[s] = in[++i];
    } else if (flag_opts.count(s)) {
      a.flags.insert(s);
    } else if (s.size() > 1 && s[0] == '-') {
      a.error = "unknown option '" + s + "'";
      return a;
    } else {
      a.pos.push_back(s);
    }
  }
  return a;
}

// --root-dir: an existing directory ("/" by default).
bool layout_from(const Args& a, Layout* l, std::string* err) {
  auto it = a.values.find("--root-dir");
  l->prefix = it == a.values.end() ? "/" : it->second;
  struct stat st;
  if (l->prefix.empty() || ::stat(l->prefix.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *err = "--root-dir '" + l->prefix + "' is not a directory";
    return false;
  }
  return true;
}

Result<std::string> read_stdin(uint64_t max) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read standard input");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) return make_error(Errc::kLimit, "standard input: more than " + std::to_string(max) + " bytes");
  }
  return out;
}

// Positionals plus whitespace-separated words from stdin when --stdin.
Result<std::vector<std::string>> words(const Args& a) {
  std::vector<std::string> w = a.pos;
  if (a.flags.count("--stdin")) {
    TRY_ASSIGN(std::string text, read_stdin(256ull << 20));
    size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      size_t j = i;
      while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
      if (j > i) w.push_back(text.substr(i, j - i));
      i = j;
    }
  }
  return w;
}

const std::set<std::string> kRoot = {"--root-dir"};

int cmd_store(const std::vector<std::string>& args) {
  const std::string cmd = "store";
  if (args.empty()) return usage(cmd, "missing, put or gc?");
  const std::string& sub = args[0];
  std::string err;
  Layout l;
  if (sub == "missing") {
    Args a = parse(args, 1, kRoot, {"--verify", "--stdin"});
    if (!a.error.empty()) return usage(cmd + " missing", a.error);
    if (!layout_from(a, &l, &err)) return usage(cmd + " missing", err);
    auto w = words(a);
    if (!w.ok()) return failed(w.error());
    std::vector<Want> wants;
    for (const auto& s : *w) {
      auto want = parse_want(s);
      if (!want.ok()) return usage(cmd + " missing", want.error().describe());
      wants.push_back(*want);
    }
    auto r = store_missing(l, wants, a.flags.count("--verify") > 0);
    if (!r.ok()) return failed(r.error());
    return ok({{"missing", r->missing}, {"removed", r->removed}, {"present", r->present}});
  }
  if (sub == "put") {
    Args a = parse(args, 1, kRoot, {});
    if (!a.error.empty()) return usage(cmd + " put", a.error);
    if (a.pos.size() != 1) return usage(cmd + " put", "want exactly one DIGEST");
    if (!layout_from(a, &l, &err)) return usage(cmd + " put", err);
    auto want = parse_want(a.pos[0]);
    if (!want.ok()) return usage(cmd + " put", want.error().describe());
    auto r = store_put(l, *want, 0);
    if (!r.ok()) return failed(r.error());
    return ok({{"digest", r->digest}, {"size", r->size}, {"changed", r->changed}});
  }
  if (sub == "gc") {
    Args a = parse(args, 1, kRoot, {"--keep", "--stdin", "--dry-run"});
    if (!a.error.empty()) return usage(cmd + " gc", a.error);
    if (!a.flags.count("--keep")) {
      return usage(cmd + " gc", "--keep DIGEST... is required (a bare --keep keeps only what releases use)");
    }
    if (!layout_from(a, &l, &err)) return usage(cmd + " gc", err);
    auto w = words(a);
    if (!w.ok()) return failed(w.error());
    std::vector<std::string> keep;
    for (const auto& s : *w) {
      auto want = parse_want(s);
      if (!want.ok()) return usage(cmd + " gc", want.error().describe());
      keep.push_back(want->digest);
    }
    bool dry = a.flags.count("--dry-run") > 0;
    auto r = store_gc(l, keep, dry);
    if (!r.ok()) return failed(r.error());
    return ok({{"removed", r->removed}, {"kept", r->kept}, {"freed_bytes", r->freed_bytes}, {"dry_run", dry}});
  }
  return usage(cmd, "unknown subcommand '" + sub + "'");
}

int cmd_release(const std::vector<std::string>& args) {
  const std::string cmd = "release";
  if (args.empty()) return usage(cmd, "build, list or remove?");
  const std::string& sub = args[0];
  std::string err;
  Layout l;
  if (sub == "build") {
    Args a = parse(args, 1, kRoot, {"--replace", "--verify"});
    if (!a.error.empty()) return usage(cmd + " build", a.error);
    if (a.pos.size() != 1) return usage(cmd + " build", "want exactly one RELEASE (the spec comes on stdin)");
    if (!layout_from(a, &l, &err)) return usage(cmd + " build", err);
    const std::string& rel = a.pos[0];
    if (auto st = check_release_name(rel); !st.ok()) return usage(cmd + " build", st.error().describe());
    auto text = read_stdin(64ull << 20);
    if (!text.ok()) return failed(text.error());
    auto spec = parse_spec(*text, "release spec (stdin)");
    if (!spec.ok()) return failed(spec.error());
    BuildOptions o;
    o.replace = a.flags.count("--replace") > 0;
    o.verify = a.flags.count("--verify") > 0;
    auto r = build_release(l, rel, *spec, o);
    if (!r.ok()) return failed(r.error(), {{"release", rel}});
    return ok({{"release", rel},
               {"changed", r->changed},
               {"replaced", r->replaced},
               {"spec_digest", r->spec_digest},
               {"files", r->files},
               {"linked", r->linked},
               {"copied", r->copied}});
  }
  if (sub == "list") {
    Args a = parse(args, 1, kRoot, {});
    if (!a.error.empty() || !a.pos.empty()) return usage(cmd + " list", a.error.empty() ? "no arguments" : a.error);
    if (!layout_from(a, &l, &err)) return usage(cmd + " list", err);
    auto rels = list_releases(l);
    if (!rels.ok()) return failed(rels.error());
    auto cur = current_release(l);
    if (!cur.ok()) return failed(cur.error());
    auto st = load_state(l);
    if (!st.ok()) return failed(st.error());
    json list = json::array();
    for (const auto& r : *rels) {
      list.push_back({{"name", r.name}, {"spec_digest", null_or(r.spec_digest)}, {"files", r.blobs.size()}});
    }
    return ok({{"releases", list},
               {"current", null_or(*cur)},
               {"previous", (*st)["previous"]},
               {"last_known_good", (*st)["last_known_good"]}});
  }
  if (sub == "remove") {
    Args a = parse(args, 1, kRoot, {});
    if (!a.error.empty()) return usage(cmd + " remove", a.error);
    if (a.pos.size() != 1) return usage(cmd + " remove", "want exactly one RELEASE");
    if (!layout_from(a, &l, &err)) return usage(cmd + " remove", err);
    if (auto st = check_release_name(a.pos[0]); !st.ok()) return usage(cmd + " remove", st.error().describe());
    auto r = remove_release(l, a.pos[0]);
    if (!r.ok()) return failed(r.error());
    return ok({{"release", a.pos[0]}, {"changed", *r}});
  }
  return usage(cmd, "unknown subcommand '" + sub + "'");
}

int cmd_switch(const std::vector<std::string>& args) {
  const std::string cmd = "switch";
  Args a = parse(args, 0, kRoot, {"--to-last-good", "--to-previous"});
  if (!a.error.empty()) return usage(cmd, a.error);
  std::string err;
  Layout l;
  if (!layout_from(a, &l, &err)) return usage(cmd, err);
  bool lkg = a.flags.count("--to-last-good") > 0, prev = a.flags.count("--to-previous") > 0;
  if (static_cast<int>(lkg) + static_cast<int>(prev) + static_cast<int>(a.pos.size()) != 1) {
    return usage(cmd, "want one of RELEASE, --to-last-good, --to-previous");
  }
  if (!a.pos.empty()) {
    if (auto st = check_release_name(a.pos[0]); !st.ok()) return usage(cmd, st.error().describe());
  }
  auto r = lkg ? switch_to_last_good(l) : prev ? switch_to_previous(l) : switch_release(l, a.pos[0]);
  if (!r.ok()) return failed(r.error());
  return ok({{"release", r->release}, {"previous", null_or(r->previous)}, {"changed", r->changed}});
}

int cmd_mark_good(const std::vector<std::string>& args) {
  const std::string cmd = "mark-good";
  Args a = parse(args, 0, kRoot, {});
  if (!a.error.empty()) return usage(cmd, a.error);
  if (a.pos.size() != 1) return usage(cmd, "want exactly one RELEASE");
  std::string err;
  Layout l;
  if (!layout_from(a, &l, &err)) return usage(cmd, err);
  if (auto st = check_release_name(a.pos[0]); !st.ok()) return usage(cmd, st.error().describe());
  auto r = mark_good(l, a.pos[0]);
  if (!r.ok()) return failed(r.error());
  return ok({{"last_known_good", a.pos[0]}, {"changed", *r}});
}

int cmd_state(const std::vector<std::string>& args) {
  const std::string cmd = "state";
  if (args.empty()) return usage(cmd, "get, set-step, check-step or record?");
  const std::string sub = args[0];
  Args a = parse(args, 1, kRoot, {});
  if (!a.error.empty()) return usage(cmd + " " + sub, a.error);
  std::string err;
  Layout l;
  if (!layout_from(a, &l, &err)) return usage(cmd + " " + sub, err);
  if (sub == "get") {
    if (!a.pos.empty()) return usage(cmd + " get", "no arguments");
    auto doc = load_state(l);
    if (!doc.ok()) return failed(doc.error());
    return ok({{"state", *doc}});
  }
  if (sub == "set-step" || sub == "check-step" || sub == "record") {
    if (a.pos.size() != 2) return usage(cmd + " " + sub, sub == "record" ? "want KEY JSON" : "want KEY DIGEST");
    const std::string& key = a.pos[0];
    if (auto st = check_step_key(key); !st.ok()) return usage(cmd + " " + sub, st.error().describe());
    if (sub == "set-step") {
      auto r = set_step(l, key, a.pos[1]);
      if (!r.ok()) return failed(r.error());
      return ok({{"key", key}, {"digest", a.pos[1]}, {"changed", *r}});
    }
    if (sub == "check-step") {
      std::string recorded;
      auto r = check_step(l, key, a.pos[1], &recorded);
      if (!r.ok()) return failed(r.error());
      return ok({{"key", key}, {"done", *r}, {"recorded", null_or(recorded)}});
    }
    std::string text = a.pos[1];
    if (text == "-") {
      auto in = read_stdin(kMaxRecordBytes + 1);
      if (!in.ok()) return failed(in.error());
      text = *in;
    }
    auto value = parse_json(text, "record value");
    if (!value.ok()) return usage(cmd + " record", value.error().describe());
    auto r = record_value(l, key, *value);
    if (!r.ok()) return failed(r.error());
    return ok({{"key", key}, {"changed", *r}});
  }
  return usage(cmd, "unknown subcommand '" + sub + "'");
}

bool parse_seconds(const std::string& s, int64_t* ms) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(v) || v < 0 || v > 86400) return false;
  *ms = static_cast<int64_t>(v * 1000);
  return true;
}

int cmd_health(const std::vector<std::string>& args) {
  const std::string cmd = "health";
  if (args.empty()) return usage(cmd, "tcp, http or exec?");
  const std::string sub = args[0];
  const std::string c = cmd + " " + sub;
  // --root-dir is accepted (and unused) so a caller can pass it to every subcommand alike.
  Args a = parse(args, 1, {"--deadline", "--interval", "--soak", "--expect-status", "--expect-body", "--root-dir"},
                 {});
  if (!a.error.empty()) return usage(c, a.error);
  HealthOptions o;
  if (a.values.count("--deadline") && !parse_seconds(a.values["--deadline"], &o.deadline_ms)) {
    return usage(c, "--deadline wants seconds 0..86400");
  }
  if (a.values.count("--soak") && !parse_seconds(a.values["--soak"], &o.soak_ms)) {
    return usage(c, "--soak wants seconds 0..86400");
  }
  if (a.values.count("--interval")) {
    const std::string& v = a.values["--interval"];
    char* end = nullptr;
    long ms = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || ms < 0 || ms > 3600000) return usage(c, "--interval wants milliseconds 0..3600000");
    o.interval_ms = ms;
  }
  if (sub != "http" && (a.values.count("--expect-status") || a.values.count("--expect-body"))) {
    return usage(c, "--expect-status and --expect-body are for health http");
  }
  auto report = [&](const HealthResult& r, json extra) {
    extra["attempts"] = r.attempts;
    extra["elapsed_ms"] = r.elapsed_ms;
    if (r.ok) return ok(std::move(extra));
    extra["ok"] = false;
    extra["error"] = c + " " + extra.value("target", "") + ": not healthy after " + std::to_string(r.attempts) +
                     " attempts in " + std::to_string(r.elapsed_ms) + " ms: " + r.last_error;
    extra["last_error"] = r.last_error;
    return emit(std::move(extra), 1);
  };
  if (sub == "tcp") {
    if (a.pos.size() != 1) return usage(c, "want HOST:PORT");
    auto ep = parse_endpoint(a.pos[0]);
    if (!ep.ok()) return usage(c, ep.error().describe());
    return report(health_tcp(*ep, o), {{"target", a.pos[0]}});
  }
  if (sub == "http") {
    if (a.pos.size() != 1) return usage(c, "want URL");
    auto t = parse_http_url(a.pos[0]);
    if (!t.ok()) return usage(c, t.error().describe());
    HttpExpect e;
    if (a.values.count("--expect-status")) {
      const std::string& v = a.values["--expect-status"];
      char* end = nullptr;
      long s = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || s < 100 || s > 599) return usage(c, "--expect-status wants 100..599");
      e.status = static_cast<int>(s);
    }
    if (a.values.count("--expect-body")) e.body_contains = a.values["--expect-body"];
    HealthResult r = health_http(*t, e, o);
    json extra = {{"target", a.pos[0]}};
    if (r.http_status) extra["status"] = r.http_status;
    return report(r, extra);
  }
  if (sub == "exec") {
    if (a.pos.empty()) return usage(c, "want -- CMD [ARG...]");
    HealthResult r = health_exec(a.pos, o);
    json extra = {{"target", a.pos[0]}};
    if (r.exit_code >= 0) extra["exit_code"] = r.exit_code;
    return report(r, extra);
  }
  return usage(cmd, "unknown subcommand '" + sub + "'");
}

}  // namespace

bool is_cli_command(std::string_view cmd) {
  return cmd == "store" || cmd == "release" || cmd == "switch" || cmd == "mark-good" || cmd == "state" ||
         cmd == "health" || cmd == "service";
}

int run_cli(const std::string& cmd, const std::vector<std::string>& args) {
  if (cmd == "store") return cmd_store(args);
  if (cmd == "release") return cmd_release(args);
  if (cmd == "switch") return cmd_switch(args);
  if (cmd == "mark-good") return cmd_mark_good(args);
  if (cmd == "state") return cmd_state(args);
  if (cmd == "health") return cmd_health(args);
  if (cmd == "service") return run_service_cli(args);
  return usage(cmd, "unknown command");
}

}  // namespace airlock::node
