// The client's one session with its server: opened on the program's first driver call from the
// environment (XPOOL_REMOTE and friends, docs/remote.md), then shared by every thread.
//
// Calls whose results the program does not read are appended to a send queue and return at once;
// a writer thread drains the queue in order. Calls that wait append their request and block until
// a reader thread hands them the matching reply. A link silent for the timeout (the server sends
// heartbeats) is dead: every waiting and later call fails with CUDA_ERROR_DEVICE_UNAVAILABLE.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "remote/wire.h"
#include "runtime/driver_abi.h"

namespace xpool::remote {

struct ClientOptions {
  std::string endpoint;
  std::string credential;
  std::string gpu_memory;
  std::string gpu_core;
  int timeout_ms = 5000;
};
// Reads the options from the environment; a malformed value is an error naming it.
Result<ClientOptions> ClientOptionsFromEnvironment();

class Connection {
 public:
  // The process's session, opened on first use; nullptr when it cannot be opened (logged once).
  static Connection* Get();

  const DeviceDescription& device() const { return device_; }
  // A fresh handle id for an object the client names (streams, events, modules, functions).
  uint64_t NewId();

  // Queues a call that nobody waits for. Its failure, if any, is reported by a later Call.
  CUresult Post(Op op, const std::vector<uint8_t>& payload);
  // Sends a call and waits for its reply; `reply` gets the payload after the result code. Bytes
  // the server sends back in kData frames land in [read_into, read_into + read_bytes).
  CUresult Call(Op op, const std::vector<uint8_t>& payload, std::vector<uint8_t>* reply = nullptr,
                void* read_into = nullptr, size_t read_bytes = 0);
  // Queues a call whose kData frames land in `read_into` when the server gets to it (an
  // asynchronous device-to-host copy); the program learns it is done by synchronising.
  CUresult PostRead(Op op, const std::vector<uint8_t>& payload, void* read_into, size_t read_bytes);

 private:
  struct Waiter {
    bool done = false;
    CUresult result = CUDA_SUCCESS;
    std::vector<uint8_t> reply;
    bool waited = true;  // false for PostRead: nobody waits, the reply only ends the read
  };
  struct ReadTarget {
    uint8_t* into;
    size_t bytes;
  };

  Connection(int fd, DeviceDescription device, int timeout_ms);
  // Appends one frame to the send queue; returns its sequence, or 0 when the link is dead.
  uint64_t Enqueue(Op op, uint16_t flags, const std::vector<uint8_t>& payload,
                   std::unique_lock<std::mutex>& lock);
  // Writes the queue out unless another thread is writing it; called with mu_ held.
  void Flush(std::unique_lock<std::mutex>& lock);
  void WriterLoop();
  void ReaderLoop();
  void MarkDead(const std::string& reason);

  const int fd_;
  const DeviceDescription device_;
  const int timeout_ms_;

  std::mutex mu_;
  std::condition_variable queued_;   // the writer waits for frames
  std::condition_variable drained_;  // producers wait for room in the queue
  std::condition_variable replied_;
  std::vector<uint8_t> queue_;  // encoded frames not yet written
  uint64_t next_sequence_ = 1;
  uint64_t next_id_ = kFirstClientId;
  std::map<uint64_t, Waiter*> waiters_;
  std::map<uint64_t, ReadTarget> reads_;
  CUresult deferred_ = CUDA_SUCCESS;  // a failure reported by a reply nobody waited for
  bool dead_ = false;
  bool writing_ = false;  // a thread is writing a batch taken from the queue
  std::thread writer_;
  std::thread reader_;
};

}  // namespace xpool::remote
