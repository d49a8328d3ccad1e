#include "controller/metrics.h"

#include <fmt/core.h>

#include <map>
#include <tuple>

namespace xpool::controller {
namespace {

// A label value with \, " and newline escaped as the format asks.
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Header(std::string& out, const std::string& name, const std::string& type,
            const std::string& help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void LatencyHistogram::Observe(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
  ++count_;
}

void LatencyHistogram::Render(const std::string& name, const std::string& help,
                              std::string& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  Header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count_);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, sum_, name, count_);
}

std::string RenderMetrics(const PoolView& view, const LatencyHistogram& scheduling) {
  struct Totals {
    int64_t devices = 0, memory = 0, memory_allocated = 0, compute_allocated = 0, memory_used = 0;
  };
  std::map<std::tuple<std::string, std::string>, Totals> by_model;
  int ready = 0;
  for (const auto& n : view.nodes) {
    ready += n.ready() ? 1 : 0;
    for (const auto& d : n.devices()) {
      Totals& t = by_model[{d.type(), d.model()}];
      ++t.devices;
      t.memory += d.memory_mib();
      t.memory_allocated += d.memory_allocated_mib();
      t.compute_allocated += d.compute_allocated_milli();
      t.memory_used += d.memory_used_mib();
    }
  }
  std::string out;
  auto per_model = [&](const std::string& name, const std::string& help, auto field) {
    Header(out, name, "gauge", help);
    for (const auto& [key, t] : by_model) {
      out += fmt::format("{}{{type=\"{}\",model=\"{}\"}} {}\n", name, Escape(std::get<0>(key)),
                         Escape(std::get<1>(key)), field(t));
    }
  };
  per_model("xpool_devices", "Devices in the pool.", [](const Totals& t) { return t.devices; });
  per_model("xpool_device_memory_mebibytes", "Device memory in the pool, MiB.",
            [](const Totals& t) { return t.memory; });
  per_model("xpool_device_memory_allocated_mebibytes",
            "Device memory held by live allocations, MiB.",
            [](const Totals& t) { return t.memory_allocated; });
  per_model("xpool_device_compute_allocated_devices",
            "Compute held by live allocations, in devices (1 = one whole device).",
            [](const Totals& t) { return static_cast<double>(t.compute_allocated) / 1000.0; });
  per_model("xpool_device_memory_used_mebibytes",
            "Device memory in use by processes, as agents report it, MiB.",
            [](const Totals& t) { return t.memory_used; });

  Header(out, "xpool_nodes", "gauge", "Nodes by readiness (heartbeating within the lease).");
  out += fmt::format("xpool_nodes{{ready=\"true\"}} {}\nxpool_nodes{{ready=\"false\"}} {}\n", ready,
                     static_cast<int>(view.nodes.size()) - ready);

  std::map<std::string, int64_t> by_state{{"reserved", 0}, {"running", 0}};
  struct TenantTotals {
    int64_t compute_milli = 0;
    int64_t memory_mib = 0;
    double gpu_seconds = 0;
  };
  std::map<std::string, TenantTotals> by_tenant;
  for (const auto& a : view.live_allocations) {
    ++by_state[a.state()];
    auto& t = by_tenant[a.tenant()];
    for (const auto& s : a.slices()) {
      t.compute_milli += s.compute_milli();
      t.memory_mib += s.memory_mib();
    }
    t.gpu_seconds += a.gpu_seconds_used();
  }
  by_state["released"] = static_cast<int64_t>(view.released_allocations);
  by_state["queued"] = static_cast<int64_t>(view.queued_requests);
  Header(out, "xpool_allocations", "gauge",
         "Allocations by state (released: since the store began).");
  for (const auto& [state, n] : by_state) {
    out += fmt::format("xpool_allocations{{state=\"{}\"}} {}\n", Escape(state), n);
  }
  Header(out, "xpool_tenant_compute_allocated_devices", "gauge",
         "Compute held by each tenant's live allocations, in devices.");
  for (const auto& [tenant, t] : by_tenant) {
    out += fmt::format("xpool_tenant_compute_allocated_devices{{tenant=\"{}\"}} {}\n",
                       Escape(tenant), static_cast<double>(t.compute_milli) / 1000.0);
  }
  Header(out, "xpool_tenant_memory_allocated_mebibytes", "gauge",
         "Device memory held by each tenant's live allocations, MiB.");
  for (const auto& [tenant, t] : by_tenant) {
    out += fmt::format("xpool_tenant_memory_allocated_mebibytes{{tenant=\"{}\"}} {}\n",
                       Escape(tenant), t.memory_mib);
  }
  Header(out, "xpool_tenant_gpu_seconds_used", "gauge",
         "Device time the compute leases of each tenant's live allocations have held, seconds, as "
         "their agents last reported (slices with a compute setting only).");
  for (const auto& [tenant, t] : by_tenant) {
    out += fmt::format("xpool_tenant_gpu_seconds_used{{tenant=\"{}\"}} {}\n", Escape(tenant),
                       t.gpu_seconds);
  }
  Header(out, "xpool_tenant_gpu_seconds_total", "counter",
         "Device time the compute leases of each tenant's allocations have held, live and "
         "released, seconds, as their agents last reported; kept across controller restarts.");
  for (const auto& [tenant, seconds] : view.gpu_seconds_total) {
    out += fmt::format("xpool_tenant_gpu_seconds_total{{tenant=\"{}\"}} {}\n", Escape(tenant),
                       seconds);
  }
  scheduling.Render("xpool_scheduling_duration_seconds",
                    "Time to decide an allocation (filter, score, choose, persist).", out);
  return out;
}

}  // namespace xpool::controller
