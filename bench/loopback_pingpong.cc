// The baseline for the remote protocol's round trip: two processes exchanging 16-byte messages
// over loopback TCP with TCP_NODELAY, as a remote session's client and server do. Prints the
// median and 99th percentile round trip.
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

int main() {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("listen");
    return 1;
  }
  const int one = 1;
  char message[16] = {};
  const pid_t echo = fork();
  if (echo == 0) {
    const int c = accept(listener, nullptr, nullptr);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (recv(c, message, sizeof(message), MSG_WAITALL) == sizeof(message)) {
      send(c, message, sizeof(message), 0);
    }
    _exit(0);
  }
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(s, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    std::perror("connect");
    return 1;
  }
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<double> us;
  for (int i = 0; i < 50000; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    send(s, message, sizeof(message), 0);
    recv(s, message, sizeof(message), MSG_WAITALL);
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  close(s);
  waitpid(echo, nullptr, 0);
  std::sort(us.begin(), us.end());
  std::printf("loopback TCP round trip p50 %.1f us p99 %.1f us\n", us[us.size() / 2],
              us[us.size() * 99 / 100]);
  return 0;
}
