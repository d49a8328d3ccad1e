// Runs a program as a separate process with extra environment, capturing its output: the
// runtime tests drive the real library through real processes, as a program would load it.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace xpool::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

using Env = std::map<std::string, std::string>;  // an empty value unsets the variable

class Process {
 public:
  Process(const std::vector<std::string>& argv, const Env& env);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  pid_t pid() const { return pid_; }
  void Kill(int signal);
  ProcessResult Wait();

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
};

inline ProcessResult RunProcess(const std::vector<std::string>& argv, const Env& env) {
  return Process(argv, env).Wait();
}

}  // namespace xpool::testing
