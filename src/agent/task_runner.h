// TaskRunner: runs the commands assigned to this node's allocations, each in its own process
// group, with the slice's quotas in its environment (and the pooling runtime preloaded when one
// is configured), as the user tasks run as. It remembers how each task ended until the
// controller has heard of it, and kills the tasks of allocations the controller no longer holds.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "xpool/v1/pool.pb.h"

namespace xpool::agent {

struct TaskOptions {
  std::string runtime_path;            // libxpool-cuda.so to preload; empty: none
  std::string slice_dir = "/dev/shm";  // where slices' shared segments live
  std::string run_as;                  // user name; required when the agent runs as root
};

class TaskRunner {
 public:
  // Checks the options (the run-as user exists; root only when asked for by name).
  static Result<std::unique_ptr<TaskRunner>> Create(const TaskOptions& options);

  // Runs argv on the allocation and calls `output` with each chunk it writes (fd 1 or 2) until it
  // exits; returns its exit code (128 + signal when killed). An allocation runs one task at a time.
  Result<int> Run(const v1::Allocation& allocation, const std::vector<std::string>& argv,
                  const std::function<void(int fd, const std::string& chunk)>& output);

  // Running tasks, and ended ones the controller has not yet been told of.
  std::vector<v1::TaskReport> Reports();
  // The controller has heard of these ended tasks: they are forgotten.
  void Forget(const std::vector<v1::TaskReport>& reported);
  // Kills the task of every allocation not in `live`.
  void KillAllExcept(const std::set<std::string>& live);

  // The environment a task of `allocation` gets on top of the agent's.
  std::map<std::string, std::string> TaskEnvironment(const v1::Allocation& allocation) const;

 private:
  TaskRunner(TaskOptions options, uid_t uid, gid_t gid, bool switch_user);

  struct Entry {
    pid_t pid = 0;
    bool running = false;
    int exit_code = 0;
  };

  TaskOptions options_;
  uid_t uid_;
  gid_t gid_;
  bool switch_user_;
  std::mutex mu_;
  std::map<std::string, Entry> tasks_;
};

}  // namespace xpool::agent
