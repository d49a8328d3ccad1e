#include "sim/trace.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>

#include "core/catalog.h"

namespace xpool::sim {
namespace {

std::vector<std::string_view> SplitCsv(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    out.push_back(line.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

class LineError {
 public:
  LineError(const std::string& origin, size_t line)
      : where_(origin + ":" + std::to_string(line) + ": ") {}
  Status operator()(const std::string& msg) const { return Status::InvalidArgument(where_ + msg); }

 private:
  std::string where_;
};

Result<int64_t> Integer(std::string_view field, const char* column, int64_t lo, int64_t hi,
                        const LineError& err) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (field.empty() || ec != std::errc() || ptr != field.data() + field.size()) {
    return err(std::string(column) + " '" + std::string(field) + "' is not an integer");
  }
  if (v < lo || v > hi) {
    return err(std::string(column) + " " + std::to_string(v) + " is outside " + std::to_string(lo) +
               ".." + std::to_string(hi));
  }
  return v;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IoError("cannot read '" + path + "'");
  return ss.str();
}

// Calls `row(fields, err)` for each data line after checking the header.
template <typename RowFn>
Status ForEachRow(const std::string& text, const std::string& origin,
                  const std::vector<std::string_view>& headers, RowFn row) {
  std::istringstream in(text);
  std::string line;
  size_t lineno = 0;
  size_t columns = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto fields = SplitCsv(line);
    const LineError err(origin, lineno);
    if (columns == 0) {
      for (auto h : headers) {
        if (fields.size() == SplitCsv(h).size() && line == h) columns = fields.size();
      }
      if (columns == 0) return err("unexpected header '" + line + "'");
      continue;
    }
    if (fields.size() != columns) {
      return err("expected " + std::to_string(columns) + " columns, found " +
                 std::to_string(fields.size()));
    }
    if (Status s = row(fields, err); !s.ok()) return s;
  }
  if (columns == 0) return Status::InvalidArgument(origin + ": empty file (no header)");
  return Status::Ok();
}

constexpr std::string_view kNodeHeader = "sn,cpu_milli,memory_mib,gpu,model";
constexpr std::string_view kPodHeader11 =
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_"
    "time,"
    "scheduled_time";
constexpr std::string_view kPodHeader5 = "name,cpu_milli,memory_mib,num_gpu,gpu_milli";
constexpr int64_t kMaxInt = int64_t{1} << 50;

}  // namespace

Result<std::vector<TraceNode>> ParseNodes(const std::string& text, const std::string& origin) {
  std::vector<TraceNode> nodes;
  Status st =
      ForEachRow(text, origin, {kNodeHeader}, [&](const auto& f, const LineError& err) -> Status {
        TraceNode n;
        n.name = std::string(f[0]);
        if (n.name.empty()) return err("empty node name");
        auto cpu = Integer(f[1], "cpu_milli", 0, kMaxInt, err);
        if (!cpu.ok()) return cpu.status();
        auto mem = Integer(f[2], "memory_mib", 0, kMaxInt, err);
        if (!mem.ok()) return mem.status();
        auto gpu = Integer(f[3], "gpu", 0, 64, err);
        if (!gpu.ok()) return gpu.status();
        n.cpu_milli = *cpu;
        n.memory_mib = *mem;
        n.gpus = static_cast<int>(*gpu);
        n.model = std::string(f[4]);
        if (n.gpus > 0 && n.model.empty()) return err("node with GPUs but no model");
        nodes.push_back(std::move(n));
        return Status::Ok();
      });
  if (!st.ok()) return st;
  if (nodes.empty()) return Status::InvalidArgument(origin + ": no nodes");
  return nodes;
}

Result<std::vector<TracePod>> ParsePods(const std::string& text, const std::string& origin) {
  std::vector<TracePod> pods;
  Status st = ForEachRow(text, origin, {kPodHeader11, kPodHeader5},
                         [&](const auto& f, const LineError& err) -> Status {
                           TracePod p;
                           p.name = std::string(f[0]);
                           if (p.name.empty()) return err("empty pod name");
                           auto cpu = Integer(f[1], "cpu_milli", 0, kMaxInt, err);
                           if (!cpu.ok()) return cpu.status();
                           auto mem = Integer(f[2], "memory_mib", 0, kMaxInt, err);
                           if (!mem.ok()) return mem.status();
                           auto num = Integer(f[3], "num_gpu", 0, 64, err);
                           if (!num.ok()) return num.status();
                           auto milli = Integer(f[4], "gpu_milli", 0, 1000, err);
                           if (!milli.ok()) return milli.status();
                           p.cpu_milli = *cpu;
                           p.memory_mib = *mem;
                           p.num_gpu = static_cast<int>(*num);
                           p.gpu_milli = static_cast<int32_t>(*milli);
                           if (p.num_gpu > 0 && p.gpu_milli == 0)
                             return err("num_gpu > 0 but gpu_milli is 0");
                           if (p.num_gpu == 0 && p.gpu_milli != 0)
                             return err("gpu_milli without num_gpu");
                           if (p.num_gpu > 1 && p.gpu_milli != 1000)
                             return err("a multi-GPU pod must take whole GPUs (gpu_milli 1000)");
                           if (f.size() == 11) {
                             p.gpu_spec = std::string(f[5]);
                             p.has_times = true;
                             auto c = Integer(f[8], "creation_time", 0, kMaxInt, err);
                             if (!c.ok()) return c.status();
                             auto d = Integer(f[9], "deletion_time", 0, kMaxInt, err);
                             if (!d.ok()) return d.status();
                             p.creation_time = *c;
                             p.deletion_time = *d;
                             if (f[10].empty()) {
                               p.scheduled_time = p.creation_time;
                             } else {
                               auto s = Integer(f[10], "scheduled_time", 0, kMaxInt, err);
                               if (!s.ok()) return s.status();
                               p.scheduled_time = *s;
                             }
                           }
                           pods.push_back(std::move(p));
                           return Status::Ok();
                         });
  if (!st.ok()) return st;
  if (pods.empty()) return Status::InvalidArgument(origin + ": no pods");
  return pods;
}

Result<std::vector<TraceNode>> LoadNodes(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseNodes(*text, path);
}

Result<std::vector<TracePod>> LoadPods(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParsePods(*text, path);
}

Request ToRequest(const TracePod& p) {
  Request r;
  r.device_count = p.num_gpu;
  r.compute = MilliDevice(p.gpu_milli);
  r.cpu = MilliCpu(p.cpu_milli);
  r.host_memory = MiB(p.memory_mib);
  if (!p.gpu_spec.empty()) {
    std::string_view rest = p.gpu_spec;
    while (!rest.empty()) {
      const auto bar = rest.find('|');
      r.selector.models.emplace_back(rest.substr(0, bar));
      if (bar == std::string_view::npos) break;
      rest.remove_prefix(bar + 1);
    }
  }
  return r;
}

sched::WorkloadShape ToWorkloadShape(const TracePod& p) {
  return {{p.cpu_milli, p.num_gpu > 0 ? p.gpu_milli : 0, p.num_gpu, p.gpu_spec}, p.memory_mib};
}

Workload SyntheticWorkload() {
  Workload w;
  w.name = "synthetic";
  struct NodeKind {
    const char* model;
    int count, gpus;
    int64_t cpu, mem;
  };
  // A mixed pool: NVIDIA generations, an AMD and an Ascend group, and a few small inference boxes.
  const NodeKind kinds[] = {
      {"H100-SXM", 16, 8, 192000, 2097152}, {"A100-80GB", 24, 8, 128000, 1048576},
      {"L40S", 32, 4, 64000, 524288},       {"T4", 48, 2, 48000, 196608},
      {"MI300X", 8, 8, 192000, 2097152},    {"Ascend-910B", 8, 8, 192000, 1048576}};
  for (const auto& k : kinds) {
    for (int i = 0; i < k.count; ++i) {
      w.nodes.push_back(
          {std::string(k.model) + "-node-" + std::to_string(i), k.cpu, k.mem, k.gpus, k.model});
    }
  }
  // Pods from a fixed linear congruential stream: 45 % sharing, 35 % one device, 8 % multi-device,
  // 12 % CPU-only, arriving over three days with hour-scale lifetimes.
  uint64_t x = 0x2545F4914F6CDD1DULL;
  auto next = [&x](uint64_t n) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (x >> 33) % n;
  };
  const int32_t shares[] = {100, 250, 300, 500, 700, 800};
  const int multi[] = {2, 4, 8};
  for (int i = 0; i < 6000; ++i) {
    TracePod p;
    p.name = "synthetic-pod-" + std::to_string(i);
    const uint64_t kind = next(100);
    if (kind < 45) {
      p.num_gpu = 1;
      p.gpu_milli = shares[next(6)];
      p.cpu_milli = 2000 + 2000 * static_cast<int64_t>(next(4));
    } else if (kind < 80) {
      p.num_gpu = 1;
      p.gpu_milli = 1000;
      p.cpu_milli = 4000 + 4000 * static_cast<int64_t>(next(4));
    } else if (kind < 88) {
      p.num_gpu = multi[next(3)];
      p.gpu_milli = 1000;
      p.cpu_milli = 8000 * p.num_gpu;
    } else {
      p.cpu_milli = 1000 + 1000 * static_cast<int64_t>(next(16));
    }
    p.memory_mib = p.cpu_milli * 4;  // 4 GiB per core
    if (next(10) == 0 && p.num_gpu > 0)
      p.gpu_spec = next(2) == 0 ? "H100-SXM|A100-80GB" : "L40S|T4";
    p.has_times = true;
    p.creation_time = static_cast<int64_t>(i) * 43 + static_cast<int64_t>(next(60));
    p.scheduled_time = p.creation_time;
    p.deletion_time = p.creation_time + 600 + static_cast<int64_t>(next(5 * 3600));
    w.pods.push_back(std::move(p));
  }
  return w;
}

}  // namespace xpool::sim
