// ReadBuffer: the fixed-size buffer one side of a connection reads into.
//
// Its bytes start uninitialised and live in pages of their own, both on
// purpose: resident memory per open connection is what a sidecar pays for
// every idle keep-alive and pooled connection it holds.
//   - A zeroed 16 KiB buffer (a std::vector<char> of that size) touches all
//     four of its pages, so every connection held 32 KiB for its two sides
//     even when its reads (a request head, a 1 KiB response) only ever wrote
//     the first page.
//   - Uninitialised but from malloc, a buffer allocated after a TLS
//     handshake is carved from the memory the handshake just freed (OpenSSL's
//     17 KiB record buffers, the transcript), pages already resident, so an
//     idle mTLS connection still paid for all of them. Whole pages from mmap,
//     never shared with other allocations, stay unmapped until a read writes
//     them.
// Freed blocks wait in a small per-thread cache for the next connection, so
// steady connection churn costs no system call. Sizes that are not whole
// pages, and sanitizer builds (whose heap checks overruns), use the heap.
//
// Idle memory goes back to the kernel (Worker's idle-memory check, every few
// seconds): a buffer through which no read was issued since the previous
// check, and which its owner says holds nothing (a read is pending into it,
// or its connection waits in the pool), drops its pages with
// MADV_DONTNEED; so do cached blocks no connection took since then. The next
// read faults in a zeroed page. A connection busy at any rate never pays
// for this: each read marks its buffer in use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include <asio/buffer.hpp>

namespace remora::proxy {

namespace detail {
#if defined(__SANITIZE_ADDRESS__)  // g++
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // clang (the fuzz build)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif
}  // namespace detail

class ReadBuffer {
 public:
  // Whether page-sized buffers get pages of their own (not under ASan).
  static constexpr bool kOwnPages = !detail::kAddressSanitizer;

  ReadBuffer() = default;  // no bytes yet: assign a sized one before reading
  explicit ReadBuffer(std::size_t size);
  ReadBuffer(ReadBuffer&& other) noexcept
      : bytes_(std::exchange(other.bytes_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        paged_(other.paged_),
        quiet_checks_(other.quiet_checks_) {}
  ReadBuffer& operator=(ReadBuffer&& other) noexcept {
    if (this != &other) {
      release();
      bytes_ = std::exchange(other.bytes_, nullptr);
      size_ = std::exchange(other.size_, 0);
      paged_ = other.paged_;
      quiet_checks_ = other.quiet_checks_;
    }
    return *this;
  }
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;
  ~ReadBuffer() { release(); }

  char* data() { return bytes_; }
  const char* data() const { return bytes_; }
  std::size_t size() const { return size_; }
  // The bytes for a read: marks the buffer in use for releaseIfIdle().
  asio::mutable_buffer asBuffer() {
    quiet_checks_ = 0;
    return {bytes_, size_};
  }

  // One idle-memory check. The owner calls it only while the buffer holds
  // nothing it still needs. On the second call in a row with no asBuffer()
  // between, the pages go back to the kernel; returns whether they went now
  // (never on the heap, and once per quiet spell).
  bool releaseIfIdle() noexcept;
  // The same for this thread's cache of freed blocks: those no buffer took
  // since the previous call drop their pages. Returns how many did now.
  static std::size_t releaseIdleCache() noexcept;

 private:
  void release() noexcept;

  char* bytes_ = nullptr;
  std::size_t size_ = 0;
  bool paged_ = false;  // from mmap (else new[])
  // Checks since the last asBuffer(): 0 in use, 1 quiet once, 2 released.
  std::uint8_t quiet_checks_ = 0;
};

}  // namespace remora::proxy
