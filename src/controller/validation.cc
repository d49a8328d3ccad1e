#include "controller/validation.h"

#include <set>
#include <string>

namespace xpool::controller {
namespace {

constexpr size_t kMaxName = 253;  // a DNS subdomain, as Kubernetes node names are
constexpr size_t kMaxTenant = 63;
constexpr int64_t kMaxDeviceMemoryMib = int64_t{16} * 1024 * 1024;  // 16 TiB
constexpr int64_t kMaxHostMemoryMib = int64_t{1} << 30;             // 1 PiB
constexpr int64_t kMaxCpuMilli = int64_t{1'000'000} * 1000;         // a million cores

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

// Visible ASCII, no spaces: ids, addresses.
bool TokenChar(char c) {
  return c > ' ' && c < 0x7f;
}
// Visible ASCII and spaces: models and vendors as drivers name them ("NVIDIA RTX A6000").
bool TextChar(char c) {
  return c >= ' ' && c < 0x7f;
}

enum class Chars { kName, kToken, kText };

Status Check(bool ok, const std::string& what) {
  return ok ? Status::Ok() : Status::InvalidArgument(what);
}

template <typename Pred>
bool All(const std::string& s, Pred pred) {
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}

// `text` in quotes, control characters shown as escapes, cut to a readable length.
std::string Quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text.substr(0, 64)) {
    if (TokenChar(c) || c == ' ') {
      out += c;
    } else {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
      out += kHex[static_cast<unsigned char>(c) & 0xf];
    }
  }
  return out + (text.size() > 64 ? "…'" : "'");
}

Status Field(const std::string& value, const std::string& what, size_t max, Chars chars,
             bool required = true) {
  if (value.empty()) return Check(!required, what + " is empty");
  if (value.size() > max) {
    return Status::InvalidArgument(what + " is longer than " + std::to_string(max) + " characters");
  }
  switch (chars) {
    case Chars::kName:
      return Check(All(value, NameChar),
                   what + " " + Quoted(value) + " may hold only letters, digits, '-', '_' and '.'");
    case Chars::kToken:
      return Check(All(value, TokenChar),
                   what + " " + Quoted(value) + " may hold only visible characters, no spaces");
    case Chars::kText:
      break;
  }
  return Check(All(value, TextChar),
               what + " " + Quoted(value) + " may hold only visible characters and spaces");
}

// `value` (in `unit`) from 0 to `max`.
Status InRange(int64_t value, int64_t max, const std::string& what, const char* unit) {
  return Check(value >= 0 && value <= max,
               what + " (" + std::to_string(value) + " " + unit + ") is out of range");
}

}  // namespace

Status ValidateNode(const v1::Node& node) {
  if (Status s = Field(node.name(), "node name", kMaxName, Chars::kName); !s.ok()) return s;
  const std::string where = "node " + node.name() + ": ";
  if (Status s = Field(node.agent_address(), where + "agent address", 512, Chars::kToken, false);
      !s.ok())
    return s;
  if (Status s = InRange(node.cpu_milli(), kMaxCpuMilli, where + "cpu", "millicores"); !s.ok())
    return s;
  if (Status s = InRange(node.memory_mib(), kMaxHostMemoryMib, where + "memory", "MiB"); !s.ok())
    return s;
  if (node.devices_size() > kMaxDevicesPerNode) {
    return Status::InvalidArgument(where + std::to_string(node.devices_size()) +
                                   " devices; a node may have at most " +
                                   std::to_string(kMaxDevicesPerNode));
  }
  std::set<std::string> ids, uuids;
  std::set<int> indexes;
  for (const v1::Device& d : node.devices()) {
    if (Status s = Field(d.id(), where + "device id", kMaxName, Chars::kToken); !s.ok()) return s;
    const std::string device = where + "device " + d.id() + ": ";
    if (Status s = Field(d.uuid(), device + "uuid", 128, Chars::kToken, false); !s.ok()) return s;
    if (Status s = Field(d.model(), device + "model", 64, Chars::kText); !s.ok()) return s;
    if (Status s = Field(d.vendor(), device + "vendor", 64, Chars::kText, false); !s.ok()) return s;
    if (Status s = Field(d.pci_bus_id(), device + "PCI bus id", 64, Chars::kToken, false); !s.ok())
      return s;
    if (!ids.insert(d.id()).second) return Status::InvalidArgument(device + "id given twice");
    if (!d.uuid().empty() && !uuids.insert(d.uuid()).second) {
      return Status::InvalidArgument(device + "uuid " + d.uuid() + " given twice");
    }
    if (d.index() < 0 || d.index() >= kMaxDevicesPerNode || !indexes.insert(d.index()).second) {
      return Status::InvalidArgument(device + "index " + std::to_string(d.index()) +
                                     " is out of range or given twice");
    }
    if (Status s = InRange(d.memory_mib(), kMaxDeviceMemoryMib, device + "memory", "MiB"); !s.ok())
      return s;
    if (d.links_size() > kMaxDevicesPerNode) {
      return Status::InvalidArgument(device + "too many links");
    }
    for (const v1::Link& l : d.links()) {
      if (l.peer_index() < 0 || l.peer_index() >= kMaxDevicesPerNode || l.lanes() < 0 ||
          l.lanes() > 1024) {
        return Status::InvalidArgument(device + "a link is out of range");
      }
    }
  }
  return Status::Ok();
}

Status ValidateRequestFields(const v1::AllocateRequest& request) {
  if (Status s = Field(request.tenant(), "tenant", kMaxTenant, Chars::kName, false); !s.ok())
    return s;
  if (Status s = Field(request.owner(), "owner", kMaxName, Chars::kToken, false); !s.ok()) return s;
  if (Status s = Field(request.request_id(), "request id", 128, Chars::kToken, false); !s.ok())
    return s;
  if (Status s = Field(request.node(), "node", kMaxName, Chars::kName, false); !s.ok()) return s;
  if (Status s = Field(request.priority_class(), "priority class", kMaxTenant, Chars::kName, false);
      !s.ok())
    return s;
  if (request.models_size() > 64) return Status::InvalidArgument("more than 64 models named");
  for (const std::string& m : request.models()) {
    if (Status s = Field(m, "model", 64, Chars::kText); !s.ok()) return s;
  }
  if (request.container().size() > kMaxName || request.pod_uid().size() > 64) {
    return Status::InvalidArgument("container name or pod uid too long");
  }
  return Status::Ok();
}

}  // namespace xpool::controller
