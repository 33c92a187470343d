#include "proxy/load_balancer.h"

namespace remora::proxy {

std::size_t EndpointHash::operator()(const asio::ip::tcp::endpoint& ep) const noexcept {
  std::size_t h = ep.port();
  if (ep.address().is_v4()) {
    h ^= static_cast<std::size_t>(ep.address().to_v4().to_uint()) * 0x9E3779B97F4A7C15ULL;
  } else {
    for (auto b : ep.address().to_v6().to_bytes()) h = h * 131 + b;
  }
  return h;
}

std::uint64_t LbState::next() {
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545F4914F6CDD1DULL;
}

void LbState::requestEnded(const asio::ip::tcp::endpoint& ep) {
  auto it = active_.find(ep);
  if (it != active_.end() && it->second > 0) --it->second;
}

void LbState::forgetSnapshot() {
  cursor_.clear();
  std::erase_if(active_, [](const auto& entry) { return entry.second == 0; });
}

std::uint32_t LbState::active(const asio::ip::tcp::endpoint& ep) const {
  auto it = active_.find(ep);
  return it == active_.end() ? 0 : it->second;
}

const mesh::Endpoint* LbState::pick(const mesh::Service& service, const mesh::ServicePort& port,
                                    const mesh::Endpoint* avoid) {
  const auto& eps = service.endpoints;
  if (eps.empty()) return nullptr;
  if (eps.size() == 1) return &eps[0];
  auto skip = [&](std::size_t i) { return avoid != nullptr && &eps[i] == avoid; };
  if (service.load_balancer == mesh::LoadBalancer::RoundRobin) {
    std::size_t& cursor = cursor_[CursorKey{&service, port.port}];
    std::size_t i = cursor++ % eps.size();
    if (skip(i)) i = cursor++ % eps.size();
    return &eps[i];
  }
  std::size_t a = next() % eps.size();
  std::size_t b = next() % (eps.size() - 1);
  if (b >= a) ++b;  // two distinct endpoints
  if (skip(a)) return &eps[b];
  if (skip(b)) return &eps[a];
  auto load = [&](std::size_t i) {
    return active(asio::ip::tcp::endpoint(eps[i].address, eps[i].portFor(port)));
  };
  return load(b) < load(a) ? &eps[b] : &eps[a];
}

}  // namespace remora::proxy
