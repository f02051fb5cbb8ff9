// Helpers for end-to-end tests: run the built `airlock` binary (or any tool) with arguments,
// capture exit code, stdout and stderr; temporary directories; the example inputs.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace airlock::test {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH) with the extra environment; stdin gets `input`.
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
              const std::string& input = "");
// Runs the airlock binary under test with SOURCE_DATE_EPOCH fixed unless env overrides it.
RunResult airlock(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                  const std::string& input = "");
bool have_tool(const std::string& name);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

std::string read_all(const std::string& path);
void write_all(const std::string& path, const std::string& data);
bool exists(const std::string& path);
// Number of entries in a directory (0 when it does not exist).
int count_entries(const std::string& dir);

// examples/ with its inputs built (examples/prepare.sh, run once, under a lock).
std::string example_dir();
// A key pair made with `airlock keygen -W` in dir: returns the base path (dir/name).
std::string make_key(const std::string& dir, const std::string& name);
// Creates the example bundle into out with the given keys; asserts success.
void create_example(const std::string& out, const std::vector<std::string>& keys,
                    const std::vector<std::string>& extra = {});

inline constexpr const char* kEpoch = "1795824000";  // 2026-11-28T00:00:00Z

}  // namespace airlock::test
