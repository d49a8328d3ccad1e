#include "remote/link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace xpool::remote {
namespace {

constexpr std::string_view kUnixPrefix = "unix:";

std::string Errno(std::string_view what) {
  return std::string(what) + ": " + std::strerror(errno);
}

Result<sockaddr_un> UnixAddress(std::string_view path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("unix socket path '" + std::string(path) +
                                   "' is empty or too long");
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

struct HostPort {
  std::string host;
  std::string port;
};

Result<HostPort> SplitHostPort(std::string_view endpoint) {
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == endpoint.size()) {
    return Status::InvalidArgument("endpoint '" + std::string(endpoint) +
                                   "': give HOST:PORT or unix:PATH");
  }
  HostPort hp{std::string(endpoint.substr(0, colon)), std::string(endpoint.substr(colon + 1))};
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  return hp;
}

// Waits for the socket to become ready for `events`; false on timeout.
bool Await(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

std::string FormatAddress(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  if (ss.ss_family == AF_UNIX) {
    return std::string(kUnixPrefix) + reinterpret_cast<const sockaddr_un*>(&ss)->sun_path;
  }
  return "?";
}

}  // namespace

void SetSendTimeout(int fd, int timeout_ms) {
  timeval tv{timeout_ms / 1000, static_cast<suseconds_t>(timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

Result<int> Dial(std::string_view endpoint, int timeout_ms) {
  if (endpoint.substr(0, kUnixPrefix.size()) == kUnixPrefix) {
    auto addr = UnixAddress(endpoint.substr(kUnixPrefix.size()));
    if (!addr.ok()) return addr.status();
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::IoError(Errno("socket"));
    if (connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
      const std::string why = Errno("connect " + std::string(endpoint));
      close(fd);
      return Status::IoError(why);
    }
    SetSendTimeout(fd, timeout_ms);
    return fd;
  }
  auto hp = SplitHostPort(endpoint);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(hp->host.c_str(), hp->port.c_str(), &hints, &found); rc != 0) {
    return Status::IoError("cannot resolve '" + std::string(endpoint) + "': " + gai_strerror(rc));
  }
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS && Await(fd, POLLOUT, timeout_ms)) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      errno = err;
      rc = err == 0 ? 0 : -1;
    } else if (rc != 0 && errno == EINPROGRESS) {
      errno = ETIMEDOUT;
    }
    if (rc == 0) {
      freeaddrinfo(found);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
      SetNoDelay(fd);
      SetSendTimeout(fd, timeout_ms);
      SetUnacknowledgedTimeout(fd, timeout_ms);
      return fd;
    }
    why = Errno("connect " + std::string(endpoint));
    close(fd);
  }
  freeaddrinfo(found);
  return Status::IoError(why);
}

Result<int> Listen(std::string_view endpoint) {
  if (endpoint.substr(0, kUnixPrefix.size()) == kUnixPrefix) {
    const std::string path(endpoint.substr(kUnixPrefix.size()));
    auto addr = UnixAddress(path);
    if (!addr.ok()) return addr.status();
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path.c_str());
    if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0 ||
        listen(fd, 64) != 0) {
      const std::string why = Errno("listen on " + std::string(endpoint));
      if (fd >= 0) close(fd);
      return Status::IoError(why);
    }
    return fd;
  }
  auto hp = SplitHostPort(endpoint);
  if (!hp.ok()) return hp.status();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(hp->host.c_str(), hp->port.c_str(), &hints, &found); rc != 0) {
    return Status::IoError("cannot resolve '" + std::string(endpoint) + "': " + gai_strerror(rc));
  }
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 64) != 0) {
    const std::string why = Errno("listen on " + std::string(endpoint));
    if (fd >= 0) close(fd);
    freeaddrinfo(found);
    return Status::IoError(why);
  }
  freeaddrinfo(found);
  return fd;
}

std::string BoundEndpoint(int listen_fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  return FormatAddress(ss);
}

bool PeerIsLocal(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return false;
  if (ss.ss_family == AF_UNIX) return true;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) != 0;
  }
  return false;
}

std::string PeerName(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return ss.ss_family == AF_UNIX ? "unix" : FormatAddress(ss);
}

Status WriteAll(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Status::IoError("the peer stopped reading (send timed out)");
    }
    if (k <= 0) return Status::IoError(Errno("send"));
    p += k;
    n -= static_cast<size_t>(k);
  }
  return Status::Ok();
}

Status ReadAll(int fd, void* data, size_t n, int idle_timeout_ms) {
  auto* p = static_cast<uint8_t*>(data);
  while (n > 0) {
    if (idle_timeout_ms >= 0 && !Await(fd, POLLIN, idle_timeout_ms)) {
      return Status::IoError("nothing heard for " + std::to_string(idle_timeout_ms) + " ms");
    }
    const ssize_t k = recv(fd, p, n, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k == 0) return Status::IoError("the peer closed the connection");
    if (k < 0) return Status::IoError(Errno("recv"));
    p += k;
    n -= static_cast<size_t>(k);
  }
  return Status::Ok();
}

Status WriteFrame(int fd, Op op, uint16_t flags, uint64_t sequence, const void* payload, size_t n) {
  uint8_t header[kFrameHeaderBytes];
  EncodeHeader(FrameHeader{static_cast<uint32_t>(n), op, flags, sequence}, header);
  // Small frames go out in one segment: a header sent alone would wait for the peer's ACK.
  constexpr size_t kCoalesce = size_t{64} * 1024;
  if (n > 0 && n <= kCoalesce) {
    uint8_t frame[kFrameHeaderBytes + kCoalesce];
    std::memcpy(frame, header, sizeof(header));
    std::memcpy(frame + sizeof(header), payload, n);
    return WriteAll(fd, frame, sizeof(header) + n);
  }
  if (Status s = WriteAll(fd, header, sizeof(header)); !s.ok()) return s;
  return n == 0 ? Status::Ok() : WriteAll(fd, payload, n);
}

void SetUnacknowledgedTimeout(int fd, int timeout_ms) {
  const unsigned ms = static_cast<unsigned>(timeout_ms);
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
}

void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Status ReadFrame(int fd, Frame* frame, int idle_timeout_ms) {
  uint8_t header[kFrameHeaderBytes];
  if (Status s = ReadAll(fd, header, sizeof(header), idle_timeout_ms); !s.ok()) return s;
  auto h = DecodeHeader(header);
  if (!h.ok()) return h.status();
  frame->header = *h;
  frame->payload.resize(h->payload_bytes);
  return ReadAll(fd, frame->payload.data(), h->payload_bytes, idle_timeout_ms);
}

}  // namespace xpool::remote
