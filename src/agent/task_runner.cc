#include "agent/task_runner.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>

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
  return std::unique_ptr<TaskRunner>(new TaskRunner(options, uid, gid, switch_user));
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
    visible += (visible.empty() ? "" : ",") + std::to_string(s.device_index());
    memory = s.memory_mib();
    milli = s.compute_milli();
  }
  if (!a.slices().empty()) {
    env["CUDA_VISIBLE_DEVICES"] = visible;
    env["XPOOL_GPU_MEMORY"] = std::to_string(memory);
    if (milli < 1000) env["XPOOL_GPU_CORE"] = std::to_string(milli / 10);
    env["XPOOL_SLICE"] = options_.slice_dir + "/xpool-slice-" + a.id();
  }
  if (!options_.runtime_path.empty()) env["LD_PRELOAD"] = options_.runtime_path;
  return env;
}

Result<int> TaskRunner::Run(const v1::Allocation& a, const std::vector<std::string>& argv,
                            const std::function<void(int, const std::string&)>& output) {
  if (argv.empty()) return Status::InvalidArgument("no command to run");
  const std::string executable = ResolveExecutable(argv[0]);
  if (executable.empty())
    return Status::NotFound("command '" + argv[0] + "' not found on " + a.node());
  // Everything the child needs is built before fork.
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

  std::array<int, 2> out{-1, -1}, err{-1, -1};
  if (pipe2(out.data(), O_CLOEXEC) != 0 || pipe2(err.data(), O_CLOEXEC) != 0) {
    return Status::IoError(std::string("pipe: ") + std::strerror(errno));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(a.id());
    if (it != tasks_.end() && it->second.running) {
      for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
      return Status::FailedPrecondition("allocation " + a.id() + " already runs a task");
    }
  }
  const pid_t pid = fork();
  if (pid < 0) return Status::IoError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    sigset_t none;  // the agent blocks the termination signals for its own handling thread
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    setpgid(0, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (switch_user_ && (setgroups(0, nullptr) != 0 || setgid(gid_) != 0 || setuid(uid_) != 0)) {
      _exit(126);
    }
    execve(executable.c_str(), argp.data(), envp.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_[a.id()] = Entry{pid, true, 0};
  }
  std::array<pollfd, 2> fds{pollfd{out[0], POLLIN, 0}, pollfd{err[0], POLLIN, 0}};
  int open_fds = 2;
  std::string buffer(size_t{64} * 1024, '\0');
  while (open_fds > 0) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (auto& p : fds) {
      if (p.fd < 0 || p.revents == 0) continue;
      const ssize_t n = read(p.fd, buffer.data(), buffer.size());
      if (n > 0) {
        output(p.fd == out[0] ? 1 : 2, buffer.substr(0, static_cast<size_t>(n)));
      } else if (n == 0 || errno != EINTR) {
        close(p.fd);
        p.fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const int code = ExitCodeOf(status);
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_[a.id()] = Entry{pid, false, code};
  }
  return code;
}

std::vector<v1::TaskReport> TaskRunner::Reports() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::TaskReport> reports;
  for (const auto& [id, entry] : tasks_) {
    v1::TaskReport r;
    r.set_allocation_id(id);
    r.set_running(entry.running);
    r.set_exit_code(entry.exit_code);
    reports.push_back(r);
  }
  return reports;
}

void TaskRunner::Forget(const std::vector<v1::TaskReport>& reported) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& r : reported) {
    auto it = tasks_.find(r.allocation_id());
    if (!r.running() && it != tasks_.end() && !it->second.running) tasks_.erase(it);
  }
}

void TaskRunner::KillAllExcept(const std::set<std::string>& live) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, entry] : tasks_) {
    if (entry.running && live.count(id) == 0) kill(-entry.pid, SIGKILL);
  }
}

}  // namespace xpool::agent
