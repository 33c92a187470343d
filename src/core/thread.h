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
//
// runInScratchArena: a big parse (a 1,000-service mesh config is a YAML tree
// and a JSON tree of a few MiB) frees its trees once the long-lived objects
// are built from them. Built on one thread, the two interleave on the same
// heap pages, and the freed trees leave holes that stay resident around
// what lives on: 0.7 KiB per service, measured. glibc gives a new thread an
// arena of its own, so trees built there free whole pages of that arena
// (given back to the kernel), and the caller's heap holds only what lives.
#pragma once

#include <exception>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

namespace remora {

// Puts the calling thread under SCHED_BATCH. Best effort: a kernel that
// refuses leaves it as it was (needs no privilege on Linux).
void runAsBackgroundThread() noexcept;

// Hands the free pages between live heap allocations, in every arena, back
// to the kernel (glibc keeps them mapped until asked). Takes the arenas'
// locks for tens of microseconds to a few milliseconds, so never on a
// request's path. Does nothing off glibc.
void releaseFreeHeapPages() noexcept;

// Allocations of 128 KiB or more get a mapping of their own, unmapped when
// freed, for the rest of the process: glibc's default M_MMAP_THRESHOLD, set
// so that glibc no longer raises it after large frees (up to 32 MiB), which
// would keep later large blocks in a thread's heap, whose top malloc_trim
// never gives back. Does nothing off glibc.
void keepLargeBlocksMapped() noexcept;

// Runs `fn` on a short-lived thread of its own, waits, and returns what it
// returns (an exception it throws is rethrown here). Only for work whose
// temporaries are large: a thread costs tens of microseconds. When no
// thread can be started, `fn` runs on the caller's.
template <typename Fn>
std::invoke_result_t<Fn&> runInScratchArena(Fn&& fn) {
  using R = std::invoke_result_t<Fn&>;
  std::optional<R> result;
  std::exception_ptr failure;
  std::thread scratch;
  try {
    scratch = std::thread([&] {
      try {
        result.emplace(fn());
      } catch (...) {
        failure = std::current_exception();
      }
    });
  } catch (const std::system_error&) {  // no thread: the caller's heap will do
    return fn();
  }
  scratch.join();
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

}  // namespace remora
