// Process spawning with captured output (posix_spawn + temp files: simple and deadlock-free).
#include "tests/e2e/cli_harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace airlock::test {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

bool exists(const std::string& path) { return std::filesystem::exists(std::filesystem::symlink_status(path)); }

int count_entries(const std::string& dir) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator(); ++it) ++n;
  return n;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "airlock-e2e-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  if (p == nullptr) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  if (!std::getenv("AIRLOCK_KEEP_TEST_DIRS")) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& input) {
  TempDir io;
  std::string in_path = io / "stdin", out_path = io / "stdout", err_path = io / "stderr";
  write_all(in_path, input);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);
  pid_t pid;
  RunResult r;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    r.err = "spawn failed: " + argv[0];
    return r;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_all(out_path);
  r.err = read_all(err_path);
  return r;
}

RunResult airlock(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                  const std::string& input) {
  std::vector<std::string> argv = {AIRLOCK_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> e = {{"SOURCE_DATE_EPOCH", kEpoch}};
  for (const auto& [k, v] : env) e[k] = v;
  return run(argv, e, input);
}

bool have_tool(const std::string& name) {
  return run({"sh", "-c", "command -v " + name}).exit_code == 0;
}

std::string example_dir() {
  std::string dir = std::string(AIRLOCK_SOURCE_DIR) + "/examples";
  auto r = run({"bash", dir + "/prepare.sh"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir;
}

std::string make_key(const std::string& dir, const std::string& name) {
  std::string base = dir + "/" + name;
  auto r = airlock({"keygen", "-W", "-o", base});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return base;
}

void create_example(const std::string& out, const std::vector<std::string>& keys,
                    const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"bundle", "create", "-f", example_dir() + "/bundle.yaml", "-o", out};
  for (const auto& k : keys) {
    args.push_back("--key");
    args.push_back(k + ".key");
  }
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = airlock(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace airlock::test
