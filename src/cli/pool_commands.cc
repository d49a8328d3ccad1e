#include "cli/pool_commands.h"

#include <fmt/core.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cli/pool_client.h"
#include "cli/pool_listing.h"
#include "cli/run_command.h"
#include "cli/up_command.h"
#include "core/quantity.h"
#include "xpool/v1/pool.grpc.pb.h"

namespace xpool::cli {

namespace {

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

template <typename Messages>
void PrintJsonArray(const Messages& items) {
  std::cout << "[";
  bool first = true;
  for (const auto& m : items) {
    std::cout << (first ? "" : ",\n") << Json(m);
    first = false;
  }
  std::cout << "]\n";
}

std::string Percent(int64_t milli) {
  return fmt::format("{}%", milli / 10);
}

std::string Mem(int64_t mib) {
  return FormatMemory(MiB(mib));
}

}  // namespace

int ListNodes(const std::string& controller, const std::string& output, bool devices) {
  if (output != "table" && output != "json") return Fail("-o must be table or json");
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  v1::ListNodesResponse response;
  auto ctx = c->Context();
  const grpc::Status s = c->pool->ListNodes(ctx.get(), v1::ListNodesRequest(), &response);
  if (!s.ok()) return RpcFail("list nodes", s, c->address);
  if (!devices) {
    if (output == "json") {
      PrintJsonArray(response.nodes());
      return 0;
    }
    fmt::print("{:<20} {:<6} {:>7} {:>8} {:>9}  {}\n", "NODE", "READY", "DEVICES", "CPU", "MEMORY",
               "AGENT");
    for (const auto& n : response.nodes()) {
      fmt::print("{:<20} {:<6} {:>7} {:>8} {:>9}  {}\n", n.name(), n.ready() ? "yes" : "no",
                 n.devices_size(), n.cpu_milli() / 1000, Mem(n.memory_mib()), n.agent_address());
    }
    return 0;
  }
  std::vector<v1::Device> all;
  for (const auto& n : response.nodes()) {
    for (const auto& d : n.devices()) all.push_back(d);
  }
  if (output == "json") {
    PrintJsonArray(all);
    return 0;
  }
  fmt::print("{:<24} {:<5} {:<12} {:>19} {:>13} {:>8}  {}\n", "DEVICE", "TYPE", "MODEL",
             "MEMORY ALLOC/TOTAL", "COMPUTE ALLOC", "IN USE", "HEALTH");
  for (const auto& d : all) {
    fmt::print("{:<24} {:<5} {:<12} {:>19} {:>13} {:>8}  {}\n", d.id(), d.type(), d.model(),
               Mem(d.memory_allocated_mib()) + "/" + Mem(d.memory_mib()),
               Percent(d.compute_allocated_milli()) + "/100%", Mem(d.memory_used_mib()),
               d.healthy() ? "healthy" : "unhealthy");
  }
  return 0;
}

namespace {

void PrintAllocationRow(const v1::Allocation& a) {
  const int64_t memory = a.slices().empty() ? 0 : a.slices(0).memory_mib();
  const int64_t core = a.slices().empty() ? 0 : a.slices(0).compute_milli();
  // Device time shows for slices under a compute setting only; the others have no leases.
  const std::string gpu_time =
      a.gpu_seconds_used() > 0 ? fmt::format("{:.1f}s", a.gpu_seconds_used()) : "-";
  const std::string core_used = a.gpu_seconds_used() > 0 && a.state() != "released"
                                    ? fmt::format("{:.1f}%", a.compute_used_percent())
                                    : "-";
  fmt::print("{:<20} {:<9} {:<16} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9}  {:<10} {}\n", a.id(),
             a.state(), a.node(), a.slices_size(), Mem(memory), Percent(core),
             Mem(a.memory_used_mib()), gpu_time, core_used, a.tenant(), a.reason());
}

// The live allocations, then every change, until Ctrl-C: a table row or a JSON object per line.
int WatchAllocations(const std::string& controller, const std::string& output) {
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  grpc::ClientContext ctx;
  Authorize(ctx);
  g_run_stream = &ctx;
  auto reader = c->pool->WatchAllocations(&ctx, v1::WatchAllocationsRequest());
  v1::Allocation a;
  while (reader->Read(&a)) {
    if (output == "json") {
      std::cout << Json(a) << "\n";
    } else {
      PrintAllocationRow(a);
    }
    std::cout << std::flush;
  }
  const grpc::Status s = reader->Finish();
  g_run_stream = nullptr;
  if (g_interrupted.load()) return 0;
  return s.ok() ? 0 : RpcFail("watch allocations", s, c->address);
}

}  // namespace

int ListAllocations(const std::string& controller, const std::string& output, bool all,
                    bool watch) {
  if (output != "table" && output != "json") return Fail("-o must be table or json");
  if (watch) return WatchAllocations(controller, output);
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  v1::ListAllocationsResponse response;
  const grpc::Status s = c->ListEveryAllocation(all, &response);
  if (!s.ok()) return RpcFail("list allocations", s, c->address);
  if (output == "json") {
    PrintJsonArray(response.allocations());
    return 0;
  }
  fmt::print("{:<20} {:<9} {:<16} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9}  {:<10} {}\n", "ALLOCATION",
             "STATE", "NODE", "DEVICES", "MEMORY", "CORE", "IN USE", "GPU TIME", "CORE USED",
             "TENANT", "REASON");
  for (const auto& a : response.allocations()) PrintAllocationRow(a);
  return 0;
}

int ListQueue(const std::string& controller, const std::string& output) {
  if (output != "table" && output != "json") return Fail("-o must be table or json");
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  v1::ListAllocationsRequest request;
  request.set_queued(true);
  v1::ListAllocationsResponse response;
  auto ctx = c->Context();
  const grpc::Status s = c->pool->ListAllocations(ctx.get(), request, &response);
  if (!s.ok()) return RpcFail("list the queue", s, c->address);
  if (output == "json") {
    PrintJsonArray(response.allocations());
    return 0;
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  fmt::print("{:>3} {:<20} {:<10} {:<10} {:>4} {:>7} {:>5} {:>9} {:>8}  {}\n", "POS", "REQUEST",
             "TENANT", "OWNER", "PRIO", "DEVICES", "CORE", "MEMORY", "WAITING", "WHY");
  for (const auto& a : response.allocations()) {
    const auto& r = a.request();
    fmt::print("{:>3} {:<20} {:<10} {:<10} {:>4} {:>7} {:>5} {:>9} {:>7}s  {}\n",
               a.queue_position(), a.id(), a.tenant().empty() ? "-" : a.tenant(),
               a.owner().empty() ? "-" : a.owner(), r.queue_priority(), r.devices(),
               r.compute_milli() > 0 ? Percent(r.compute_milli()) : "100%",
               r.memory_mib() > 0 ? Mem(r.memory_mib()) : "all",
               std::max<int64_t>(now_ms - a.queued_unix_ms(), 0) / 1000, a.reason());
  }
  return 0;
}

// A live view: the pool's totals, every device and the live allocations, refreshed every
// `interval` seconds; `count` refreshes (0: until Ctrl-C). With -o json, one object per refresh.
namespace {

int Top(const std::string& controller, const std::string& output, double interval, int count) {
  if (output != "table" && output != "json") return Fail("-o must be table or json");
  if (!(interval > 0)) return Fail("--interval must be positive");
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  for (int round = 0; count == 0 || round < count; ++round) {
    if (round > 0) {
      std::this_thread::sleep_for(std::chrono::duration<double>(interval));
      if (g_up_stop.load()) break;
    }
    v1::ListNodesResponse nodes;
    v1::ListAllocationsResponse allocs;
    grpc::Status s = c->pool->ListNodes(c->Context().get(), v1::ListNodesRequest(), &nodes);
    if (s.ok()) s = c->ListEveryAllocation(false, &allocs);
    if (!s.ok()) return RpcFail("top", s, c->address);
    if (output == "json") {
      std::cout << "{\"nodes\": ";
      PrintJsonArray(nodes.nodes());
      std::cout << ", \"allocations\": ";
      PrintJsonArray(allocs.allocations());
      std::cout << "}\n" << std::flush;
      continue;
    }
    int64_t devices = 0, milli = 0, memory = 0, memory_allocated = 0, memory_used = 0;
    int ready = 0;
    for (const auto& n : nodes.nodes()) {
      ready += n.ready() ? 1 : 0;
      for (const auto& d : n.devices()) {
        ++devices;
        milli += d.compute_allocated_milli();
        memory += d.memory_mib();
        memory_allocated += d.memory_allocated_mib();
        memory_used += d.memory_used_mib();
      }
    }
    double gpu_seconds = 0;
    for (const auto& a : allocs.allocations()) gpu_seconds += a.gpu_seconds_used();
    if (count != 1) std::cout << "\033[H\033[2J";  // clear the terminal between refreshes
    fmt::print(
        "xpool top — {} · nodes {}/{} ready · devices {} · compute allocated {:.1f} of {} · "
        "memory allocated {} of {}, in use {} · allocations {}, device time {:.1f}s\n\n",
        c->address, ready, nodes.nodes_size(), devices, static_cast<double>(milli) / 1000.0,
        devices, Mem(memory_allocated), Mem(memory), Mem(memory_used), allocs.allocations_size(),
        gpu_seconds);
    std::cout << std::flush;
    ListNodes(controller, "table", true);
    std::cout << "\n";
    ListAllocations(controller, "table", false);
    std::cout << std::flush;
  }
  return 0;
}

int Release(const std::string& controller, const std::string& id) {
  auto c = Client::Open(controller);
  if (!c.ok()) return Fail(c.status().message());
  v1::ReleaseRequest request;
  request.set_id(id);
  v1::Allocation a;
  auto ctx = c->Context();
  const grpc::Status s = c->pool->Release(ctx.get(), request, &a);
  if (!s.ok()) return RpcFail("release " + id, s, c->address);
  std::cout << "released " << a.id() << " on " << a.node() << "\n";
  return 0;
}

}  // namespace

void AddPoolCommands(CLI::App& app, int* exit_code) {
  auto up = std::make_shared<UpOptions>();
  CLI::App* cmd = app.add_subcommand(
      "up", "start a controller and a local agent in this process (embedded store)");
  cmd->add_option("--inventory", up->inventory,
                  "simulated inventory (YAML); default: a built-in one with 4 H100s");
  cmd->add_option("--data", up->data, "data directory (default ~/.xpool/data)");
  cmd->add_option("--listen", up->listen, "API address (loopback)")->capture_default_str();
  cmd->add_option("--policy", up->policy, "scheduling policy")->capture_default_str();
  cmd->add_option("--run-as", up->run_as, "user tasks run as (default: yours; nobody for root)");
  cmd->add_option("--lease-ms", up->lease_ms, "node lease")->capture_default_str();
  cmd->add_option("--metrics", up->metrics,
                  "address of /metrics and the scheduler extender over HTTP (default: any free "
                  "loopback port, printed)");
  cmd->add_flag("--demo", up->demo,
                "run one sample task, show the pool, and stop (any free port, a throw-away store)");
  cmd->callback([up, exit_code] {
    HandleInterrupts();
    *exit_code = Up(*up);
  });

  for (const auto& [name, help, devices] :
       {std::tuple{"nodes", "list the pool's nodes", false},
        std::tuple{"devices", "list the pool's devices and what is allocated on them", true}}) {
    auto controller = std::make_shared<std::string>();
    auto output = std::make_shared<std::string>("table");
    CLI::App* sub = app.add_subcommand(name, help);
    sub->add_option("--controller", *controller, "controller address (or XPOOL_CONTROLLER)");
    sub->add_option("-o,--output", *output, "table or json")->capture_default_str();
    const bool d = devices;
    sub->callback(
        [controller, output, exit_code, d] { *exit_code = ListNodes(*controller, *output, d); });
  }

  auto controller = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>("table");
  auto all = std::make_shared<bool>(false);
  CLI::App* allocs = app.add_subcommand("allocs", "list allocations");
  allocs->add_option("--controller", *controller, "controller address (or XPOOL_CONTROLLER)");
  allocs->add_option("-o,--output", *output, "table or json")->capture_default_str();
  allocs->add_flag("--all", *all, "include released allocations");
  auto watch = std::make_shared<bool>(false);
  allocs->add_flag("-w,--watch", *watch, "then print every change until Ctrl-C");
  allocs->callback([controller, output, all, watch, exit_code] {
    if (*watch) HandleInterrupts();
    *exit_code = ListAllocations(*controller, *output, *all, *watch);
  });

  auto queue_controller = std::make_shared<std::string>();
  auto queue_output = std::make_shared<std::string>("table");
  CLI::App* queue = app.add_subcommand(
      "queue", "list the requests waiting for capacity, in the order they are tried, and why");
  queue->add_option("--controller", *queue_controller, "controller address (or XPOOL_CONTROLLER)");
  queue->add_option("-o,--output", *queue_output, "table or json")->capture_default_str();
  queue->callback([queue_controller, queue_output, exit_code] {
    *exit_code = ListQueue(*queue_controller, *queue_output);
  });

  struct TopOptions {
    std::string controller, output = "table";
    double interval = 1.0;
    int count = 0;
  };
  auto top = std::make_shared<TopOptions>();
  CLI::App* t = app.add_subcommand("top", "a live view of the pool (Ctrl-C to stop)");
  t->add_option("--controller", top->controller, "controller address (or XPOOL_CONTROLLER)");
  t->add_option("-o,--output", top->output, "table or json (one object per refresh)")
      ->capture_default_str();
  t->add_option("--interval", top->interval, "seconds between refreshes")->capture_default_str();
  t->add_option("--count", top->count, "refreshes, then stop (0: until Ctrl-C)")
      ->capture_default_str();
  t->callback([top, exit_code] {
    HandleInterrupts();
    *exit_code = Top(top->controller, top->output, top->interval, top->count);
  });

  auto release_controller = std::make_shared<std::string>();
  auto release_id = std::make_shared<std::string>();
  CLI::App* release = app.add_subcommand("release", "release an allocation (its task is killed)");
  release->add_option("--controller", *release_controller, "controller address");
  release->add_option("id", *release_id, "allocation id")->required();
  release->callback([release_controller, release_id, exit_code] {
    *exit_code = Release(*release_controller, *release_id);
  });

  auto run = std::make_shared<RunOptions>();
  CLI::App* r = app.add_subcommand(
      "run", "schedule a slice of the pool, run a command on it, stream its output, release it");
  r->add_option("--controller", run->controller, "controller address (or XPOOL_CONTROLLER)");
  r->add_option("--gpus", run->gpus, "devices")->capture_default_str();
  r->add_option("--gpu-memory", run->gpu_memory, "device memory per device (e.g. 8Gi)");
  r->add_option("--gpu-core", run->gpu_core, "compute share of one device, 1..100 (%)");
  r->add_option(
      "--compute-policy", run->compute_policy,
      "how the slice shares its device: fixed (default), equal, weighted, best-effort, shared");
  r->add_option("--priority", run->priority, "normal (default) or high");
  r->add_option(
      "--compute-period", run->compute_period,
      "under fixed, the period in ms over which the share is held, 10-10000 (default 20)");
  r->add_option("--model", run->models, "allowed device models, comma-separated");
  r->add_option("--type", run->type, "device type: gpu, npu, fpga, cpu");
  r->add_option("--min-bf16-tflops", run->min_bf16_tflops,
                "any model rated at least this many dense bf16 TFLOPS (the catalog's rating)")
      ->check(CLI::NonNegativeNumber);
  r->add_option("--min-device-memory", run->min_device_memory,
                "any model whose devices have at least this much memory (e.g. 40Gi)");
  r->add_option("--tenant", run->tenant, "tenant charged for it");
  r->add_flag("--no-wait", run->no_wait,
              "fail at once when the pool has no room now, instead of waiting in the queue");
  r->add_option("--queue-priority", run->queue_priority,
                "while waiting, higher goes first (default 0)");
  r->add_flag("--requeue", run->requeue,
              "when preempted, wait in the queue again and run the command again");
  r->add_option("--priority-class", run->priority_class,
                "a priority class of the pool's tenants file, instead of --queue-priority");
  r->add_option("command", run->command, "command and its arguments (after --)")->required();
  r->callback([run, exit_code] {
    HandleInterrupts();
    *exit_code = Run(*run);
  });
}

}  // namespace xpool::cli
