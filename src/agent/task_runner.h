// TaskRunner: runs the commands assigned to this node's allocations with the slice's quotas in
// their environment (and the pooling runtime preloaded when one is configured), as the user tasks
// run as. Tasks outlive the agent: each runs under a small supervisor process of its own (a fork
// of the agent, in its own session) that writes the task's pid and, at the end, its exit status
// into the task's folder under the state directory, next to its stdout and stderr files. An
// agent restarted with the same state directory re-adopts what is still running there, and
// streams output from those files to whoever attaches.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "runtime/compute_arbiter.h"
#include "xpool/v1/pool.pb.h"

namespace xpool::agent {

struct TaskOptions {
  std::string runtime_path;            // libxpool-cuda.so to preload; empty: none
  std::string slice_dir = "/dev/shm";  // where slices' shared segments live
  std::string run_as;                  // user name; required when the agent runs as root
  std::string state_dir;               // tasks' folders; default ~/.xpool/agent-<node>
};

class TaskRunner {
 public:
  // Checks the options (the run-as user exists; root only when asked for by name) and adopts the
  // tasks found in the state directory.
  static Result<std::unique_ptr<TaskRunner>> Create(const TaskOptions& options);

  // Starts argv on the allocation (one task per allocation).
  Status Start(const v1::Allocation& allocation, const std::vector<std::string>& argv);
  // Calls `output` with the task's output from the given offsets on (fd 1 or 2) until it ends,
  // then returns its exit status (128 + signal when killed). Stops early, with an error, once
  // `cancelled` says so. NotFound when the allocation has no task here.
  Result<int> Stream(const std::string& allocation_id, int64_t stdout_offset, int64_t stderr_offset,
                     const std::function<void(int fd, const std::string& chunk)>& output,
                     const std::function<bool()>& cancelled);

  // Running tasks, and ended ones the controller has not yet been told of.
  std::vector<v1::TaskReport> Reports();
  // The controller has heard of these ended tasks: they are forgotten (their folders removed).
  void Forget(const std::vector<v1::TaskReport>& reported);
  // Kills the task of every allocation not in `live`.
  void KillAllExcept(const std::set<std::string>& live);
  // Sends SIGTERM, once, to the task of each allocation in `ending` (being preempted: the
  // controller releases it after a grace period).
  void Terminate(const std::set<std::string>& ending);
  // Device memory an allocation's slice uses now, bytes per device index on the node, read from
  // the runtime's shared segment (empty when none of its processes loaded the runtime).
  std::map<int, int64_t> SliceBytesInUse(const std::string& allocation_id, int devices) const;
  // Device seconds the compute leases of an allocation's slice have held, over `devices` (the
  // node's arbitration segments, read once per heartbeat); 0 when it never used a compute share.
  double GpuSecondsUsed(const std::string& allocation_id,
                        const std::vector<runtime::ComputeDeviceUse>& devices) const;
  // Allocations whose tasks were adopted from the state directory at start.
  std::vector<std::string> Adopted() const;

  // The environment a task of `allocation` gets on top of the agent's.
  std::map<std::string, std::string> TaskEnvironment(const v1::Allocation& allocation) const;

 private:
  TaskRunner(TaskOptions options, uid_t uid, gid_t gid, bool switch_user);
  void Adopt();
  std::string FolderOf(const std::string& allocation_id) const;
  std::string SlicePathOf(const std::string& allocation_id) const;  // the runtime's segment
  // The task's exit status once its supervisor has recorded it.
  std::optional<int> ExitOf(const std::string& allocation_id) const;

  struct Entry {
    pid_t pid = 0;            // the task's, which is also its process group
    bool terminated = false;  // sent SIGTERM
  };

  TaskOptions options_;
  uid_t uid_;
  gid_t gid_;
  bool switch_user_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> tasks_;
  // Streams reading each task's folder: Forget leaves the folder until the last one has read
  // the exit status (it would otherwise wait for a status that was deleted).
  std::map<std::string, int> streams_;
  std::vector<std::string> adopted_;
};

}  // namespace xpool::agent
