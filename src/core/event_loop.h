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
// else only from the loop's own thread (checked with REMORA_ASSERT).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <asio/io_context.hpp>

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
  // Asks run() to return after the current callback. Thread-safe.
  void stop();
  // Queues `fn` to run on the loop's thread. Thread-safe.
  void post(std::function<void()> fn);
  // Destroys `object` after the current callback returns.
  void deferDelete(std::unique_ptr<DeferredDeletable> object);

  // True when called from the thread running this loop (or before it runs).
  bool isThreadSafe() const;

  asio::io_context& context() { return context_; }

 private:
  void clearDeferredDeleteList();

  asio::io_context context_{1};  // concurrency hint 1: run by one thread (asio still locks)
  std::atomic<std::thread::id> thread_id_{};
  std::vector<std::unique_ptr<DeferredDeletable>> to_delete_;
  bool delete_scheduled_ = false;
};

}  // namespace remora
