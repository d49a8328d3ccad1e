// host:port addresses as the controller and agent take them on the command line.
#pragma once

#include <string>

namespace xpool {

// The host of "host:port" (a bracketed IPv6 host keeps its brackets).
inline std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

// Whether a host is this machine's loopback, the only one served without credentials.
inline bool IsLoopbackHost(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

}  // namespace xpool
