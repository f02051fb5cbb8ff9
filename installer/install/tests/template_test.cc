// Templates: substitution, how values print, and errors naming file, line and path.
#include "installer/install/template.h"

#include <gtest/gtest.h>

namespace airlock::install {
namespace {

struct Ctx {
  nlohmann::json host = {{"name", "gpu1"}, {"address", "10.0.1.1"}, {"port", 22}, {"roles", {"agent", "gpu"}},
                         {"vars", {{"debug", false}, {"net", {{"mtu", 9000}}}}}};
  nlohmann::json roles = {{"manager", {{"addresses", "10.0.0.10,10.0.0.11"}, {"first", {{"address", "10.0.0.10"}}}}}};
  nlohmann::json release = "site-42";
  TemplateContext ctx;
  Ctx() {
    ctx.roots["host"] = &host;
    ctx.roots["roles"] = &roles;
    ctx.roots["release"] = &release;
  }
};

std::string render(const std::string& text, const Ctx& c) {
  auto t = Template::compile(text, "t.conf");
  EXPECT_TRUE(t.ok()) << t.error().describe();
  auto r = t->render(c.ctx);
  EXPECT_TRUE(r.ok()) << r.error().describe();
  return r.ok() ? *r : "";
}

std::string render_error(const std::string& text, const Ctx& c) {
  auto t = Template::compile(text, "templates/agent.conf");
  if (!t.ok()) return t.error().message;
  auto r = t->render(c.ctx);
  return r.ok() ? "(rendered: " + *r + ")" : r.error().message;
}

TEST(Template, Substitutes) {
  Ctx c;
  EXPECT_EQ(render("manager: {{ roles.manager.first.address }}:8081\nname: {{host.name}}\n", c),
            "manager: 10.0.0.10:8081\nname: gpu1\n");
  EXPECT_EQ(render("{{ release }} {{ host.port }} {{ host.vars.debug }} {{ host.vars.net.mtu }}", c), "site-42 22 false 9000");
  EXPECT_EQ(render("{{ host.roles }} {{ host.roles.1 }}", c), "agent,gpu gpu");
  EXPECT_EQ(render("no placeholders } { here", c), "no placeholders } { here");
  EXPECT_EQ(render("", c), "");
}

TEST(Template, ErrorsNameFileLineAndPath) {
  Ctx c;
  EXPECT_EQ(render_error("a: 1\nmanager: {{ roles.manager.frist.address }}\n", c),
            "templates/agent.conf:2:10: no value for `roles.manager.frist.address`");
  EXPECT_EQ(render_error("x {{ facts.gpus }}", c), "templates/agent.conf:1:3: no value for `facts.gpus`");
  EXPECT_EQ(render_error("\n\n  {{ host.vars }}", c), "templates/agent.conf:3:3: `host.vars` is an object, not a value");
  EXPECT_EQ(render_error("ok\n{{ host.name", c),
            "templates/agent.conf:2:1: `{{` without `}}` on the same line: `{{ host.name`");
  EXPECT_EQ(render_error("{{ if x }}", c),
            "templates/agent.conf:1:1: a placeholder holds one dotted name like {{ host.address }}: `{{ if x }}`");
  EXPECT_EQ(render_error("{{ }}", c),
            "templates/agent.conf:1:1: a placeholder holds one dotted name like {{ host.address }}: `{{ }}`");
  EXPECT_EQ(render_error("{{ host.roles.7 }}", c), "templates/agent.conf:1:1: no value for `host.roles.7`");
}

TEST(Template, Inline) {
  Ctx c;
  auto r = render_inline("http://{{ host.address }}:8082/health", "pb.yaml:9:7", c.ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "http://10.0.1.1:8082/health");
  auto e = render_inline("http://{{ host.addr }}/", "pb.yaml:9:7", c.ctx);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "pb.yaml:9:7: no value for `host.addr`");
}

TEST(Template, Paths) {
  auto t = Template::compile("{{ a.b }} x {{ c }}", "t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->paths(), (std::vector<std::string>{"a.b", "c"}));
  EXPECT_TRUE(t->has_placeholders());
  EXPECT_FALSE(Template::compile("plain", "t")->has_placeholders());
}

}  // namespace
}  // namespace airlock::install
