#include "remote/client/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "remote/client/client_log.h"
#include "remote/link.h"

namespace xpool::remote {
namespace {

// Producers wait while this much is queued, so a stream of large copies cannot take the
// program's memory.
constexpr size_t kQueueLimit = 64u << 20;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

}  // namespace

Result<ClientOptions> ClientOptionsFromEnvironment() {
  ClientOptions o;
  o.endpoint = Env("XPOOL_REMOTE");
  if (o.endpoint.empty()) {
    return Status::InvalidArgument("XPOOL_REMOTE is not set: name the server as HOST:PORT");
  }
  o.credential = Env("XPOOL_REMOTE_CREDENTIAL");
  if (const std::string file = Env("XPOOL_REMOTE_CREDENTIAL_FILE"); !file.empty()) {
    std::ifstream in(file);
    if (!in || !std::getline(in, o.credential)) {
      return Status::InvalidArgument("XPOOL_REMOTE_CREDENTIAL_FILE: cannot read '" + file + "'");
    }
  }
  o.gpu_memory = Env("XPOOL_GPU_MEMORY");
  o.gpu_core = Env("XPOOL_GPU_CORE");
  if (const std::string t = Env("XPOOL_REMOTE_TIMEOUT_MS"); !t.empty()) {
    char* end = nullptr;
    const long ms = std::strtol(t.c_str(), &end, 10);
    if (end == t.c_str() || *end != '\0' || ms < 100 || ms > 600000) {
      return Status::InvalidArgument("XPOOL_REMOTE_TIMEOUT_MS '" + t +
                                     "': give milliseconds from 100 to 600000");
    }
    o.timeout_ms = static_cast<int>(ms);
  }
  return o;
}

Connection* Connection::Get() {
  static Connection* session = []() -> Connection* {
    auto options = ClientOptionsFromEnvironment();
    if (!options.ok()) {
      ClientLog("%s", options.status().message().c_str());
      return nullptr;
    }
    auto fd = Dial(options->endpoint, options->timeout_ms);
    if (!fd.ok()) {
      ClientLog("cannot reach the GPU server %s: %s", options->endpoint.c_str(),
                fd.status().message().c_str());
      return nullptr;
    }
    Hello hello;
    hello.credential = options->credential;
    hello.client_pid = static_cast<uint32_t>(getpid());
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    hello.client_host = host;
    hello.gpu_memory = options->gpu_memory;
    hello.gpu_core = options->gpu_core;
    std::vector<uint8_t> payload;
    EncodeHello(hello, &payload);
    Frame frame;
    Status s = WriteFrame(*fd, Op::kHello, 0, 0, payload.data(), payload.size());
    // The server may take a while to bring the device up, but it answers within the timeout.
    while (s.ok()) {
      s = ReadFrame(*fd, &frame, options->timeout_ms * 4);
      if (!s.ok() || frame.header.op != Op::kHeartbeat) break;
    }
    if (s.ok() && frame.header.op != Op::kWelcome) s = Status::IoError("the server did not greet");
    Result<Welcome> welcome =
        s.ok() ? DecodeWelcome(frame.payload.data(), frame.payload.size()) : Result<Welcome>(s);
    if (!welcome.ok()) {
      ClientLog("session with %s failed: %s", options->endpoint.c_str(),
                welcome.status().message().c_str());
      close(*fd);
      return nullptr;
    }
    if (welcome->result != CUDA_SUCCESS) {
      ClientLog("the GPU server %s refused the session: %s", options->endpoint.c_str(),
                welcome->reason.c_str());
      close(*fd);
      return nullptr;
    }
    // Never destroyed: the program's threads may call the driver while it exits.
    return new Connection(*fd, std::move(welcome->device), options->timeout_ms);
  }();
  return session;
}

Connection::Connection(int fd, DeviceDescription device, int timeout_ms)
    : fd_(fd), device_(std::move(device)), timeout_ms_(timeout_ms) {
  writer_ = std::thread([this] { WriterLoop(); });
  reader_ = std::thread([this] { ReaderLoop(); });
  writer_.detach();
  reader_.detach();
}

uint64_t Connection::NewId() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_id_++;
}

uint64_t Connection::Enqueue(Op op, uint16_t flags, const std::vector<uint8_t>& payload,
                             std::unique_lock<std::mutex>& lock) {
  drained_.wait(lock, [this] { return dead_ || queue_.size() < kQueueLimit; });
  if (dead_) return 0;
  const uint64_t sequence = next_sequence_++;
  uint8_t header[kFrameHeaderBytes];
  EncodeHeader(FrameHeader{static_cast<uint32_t>(payload.size()), op, flags, sequence}, header);
  const bool was_empty = queue_.empty();
  queue_.insert(queue_.end(), header, header + sizeof(header));
  queue_.insert(queue_.end(), payload.begin(), payload.end());
  if (was_empty && !writing_) queued_.notify_one();
  return sequence;
}

CUresult Connection::Post(Op op, const std::vector<uint8_t>& payload) {
  std::unique_lock<std::mutex> lock(mu_);
  return Enqueue(op, 0, payload, lock) != 0 ? CUDA_SUCCESS : CUDA_ERROR_DEVICE_UNAVAILABLE;
}

CUresult Connection::PostRead(Op op, const std::vector<uint8_t>& payload, void* read_into,
                              size_t read_bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t sequence = Enqueue(op, kWantsReply, payload, lock);
  if (sequence == 0) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  reads_[sequence] = ReadTarget{static_cast<uint8_t*>(read_into), read_bytes};
  return CUDA_SUCCESS;
}

CUresult Connection::Call(Op op, const std::vector<uint8_t>& payload, std::vector<uint8_t>* reply,
                          void* read_into, size_t read_bytes) {
  Waiter waiter;
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t sequence = Enqueue(op, kWantsReply, payload, lock);
  if (sequence == 0) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  waiters_[sequence] = &waiter;
  if (read_into != nullptr) {
    reads_[sequence] = ReadTarget{static_cast<uint8_t*>(read_into), read_bytes};
  }
  // A caller that waits writes the queue itself when nobody else is: one thread hop fewer on
  // the round trip.
  Flush(lock);
  replied_.wait(lock, [&] { return waiter.done || dead_; });
  waiters_.erase(sequence);
  reads_.erase(sequence);
  if (!waiter.done) return CUDA_ERROR_DEVICE_UNAVAILABLE;
  if (reply != nullptr) *reply = std::move(waiter.reply);
  if (waiter.result == CUDA_SUCCESS && deferred_ != CUDA_SUCCESS) {
    const CUresult earlier = deferred_;
    deferred_ = CUDA_SUCCESS;
    return earlier;
  }
  return waiter.result;
}

void Connection::Flush(std::unique_lock<std::mutex>& lock) {
  while (!dead_ && !writing_ && !queue_.empty()) {
    writing_ = true;
    std::vector<uint8_t> batch;
    batch.swap(queue_);
    drained_.notify_all();
    lock.unlock();
    const Status s = WriteAll(fd_, batch.data(), batch.size());
    lock.lock();
    writing_ = false;
    if (!s.ok()) {
      lock.unlock();
      MarkDead(s.message());
      lock.lock();
      return;
    }
  }
}

void Connection::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    queued_.wait(lock, [this] { return dead_ || (!queue_.empty() && !writing_); });
    if (dead_) return;
    Flush(lock);
  }
}

void Connection::ReaderLoop() {
  Frame frame;
  for (;;) {
    if (Status s = ReadFrame(fd_, &frame, timeout_ms_); !s.ok()) {
      MarkDead(s.message());
      return;
    }
    const uint64_t sequence = frame.header.sequence;
    if (frame.header.op == Op::kData) {
      Reader r(frame.payload.data(), frame.payload.size());
      const uint64_t offset = r.U64();
      const std::string_view bytes = r.Rest();
      ReadTarget target{nullptr, 0};
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (auto it = reads_.find(sequence); it != reads_.end()) target = it->second;
      }
      // The reply that ends this read comes after its data, so the target stays valid here.
      if (r.failed() || target.into == nullptr || offset > target.bytes ||
          bytes.size() > target.bytes - offset) {
        MarkDead("the server sent data the client did not ask for");
        return;
      }
      std::memcpy(target.into + offset, bytes.data(), bytes.size());
    } else if (frame.header.op == Op::kReply) {
      Reader r(frame.payload.data(), frame.payload.size());
      const CUresult result = r.I32();
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = waiters_.find(sequence); it != waiters_.end()) {
        it->second->done = true;
        it->second->result = result;
        it->second->reply.assign(frame.payload.begin() + std::min<size_t>(4, frame.payload.size()),
                                 frame.payload.end());
        replied_.notify_all();
      } else {
        reads_.erase(sequence);
        if (result != CUDA_SUCCESS && deferred_ == CUDA_SUCCESS) deferred_ = result;
      }
    } else if (frame.header.op != Op::kHeartbeat) {
      MarkDead("unexpected frame from the server");
      return;
    }
  }
}

void Connection::MarkDead(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (dead_) return;
  dead_ = true;
  ClientLog("link to the GPU server lost: %s; device calls now fail", reason.c_str());
  shutdown(fd_, SHUT_RDWR);
  queued_.notify_all();
  drained_.notify_all();
  replied_.notify_all();
}

}  // namespace xpool::remote
