// Files at Remora's boundaries: bounded reads and atomic writes.
//
// readFile() refuses anything larger than the caller's limit before reading
// it whole, so a 1 GB "certificate" is an error, not an allocation.
// writeFileAtomic() writes a sibling temporary file, fsyncs it and renames it
// over the target: a reader sees the old content or the new, never half of
// either, and a crash leaves at worst a stray temporary (removed on error).
//
// Threading: none of its own; concurrent writers of one path each produce a
// whole file and the last rename wins.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "core/result.h"

namespace remora {

// The whole content of `path`. Errors: NotFound when it does not exist,
// PayloadTooLarge above `max_bytes`, Io otherwise (with errno's text).
Result<std::string> readFile(const std::string& path, std::size_t max_bytes);

// Replaces `path` with `content`, created with permission bits `mode`
// (e.g. 0600 for private keys). The directory must exist.
Status writeFileAtomic(const std::string& path, std::string_view content, mode_t mode = 0644);

}  // namespace remora
