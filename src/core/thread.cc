#include "core/thread.h"

#include <pthread.h>
#include <sched.h>

namespace remora {

void runAsBackgroundThread() noexcept {
  sched_param param{};  // SCHED_BATCH takes priority 0
  (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
}

}  // namespace remora
