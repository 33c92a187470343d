// EventLoop: one per worker thread, wrapping an asio::io_context.
//
// Everything a connection does happens on the loop of the thread that
// accepted it, so its state needs no lock. Other threads talk to a loop only
// through post(). Objects that must outlive the callback that closes them
// (a connection closed from inside its own read handler) go to
// deferDelete(), which destroys them after the current callback returns
// (Envoy's DeferredDeletable; never `delete this`).
//
// Threading: post() and stop() may be called from any thread; everything
// else (sockets, timers, deferDelete) only from the loop's own thread, or
// from the thread that builds the loop before run() starts on another.
// asio is told so (ASIO_CONCURRENCY_HINT_UNSAFE): its scheduler and reactor
// take no lock, so a read, a write, a timer or a callback the loop posts to
// itself costs no mutex. Only a post() from another thread does: it goes
// through the inbox below, under its own mutex, and wakes the loop with an
// eventfd (as Envoy's Dispatcher::post does).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

namespace remora {

// Anything the loop may destroy later on the caller's behalf.
class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs callbacks until stop() is called. Binds the loop to this thread.
  void run();
  // Asks run() to return after the current callback. Thread-safe; from
  // another thread, the loop stops once it has run what was posted before.
  void stop();
  // Queues `fn` to run on the loop's thread. Thread-safe.
  void post(std::function<void()> fn);
  // Destroys `object` after the current callback returns.
  void deferDelete(std::unique_ptr<DeferredDeletable> object);

  // True when called from the thread running this loop (or before it runs).
  bool isThreadSafe() const;
  // True only on the thread running this loop.
  bool onLoopThread() const;

  asio::io_context& context() { return context_; }

 private:
  void clearDeferredDeleteList();
  // Waits for the inbox's eventfd, then runs what other threads posted.
  void readInbox();
  void runInbox();

  asio::io_context context_{ASIO_CONCURRENCY_HINT_UNSAFE};
  std::atomic<std::thread::id> thread_id_{};
  // Callbacks posted from other threads (or before run()), and a stop()
  // from another thread; the eventfd wakes the loop for them.
  std::mutex inbox_mutex_;
  std::vector<std::function<void()>> inbox_;
  bool stop_requested_ = false;
  asio::posix::stream_descriptor inbox_wake_;
  std::uint64_t inbox_count_ = 0;  // the eventfd's counter, read into here
  std::vector<std::unique_ptr<DeferredDeletable>> to_delete_;
  bool delete_scheduled_ = false;
};

}  // namespace remora
