// The original destination of a redirected connection: where the client
// meant to connect before iptables' REDIRECT (or nftables' redirect) sent
// the connection to the proxy's capture port. SO_ORIGINAL_DST for IPv4,
// IP6T_SO_ORIGINAL_DST for IPv6 (conntrack's answer, as Envoy reads it).
//
// Errors: Errc::NotFound when the connection was not redirected (a client
// that dialled 15001 itself: the proxy refuses it rather than loop),
// Errc::Io for other failures.
#pragma once

#include <asio/ip/tcp.hpp>

#include "core/result.h"

namespace remora::proxy {

Result<asio::ip::tcp::endpoint> originalDestination(asio::ip::tcp::socket& socket);

}  // namespace remora::proxy
