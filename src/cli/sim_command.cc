#include "cli/sim_command.h"

#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "sched/policies.h"
#include "sim/replay.h"
#include "sim/report.h"
#include "sim/seeds.h"
#include "sim/trace.h"

namespace xpool::cli {
namespace {

constexpr int kBadInput = 2;

struct SimOptions {
  std::string nodes, pods, policy = std::string(sched::kDefaultPolicy), seeds = "42-51",
                           replay = "inflate";
  std::string csv, published, arrivals;
  double tune = 1.3;
  double load = 1;
  int tenants = 0;
  bool json = false;
};

int Fail(const std::string& msg) {
  std::cerr << "xpool sim: " << msg << "\n";
  return kBadInput;
}

// Writes through a temporary file and a rename, so a failure leaves no half-written output.
Status WriteAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IoError("cannot write '" + path + "'");
    out << content;
    if (!out.flush()) return Status::IoError("cannot write '" + path + "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IoError("cannot write '" + path + "': " + ec.message());
  return Status::Ok();
}

// A one-line progress bar on stderr, only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(size_t runs) : runs_(runs), enabled_(isatty(STDERR_FILENO) != 0) {}
  ~Progress() { Clear(); }
  // Erases the bar, so that what is printed next starts a clean line.
  void Clear() {
    if (enabled_ && drawn_) std::fprintf(stderr, "\r%*s\r", 72, "");
    drawn_ = false;
  }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  std::function<void(double)> For(size_t run, const std::string& label) {
    if (!enabled_) return {};
    return [this, run, label](double f) {
      const double total = (static_cast<double>(run) + f) / static_cast<double>(runs_);
      const int width = 30;
      const int filled = static_cast<int>(total * width);
      std::fprintf(stderr, "\r[%.*s%*s] %3.0f%% %-28s", filled, "##############################",
                   width - filled, "", 100 * total, label.c_str());
      drawn_ = true;
    };
  }

 private:
  size_t runs_;
  bool enabled_;
  bool drawn_ = false;
};

std::vector<std::string> SplitPolicies(const std::string& text) {
  if (text == "all") return sched::PolicyNames();
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, ',');) out.push_back(p);
  return out;
}

int RunSim(const SimOptions& o) {
  if (o.nodes.empty() != o.pods.empty())
    return Fail("give both --nodes and --pods, or neither for the built-in workload");
  if (o.replay != "inflate" && o.replay != "timed")
    return Fail("--replay must be 'inflate' or 'timed', not '" + o.replay + "'");
  if (!(o.tune > 0 && o.tune <= 10)) return Fail("--tune must be in (0, 10]");
  if (!(o.load > 0 && o.load <= 1e6)) return Fail("--load must be in (0, 1000000]");
  if (o.tenants < 0 || o.tenants > 1000) return Fail("--tenants must be from 0 to 1000");
  if (o.tenants > 0 && o.replay != "timed") return Fail("--tenants needs --replay timed");
  if (!o.arrivals.empty() && o.replay != "inflate")
    return Fail("--arrivals needs the inflate replay");
  auto seeds = sim::ParseSeeds(o.seeds);
  if (!seeds.ok()) return Fail(seeds.status().message());
  const auto policies = SplitPolicies(o.policy);
  if (policies.empty()) return Fail("--policy is empty");
  for (const auto& p : policies) {
    if (!sched::IsPolicyName(p)) {
      std::string known;
      for (const auto& n : sched::PolicyNames()) known += (known.empty() ? "" : ", ") + n;
      return Fail("unknown policy '" + p + "' (known: " + known + ", or all)");
    }
  }

  sim::Workload w;
  if (o.nodes.empty()) {
    w = sim::SyntheticWorkload();
  } else {
    auto nodes = sim::LoadNodes(o.nodes);
    if (!nodes.ok()) return Fail(nodes.status().message());
    auto pods = sim::LoadPods(o.pods);
    if (!pods.ok()) return Fail(pods.status().message());
    w.name = std::filesystem::path(o.pods).stem().string();
    w.nodes = std::move(*nodes);
    w.pods = std::move(*pods);
  }
  std::map<std::string, sim::PublishedFigures> published;
  if (!o.nodes.empty()) {
    const std::string path = !o.published.empty()
                                 ? o.published
                                 : (std::filesystem::path(o.pods).parent_path() /
                                    "fgd_expected_results" / "summary_by_workload_policy.csv")
                                       .string();
    auto p = sim::LoadPublished(path, w.name);
    if (!p.ok()) return Fail(p.status().message());
    published = std::move(*p);
  }

  Progress progress(policies.size() * seeds->size());
  size_t run_index = 0;
  std::vector<sim::InflateSummary> inflate_rows;
  std::vector<sim::TimedSummary> timed_rows;
  for (const auto& policy : policies) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<sim::InflateResult> inflate_runs;
    std::vector<sim::TimedResult> timed_runs;
    for (uint64_t seed : *seeds) {
      sim::ReplayOptions ro;
      ro.policy = policy;
      ro.seed = seed;
      ro.tune = o.tune;
      ro.load = o.load;
      ro.tenants = o.tenants;
      ro.record_arrivals = !o.arrivals.empty();
      ro.progress = progress.For(run_index++, policy + " seed " + std::to_string(seed));
      if (o.replay == "inflate") {
        auto r = sim::ReplayInflate(w.nodes, w.pods, ro);
        if (!r.ok()) return Fail(r.status().message());
        inflate_runs.push_back(std::move(*r));
      } else {
        auto r = sim::ReplayTimed(w.nodes, w.pods, ro);
        if (!r.ok()) return Fail(r.status().message());
        timed_runs.push_back(std::move(*r));
      }
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.replay == "inflate") {
      auto s = sim::Summarize(policy, *seeds, std::move(inflate_runs), wall);
      if (auto it = published.find(policy); it != published.end()) s.published = it->second;
      inflate_rows.push_back(std::move(s));
    } else {
      timed_rows.push_back(sim::Summarize(policy, *seeds, timed_runs, wall));
    }
  }

  progress.Clear();
  if (!o.csv.empty()) {
    const std::string csv =
        o.replay == "inflate" ? sim::CurvesCsv(w.name, inflate_rows) : sim::TimedCsv(timed_rows);
    if (Status s = WriteAtomically(o.csv, csv); !s.ok()) return Fail(s.message());
  }
  if (!o.arrivals.empty()) {
    if (Status s = WriteAtomically(o.arrivals, sim::ArrivalsCsv(inflate_rows)); !s.ok())
      return Fail(s.message());
  }
  if (o.json) {
    std::cout
        << (o.replay == "inflate" ? sim::ToJson(inflate_rows) : sim::ToJson(timed_rows)).dump(2)
        << "\n";
  } else {
    std::cout << "workload " << w.name << ": " << w.nodes.size() << " nodes, " << w.pods.size()
              << " pods, " << o.replay << " replay"
              << (o.replay == "inflate" ? " (tune " + std::to_string(o.tune).substr(0, 4) + ")"
                                        : " (load " + fmt::format("{:g}", o.load) + ")")
              << "\n";
    std::cout << (o.replay == "inflate" ? sim::FormatTable(inflate_rows)
                                        : sim::FormatTable(timed_rows));
  }
  return 0;
}

}  // namespace

void AddSimCommand(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<SimOptions>();
  CLI::App* sim = app.add_subcommand(
      "sim",
      "Replay a GPU trace (default: a built-in synthetic workload) with scheduling policies");
  sim->add_option("--nodes", opts->nodes, "node list CSV (sn,cpu_milli,memory_mib,gpu,model)");
  sim->add_option("--pods", opts->pods, "pod list CSV (11- or 5-column openb format)");
  sim->add_option("--policy", opts->policy, "policy name, comma-separated names, or 'all'")
      ->capture_default_str();
  sim->add_option("--seeds", opts->seeds, "seeds: 42, 42-51, 1,5,9")->capture_default_str();
  sim->add_option("--tune", opts->tune,
                  "inflate the workload to this multiple of cluster GPU capacity")
      ->capture_default_str();
  sim->add_option("--tenants", opts->tenants,
                  "timed: deal pods to this many tenants (tenant t takes t+1 parts), each "
                  "guaranteed an equal part; the queue serves tenants below their guarantee "
                  "first, then fair share");
  sim->add_option("--load", opts->load,
                  "timed: arrivals this many times as fast as the trace's (run times unchanged), "
                  "so that queues form")
      ->capture_default_str();
  sim->add_option("--replay", opts->replay,
                  "inflate (FGD artifact method) or timed (creation/deletion times)")
      ->capture_default_str();
  sim->add_option("--csv", opts->csv,
                  "write per-seed curves (inflate) or the summary (timed) to FILE");
  sim->add_option("--arrivals", opts->arrivals,
                  "write every arrived pod of each seed, in order, with whether it was placed, to "
                  "FILE (inflate; input of bench/online_bound.py)");
  sim->add_option("--published", opts->published,
                  "the FGD artifact's summary_by_workload_policy.csv (default: next to --pods)");
  sim->add_flag("--json", opts->json, "print one JSON array instead of the table");
  sim->callback([opts, exit_code] { *exit_code = RunSim(*opts); });
}

}  // namespace xpool::cli
