#include "cli/exec_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "agent/task_runner.h"
#include "cli/compute_flags.h"
#include "core/install_paths.h"
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
  std::string compute_policy;  // fixed | equal | weighted | best-effort | shared
  std::string priority;        // normal | high
  std::string compute_period;  // ms, under fixed
  std::string runtime;
  std::string remote;             // HOST:PORT of a remote GPU server
  std::string remote_credential;  // file holding the session credential
  std::string remote_timeout;     // ms
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

[[noreturn]] void ExecOrExit(const std::vector<std::string>& command) {
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  std::cerr << "xpool exec: cannot run '" << command[0] << "': " << std::strerror(errno) << "\n";
  _exit(127);
}

pid_t g_child = -1;
void Forward(int signal) {
  if (g_child > 0) kill(g_child, signal);
}

// Runs the child until it ends, forwarding the signals a terminal sends; returns its exit code.
int WaitForChild() {
  struct sigaction forward {};
  forward.sa_handler = &Forward;
  sigaction(SIGINT, &forward, nullptr);
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGHUP, &forward, nullptr);
  int status = 0;
  while (waitpid(g_child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

// The command computes on a GPU of another node: xpool's client is its libcuda.so.1, and the
// quota and share travel to the server, which holds the session to them (docs/remote.md).
int RunRemote(const ExecOptions& o) {
  const std::string client_dir = FindRemoteClientDir();
  if (client_dir.empty()) {
    return Fail(
        "cannot find the remote client (remote/libcuda.so.1 beside this binary or in "
        "../lib/xpool/remote; set XPOOL_REMOTE_CLIENT_DIR)");
  }
  if (!o.devices.empty() || !o.slice.empty()) {
    return Fail(
        "--devices and --slice name this machine's GPUs; a remote session gets the "
        "server's device");
  }
  if (!o.remote_timeout.empty()) {
    const long ms = std::strtol(o.remote_timeout.c_str(), nullptr, 10);
    if (ms < 100 || ms > 600000) return Fail("--remote-timeout: give 100 to 600000 ms");
  }
  if (!o.remote_credential.empty() && !std::filesystem::exists(o.remote_credential)) {
    return Fail("--remote-credential-file '" + o.remote_credential + "' does not exist");
  }
  std::string library_path = client_dir;
  if (const char* existing = std::getenv("LD_LIBRARY_PATH"); existing != nullptr && *existing) {
    library_path += std::string(":") + existing;
  }
  g_child = fork();
  if (g_child < 0) return Fail(std::string("fork: ") + std::strerror(errno));
  if (g_child == 0) {
    setenv("LD_LIBRARY_PATH", library_path.c_str(), 1);
    setenv("XPOOL_REMOTE", o.remote.c_str(), 1);
    if (!o.remote_credential.empty()) {
      setenv("XPOOL_REMOTE_CREDENTIAL_FILE", o.remote_credential.c_str(), 1);
    }
    if (!o.remote_timeout.empty()) setenv("XPOOL_REMOTE_TIMEOUT_MS", o.remote_timeout.c_str(), 1);
    if (!o.gpu_memory.empty()) setenv(runtime::kEnvGpuMemory, o.gpu_memory.c_str(), 1);
    if (!o.gpu_core.empty()) setenv(runtime::kEnvGpuCore, o.gpu_core.c_str(), 1);
    ExecOrExit(o.command);
  }
  return WaitForChild();
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
  if (!o.remote.empty()) return RunRemote(o);
  const std::string runtime_lib = FindRuntimeLibrary(o.runtime);
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
    ExecOrExit(o.command);
  }
  const int code = WaitForChild();
  if (own_slice) std::filesystem::remove(slice);
  return code;
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
  cmd->add_option(
      "--compute-policy", opts->compute_policy,
      "How slices share a device: fixed (default), equal, weighted, best-effort, shared");
  cmd->add_option("--priority", opts->priority, "normal (default) or high");
  cmd->add_option("--compute-period", opts->compute_period,
                  "Under fixed, the period in ms over which the share is held, 10-10000 "
                  "(default 20; longer suits power-bound training)");
  cmd->add_option("--log-level", opts->log_level, "Runtime log level: error, warn, info, debug");
  cmd->add_option("--runtime", opts->runtime, "Path of libxpool-cuda.so");
  cmd->add_option("--remote", opts->remote,
                  "Compute on a GPU of another node: HOST:PORT (or unix:PATH) of its "
                  "xpool-remote-server; --gpu-memory and --gpu-core travel with the session");
  cmd->add_option("--remote-credential-file", opts->remote_credential,
                  "File holding the session credential (needed off the server's machine)");
  cmd->add_option("--remote-timeout", opts->remote_timeout,
                  "Milliseconds of silence after which the link counts as lost (default 5000)");
  cmd->add_option("command", opts->command, "The command and its arguments, after --")->required();
  cmd->callback([opts, exit_code] { *exit_code = RunExec(*opts); });
}

}  // namespace xpool::cli
