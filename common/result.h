// Errors as values. Every fallible function returns Result<T>: either a value or an Error that
// carries a code, a message naming the file/member/node, an optional errno, and a cause chain
// printed as "outer: inner: innermost". Named so it can later become std::expected.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace airlock {

enum class Errc {
  kInvalidArgument,  // bad command line or option value
  kParse,            // malformed input file (YAML, JSON, key, signature)
  kNotFound,         // a file, member, key or component that should exist does not
  kIo,               // the environment failed: read/write/open, disk full (worth a retry when remote)
  kTrust,            // a remote peer could not be trusted (TLS verification): retrying will not help
  kSignature,        // a signature is invalid, missing, or the threshold is not met
  kIntegrity,        // size/digest mismatch, unexpected/missing/duplicate member
  kUnsafe,           // an archive entry that could escape or is of a forbidden type
  kLimit,            // a size, count or memory cap was exceeded
  kExpired,          // metadata past its expiry, or a clock that cannot be trusted
  kUnsupported,      // a format version or feature this build does not support
  kTimeout,          // a remote step or connection did not finish in time
  kUnreachable,      // a node could not be connected to (refused, no route, closed)
  kAuth,             // a node refused our credentials
  kHostKey,          // a node's host key is unknown, changed or of another type (fails closed)
  kCancelled,        // the operator interrupted (Ctrl-C)
  kInternal,         // a bug
};

const char* errc_name(Errc c);

struct Error {
  Errc code = Errc::kInternal;
  std::string message;
  int sys_errno = 0;
  std::shared_ptr<const Error> cause;

  // "message (strerror): cause message ..." — the whole chain on one line.
  std::string describe() const;
  // The innermost error's code (what actually went wrong).
  Errc root_code() const;
  // Wrap this error with outer context: "context: <this>".
  Error wrap(std::string context) const;
};

Error make_error(Errc code, std::string message);
// An error from the current errno (or the one given), e.g. sys_error("open foo.yaml").
Error sys_error(std::string message, int err = -1);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::make_shared<Error>(std::move(error))) {}
  bool ok() const { return !err_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *err_; }

 private:
  std::shared_ptr<Error> err_;
};

using Status = Result<void>;

}  // namespace airlock

// Early-return helpers for the common "propagate the error" case.
#define AIRLOCK_CONCAT_(a, b) a##b
#define AIRLOCK_CONCAT(a, b) AIRLOCK_CONCAT_(a, b)
#define TRY_STATUS(expr)                          \
  do {                                            \
    auto _st = (expr);                            \
    if (!_st.ok()) return _st.error();            \
  } while (0)
#define TRY_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                    \
  if (!tmp.ok()) return tmp.error();    \
  lhs = std::move(tmp).value()
#define TRY_ASSIGN(lhs, expr) TRY_ASSIGN_IMPL(AIRLOCK_CONCAT(_res_, __LINE__), lhs, expr)
