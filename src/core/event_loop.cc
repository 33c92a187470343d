#include "core/event_loop.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <asio/buffer.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/assert.h"

namespace remora {
namespace {

int makeEventFd() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // Without it no other thread could reach the loop: nothing sensible to
  // fall back to (this happens at start-up, when the process is out of
  // descriptors).
  if (fd < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  return fd;
}

}  // namespace

EventLoop::EventLoop() : inbox_wake_(context_, makeEventFd()) {}

EventLoop::~EventLoop() {
  // Whatever is still pending dies with the loop, on the loop's terms.
  clearDeferredDeleteList();
}

void EventLoop::run() {
  thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
  auto work = asio::make_work_guard(context_);
  readInbox();  // what was posted before run() is waiting there
  context_.run();
  clearDeferredDeleteList();
}

void EventLoop::stop() {
  if (onLoopThread()) {
    context_.stop();
    return;
  }
  {
    std::lock_guard lock(inbox_mutex_);
    stop_requested_ = true;
  }
  std::uint64_t one = 1;
  (void)!::write(inbox_wake_.native_handle(), &one, sizeof one);
}

void EventLoop::post(std::function<void()> fn) {
  if (onLoopThread()) {
    asio::post(context_, std::move(fn));  // no lock: asio's queue is this thread's
    return;
  }
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_.push_back(std::move(fn));
  }
  // Counts up (EAGAIN only past 2^64 - 2 wake-ups not yet read); the loop
  // reads the counter back to zero before it looks at the inbox, so a post
  // that misses this round wakes the next one.
  std::uint64_t one = 1;
  (void)!::write(inbox_wake_.native_handle(), &one, sizeof one);
}

void EventLoop::readInbox() {
  inbox_wake_.async_read_some(asio::buffer(&inbox_count_, sizeof inbox_count_),
                              [this](const std::error_code& ec, std::size_t) {
                                if (ec) return;  // operation_aborted: the loop is going away
                                runInbox();
                                readInbox();
                              });
}

void EventLoop::runInbox() {
  std::vector<std::function<void()>> batch;
  bool stop = false;
  {
    std::lock_guard lock(inbox_mutex_);
    batch.swap(inbox_);
    stop = stop_requested_;
  }
  for (auto& fn : batch) fn();
  if (stop) context_.stop();
}

void EventLoop::deferDelete(std::unique_ptr<DeferredDeletable> object) {
  REMORA_ASSERT(isThreadSafe());
  to_delete_.push_back(std::move(object));
  if (!delete_scheduled_) {
    delete_scheduled_ = true;
    asio::post(context_, [this] { clearDeferredDeleteList(); });
  }
}

bool EventLoop::onLoopThread() const {
  return thread_id_.load(std::memory_order_acquire) == std::this_thread::get_id();
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
