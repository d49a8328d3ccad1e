#include "agent/cdi_spec.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace xpool::agent {

std::string CdiDeviceName(const std::string& uuid) {
  return std::string(kCdiKind) + "=" + uuid;
}

std::string CdiSpecJson(const v1::Node& node, const std::string& dev_dir) {
  using nlohmann::json;
  json devices = json::array();
  for (const auto& d : node.devices()) {
    if (d.type() != "gpu") continue;
    devices.push_back(
        {{"name", d.uuid()},
         {"containerEdits",
          {{"deviceNodes",
            json::array({{{"path", "/dev/nvidia" + std::to_string(d.index())},
                          {"hostPath", dev_dir + "/nvidia" + std::to_string(d.index())}}})}}}});
  }
  json shared = json::array();
  for (const char* name : {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"}) {
    shared.push_back({{"path", std::string("/dev/") + name}, {"hostPath", dev_dir + "/" + name}});
  }
  const json spec = {{"cdiVersion", "0.6.0"},
                     {"kind", kCdiKind},
                     {"devices", devices},
                     {"containerEdits", {{"deviceNodes", shared}}}};
  return spec.dump(2) + "\n";
}

Status WriteCdiSpec(const std::string& dir, const v1::Node& node) {
  const std::string path = dir + "/xpool.io-gpu.json";
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << CdiSpecJson(node);
    if (!out.good()) return Status::IoError("cannot write the CDI spec '" + temporary + "'");
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    return Status::IoError("cannot write the CDI spec '" + path + "': " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace xpool::agent
