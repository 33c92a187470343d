// Minimal implementation while the codec is being written: the interface is
// final, the parser refuses everything with Unsupported.
#include "http/http1_parser.h"

namespace remora::http {

enum class Http1Parser::State : std::uint8_t { Idle };

Http1Parser::Http1Parser(Mode mode, Http1ParserCallbacks& callbacks, const Http1Limits& limits)
    : mode_(mode), callbacks_(callbacks), limits_(limits), state_(State::Idle) {}

Http1Parser::~Http1Parser() = default;

Result<std::size_t> Http1Parser::feed(std::string_view bytes) {
  (void)bytes;
  return Error{Errc::Unsupported, "Http1Parser is not implemented yet"};
}

Status Http1Parser::finish() { return ok(); }

bool Http1Parser::isIdle() const noexcept { return state_ == State::Idle; }

}  // namespace remora::http
