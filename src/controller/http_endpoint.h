// One HTTP(S) server of the controller on its own thread, bounded by HttpLimits: the scheduler
// extender's verbs and /metrics, or /metrics alone. Thread-safe: Stop may be called from any
// thread; the routes run on the server's workers.
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "controller/service.h"
#include "core/status.h"

namespace xpool::controller {

struct HttpsFiles {
  std::string cert, key, client_ca;  // cert empty: plain HTTP; client_ca: client certs required
};

class HttpEndpoint {
 public:
  // Serves `routes` on `listen` (host:port, port 0 for any) until Stop or destruction.
  static Result<std::unique_ptr<HttpEndpoint>> Start(
      const std::string& listen, const HttpsFiles& https, const HttpLimits& limits,
      const std::function<void(httplib::Server&)>& routes);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  const std::string& address() const { return address_; }  // host:port bound
  void Stop();

 private:
  HttpEndpoint() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

}  // namespace xpool::controller
