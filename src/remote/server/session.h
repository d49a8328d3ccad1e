// One client's session on the GPU node: runs the calls that arrive on its connection, in order,
// on the real driver, and answers those that want a reply. Objects are named by the client; the
// session maps the names to the driver's handles. A pipelined call that fails keeps its error for
// the next reply, as the driver reports an asynchronous failure at the next synchronisation.
//
// Thread-safety: Run executes on one thread; a heartbeat thread shares only the write lock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "remote/link.h"
#include "remote/server/real_driver.h"
#include "remote/wire.h"

namespace xpool::remote {

struct SessionOptions {
  int heartbeat_ms = 500;
  std::string client;  // "HOST pid N", for log lines
};

class Session {
 public:
  Session(int fd, const RealDriver& driver, SessionOptions options);
  // Brings the device up and answers the client's hello; then serves until the client leaves or
  // the link fails. Returns the process's exit code.
  int Run();

 private:
  struct Function {
    CUfunction handle;
    ParamLayout layout;
  };
  struct PendingImage {
    uint64_t total = 0;
    std::string bytes;
  };

  Status Welcome();
  // Runs one call; fills `reply` (after the result code) for calls that have one.
  CUresult Execute(const Frame& frame, std::vector<uint8_t>* reply);
  CUresult CopyToHost(Reader* r, uint64_t sequence);
  CUresult LoadModule(Reader* r);
  CUresult GetFunction(Reader* r, std::vector<uint8_t>* reply);
  CUresult Launch(const Frame& frame);
  Status Send(Op op, uint64_t sequence, const std::vector<uint8_t>& payload);
  void Heartbeats();

  // The driver's handle for a client's stream name; false for a name it never created.
  bool StreamOf(uint64_t id, CUstream* stream) const;
  bool EventOf(uint64_t id, CUevent* event) const;

  const int fd_;
  const RealDriver& cu_;
  const SessionOptions options_;
  std::mutex write_mu_;
  std::condition_variable stopped_;
  bool stop_ = false;  // guarded by write_mu_

  std::unordered_map<uint64_t, CUstream> streams_;
  std::unordered_map<uint64_t, CUevent> events_;
  std::unordered_map<uint64_t, CUmodule> modules_;
  std::unordered_map<uint64_t, Function> functions_;
  std::unordered_map<uint64_t, std::string> images_;  // by hash: each travels once per session
  std::map<uint64_t, PendingImage> arriving_;         // images arriving in parts, by hash
  CUresult deferred_ = CUDA_SUCCESS;
  std::vector<uint8_t> staging_;  // device-to-host copies pass through here
};

}  // namespace xpool::remote
