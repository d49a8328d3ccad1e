#include "runtime/config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <tuple>

namespace xpool::runtime {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx in hexadecimal, as NVML and nvidia-smi write UUIDs.
bool IsUuidBody(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    const char c = s[i];
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return false;
  }
  return true;
}

// GPU-<uuid>, MIG-<uuid>, or the older MIG-GPU-<uuid>/<gi>/<ci>.
bool IsDeviceUuid(std::string_view key) {
  if (key.starts_with("GPU-")) return IsUuidBody(key.substr(4));
  if (!key.starts_with("MIG-")) return false;
  key.remove_prefix(4);
  if (!key.starts_with("GPU-")) return IsUuidBody(key);
  key.remove_prefix(4);
  if (key.size() < 36 || !IsUuidBody(key.substr(0, 36))) return false;
  key.remove_prefix(36);
  int slashes = 0;
  for (char c : key) {
    if (c == '/') {
      ++slashes;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return slashes == 2 && key.size() >= 4 && key.front() == '/' && key.back() != '/' &&
         key.find("//") == std::string_view::npos;
}

Status ParseEntry(std::string_view entry, MemoryQuotas& quotas) {
  const size_t eq = entry.find('=');
  if (eq == std::string_view::npos) {
    auto m = ParseMemory(entry);
    if (!m.ok()) return m.status();
    quotas.SetAll(*m);
    return Status::Ok();
  }
  const std::string_view key = Trim(entry.substr(0, eq));
  auto m = ParseMemory(Trim(entry.substr(eq + 1)));
  if (!m.ok()) return m.status();
  if (key.starts_with("GPU-") || key.starts_with("MIG-")) {
    if (!IsDeviceUuid(key)) {
      return Status::InvalidArgument("device '" + std::string(key) +
                                     "' is not a device UUID (GPU-xxxxxxxx-xxxx-xxxx-xxxx-"
                                     "xxxxxxxxxxxx, as nvidia-smi -L prints it)");
    }
    quotas.SetUuid(std::string(key), *m);
    return Status::Ok();
  }
  int index = -1;
  auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
  if (key.empty() || ec != std::errc() || ptr != key.data() + key.size() || index < 0) {
    return Status::InvalidArgument("device '" + std::string(key) +
                                   "' is neither a device index nor a GPU-/MIG- UUID");
  }
  quotas.SetIndex(index, *m);
  return Status::Ok();
}

}  // namespace

std::vector<std::string> MemoryQuotas::Uuids() const {
  std::vector<std::string> out;
  for (const auto& [uuid, quota] : by_uuid_) out.push_back(uuid);
  return out;
}

std::vector<int> MemoryQuotas::Indices() const {
  std::vector<int> out;
  for (const auto& [index, quota] : by_index_) out.push_back(index);
  return out;
}

std::optional<MiB> MemoryQuotas::For(int physical_index, std::string_view uuid) const {
  if (!uuid.empty()) {
    auto u = by_uuid_.find(uuid);
    if (u != by_uuid_.end()) return u->second;
  }
  auto i = by_index_.find(physical_index);
  if (i != by_index_.end()) return i->second;
  return all_;
}

Result<MemoryQuotas> ParseMemoryQuotas(std::string_view text) {
  MemoryQuotas quotas;
  if (Trim(text).empty()) return Status::InvalidArgument("the quota list is empty");
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view entry = Trim(text.substr(0, comma));
    Status s = ParseEntry(entry, quotas);
    if (!s.ok()) return s;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return quotas;
}

Result<LogLevel> ParseLogLevel(std::string_view text) {
  if (text == "error") return LogLevel::kError;
  if (text == "warn") return LogLevel::kWarn;
  if (text == "info") return LogLevel::kInfo;
  if (text == "debug") return LogLevel::kDebug;
  return Status::InvalidArgument("log level '" + std::string(text) +
                                 "' is not one of error, warn, info, debug");
}

Result<ComputePolicy> ParseComputePolicy(std::string_view text) {
  for (auto p : {ComputePolicy::kFixed, ComputePolicy::kEqual, ComputePolicy::kWeighted,
                 ComputePolicy::kBestEffort, ComputePolicy::kShared}) {
    if (text == ComputePolicyName(p)) return p;
  }
  return Status::InvalidArgument("policy '" + std::string(text) +
                                 "' is not one of fixed, equal, weighted, best-effort, shared");
}

const char* ComputePolicyName(ComputePolicy policy) {
  switch (policy) {
    case ComputePolicy::kFixed:
      return "fixed";
    case ComputePolicy::kEqual:
      return "equal";
    case ComputePolicy::kWeighted:
      return "weighted";
    case ComputePolicy::kBestEffort:
      return "best-effort";
    case ComputePolicy::kShared:
      return "shared";
  }
  return "?";
}

Result<int> ParseComputeShare(std::string_view text) {
  text = Trim(text);
  if (!text.empty() && text.back() == '%') text.remove_suffix(1);
  int share = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), share);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || share < 1 ||
      share > 100) {
    return Status::InvalidArgument("compute share '" + std::string(text) +
                                   "' is not a whole percentage from 1 to 100");
  }
  return share;
}

Result<bool> ParseComputePriority(std::string_view text) {
  if (text == "high") return true;
  if (text == "normal") return false;
  return Status::InvalidArgument("priority '" + std::string(text) + "' is not one of normal, high");
}

Result<int> ParseComputePeriod(std::string_view text) {
  text = Trim(text);
  if (text.ends_with("ms")) text.remove_suffix(2);
  int ms = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() ||
      ms < kMinComputePeriodMs || ms > kMaxComputePeriodMs) {
    return Status::InvalidArgument(
        "period '" + std::string(text) + "' is not a whole number of milliseconds from " +
        std::to_string(kMinComputePeriodMs) + " to " + std::to_string(kMaxComputePeriodMs));
  }
  return ms;
}

namespace {

// A whole number from `low` to `high`, or the reason it is not one.
Result<int> ParseWholeInRange(std::string_view text, int low, int high, const char* unit) {
  text = Trim(text);
  int v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < low ||
      v > high) {
    return Status::InvalidArgument("'" + std::string(text) + "' is not a whole number of " + unit +
                                   " from " + std::to_string(low) + " to " + std::to_string(high));
  }
  return v;
}

// The variables as the runtime sees them: the slice's settings file, where there is one, over the
// environment.
class Variables {
 public:
  Variables(const char* (*env)(const char* name), const SliceSettings* file)
      : env_(env), file_(file) {}
  const char* operator()(const char* name) const {
    if (file_ != nullptr) {
      if (auto it = file_->find(std::string_view(name)); it != file_->end()) {
        return it->second.c_str();
      }
    }
    return env_(name);
  }

 private:
  const char* (*env_)(const char* name);
  const SliceSettings* file_;
};

// $XPOOL_COMPUTE_DIR through `lookup`, or the default when it is unset or empty.
template <typename Lookup>
std::string ComputeDirOf(const Lookup& lookup) {
  const char* dir = lookup(kEnvComputeDir);
  return dir != nullptr && *dir != '\0' ? dir : ComputeConfig{}.dir;
}

// Reads the compute variables; returns the first error, if any.
std::string LoadComputeConfig(const Variables& lookup, ComputeConfig& compute) {
  if (const char* core = lookup(kEnvGpuCore); core != nullptr) {
    auto share = ParseComputeShare(core);
    if (!share.ok()) return std::string(kEnvGpuCore) + ": " + share.status().message();
    compute.share_percent = *share;
    compute.enabled = true;
  }
  if (const char* policy = lookup(kEnvComputePolicy); policy != nullptr) {
    auto parsed = ParseComputePolicy(policy);
    if (!parsed.ok()) return std::string(kEnvComputePolicy) + ": " + parsed.status().message();
    compute.policy = *parsed;
    compute.enabled = true;
  }
  if (const char* priority = lookup(kEnvPriority); priority != nullptr) {
    auto high = ParseComputePriority(priority);
    if (!high.ok()) return std::string(kEnvPriority) + ": " + high.status().message();
    compute.high_priority = *high;
    compute.enabled = true;
  }
  if (const char* period = lookup(kEnvComputePeriod); period != nullptr) {
    auto parsed = ParseComputePeriod(period);
    if (!parsed.ok()) return std::string(kEnvComputePeriod) + ": " + parsed.status().message();
    compute.period_ms = *parsed;
  }
  for (auto [name, field, low, high, unit] :
       {std::tuple{kEnvComputeQueue, &compute.queue_us, 100, 100'000, "microseconds"},
        std::tuple{kEnvComputeQuantum, &compute.quantum_ms, 1, 1000, "milliseconds"}}) {
    if (const char* text = lookup(name); text != nullptr) {
      auto parsed = ParseWholeInRange(text, low, high, unit);
      if (!parsed.ok()) return std::string(name) + ": " + parsed.status().message();
      *field = *parsed;
    }
  }
  compute.dir = ComputeDirOf(lookup);
  if (const char* wait = lookup(kEnvComputeWait); wait != nullptr) {
    const std::string_view w = wait;
    if (w == "auto") {
      compute.wait = ComputeWait::kAuto;
    } else if (w == "yield") {
      compute.wait = ComputeWait::kYield;
    } else if (w == "block") {
      compute.wait = ComputeWait::kBlock;
    } else if (w == "spin") {
      compute.wait = ComputeWait::kSpin;
    } else {
      return std::string(kEnvComputeWait) + ": '" + wait +
             "' is not one of auto, yield, block, spin";
    }
  }
  return {};
}

}  // namespace

Result<SliceSettings> ParseSliceSettings(std::string_view text) {
  SliceSettings settings;
  size_t line_number = 0;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view line = Trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++line_number;
    if (line.empty() || line.front() == '#') continue;
    const auto where = [&] { return "line " + std::to_string(line_number) + ": "; };
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument(where() + "not NAME=VALUE");
    }
    const std::string_view name = Trim(line.substr(0, eq));
    bool known = false;
    for (const char* allowed : kSliceSettingNames) known = known || name == allowed;
    if (!known) {
      return Status::InvalidArgument(where() + "'" + std::string(name.substr(0, 64)) +
                                     "' is not a slice setting");
    }
    if (!settings.emplace(std::string(name), std::string(Trim(line.substr(eq + 1)))).second) {
      return Status::InvalidArgument(where() + std::string(name) + " is set twice");
    }
  }
  if (settings.empty()) return Status::InvalidArgument("no setting in it");
  return settings;
}

std::string FormatSliceSettings(const SliceSettings& settings) {
  std::string out = "# xpool slice settings (XPOOL_SLICE_SETTINGS)\n";
  for (const auto& [name, value] : settings) out += name + "=" + value + "\n";
  return out;
}

namespace {

// The settings file at `path`, at most 64 KiB.
Result<SliceSettings> ReadSliceSettings(const char* path) {
  const std::string what = std::string(kEnvSliceSettings) + "='" + path + "': ";
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::InvalidArgument(what + std::strerror(errno));
  std::string text(64 * 1024, '\0');
  size_t size = 0;
  for (;;) {
    const ssize_t n = read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size += static_cast<size_t>(n);
    if (size == text.size()) break;
  }
  close(fd);
  if (size == text.size()) return Status::InvalidArgument(what + "larger than 64 KiB");
  if (size == 0) {
    return Status::InvalidArgument(
        what +
        "empty: the slice's settings were never written (the device plugin writes them "
        "when the container starts)");
  }
  text.resize(size);
  auto parsed = ParseSliceSettings(text);
  if (!parsed.ok()) return Status::InvalidArgument(what + parsed.status().message());
  return parsed;
}

}  // namespace

RuntimeConfig LoadConfig(const char* (*env)(const char* name)) {
  RuntimeConfig config;
  SliceSettings file;
  std::string file_error;
  const bool has_file = env(kEnvSliceSettings) != nullptr;
  if (has_file) {
    auto read = ReadSliceSettings(env(kEnvSliceSettings));
    if (read.ok()) {
      file = std::move(*read);
    } else {
      file_error = read.status().message();
    }
  }
  const Variables lookup(env, has_file ? &file : nullptr);
  config.error = LoadComputeConfig(lookup, config.compute);
  if (!file_error.empty()) config.error = file_error;
  if (const char* level = lookup(kEnvLogLevel); level != nullptr && *level != '\0') {
    auto parsed = ParseLogLevel(level);
    if (parsed.ok()) {
      config.log_level = *parsed;
    } else if (config.error.empty()) {
      config.error = std::string(kEnvLogLevel) + ": " + parsed.status().message();
    }
  }
  if (const char* memory = lookup(kEnvGpuMemory); memory != nullptr) {
    auto parsed = ParseMemoryQuotas(memory);
    if (parsed.ok()) {
      config.quotas = std::move(*parsed);
    } else if (config.error.empty()) {
      config.error = std::string(kEnvGpuMemory) + "='" + memory + "': " + parsed.status().message();
    }
  }
  if (const char* slice = lookup(kEnvSlice); slice != nullptr) {
    config.slice_path = slice;
    if (config.slice_path.empty() && config.error.empty()) {
      config.error = std::string(kEnvSlice) + " is set but empty";
    }
  }
  return config;
}

std::string ComputeDirFromEnvironment() {
  return ComputeDirOf([](const char* name) -> const char* { return std::getenv(name); });
}

}  // namespace xpool::runtime
