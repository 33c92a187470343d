#include "proxy/original_dst.h"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace remora::proxy {

Result<asio::ip::tcp::endpoint> originalDestination(asio::ip::tcp::socket& socket) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  std::error_code ec;
  auto local = socket.local_endpoint(ec);
  if (ec) return Error{Errc::Io, "getsockname: " + ec.message()};
  int rc = 0;
  if (local.address().is_v4() ||
      (local.address().is_v6() && local.address().to_v6().is_v4_mapped())) {
    rc = ::getsockopt(socket.native_handle(), SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  } else {
    rc = ::getsockopt(socket.native_handle(), SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  }
  if (rc != 0) {
    int err = errno;
    return Error{err == ENOENT ? Errc::NotFound : Errc::Io,
                 fmt::format("SO_ORIGINAL_DST: {}", std::strerror(err))};
  }
  // The kernel fills the address but leaves `len` as we passed it: the
  // family says how much is meaningful.
  asio::ip::tcp::endpoint ep;
  std::size_t size = ss.ss_family == AF_INET    ? sizeof(sockaddr_in)
                     : ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6)
                                                : 0;
  if (size == 0) return Error{Errc::Io, "SO_ORIGINAL_DST: unknown address family"};
  std::memcpy(ep.data(), &ss, size);
  ep.resize(size);
  return ep;
}

}  // namespace remora::proxy
