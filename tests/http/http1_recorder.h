// A recording fake of Http1ParserCallbacks, and a driver that feeds a byte
// stream in given pieces, shared by the unit tests and the fuzz targets.
//
// The log is normalized so that it does not depend on how the input was
// split: adjacent body chunks are merged. Two runs of the same bytes must
// produce the same Outcome whatever the split and whatever pausing happens;
// that is the split-consistency oracle.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "http/http1_parser.h"

namespace remora::http::testing {

inline void appendEscaped(std::string& out, std::string_view bytes) {
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out.append(buf);
    }
  }
}

inline void appendFields(std::string& out, const HeaderMap& fields) {
  out.push_back('{');
  bool first = true;
  for (auto field : fields) {
    if (!first) out.push_back(',');
    first = false;
    appendEscaped(out, field.name);
    out.push_back('=');
    appendEscaped(out, field.value);
  }
  out.push_back('}');
}

inline std::string_view framingName(BodyFraming f) {
  switch (f) {
    case BodyFraming::None: return "none";
    case BodyFraming::ContentLength: return "cl";
    case BodyFraming::Chunked: return "chunked";
    case BodyFraming::UntilClose: return "until-close";
  }
  return "?";
}

// Records every event; with `pause_always`, asks the parser to pause after
// each one (the driver resumes), which must not change the log.
class Recorder : public Http1ParserCallbacks {
 public:
  // `log_reason` false leaves reason phrases out of the log: the serializer
  // writes the standard phrase for an empty one, so round trips compare
  // without them.
  explicit Recorder(bool pause_always = false, bool log_reason = true)
      : pause_always_(pause_always), log_reason_(log_reason) {}

  CallbackResult onMessageBegin() override {
    if (in_message_) violation("begin inside a message");
    in_message_ = true;
    have_head_ = false;
    return result();
  }
  CallbackResult onRequestHead(RequestHead& h) override {
    checkHead();
    log_ += "REQ ";
    log_ += h.method_name;
    log_ += ' ';
    appendEscaped(log_, h.target);
    log_ += h.version == Version::Http11 ? " 1.1 " : " 1.0 ";
    appendFraming(h.framing, h.content_length);
    log_ += h.keep_alive ? " ka" : " close";
    if (h.upgrade) log_ += " upgrade";
    if (h.expect_continue) log_ += " expect";
    log_ += ' ';
    appendFields(log_, h.headers);
    log_ += '\n';
    return result();
  }
  CallbackResult onResponseHead(ResponseHead& h) override {
    checkHead();
    log_ += "RESP " + std::to_string(h.status) + ' ';
    if (log_reason_) appendEscaped(log_, h.reason);
    log_ += h.version == Version::Http11 ? " 1.1 " : " 1.0 ";
    appendFraming(h.framing, h.content_length);
    log_ += h.keep_alive ? " ka " : " close ";
    appendFields(log_, h.headers);
    log_ += '\n';
    return result();
  }
  CallbackResult onBody(std::string_view data) override {
    if (!have_head_) violation("body before head");
    if (data.empty()) violation("empty body chunk");
    body_.append(data);
    return result();
  }
  CallbackResult onTrailers(HeaderMap& t) override {
    if (!have_head_) violation("trailers before head");
    flushBody();
    log_ += "TRAILERS ";
    appendFields(log_, t);
    log_ += '\n';
    return result();
  }
  CallbackResult onMessageComplete() override {
    if (!have_head_) violation("complete before head");
    flushBody();
    log_ += "DONE\n";
    in_message_ = false;
    have_head_ = false;
    ++messages_;
    return result();
  }

  std::string takeLog() {
    flushBody();
    return log_;
  }
  int messages() const { return messages_; }
  const std::string& violations() const { return violations_; }

 private:
  CallbackResult result() const {
    return pause_always_ ? CallbackResult::Pause : CallbackResult::Continue;
  }
  void checkHead() {
    if (!in_message_) violation("head without begin");
    if (have_head_) violation("two heads");
    have_head_ = true;
  }
  void appendFraming(BodyFraming f, std::uint64_t length) {
    log_ += framingName(f);
    if (f == BodyFraming::ContentLength) log_ += ':' + std::to_string(length);
  }
  void flushBody() {
    if (body_.empty()) return;
    log_ += "BODY ";
    appendEscaped(log_, body_);
    log_ += '\n';
    body_.clear();
  }
  void violation(std::string_view what) {
    violations_ += what;
    violations_ += '\n';
  }

  bool pause_always_;
  bool log_reason_;
  bool in_message_ = false;
  bool have_head_ = false;
  int messages_ = 0;
  std::string log_;
  std::string body_;
  std::string violations_;
};

struct RunOptions {
  Http1Parser::Mode mode = Http1Parser::Mode::Request;
  Http1Limits limits{};
  Method request_method = Method::Get;  // Mode::Response: the request answered
  bool upgrade_requested = false;       // Mode::Response
  bool eof = false;                     // call finish() after the last piece
  bool pause_always = false;
  bool log_reason = true;
};

struct Outcome {
  std::string log;
  std::optional<Errc> error;
  bool upgraded = false;
  std::size_t unparsed = 0;  // bytes after an upgrade, never fed
  std::string violations;

  bool operator==(const Outcome& o) const {
    return log == o.log && error == o.error && upgraded == o.upgraded && unparsed == o.unparsed &&
           violations == o.violations;
  }
};

inline std::string describe(const Outcome& o) {
  std::string s = o.log;
  if (o.error) s += "ERROR " + std::to_string(httpStatus(*o.error)) + "\n";
  if (o.upgraded) s += "UPGRADED unparsed=" + std::to_string(o.unparsed) + "\n";
  if (!o.violations.empty()) s += "VIOLATIONS " + o.violations;
  return s;
}

// Feeds `pieces` in order, calling feed() again after every message and every
// pause, as a connection would.
inline Outcome run(const RunOptions& opt, const std::vector<std::string_view>& pieces) {
  Recorder rec(opt.pause_always, opt.log_reason);
  Http1Parser parser(opt.mode, rec, opt.limits);
  parser.setRequestMethod(opt.request_method);
  parser.setUpgradeRequested(opt.upgrade_requested);
  Outcome out;
  bool failed = false;
  for (std::string_view rest : pieces) {
    while (!failed) {
      if (parser.isUpgraded()) {
        out.unparsed += rest.size();
        break;
      }
      if (parser.isPaused()) parser.resume();
      // An empty feed after a pause delivers events due without input.
      auto r = parser.feed(rest);
      if (!r) {
        out.error = r.error().code;
        failed = true;
        break;
      }
      rest.remove_prefix(*r);
      if (rest.empty() && !parser.isPaused()) break;
      if (*r == 0 && !parser.isPaused() && !parser.isUpgraded()) {
        out.violations += "feed() consumed nothing without a pause\n";
        failed = true;
        break;
      }
    }
    if (failed) break;
  }
  if (!failed && opt.eof && !parser.isUpgraded()) {
    if (parser.isPaused()) {
      parser.resume();
      auto r = parser.feed({});
      if (!r) {
        out.error = r.error().code;
        failed = true;
      }
    }
    if (!failed) {
      auto s = parser.finish();
      if (!s) out.error = s.error().code;
    }
  }
  out.upgraded = parser.isUpgraded();
  out.log = rec.takeLog();
  out.violations += rec.violations();
  return out;
}

inline Outcome runWhole(const RunOptions& opt, std::string_view input) { return run(opt, {input}); }

inline Outcome runSplit(const RunOptions& opt, std::string_view input, std::size_t at) {
  return run(opt, {input.substr(0, at), input.substr(at)});
}

inline Outcome runBytewise(const RunOptions& opt, std::string_view input) {
  std::vector<std::string_view> pieces;
  pieces.reserve(input.size());
  for (std::size_t i = 0; i < input.size(); ++i) pieces.push_back(input.substr(i, 1));
  return run(opt, pieces);
}

// Fuzz inputs and corpus seeds are one option byte followed by the stream.
// Request mode: bit 0 eof, bits 1-2 underscores action, bit 3 allow bodies
// without semantics, bit 4 max_body_bytes = 10. Response mode: bits 0-1 the
// request's method (GET, HEAD, CONNECT, GET), bit 2 upgrade requested, bit 3
// eof.
inline RunOptions optionsFromByte(Http1Parser::Mode mode, std::uint8_t b) {
  RunOptions opt;
  opt.mode = mode;
  if (mode == Http1Parser::Mode::Request) {
    opt.eof = (b & 1) != 0;
    switch ((b >> 1) & 3) {
      case 1: opt.limits.underscores = Http1Limits::Underscores::Reject; break;
      case 2: opt.limits.underscores = Http1Limits::Underscores::Drop; break;
      default: break;
    }
    opt.limits.allow_body_without_semantics = (b & 8) != 0;
    if (b & 16) opt.limits.max_body_bytes = 10;
  } else {
    static constexpr Method kMethods[] = {Method::Get, Method::Head, Method::Connect, Method::Get};
    opt.request_method = kMethods[b & 3];
    opt.upgrade_requested = (b & 4) != 0;
    opt.eof = (b & 8) != 0;
  }
  return opt;
}

inline std::uint8_t byteFromOptions(const RunOptions& opt) {
  std::uint8_t b = 0;
  if (opt.mode == Http1Parser::Mode::Request) {
    if (opt.eof) b |= 1;
    if (opt.limits.underscores == Http1Limits::Underscores::Reject) b |= 2;
    if (opt.limits.underscores == Http1Limits::Underscores::Drop) b |= 4;
    if (opt.limits.allow_body_without_semantics) b |= 8;
    if (opt.limits.max_body_bytes == 10) b |= 16;
  } else {
    if (opt.request_method == Method::Head) b |= 1;
    if (opt.request_method == Method::Connect) b |= 2;
    if (opt.upgrade_requested) b |= 4;
    if (opt.eof) b |= 8;
  }
  return b;
}

}  // namespace remora::http::testing
