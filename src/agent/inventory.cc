#include "agent/inventory.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/catalog.h"
#include "core/quantity.h"

namespace xpool::agent {
namespace {

// "<source>: <parts…>"
template <typename... Parts>
Status Bad(const std::string& source, const Parts&... parts) {
  std::string message = source;
  message += ": ";
  (message += ... += parts);
  return Status::InvalidArgument(std::move(message));
}

Result<int64_t> MemoryField(const YAML::Node& node, const std::string& key,
                            const std::string& source) {
  auto parsed = ParseMemory(node[key].as<std::string>());
  if (!parsed.ok()) return Bad(source, key + ": " + parsed.status().message());
  return parsed->value();
}

}  // namespace

std::string BuiltInInventory() {
  return "node: local\n"
         "cpu: 32\n"
         "memory: 256Gi\n"
         "devices:\n"
         "  - model: H100-SXM\n"
         "    count: 4\n";
}

Result<v1::Node> LoadInventory(const std::string& path, const std::string& default_node_name) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("inventory '" + path + "' cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return ParseInventory(text.str(), path, default_node_name);
}

Result<v1::Node> ParseInventory(const std::string& yaml_text, const std::string& source,
                                const std::string& default_node_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Bad(source, "not YAML: " + std::string(e.what()));
  }
  if (!root.IsMap()) return Bad(source, "expected a mapping with node, cpu, memory, devices");
  try {
    v1::Node node;
    node.set_name(root["node"] ? root["node"].as<std::string>() : default_node_name);
    if (node.name().empty() || node.name().find('/') != std::string::npos) {
      return Bad(source, "node name '", node.name(), "' is empty or contains '/'");
    }
    const double cores = root["cpu"] ? root["cpu"].as<double>() : 8;
    if (!(cores > 0)) return Bad(source, "cpu must be a positive number of cores");
    node.set_cpu_milli(std::llround(cores * 1000));
    int64_t memory = int64_t{64} * 1024;
    if (root["memory"]) {
      auto m = MemoryField(root, "memory", source);
      if (!m.ok()) return m.status();
      memory = *m;
    }
    node.set_memory_mib(memory);
    const YAML::Node devices = root["devices"];
    if (devices && !devices.IsSequence()) return Bad(source, "devices must be a list");
    std::map<std::string, int> per_vendor;
    for (size_t g = 0; devices && g < devices.size(); ++g) {
      const YAML::Node group = devices[g];
      const std::string where = "devices[" + std::to_string(g) + "]";
      if (!group["model"]) return Bad(source, where, ": model is missing");
      const auto model = group["model"].as<std::string>();
      const CatalogEntry* entry = FindModel(model);
      const int count = group["count"] ? group["count"].as<int>() : 1;
      if (count < 1 || count > 64) return Bad(source, where, ": count must be 1..64");
      std::string type = group["type"] ? group["type"].as<std::string>() : "";
      if (type.empty() && entry != nullptr) type = std::string(ToString(entry->type));
      if (type.empty())
        return Bad(source, where, ": model '", model, "' is not in the catalog; give its type");
      if (!ParseDeviceType(type).ok()) {
        return Bad(source, where, ": unknown device type '", type, "' (gpu, npu, fpga, cpu)");
      }
      int64_t device_memory = 0;
      if (group["memory"]) {
        std::string context = source;
        context += ' ';
        context += where;
        auto m = MemoryField(group, "memory", context);
        if (!m.ok()) return m.status();
        device_memory = *m;
      } else if (entry != nullptr) {
        device_memory = std::llround(entry->rating.memory_gib * 1024);
      }
      if (device_memory <= 0) return Bad(source, where, ": memory is missing for '", model, "'");
      std::string vendor = group["vendor"] ? group["vendor"].as<std::string>() : "";
      if (vendor.empty()) vendor = entry != nullptr ? std::string(entry->vendor) : "unknown";
      for (int i = 0; i < count; ++i) {
        const int index = node.devices_size();
        const int vendor_index = per_vendor[vendor]++;
        v1::Device* d = node.add_devices();
        d->set_id(node.name() + "/" + vendor + "-" + std::to_string(vendor_index));
        d->set_uuid("SIM-" + node.name() + "-" + std::to_string(index));
        d->set_type(type);
        d->set_vendor(vendor);
        d->set_model(entry != nullptr ? std::string(entry->model) : model);
        d->set_index(index);
        d->set_memory_mib(device_memory);
        d->set_numa_node(-1);
        d->set_healthy(true);
      }
    }
    return node;
  } catch (const YAML::Exception& e) {
    return Bad(source, "a field has the wrong kind of value: " + std::string(e.what()));
  }
}

}  // namespace xpool::agent
