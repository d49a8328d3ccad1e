#include "controller/extender.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
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

// `s` as a JSON string, appended to `out`. The verbs' answers for thousands of nodes are written
// directly: building them as json values first costs several times the whole request.
void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    } else {
      out->push_back(c);  // UTF-8 passes through: the parser already checked it
    }
  }
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

// Reads ExtenderArgs in one pass. NodeNames go straight into a vector of strings: kube-scheduler
// sends thousands, and a json value per name (built, copied out, destroyed) was most of a verb's
// time. Everything else is built as json values.
class ArgsReader final : public nlohmann::json_sax<json> {
 public:
  bool null() override { return Add(json(nullptr)); }
  bool boolean(bool v) override { return Add(json(v)); }
  bool number_integer(number_integer_t v) override { return Add(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Add(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return Add(json(v)); }
  bool binary(binary_t& v) override { return Add(json(std::move(v))); }
  bool string(string_t& v) override {
    if (in_names_ && stack_.size() == 1) {
      names_.push_back(std::move(v));
      return true;
    }
    if (in_names_) return false;  // NodeNames holds only strings
    return Add(json(std::move(v)));
  }
  bool start_object(std::size_t) override { return Open(json::object()); }
  bool start_array(std::size_t) override {
    if (stack_.size() == 1 && key_ == "NodeNames") {
      in_names_ = true;
      saw_names_ = true;
      return true;
    }
    if (in_names_) return false;
    return Open(json::array());
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool end_array() override {
    if (in_names_) {
      in_names_ = false;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  Result<Args> Finish() {
    if (!root_.is_object()) {
      return Status::InvalidArgument("the body is not a JSON object (ExtenderArgs)");
    }
    if (!root_.contains("Pod") || !root_["Pod"].is_object()) {
      return Status::InvalidArgument("ExtenderArgs has no Pod");
    }
    Candidates c;
    if (saw_names_) {
      c.cache_capable = true;
      c.names = std::move(names_);
    } else if (root_.contains("Nodes") && root_["Nodes"].is_object() &&
               root_["Nodes"].contains("items") && root_["Nodes"]["items"].is_array()) {
      c.items = std::move(root_["Nodes"]["items"]);
      for (const auto& node : c.items) {
        const auto name = node.value("/metadata/name"_json_pointer, std::string());
        if (name.empty())
          return Status::InvalidArgument("a node in Nodes.items has no metadata.name");
        c.names.push_back(name);
      }
    } else {
      return Status::InvalidArgument("ExtenderArgs has neither NodeNames nor Nodes.items");
    }
    return Args{std::move(root_["Pod"]), std::move(c)};
  }

 private:
  // A value where the parser stands: the root, a member of the open object, or an element.
  json* Place(json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& parent = *stack_.back();
    if (parent.is_object()) return &(parent[key_] = std::move(value));
    parent.push_back(std::move(value));
    return &parent.back();
  }
  bool Add(json value) {
    if (in_names_) return false;
    Place(std::move(value));
    return true;
  }
  bool Open(json value) {
    stack_.push_back(Place(std::move(value)));
    return true;
  }

  json root_;
  std::vector<json*> stack_;  // the open objects and arrays
  std::string key_;
  bool in_names_ = false;  // inside the top level's NodeNames
  bool saw_names_ = false;
  std::vector<std::string> names_;
};

Result<Args> ParseArgs(const std::string& body) {
  ArgsReader reader;
  if (!json::sax_parse(body, &reader)) {
    return Status::InvalidArgument(
        "the body is not a JSON object (ExtenderArgs), or its NodeNames holds a non-string");
  }
  return reader.Finish();
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
  auto request = RequestOfPodObject(args->pod, names);
  if (!request.ok()) return error(request.status().message());
  std::vector<char> passed(candidates.names.size(), 1);  // a pod of none of ours passes everywhere
  std::vector<std::pair<std::string, std::string>> failed, unresolvable;
  if (request->has_value()) {
    auto verdicts = state.Evaluate(**request, candidates.names);
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
    out += "{\"Nodes\":null,\"NodeNames\":[";
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
  out += ",\"Error\":\"\"}";
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
  auto request = RequestOfPodObject(args->pod, names);
  if (!request.ok()) return error(request.status().message());
  std::vector<PoolState::NodeVerdict> verdicts(candidates.names.size());
  if (request->has_value()) {
    auto v = state.Evaluate(**request, candidates.names);
    if (!v.ok()) return error(v.status().message());
    verdicts = std::move(*v);
  }
  std::string out = "[";
  out.reserve(32 * candidates.names.size() + 2);
  for (size_t i = 0; i < candidates.names.size(); ++i) {
    // Nodes that cannot hold the pod score 0; a pod of none of ours scores neutral everywhere.
    const int score = !request->has_value() ? 5 : verdicts[i].fits ? verdicts[i].score : 0;
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
