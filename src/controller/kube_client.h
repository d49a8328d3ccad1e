// KubeClient: the few Kubernetes API calls the controller makes — read a pod, annotate it, bind it
// to a node (pods/binding), list and watch pods — over HTTPS with a service account's bearer
// token, checking the API server's certificate against the cluster's CA.
//
// Thread-safety: every method may be called from any thread; each call uses its own connection,
// except that Stop() ends a WatchPods in progress.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"

namespace httplib {
class Client;
}

namespace xpool::controller {

struct KubeOptions {
  std::string server;      // https://host:port (http:// is refused unless allow_plain_http)
  std::string token_file;  // the service account's token: re-read on every call (it rotates)
  std::string ca_file;     // the CA that signed the API server's certificate
  bool allow_plain_http = false;
};

// The standard in-cluster settings: KUBERNETES_SERVICE_HOST and _PORT, and the service account's
// token and CA under /var/run/secrets/kubernetes.io/serviceaccount/.
Result<KubeOptions> InClusterKubeOptions();

class KubeClient {
 public:
  static Result<std::unique_ptr<KubeClient>> Create(const KubeOptions& options);
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // GET /api/v1/namespaces/NS/pods/NAME.
  Result<nlohmann::json> GetPod(const std::string& ns, const std::string& name);
  // PATCH (merge patch) of the pod's metadata.annotations.
  Status AnnotatePod(const std::string& ns, const std::string& name,
                     const std::map<std::string, std::string>& annotations);
  // POST /api/v1/namespaces/NS/pods/NAME/binding: a v1 Binding whose target is the node.
  Status BindPod(const std::string& ns, const std::string& name, const std::string& uid,
                 const std::string& node);
  // GET /api/v1/pods: a PodList of every namespace.
  Result<nlohmann::json> ListPods();
  // GET /api/v1/pods?watch=true from `resource_version`: each event object (type, object) goes to
  // `on_event` until the server ends the watch (after at most `timeout_seconds`), `on_event`
  // returns false, or Stop() is called.
  Status WatchPods(const std::string& resource_version, int timeout_seconds,
                   const std::function<bool(const nlohmann::json&)>& on_event);
  // Ends a WatchPods in progress, and any later one, at once.
  void Stop();

 private:
  explicit KubeClient(KubeOptions options) : options_(std::move(options)) {}
  Result<std::unique_ptr<httplib::Client>> Connect() const;
  // Connect, for a call on one pod: its namespace and name checked first (they form the path).
  Result<std::unique_ptr<httplib::Client>> ConnectForPod(const std::string& ns,
                                                         const std::string& name) const;

  KubeOptions options_;
  std::atomic<bool> stopped_{false};
  std::mutex watch_mu_;
  httplib::Client* watching_ = nullptr;  // the watch's connection, for Stop()
};

}  // namespace xpool::controller
