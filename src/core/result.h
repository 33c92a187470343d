// Result<T>: a value or an Error, the way every boundary in Remora reports
// failure (parsers, config, syscalls, TLS, Kubernetes JSON).
//
// The surface is a subset of C++23's std::expected<T, Error> (has_value,
// operator bool, value, operator*, operator->, error, value_or), so the day
// the project moves to C++23 this header becomes an alias. One convenience
// goes beyond std::expected: an Error converts implicitly, so a function can
// `return Error{Errc::BadRequest, "invalid Content-Length"};`.
//
// The error is boxed (one pointer, allocated only on failure, as
// absl::Status is one word with a null rep for OK): a Status is 8 bytes and
// a Result<std::size_t> 16, and returning success writes and destroys no
// std::string, which the HTTP/1.1 codec does for every field line.
//
// Threading: none; a Result is a plain value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/assert.h"

namespace remora {

// What kind of failure, coarse enough that callers can act on it. The HTTP
// entries say which status a server sends back when the error reaches a
// client (as h2o and Envoy do), see httpStatus().
enum class Errc : std::uint8_t {
  InvalidArgument,   // a caller or user gave a value we do not accept
  ParseError,        // a document (YAML, JSON, PEM, ...) is malformed
  NotFound,          // the thing asked for does not exist
  AlreadyExists,     // creating something that is already there
  PermissionDenied,  // authenticated, but not allowed
  Unauthenticated,   // credentials missing or invalid
  Unavailable,       // a peer or resource cannot be reached now; retrying may help
  Timeout,           // a deadline passed
  Io,                // a system call failed (the message carries errno's text)
  Unsupported,       // valid, but not something Remora implements
  Internal,          // a bug or an impossible state reported instead of crashing
  Gone,              // the version asked for is no longer kept (Kubernetes' 410 on an
                     // expired resourceVersion or continue token): start over (relist)
  // HTTP protocol errors: a request or response broke a rule of RFC 9110/9112.
  BadRequest,            // 400
  UriTooLong,            // 414
  PayloadTooLarge,       // 413
  HeaderFieldsTooLarge,  // 431
  NotImplemented,        // 501
  BadGateway,            // 502: the upstream's response was invalid
};

std::string_view errcName(Errc code) noexcept;

// The status a server answers with when `code` ends a request, or 500.
int httpStatus(Errc code) noexcept;

struct Error {
  Errc code = Errc::Internal;
  std::string message;

  Error() = default;
  Error(Errc c, std::string msg) : code(c), message(std::move(msg)) {}

  // "what failed: why", for wrapping a lower error with context:
  //   return err.context("reading " + path);
  [[nodiscard]] Error context(std::string_view what) const& {
    return Error{code, std::string(what) + ": " + message};
  }
  [[nodiscard]] Error context(std::string_view what) && {
    message.insert(0, std::string(what) + ": ");
    return std::move(*this);
  }
};

namespace detail {

// An Error on the heap, or none, copied deeply: what a Result holds for its
// error. Result<void> uses the empty box for success; Result<T>'s is never
// empty (except moved from).
class ErrorBox {
 public:
  ErrorBox() = default;
  explicit ErrorBox(Error e) : error_(std::make_unique<Error>(std::move(e))) {}
  ErrorBox(const ErrorBox& o) : error_(o.error_ ? std::make_unique<Error>(*o.error_) : nullptr) {}
  ErrorBox& operator=(const ErrorBox& o) {
    if (this != &o) error_ = o.error_ ? std::make_unique<Error>(*o.error_) : nullptr;
    return *this;
  }
  ErrorBox(ErrorBox&&) noexcept = default;
  ErrorBox& operator=(ErrorBox&&) noexcept = default;
  ~ErrorBox() = default;

  bool empty() const noexcept { return error_ == nullptr; }
  Error& get() { return *error_; }
  const Error& get() const { return *error_; }

 private:
  std::unique_ptr<Error> error_;
};

}  // namespace detail

// Wraps an Error where a Result<Error> would otherwise be ambiguous, and
// mirrors std::unexpected for code that wants to read like C++23.
struct Unexpected {
  Error error;
  explicit Unexpected(Error e) : error(std::move(e)) {}
};

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T>, "Result<T&> is not supported; use Result<T*>");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "Result<Error> is ambiguous");

 public:
  using value_type = T;

  // NOLINTBEGIN(google-explicit-constructor): implicit by design, as std::expected.
  Result(const T& value) : storage_(std::in_place_index<0>, value) {}
  Result(T&& value) : storage_(std::in_place_index<0>, std::move(value)) {}
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
           !std::is_same_v<std::remove_cvref_t<U>, Error> &&
           !std::is_same_v<std::remove_cvref_t<U>, Unexpected> &&
           !std::is_same_v<std::remove_cvref_t<U>, Result>) Result(U&& value)
      : storage_(std::in_place_index<0>, std::forward<U>(value)) {}
  Result(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}
  Result(Unexpected u) : storage_(std::in_place_index<1>, std::move(u.error)) {}
  // NOLINTEND(google-explicit-constructor)

  bool has_value() const noexcept {  // NOLINT(readability-identifier-naming)
    return storage_.index() == 0;
  }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    REMORA_CHECK(has_value(), "Result::value() on an error: {}",
                 std::get<1>(storage_).get().message);
    return std::get<0>(storage_);
  }
  const T& value() const& {
    REMORA_CHECK(has_value(), "Result::value() on an error: {}",
                 std::get<1>(storage_).get().message);
    return std::get<0>(storage_);
  }
  T&& value() && {
    REMORA_CHECK(has_value(), "Result::value() on an error: {}",
                 std::get<1>(storage_).get().message);
    return std::get<0>(std::move(storage_));
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    REMORA_CHECK(!has_value(), "Result::error() on a value");
    return std::get<1>(storage_).get();
  }
  Error&& error() && {
    REMORA_CHECK(!has_value(), "Result::error() on a value");
    return std::move(std::get<1>(storage_).get());
  }

  template <typename U>
  T value_or(U&& fallback) const& {  // NOLINT(readability-identifier-naming)
    return has_value() ? std::get<0>(storage_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, detail::ErrorBox> storage_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  // NOLINTBEGIN(google-explicit-constructor)
  Result(Error error) : error_(std::move(error)) {}
  Result(Unexpected u) : error_(std::move(u.error)) {}
  // NOLINTEND(google-explicit-constructor)

  bool has_value() const noexcept {  // NOLINT(readability-identifier-naming)
    return error_.empty();
  }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    REMORA_CHECK(has_value(), "Result<void>::value() on an error: {}", error_.get().message);
  }
  const Error& error() const& {
    REMORA_CHECK(!has_value(), "Result::error() on a value");
    return error_.get();
  }
  Error&& error() && {
    REMORA_CHECK(!has_value(), "Result::error() on a value");
    return std::move(error_.get());
  }

 private:
  detail::ErrorBox error_;  // empty: success
};

using Status = Result<void>;

inline Status ok() { return {}; }

}  // namespace remora

#define REMORA_RESULT_CONCAT_INNER(a, b) a##b
#define REMORA_RESULT_CONCAT(a, b) REMORA_RESULT_CONCAT_INNER(a, b)

// REMORA_TRY(expr): evaluate a Result-returning expression and return its
// error from the enclosing function, which must itself return a Result.
#define REMORA_TRY(expr)                                                   \
  do {                                                                     \
    auto&& remora_try_result_ = (expr);                                    \
    if (!remora_try_result_) return std::move(remora_try_result_).error(); \
  } while (false)

// REMORA_ASSIGN_OR_RETURN(lhs, expr): `lhs = *expr` or return its error.
//   REMORA_ASSIGN_OR_RETURN(auto doc, parseJson(text));
#define REMORA_ASSIGN_OR_RETURN(lhs, expr) \
  REMORA_ASSIGN_OR_RETURN_IMPL(REMORA_RESULT_CONCAT(remora_result_, __LINE__), lhs, expr)
#define REMORA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp) return std::move(tmp).error();           \
  lhs = std::move(tmp).value()
