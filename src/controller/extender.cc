#include "controller/extender.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

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
  const json containers = pod.value("/spec/containers"_json_pointer, json::array());
  if (!containers.is_array()) return Status::InvalidArgument("spec.containers is not a list");
  for (const auto& c : containers) {
    const json resources = c.value("resources", json::object());
    json wanted = resources.value("limits", json::object());
    if (!wanted.is_object() || wanted.empty()) wanted = resources.value("requests", json::object());
    if (!wanted.is_object()) continue;
    for (const auto& [key, total] : {std::pair{names.gpu, &gpus}, std::pair{names.memory, &memory},
                                     std::pair{names.core, &core}}) {
      if (!wanted.contains(key)) continue;
      auto n = WholeNumber(wanted[key], key);
      if (!n.ok()) return n.status();
      *total += *n;
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

}  // namespace xpool::controller
