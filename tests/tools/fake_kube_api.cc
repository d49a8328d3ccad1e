// fake_kube_api CERT KEY TOKEN PODS: a local HTTPS stand-in for the Kubernetes API server, for
// tests. It holds the pods of the PodList file PODS (JSON) and serves the calls the controller
// makes, checking each against the API's documented shape:
//   GET    /api/v1/namespaces/NS/pods/NAME           a pod (404 Status when there is none)
//   PATCH  /api/v1/namespaces/NS/pods/NAME           merge patch of metadata.annotations only
//   POST   /api/v1/namespaces/NS/pods/NAME/binding   a v1 Binding; 409 when already bound
//   GET    /api/v1/pods[?watch=true&resourceVersion=V&timeoutSeconds=S]   list, or watch events
// and, for the test to drive pods as a kubelet and a user would:
//   PATCH  /api/v1/namespaces/NS/pods/NAME/status    merge patch of status (e.g. phase)
//   DELETE /api/v1/namespaces/NS/pods/NAME
// Every request needs "Authorization: Bearer TOKEN". It prints "listening on PORT", then one line
// per call ("METHOD PATH STATUS"); a call that breaks the API's shape is answered 400 or 401 and
// printed as "VIOLATION ..." for the test to find.
#include <httplib.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

class FakeApi {
 public:
  FakeApi(json pods, std::string token) : token_(std::move(token)) {
    for (auto& pod : pods["items"]) {
      pod["metadata"]["resourceVersion"] = std::to_string(++version_);
      pods_.push_back(pod);
    }
  }

  void Route(httplib::SSLServer& server) {
    const std::string pod = R"(/api/v1/namespaces/([a-z0-9.-]+)/pods/([a-z0-9.-]+))";
    server.Get(pod, [this](const auto& req, auto& res) { Handle(req, res, &FakeApi::GetPod); });
    server.Patch(pod, [this](const auto& req, auto& res) { Handle(req, res, &FakeApi::Annotate); });
    server.Delete(pod, [this](const auto& req, auto& res) { Handle(req, res, &FakeApi::Remove); });
    server.Post(pod + "/binding",
                [this](const auto& req, auto& res) { Handle(req, res, &FakeApi::Bind); });
    server.Patch(pod + "/status",
                 [this](const auto& req, auto& res) { Handle(req, res, &FakeApi::PatchStatus); });
    server.Get("/api/v1/pods", [this](const auto& req, auto& res) {
      if (req.has_param("watch")) {
        Handle(req, res, &FakeApi::Watch);
      } else {
        Handle(req, res, &FakeApi::List);
      }
    });
    server.set_error_handler([](const auto& req, auto& res) {
      if (res.status == 404 && res.body.empty()) {
        std::printf("VIOLATION %s %s: no such API path\n", req.method.c_str(), req.path.c_str());
        std::fflush(stdout);
      }
    });
  }

 private:
  using Handler = void (FakeApi::*)(const httplib::Request&, httplib::Response&);

  void Handle(const httplib::Request& req, httplib::Response& res, Handler handler) {
    res.status = 200;
    if (req.get_header_value("Authorization") != "Bearer " + token_) {
      Violation(req, res, 401, "no or a wrong bearer token");
    } else {
      (this->*handler)(req, res);
    }
    std::printf("%s %s %d\n", req.method.c_str(), req.path.c_str(), res.status);
    std::fflush(stdout);
  }

  static void Violation(const httplib::Request& req, httplib::Response& res, int status,
                        const std::string& why) {
    std::printf("VIOLATION %s %s: %s\n", req.method.c_str(), req.path.c_str(), why.c_str());
    SetStatus(res, status, why);
  }

  static void SetStatus(httplib::Response& res, int code, const std::string& message) {
    res.status = code;
    res.set_content(json{{"kind", "Status"},
                         {"apiVersion", "v1"},
                         {"status", code < 300 ? "Success" : "Failure"},
                         {"message", message},
                         {"code", code}}
                        .dump(),
                    "application/json");
  }

  json* Find(const httplib::Request& req) {
    const std::string ns = req.matches[1], name = req.matches[2];
    for (auto& p : pods_) {
      if (p["metadata"]["namespace"] == ns && p["metadata"]["name"] == name) return &p;
    }
    return nullptr;
  }

  // A merge patch body: an object, sent as application/merge-patch+json.
  static bool MergePatch(const httplib::Request& req, httplib::Response& res, json* patch) {
    const std::string type = req.get_header_value("Content-Type");
    if (type != "application/merge-patch+json" &&
        type != "application/strategic-merge-patch+json") {
      Violation(req, res, 415, "PATCH with Content-Type '" + type + "'");
      return false;
    }
    *patch = json::parse(req.body, nullptr, false);
    if (!patch->is_object()) {
      Violation(req, res, 400, "the patch is not a JSON object");
      return false;
    }
    return true;
  }

  void Changed(const std::string& type, json& pod) {
    pod["metadata"]["resourceVersion"] = std::to_string(++version_);
    events_.push_back({version_, json{{"type", type}, {"object", pod}}});
    changed_.notify_all();
  }

  void GetPod(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    json* pod = Find(req);
    if (pod == nullptr)
      return SetStatus(res, 404, "pods \"" + req.matches[2].str() + "\" not found");
    res.set_content(pod->dump(), "application/json");
  }

  void Annotate(const httplib::Request& req, httplib::Response& res) {
    json patch;
    if (!MergePatch(req, res, &patch)) return;
    const bool only_annotations = patch.size() == 1 && patch.contains("metadata") &&
                                  patch["metadata"].is_object() && patch["metadata"].size() == 1 &&
                                  patch["metadata"].contains("annotations") &&
                                  patch["metadata"]["annotations"].is_object();
    if (!only_annotations)
      return Violation(req, res, 400, "the patch changes more than annotations");
    for (const auto& [k, v] : patch["metadata"]["annotations"].items()) {
      if (!v.is_string()) return Violation(req, res, 400, "annotation " + k + " is not a string");
    }
    std::lock_guard<std::mutex> lock(mu_);
    json* pod = Find(req);
    if (pod == nullptr) return SetStatus(res, 404, "pod not found");
    (*pod)["metadata"]["annotations"].merge_patch(patch["metadata"]["annotations"]);
    Changed("MODIFIED", *pod);
    res.set_content(pod->dump(), "application/json");
  }

  void PatchStatus(const httplib::Request& req, httplib::Response& res) {
    json patch;
    if (!MergePatch(req, res, &patch)) return;
    std::lock_guard<std::mutex> lock(mu_);
    json* pod = Find(req);
    if (pod == nullptr) return SetStatus(res, 404, "pod not found");
    pod->merge_patch(patch);
    Changed("MODIFIED", *pod);
    res.set_content(pod->dump(), "application/json");
  }

  void Remove(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = pods_.begin(); it != pods_.end(); ++it) {
      if ((*it)["metadata"]["namespace"] == req.matches[1].str() &&
          (*it)["metadata"]["name"] == req.matches[2].str()) {
        json pod = *it;
        pods_.erase(it);
        Changed("DELETED", pod);
        res.set_content(pod.dump(), "application/json");
        return;
      }
    }
    SetStatus(res, 404, "pod not found");
  }

  void Bind(const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Content-Type") != "application/json") {
      return Violation(req, res, 415,
                       "binding with Content-Type '" + req.get_header_value("Content-Type") + "'");
    }
    const json b = json::parse(req.body, nullptr, false);
    const std::string name = req.matches[2];
    if (!b.is_object() || b.value("apiVersion", "") != "v1" || b.value("kind", "") != "Binding") {
      return Violation(req, res, 400, "the body is not a v1 Binding");
    }
    if (b.value("/metadata/name"_json_pointer, std::string()) != name ||
        (b.contains("/metadata/namespace"_json_pointer) &&
         b["metadata"]["namespace"] != req.matches[1].str())) {
      return Violation(req, res, 400, "the Binding's metadata does not name the pod of the path");
    }
    if (b.value("/target/kind"_json_pointer, std::string()) != "Node" ||
        b.value("/target/name"_json_pointer, std::string()).empty()) {
      return Violation(req, res, 400, "the Binding's target is not a named Node");
    }
    std::lock_guard<std::mutex> lock(mu_);
    json* pod = Find(req);
    if (pod == nullptr) return SetStatus(res, 404, "pod not found");
    if (b.contains("/metadata/uid"_json_pointer) &&
        b["metadata"]["uid"] != (*pod)["metadata"]["uid"]) {
      return SetStatus(res, 409, "the pod's uid differs");
    }
    if (pod->contains("/spec/nodeName"_json_pointer)) {
      return SetStatus(res, 409, "pod " + name + " is already assigned to a node");
    }
    (*pod)["spec"]["nodeName"] = b["target"]["name"];
    Changed("MODIFIED", *pod);
    SetStatus(res, 201, "");
  }

  void List(const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    json list = {{"kind", "PodList"},
                 {"apiVersion", "v1"},
                 {"metadata", {{"resourceVersion", std::to_string(version_)}}},
                 {"items", pods_}};
    res.set_content(list.dump(), "application/json");
  }

  void Watch(const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("resourceVersion")) {
      return Violation(req, res, 400, "a watch without resourceVersion misses events");
    }
    const uint64_t from = std::stoull(req.get_param_value("resourceVersion"));
    const int seconds =
        req.has_param("timeoutSeconds") ? std::stoi(req.get_param_value("timeoutSeconds")) : 60;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    auto sent = std::make_shared<uint64_t>(from);
    res.set_chunked_content_provider("application/json",
                                     [this, sent, until](size_t, httplib::DataSink& sink) {
                                       std::unique_lock<std::mutex> lock(mu_);
                                       changed_.wait_for(lock, std::chrono::milliseconds(200));
                                       std::string out;
                                       for (const auto& [version, event] : events_) {
                                         if (version > *sent) out += event.dump() + "\n";
                                       }
                                       *sent = version_;
                                       lock.unlock();
                                       if (!out.empty() && !sink.write(out.data(), out.size()))
                                         return false;
                                       if (std::chrono::steady_clock::now() > until) sink.done();
                                       return sink.is_writable();
                                     });
  }

  std::string token_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<json> pods_;
  uint64_t version_ = 0;
  std::vector<std::pair<uint64_t, json>> events_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: fake_kube_api CERT KEY TOKEN PODS\n");
    return 2;
  }
  std::ifstream in(argv[4]);
  std::stringstream text;
  text << in.rdbuf();
  const json pods = json::parse(text.str(), nullptr, false);
  if (!pods.is_object() || !pods.contains("items")) {
    std::fprintf(stderr, "fake_kube_api: %s is not a PodList\n", argv[4]);
    return 2;
  }
  FakeApi api(pods, argv[3]);
  httplib::SSLServer server(argv[1], argv[2]);
  if (!server.is_valid()) {
    std::fprintf(stderr, "fake_kube_api: cannot load the certificate or key\n");
    return 2;
  }
  api.Route(server);
  const int port = server.bind_to_any_port("127.0.0.1");
  std::printf("listening on %d\n", port);
  std::fflush(stdout);
  server.listen_after_bind();
  return 0;
}
