// deploy/k8s/ holds together: every document is a named Kubernetes object, the scheduler's
// extender reaches the controller's Service and manages the resources the controller and agents
// use, RBAC grants what the controller calls, and the agent's host paths are where it says.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "controller/extender.h"

namespace {

namespace fs = std::filesystem;

std::vector<YAML::Node> LoadAll() {
  std::vector<YAML::Node> docs;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(fs::path(XPOOL_SOURCE_DIR) / "deploy/k8s")) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    for (const auto& doc : YAML::LoadAllFromFile(f.string())) {
      if (doc.IsNull()) continue;
      EXPECT_TRUE(doc["apiVersion"] && doc["kind"] && doc["metadata"]["name"]) << f;
      docs.push_back(doc);
    }
  }
  return docs;
}

YAML::Node Find(const std::vector<YAML::Node>& docs, const std::string& kind,
                const std::string& name) {
  for (const auto& d : docs) {
    if (d["kind"].as<std::string>() == kind && d["metadata"]["name"].as<std::string>() == name) {
      return d;
    }
  }
  ADD_FAILURE() << "no " << kind << " " << name;
  return YAML::Node();
}

// "--name=value" arguments of a container.
std::map<std::string, std::string> FlagsOf(const YAML::Node& container) {
  std::map<std::string, std::string> flags;
  for (const auto& a : container["args"]) {
    const auto arg = a.as<std::string>();
    const auto eq = arg.find('=');
    flags[arg.substr(0, eq)] = eq == std::string::npos ? "" : arg.substr(eq + 1);
  }
  return flags;
}

TEST(DeployManifests, ExtenderReachesTheControllerAndManagesItsResources) {
  const auto docs = LoadAll();
  ASSERT_GE(docs.size(), 10u);
  const auto service = Find(docs, "Service", "xpool-controller");
  int http_port = 0;
  for (const auto& p : service["spec"]["ports"]) {
    if (p["name"].as<std::string>() == "http") http_port = p["port"].as<int>();
  }
  const auto controller = Find(docs, "Deployment", "xpool-controller");
  const auto flags = FlagsOf(controller["spec"]["template"]["spec"]["containers"][0]);
  EXPECT_EQ(flags.at("--http"), "0.0.0.0:" + std::to_string(http_port));
  EXPECT_EQ(flags.at("--kube-api"), "in-cluster");

  const auto config_map = Find(docs, "ConfigMap", "xpool-scheduler-config");
  const auto config = YAML::Load(config_map["data"]["config.yaml"].as<std::string>());
  EXPECT_EQ(config["kind"].as<std::string>(), "KubeSchedulerConfiguration");
  const auto extender = config["extenders"][0];
  EXPECT_EQ(extender["urlPrefix"].as<std::string>(),
            "https://xpool-controller." + service["metadata"]["namespace"].as<std::string>() +
                ".svc:" + std::to_string(http_port) + "/scheduler");
  EXPECT_EQ(extender["filterVerb"].as<std::string>(), "filter");
  EXPECT_EQ(extender["prioritizeVerb"].as<std::string>(), "prioritize");
  EXPECT_EQ(extender["bindVerb"].as<std::string>(), "bind");
  EXPECT_TRUE(extender["nodeCacheCapable"].as<bool>());
  // HTTPS both ways: the scheduler presents a client certificate the controller checks, and each
  // side's files are in a Secret mounted where its flags and config name them.
  EXPECT_TRUE(extender["enableHTTPS"].as<bool>());
  EXPECT_EQ(extender["tlsConfig"]["serverName"].as<std::string>(),
            "xpool-controller." + service["metadata"]["namespace"].as<std::string>() + ".svc");
  const auto mounted = [](const YAML::Node& pod_spec, const std::string& file) {
    for (const auto& m : pod_spec["containers"][0]["volumeMounts"]) {
      const std::string dir = m["mountPath"].as<std::string>() + "/";
      if (file.rfind(dir, 0) != 0) continue;
      for (const auto& v : pod_spec["volumes"]) {
        if (v["name"].as<std::string>() == m["name"].as<std::string>() && v["secret"]) return true;
      }
    }
    return false;
  };
  const auto controller_spec = controller["spec"]["template"]["spec"];
  for (const char* flag : {"--http-tls-cert", "--http-tls-key", "--http-client-ca"}) {
    EXPECT_TRUE(mounted(controller_spec, flags.at(flag))) << flag;
  }
  const auto scheduler_spec =
      Find(docs, "Deployment", "xpool-scheduler")["spec"]["template"]["spec"];
  for (const char* key : {"certFile", "keyFile", "caFile"}) {
    EXPECT_TRUE(mounted(scheduler_spec, extender["tlsConfig"][key].as<std::string>())) << key;
  }

  std::map<std::string, bool> managed;  // name -> ignoredByScheduler
  for (const auto& r : extender["managedResources"]) {
    managed[r["name"].as<std::string>()] = r["ignoredByScheduler"].as<bool>();
  }
  EXPECT_EQ(managed.at(flags.at("--gpu-resource")), false);  // the device plugin advertises it
  EXPECT_EQ(managed.at(flags.at("--gpu-memory-resource")), true);
  EXPECT_EQ(managed.at(flags.at("--gpu-core-resource")), true);
  const xpool::controller::ResourceNames defaults;
  EXPECT_EQ(flags.at("--gpu-resource"), defaults.gpu);
  EXPECT_EQ(flags.at("--gpu-memory-resource"), defaults.memory);
  EXPECT_EQ(flags.at("--gpu-core-resource"), defaults.core);
  EXPECT_EQ(config["profiles"][0]["schedulerName"].as<std::string>(),
            Find(docs, "Pod", "slice-demo")["spec"]["schedulerName"].as<std::string>());
}

TEST(DeployManifests, RbacGrantsWhatTheControllerCalls) {
  const auto docs = LoadAll();
  std::map<std::string, std::vector<std::string>> verbs;  // resource -> verbs
  for (const auto& rule : Find(docs, "ClusterRole", "xpool-controller")["rules"]) {
    for (const auto& r : rule["resources"]) {
      for (const auto& v : rule["verbs"]) verbs[r.as<std::string>()].push_back(v.as<std::string>());
    }
  }
  for (const char* v : {"get", "list", "watch", "patch"}) {
    EXPECT_NE(std::find(verbs["pods"].begin(), verbs["pods"].end(), v), verbs["pods"].end()) << v;
  }
  EXPECT_EQ(verbs["pods/binding"], std::vector<std::string>{"create"});
  const auto controller = Find(docs, "Deployment", "xpool-controller");
  EXPECT_EQ(controller["spec"]["template"]["spec"]["serviceAccountName"].as<std::string>(),
            Find(docs, "ClusterRoleBinding", "xpool-controller")["subjects"][0]["name"]
                .as<std::string>());
}

TEST(DeployManifests, AgentHostPathsAreWhereItsFlagsSay) {
  const auto docs = LoadAll();
  const auto pod = Find(docs, "DaemonSet", "xpool-agent")["spec"]["template"]["spec"];
  const auto agent = pod["containers"][0];
  const auto flags = FlagsOf(agent);
  std::map<std::string, std::string> host_path;  // volume -> host path
  for (const auto& v : pod["volumes"]) {
    if (v["hostPath"])
      host_path[v["name"].as<std::string>()] = v["hostPath"]["path"].as<std::string>();
  }
  // A mount of a host folder at the same path in the container: paths under it mean the same
  // on both sides (the device plugin hands the runtime's host path to the kubelet).
  const auto same_on_host = [&](const std::string& path) {
    for (const auto& m : agent["volumeMounts"]) {
      const auto name = m["name"].as<std::string>();
      const auto at = m["mountPath"].as<std::string>();
      if (host_path.count(name) && host_path[name] == at && path.rfind(at, 0) == 0) return true;
    }
    return false;
  };
  EXPECT_TRUE(same_on_host(flags.at("--device-plugin-dir")));
  EXPECT_TRUE(same_on_host(flags.at("--runtime")));
  EXPECT_TRUE(same_on_host(flags.at("--slice-dir")));
  EXPECT_EQ(flags.at("--device-plugin-resource"), xpool::controller::ResourceNames().gpu);
  bool node_name_from_spec = false;
  for (const auto& e : agent["env"]) {
    node_name_from_spec |=
        e["name"].as<std::string>() == "XPOOL_NODE_NAME" &&
        e["valueFrom"]["fieldRef"]["fieldPath"].as<std::string>() == "spec.nodeName";
  }
  EXPECT_TRUE(node_name_from_spec);
  // The init container copies the runtime to where --runtime points.
  const auto init = pod["initContainers"][0];
  EXPECT_EQ(fs::path(flags.at("--runtime")).parent_path().string(),
            host_path.at(init["volumeMounts"][0]["name"].as<std::string>()));
}

// What an operator's admission policies ask of every workload: requests and limits, probes on
// long-running containers, no privilege escalation, every capability dropped but the agent's
// few, the controller and scheduler as non-root, no privileged container.
TEST(DeployManifests, EveryContainerIsBoundedProbedAndHoldsOnlyTheRightsItNeeds) {
  const auto docs = LoadAll();
  const std::map<std::string, std::vector<std::string>> allowed_capabilities = {
      {"agent", {"SETUID", "SETGID", "KILL", "CHOWN", "FOWNER"}}};
  int checked = 0;
  for (const auto& d : docs) {
    const auto kind = d["kind"].as<std::string>();
    if (kind != "Deployment" && kind != "DaemonSet") continue;
    const auto pod = d["spec"]["template"]["spec"];
    for (const char* list : {"initContainers", "containers"}) {
      for (const auto& c : pod[list]) {
        const auto name = c["name"].as<std::string>();
        ++checked;
        for (const char* bound : {"requests", "limits"}) {
          EXPECT_TRUE(c["resources"][bound]["cpu"] && c["resources"][bound]["memory"])
              << name << " has no " << bound;
        }
        if (std::string(list) == "containers") {
          EXPECT_TRUE(c["livenessProbe"] && c["readinessProbe"]) << name << " is not probed";
        }
        const auto sc = c["securityContext"];
        EXPECT_FALSE(sc["privileged"] && sc["privileged"].as<bool>()) << name;
        ASSERT_TRUE(sc["allowPrivilegeEscalation"]) << name;
        EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>()) << name;
        ASSERT_TRUE(sc["capabilities"]["drop"]) << name;
        EXPECT_EQ(sc["capabilities"]["drop"][0].as<std::string>(), "ALL") << name;
        std::vector<std::string> added;
        for (const auto& cap : sc["capabilities"]["add"]) added.push_back(cap.as<std::string>());
        const auto allowed = allowed_capabilities.find(name);
        EXPECT_EQ(added, allowed == allowed_capabilities.end() ? std::vector<std::string>{}
                                                               : allowed->second)
            << name;
        if (name == "controller" || name == "kube-scheduler") {
          const bool non_root = (sc["runAsNonRoot"] && sc["runAsNonRoot"].as<bool>()) ||
                                (pod["securityContext"]["runAsNonRoot"] &&
                                 pod["securityContext"]["runAsNonRoot"].as<bool>());
          EXPECT_TRUE(non_root) << name << " runs as root";
        }
      }
    }
  }
  EXPECT_EQ(checked, 4);  // controller, the agent's init and main containers, kube-scheduler
}

}  // namespace
