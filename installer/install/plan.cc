// Plan::to_json and Plan::render_text (plan.h): the stable forms of a plan, for
// `airlock install --plan [--json]` and the snapshot tests.
#include "installer/install/plan.h"

#include <cstdio>

#include "common/encoding.h"

namespace airlock::install {
namespace {

std::string text_of(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string joined(const nlohmann::json& list, const char* sep) {
  std::string out;
  for (const auto& e : list) out += (out.empty() ? "" : sep) + text_of(e);
  return out;
}

// One short phrase per step for the human plan.
std::string summary(const PlanStep& s) {
  const nlohmann::json& p = s.params;
  const std::string& a = s.action;
  if (a == "stage") {
    uint64_t total = 0;
    for (const auto& b : p["blobs"]) total += b["size"].get<uint64_t>();
    return std::to_string(p["blobs"].size()) + " blobs, " + human_bytes(total);
  }
  if (a == "driver") {
    if (p.contains("skip_reason")) return "skip: " + text_of(p["skip_reason"]);
    std::string out = text_of(p["component"]) + " " + text_of(p["version"]) + " (" + text_of(p["method"]) + ")";
    if (p.value("reboot_hint", false)) out += ", reboot needed";
    return out;
  }
  if (a == "images") {
    std::string target = "registry " + text_of(p.value("registry", nlohmann::json("")));
    if (!p["images"].empty() && p["images"][0]["target"] == "runtime") target = text_of(p["images"][0]["runtime"]);
    return std::to_string(p["images"].size()) + " images -> " + target;
  }
  if (a == "files") {
    std::string out;
    for (const auto& f : p["files"]) out += (out.empty() ? "" : ", ") + text_of(f["path"]);
    return out + " -> releases/" + text_of(p["release"]);
  }
  if (a == "template") return text_of(p["dest"]) + " (" + std::to_string(p["content"].get<std::string>().size()) + " bytes)";
  if (a == "service") return text_of(p["name"]) + " " + text_of(p["state"]) + (p["enabled"].get<bool>() ? ", enabled" : "");
  if (a == "health") {
    std::string target = p["target"].is_array() ? joined(p["target"], " ") : text_of(p["target"]);
    return text_of(p["kind"]) + " " + target + " (deadline " + text_of(p["deadline_s"]) + "s, soak " +
           text_of(p["soak_s"]) + "s)";
  }
  if (a == "switch") {
    if (!p.contains("to")) return "current -> releases/" + text_of(p["release"]);
    std::string to = text_of(p["to"]);
    return to == "last-good" || to == "previous" ? "current -> the " + to + " release" : "current -> releases/" + to + " (back)";
  }
  if (a == "command") return joined(p["argv"], " ") + (p.contains("creates") ? " (unless " + text_of(p["creates"]) + ")" : "");
  if (a == "remove") return joined(p["paths"], " ");
  return "";
}

}  // namespace

nlohmann::json Plan::to_json() const {
  nlohmann::json j;
  j["playbook"] = playbook;
  j["release"] = release;
  j["bundle"] = {{"name", bundle_name}, {"version", bundle_version}, {"release", bundle_release}};
  j["phases"] = nlohmann::json::array();
  for (const auto& ph : phases) {
    nlohmann::json p = {{"name", ph.name},
                        {"nodes", ph.nodes},
                        {"concurrency", ph.concurrency},
                        {"max_fail", ph.max_fail},
                        {"stop_on_failure", ph.stop_on_failure}};
    if (ph.rolling) p["rolling"] = true;  // only when set: install plans stay as they were
    p["steps"] = nlohmann::json::object();
    for (const auto& [node, steps] : ph.steps) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& s : steps) {
        list.push_back({{"id", s.id}, {"action", s.action}, {"digest", s.digest}, {"params", s.params},
                        {"defined_at", s.defined_at}});
      }
      p["steps"][node] = std::move(list);
    }
    j["phases"].push_back(std::move(p));
  }
  j["blobs"] = nlohmann::json::object();
  for (const auto& [node, needs] : blobs) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& b : needs) list.push_back({{"digest", b.digest}, {"size", b.size}, {"component", b.component}});
    j["blobs"][node] = std::move(list);
  }
  return j;
}

std::string Plan::render_text() const {
  std::string out = "plan " + playbook + ": bundle " + bundle_name + " version " + std::to_string(bundle_version);
  if (!bundle_release.empty()) out += " (" + bundle_release + ")";
  out += ", release " + release + "\n";
  for (const auto& ph : phases) {
    out += "\nphase " + ph.name + ": " + std::to_string(ph.nodes.size()) + " nodes, concurrency " +
           std::to_string(ph.concurrency) + ", max_fail " + ph.max_fail +
           (ph.stop_on_failure ? ", a failure stops the run" : ", failures do not stop the run") +
           (ph.rolling ? "; rolling under upgrade/rollback (canary, batches, max_unavailable)" : "") + "\n";
    for (const auto& node : ph.nodes) {
      out += "  " + node + "\n";
      auto it = ph.steps.find(node);
      if (it == ph.steps.end()) continue;
      for (const auto& s : it->second) {
        std::string id = s.id;
        if (id.size() < 24) id.resize(24, ' ');
        std::string shortd = s.digest.size() > 19 ? s.digest.substr(7, 12) : s.digest;
        out += "    " + id + " " + shortd + "  " + summary(s) + "\n";
      }
    }
  }
  if (!blobs.empty()) {
    out += "\nblobs per node:\n";
    for (const auto& [node, needs] : blobs) {
      uint64_t total = 0;
      for (const auto& b : needs) total += b.size;
      out += "  " + node + ": " + std::to_string(needs.size()) + " blobs, " + human_bytes(total) + "\n";
    }
  }
  return out;
}

}  // namespace airlock::install
