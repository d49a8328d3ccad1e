#include "agent/nvml_discovery.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <map>

#include "core/catalog.h"

namespace xpool::agent {
namespace {

// The parts of NVML's C API used here, declared from NVIDIA's public reference (no nvml.h here).
using nvmlReturn_t = int;
struct nvmlDevice_st;
using nvmlDevice_t = nvmlDevice_st*;
constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr unsigned kNvLinkMaxLinks = 18;
struct nvmlMemory_t {
  unsigned long long total, free, used;
};
struct nvmlPciInfo_t {
  std::array<char, 16> busIdLegacy;  // the C struct's char arrays, same layout
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  std::array<char, 32> busId;
};
static_assert(sizeof(nvmlPciInfo_t) == 68);

struct Nvml {
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*count)(unsigned*) = nullptr;
  nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*uuid)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*pci)(nvmlDevice_t, nvmlPciInfo_t*) = nullptr;
  nvmlReturn_t (*numa)(nvmlDevice_t, unsigned*) = nullptr;                      // optional
  nvmlReturn_t (*link_state)(nvmlDevice_t, unsigned, int*) = nullptr;           // optional
  nvmlReturn_t (*link_peer)(nvmlDevice_t, unsigned, nvmlPciInfo_t*) = nullptr;  // optional
};

template <typename F>
void Bind(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
}

// "0000:1B:00.0" and "00000000:1b:00.0" name the same device.
std::string NormalBusId(const char* id) {
  std::string s(id);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  const size_t colon = s.find(':');
  if (colon != std::string::npos && colon > 4) s = s.substr(colon - 4);
  return s;
}

int NumaFromSysfs(const std::string& bus_id) {
  std::ifstream in("/sys/bus/pci/devices/" + bus_id + "/numa_node");
  int node = -1;
  in >> node;
  return node;
}

int64_t HostMemoryMiB() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page / (int64_t{1024} * 1024) : 0;
}

}  // namespace

Result<v1::Node> DiscoverNvidiaNode(const std::string& node_name) {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return Status::NotFound("no NVML on this machine (libnvidia-ml.so.1)");
  Nvml n;
  Bind(lib, "nvmlInit_v2", n.init);
  Bind(lib, "nvmlDeviceGetCount_v2", n.count);
  Bind(lib, "nvmlDeviceGetHandleByIndex_v2", n.by_index);
  Bind(lib, "nvmlDeviceGetUUID", n.uuid);
  Bind(lib, "nvmlDeviceGetName", n.name);
  Bind(lib, "nvmlDeviceGetMemoryInfo", n.memory);
  Bind(lib, "nvmlDeviceGetPciInfo_v3", n.pci);
  Bind(lib, "nvmlDeviceGetNumaNodeId", n.numa);
  Bind(lib, "nvmlDeviceGetNvLinkState", n.link_state);
  Bind(lib, "nvmlDeviceGetNvLinkRemotePciInfo_v2", n.link_peer);
  if (n.init == nullptr || n.count == nullptr || n.by_index == nullptr || n.uuid == nullptr ||
      n.name == nullptr || n.memory == nullptr) {
    return Status::NotFound("NVML lacks the functions discovery needs");
  }
  if (n.init() != kNvmlSuccess) return Status::NotFound("NVML does not initialise (no driver?)");
  unsigned count = 0;
  if (n.count(&count) != kNvmlSuccess || count == 0) return Status::NotFound("NVML sees no GPU");

  v1::Node node;
  node.set_name(node_name);
  node.set_cpu_milli(int64_t{1000} * std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN)));
  node.set_memory_mib(HostMemoryMiB());
  std::vector<nvmlDevice_t> handles(count, nullptr);
  std::map<std::string, int> index_of_bus;
  for (unsigned i = 0; i < count; ++i) {
    v1::Device* d = node.add_devices();
    d->set_index(static_cast<int>(i));
    d->set_type("gpu");
    d->set_vendor("nvidia");
    d->set_id(node_name + "/nvidia-" + std::to_string(i));
    d->set_numa_node(-1);
    bool healthy = n.by_index(i, &handles[i]) == kNvmlSuccess;
    std::array<char, 96> text{};
    healthy = healthy && n.uuid(handles[i], text.data(), text.size()) == kNvmlSuccess;
    d->set_uuid(text.data());
    text.fill(0);
    healthy = healthy && n.name(handles[i], text.data(), text.size()) == kNvmlSuccess;
    const CatalogEntry* entry = FindModel(text.data());
    d->set_model(entry != nullptr ? std::string(entry->model) : std::string(text.data()));
    nvmlMemory_t memory{};
    healthy = healthy && n.memory(handles[i], &memory) == kNvmlSuccess;
    d->set_memory_mib(static_cast<int64_t>(memory.total / (1024ULL * 1024)));
    nvmlPciInfo_t pci{};
    if (healthy && n.pci != nullptr && n.pci(handles[i], &pci) == kNvmlSuccess) {
      d->set_pci_bus_id(NormalBusId(pci.busId.data()));
      index_of_bus[d->pci_bus_id()] = static_cast<int>(i);
      d->set_numa_node(NumaFromSysfs(d->pci_bus_id()));
    }
    unsigned numa = 0;
    if (healthy && n.numa != nullptr && n.numa(handles[i], &numa) == kNvmlSuccess) {
      d->set_numa_node(static_cast<int>(numa));
    }
    d->set_healthy(healthy);
  }
  // Links: NVLinks counted per peer; every other pair of GPUs talks over PCIe.
  for (unsigned i = 0; i < count; ++i) {
    std::map<int, int> lanes;
    for (unsigned l = 0; n.link_state != nullptr && n.link_peer != nullptr && l < kNvLinkMaxLinks;
         ++l) {
      int active = 0;
      nvmlPciInfo_t peer{};
      if (n.link_state(handles[i], l, &active) != kNvmlSuccess || active == 0) continue;
      if (n.link_peer(handles[i], l, &peer) != kNvmlSuccess) continue;
      auto it = index_of_bus.find(NormalBusId(peer.busId.data()));
      if (it != index_of_bus.end() && it->second != static_cast<int>(i)) ++lanes[it->second];
    }
    for (unsigned j = 0; j < count; ++j) {
      if (j == i) continue;
      v1::Link* link = node.mutable_devices(static_cast<int>(i))->add_links();
      link->set_peer_index(static_cast<int>(j));
      const auto it = lanes.find(static_cast<int>(j));
      link->set_kind(it != lanes.end() ? "nvlink" : "pcie");
      link->set_lanes(it != lanes.end() ? it->second : 0);
    }
  }
  return node;
}

}  // namespace xpool::agent
