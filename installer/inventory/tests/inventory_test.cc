// The inventory loader: the documented example, merge order, ranges, paths, every error with
// its exact "file:line:col: message: `text`", and host selection (-g/-w).
#include "installer/inventory/inventory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace airlock::inventory {
namespace {

const char* kFile = "/site/inv.yaml";
const char* kKey1 = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
const char* kKey2 = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU";

// The example of docs/inventory.md, cut down.
const char* kExample = R"(ssh:
  known_hosts: known_hosts
  connect_timeout: 5
  command_timeout: 900
  max_startups: 20
defaults:
  user: ops
  sudo: true
  identity_file: keys/id_ed25519
  bastion: jump1
  vars: {net: {mtu: 9000, vlan: 10}, tz: UTC}
  labels: {site: seoul}
bastions:
  jump1:
    address: 10.0.0.2
    port: 2200
    host_key: "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
    max_startups: 4
groups:
  gpu: {roles: [agent], labels: {gpu: h100}, vars: {net: {mtu: 4000}}}
  rack1: {labels: {rack: "1", gpu: a100}, port: 2222}
hosts:
  mgr1: {address: 10.0.0.10, roles: [manager, scheduler], bastion: ""}
  gpu[001-004]:
    address: 10.0.1.[1-4]
    groups: [gpu, rack1]
    roles: [storage, agent]
    vars: {net: {vlan: 20}, gpus: 8, debug: false, note: "007"}
    host_key: [SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s, SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU]
  installer: {local: true, roles: [registry]}
)";

Inventory parse_ok(const std::string& yaml) {
  auto r = parse_inventory(yaml, kFile);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  return r.ok() ? std::move(r).value() : Inventory{};
}

std::string names(const std::vector<const Host*>& hosts) {
  std::string s;
  for (const Host* h : hosts) s += (s.empty() ? "" : " ") + h->name;
  return s;
}

TEST(Inventory, Example) {
  Inventory inv = parse_ok(kExample);
  EXPECT_EQ(inv.path, kFile);
  EXPECT_EQ(inv.known_hosts_file, "/site/known_hosts");
  EXPECT_EQ(inv.connect_timeout_s, 5);
  EXPECT_EQ(inv.command_timeout_s, 900);
  EXPECT_EQ(inv.max_startups, 20);
  ASSERT_EQ(inv.hosts.size(), 6u);
  EXPECT_EQ(names(*inv.select({}, "")), "mgr1 gpu001 gpu002 gpu003 gpu004 installer");

  const Bastion& b = inv.bastions.at("jump1");
  EXPECT_EQ(b.address, "10.0.0.2");
  EXPECT_EQ(b.port, 2200);
  EXPECT_EQ(b.user, "ops");  // from defaults
  EXPECT_EQ(b.identity_file, "/site/keys/id_ed25519");
  EXPECT_EQ(b.host_key_fingerprints, std::vector<std::string>{kKey1});
  EXPECT_EQ(b.max_startups, 4);

  const Host& mgr = inv.hosts[0];
  EXPECT_EQ(mgr.address, "10.0.0.10");
  EXPECT_EQ(mgr.port, 22);
  EXPECT_EQ(mgr.user, "ops");
  EXPECT_TRUE(mgr.sudo);
  EXPECT_EQ(mgr.bastion, "");  // "" overrides the default bastion
  EXPECT_EQ(mgr.roles, (std::vector<std::string>{"manager", "scheduler"}));
  EXPECT_EQ(mgr.labels, (std::map<std::string, std::string>{{"site", "seoul"}}));
  EXPECT_EQ(mgr.identity_file, "/site/keys/id_ed25519");
  EXPECT_TRUE(mgr.host_key_fingerprints.empty());
  EXPECT_EQ(mgr.defined_at, "/site/inv.yaml:23:3");

  const Host& g3 = inv.hosts[3];
  EXPECT_EQ(g3.name, "gpu003");
  EXPECT_EQ(g3.address, "10.0.1.3");
  EXPECT_EQ(g3.port, 2222);  // from group rack1
  EXPECT_EQ(g3.bastion, "jump1");
  EXPECT_EQ(g3.groups, (std::vector<std::string>{"gpu", "rack1"}));
  EXPECT_EQ(g3.roles, (std::vector<std::string>{"agent", "storage"}));  // union, first seen first
  EXPECT_EQ(g3.labels, (std::map<std::string, std::string>{{"gpu", "a100"}, {"rack", "1"}, {"site", "seoul"}}));
  EXPECT_EQ(g3.vars, nlohmann::json::parse(
                         R"({"net": {"mtu": 4000, "vlan": 20}, "tz": "UTC", "gpus": 8, "debug": false, "note": "007"})"));
  EXPECT_EQ(g3.host_key_fingerprints, (std::vector<std::string>{kKey1, kKey2}));
  EXPECT_EQ(g3.defined_at, "/site/inv.yaml:24:3");

  const Host& local = inv.hosts[5];
  EXPECT_TRUE(local.local);
  EXPECT_EQ(local.address, "");
  EXPECT_EQ(local.bastion, "");  // a local host never goes through a bastion
  EXPECT_EQ(local.roles, std::vector<std::string>{"registry"});

  EXPECT_EQ(inv.groups.at("gpu"), (std::vector<std::string>{"gpu001", "gpu002", "gpu003", "gpu004"}));
  EXPECT_EQ(inv.groups.at("rack1").size(), 4u);
  ASSERT_NE(inv.find("gpu002"), nullptr);
  EXPECT_EQ(inv.find("gpu002")->address, "10.0.1.2");
  EXPECT_EQ(inv.find("gpu005"), nullptr);
}

TEST(Inventory, MergeOrderIsDefaultsThenGroupsInTheHostsOrderThenHost) {
  Inventory inv = parse_ok(R"(defaults: {port: 1, user: a, labels: {x: d}, vars: {v: {a: 1, b: 1}}}
groups:
  g1: {port: 2, labels: {x: g1}, vars: {v: {b: 2, c: 2}}}
  g2: {port: 3, user: b, labels: {x: g2}, vars: {v: [list]}}
hosts:
  h12: {address: a, groups: [g1, g2]}
  h21: {address: a, groups: [g2, g1]}
  own: {address: a, groups: [g1], port: 4, labels: {x: own}, vars: {v: {a: 9}}}
  plain: {address: a}
)");
  ASSERT_EQ(inv.hosts.size(), 4u);
  EXPECT_EQ(inv.hosts[0].port, 3);
  EXPECT_EQ(inv.hosts[0].user, "b");
  EXPECT_EQ(inv.hosts[0].labels.at("x"), "g2");
  EXPECT_EQ(inv.hosts[0].vars, nlohmann::json::parse(R"({"v": ["list"]})"));  // not an object: replaced
  EXPECT_EQ(inv.hosts[1].port, 2);
  EXPECT_EQ(inv.hosts[1].labels.at("x"), "g1");
  EXPECT_EQ(inv.hosts[1].vars, nlohmann::json::parse(R"({"v": {"b": 2, "c": 2}})"));
  EXPECT_EQ(inv.hosts[2].port, 4);
  EXPECT_EQ(inv.hosts[2].labels.at("x"), "own");
  EXPECT_EQ(inv.hosts[2].vars, nlohmann::json::parse(R"({"v": {"a": 9, "b": 2, "c": 2}})"));
  EXPECT_EQ(inv.hosts[3].port, 1);
  EXPECT_EQ(inv.hosts[3].user, "a");
  EXPECT_EQ(inv.hosts[3].vars, nlohmann::json::parse(R"({"v": {"a": 1, "b": 1}})"));
  EXPECT_TRUE(inv.hosts[3].groups.empty());
}

TEST(Inventory, BuiltInDefaults) {
  ::setenv("HOME", "/home/tester", 1);
  Inventory inv = parse_ok("hosts:\n  a: {address: 10.0.0.1, host_key: SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s}\n");
  EXPECT_EQ(inv.known_hosts_file, "/home/tester/.ssh/known_hosts");
  EXPECT_EQ(inv.connect_timeout_s, 10);
  EXPECT_EQ(inv.command_timeout_s, 600);
  EXPECT_EQ(inv.max_startups, 10);
  const Host& h = inv.hosts.at(0);
  EXPECT_EQ(h.user, "root");
  EXPECT_EQ(h.port, 22);
  EXPECT_EQ(h.identity_file, "");
  EXPECT_FALSE(h.sudo);
  EXPECT_FALSE(h.local);
  EXPECT_EQ(h.vars, nlohmann::json::object());
  EXPECT_EQ(h.host_key_fingerprints, std::vector<std::string>{kKey1});  // a single string is a list of one
}

TEST(Inventory, Paths) {
  ::setenv("HOME", "/home/tester", 1);
  Inventory inv = parse_ok(R"(ssh: {known_hosts: ~/kh}
hosts:
  rel: {address: a, identity_file: ../keys/./k}
  abs: {address: a, identity_file: /etc/k}
  home: {address: a, identity_file: ~/.ssh/id}
  none: {address: a, identity_file: ""}
)");
  EXPECT_EQ(inv.known_hosts_file, "/home/tester/kh");
  EXPECT_EQ(inv.hosts[0].identity_file, "/keys/k");
  EXPECT_EQ(inv.hosts[1].identity_file, "/etc/k");
  EXPECT_EQ(inv.hosts[2].identity_file, "/home/tester/.ssh/id");
  EXPECT_EQ(inv.hosts[3].identity_file, "");
}

TEST(Inventory, PrefixOfTheLocalHostIsTakenFromTheInventoryFolder) {
  Inventory inv = parse_ok("hosts:\n  me: {local: true, vars: {airlock_prefix: ./demo/root}}\n"
                           "  n1: {address: a, vars: {airlock_prefix: /srv/airlock}}\n");
  EXPECT_EQ(inv.hosts[0].vars["airlock_prefix"], "/site/demo/root");
  EXPECT_EQ(inv.hosts[1].vars["airlock_prefix"], "/srv/airlock");
  auto r = parse_inventory("hosts:\n  n1: {address: a, vars: {airlock_prefix: demo}}\n", kFile);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().describe(),
            "/site/inv.yaml:2:3: host n1: airlock_prefix of a remote host must be an absolute path, not demo: `n1`");
}

TEST(Inventory, Ranges) {
  Inventory inv = parse_ok(R"(hosts:
  "n[1-9/4]": {address: "192.168.0.[10-30/10]"}
  "rack[1,3]-n[01-02]": {address: "10.[1,3].0.[1-2]"}
  dns[1-2]:
    address: dns[1-2].site.example
  one: {address: one.site.example}
)");
  std::vector<std::string> want = {"n1 192.168.0.10", "n5 192.168.0.20", "n9 192.168.0.30",
                                   "rack1-n01 10.1.0.1", "rack1-n02 10.1.0.2", "rack3-n01 10.3.0.1",
                                   "rack3-n02 10.3.0.2", "dns1 dns1.site.example", "dns2 dns2.site.example",
                                   "one one.site.example"};
  std::vector<std::string> got;
  for (const auto& h : inv.hosts) got.push_back(h.name + " " + h.address);
  EXPECT_EQ(got, want);
  EXPECT_EQ(inv.hosts[3].defined_at, "/site/inv.yaml:3:3");
}

TEST(Inventory, Errors) {
  struct Case {
    const char* yaml;
    const char* message;
  } cases[] = {
      {"hosts:\n  a: {address: [1\n",
       "/site/inv.yaml:3:1: YAML syntax: end of sequence flow not found: `a: {address: [1`"},
      {"- a\n",
       "/site/inv.yaml:1:1: an inventory is a mapping with 'hosts' (and optionally ssh, defaults, bastions, groups): `- a`"},
      {"hostz:\n  a: {address: x}\n",
       "/site/inv.yaml:1:1: unknown key in the inventory (expected one of ssh, defaults, bastions, groups, hosts): "
       "`hostz`"},
      {"ssh: {connect_timeout: 5}\n", "/site/inv.yaml:1:1: the inventory has no 'hosts': `ssh: {connect_timeout: 5}`"},
      {"hosts: {}\n",
       "/site/inv.yaml:1:8: hosts must be a mapping of host names (or ranges such as gpu[001-128]) to settings: "
       "`hosts: {}`"},
      {"hosts:\n  a: {adress: x}\n",
       "/site/inv.yaml:2:7: unknown key in host a (expected one of address, bastion, groups, host_key, identity_file, "
       "labels, local, port, roles, sudo, user, vars): `adress`"},
      {"hosts:\n  a:\n    address: 1\n    address: 2\n",
       "/site/inv.yaml:4:5: host a: key given twice (first at /site/inv.yaml:3:5): `address`"},
      {"hosts:\n  a: {address: x, port: 0}\n",
       "/site/inv.yaml:2:25: host a: port must be a whole number from 1 to 65535: `0`"},
      {"hosts:\n  a: {address: x, port: 22x}\n",
       "/site/inv.yaml:2:25: host a: port must be a whole number from 1 to 65535: `22x`"},
      {"hosts:\n  a: {address: x, sudo: yes}\n", "/site/inv.yaml:2:25: host a: sudo must be true or false: `yes`"},
      {"hosts:\n  a: {address: [x]}\n", "/site/inv.yaml:2:16: host a: address must be a text value: `a: {address: [x]}`"},
      {"hosts:\n  \"gpu[3-1]\": {address: x}\n",
       "/site/inv.yaml:2:8: host name: range end 1 is below its start 3: `gpu[3-1]`"},
      {"hosts:\n  gpu[1-3: {address: x}\n", "/site/inv.yaml:2:6: host name: '[' is not closed: `gpu[1-3`"},
      {"hosts:\n  gpu[1-x]: {address: x}\n",
       "/site/inv.yaml:2:7: host name: range '1-x' is not numeric (expected N, N-M or N-M/STEP): `gpu[1-x]`"},
      {"hosts:\n  gpu[1-3]: {address: \"10.0.0.[1-2]\"}\n",
       "/site/inv.yaml:2:23: host gpu[1-3]: 3 names but 2 addresses (give an address range of the same size): "
       "`10.0.0.[1-2]`"},
      {"hosts:\n  gpu[1-3]: {address: 10.0.0.1}\n",
       "/site/inv.yaml:2:23: host gpu[1-3]: 3 names but 1 address (give an address range of the same size): "
       "`10.0.0.1`"},
      {"hosts:\n  a: {address: \"10.0.0.[1-\"}\n", "/site/inv.yaml:2:24: host a: address: '[' is not closed: `10.0.0.[1-`"},
      {"hosts:\n  a:\n    port: 22\n", "/site/inv.yaml:2:3: host a has neither an address nor local: true: `a`"},
      {"hosts:\n  a:\n", "/site/inv.yaml:2:3: host a has neither an address nor local: true: `a`"},
      {"hosts:\n  a: {local: true, address: 1}\n", "/site/inv.yaml:2:29: host a: a local host takes no address: `1`"},
      {"hosts:\n  a: {local: true}\n  b: {local: true}\n",
       "/site/inv.yaml:3:3: host b: only one host can be local (the first is at /site/inv.yaml:2:3): `b`"},
      {"hosts:\n  n[1-2]: {local: true}\n",
       "/site/inv.yaml:2:3: host n[1-2]: local: true is the installer's own machine, one host, not 2: `n[1-2]`"},
      {"hosts:\n  a: {local: true, bastion: j}\nbastions: {j: {address: x}}\n",
       "/site/inv.yaml:2:29: host a: a local host is not reached through a bastion: `j`"},
      {"hosts:\n  a: {address: 1, bastion: j}\n",
       "/site/inv.yaml:2:28: host a: bastion 'j' is not declared under bastions (there are none): `j`"},
      {"defaults: {bastion: jump2}\nbastions: {jump1: {address: x}}\nhosts:\n  a: {address: 1}\n",
       "/site/inv.yaml:1:21: defaults: bastion 'jump2' is not declared under bastions (declared: jump1): `jump2`"},
      {"defaults: {address: x}\nhosts:\n  a: {address: 1}\n",
       "/site/inv.yaml:1:12: unknown key in defaults (expected one of user, port, identity_file, bastion, sudo, roles, "
       "labels, vars): `address`"},
      {"groups: {gpu: {role: agent}}\nhosts:\n  a: {address: 1}\n",
       "/site/inv.yaml:1:16: unknown key in group gpu (expected one of user, port, identity_file, bastion, sudo, roles, "
       "labels, vars): `role`"},
      {"groups: {gpu: {}}\nhosts:\n  a: {address: 1, groups: [gpu, gpux]}\n",
       "/site/inv.yaml:3:33: host a: group 'gpux' is not declared under groups (declared: gpu): `gpux`"},
      {"hosts:\n  a: {address: 1, host_key: \"SHA256:abc\"}\n",
       "/site/inv.yaml:2:29: host a: a host key fingerprint is SHA256: and 43 base64 characters, as ssh-keygen -lf "
       "prints it: `SHA256:abc`"},
      {"hosts:\n  a: {address: 1, host_key: [SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s, "
       "MD5:00:11]}\n",
       "/site/inv.yaml:2:82: host a: a host key fingerprint is SHA256: and 43 base64 characters, as ssh-keygen -lf "
       "prints it: `MD5:00:11`"},
      {"hosts:\n  a: {address: 1, host_key: SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s=}\n",
       "/site/inv.yaml:2:29: host a: a host key fingerprint is SHA256: and 43 base64 characters, as ssh-keygen -lf "
       "prints it: `SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s=`"},
      {"hosts:\n  \"n[1-3]\": {address: \"1.1.1.[1-3]\"}\n  n2: {address: x}\n",
       "/site/inv.yaml:3:3: host n2 is defined twice (first at /site/inv.yaml:2:3): `n2`"},
      {"hosts:\n  n[1-3]: {address: \"1.1.1.[1-3]\"}\n  n[3-4]: {address: \"1.1.1.[3-4]\"}\n",
       "/site/inv.yaml:3:3: host n3 is defined twice (first at /site/inv.yaml:2:3): `n[3-4]`"},
      {"hosts:\n  a: {address: 1, identity_file: ~bob/k}\n",
       "/site/inv.yaml:2:34: host a: identity_file: ~user paths are not supported, write the full path: `~bob/k`"},
      {"hosts:\n  a: {address: 1, vars: [1]}\n", "/site/inv.yaml:2:25: host a: vars must be a mapping: `a: {address: 1, vars: [1]}`"},
      {"hosts:\n  a: {address: 1, roles: [agent, \"big node\"]}\n",
       "/site/inv.yaml:2:34: host a: a role is one word (no spaces, commas or '='): `big node`"},
      {"hosts:\n  a: {address: 1, labels: {a=b: c}}\n",
       "/site/inv.yaml:2:28: host a: a label name is one word (no spaces, commas or '='): `a=b`"},
      {"hosts:\n  a: {address: 1, user: \"\"}\n", "/site/inv.yaml:2:25: host a: user must not be empty: `a: {address: 1, user: \"\"}`"},
      {"bastions:\n  j: {port: 22}\nhosts:\n  a: {address: 1}\n", "/site/inv.yaml:2:3: bastion j has no address: `j`"},
      {"bastions:\n  j: {address: x, hostkey: y}\nhosts:\n  a: {address: 1}\n",
       "/site/inv.yaml:2:19: unknown key in bastion j (expected one of address, port, user, identity_file, host_key, "
       "max_startups): `hostkey`"},
      {"ssh: {connect_timeout: 0}\nhosts:\n  a: {address: 1}\n",
       "/site/inv.yaml:1:24: ssh: connect_timeout must be a whole number from 1 to 3600: `0`"},
      {"ssh: {knownhosts: x}\nhosts:\n  a: {address: 1}\n",
       "/site/inv.yaml:1:7: unknown key in ssh (expected one of known_hosts, connect_timeout, command_timeout, "
       "max_startups): `knownhosts`"},
  };
  for (const auto& c : cases) {
    auto r = parse_inventory(c.yaml, kFile);
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_EQ(r.error().code, Errc::kParse) << c.yaml;
    EXPECT_EQ(r.error().describe(), c.message) << c.yaml;
  }
}

TEST(Inventory, Select) {
  Inventory inv = parse_ok(kExample);
  auto all = inv.select({}, "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 6u);
  struct Case {
    std::vector<std::string> g;
    const char* w;
    const char* hosts;
  } cases[] = {
      {{"agent"}, "", "gpu001 gpu002 gpu003 gpu004"},                     // role
      {{"manager", "registry"}, "", "mgr1 installer"},                    // any of them
      {{"rack1"}, "", "gpu001 gpu002 gpu003 gpu004"},                     // group
      {{"site=seoul"}, "", "mgr1 gpu001 gpu002 gpu003 gpu004 installer"},  // label
      {{"gpu=a100"}, "", "gpu001 gpu002 gpu003 gpu004"},
      {{}, "gpu[002-003],mgr1", "mgr1 gpu002 gpu003"},  // inventory order
      {{"agent"}, "gpu004,mgr1", "gpu004"},             // both: hosts passing both
  };
  for (const auto& c : cases) {
    auto r = inv.select(c.g, c.w);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(names(*r), c.hosts) << c.w;
  }
  auto typo = inv.select({"agnet"}, "");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(typo.error().describe(),
            "-g agnet: no host in /site/inv.yaml has this role, group or key=value label (roles: agent manager "
            "registry scheduler storage; groups: gpu rack1)");
  auto unknown = inv.select({}, "gpu[003-006],mgr2");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, Errc::kInvalidArgument);
  EXPECT_EQ(unknown.error().describe(), "-w names hosts that are not in /site/inv.yaml: gpu[005-006],mgr2");
  auto bad = inv.select({}, "gpu[2-1]");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().describe(), "-w: gpu[2-1]: column 5: range end 1 is below its start 2");
}

TEST(Inventory, ManyHosts) {
  Inventory inv = parse_ok("hosts:\n  gpu[000001-100000]: {address: \"10.[0-9].[0-99].[0-99]\"}\n");
  ASSERT_EQ(inv.hosts.size(), 100000u);
  EXPECT_EQ(inv.hosts.back().address, "10.9.99.99");
  auto r = inv.select({}, "gpu[050000-059999]");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 10000u);
}

TEST(Inventory, LoadFromAFile) {
  char dir[] = "/tmp/inventory_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/inv.yaml";
  std::ofstream(path) << "hosts:\n  a: {address: 1.2.3.4, identity_file: id}\n";
  auto r = load_inventory(path);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->hosts.at(0).identity_file, std::string(dir) + "/id");
  auto missing = load_inventory(std::string(dir) + "/nope.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().describe().find("nope.yaml"), std::string::npos);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace airlock::inventory
