#include "controller/extender.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <tuple>

#include "core/clock.h"
#include "core/kube_quantity.h"
#include "runtime/config.h"

namespace xpool::controller {
namespace {

using nlohmann::json;

// A quantity as Kubernetes writes it in a pod: a JSON string in any form the API server stores or a
// user writes ("10k", "8Ki", "1e4"), or a JSON number; extended resources are whole counts.
Result<int64_t> WholeQuantity(const json& v, const std::string& name) {
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    if (v.get<int64_t>() < 0)
      return Status::InvalidArgument("resource " + name + ": '" + v.dump() + "' is negative");
    return v.get<int64_t>();
  }
  if (!v.is_string() && !v.is_number()) {
    return Status::InvalidArgument("resource " + name + " must be a quantity, not " + v.dump());
  }
  auto n = ParseKubeWholeQuantity(v.is_string() ? v.get<std::string>() : v.dump());
  if (!n.ok()) return Status::InvalidArgument("resource " + name + ": " + n.status().message());
  return *n;
}

// `s` as a JSON string, appended to `out`. The verbs' answers for thousands of nodes are written
// directly: building them as json values first costs several times the whole request.
void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  out->push_back('"');
  size_t plain = 0;  // start of the run of characters that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u != '"' && u != '\\') continue;  // UTF-8 passes through: it was checked
    out->append(s.data() + plain, i - plain);
    plain = i + 1;
    if (u < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    } else {
      out->push_back('\\');
      out->push_back(s[i]);
    }
  }
  out->append(s.data() + plain, s.size() - plain);
  out->push_back('"');
}

// {"name":"reason",...}
void AppendReasons(std::string* out, const std::vector<std::pair<std::string, std::string>>& r) {
  out->push_back('{');
  for (size_t i = 0; i < r.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(out, r[i].first);
    out->push_back(':');
    AppendJsonString(out, r[i].second);
  }
  out->push_back('}');
}

// The names the verbs answer for: NodeNames (nodeCacheCapable) or Nodes.items[].metadata.name.
struct Candidates {
  std::vector<std::string> names;
  bool cache_capable = false;
  json items = json::array();
};

// ExtenderArgs: the pod and the nodes to answer for.
struct Args {
  json pod;
  Candidates candidates;
};

// A subtree of a simdjson document as a json value (the pod, Node objects: small, or rare).
template <typename Element>
json ToJson(Element e) {
  return json::parse(simdjson::minify(e), nullptr, false);
}

// ExtenderArgs. kube-scheduler sends thousands of node names: they are read with simdjson, which
// costs a small fraction of building them as json values; the pod is converted to json.
Result<Args> ParseArgs(const std::string& body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return Status::InvalidArgument("the body is not a JSON object (ExtenderArgs)");
  }
  simdjson::dom::object pod;
  if (root["Pod"].get(pod) != simdjson::SUCCESS) {
    return Status::InvalidArgument("ExtenderArgs has no Pod");
  }
  Args args{ToJson(pod), {}};
  Candidates& c = args.candidates;
  simdjson::dom::array names;
  simdjson::dom::array items;
  if (root["NodeNames"].get(names) == simdjson::SUCCESS) {
    c.cache_capable = true;
    c.names.reserve(names.size());
    for (simdjson::dom::element n : names) {
      std::string_view name;
      if (n.get(name) != simdjson::SUCCESS) {
        return Status::InvalidArgument("NodeNames holds a non-string");
      }
      c.names.emplace_back(name);
    }
  } else if (root.at_pointer("/Nodes/items").get(items) == simdjson::SUCCESS) {
    c.items = ToJson(items);
    for (const auto& node : c.items) {
      const auto name = node.value("/metadata/name"_json_pointer, std::string());
      if (name.empty())
        return Status::InvalidArgument("a node in Nodes.items has no metadata.name");
      c.names.push_back(name);
    }
  } else {
    return Status::InvalidArgument("ExtenderArgs has neither NodeNames nor Nodes.items");
  }
  return args;
}

// The pod's compute annotations into `r`; the pool checks the policy and the priority as it does
// for every client, the period is parsed here (annotations are strings).
Status ReadComputeAnnotations(const json& pod, v1::AllocateRequest& r) {
  const json annotations = pod.value("/metadata/annotations"_json_pointer, json::object());
  if (!annotations.is_object()) return Status::Ok();
  const auto text = [&](std::string_view key) -> std::optional<std::string> {
    auto it = annotations.find(std::string(key));
    if (it == annotations.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  if (auto policy = text(kComputePolicyAnnotation)) r.set_compute_policy(*policy);
  if (auto priority = text(kPriorityAnnotation)) r.set_priority(*priority);
  if (auto tflops = text(kMinBf16TflopsAnnotation)) {
    double v = -1;
    const auto [end, ec] = std::from_chars(tflops->data(), tflops->data() + tflops->size(), v);
    if (ec != std::errc() || end != tflops->data() + tflops->size() || !(v >= 0)) {
      return Status::InvalidArgument(std::string(kMinBf16TflopsAnnotation) + ": '" + *tflops +
                                     "' is not a number of TFLOPS");
    }
    r.set_min_bf16_tflops(v);
  }
  if (auto memory = text(kMinDeviceMemoryAnnotation)) {
    // A quantity in bytes, as Kubernetes writes memory ("40Gi", "40G"), taken in whole MiB.
    auto bytes = ParseKubeWholeQuantity(*memory);
    if (!bytes.ok()) {
      return Status::InvalidArgument(std::string(kMinDeviceMemoryAnnotation) + ": " +
                                     bytes.status().message());
    }
    constexpr int64_t kMiB = int64_t{1} << 20;
    r.set_min_device_memory_mib(*bytes / kMiB + (*bytes % kMiB != 0 ? 1 : 0));
  }
  if (auto period = text(kComputePeriodAnnotation)) {
    auto ms = runtime::ParseComputePeriod(*period);
    if (!ms.ok()) {
      return Status::InvalidArgument(std::string(kComputePeriodAnnotation) + ": " +
                                     ms.status().message());
    }
    r.set_compute_period_ms(*ms);
  }
  return Status::Ok();
}

// One container's slice (limits, else requests): nullopt when it asks for none of ours.
// InvalidArgument for values that are not whole numbers in range.
Result<std::optional<v1::AllocateRequest>> RequestOfContainer(const json& c,
                                                              const ResourceNames& names) {
  const std::string name = c.value("name", std::string());
  const json resources = c.value("resources", json::object());
  json wanted = resources.is_object() ? resources.value("limits", json::object()) : json();
  if (!wanted.is_object() || wanted.empty()) {
    wanted = resources.is_object() ? resources.value("requests", json::object()) : json();
  }
  if (!wanted.is_object()) return std::optional<v1::AllocateRequest>();
  int64_t gpus = 0, memory = 0, core = 0;
  bool ours = false;
  for (const auto& [key, value] : {std::pair{names.gpu, &gpus}, std::pair{names.memory, &memory},
                                   std::pair{names.core, &core}}) {
    if (!wanted.contains(key)) continue;
    auto n = WholeQuantity(wanted[key], key);
    if (!n.ok()) return Status::InvalidArgument("container " + name + ": " + n.status().message());
    *value = *n;
    ours = true;
  }
  if (!ours) return std::optional<v1::AllocateRequest>();
  if (gpus < 1 || gpus > 64) {
    return Status::InvalidArgument("container " + name + ": " + names.gpu + " must be 1..64");
  }
  if (core < 0 || core > 100) {
    return Status::InvalidArgument("container " + name + ": " + names.core + " must be 1..100");
  }
  v1::AllocateRequest r;
  r.set_type("gpu");  // the resource is a GPU's: other device types never serve it
  r.set_devices(static_cast<int32_t>(gpus));
  r.set_compute_milli(core == 0 || core == 100 ? 0 : static_cast<int32_t>(core * 10));
  r.set_memory_mib(memory);
  r.set_container(name);
  return std::optional<v1::AllocateRequest>(r);
}

// The slices a pod asks for: one per container that asks for any of ours (limits, else
// requests), init containers included, in the pod's order (init containers first, as the kubelet
// runs them); empty when it asks for none. Each carries the pod's identity and annotations.
Result<std::vector<v1::AllocateRequest>> RequestsOfPodObject(const json& pod,
                                                             const ResourceNames& names) {
  std::vector<v1::AllocateRequest> out;
  for (const char* list : {"initContainers", "containers"}) {
    const json containers =
        pod.value(json::json_pointer(std::string("/spec/") + list), json::array());
    if (!containers.is_array()) {
      return Status::InvalidArgument(std::string("spec.") + list + " is not a list");
    }
    const bool init_list = std::string_view(list) == "initContainers";
    int index = 0;
    for (const auto& c : containers) {
      if (!c.is_object())
        return Status::InvalidArgument(std::string("spec.") + list + " holds a non-object");
      auto r = RequestOfContainer(c, names);
      if (!r.ok()) return r.status();
      if (r->has_value()) {
        v1::AllocateRequest& request = out.emplace_back(**r);
        // A restartable init container (a sidecar) runs beside the app containers, as one.
        request.set_init_container(init_list &&
                                   c.value("restartPolicy", std::string()) != "Always");
        request.set_container_index(index);
      }
      ++index;
    }
  }
  for (auto& r : out) {
    r.set_owner(pod.value("/metadata/namespace"_json_pointer, std::string()) + "/" +
                pod.value("/metadata/name"_json_pointer, std::string()));
    r.set_tenant(pod.value("/metadata/namespace"_json_pointer, std::string()));
    r.set_pod_uid(pod.value("/metadata/uid"_json_pointer, std::string()));
    if (Status s = ReadComputeAnnotations(pod, r); !s.ok()) return s;
  }
  return out;
}

}  // namespace

std::string ExtenderFilter(PoolState& state, const std::string& body, const ResourceNames& names,
                           int* status) {
  *status = 200;
  const auto error = [](const std::string& message) {
    return json{{"Nodes", nullptr},
                {"NodeNames", nullptr},
                {"FailedNodes", json::object()},
                {"FailedAndUnresolvableNodes", json::object()},
                {"Error", message}}
        .dump();
  };
  auto args = ParseArgs(body);
  if (!args.ok()) {
    *status = 400;
    return error(args.status().message());
  }
  const Candidates& candidates = args->candidates;
  auto requests = RequestsOfPodObject(args->pod, names);
  if (!requests.ok()) return error(requests.status().message());
  std::vector<char> passed(candidates.names.size(), 1);  // a pod of none of ours passes everywhere
  std::vector<std::pair<std::string, std::string>> failed, unresolvable;
  if (!requests->empty()) {
    auto verdicts = state.EvaluatePod(*requests, candidates.names);
    if (!verdicts.ok()) return error(verdicts.status().message());
    for (size_t i = 0; i < candidates.names.size(); ++i) {
      auto& v = (*verdicts)[i];
      passed[i] = v.fits ? 1 : 0;
      if (!v.fits) {
        (v.never ? unresolvable : failed).emplace_back(candidates.names[i], std::move(v.reason));
      }
    }
  }
  std::string out;
  out.reserve(64 + body.size());
  if (candidates.cache_capable) {
    out += R"({"Nodes":null,"NodeNames":[)";
    bool first = true;
    for (size_t i = 0; i < candidates.names.size(); ++i) {
      if (!passed[i]) continue;
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(&out, candidates.names[i]);
    }
    out += "]";
  } else {
    json items = json::array();
    for (size_t i = 0; i < candidates.items.size(); ++i) {
      if (passed[i]) items.push_back(candidates.items[i]);
    }
    out += "{\"Nodes\":" + json{{"items", items}}.dump() + ",\"NodeNames\":null";
  }
  out += ",\"FailedNodes\":";
  AppendReasons(&out, failed);
  out += ",\"FailedAndUnresolvableNodes\":";
  AppendReasons(&out, unresolvable);
  out += R"(,"Error":""})";
  return out;
}

std::string ExtenderPrioritize(PoolState& state, const std::string& body,
                               const ResourceNames& names, int* status) {
  *status = 200;
  const auto error = [status](const std::string& message) {
    *status = 400;
    return json{{"Error", message}}.dump();
  };
  auto args = ParseArgs(body);
  if (!args.ok()) return error(args.status().message());
  const Candidates& candidates = args->candidates;
  auto requests = RequestsOfPodObject(args->pod, names);
  if (!requests.ok()) return error(requests.status().message());
  std::vector<PoolState::NodeVerdict> verdicts(candidates.names.size());
  if (!requests->empty()) {
    auto v = state.EvaluatePod(*requests, candidates.names);
    if (!v.ok()) return error(v.status().message());
    verdicts = std::move(*v);
  }
  std::string out = "[";
  out.reserve(32 * candidates.names.size() + 2);
  for (size_t i = 0; i < candidates.names.size(); ++i) {
    // Nodes that cannot hold the pod score 0; a pod of none of ours scores neutral everywhere.
    const int score = requests->empty() ? 5 : verdicts[i].fits ? verdicts[i].score : 0;
    if (i > 0) out.push_back(',');
    out += "{\"Host\":";
    AppendJsonString(&out, candidates.names[i]);
    out += ",\"Score\":" + std::to_string(score) + "}";
  }
  out += "]";
  return out;
}

namespace {

// ExtenderBindingArgs.
struct BindArgs {
  std::string pod, ns, uid, node;
};

Result<BindArgs> ParseBindArgs(const std::string& body) {
  const json args = json::parse(body, nullptr, false);
  if (args.is_discarded() || !args.is_object()) {
    return Status::InvalidArgument("the body is not a JSON object (ExtenderBindingArgs)");
  }
  BindArgs b;
  for (const auto& [key, field] : {std::pair{"PodName", &b.pod}, std::pair{"PodNamespace", &b.ns},
                                   std::pair{"PodUID", &b.uid}, std::pair{"Node", &b.node}}) {
    if (!args.contains(key) || !args[key].is_string() || args[key].get<std::string>().empty()) {
      return Status::InvalidArgument(std::string("ExtenderBindingArgs has no ") + key);
    }
    *field = args[key].get<std::string>();
  }
  return b;
}

// The pod's annotations for its allocations (one per container with a slice, in the pod's
// order): their ids and GPUs, comma-separated, and the first one's memory and share.
std::map<std::string, std::string> AnnotationsOf(const std::vector<v1::Allocation>& made) {
  std::string ids, devices;
  for (const auto& a : made) {
    ids += (ids.empty() ? "" : ",") + a.id();
    for (const auto& s : a.slices()) devices += (devices.empty() ? "" : ",") + s.device_uuid();
  }
  const v1::Allocation& first = made.front();
  const int32_t milli = first.slices_size() > 0 ? first.slices(0).compute_milli() : 1000;
  return {{std::string(kAllocationAnnotation), ids},
          {std::string(kDevicesAnnotation), devices},
          {std::string(kMemoryAnnotation),
           std::to_string(first.slices_size() > 0 ? first.slices(0).memory_mib() : 0)},
          {std::string(kCoreAnnotation), std::to_string(milli / 10)}};
}

// The pod's allocations on `node`, one per request: the ones an earlier bind of the same pod
// made, else new ones (all or none).
Result<std::vector<v1::Allocation>> AllocationsForPod(PoolState& state, const BindArgs& args,
                                                      std::vector<v1::AllocateRequest> requests) {
  std::vector<v1::Allocation> earlier;
  for (const auto& id : state.LiveOfPod(args.uid)) {
    auto a = state.Get(id);
    if (a.ok() && a->node() == args.node) earlier.push_back(*a);
  }
  if (earlier.size() == requests.size()) {
    std::sort(earlier.begin(), earlier.end(), [](const auto& x, const auto& y) {
      return std::pair{!x.request().init_container(), x.request().container_index()} <
             std::pair{!y.request().init_container(), y.request().container_index()};
    });
    return earlier;
  }
  for (const auto& a : earlier) {
    (void)state.Release(a.id(), "pod bound again, to node " + args.node, NowUnixMs());
  }
  std::vector<v1::Allocation> made;
  for (auto& request : requests) {
    request.set_node(args.node);
    auto a = state.Allocate(request, NowUnixMs());
    if (!a.ok()) {
      for (const auto& m : made) {
        (void)state.Release(m.id(), "the pod's other containers do not fit", NowUnixMs());
      }
      if (requests.size() == 1) return a.status();
      return Status::FailedPrecondition("container " + request.container() + ": " +
                                        a.status().message());
    }
    made.push_back(*a);
  }
  return made;
}

Status Bind(PoolState& state, KubeClient& kube, const BindArgs& args, const ResourceNames& names) {
  auto pod = kube.GetPod(args.ns, args.pod);
  if (!pod.ok()) return pod.status();
  if (pod->value("/metadata/uid"_json_pointer, std::string()) != args.uid) {
    return Status::FailedPrecondition("pod " + args.ns + "/" + args.pod +
                                      " is not the one of uid " + args.uid + " any more");
  }
  const std::string bound_to = pod->value("/spec/nodeName"_json_pointer, std::string());
  if (!bound_to.empty()) {
    // A bind retried after it went through: done. To another node: refused, as the API would.
    if (bound_to == args.node) return Status::Ok();
    return Status::FailedPrecondition("pod " + args.ns + "/" + args.pod +
                                      " is already bound to node " + bound_to);
  }
  auto requests = RequestsOfPodObject(*pod, names);
  if (!requests.ok()) return requests.status();
  std::vector<v1::Allocation> made;
  const auto release_all = [&](const std::string& why) {
    for (const auto& a : made) (void)state.Release(a.id(), "bind failed: " + why, NowUnixMs());
  };
  if (!requests->empty()) {
    auto allocations = AllocationsForPod(state, args, *requests);
    if (!allocations.ok()) return allocations.status();
    made = std::move(*allocations);
    if (Status s = kube.AnnotatePod(args.ns, args.pod, AnnotationsOf(made)); !s.ok()) {
      release_all(s.message());
      return s;
    }
  }
  if (Status s = kube.BindPod(args.ns, args.pod, args.uid, args.node); !s.ok()) {
    release_all(s.message());
    return s;
  }
  std::string with;
  for (const auto& a : made) with += (with.empty() ? " with " : ",") + a.id();
  std::fprintf(stderr, "xpool-controller: bound pod %s/%s to %s%s\n", args.ns.c_str(),
               args.pod.c_str(), args.node.c_str(), with.c_str());
  return Status::Ok();
}

}  // namespace

std::string ExtenderBind(PoolState& state, KubeClient* kube, const std::string& body,
                         const ResourceNames& names, int* status) {
  *status = 200;
  auto args = ParseBindArgs(body);
  if (!args.ok()) {
    *status = 400;
    return json{{"Error", args.status().message()}}.dump();
  }
  if (kube == nullptr) {
    return json{
        {"Error", "this controller does not bind: it runs without the Kubernetes API (--kube-api)"}}
        .dump();
  }
  const Status s = Bind(state, *kube, *args, names);
  return json{{"Error", s.ok() ? "" : s.message()}}.dump();
}

}  // namespace xpool::controller
