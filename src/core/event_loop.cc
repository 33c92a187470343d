#include "core/event_loop.h"

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include "core/assert.h"

namespace remora {

EventLoop::EventLoop() = default;

EventLoop::~EventLoop() {
  // Whatever is still pending dies with the loop, on the loop's terms.
  clearDeferredDeleteList();
}

void EventLoop::run() {
  thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
  auto work = asio::make_work_guard(context_);
  context_.run();
  clearDeferredDeleteList();
}

void EventLoop::stop() { context_.stop(); }

void EventLoop::post(std::function<void()> fn) { asio::post(context_, std::move(fn)); }

void EventLoop::deferDelete(std::unique_ptr<DeferredDeletable> object) {
  REMORA_ASSERT(isThreadSafe());
  to_delete_.push_back(std::move(object));
  if (!delete_scheduled_) {
    delete_scheduled_ = true;
    asio::post(context_, [this] { clearDeferredDeleteList(); });
  }
}

bool EventLoop::isThreadSafe() const {
  auto owner = thread_id_.load(std::memory_order_acquire);
  return owner == std::thread::id{} || owner == std::this_thread::get_id();
}

void EventLoop::clearDeferredDeleteList() {
  delete_scheduled_ = false;
  // Destructors may defer more objects; swap so those land in a fresh list.
  while (!to_delete_.empty()) {
    std::vector<std::unique_ptr<DeferredDeletable>> batch;
    batch.swap(to_delete_);
    batch.clear();
  }
}

}  // namespace remora
