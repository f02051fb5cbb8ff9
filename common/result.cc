// Error formatting: the cause chain on one line, errno text where one was recorded.
#include "common/result.h"

#include <cerrno>
#include <cstring>

namespace airlock {

const char* errc_name(Errc c) {
  switch (c) {
    case Errc::kInvalidArgument: return "invalid-argument";
    case Errc::kParse: return "parse";
    case Errc::kNotFound: return "not-found";
    case Errc::kIo: return "io";
    case Errc::kTrust: return "trust";
    case Errc::kSignature: return "signature";
    case Errc::kIntegrity: return "integrity";
    case Errc::kUnsafe: return "unsafe";
    case Errc::kLimit: return "limit";
    case Errc::kExpired: return "expired";
    case Errc::kUnsupported: return "unsupported";
    case Errc::kTimeout: return "timeout";
    case Errc::kUnreachable: return "unreachable";
    case Errc::kAuth: return "auth";
    case Errc::kHostKey: return "host-key";
    case Errc::kCancelled: return "cancelled";
    case Errc::kInternal: return "internal";
  }
  return "unknown";
}

std::string Error::describe() const {
  std::string out = message;
  if (sys_errno != 0) {
    out += ": ";
    out += std::strerror(sys_errno);
  }
  if (cause) {
    out += ": ";
    out += cause->describe();
  }
  return out;
}

Errc Error::root_code() const { return cause ? cause->root_code() : code; }

Error Error::wrap(std::string context) const {
  Error outer;
  outer.code = code;
  outer.message = std::move(context);
  outer.cause = std::make_shared<Error>(*this);
  return outer;
}

Error make_error(Errc code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

Error sys_error(std::string message, int err) {
  Error e;
  e.sys_errno = err < 0 ? errno : err;
  e.code = (e.sys_errno == ENOENT) ? Errc::kNotFound : Errc::kIo;
  e.message = std::move(message);
  return e;
}

}  // namespace airlock
