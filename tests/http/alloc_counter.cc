// Replaces the global operator new/delete of a test binary with counting
// ones. In a translation unit of its own, so no caller sees the malloc/free
// pairing inline.
//
// allocationCount() counts every thread's. A test that runs a proxy counts
// only the threads it marks with countThisThread() (its workers), since its
// own client and backend threads allocate as they please;
// isThisThreadCounted() lets a test count other allocators on the same
// threads (OpenSSL's, see tests/proxy/hot_path_component_test.cc).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<long> g_allocations{0};
std::atomic<long> g_counted_thread_allocations{0};
thread_local bool t_counted = false;
}  // namespace

long allocationCount() { return g_allocations.load(std::memory_order_relaxed); }
long countedThreadAllocations() {
  return g_counted_thread_allocations.load(std::memory_order_relaxed);
}
void countThisThread() { t_counted = true; }
bool isThisThreadCounted() { return t_counted; }

namespace {
void count() {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (t_counted) g_counted_thread_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

void* operator new(std::size_t size) {
  count();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void* operator new(std::size_t size, std::align_val_t align) {
  count();
  void* p = nullptr;
  if (::posix_memalign(&p, std::max(static_cast<std::size_t>(align), sizeof(void*)),
                       size == 0 ? 1 : size) == 0) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) { return operator new(size, align); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
