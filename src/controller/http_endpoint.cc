#include "controller/http_endpoint.h"

#include <chrono>
#include <cstdlib>

#include "core/address.h"

namespace xpool::controller {

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(
    const std::string& listen, const HttpsFiles& https, const HttpLimits& limits,
    const std::function<void(httplib::Server&)>& routes) {
  const std::string host = HostOf(listen);
  const int port = std::atoi(listen.substr(host.size() + 1).c_str());
  std::unique_ptr<HttpEndpoint> e(new HttpEndpoint());
  if (https.cert.empty()) {
    e->server_ = std::make_unique<httplib::Server>();
  } else {
    auto tls = std::make_unique<httplib::SSLServer>(
        https.cert.c_str(), https.key.c_str(),
        https.client_ca.empty() ? nullptr : https.client_ca.c_str());
    if (!tls->is_valid()) {
      return Status::InvalidArgument(
          "cannot serve HTTPS with certificate '" + https.cert + "', key '" + https.key + "'" +
          (https.client_ca.empty() ? std::string() : " and client CA '" + https.client_ca + "'"));
    }
    e->server_ = std::move(tls);
  }
  httplib::Server& server = *e->server_;
  // Answers go out as soon as they are written: without this, Nagle's algorithm holds a body
  // written after its headers until the peer's delayed ACK, 40 ms later.
  server.set_tcp_nodelay(true);
  // The library's default adds SO_REUSEPORT, with which a second server on the port starts
  // silently and takes part of the traffic.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // kube-scheduler keeps its connection to the extender: do not close it every 5 requests.
  server.set_keep_alive_max_count(100'000);
  server.set_payload_max_length(limits.max_body_bytes);
  server.set_read_timeout(std::chrono::milliseconds(limits.read_timeout_ms));
  server.set_write_timeout(std::chrono::milliseconds(limits.write_timeout_ms));
  server.set_keep_alive_timeout(limits.keep_alive_timeout_s);
  server.new_task_queue = [workers = limits.workers] {
    return new httplib::ThreadPool(static_cast<size_t>(workers));
  };
  routes(server);
  const int bound =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return Status::IoError("cannot serve HTTP on '" + listen + "'");
  e->address_ = host + ":" + std::to_string(bound);
  e->thread_ = std::thread([raw = e.get()] { raw->server_->listen_after_bind(); });
  return e;
}

void HttpEndpoint::Stop() {
  if (server_ != nullptr) server_->stop();
}

HttpEndpoint::~HttpEndpoint() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace xpool::controller
