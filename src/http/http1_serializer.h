// HTTP/1.1 serialization: message heads and chunked transfer coding,
// appended to a caller-owned std::string.
//
// The functions append (never clear) so a caller can build a whole write in
// one reused buffer: head, then body or chunks. They do not allocate beyond
// growing `out`, so a buffer reused per connection stops allocating once warm.
//
// What is written is what the head says: the start line, then every field of
// `headers` in order, as stored. The derived fields of a head (framing,
// keep_alive, ...) are ignored; the caller puts Content-Length or
// Transfer-Encoding and Connection in `headers` (the proxy strips hop-by-hop
// fields and sets its own framing before forwarding, see stripHopByHop()).
// Field names and values must be valid (header_map.h); heads that came from
// the parser always are, and debug builds assert it for the rest, because an
// unchecked CR or LF here would be a response-splitting bug.
//
// Threading: none; pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/header_map.h"
#include "http/message.h"

namespace remora::http {

// "GET /path HTTP/1.1\r\n" + fields + "\r\n".
void serializeRequestHead(const RequestHead& head, std::string& out);
// "HTTP/1.1 200 OK\r\n" + fields + "\r\n". An empty reason is replaced by
// reasonPhrase(status).
void serializeResponseHead(const ResponseHead& head, std::string& out);
// "Name: value\r\n" for each field.
void serializeFields(const HeaderMap& fields, std::string& out);

// Chunked transfer coding (RFC 9112 §7.1).
// "<hex size>\r\n" for a chunk of `size` bytes (size > 0). Lets a caller write
// the data itself from its own buffer (scatter-gather), followed by
// appendChunkEnd().
void appendChunkHeader(std::uint64_t size, std::string& out);
// "\r\n" after a chunk's data.
void appendChunkEnd(std::string& out);
// A whole chunk: header, data, CRLF. Appends nothing for empty data (an empty
// chunk would end the body).
void appendChunk(std::string_view data, std::string& out);
// The last chunk: "0\r\n", the trailer fields if any, "\r\n".
void appendLastChunk(std::string& out, const HeaderMap* trailers = nullptr);

// Appends the decimal form of `value` (for Content-Length).
void appendDecimal(std::uint64_t value, std::string& out);

}  // namespace remora::http
