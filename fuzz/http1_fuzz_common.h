// The oracle shared by the HTTP/1 fuzz targets. Any byte string must give a
// verdict, never a crash, a hang or a sanitizer report, and:
//  1. split consistency: the events and the verdict are the same when the
//     input is fed whole, split at a point chosen from the input, byte by
//     byte, or with a pause after every event;
//  2. lifecycle: callbacks arrive in the documented order (the recorder
//     checks it);
//  3. round trip: every complete message, serialized again (chunked bodies
//     re-encoded, trailers kept), parses back to the same events;
//  4. known fields: a head's map finds each known field (KnownField) by its
//     bit exactly when a field of that name is there, and stripHopByHop()
//     leaves no hop-by-hop field behind.
// The first input byte selects the options (see optionsFromByte()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/assert.h"
#include "http/http1_parser.h"
#include "http/http1_serializer.h"
#include "tests/http/http1_recorder.h"

namespace remora::http::fuzzing {

inline void checkKnownFields(const HeaderMap& headers) {
  std::uint32_t seen = 0;
  for (auto field : headers) seen |= 1u << static_cast<unsigned>(classifyFieldName(field.name));
  for (std::size_t i = 1; i < kKnownFieldCount; ++i) {
    const auto known = static_cast<KnownField>(i);
    REMORA_CHECK(headers.contains(known) == ((seen >> i) & 1u), "known field {} bit wrong", i);
  }
  HeaderMap stripped = headers;
  stripHopByHop(stripped);
  REMORA_CHECK(stripped.noHopByHopByDefinition(), "a hop-by-hop field survived stripping");
  for (auto field : stripped) {
    REMORA_CHECK(!isHopByHopByDefinition(classifyFieldName(field.name)),
                 "hop-by-hop field {} survived stripping", field.name);
  }
}

// Serializes each complete message it sees.
class Reserializer : public Http1ParserCallbacks {
 public:
  CallbackResult onRequestHead(RequestHead& h) override {
    checkKnownFields(h.headers);
    serializeRequestHead(h, pending_);
    chunked_ = h.framing == BodyFraming::Chunked;
    return CallbackResult::Continue;
  }
  CallbackResult onResponseHead(ResponseHead& h) override {
    checkKnownFields(h.headers);
    serializeResponseHead(h, pending_);
    chunked_ = h.framing == BodyFraming::Chunked;
    return CallbackResult::Continue;
  }
  CallbackResult onBody(std::string_view data) override {
    if (chunked_) {
      appendChunk(data, pending_);
    } else {
      pending_.append(data);
    }
    return CallbackResult::Continue;
  }
  CallbackResult onTrailers(HeaderMap& trailers) override {
    trailers_ = trailers;
    return CallbackResult::Continue;
  }
  CallbackResult onMessageComplete() override {
    if (chunked_) appendLastChunk(pending_, &trailers_);
    trailers_.clear();
    out_ += pending_;
    pending_.clear();
    return CallbackResult::Continue;
  }
  const std::string& out() const { return out_; }

 private:
  std::string out_;
  std::string pending_;
  HeaderMap trailers_;
  bool chunked_ = false;
};

inline std::string upToLastMessage(const std::string& log) {
  std::size_t end = log.rfind("DONE\n");
  return end == std::string::npos ? std::string() : log.substr(0, end + 5);
}

inline int fuzzHttp1(Http1Parser::Mode mode, const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using testing::describe;
  testing::RunOptions opt = testing::optionsFromByte(mode, data[0]);
  opt.log_reason = false;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

  testing::Outcome whole = testing::runWhole(opt, input);
  REMORA_CHECK(whole.violations.empty(), "callback order violated:\n{}", whole.violations);
  if (!input.empty()) {
    std::size_t at = 1 + (data[size - 1] * 131u + size * 7u) % input.size();
    if (at < input.size()) {
      testing::Outcome split = testing::runSplit(opt, input, at);
      REMORA_CHECK(split == whole, "split at {} differs:\n{}---\n{}", at, describe(split),
                   describe(whole));
    }
  }
  if (input.size() <= 16 * 1024) {  // bigger seeds (limit cases) would slow fuzzing to a crawl
    testing::Outcome bytewise = testing::runBytewise(opt, input);
    REMORA_CHECK(bytewise == whole, "byte-by-byte differs:\n{}---\n{}", describe(bytewise),
                 describe(whole));
  }
  testing::RunOptions pausing = opt;
  pausing.pause_always = true;
  testing::Outcome paused = testing::runWhole(pausing, input);
  REMORA_CHECK(paused == whole, "pausing differs:\n{}---\n{}", describe(paused), describe(whole));

  // Round trip of the complete messages.
  Reserializer again;
  Http1Parser parser(mode, again, opt.limits);
  parser.setRequestMethod(opt.request_method);
  parser.setUpgradeRequested(opt.upgrade_requested);
  std::string_view rest = input;
  while (!rest.empty() && !parser.isUpgraded()) {
    auto r = parser.feed(rest);
    if (!r) break;
    rest.remove_prefix(*r);
  }
  if (opt.eof && !parser.hasError() && !parser.isUpgraded()) (void)parser.finish();
  std::string expected = upToLastMessage(whole.log);
  testing::Outcome reparsed = testing::runWhole(opt, again.out());
  REMORA_CHECK(!reparsed.error.has_value() && reparsed.log == expected,
               "round trip differs:\n{}---\n{}", describe(reparsed), expected);
  return 0;
}

}  // namespace remora::http::fuzzing
