#include "controller/extender.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "core/clock.h"

namespace xpool::controller {
namespace {

using nlohmann::json;

// A quantity as Kubernetes writes it in a pod: a JSON string or number of a whole count.
Result<int64_t> WholeNumber(const json& v, const std::string& name) {
  std::string text;
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) text = v.get<std::string>();
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
      text.size() > 12) {
    return Status::InvalidArgument("resource " + name + " must be a whole number, not " + v.dump());
  }
  return std::stoll(text);
}

// The names the verbs answer for: NodeNames (nodeCacheCapable) or Nodes.items[].metadata.name.
struct Candidates {
  std::vector<std::string> names;
  bool cache_capable = false;
  json items = json::array();
};

Result<Candidates> CandidatesOf(const json& args) {
  Candidates c;
  if (args.contains("NodeNames") && args["NodeNames"].is_array()) {
    c.cache_capable = true;
    for (const auto& n : args["NodeNames"]) {
      if (!n.is_string()) return Status::InvalidArgument("NodeNames holds a non-string");
      c.names.push_back(n.get<std::string>());
    }
    return c;
  }
  if (args.contains("Nodes") && args["Nodes"].is_object() && args["Nodes"].contains("items") &&
      args["Nodes"]["items"].is_array()) {
    c.items = args["Nodes"]["items"];
    for (const auto& node : c.items) {
      const auto name = node.value("/metadata/name"_json_pointer, std::string());
      if (name.empty())
        return Status::InvalidArgument("a node in Nodes.items has no metadata.name");
      c.names.push_back(name);
    }
    return c;
  }
  return Status::InvalidArgument("ExtenderArgs has neither NodeNames nor Nodes.items");
}

// ExtenderArgs: the pod and the nodes to answer for.
struct Args {
  json pod;
  Candidates candidates;
};

Result<Args> ParseArgs(const std::string& body) {
  json args = json::parse(body, nullptr, false);
  if (args.is_discarded() || !args.is_object()) {
    return Status::InvalidArgument("the body is not a JSON object (ExtenderArgs)");
  }
  if (!args.contains("Pod") || !args["Pod"].is_object()) {
    return Status::InvalidArgument("ExtenderArgs has no Pod");
  }
  auto candidates = CandidatesOf(args);
  if (!candidates.ok()) return candidates.status();
  return Args{std::move(args["Pod"]), std::move(*candidates)};
}

Result<std::optional<v1::AllocateRequest>> RequestOfPodObject(const json& pod,
                                                              const ResourceNames& names) {
  int64_t gpus = 0, memory = 0, core = 0;
  bool ours = false;
  // Devices add up over the containers; memory and core are per device.
  const auto add = [](int64_t* total, int64_t n) { *total += n; };
  const auto largest = [](int64_t* total, int64_t n) { *total = std::max(*total, n); };
  const json containers = pod.value("/spec/containers"_json_pointer, json::array());
  if (!containers.is_array()) return Status::InvalidArgument("spec.containers is not a list");
  for (const auto& c : containers) {
    const json resources = c.value("resources", json::object());
    json wanted = resources.value("limits", json::object());
    if (!wanted.is_object() || wanted.empty()) wanted = resources.value("requests", json::object());
    if (!wanted.is_object()) continue;
    for (const auto& [key, total, combine] :
         {std::tuple{names.gpu, &gpus, +add}, std::tuple{names.memory, &memory, +largest},
          std::tuple{names.core, &core, +largest}}) {
      if (!wanted.contains(key)) continue;
      auto n = WholeNumber(wanted[key], key);
      if (!n.ok()) return n.status();
      combine(total, *n);
      ours = true;
    }
  }
  if (!ours) return std::optional<v1::AllocateRequest>();
  if (gpus < 1 || gpus > 64) return Status::InvalidArgument(names.gpu + " must be 1..64");
  if (core < 0 || core > 100) return Status::InvalidArgument(names.core + " must be 1..100");
  v1::AllocateRequest r;
  r.set_type("gpu");  // the resource is a GPU's: other device types never serve it
  r.set_devices(static_cast<int32_t>(gpus));
  r.set_compute_milli(core == 0 || core == 100 ? 0 : static_cast<int32_t>(core * 10));
  r.set_memory_mib(memory);
  r.set_owner(pod.value("/metadata/namespace"_json_pointer, std::string()) + "/" +
              pod.value("/metadata/name"_json_pointer, std::string()));
  r.set_tenant(pod.value("/metadata/namespace"_json_pointer, std::string()));
  r.set_pod_uid(pod.value("/metadata/uid"_json_pointer, std::string()));
  return std::optional<v1::AllocateRequest>(r);
}

}  // namespace

Result<std::optional<v1::AllocateRequest>> RequestOfPod(const std::string& pod_json,
                                                        const ResourceNames& names) {
  const json pod = json::parse(pod_json, nullptr, false);
  if (pod.is_discarded() || !pod.is_object()) return Status::InvalidArgument("the pod is not JSON");
  return RequestOfPodObject(pod, names);
}

std::string ExtenderFilter(PoolState& state, const std::string& body, const ResourceNames& names,
                           int* status) {
  *status = 200;
  json out = {{"Nodes", nullptr},
              {"NodeNames", nullptr},
              {"FailedNodes", json::object()},
              {"FailedAndUnresolvableNodes", json::object()},
              {"Error", ""}};
  auto args = ParseArgs(body);
  if (!args.ok()) {
    *status = 400;
    out["Error"] = args.status().message();
    return out.dump();
  }
  const Candidates* candidates = &args->candidates;
  auto request = RequestOfPodObject(args->pod, names);
  std::vector<std::string> passed;
  if (!request.ok()) {
    out["Error"] = request.status().message();
    return out.dump();
  }
  if (!request->has_value()) {
    passed = candidates->names;  // asks for nothing of ours
  } else {
    auto verdicts = state.Evaluate(**request, candidates->names);
    if (!verdicts.ok()) {
      out["Error"] = verdicts.status().message();
      return out.dump();
    }
    for (size_t i = 0; i < candidates->names.size(); ++i) {
      const auto& v = (*verdicts)[i];
      const std::string& name = candidates->names[i];
      if (v.fits) {
        passed.push_back(name);
      } else {
        out[v.never ? "FailedAndUnresolvableNodes" : "FailedNodes"][name] = v.reason;
      }
    }
  }
  if (candidates->cache_capable) {
    out["NodeNames"] = passed;
  } else {
    json items = json::array();
    for (const auto& node : candidates->items) {
      const auto name = node.value("/metadata/name"_json_pointer, std::string());
      if (std::find(passed.begin(), passed.end(), name) != passed.end()) items.push_back(node);
    }
    out["Nodes"] = {{"items", items}};
  }
  return out.dump();
}

std::string ExtenderPrioritize(PoolState& state, const std::string& body,
                               const ResourceNames& names, int* status) {
  *status = 200;
  auto args = ParseArgs(body);
  if (!args.ok()) {
    *status = 400;
    return json{{"Error", args.status().message()}}.dump();
  }
  const Candidates* candidates = &args->candidates;
  json out = json::array();
  auto request = RequestOfPodObject(args->pod, names);
  if (!request.ok()) {
    *status = 400;
    return json{{"Error", request.status().message()}}.dump();
  }
  std::vector<PoolState::NodeVerdict> verdicts(candidates->names.size());
  if (request->has_value()) {
    auto v = state.Evaluate(**request, candidates->names);
    if (!v.ok()) {
      *status = 400;
      return json{{"Error", v.status().message()}}.dump();
    }
    verdicts = std::move(*v);
  }
  for (size_t i = 0; i < candidates->names.size(); ++i) {
    // Nodes that cannot hold the pod score 0; a pod of none of ours scores neutral everywhere.
    const int score = !request->has_value() ? 5 : verdicts[i].fits ? verdicts[i].score : 0;
    out.push_back({{"Host", candidates->names[i]}, {"Score", score}});
  }
  return out.dump();
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

std::map<std::string, std::string> AnnotationsOf(const v1::Allocation& a) {
  std::string devices;
  for (const auto& s : a.slices()) devices += (devices.empty() ? "" : ",") + s.device_uuid();
  const int32_t milli = a.slices_size() > 0 ? a.slices(0).compute_milli() : 1000;
  return {{kAllocationAnnotation, a.id()},
          {kDevicesAnnotation, devices},
          {kMemoryAnnotation, std::to_string(a.slices_size() > 0 ? a.slices(0).memory_mib() : 0)},
          {kCoreAnnotation, std::to_string(milli / 10)}};
}

// The pod's allocation on `node`: the one an earlier bind of the same pod made, else a new one.
Result<v1::Allocation> AllocationForPod(PoolState& state, const BindArgs& args,
                                        v1::AllocateRequest request) {
  for (const auto& id : state.LiveOfPod(args.uid)) {
    auto earlier = state.Get(id);
    if (earlier.ok() && earlier->node() == args.node) return earlier;
    (void)state.Release(id, "pod bound again, to node " + args.node, NowUnixMs());
  }
  request.set_node(args.node);
  return state.Allocate(request, NowUnixMs());
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
  auto request = RequestOfPodObject(*pod, names);
  if (!request.ok()) return request.status();
  std::optional<v1::Allocation> allocation;
  if (request->has_value()) {
    auto made = AllocationForPod(state, args, **request);
    if (!made.ok()) return made.status();
    allocation = *made;
    if (Status s = kube.AnnotatePod(args.ns, args.pod, AnnotationsOf(*allocation)); !s.ok()) {
      (void)state.Release(allocation->id(), "bind failed: " + s.message(), NowUnixMs());
      return s;
    }
  }
  if (Status s = kube.BindPod(args.ns, args.pod, args.uid, args.node); !s.ok()) {
    if (allocation)
      (void)state.Release(allocation->id(), "bind failed: " + s.message(), NowUnixMs());
    return s;
  }
  std::fprintf(stderr, "xpool-controller: bound pod %s/%s to %s%s\n", args.ns.c_str(),
               args.pod.c_str(), args.node.c_str(),
               allocation ? (" with " + allocation->id()).c_str() : "");
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
