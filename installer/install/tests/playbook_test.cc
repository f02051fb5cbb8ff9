// Playbook parsing: the full format, defaults, and errors with exact file:line:col.
#include "installer/install/playbook.h"

#include <gtest/gtest.h>

#include <map>

namespace airlock::install {
namespace {

const std::map<std::string, std::string> kSources = {
    {"templates/agent.conf", "manager: {{ roles.manager.first.address }}:8081\nname: {{ host.name }}\n"},
    {"templates/agent.service", "[Service]\nExecStart=/opt/airlock/current/bin/agent\n"},
    {"templates/bad.conf", "ok\nx: {{ host.name\n"},
};

Result<Playbook> parse(const std::string& text) {
  SourceReader reader = [](const std::string& rel) -> Result<std::string> {
    auto it = kSources.find(rel);
    if (it == kSources.end()) return make_error(Errc::kNotFound, "no such file");
    return it->second;
  };
  return parse_playbook(text, "pb.yaml", reader);
}

std::string error_of(const std::string& text) {
  auto r = parse(text);
  return r.ok() ? "(parsed)" : r.error().message;
}

TEST(Playbook, ParsesEveryAction) {
  auto pb = parse(R"(playbook: install
vars: {port: 8082}
phases:
  - name: agents
    hosts: [agent, "rack=1"]
    concurrency: 8
    max_fail: 10%
    stop_on_failure: false
    steps:
      - stage: {}
      - driver: {}
      - images: {target: runtime, runtime: docker}
      - files:
          - {component: agent, path: bin/agent}
      - template: {src: templates/agent.conf, dest: /etc/airlock/agent.conf}
      - switch:
      - service: {name: airlock-agent, unit: templates/agent.service, state: restarted}
      - health: {http: "http://{{ host.address }}:{{ vars.port }}/health", deadline: 30s, soak: 500ms}
      - command: {argv: [sh, -c, "echo hi"], timeout: 5m, creates: /var/lib/x}
      - remove: {paths: [/etc/airlock/old.conf]}
        when: vars.cleanup
)");
  ASSERT_TRUE(pb.ok()) << pb.error().describe();
  EXPECT_EQ(pb->name, "install");
  EXPECT_EQ(pb->release, "{{ bundle.name }}-{{ bundle.version }}");
  EXPECT_EQ(pb->vars, nlohmann::json({{"port", "8082"}}));
  ASSERT_EQ(pb->phases.size(), 1u);
  const Phase& p = pb->phases[0];
  EXPECT_EQ(p.hosts, (std::vector<std::string>{"agent", "rack=1"}));
  EXPECT_EQ(p.concurrency, 8);
  EXPECT_EQ(p.max_fail, "10%");
  EXPECT_FALSE(p.stop_on_failure);
  ASSERT_EQ(p.steps.size(), 10u);
  std::vector<std::string> actions;
  for (const auto& s : p.steps) actions.push_back(s.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"stage", "driver", "images", "files", "template", "switch", "service",
                                               "health", "command", "remove"}));
  EXPECT_EQ(p.steps[0].defined_at, "pb.yaml:10:9");
  EXPECT_EQ(p.steps[3].args["files"][0], nlohmann::json({{"component", "agent"}, {"path", "bin/agent"}, {"mode", ""}}));
  EXPECT_EQ(p.steps[4].args["mode"], "0644");
  ASSERT_TRUE(p.steps[4].source);
  EXPECT_EQ(p.steps[4].source->path, "templates/agent.conf");
  EXPECT_EQ(p.steps[4].source->compiled.paths(), (std::vector<std::string>{"roles.manager.first.address", "host.name"}));
  EXPECT_EQ(p.steps[6].args["enabled"], true);
  EXPECT_EQ(p.steps[7].args["deadline_ms"], 30000);
  EXPECT_EQ(p.steps[7].args["soak_ms"], 500);
  EXPECT_EQ(p.steps[7].args["interval_ms"], 500);
  EXPECT_EQ(p.steps[7].args["expect_status"], 200);
  EXPECT_EQ(p.steps[8].args["timeout_ms"], 300000);
  EXPECT_EQ(p.steps[9].when, "vars.cleanup");
}

TEST(Playbook, Defaults) {
  auto pb = parse("playbook: x\nphases:\n  - {name: a, hosts: all, steps: [{switch: {}}]}\n");
  ASSERT_TRUE(pb.ok()) << pb.error().describe();
  EXPECT_EQ(pb->phases[0].hosts, std::vector<std::string>{"all"});
  EXPECT_EQ(pb->phases[0].concurrency, 64);
  EXPECT_EQ(pb->phases[0].max_fail, "0");
  EXPECT_TRUE(pb->phases[0].stop_on_failure);
}

TEST(Playbook, ErrorsArePositioned) {
  const std::string head = "playbook: x\nphases:\n  - name: a\n    hosts: [all]\n    steps:\n";
  struct Case {
    std::string steps, want;
  };
  std::vector<Case> cases = {
      {"      - reboot: {}\n",
       "pb.yaml:6:9: unknown action (expected one of stage, driver, images, files, template, switch, service, "
       "health, command, remove): `reboot`"},
      {"      - switch: {}\n        stage: {}\n", "pb.yaml:7:9: a step names one action; found a second: `stage`"},
      {"      - template: {src: templates/agent.conf, dest: /etc/a, owner: root}\n",
       "pb.yaml:6:61: unknown key in template (expected one of dest, mode, src): `owner`"},
      {"      - template: {src: templates/missing.conf, dest: /etc/a}\n",
       "pb.yaml:6:25: template.src: cannot read templates/missing.conf: no such file: `templates/missing.conf`"},
      {"      - template: {src: templates/bad.conf, dest: /etc/a}\n",
       "pb.yaml:6:25: template.src: templates/bad.conf:2:4: `{{` without `}}` on the same line: `{{ host.name`: "
       "`templates/bad.conf`"},
      {"      - template: {src: templates/agent.conf, dest: etc/a}\n",
       "pb.yaml:6:53: template.dest must be an absolute file path: `etc/a`"},
      {"      - health: {http: \"http://x/\", deadline: 30 s}\n",
       "pb.yaml:6:47: health.deadline must be a duration such as 500ms, 30s or 5m: `30 s`"},
      {"      - health: {tcp: \"x:1\", http: \"http://x/\"}\n",
       "pb.yaml:6:17: health needs exactly one of http, tcp or exec: `- health: {tcp: \"x:1\", http: \"http://x/\"}`"},
      {"      - files:\n          - {component: a, path: /bin/a}\n",
       "pb.yaml:7:34: files.path must be a relative path inside the release (no .., no leading /): `/bin/a`"},
      {"      - files:\n          - {component: a, path: ../a}\n",
       "pb.yaml:7:34: files.path must be a relative path inside the release (no .., no leading /): `../a`"},
      {"      - service: {name: a, state: running}\n",
       "pb.yaml:6:35: service.state must be started, restarted, stopped or absent: `running`"},
      {"      - images: {target: runtime, runtime: lxc}\n",
       "pb.yaml:6:44: images.runtime must be docker, containerd or podman: `lxc`"},
      {"      - command: {argv: sh -c true}\n",
       "pb.yaml:6:25: command.argv must be a list like [sh, -c, \"...\"]: `sh -c true`"},
      {"      - remove: {paths: [/etc]}\n",
       "pb.yaml:6:26: remove.paths: each must be an absolute path at least two levels deep: `/etc`"},
      {"      - stage: {all: true}\n", "pb.yaml:6:16: stage takes no arguments (write `stage: {}`): `- stage: {all: true}`"},
      {"      - health: {http: \"http://{{ host.address\"}\n",
       "pb.yaml:6:24: health.http: `{{` without `}}` on the same line: `{{ host.address`: "
       "`http://{{ host.address`"},
  };
  for (const auto& c : cases) EXPECT_EQ(error_of(head + c.steps), c.want) << c.steps;
}

TEST(Playbook, PhaseAndTopLevelErrors) {
  EXPECT_EQ(error_of("playbook: x\nphase: []\n"),
            "pb.yaml:2:1: unknown key in the playbook (expected one of phases, playbook, release, vars): `phase`");
  EXPECT_EQ(error_of("playbook: x\nphases: []\n"), "pb.yaml:2:9: phases must be a non-empty list: `phases: []`");
  EXPECT_EQ(error_of("playbook: x\nphases:\n  - {name: a, hosts: all, concurrency: 0, steps: [{switch: {}}]}\n"),
            "pb.yaml:3:40: concurrency must be a whole number from 1 to 100000: `0`");
  EXPECT_EQ(error_of("playbook: x\nphases:\n  - {name: a, hosts: all, max_fail: 120%, steps: [{switch: {}}]}\n"),
            "pb.yaml:3:37: max_fail must be a count like 2 or a percentage like 10%: `120%`");
  EXPECT_EQ(error_of("playbook: x\nphases:\n  - {name: a, hosts: all, steps: [{switch: {}}]}\n"
                     "  - {name: a, hosts: all, steps: [{switch: {}}]}\n"),
            "pb.yaml:4:12: phase name used twice: `a`");
  EXPECT_EQ(error_of("playbook: x\nphases:\n  - {name: a, steps: [{switch: {}}]}\n"),
            "pb.yaml:3:5: phase a: missing key hosts (roles, groups, labels or all): `- {name: a, steps: [{switch: {}}]}`");
  EXPECT_EQ(error_of("playbook: x\nphases: [\n"), "pb.yaml:3:1: YAML syntax: end of sequence flow not found: `phases: [`");
}

}  // namespace
}  // namespace airlock::install
