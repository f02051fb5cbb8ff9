// The install plan: a pure function of (playbook, inventory, facts per node, bundle manifest).
// `airlock install --plan` prints it; the engine (engine.h) applies it step by step, journaling
// each (run, node, step, digest). A step's digest covers everything that decides what it does
// on the node (rendered content, blob digests, unit text...), so a step whose digest the node
// already recorded is skipped: re-running the same install changes nothing.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bundle/manifest.h"
#include "common/result.h"
#include "installer/inventory/inventory.h"

namespace airlock::install {

// One blob a node needs in its content store (/var/lib/airlock/blobs/sha256/<hex>), always the
// uncompressed content: `digest` is the content digest (Component::content when the bundle
// compressed it, else the blob digest).
struct BlobNeed {
  std::string digest;     // "sha256:<hex>" of the content the node stores
  uint64_t size = 0;
  std::string component;  // which component it belongs to (for messages and byte counts)
};

// A resolved step for one node. `params` by action (all values already rendered):
//   stage:    {"blobs":[{"digest","size","component"}...]}   every blob the node's files, driver and
//             images(runtime) steps use, in all phases (each once, in order of first use)
//   driver:   {"component","version","blob","size","method":"script|dpkg","reboot_hint":bool,"note"?}
//             or {"skip_reason":"..."} when no layer applies (the step is then a no-op); when the
//             version is already loaded also "component","version" beside "skip_reason"
//   images:   {"images":[{"component","ref","target":"registry|runtime","runtime":"docker|containerd|podman",
//              "digest","media_type","size"}]}   (the image's root manifest/index; "runtime" only with target runtime)
//             target runtime: also "runtime", and "namespace" for containerd; the image blobs are staged for it
//             target registry: also "registry":"HOST:PORT","insecure":bool, and "prefix","ca","user","password_file"
//             when given (act_images.h: pushed once per run from the installer host)
//   files:    {"release":R,"files":[{"path":"bin/agent","blob":"sha256:..","size":N,"mode":"0755","component"}]}
//   template: {"dest":"/etc/airlock/agent.conf","content":"...","mode":"0644"}
//   service:  {"name":"airlock-agent","unit"?:"<unit file text>","state":"started|restarted|stopped|absent",
//              "enabled":bool,"after":[digests]}   absent = stop, disable, remove the unit, daemon-reload;
//              no "unit": the unit is already on the node
//   health:   {"kind":"tcp|http|exec","target":"10.0.0.5:8080" | url | argv,"expect_status":200 (http only),
//              "deadline_s":60,"soak_s":5,"interval_ms":500,"after":[digests]}  (seconds may be fractional)
//   switch:   {"release":R}
//   command:  {"argv":[...],"timeout_s":600,"creates"?:"/path (skip when it exists)"}
//   remove:   {"paths":["/etc/airlock/agent.conf",...]}   rm -rf each (absolute, two levels deep at least)
// "after" (service, health): the digests of the node's earlier steps in the same phase; it only
// feeds the digest, so a changed config/binary re-runs the restart and the health gate.
struct PlanStep {
  std::string id;       // stable: "<phase>.<index>.<action>", e.g. "agents.2.template"
  std::string action;
  std::string digest;   // "sha256:<hex>" of the canonical JSON of {action, params}
  nlohmann::json params;
  std::string defined_at;  // "playbook.yaml:LINE:COL" of the step, for messages
};

struct PhasePlan {
  std::string name;
  std::vector<std::string> nodes;     // in inventory order
  int concurrency = 64;               // nodes of this phase worked on at once
  std::string max_fail = "0";         // "N" or "P%": the phase stops when failures EXCEED it
  bool stop_on_failure = false;       // true: a failure in this phase stops the whole run
  // `rolling: true` in the playbook: `airlock upgrade`/`rollback` schedule this phase with the
  // rollout scheduler (rollout.h; canary, batches, one max_unavailable budget) instead of
  // concurrency/max_fail; `airlock install` runs it like any other phase.
  bool rolling = false;
  std::map<std::string, std::vector<PlanStep>> steps;  // node -> its steps, in order
};

struct Plan {
  std::string playbook;               // playbook name
  std::string release;                // release directory name, e.g. "site-42" (bundle name + version)
  std::string bundle_name;
  uint64_t bundle_version = 0;
  std::string bundle_release;         // the human label
  std::vector<PhasePlan> phases;
  std::map<std::string, std::vector<BlobNeed>> blobs;  // node -> blobs it needs (union over steps)

  nlohmann::json to_json() const;     // stable (sorted keys), for --plan --json and snapshot tests
  std::string render_text() const;    // the human form of --plan: per phase, per node, one line per step
};

}  // namespace airlock::install
