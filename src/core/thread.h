// Scheduling of the threads beside the workers.
//
// A sidecar shares a pod's CPUs with its app. Its worker threads carry the
// requests; its other threads (the access-log writer, the admin and agent
// loops, certificate rotation) do work that can wait a moment. Under the
// kernel's default policy a thread that wakes up may preempt whatever runs
// on that CPU, a worker included, which then waits behind the app for its
// next time slice: milliseconds, for every request that worker holds. We
// measured exactly that: the log writer, woken ~90 times a second at
// 10,000 requests/s, took the p99 added by one proxy from 0.2-0.3 ms to
// 1.1-5.7 ms (docs/performance.md). SCHED_BATCH keeps a thread's fair
// share of CPU but never lets its wake-ups preempt anyone.
#pragma once

namespace remora {

// Puts the calling thread under SCHED_BATCH. Best effort: a kernel that
// refuses leaves it as it was (needs no privilege on Linux).
void runAsBackgroundThread() noexcept;

}  // namespace remora
