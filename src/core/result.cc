#include "core/result.h"

#include <cstdio>
#include <cstdlib>

namespace remora {

std::string_view errcName(Errc code) noexcept {
  switch (code) {
    case Errc::InvalidArgument: return "invalid argument";
    case Errc::ParseError: return "parse error";
    case Errc::NotFound: return "not found";
    case Errc::AlreadyExists: return "already exists";
    case Errc::PermissionDenied: return "permission denied";
    case Errc::Unauthenticated: return "unauthenticated";
    case Errc::Unavailable: return "unavailable";
    case Errc::Timeout: return "timeout";
    case Errc::Io: return "i/o error";
    case Errc::Unsupported: return "unsupported";
    case Errc::Internal: return "internal error";
    case Errc::Gone: return "gone";
    case Errc::BadRequest: return "bad request";
    case Errc::UriTooLong: return "URI too long";
    case Errc::PayloadTooLarge: return "payload too large";
    case Errc::HeaderFieldsTooLarge: return "request header fields too large";
    case Errc::NotImplemented: return "not implemented";
    case Errc::BadGateway: return "bad gateway";
  }
  return "unknown";
}

int httpStatus(Errc code) noexcept {
  switch (code) {
    case Errc::InvalidArgument:
    case Errc::ParseError:
    case Errc::BadRequest: return 400;
    case Errc::Unauthenticated: return 401;
    case Errc::PermissionDenied: return 403;
    case Errc::NotFound: return 404;
    case Errc::AlreadyExists: return 409;
    case Errc::Gone: return 410;
    case Errc::PayloadTooLarge: return 413;
    case Errc::UriTooLong: return 414;
    case Errc::HeaderFieldsTooLarge: return 431;
    case Errc::NotImplemented:
    case Errc::Unsupported: return 501;
    case Errc::BadGateway: return 502;
    case Errc::Unavailable: return 503;
    case Errc::Timeout: return 504;
    case Errc::Io:
    case Errc::Internal: return 500;
  }
  return 500;
}

namespace detail {
void checkFailed(const char* file, int line, const char* condition,
                 const std::string& message) noexcept {
  // stdio, not spdlog: this must work before logging is set up and while it
  // is being torn down.
  std::fprintf(stderr, "remora: check failed at %s:%d: %s: %s\n", file, line, condition,
               message.c_str());
  std::fflush(stderr);
  std::abort();
}
}  // namespace detail

}  // namespace remora
