#include "runtime/cpu_budget.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <string>

namespace xpool::runtime {
namespace {

std::string ReadSmallFile(const std::string& path) {
  std::string text;
  if (FILE* f = std::fopen(path.c_str(), "re")) {
    std::array<char, 512> buf{};
    const size_t n = std::fread(buf.data(), 1, buf.size(), f);
    text.assign(buf.data(), n);
    std::fclose(f);
  }
  return text;
}

// The cgroup v2 path of this process ("0::/kubepods/..." in /proc/self/cgroup), or "".
std::string OwnCgroup() {
  const std::string lines = ReadSmallFile("/proc/self/cgroup");
  const size_t at = lines.find("0::");
  if (at == std::string::npos) return "";
  const size_t end = lines.find('\n', at);
  return lines.substr(at + 3, end == std::string::npos ? std::string::npos : end - at - 3);
}

std::optional<int> CgroupCpus() {
  const std::string own = OwnCgroup();
  // Inside a container's cgroup namespace the process's own cgroup is the mount's root.
  for (const std::string& dir : {"/sys/fs/cgroup" + own, std::string("/sys/fs/cgroup")}) {
    const std::string text = ReadSmallFile(dir + "/cpu.max");
    if (!text.empty()) return CpusFromCpuMax(text);
  }
  return std::nullopt;
}

}  // namespace

std::optional<int> CpusFromCpuMax(std::string_view cpu_max) {
  const size_t space = cpu_max.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const std::string_view quota_text = cpu_max.substr(0, space);
  std::string_view period_text = cpu_max.substr(space + 1);
  while (!period_text.empty() && (period_text.back() == '\n' || period_text.back() == ' ')) {
    period_text.remove_suffix(1);
  }
  long long quota = 0;
  long long period = 0;
  const auto parse = [](std::string_view s, long long& v) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && end == s.data() + s.size() && v > 0;
  };
  if (quota_text == "max" || !parse(quota_text, quota) || !parse(period_text, period)) {
    return std::nullopt;
  }
  return static_cast<int>(std::max<long long>(quota / period, 1));
}

int UsableCpus() {
  static const int cpus = [] {
    int n = 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) n = CPU_COUNT(&set);
    if (n <= 0) n = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    if (const auto quota = CgroupCpus()) n = std::min(n, *quota);
    return n;
  }();
  return cpus;
}

}  // namespace xpool::runtime
