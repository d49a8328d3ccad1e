#include "cli/exec_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "agent/task_runner.h"
#include "cli/compute_flags.h"
#include "core/quantity.h"
#include "runtime/config.h"

namespace xpool::cli {
namespace {

constexpr int kBadInput = 2;

struct ExecOptions {
  std::string gpu_memory;
  std::string devices;
  std::string slice;
  std::string log_level;
  std::string gpu_core;        // compute share, 1..100
  std::string compute_policy;  // fixed | equal | weighted | best-effort
  std::string priority;        // normal | high
  std::string compute_period;  // ms, under fixed
  std::string runtime;
  std::vector<std::string> command;
};

int Fail(const std::string& message) {
  std::cerr << "xpool exec: " << message << "\n";
  return kBadInput;
}

bool ValidDeviceList(const std::string& list) {
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    const std::string item = list.substr(pos, comma - pos);
    const bool uuid = item.rfind("GPU-", 0) == 0 || item.rfind("MIG-", 0) == 0;
    const bool index = !item.empty() && item.find_first_not_of("0123456789") == std::string::npos;
    if (!uuid && !index) return false;
    pos = comma + 1;
  }
  return true;
}

pid_t g_child = -1;
void Forward(int signal) {
  if (g_child > 0) kill(g_child, signal);
}

int RunExec(const ExecOptions& o) {
  if (o.command.empty()) return Fail("give the command to run after --");
  if (!o.gpu_memory.empty()) {
    auto m = ParseMemory(o.gpu_memory);
    if (!m.ok()) return Fail("--gpu-memory: " + m.status().message());
    if (m->value() == 0) return Fail("--gpu-memory must be more than 0");
  }
  if (!o.devices.empty() && !ValidDeviceList(o.devices)) {
    return Fail("--devices '" + o.devices + "': give device indices or UUIDs, comma-separated");
  }
  if (!o.log_level.empty()) {
    auto level = runtime::ParseLogLevel(o.log_level);
    if (!level.ok()) return Fail("--log-level: " + level.status().message());
  }
  if (!o.gpu_core.empty()) {
    auto share = runtime::ParseComputeShare(o.gpu_core);
    if (!share.ok()) return Fail("--gpu-core: " + share.status().message());
  }
  if (auto compute = CheckComputeFlags(o.compute_policy, o.priority, o.compute_period);
      !compute.ok()) {
    return Fail(compute.status().message());
  }
  const std::string runtime_lib = agent::FindRuntimeLibrary(o.runtime);
  if (runtime_lib.empty() || !std::filesystem::exists(runtime_lib)) {
    return Fail(
        "cannot find libxpool-cuda.so (looked beside this binary and in ../lib/xpool; "
        "set --runtime or XPOOL_RUNTIME)");
  }
  // A slice of its own unless told to join one; that segment goes when the command ends.
  const bool own_slice = o.slice.empty();
  const std::string slice = own_slice ? "/dev/shm/xpool-exec-" + std::to_string(getpid()) : o.slice;

  std::string preload = runtime_lib;
  if (const char* existing = std::getenv("LD_PRELOAD"); existing != nullptr && *existing != '\0') {
    preload += std::string(":") + existing;
  }
  g_child = fork();
  if (g_child < 0) return Fail(std::string("fork: ") + std::strerror(errno));
  if (g_child == 0) {
    setenv("LD_PRELOAD", preload.c_str(), 1);
    setenv(runtime::kEnvSlice, slice.c_str(), 1);
    if (!o.gpu_memory.empty()) setenv(runtime::kEnvGpuMemory, o.gpu_memory.c_str(), 1);
    if (!o.devices.empty()) setenv("CUDA_VISIBLE_DEVICES", o.devices.c_str(), 1);
    if (!o.log_level.empty()) setenv(runtime::kEnvLogLevel, o.log_level.c_str(), 1);
    if (!o.gpu_core.empty()) setenv(runtime::kEnvGpuCore, o.gpu_core.c_str(), 1);
    if (!o.compute_policy.empty()) {
      setenv(runtime::kEnvComputePolicy, o.compute_policy.c_str(), 1);
    }
    if (!o.priority.empty()) setenv(runtime::kEnvPriority, o.priority.c_str(), 1);
    if (!o.compute_period.empty()) {
      setenv(runtime::kEnvComputePeriod, o.compute_period.c_str(), 1);
    }
    std::vector<char*> argv;
    for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    std::cerr << "xpool exec: cannot run '" << o.command[0] << "': " << std::strerror(errno)
              << "\n";
    _exit(127);
  }
  struct sigaction forward {};
  forward.sa_handler = &Forward;
  sigaction(SIGINT, &forward, nullptr);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGHUP, &forward, nullptr);
  int status = 0;
  while (waitpid(g_child, &status, 0) < 0 && errno == EINTR) {
  }
  if (own_slice) std::filesystem::remove(slice);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

void AddExecCommand(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<ExecOptions>();
  CLI::App* cmd = app.add_subcommand(
      "exec",
      "Run a command on this machine's GPUs inside a slice held to a memory quota and a compute "
      "share");
  cmd->add_option("--gpu-memory", opts->gpu_memory,
                  "Memory quota per device, e.g. 8Gi or 512Mi (default: no quota)");
  cmd->add_option("--devices", opts->devices,
                  "Devices the command may use: indices or UUIDs, comma-separated");
  cmd->add_option("--slice", opts->slice,
                  "Shared segment of a slice to join (processes naming the same file share one "
                  "quota); default: a new slice for this command");
  cmd->add_option("--gpu-core", opts->gpu_core,
                  "Compute share of each device in percent, 1-100 (default: unlimited)");
  cmd->add_option("--compute-policy", opts->compute_policy,
                  "How slices share a device: fixed (default), equal, weighted, best-effort");
  cmd->add_option("--priority", opts->priority, "normal (default) or high");
  cmd->add_option("--compute-period", opts->compute_period,
                  "Under fixed, the period in ms over which the share is held, 10-10000 "
                  "(default 20; longer suits power-bound training)");
  cmd->add_option("--log-level", opts->log_level, "Runtime log level: error, warn, info, debug");
  cmd->add_option("--runtime", opts->runtime, "Path of libxpool-cuda.so");
  cmd->add_option("command", opts->command, "The command and its arguments, after --")->required();
  cmd->callback([opts, exit_code] { *exit_code = RunExec(*opts); });
}

}  // namespace xpool::cli
