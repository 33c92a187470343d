#include "proxy/proxy.h"

#include "core/log.h"

namespace remora::proxy {

Proxy::Proxy(ProxyOptions options, mesh::SnapshotPtr snapshot, Observer* observer)
    : options_(std::move(options)) {
  if (options_.concurrency == 0) options_.concurrency = 1;
  for (std::size_t i = 0; i < options_.concurrency; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, options_, snapshot, observer));
  }
}

Proxy::~Proxy() {
  stop();
  wait();
}

Status Proxy::start() {
  std::uint16_t out = options_.outbound_port;
  std::uint16_t in = options_.inbound_port;
  for (auto& w : workers_) {
    REMORA_TRY(w->listen(out, in));
    // Port 0 (tests): the first worker picks, the others share its ports.
    out = w->outboundPort();
    in = w->inboundPort();
  }
  outbound_port_ = out;
  inbound_port_ = in;
  for (auto& w : workers_) {
    threads_.emplace_back([w = w.get()] { w->run(); });
  }
  REMORA_LOG(proxy, info, "listening on {} (outbound) and {} (inbound) with {} workers", out, in,
             workers_.size());
  return ok();
}

void Proxy::update(mesh::SnapshotPtr snapshot) {
  for (auto& w : workers_) w->postSnapshot(snapshot);
}

void Proxy::drain(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  REMORA_LOG(proxy, info, "draining: {} connections, deadline {} ms", connections(),
             deadline.count());
  for (auto& w : workers_) w->postDrain(until);
}

void Proxy::stop() {
  for (auto& w : workers_) w->stop();
}

void Proxy::wait() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

std::size_t Proxy::connections() const {
  std::size_t n = 0;
  for (const auto& w : workers_) n += w->connections();
  return n;
}

std::uint64_t Proxy::idleBuffersReleased() const {
  std::uint64_t n = 0;
  for (const auto& w : workers_) n += w->idleBuffersReleased();
  return n;
}

}  // namespace remora::proxy
