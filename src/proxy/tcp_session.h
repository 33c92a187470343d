// TcpSession: an opaque TCP connection proxied byte for byte.
//
//   connect (route: service endpoint / original destination, with retries
//   to other endpoints on connect failure) -> pump both directions -> close
//
// Each direction reads into its own buffer and writes it out before reading
// again, so a slow reader slows its writer (backpressure, bounded memory).
// An EOF from one side becomes shutdown(SHUT_WR) on the other (half-close);
// the session ends when both directions have ended, or at once on an error
// (a reset on one side closes the other).
//
// Also the tail of an HTTP upgrade: after a 101, the HttpSession hands both
// sockets and the bytes already read on each side to a TcpSession
// (startTunnel).
//
// Threading: its worker's thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "proxy/observer.h"
#include "proxy/read_buffer.h"
#include "proxy/route.h"
#include "proxy/stream.h"
#include "proxy/worker.h"

namespace remora::proxy {

class TcpSession : public Session {
 public:
  // `initial` holds what the client sent already (read while sniffing).
  // `peer`: what the downstream's mTLS proved, if it was mTLS.
  TcpSession(Worker& worker, Stream downstream, std::string initial, mesh::SnapshotPtr snapshot,
             Route route, PeerIdentity peer = {});
  ~TcpSession() override;

  // Connects upstream as the route says, then proxies.
  void start();
  // Both sides are connected already (an HTTP upgrade): proxies at once.
  // `to_upstream` / `to_downstream` are bytes read but not yet forwarded.
  void startTunnel(Stream upstream, std::string to_upstream, std::string to_downstream,
                   bool report);

  void forceClose() override { finish(0); }
  std::size_t releaseIdleMemory() override;

 private:
  struct Pipe {
    Stream* from;
    Stream* to;
    ReadBuffer buffer;
    std::string pending;  // bytes to write before reading again
    std::uint64_t bytes = 0;
    bool reading = false;  // a read into `buffer` is pending: it holds nothing
    bool done = false;
  };

  void connectNext();
  void onTcpConnected();
  void connectFailed(std::string_view why);
  void onConnected();
  void pump(Pipe& pipe);
  void writeThenPump(Pipe& pipe, std::size_t n);
  void finish(std::uint32_t flags);
  ConnectionReport report() const;

  Stream down_;
  Stream up_;
  PeerIdentity downstream_peer_;
  PeerIdentity upstream_peer_;
  mesh::SnapshotPtr snapshot_;
  Route route_;
  const mesh::Endpoint* endpoint_ = nullptr;
  asio::ip::tcp::endpoint upstream_host_;
  asio::ip::tcp::endpoint upstream_local_;
  asio::ip::tcp::endpoint downstream_remote_;
  asio::ip::tcp::endpoint downstream_local_;
  asio::steady_timer connect_timer_;
  int attempts_ = 0;
  bool reported_open_ = false;
  bool connected_ = false;
  bool report_ = true;
  bool finished_ = false;
  std::uint32_t flags_ = 0;
  Pipe down_to_up_;
  Pipe up_to_down_;
  SystemTime start_time_;
  std::chrono::steady_clock::time_point start_mono_;
};

}  // namespace remora::proxy
