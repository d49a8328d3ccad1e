#include "controller/kube_client.h"

#include <httplib.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>
#include <utility>

#include "core/token_file.h"

namespace xpool::controller {
namespace {

using nlohmann::json;

constexpr std::string_view kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// Namespaces and pod names are DNS labels and subdomains; anything else would escape the path.
Status CheckName(const std::string& what, const std::string& name) {
  if (name.empty() || name.size() > 253 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos) {
    return Status::InvalidArgument("'" + name + "' is not a Kubernetes " + what + " name");
  }
  return Status::Ok();
}

std::string PodPath(const std::string& ns, const std::string& name) {
  return "/api/v1/namespaces/" + ns + "/pods/" + name;
}

// The error of a call: the transport's, or the API server's Status message.
Status CallError(const std::string& what, const httplib::Result& res) {
  if (!res) {
    return Status::IoError("kubernetes API: " + what + ": " + httplib::to_string(res.error()));
  }
  std::string message = res->body;
  const json status = json::parse(res->body, nullptr, false);
  if (status.is_object() && status.contains("message") && status["message"].is_string()) {
    message = status["message"].get<std::string>();
  }
  return Status::FailedPrecondition("kubernetes API: " + what + ": HTTP " +
                                    std::to_string(res->status) + ": " + message);
}

}  // namespace

Result<KubeOptions> InClusterKubeOptions() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return Status::FailedPrecondition(
        "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  KubeOptions o;
  const std::string h = host;
  o.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  o.token_file = std::string(kServiceAccountDir) + "/token";
  o.ca_file = std::string(kServiceAccountDir) + "/ca.crt";
  return o;
}

Result<std::unique_ptr<KubeClient>> KubeClient::Create(const KubeOptions& options) {
  const bool https = options.server.rfind("https://", 0) == 0;
  if (!https && !(options.allow_plain_http && options.server.rfind("http://", 0) == 0)) {
    return Status::InvalidArgument("the Kubernetes API address must be https://HOST:PORT, not '" +
                                   options.server + "'");
  }
  if (auto token = ReadTokenFile(options.token_file); !token.ok()) return token.status();
  if (https && (options.ca_file.empty() || access(options.ca_file.c_str(), R_OK) != 0)) {
    return Status::InvalidArgument("cannot read the Kubernetes API's CA file '" + options.ca_file +
                                   "'");
  }
  return std::unique_ptr<KubeClient>(new KubeClient(options));
}

KubeClient::~KubeClient() = default;

Result<std::unique_ptr<httplib::Client>> KubeClient::Connect() const {
  auto token = ReadTokenFile(options_.token_file);
  if (!token.ok()) return token.status();
  auto client = std::make_unique<httplib::Client>(options_.server);
  if (options_.server.rfind("https://", 0) == 0) {
    client->set_ca_cert_path(options_.ca_file);
    client->enable_server_certificate_verification(true);
  }
  client->set_connection_timeout(5);
  client->set_read_timeout(10);
  client->set_bearer_token_auth(*token);
  client->set_default_headers({{"Accept", "application/json"}});
  return client;
}

Result<std::unique_ptr<httplib::Client>> KubeClient::ConnectForPod(const std::string& ns,
                                                                   const std::string& name) const {
  if (Status s = CheckName("namespace", ns); !s.ok()) return s;
  if (Status s = CheckName("pod", name); !s.ok()) return s;
  return Connect();
}

Result<json> KubeClient::GetPod(const std::string& ns, const std::string& name) {
  auto client = ConnectForPod(ns, name);
  if (!client.ok()) return client.status();
  auto res = (*client)->Get(PodPath(ns, name));
  if (!res || res->status != 200) return CallError("get pod " + ns + "/" + name, res);
  json pod = json::parse(res->body, nullptr, false);
  if (!pod.is_object()) return Status::IoError("kubernetes API: pod " + name + " is not JSON");
  return pod;
}

Status KubeClient::AnnotatePod(const std::string& ns, const std::string& name,
                               const std::map<std::string, std::string>& annotations) {
  auto client = ConnectForPod(ns, name);
  if (!client.ok()) return client.status();
  const json patch = {{"metadata", {{"annotations", annotations}}}};
  auto res = (*client)->Patch(PodPath(ns, name), patch.dump(), "application/merge-patch+json");
  if (!res || res->status != 200) return CallError("annotate pod " + ns + "/" + name, res);
  return Status::Ok();
}

Status KubeClient::BindPod(const std::string& ns, const std::string& name, const std::string& uid,
                           const std::string& node) {
  auto client = ConnectForPod(ns, name);
  if (!client.ok()) return client.status();
  json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", name}, {"namespace", ns}}},
                  {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
  if (!uid.empty()) binding["metadata"]["uid"] = uid;
  auto res = (*client)->Post(PodPath(ns, name) + "/binding", binding.dump(), "application/json");
  if (!res || res->status != 201) return CallError("bind pod " + ns + "/" + name, res);
  return Status::Ok();
}

Result<json> KubeClient::ListPods() {
  auto client = Connect();
  if (!client.ok()) return client.status();
  (*client)->set_read_timeout(60);
  auto res = (*client)->Get("/api/v1/pods");
  if (!res || res->status != 200) return CallError("list pods", res);
  json list = json::parse(res->body, nullptr, false);
  if (!list.is_object() || !list.contains("items") || !list["items"].is_array()) {
    return Status::IoError("kubernetes API: the pod list is not a PodList");
  }
  return list;
}

Status KubeClient::WatchPods(const std::string& resource_version, int timeout_seconds,
                             const std::function<bool(const json&)>& on_event) {
  auto client = Connect();
  if (!client.ok()) return client.status();
  (*client)->set_read_timeout(timeout_seconds + 30);
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    if (stopped_) return Status::Ok();
    watching_ = client->get();
  }
  const std::string path =
      "/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion=" + resource_version +
      "&timeoutSeconds=" + std::to_string(timeout_seconds);
  std::string pending;  // a partial line
  int status = 0;
  std::string error_body;
  auto res = (*client)->Get(
      path,
      [&](const httplib::Response& r) {
        status = r.status;
        return true;
      },
      [&](const char* data, size_t length) {
        if (stopped_) return false;
        if (status != 200) {
          error_body.append(data, length);
          return true;
        }
        pending.append(data, length);
        size_t start = 0;
        for (size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
          const json event =
              json::parse(pending.begin() + static_cast<std::ptrdiff_t>(start),
                          pending.begin() + static_cast<std::ptrdiff_t>(end), nullptr, false);
          if (event.is_object() && !on_event(event)) return false;
        }
        pending.erase(0, start);
        return true;
      });
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    watching_ = nullptr;
  }
  if (stopped_) return Status::Ok();
  if (status != 0 && status != 200) {
    return Status::FailedPrecondition("kubernetes API: watch pods: HTTP " + std::to_string(status) +
                                      ": " + error_body);
  }
  if (!res && res.error() != httplib::Error::Canceled) {
    return Status::IoError("kubernetes API: watch pods: " + httplib::to_string(res.error()));
  }
  return Status::Ok();
}

void KubeClient::Stop() {
  std::lock_guard<std::mutex> lock(watch_mu_);
  stopped_ = true;
  if (watching_ != nullptr) watching_->stop();
}

}  // namespace xpool::controller
