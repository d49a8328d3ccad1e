// xpool-remote-server: serves remote GPU sessions on the node that has the GPU. It listens for
// clients and gives each its own process: the process admits the client's hello, then re-executes
// itself with the pooling runtime preloaded and the slice's quota and share in its environment,
// so the session's calls are held to them exactly as a local program's are, and a crash or a
// leak stays inside one session. A client that goes away, even killed, closes its connection,
// and its session process exits with it, freeing its memory and its place in the arbitration.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/install_paths.h"
#include "remote/link.h"
#include "remote/server/admission.h"
#include "remote/server/real_driver.h"
#include "remote/server/session.h"
#include "runtime/config.h"

namespace xpool::remote {
namespace {

constexpr int kBadInput = 2;
constexpr int kHelloTimeoutMs = 5000;

struct ServerOptions {
  std::string listen;
  std::string device = "0";
  std::string runtime;
  std::string slice_dir = "/dev/shm";
  std::string compute_policy;
  int heartbeat_ms = 500;
  int client_timeout_ms = 10000;
  int session_fd = -1;
  ServerLimits limits;
};

const char kUsage[] =
    "usage: xpool-remote-server --listen HOST:PORT|unix:PATH [options]\n"
    "  --device N             the GPU sessions use (index as nvidia-smi numbers it; default 0)\n"
    "  --credentials FILE     session credentials, one per line, with optional limits:\n"
    "                         CREDENTIAL [gpu-memory=8Gi] [gpu-core=30]; needed for clients\n"
    "                         that are not on this machine\n"
    "  --gpu-memory Q         the most GPU memory a session without its own limit may hold\n"
    "  --gpu-core P           the compute share of such a session, 1-100\n"
    "  --compute-policy P     fixed | equal | weighted | best-effort | shared (docs/runtime.md)\n"
    "  --runtime LIB          libxpool-cuda.so (default: beside this program)\n"
    "  --slice-dir DIR        where sessions' slice segments live (default /dev/shm)\n"
    "  --heartbeat-ms N       how often an idle session tells its client it lives (default 500)\n"
    "  --client-timeout-ms N  a session whose client stops acknowledging for this long (a cut\n"
    "                         link) ends, releasing its memory (default 10000)\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "xpool-remote-server: %s\n", message.c_str());
  return kBadInput;
}

bool ParseArgs(int argc, char** argv, ServerOptions* o, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      *error = "";
      return false;
    }
    if (i + 1 >= argc) {
      *error = flag + " needs a value";
      return false;
    }
    const std::string value = argv[++i];
    if (flag == "--listen")
      o->listen = value;
    else if (flag == "--device")
      o->device = value;
    else if (flag == "--credentials")
      o->limits.credentials_file = value;
    else if (flag == "--gpu-memory")
      o->limits.gpu_memory = value;
    else if (flag == "--gpu-core")
      o->limits.gpu_core = value;
    else if (flag == "--compute-policy")
      o->compute_policy = value;
    else if (flag == "--runtime")
      o->runtime = value;
    else if (flag == "--slice-dir")
      o->slice_dir = value;
    else if (flag == "--heartbeat-ms")
      o->heartbeat_ms = std::atoi(value.c_str());
    else if (flag == "--client-timeout-ms")
      o->client_timeout_ms = std::atoi(value.c_str());
    else if (flag == "--session-fd")
      o->session_fd = std::atoi(value.c_str());
    else {
      *error = "unknown option " + flag;
      return false;
    }
  }
  if (o->heartbeat_ms < 10 || o->heartbeat_ms > 60000) {
    *error = "--heartbeat-ms: give 10 to 60000";
    return false;
  }
  if (o->client_timeout_ms < 100 || o->client_timeout_ms > 3600000) {
    *error = "--client-timeout-ms: give 100 to 3600000";
    return false;
  }
  if (o->session_fd < 0 && o->listen.empty()) {
    *error = "give --listen";
    return false;
  }
  if (o->device.empty() || o->device.find_first_not_of("0123456789") != std::string::npos) {
    *error = "--device '" + o->device + "': give a device index";
    return false;
  }
  if (!o->limits.gpu_memory.empty() && !ParseMemory(o->limits.gpu_memory).ok()) {
    *error = "--gpu-memory '" + o->limits.gpu_memory + "' is not a quantity";
    return false;
  }
  if (!o->limits.gpu_core.empty() && !runtime::ParseComputeShare(o->limits.gpu_core).ok()) {
    *error = "--gpu-core '" + o->limits.gpu_core + "': give 1-100";
    return false;
  }
  return true;
}

void Refuse(int fd, const std::string& reason) {
  Welcome w;
  w.result = CUDA_ERROR_NOT_PERMITTED;
  w.reason = reason;
  std::vector<uint8_t> payload;
  EncodeWelcome(w, &payload);
  (void)WriteFrame(fd, Op::kWelcome, 0, 0, payload.data(), payload.size());
}

std::string SlicePath(const ServerOptions& o, pid_t pid) {
  return o.slice_dir + "/xpool-remote-" + std::to_string(pid);
}

// In the child of the listener, for one connection: admit the hello, then become the session.
[[noreturn]] void StartSession(int fd, const ServerOptions& o, const std::string& runtime_lib) {
  Frame hello_frame;
  Status s = ReadFrame(fd, &hello_frame, kHelloTimeoutMs);
  if (s.ok() && hello_frame.header.op != Op::kHello) s = Status::InvalidArgument("no hello");
  Result<Hello> hello = s.ok() ? DecodeHello(hello_frame.payload.data(), hello_frame.payload.size())
                               : Result<Hello>(s);
  if (!hello.ok()) {
    std::fprintf(stderr, "xpool-remote-server: client %s: %s\n", PeerName(fd).c_str(),
                 hello.status().message().c_str());
    Refuse(fd, hello.status().message());
    _exit(1);
  }
  auto terms = Admit(*hello, PeerIsLocal(fd), o.limits);
  if (!terms.ok()) {
    std::fprintf(stderr, "xpool-remote-server: refused %s (pid %u): %s\n", PeerName(fd).c_str(),
                 hello->client_pid, terms.status().message().c_str());
    Refuse(fd, terms.status().message());
    _exit(1);
  }
  setenv("LD_PRELOAD", runtime_lib.c_str(), 1);
  setenv(runtime::kEnvSlice, SlicePath(o, getpid()).c_str(), 1);
  setenv("CUDA_VISIBLE_DEVICES", o.device.c_str(), 1);
  if (!terms->gpu_memory.empty()) setenv(runtime::kEnvGpuMemory, terms->gpu_memory.c_str(), 1);
  if (!terms->gpu_core.empty()) setenv(runtime::kEnvGpuCore, terms->gpu_core.c_str(), 1);
  if (!o.compute_policy.empty()) setenv(runtime::kEnvComputePolicy, o.compute_policy.c_str(), 1);
  const std::string client =
      hello->client_host + " pid " + std::to_string(hello->client_pid) + " from " + PeerName(fd);
  setenv("XPOOL_REMOTE_CLIENT", client.c_str(), 1);
  fcntl(fd, F_SETFD, 0);  // the session inherits the connection
  const std::string fd_text = std::to_string(fd), heartbeat = std::to_string(o.heartbeat_ms);
  std::vector<const char*> argv = {"xpool-remote-server", "--session-fd",    fd_text.c_str(),
                                   "--heartbeat-ms",      heartbeat.c_str(), nullptr};
  execv("/proc/self/exe", const_cast<char* const*>(argv.data()));
  Refuse(fd, std::string("cannot start the session: ") + std::strerror(errno));
  _exit(1);
}

int RunSession(const ServerOptions& o) {
  const char* client = std::getenv("XPOOL_REMOTE_CLIENT");
  SessionOptions so{o.heartbeat_ms, client != nullptr ? client : "?"};
  auto driver = OpenRealDriver();
  if (!driver.ok()) {
    Refuse(o.session_fd, driver.status().message());
    std::fprintf(stderr, "xpool-remote-server: %s\n", driver.status().message().c_str());
    return 1;
  }
  Session session(o.session_fd, *driver, so);
  return session.Run();
}

volatile sig_atomic_t g_stop = 0;
void Stop(int) {
  g_stop = 1;
}

int Serve(const ServerOptions& o) {
  const std::string runtime_lib = FindRuntimeLibrary(o.runtime);
  if (runtime_lib.empty() || !std::filesystem::exists(runtime_lib)) {
    return Fail(
        "cannot find libxpool-cuda.so, which holds sessions to their slices (set --runtime)");
  }
  auto listener = Listen(o.listen);
  if (!listener.ok()) return Fail(listener.status().message());
  std::printf("xpool-remote-server: listening on %s\n", BoundEndpoint(*listener).c_str());
  std::fflush(stdout);
  struct sigaction stop {};
  stop.sa_handler = &Stop;
  sigaction(SIGTERM, &stop, nullptr);
  sigaction(SIGINT, &stop, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  while (g_stop == 0) {
    // Sessions that ended leave their slice segment behind; remove it with them.
    for (pid_t pid; (pid = waitpid(-1, nullptr, WNOHANG)) > 0;) {
      std::error_code ec;
      std::filesystem::remove(SlicePath(o, pid), ec);
    }
    pollfd p{*listener, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const int fd = accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    SetNoDelay(fd);
    // Heartbeats keep data in flight, so a client behind a cut link is noticed in this time.
    SetUnacknowledgedTimeout(fd, o.client_timeout_ms);
    const pid_t child = fork();
    if (child == 0) {
      close(*listener);
      StartSession(fd, o, runtime_lib);
    }
    if (child < 0) std::fprintf(stderr, "xpool-remote-server: fork: %s\n", std::strerror(errno));
    close(fd);
  }
  close(*listener);
  return 0;
}

}  // namespace
}  // namespace xpool::remote

int main(int argc, char** argv) {
  xpool::remote::ServerOptions options;
  std::string error;
  if (!xpool::remote::ParseArgs(argc, argv, &options, &error)) {
    if (error.empty()) {
      std::fputs(xpool::remote::kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "xpool-remote-server: %s\n%s", error.c_str(), xpool::remote::kUsage);
    return xpool::remote::kBadInput;
  }
  if (options.session_fd >= 0) return xpool::remote::RunSession(options);
  return xpool::remote::Serve(options);
}
