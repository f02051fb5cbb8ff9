// Passphrase input without echo (termios on /dev/tty).
#include "installer/cli/passphrase.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>

#include "common/fs.h"

namespace airlock::cli {
namespace {

Result<std::string> prompt_tty(const std::string& prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return make_error(Errc::kInvalidArgument,
                      "a passphrase is needed and there is no terminal: use --passphrase-file or AIRLOCK_PASSPHRASE");
  }
  UniqueFd tty(fd);
  (void)!::write(fd, prompt.data(), prompt.size());
  termios old{};
  bool have_termios = ::tcgetattr(fd, &old) == 0;
  if (have_termios) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line.push_back(c);
  if (have_termios) ::tcsetattr(fd, TCSAFLUSH, &old);
  (void)!::write(fd, "\n", 1);
  return line;
}

}  // namespace

Result<std::string> get_passphrase(const std::string& file, const std::string& prompt, bool confirm) {
  std::string pass;
  if (!file.empty()) {
    TRY_ASSIGN(pass, read_file(file, 4096));
    auto nl = pass.find('\n');
    if (nl != std::string::npos) pass.resize(nl);
  } else if (const char* env = std::getenv("AIRLOCK_PASSPHRASE")) {
    pass = env;
  } else {
    TRY_ASSIGN(pass, prompt_tty(prompt));
    if (confirm) {
      TRY_ASSIGN(std::string again, prompt_tty("Repeat the passphrase: "));
      if (again != pass) return make_error(Errc::kInvalidArgument, "the passphrases do not match");
    }
  }
  if (pass.empty()) {
    return make_error(Errc::kInvalidArgument, "empty passphrase (use -W for a key without one)");
  }
  return pass;
}

}  // namespace airlock::cli
