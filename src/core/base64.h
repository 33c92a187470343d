// Base64 (RFC 4648 §4, standard alphabet, with padding): the encoding of
// Kubernetes' []byte fields in JSON (AdmissionResponse.patch, Secret data,
// caBundle).
//
// decodeBase64() is strict: the length must be a multiple of 4, padding
// only at the end, no whitespace, no other alphabet; unused bits of the
// last symbol must be zero. Anything else is Errc::ParseError.
//
// Threading: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace remora {

std::string encodeBase64(std::string_view bytes);
Result<std::string> decodeBase64(std::string_view text);

}  // namespace remora
