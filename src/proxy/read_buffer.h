// ReadBuffer: the fixed-size buffer one side of a connection reads into.
//
// Its bytes start uninitialised, on purpose: a zeroed 16 KiB buffer (a
// std::vector<char> of that size) touches all four of its pages, so every
// open connection held 32 KiB of resident memory for its two sides even when
// its reads (a request head, a 1 KiB response) only ever wrote the first
// page. Untouched, the kernel maps a page only when a read first writes it.
#pragma once

#include <cstddef>
#include <memory>

#include <asio/buffer.hpp>

namespace remora::proxy {

class ReadBuffer {
 public:
  ReadBuffer() = default;  // no bytes yet: assign a sized one before reading
  explicit ReadBuffer(std::size_t size)
      : bytes_(std::make_unique_for_overwrite<char[]>(size)), size_(size) {}

  char* data() { return bytes_.get(); }
  const char* data() const { return bytes_.get(); }
  std::size_t size() const { return size_; }
  asio::mutable_buffer asBuffer() { return {bytes_.get(), size_}; }

 private:
  std::unique_ptr<char[]> bytes_;
  std::size_t size_ = 0;
};

}  // namespace remora::proxy
