#include "cli/shares_command.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/compute_arbiter.h"
#include "runtime/config.h"

namespace xpool::cli {
namespace {

using runtime::ComputeArbiter;
using runtime::ComputeDeviceUse;
using runtime::ComputeSliceUse;

struct SharesOptions {
  std::string dir;
  double interval_s = 1.0;
  bool json = false;
  double hide_after_s = 600;  // slices with no process, idle longer than this, are left out
  bool all = false;
};

// Leaves out the slices whose processes are gone and that have not used the device for
// `hide_after_s`; returns how many.
int HideIdle(std::vector<ComputeDeviceUse>& devices, double hide_after_s) {
  int hidden = 0;
  for (ComputeDeviceUse& d : devices) {
    std::erase_if(d.slices, [&](const ComputeSliceUse& s) {
      const bool stale = s.pids.empty() && static_cast<double>(s.idle_ns) / 1e9 > hide_after_s;
      hidden += stale ? 1 : 0;
      return stale;
    });
  }
  return hidden;
}

// Percent of the device each slice (device, key) used between two readings. Device time is
// charged when a lease ends or is renewed, so a short interval reads lumpy.
using UseNow = std::map<std::pair<std::string, uint64_t>, double>;

UseNow UseBetween(const std::vector<ComputeDeviceUse>& before,
                  const std::vector<ComputeDeviceUse>& after, double seconds) {
  std::map<std::pair<std::string, uint64_t>, int64_t> used;
  for (const ComputeDeviceUse& d : before) {
    for (const ComputeSliceUse& s : d.slices) used[{d.device, s.key}] = s.used_ns;
  }
  UseNow now;
  for (const ComputeDeviceUse& d : after) {
    for (const ComputeSliceUse& s : d.slices) {
      const auto it = used.find({d.device, s.key});
      const int64_t from = it == used.end() ? 0 : it->second;
      now[{d.device, s.key}] = 100.0 * static_cast<double>(s.used_ns - from) / (seconds * 1e9);
    }
  }
  return now;
}

std::string Processes(const ComputeSliceUse& s) {
  std::string out;
  for (int pid : s.pids) out += (out.empty() ? "" : ",") + std::to_string(pid);
  if (out.empty()) return "-";
  if (s.holding) out += " (holds the device)";
  if (s.waiting > 0) out += fmt::format(" ({} waiting)", s.waiting);
  return out;
}

void PrintTable(const std::vector<ComputeDeviceUse>& devices, const std::optional<UseNow>& now) {
  for (const ComputeDeviceUse& d : devices) {
    fmt::print("DEVICE {}  policy {}\n", d.device, runtime::ComputePolicyName(d.policy));
    fmt::print("  {:<32} {:>5} {:<8} {:>7} {:>10} {:>7}  {}\n", "SLICE", "SHARE", "PRIORITY",
               "PERIOD", "USED", "NOW", "PROCESSES");
    for (const ComputeSliceUse& s : d.slices) {
      std::string use = "-";
      if (now) use = fmt::format("{:.1f}%", now->at({d.device, s.key}));
      fmt::print("  {:<32} {:>4}% {:<8} {:>5}ms {:>9.3f}s {:>7}  {}\n", s.name, s.share,
                 s.high ? "high" : "normal", s.period_ns / 1'000'000,
                 static_cast<double>(s.used_ns) / 1e9, use, Processes(s));
    }
  }
}

void PrintJson(const std::vector<ComputeDeviceUse>& devices, const std::optional<UseNow>& now) {
  nlohmann::json out = nlohmann::json::array();
  for (const ComputeDeviceUse& d : devices) {
    nlohmann::json slices = nlohmann::json::array();
    for (const ComputeSliceUse& s : d.slices) {
      nlohmann::json j = {{"name", s.name},
                          {"share_percent", s.share},
                          {"priority", s.high ? "high" : "normal"},
                          {"period_ms", s.period_ns / 1'000'000},
                          {"used_seconds", static_cast<double>(s.used_ns) / 1e9},
                          {"pids", s.pids},
                          {"holding", s.holding},
                          {"waiting", s.waiting},
                          {"idle_seconds", static_cast<double>(s.idle_ns) / 1e9}};
      if (now) j["use_percent"] = now->at({d.device, s.key});
      slices.push_back(std::move(j));
    }
    out.push_back({{"device", d.device},
                   {"policy", runtime::ComputePolicyName(d.policy)},
                   {"slices", std::move(slices)}});
  }
  std::cout << out.dump(2) << "\n";
}

// Reads every segment in `dir`; a segment that cannot be read is reported once on stderr, not
// in the way of the others.
Result<std::vector<ComputeDeviceUse>> ReadSegments(const std::string& dir,
                                                   std::set<std::string>& reported) {
  std::vector<Status> unreadable;
  auto devices = ComputeArbiter::ReadAll(dir, &unreadable);
  for (const Status& s : unreadable) {
    if (reported.insert(s.message()).second) std::cerr << "xpool shares: " << s.message() << "\n";
  }
  return devices;
}

int RunShares(const SharesOptions& opts) {
  std::set<std::string> unreadable;
  auto first = ReadSegments(opts.dir, unreadable);
  if (!first.ok()) {
    std::cerr << "xpool shares: " << first.status().message() << "\n";
    return 1;
  }
  std::vector<ComputeDeviceUse> devices = std::move(*first);
  std::optional<UseNow> now;
  if (opts.interval_s > 0 && !devices.empty()) {
    std::this_thread::sleep_for(std::chrono::duration<double>(opts.interval_s));
    auto second = ReadSegments(opts.dir, unreadable);
    if (!second.ok()) {
      std::cerr << "xpool shares: " << second.status().message() << "\n";
      return 1;
    }
    now = UseBetween(devices, *second, opts.interval_s);
    devices = std::move(*second);
  }
  const int hidden = opts.all ? 0 : HideIdle(devices, opts.hide_after_s);
  if (opts.json) {
    PrintJson(devices, now);
  } else if (devices.empty()) {
    fmt::print("no compute segments in {}: no process has used a compute share here\n", opts.dir);
  } else {
    PrintTable(devices, now);
    if (hidden > 0) {
      fmt::print("({} slice{} without processes, idle over {:g} s, left out: --all shows them)\n",
                 hidden, hidden == 1 ? "" : "s", opts.hide_after_s);
    }
  }
  return unreadable.empty() ? 0 : 1;
}

}  // namespace

void AddSharesCommand(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<SharesOptions>();
  opts->dir = runtime::ComputeDirFromEnvironment();
  CLI::App* cmd = app.add_subcommand(
      "shares", "show the compute shares on this machine's GPUs: slices, policy, device time used");
  cmd->add_option("--dir", opts->dir,
                  "where the arbitration segments are (default $XPOOL_COMPUTE_DIR or /dev/shm)");
  cmd->add_option("--interval", opts->interval_s,
                  "seconds between the two readings that give each slice's use now (0: one "
                  "reading, no NOW column)")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_flag("--json", opts->json, "print JSON instead of a table");
  cmd->add_option("--hide-after", opts->hide_after_s,
                  "leave out slices whose processes are gone and that have not used the device "
                  "for this many seconds (default 600)")
      ->check(CLI::Range(0.0, 1e9));
  cmd->add_flag("--all", opts->all, "show every slice the segments hold");
  cmd->callback([opts, exit_code] { *exit_code = RunShares(*opts); });
}

}  // namespace xpool::cli
