#include "controller/tenancy.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/quantity.h"

namespace xpool::controller {
namespace {

constexpr size_t kMaxNameLength = 63;
constexpr size_t kMaxTenants = 10'000;
constexpr size_t kMaxMembers = 10'000;
constexpr int64_t kUnbounded = std::numeric_limits<int64_t>::max();

Status Bad(const std::string& origin, const std::string& what) {
  return Status::InvalidArgument(origin + ": " + what);
}

// Names as Kubernetes labels have them: they end up in metrics labels and in logs.
bool GoodName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> Scalar(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) return Status::InvalidArgument(where + " must be a single value");
  return node.Scalar();
}

// `gpus: 2.5` and `gpu-memory: 320Gi` of a guarantee or a limit.
Result<PoolAmounts> Amounts(const YAML::Node& node, const std::string& where, int64_t absent) {
  PoolAmounts out{absent, absent};
  if (!node) return out;
  if (!node.IsMap()) return Status::InvalidArgument(where + " must map gpus and gpu-memory");
  for (const auto& entry : node) {
    auto key = Scalar(entry.first, where + " key");
    if (!key.ok()) return key.status();
    auto value = Scalar(entry.second, where + "." + *key);
    if (!value.ok()) return value.status();
    if (*key == "gpus") {
      double gpus = 0;
      std::istringstream in(*value);
      in >> gpus;
      if (in.fail() || !in.eof() || !std::isfinite(gpus) || gpus < 0 || gpus > 1e9) {
        return Status::InvalidArgument(where + ".gpus: '" + *value +
                                       "' is not a number of devices from 0 up");
      }
      out.milli = std::llround(gpus * 1000);
    } else if (*key == "gpu-memory") {
      auto memory = ParseMemory(*value);
      if (!memory.ok()) {
        return Status::InvalidArgument(where + ".gpu-memory: " + memory.status().message());
      }
      if (memory->value() < 0) return Status::InvalidArgument(where + ".gpu-memory is negative");
      out.memory_mib = memory->value();
    } else {
      return Status::InvalidArgument(where + ": unknown key '" + *key +
                                     "' (known: gpus, gpu-memory)");
    }
  }
  return out;
}

Result<TenantPolicy> Tenant(const std::string& name, const YAML::Node& node) {
  const std::string where = "tenant '" + name + "'";
  TenantPolicy t;
  t.name = name;
  t.limit = {kUnbounded, kUnbounded};
  if (node.IsNull()) return t;
  if (!node.IsMap()) return Status::InvalidArgument(where + " must be a mapping");
  for (const auto& entry : node) {
    auto key = Scalar(entry.first, where + " key");
    if (!key.ok()) return key.status();
    if (*key == "members") {
      if (!entry.second.IsSequence()) {
        return Status::InvalidArgument(where + ".members must be a list of user names");
      }
      if (entry.second.size() > kMaxMembers) {
        return Status::InvalidArgument(where + " has more than " + std::to_string(kMaxMembers) +
                                       " members");
      }
      for (const auto& member : entry.second) {
        auto user = Scalar(member, where + ".members");
        if (!user.ok()) return user.status();
        if (!GoodName(*user)) {
          return Status::InvalidArgument(where + ": member '" + *user +
                                         "' is not a user name (letters, digits, - _ .)");
        }
        t.members.insert(*user);
      }
    } else if (*key == "guarantee") {
      auto g = Amounts(entry.second, where + ".guarantee", 0);
      if (!g.ok()) return g.status();
      t.guarantee = *g;
    } else if (*key == "limit") {
      auto l = Amounts(entry.second, where + ".limit", kUnbounded);
      if (!l.ok()) return l.status();
      t.limit = *l;
    } else {
      return Status::InvalidArgument(where + ": unknown key '" + *key +
                                     "' (known: members, guarantee, limit)");
    }
  }
  if (!t.guarantee.Within(t.limit)) {
    return Status::InvalidArgument(where + ": its guarantee is larger than its limit");
  }
  return t;
}

}  // namespace

Result<const TenantPolicy*> TenancyConfig::TenantFor(const std::string& tenant,
                                                     const std::string& user,
                                                     bool check_members) const {
  const std::string& name = tenant.empty() ? default_tenant : tenant;
  if (name.empty()) {
    return Status::InvalidArgument("name a tenant (--tenant): this pool has no default tenant");
  }
  auto it = tenants.find(name);
  if (it == tenants.end()) {
    return Status::InvalidArgument("no tenant '" + name + "' in the pool's tenants file");
  }
  if (check_members && !it->second.members.empty() && it->second.members.count(user) == 0) {
    return Status::FailedPrecondition("user '" + user + "' is not a member of tenant '" + name +
                                      "'");
  }
  return &it->second;
}

Result<TenancyConfig> ParseTenancy(std::string_view yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Bad(origin, "not YAML: " + std::string(e.what()));
  }
  if (!root.IsMap()) {
    return Bad(origin, "expected a mapping with tenants, priority-classes, default-tenant");
  }
  TenancyConfig config;
  try {
    for (const auto& entry : root) {
      auto key = Scalar(entry.first, "a top-level key");
      if (!key.ok()) return Bad(origin, key.status().message());
      if (*key == "tenants") {
        if (!entry.second.IsMap()) return Bad(origin, "tenants must map names to tenants");
        if (entry.second.size() > kMaxTenants) {
          return Bad(origin, "more than " + std::to_string(kMaxTenants) + " tenants");
        }
        for (const auto& t : entry.second) {
          auto name = Scalar(t.first, "a tenant's name");
          if (!name.ok()) return Bad(origin, name.status().message());
          if (!GoodName(*name)) {
            return Bad(origin, "tenant name '" + *name + "' is not 1-63 letters, digits, - _ .");
          }
          auto tenant = Tenant(*name, t.second);
          if (!tenant.ok()) return Bad(origin, tenant.status().message());
          config.tenants[*name] = std::move(*tenant);
        }
      } else if (*key == "priority-classes") {
        if (!entry.second.IsMap()) return Bad(origin, "priority-classes must map names to values");
        for (const auto& c : entry.second) {
          auto name = Scalar(c.first, "a priority class's name");
          if (!name.ok()) return Bad(origin, name.status().message());
          if (!GoodName(*name)) return Bad(origin, "priority class name '" + *name + "' is bad");
          auto text = Scalar(c.second, "priority class '" + *name + "'");
          if (!text.ok()) return Bad(origin, text.status().message());
          int64_t value = 0;
          std::istringstream in(*text);
          in >> value;
          if (in.fail() || !in.eof() || value < -1'000'000 || value > 1'000'000) {
            return Bad(origin, "priority class '" + *name + "': '" + *text +
                                   "' is not a whole number from -1000000 to 1000000");
          }
          config.priority_classes[*name] = static_cast<int32_t>(value);
        }
      } else if (*key == "default-tenant") {
        auto name = Scalar(entry.second, "default-tenant");
        if (!name.ok()) return Bad(origin, name.status().message());
        config.default_tenant = *name;
      } else {
        return Bad(origin,
                   "unknown key '" + *key + "' (known: tenants, priority-classes, default-tenant)");
      }
    }
  } catch (const YAML::Exception& e) {
    return Bad(origin, e.what());
  }
  if (!config.default_tenant.empty() && config.tenants.count(config.default_tenant) == 0) {
    return Bad(origin, "default-tenant '" + config.default_tenant + "' is not among the tenants");
  }
  return config;
}

Result<TenancyConfig> LoadTenancy(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("tenants file '" + path + "' cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  return ParseTenancy(text.str(), path);
}

}  // namespace xpool::controller
