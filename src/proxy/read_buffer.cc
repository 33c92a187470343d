#include "proxy/read_buffer.h"

#include <algorithm>
#include <array>

#include <sys/mman.h>
#include <unistd.h>

namespace remora::proxy {

namespace {

// Freed blocks of one size kept for reuse by this thread: the worker that
// closes a connection usually accepts the next. Trivially destructible, so
// it stays usable while other thread-locals are destroyed; `reaper` unmaps
// what it holds when the thread ends.
struct BlockCache {
  static constexpr std::size_t kCapacity = 64;  // 1 MiB of 16 KiB blocks
  std::array<char*, kCapacity> blocks;
  std::size_t count;
  // For releaseIdleCache(): blocks below `untouched` stayed in the cache
  // since its last call; those below `released` have no pages.
  std::size_t untouched;
  std::size_t released;
  std::size_t block_size;  // the size the cache holds, set by the first block freed
  bool closed;             // the thread is ending: unmap, do not keep
};
thread_local BlockCache cache{};

struct CacheReaper {
  void arm() {}
  ~CacheReaper() {
    for (std::size_t i = 0; i < cache.count; ++i) ::munmap(cache.blocks[i], cache.block_size);
    cache.count = 0;
    cache.closed = true;
  }
};
thread_local CacheReaper reaper;

bool wholePages(std::size_t size) {
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size != 0 && size % page == 0;
}

}  // namespace

ReadBuffer::ReadBuffer(std::size_t size) : size_(size) {
  if (kOwnPages && wholePages(size)) {
    if (cache.count > 0 && cache.block_size == size) {
      bytes_ = cache.blocks[--cache.count];
      cache.untouched = std::min(cache.untouched, cache.count);
      cache.released = std::min(cache.released, cache.count);
      paged_ = true;
      return;
    }
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      bytes_ = static_cast<char*>(p);
      paged_ = true;
      return;
    }
    // Out of mappings (vm.max_map_count): the heap still works.
  }
  bytes_ = new char[size];  // uninitialised
}

void ReadBuffer::release() noexcept {
  if (bytes_ == nullptr) return;
  if (!paged_) {
    delete[] bytes_;
  } else {
    if (cache.block_size == 0) cache.block_size = size_;
    if (!cache.closed && cache.block_size == size_ && cache.count < BlockCache::kCapacity) {
      reaper.arm();
      cache.blocks[cache.count++] = bytes_;
    } else {
      ::munmap(bytes_, size_);
    }
  }
  bytes_ = nullptr;
  size_ = 0;
}

bool ReadBuffer::releaseIfIdle() noexcept {
  if (!paged_ || bytes_ == nullptr || quiet_checks_ >= 2) return false;
  if (++quiet_checks_ < 2) return false;
  // Anonymous private pages: the next touch maps a zeroed one.
  return ::madvise(bytes_, size_, MADV_DONTNEED) == 0;
}

std::size_t ReadBuffer::releaseIdleCache() noexcept {
  std::size_t freed = 0;
  for (std::size_t i = cache.released; i < cache.untouched; ++i)
    if (::madvise(cache.blocks[i], cache.block_size, MADV_DONTNEED) == 0) ++freed;
  cache.released = std::max(cache.released, cache.untouched);
  cache.untouched = cache.count;
  return freed;
}

}  // namespace remora::proxy
