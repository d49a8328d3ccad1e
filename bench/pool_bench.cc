// Load on a running xpool-controller, from concurrent clients on loopback:
//   pool_bench --controller HOST:PORT [--nodes 1000] [--clients 16] [--seconds 10] [--queued N]
//              [--rate PAIRS_PER_SECOND]
// registers --nodes simulated nodes of 8 H100s (and keeps them heartbeating), then each client
// loops allocate (a 25 % / 8 GiB slice) + release. With --queued, the pairs are timed twice: with
// an empty queue, then with N requests waiting (for one busy node of another model), so that
// every release tries the queue. Prints pairs per second and the latency of a
// pair (p50, p99), and, as the baseline of the same run, the rate of the cheapest call the
// controller answers (GetAllocation of an unknown id). bench/pool_bench.sh runs it.
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "sim_nodes.h"
#include "xpool/v1/pool.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

using xpool::bench::SimNode;

struct Result {
  uint64_t ops = 0;
  std::vector<double> latency_ms;
  uint64_t errors = 0;
};

// `rate` > 0: the clients together start that many operations a second, evenly paced.
template <typename Op>
Result Drive(int clients, double seconds, Op op, double rate = 0) {
  std::vector<Result> results(clients);
  std::vector<std::thread> threads;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto next = Clock::now();
      const auto gap = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(rate > 0 ? clients / rate : 0));
      while (Clock::now() < end) {
        if (rate > 0) {
          std::this_thread::sleep_until(next);
          next += gap;
        }
        const auto t0 = Clock::now();
        if (!op(c)) ++results[c].errors;
        results[c].latency_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        ++results[c].ops;
      }
    });
  }
  for (auto& t : threads) t.join();
  Result all;
  for (auto& r : results) {
    all.ops += r.ops;
    all.errors += r.errors;
    all.latency_ms.insert(all.latency_ms.end(), r.latency_ms.begin(), r.latency_ms.end());
  }
  std::sort(all.latency_ms.begin(), all.latency_ms.end());
  return all;
}

double Pct(const Result& r, double p) {
  if (r.latency_ms.empty()) return 0;
  return r.latency_ms[std::min(r.latency_ms.size() - 1,
                               static_cast<size_t>(p * static_cast<double>(r.latency_ms.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  // The client's own buffers, as the controller keeps its (src/controller/main.cc): the figure
  // is the controller's, not glibc's page faults in this client. kube-scheduler is Go.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  CLI::App app{"load on a running xpool-controller"};
  std::string controller, http;
  int nodes = 1000, clients = 16;
  double seconds = 10;
  app.add_option("--controller", controller)->required();
  app.add_option("--nodes", nodes);
  app.add_option("--clients", clients);
  app.add_option("--seconds", seconds);
  int queued = 0;
  app.add_option("--queued", queued, "also time the pairs with this many requests waiting");
  double rate = 0;
  app.add_option("--rate", rate, "pairs a second in all, paced (0: as fast as they go)");
  app.add_option("--http", http, "the controller's HTTP address: also time the extender's verbs");
  CLI11_PARSE(app, argc, argv);

  // One channel per client: gRPC multiplexes calls on a channel's connection otherwise.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<xpool::v1::Pool::Stub>> pools;
  grpc::ChannelArguments args;
  for (int c = 0; c < clients; ++c) {
    args.SetInt("bench.client", c);  // distinct arguments: distinct connections
    channels.push_back(
        grpc::CreateCustomChannel(controller, grpc::InsecureChannelCredentials(), args));
    pools.push_back(xpool::v1::Pool::NewStub(channels.back()));
  }
  auto agents = xpool::v1::Agents::NewStub(channels[0]);
  const auto t0 = Clock::now();
  for (int i = 0; i < nodes; ++i) {
    grpc::ClientContext ctx;
    xpool::v1::RegisterRequest request;
    *request.mutable_node() = SimNode(i);
    xpool::v1::RegisterResponse response;
    const grpc::Status s = agents->Register(&ctx, request, &response);
    if (!s.ok()) {
      std::fprintf(stderr, "register: %s\n", s.error_message().c_str());
      return 1;
    }
  }
  std::printf("registered %d nodes (%d devices) in %.2f s\n", nodes, nodes * 8,
              std::chrono::duration<double>(Clock::now() - t0).count());

  if (!http.empty()) {
    // kube-scheduler's filter then prioritize for one pod against every node name.
    const std::string body = xpool::bench::ExtenderArgsForSimNodes(nodes);
    httplib::Client client("http://" + http);
    client.set_keep_alive(true);  // as kube-scheduler's HTTP client keeps its connection
    client.set_tcp_nodelay(true);
    std::vector<double> ms;
    for (int i = 0; i < 200; ++i) {
      const auto t = Clock::now();
      auto f = client.Post("/scheduler/filter", body, "application/json");
      auto p = client.Post("/scheduler/prioritize", body, "application/json");
      if (!f || !p || f->status != 200 || p->status != 200) {
        std::fprintf(stderr, "extender call failed\n");
        return 1;
      }
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("extender filter+prioritize, %d node names, %zu pods: p50 %.2f ms, p99 %.2f ms\n",
                nodes, ms.size(), ms[ms.size() / 2], ms[ms.size() * 99 / 100]);
  }

  const double baseline_seconds = std::min(seconds / 2, 5.0);
  const Result baseline = Drive(clients, baseline_seconds, [&](int c) {
    grpc::ClientContext ctx;
    xpool::v1::GetAllocationRequest request;
    request.set_id("unknown");
    xpool::v1::Allocation a;
    return pools[c]->GetAllocation(&ctx, request, &a).error_code() == grpc::StatusCode::NOT_FOUND;
  });
  const auto pair = [&](int c) {
    xpool::v1::AllocateRequest request;
    request.set_devices(1);
    request.set_compute_milli(250);
    request.set_memory_mib(8192);
    xpool::v1::Allocation a;
    {
      grpc::ClientContext ctx;
      if (!pools[c]->Allocate(&ctx, request, &a).ok()) return false;
    }
    grpc::ClientContext ctx;
    xpool::v1::ReleaseRequest release;
    release.set_id(a.id());
    xpool::v1::Allocation released;
    return pools[c]->Release(&ctx, release, &released).ok();
  };
  const Result pairs = Drive(clients, seconds, pair, rate);
  std::printf("baseline GetAllocation(unknown): %.0f calls/s, p50 %.2f ms, p99 %.2f ms\n",
              static_cast<double>(baseline.ops) / baseline_seconds, Pct(baseline, 0.5),
              Pct(baseline, 0.99));
  const auto report = [&](const Result& r, const char* what) {
    std::printf(
        "allocate+release%s: %.0f pairs/s, p50 %.2f ms, p99 %.2f ms, errors %llu, "
        "%d clients, %d nodes\n",
        what, static_cast<double>(r.ops) / seconds, Pct(r, 0.5), Pct(r, 0.99),
        static_cast<unsigned long long>(r.errors), clients, nodes);
  };
  report(pairs, "");
  if (queued <= 0) return pairs.errors == 0 ? 0 : 1;
  // One node of another model, held; `queued` requests wait for it.
  xpool::v1::Node other = SimNode(nodes);
  other.set_name("bench-other");
  for (auto& d : *other.mutable_devices()) d.set_model("A100-80GB");
  {
    grpc::ClientContext ctx;
    xpool::v1::RegisterRequest request;
    *request.mutable_node() = other;
    xpool::v1::RegisterResponse response;
    if (!agents->Register(&ctx, request, &response).ok()) return 1;
  }
  xpool::v1::AllocateRequest wanting;
  wanting.set_devices(8);
  wanting.add_models("A100-80GB");
  {
    grpc::ClientContext ctx;
    xpool::v1::Allocation a;
    if (!pools[0]->Allocate(&ctx, wanting, &a).ok()) return 1;
  }
  wanting.set_wait(true);
  for (int i = 0; i < queued; ++i) {
    grpc::ClientContext ctx;
    wanting.set_devices(1 + i % 8);  // several shapes
    wanting.set_queue_priority(i % 3);
    wanting.set_tenant("tenant-" + std::to_string(i % 10));
    xpool::v1::Allocation a;
    if (!pools[0]->Allocate(&ctx, wanting, &a).ok() || a.state() != "queued") {
      std::fprintf(stderr, "queueing request %d failed\n", i);
      return 1;
    }
  }
  const Result with_queue = Drive(clients, seconds, pair);
  report(with_queue, (" with " + std::to_string(queued) + " queued").c_str());
  return pairs.errors + with_queue.errors == 0 ? 0 : 1;
}
