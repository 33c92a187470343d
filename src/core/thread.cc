#include "core/thread.h"

#include <pthread.h>
#include <sched.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace remora {

void runAsBackgroundThread() noexcept {
  sched_param param{};  // SCHED_BATCH takes priority 0
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
}

void releaseFreeHeapPages() noexcept {
#if defined(__GLIBC__)
  (void)::malloc_trim(0);
#endif
}

void keepLargeBlocksMapped() noexcept {
#if defined(__GLIBC__)
  (void)::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

}  // namespace remora
