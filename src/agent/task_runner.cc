#include "agent/task_runner.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>

#include "agent/compute_env.h"
#include "runtime/config.h"
#include "runtime/slice_segment.h"

extern char** environ;

namespace xpool::agent {
namespace {

// The executable argv[0] names, searched in PATH as a shell would; resolved before fork so the
// child only calls async-signal-safe functions.
std::string ResolveExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

}  // namespace

Result<std::unique_ptr<TaskRunner>> TaskRunner::Create(const TaskOptions& options) {
  uid_t uid = geteuid();
  gid_t gid = getegid();
  bool switch_user = false;
  if (!options.run_as.empty()) {
    const passwd* pw = getpwnam(options.run_as.c_str());
    if (pw == nullptr)
      return Status::InvalidArgument("no user '" + options.run_as + "' to run tasks as");
    if (pw->pw_uid != geteuid()) {
      if (geteuid() != 0) {
        return Status::InvalidArgument("tasks can run as '" + options.run_as +
                                       "' only when the agent runs as root");
      }
      switch_user = true;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  } else if (geteuid() == 0) {
    return Status::InvalidArgument(
        "the agent runs as root: say which user tasks run as (--run-as USER; --run-as root to "
        "really run them as root)");
  }
  if (options.state_dir.empty()) return Status::InvalidArgument("no state directory for tasks");
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) {
    return Status::IoError("cannot create the state directory '" + options.state_dir +
                           "': " + ec.message());
  }
  std::unique_ptr<TaskRunner> runner(new TaskRunner(options, uid, gid, switch_user));
  runner->Adopt();
  return runner;
}

TaskRunner::TaskRunner(TaskOptions options, uid_t uid, gid_t gid, bool switch_user)
    : options_(std::move(options)), uid_(uid), gid_(gid), switch_user_(switch_user) {}

std::map<std::string, std::string> TaskRunner::TaskEnvironment(const v1::Allocation& a) const {
  std::map<std::string, std::string> env;
  env["XPOOL_ALLOCATION"] = a.id();
  env["XPOOL_NODE"] = a.node();
  std::string visible;
  int64_t memory = 0;
  int32_t milli = 1000;
  for (const auto& s : a.slices()) {
    // A real GPU by its UUID (immune to CUDA's device order); a simulated one by its index.
    const bool real = s.device_uuid().rfind("GPU-", 0) == 0;
    if (!visible.empty()) visible += ',';
    visible += real ? s.device_uuid() : std::to_string(s.device_index());
    memory = s.memory_mib();
    milli = s.compute_milli();
  }
  if (!a.slices().empty()) {
    env["CUDA_VISIBLE_DEVICES"] = visible;
    env["XPOOL_GPU_MEMORY"] = std::to_string(memory);
    if (milli < 1000) env["XPOOL_GPU_CORE"] = std::to_string(milli / 10);
    env["XPOOL_SLICE"] = SlicePathOf(a.id());
    // Compute is arbitrated beside the slices, where the agent reads each task's device time.
    env[runtime::kEnvComputeDir] = options_.slice_dir;
    env.merge(ComputeEnvironment(a.request()));
  }
  if (!options_.runtime_path.empty()) env["LD_PRELOAD"] = options_.runtime_path;
  return env;
}

std::string TaskRunner::FolderOf(const std::string& allocation_id) const {
  return options_.state_dir + "/" + allocation_id;
}

std::optional<int> TaskRunner::ExitOf(const std::string& allocation_id) const {
  std::ifstream in(FolderOf(allocation_id) + "/exit");
  int code = 0;
  if (in >> code) return code;
  return std::nullopt;
}

void TaskRunner::Adopt() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.state_dir, ec)) {
    if (!entry.is_directory()) continue;
    const std::string id = entry.path().filename().string();
    std::ifstream in(entry.path() / "pid");
    pid_t pid = 0;
    in >> pid;
    if (!ExitOf(id) && (pid <= 0 || kill(pid, 0) != 0)) {
      // Neither running nor recorded as ended (its supervisor died with the machine): lost.
      std::ofstream(entry.path() / "exit") << 255 << "\n";
    }
    std::lock_guard<std::mutex> lock(mu_);
    tasks_[id] = Entry{pid};
    adopted_.push_back(id);
  }
}

double TaskRunner::GpuSecondsUsed(const std::string& allocation_id,
                                  const std::vector<runtime::ComputeDeviceUse>& devices) const {
  const std::string name = runtime::ComputeSliceName(SlicePathOf(allocation_id), 0);
  int64_t used_ns = 0;
  for (const auto& d : devices) {
    for (const auto& s : d.slices) used_ns += s.name == name ? s.used_ns : 0;
  }
  return static_cast<double>(used_ns) / 1e9;
}

std::string TaskRunner::SlicePathOf(const std::string& allocation_id) const {
  return options_.slice_dir + "/xpool-slice-" + allocation_id;
}

std::map<int, int64_t> TaskRunner::SliceBytesInUse(const std::string& allocation_id,
                                                   int devices) const {
  std::map<int, int64_t> bytes;
  const std::string path = SlicePathOf(allocation_id);
  if (access(path.c_str(), R_OK) != 0) return bytes;  // no process of it loaded the runtime
  auto segment = runtime::SliceSegment::OpenReadOnlyObserver(path);
  if (!segment.ok()) return bytes;
  for (int d = 0; d < devices && d < runtime::kMaxSliceDevices; ++d) {
    bytes[d] = (*segment)->Usage(d);
  }
  return bytes;
}

std::vector<std::string> TaskRunner::Adopted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return adopted_;
}

namespace {

// Writes `value` and a newline to `path` with only async-signal-safe calls (in the supervisor,
// a fork of a threaded process).
void WriteNumber(const char* path, long value) {
  char digits[24];
  int n = 0;
  const bool negative = value < 0;
  unsigned long v =
      negative ? static_cast<unsigned long>(-value) : static_cast<unsigned long>(value);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < 20);
  char text[24];
  int len = 0;
  if (negative) text[len++] = '-';
  while (n > 0) text[len++] = digits[--n];
  text[len++] = '\n';
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, text, static_cast<size_t>(len));
  fsync(fd);
  close(fd);
}

// Why execve failed, in words; async-signal-safe (a forked child of a threaded process).
const char* ExecErrorText(int error) {
  switch (error) {
    case ENOENT:
      return "no such file or directory\n";
    case EACCES:
      return "permission denied (not executable, or a folder on its path cannot be searched)\n";
    case ENOEXEC:
      return "not an executable format (a script without #!?)\n";
    case ETXTBSY:
      return "the file is open for writing\n";
    case ENOMEM:
      return "out of memory\n";
    case E2BIG:
      return "its arguments and environment are too long\n";
    case ELOOP:
      return "too many symbolic links\n";
    case ENOTDIR:
      return "a part of its path is not a folder\n";
    default:
      return "execve failed\n";
  }
}

void WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = write(fd, text.data(), text.size());
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

Status TaskRunner::Start(const v1::Allocation& a, const std::vector<std::string>& argv) {
  if (argv.empty()) return Status::InvalidArgument("no command to run");
  const std::string executable = ResolveExecutable(argv[0]);
  if (executable.empty()) {
    return Status::NotFound("command '" + argv[0] + "' not found on " + a.node());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (tasks_.count(a.id()) != 0) {
      return Status::FailedPrecondition("allocation " + a.id() + " already has a task");
    }
  }
  const std::string folder = FolderOf(a.id());
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return Status::IoError("cannot create '" + folder + "': " + ec.message());
  // Everything the supervisor and the task need is built before fork.
  std::vector<std::string> env_strings;
  const auto extra = TaskEnvironment(a);
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (extra.count(key) == 0 && !key.starts_with("XPOOL_")) env_strings.push_back(kv);
  }
  for (const auto& [k, v] : extra) {
    std::string entry = k;
    entry += '=';
    entry += v;
    env_strings.push_back(std::move(entry));
  }
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  argp.reserve(args.size() + 1);
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);
  const std::string pid_path = folder + "/pid", exit_tmp = folder + "/exit.tmp",
                    exit_path = folder + "/exit";
  const int out =
      open((folder + "/stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err =
      open((folder + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || err < 0) {
    if (out >= 0) close(out);
    if (err >= 0) close(err);
    return Status::IoError("cannot create the output files in '" + folder + "'");
  }
  if (switch_user_) {
    (void)!fchown(out, uid_, gid_);
    (void)!fchown(err, uid_, gid_);
  }
  // Made before fork: the children may only write them (async-signal-safe calls).
  const std::string cannot_run = "xpool-agent: cannot run '" + executable + "': ";
  const std::string cannot_switch = "xpool-agent: cannot run the task as user " +
                                    std::to_string(uid_) + " (setuid/setgid refused)\n";
  const pid_t supervisor = fork();
  if (supervisor < 0) {
    close(out);
    close(err);
    return Status::IoError(std::string("fork: ") + std::strerror(errno));
  }
  if (supervisor == 0) {
    sigset_t none;  // the agent blocks the termination signals for its own handling thread
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setsid();  // outlives the agent, out of its process group
    // Keep only the task's output files: an inherited socket of the agent would keep the agent's
    // connections (and its port) open after the agent dies.
    dup2(out, 1);
    dup2(err, 2);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    close_range(3, ~0U, 0);
    const pid_t task = fork();
    if (task == 0) {
      setpgid(0, 0);
      if (switch_user_ && (setgroups(0, nullptr) != 0 || setgid(gid_) != 0 || setuid(uid_) != 0)) {
        WriteAll(2, cannot_switch);
        _exit(126);
      }
      execve(executable.c_str(), argp.data(), envp.data());
      const int error = errno;
      WriteAll(2, cannot_run);
      WriteAll(2, ExecErrorText(error));
      _exit(error == ENOENT ? 127 : 126);  // as a shell says it
    }
    if (task < 0) {
      WriteNumber(exit_tmp.c_str(), 255);
      rename(exit_tmp.c_str(), exit_path.c_str());
      _exit(1);
    }
    setpgid(task, task);
    WriteNumber(pid_path.c_str(), task);
    int status = 0;
    while (waitpid(task, &status, 0) < 0 && errno == EINTR) {
    }
    WriteNumber(exit_tmp.c_str(), ExitCodeOf(status));
    rename(exit_tmp.c_str(), exit_path.c_str());  // the exit file appears whole or not at all
    _exit(0);
  }
  close(out);
  close(err);
  // The supervisor is the agent's child while the agent lives: reap it.
  std::thread([supervisor] {
    int status = 0;
    while (waitpid(supervisor, &status, 0) < 0 && errno == EINTR) {
    }
  }).detach();
  pid_t pid = 0;
  for (int i = 0; i < 500 && pid <= 0; ++i) {
    std::ifstream in(pid_path);
    if (!(in >> pid)) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::lock_guard<std::mutex> lock(mu_);
  tasks_[a.id()] = Entry{pid};
  return Status::Ok();
}

Result<int> TaskRunner::Stream(const std::string& id, int64_t stdout_offset, int64_t stderr_offset,
                               const std::function<void(int, const std::string&)>& output,
                               const std::function<bool()>& cancelled) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (tasks_.count(id) == 0) return Status::NotFound("allocation " + id + " has no task here");
    ++streams_[id];
  }
  struct Done {
    TaskRunner* runner;
    const std::string& id;
    ~Done() {
      std::lock_guard<std::mutex> lock(runner->mu_);
      if (--runner->streams_[id] == 0) runner->streams_.erase(id);
    }
  } done{this, id};
  const std::string folder = FolderOf(id);
  std::ifstream out(folder + "/stdout", std::ios::binary),
      err(folder + "/stderr", std::ios::binary);
  out.seekg(stdout_offset);
  err.seekg(stderr_offset);
  std::string buffer(size_t{64} * 1024, '\0');
  auto drain = [&](std::ifstream& in, int fd) {
    bool any = false;
    while (true) {
      in.clear();
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const std::streamsize n = in.gcount();
      if (n <= 0) break;
      output(fd, buffer.substr(0, static_cast<size_t>(n)));
      any = true;
    }
    return any;
  };
  while (true) {
    // The exit status first: output written before it is then surely in the files.
    const std::optional<int> code = ExitOf(id);
    const bool more = drain(out, 1) | drain(err, 2);
    if (code) return *code;
    if (cancelled()) return Status::FailedPrecondition("the caller went away");
    if (!more) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<v1::TaskReport> TaskRunner::Reports() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::TaskReport> reports;
  for (const auto& [id, entry] : tasks_) {
    const std::optional<int> code = ExitOf(id);
    v1::TaskReport r;
    r.set_allocation_id(id);
    r.set_running(!code);
    r.set_exit_code(code.value_or(0));
    reports.push_back(r);
  }
  return reports;
}

void TaskRunner::Forget(const std::vector<v1::TaskReport>& reported) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : reported) {
    if (r.running() || tasks_.count(r.allocation_id()) == 0) continue;
    if (streams_.count(r.allocation_id()) != 0) continue;  // reported again, forgotten later
    tasks_.erase(r.allocation_id());
    std::error_code ec;
    std::filesystem::remove_all(FolderOf(r.allocation_id()), ec);
    // The slice's segment, if the runtime made one: its processes are gone with the task.
    std::filesystem::remove(SlicePathOf(r.allocation_id()), ec);
  }
}

void TaskRunner::KillAllExcept(const std::set<std::string>& live) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, entry] : tasks_) {
    if (live.count(id) == 0 && entry.pid > 0 && !ExitOf(id)) kill(-entry.pid, SIGKILL);
  }
}

void TaskRunner::Terminate(const std::set<std::string>& ending) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, entry] : tasks_) {
    if (ending.count(id) == 0 || entry.terminated || entry.pid <= 0 || ExitOf(id)) continue;
    kill(-entry.pid, SIGTERM);
    entry.terminated = true;
  }
}

}  // namespace xpool::agent
