#include "cli/run_command.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <thread>

#include "cli/compute_flags.h"
#include "cli/pool_client.h"
#include "core/quantity.h"
#include "xpool/v1/pool.grpc.pb.h"

namespace xpool::cli {
namespace {

// 128 random bits, in hex: the request's id for the controller (AllocateRequest.request_id).
std::string RandomRequestId() {
  std::random_device random;
  std::string id;
  for (int i = 0; i < 4; ++i) {
    char word[9];  // NOLINT(modernize-avoid-c-arrays): snprintf buffer
    std::snprintf(word, sizeof(word), "%08x", static_cast<unsigned>(random()));
    id += word;
  }
  return id;
}

// Waits while `a` is queued, saying on stderr where it stands whenever that changes; `a` becomes
// the placed allocation. Fails when it is released meanwhile, or on Ctrl-C.
Status WaitInQueue(Client& c, v1::Allocation& a) {
  std::string said;
  int unreachable = 0;
  while (a.state() == "queued") {
    const std::string where = "xpool: " + a.id() + " is queued, position " +
                              std::to_string(a.queue_position()) + ": " + a.reason();
    if (where != said) std::cerr << where << "\n";
    said = where;
    for (int i = 0; i < 10 && !g_interrupted.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (g_interrupted.load()) return Status::FailedPrecondition("interrupted");
    v1::GetAllocationRequest get;
    get.set_id(a.id());
    v1::Allocation now;
    auto ctx = c.Context();
    const grpc::Status s = c.pool->GetAllocation(ctx.get(), get, &now);
    if (!s.ok()) {
      // A controller restarting keeps the queue: wait for it a while.
      if (s.error_code() == grpc::StatusCode::UNAVAILABLE && ++unreachable < 120) continue;
      return Status::IoError("while queued: " + s.error_message());
    }
    unreachable = 0;
    a = std::move(now);
  }
  if (a.state() == "released") {
    return Status::FailedPrecondition(a.id() + " left the queue: " + a.reason());
  }
  return Status::Ok();
}

}  // namespace

namespace {
// One allocation and one run of the command; `*preempted` says whether its slice was taken.
int RunOnce(Client& client, const v1::AllocateRequest& request, const RunOptions& o,
            bool* preempted);
}  // namespace

int Run(const RunOptions& o) {
  if (o.command.empty()) return Fail("give the command to run after --");
  if (o.gpus < 1) return Fail("--gpus must be at least 1");
  v1::AllocateRequest request;
  request.set_devices(o.gpus);
  if (!o.gpu_memory.empty()) {
    auto m = ParseMemory(o.gpu_memory);
    if (!m.ok()) return Fail("--gpu-memory: " + m.status().message());
    if (m->value() <= 0) return Fail("--gpu-memory must be more than 0");
    request.set_memory_mib(m->value());
  }
  if (!o.gpu_core.empty()) {
    auto core = ParseComputePercent(o.gpu_core);
    if (!core.ok()) return Fail("--gpu-core: " + core.status().message());
    request.set_compute_milli(static_cast<int32_t>(core->value()));
  }
  auto period_ms = CheckComputeFlags(o.compute_policy, o.priority, o.compute_period);
  if (!period_ms.ok()) return Fail(period_ms.status().message());
  request.set_compute_policy(o.compute_policy);
  request.set_priority(o.priority);
  request.set_compute_period_ms(*period_ms);
  for (size_t pos = 0; pos < o.models.size();) {
    const size_t comma = std::min(o.models.find(',', pos), o.models.size());
    if (comma > pos) request.add_models(o.models.substr(pos, comma - pos));
    pos = comma + 1;
  }
  request.set_type(o.type);
  request.set_min_bf16_tflops(o.min_bf16_tflops);
  if (!o.min_device_memory.empty()) {
    auto m = ParseMemory(o.min_device_memory);
    if (!m.ok()) return Fail("--min-device-memory: " + m.status().message());
    request.set_min_device_memory_mib(m->value());
  }
  request.set_tenant(o.tenant);
  request.set_wait(!o.no_wait);
  request.set_queue_priority(o.queue_priority);
  request.set_priority_class(o.priority_class);
  const char* user = std::getenv("USER");
  request.set_owner(user != nullptr ? user : std::to_string(getuid()));

  // Asked again with the same id after a lost answer, the controller answers the same allocation.
  auto c = Client::Open(o.controller);
  if (!c.ok()) return Fail(c.status().message());
  while (true) {
    // A fresh id each time: a requeued run is a new request.
    request.set_request_id(RandomRequestId());
    bool preempted = false;
    const int exit_code = RunOnce(*c, request, o, &preempted);
    if (!o.requeue || !preempted || g_interrupted.load()) return exit_code;
    std::cerr << "xpool: preempted; --requeue: asking again\n";
  }
}

namespace {

int RunOnce(Client& client, const v1::AllocateRequest& request, const RunOptions& o,
            bool* preempted) {
  Client* c = &client;
  v1::Allocation a;
  for (int attempt = 1;; ++attempt) {
    auto ctx = c->Context();
    const grpc::Status s = c->pool->Allocate(ctx.get(), request, &a);
    if (s.ok()) break;
    const bool lost = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (!lost || attempt == 3) return RpcFail("cannot allocate", s, c->address);
    std::this_thread::sleep_for(std::chrono::milliseconds(500 * attempt));
  }
  auto release = [&](const std::string& reason) {
    v1::ReleaseRequest r;
    r.set_id(a.id());
    r.set_reason(reason);
    v1::Allocation ignored;
    auto ctx = c->Context();
    (void)c->pool->Release(ctx.get(), r, &ignored);
  };
  if (a.state() == "queued") {
    if (Status s = WaitInQueue(*c, a); !s.ok()) {
      if (g_interrupted.load()) {
        release("cancelled by its user while queued");
        return Fail("interrupted; " + a.id() + " left the queue", 130);
      }
      return Fail(s.message());
    }
  }
  std::cerr << "xpool: " << a.id() << " on " << a.node() << " (" << a.slices_size()
            << " device(s))\n";
  // Streams the task's output. A stream that breaks before the exit status (the agent restarted,
  // the network blinked) is attached again from where it broke, at the agent's current address,
  // for up to 60 s; the task runs on meanwhile.
  int exit_code = -1;
  int64_t stdout_bytes = 0, stderr_bytes = 0;
  bool attach = false;
  grpc::Status s;
  auto broken_since = std::chrono::steady_clock::now();
  std::string agent_address = a.agent_address();
  while (true) {
    // The agents are reached as the controller is (Client::Open has checked the credentials).
    auto tasks = v1::Tasks::NewStub(grpc::CreateChannel(agent_address, *PoolCredentials()));
    v1::RunRequest run;
    run.set_allocation_id(a.id());
    for (const auto& arg : o.command) run.add_argv(arg);
    run.set_attach(attach);
    run.set_stdout_offset(stdout_bytes);
    run.set_stderr_offset(stderr_bytes);
    grpc::ClientContext stream_ctx;
    Authorize(stream_ctx);
    g_run_stream = &stream_ctx;
    if (g_interrupted.load()) stream_ctx.TryCancel();
    auto reader = tasks->Run(&stream_ctx, run);
    v1::RunOutput out;
    while (reader->Read(&out)) {
      stdout_bytes += static_cast<int64_t>(out.stdout().size());
      stderr_bytes += static_cast<int64_t>(out.stderr().size());
      if (!out.stdout().empty()) std::cout << out.stdout() << std::flush;
      if (!out.stderr().empty()) std::cerr << out.stderr() << std::flush;
      if (out.exited()) exit_code = out.exit_code();
      broken_since = std::chrono::steady_clock::now();
    }
    s = reader->Finish();
    g_run_stream = nullptr;
    if (exit_code >= 0 || g_interrupted.load()) break;
    const bool transient = s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           s.error_code() == grpc::StatusCode::CANCELLED;
    const bool never_started =
        attach && s.error_code() == grpc::StatusCode::NOT_FOUND && stdout_bytes + stderr_bytes == 0;
    if ((!transient && !never_started) ||
        std::chrono::steady_clock::now() - broken_since > std::chrono::seconds(60)) {
      break;
    }
    // Whether a broken first stream started the task only the agent knows: attach, and start it
    // only if the agent has no task for the allocation.
    attach = !never_started;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    v1::Allocation current;
    v1::GetAllocationRequest get;
    get.set_id(a.id());
    auto ctx = c->Context();
    if (c->pool->GetAllocation(ctx.get(), get, &current).ok()) {
      if (current.state() == "released") {
        return Fail(a.id() + " was released (" + current.reason() + ") while its output was away",
                    1);
      }
      agent_address = current.agent_address();
    }
  }
  if (g_interrupted.load()) {
    release("interrupted by its user");
    return Fail("interrupted; " + a.id() + " released", 130);
  }
  release(exit_code >= 0 ? "task ended" : "lost the task's output stream");
  if (!s.ok() && exit_code < 0) {
    return Fail("run on " + a.node() + " (agent " + agent_address + "): " + s.error_message() +
                    "; " + a.id() + " released",
                s.error_code() == grpc::StatusCode::NOT_FOUND ? 2 : 1);
  }
  if (exit_code < 0) return Fail("the agent on " + a.node() + " ended without an exit code", 1);
  v1::Allocation current;
  v1::GetAllocationRequest get;
  get.set_id(a.id());
  auto ctx = c->Context();
  const bool known = c->pool->GetAllocation(ctx.get(), get, &current).ok();
  *preempted = known && current.preempt_at_unix_ms() > 0;
  if (*preempted) {
    // Whatever the task did with its SIGTERM, its owner learns why it was asked to end.
    std::cerr << "xpool: " << a.id() << " was " << current.reason() << "\n";
  } else if (exit_code > 128 && exit_code < 128 + 65) {
    // Killed: say by what, and whether its slice was taken away first.
    const int signal = exit_code - 128;
    const char* name = sigabbrev_np(signal);
    std::string why = "the task was killed by signal " + std::to_string(signal) +
                      (name != nullptr ? " (SIG" + std::string(name) + ")" : std::string());
    if (known && current.state() == "released" && current.reason() != "task ended") {
      why += " after " + a.id() + " was released: " + current.reason();
    }
    std::cerr << "xpool: " << why << "\n";
  }
  return exit_code;
}

}  // namespace

}  // namespace xpool::cli
