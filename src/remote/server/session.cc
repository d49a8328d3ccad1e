#include "remote/server/session.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <thread>

namespace xpool::remote {
namespace {

void LogLine(const std::string& client, const std::string& text) {
  std::fprintf(stderr, "xpool-remote-server: session of %s: %s\n", client.c_str(), text.c_str());
}

}  // namespace

Session::Session(int fd, const RealDriver& driver, SessionOptions options)
    : fd_(fd), cu_(driver), options_(std::move(options)) {}

bool Session::StreamOf(uint64_t id, CUstream* stream) const {
  if (id == kNullStreamId)
    *stream = nullptr;
  else if (id == kLegacyStreamId)
    *stream = CU_STREAM_LEGACY;
  else if (id == kPerThreadStreamId)
    *stream = CU_STREAM_PER_THREAD;
  else {
    auto it = streams_.find(id);
    if (it == streams_.end()) return false;
    *stream = it->second;
  }
  return true;
}

bool Session::EventOf(uint64_t id, CUevent* event) const {
  auto it = events_.find(id);
  if (it == events_.end()) return false;
  *event = it->second;
  return true;
}

Status Session::Send(Op op, uint64_t sequence, const std::vector<uint8_t>& payload) {
  std::lock_guard<std::mutex> lock(write_mu_);
  return WriteFrame(fd_, op, 0, sequence, payload.data(), payload.size());
}

void Session::Heartbeats() {
  std::unique_lock<std::mutex> lock(write_mu_);
  for (;;) {
    if (stopped_.wait_for(lock, std::chrono::milliseconds(options_.heartbeat_ms),
                          [this] { return stop_; })) {
      return;
    }
    if (!WriteFrame(fd_, Op::kHeartbeat, 0, 0, nullptr, 0).ok()) return;
  }
}

Status Session::Welcome() {
  remote::Welcome w;
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  CUresult rc = cu_.Init(0);
  if (rc == CUDA_SUCCESS) rc = cu_.DeviceGet(&dev, 0);
  if (rc == CUDA_SUCCESS) rc = cu_.PrimaryCtxRetain(&ctx, dev);
  if (rc == CUDA_SUCCESS) rc = cu_.CtxSetCurrent(ctx);
  if (rc == CUDA_SUCCESS) {
    char name[256] = {};
    CUuuid uuid{};
    size_t total = 0;
    cu_.DriverGetVersion(&w.device.driver_version);
    cu_.DeviceGetName(name, sizeof(name) - 1, dev);
    cu_.DeviceGetUuid(&uuid, dev);
    // Through the runtime, the slice's quota: what the program may use.
    cu_.DeviceTotalMem(&total, dev);
    w.device.name = name;
    std::memcpy(w.device.uuid, uuid.bytes, sizeof(w.device.uuid));
    w.device.total_memory = total;
    w.device.attributes.assign(kDeviceAttributeEnd, INT32_MIN);
    for (int a = 1; a < kDeviceAttributeEnd; ++a) {
      int v = 0;
      if (cu_.DeviceGetAttribute(&v, a, dev) == CUDA_SUCCESS) w.device.attributes[a] = v;
    }
  } else {
    w.result = rc;
    w.reason = "the GPU node's driver failed to bring the device up (CUDA error " +
               std::to_string(rc) + ")";
  }
  std::vector<uint8_t> payload;
  EncodeWelcome(w, &payload);
  if (Status s = Send(Op::kWelcome, 0, payload); !s.ok()) return s;
  if (w.result != CUDA_SUCCESS) return Status::FailedPrecondition(w.reason);
  return Status::Ok();
}

int Session::Run() {
  std::thread heartbeats([this] { Heartbeats(); });
  int exit_code = 0;
  if (Status s = Welcome(); !s.ok()) {
    LogLine(options_.client, s.message());
    exit_code = 1;
  } else {
    Frame frame;
    std::vector<uint8_t> reply;
    for (;;) {
      // The client may stay quiet as long as it likes; a dead one closes the connection.
      if (Status s = ReadFrame(fd_, &frame, -1); !s.ok()) {
        if (s.message() != "the peer closed the connection") LogLine(options_.client, s.message());
        break;
      }
      if (!IsCallOp(static_cast<uint16_t>(frame.header.op))) {
        LogLine(options_.client, "unexpected frame; closing");
        exit_code = 1;
        break;
      }
      reply.assign(4, 0);
      CUresult rc = Execute(frame, &reply);
      if ((frame.header.flags & kWantsReply) == 0) {
        if (rc != CUDA_SUCCESS && deferred_ == CUDA_SUCCESS) deferred_ = rc;
        continue;
      }
      if (rc == CUDA_SUCCESS && deferred_ != CUDA_SUCCESS) {
        rc = deferred_;
        deferred_ = CUDA_SUCCESS;
      }
      std::memcpy(reply.data(), &rc, sizeof(rc));
      if (!Send(Op::kReply, frame.header.sequence, reply).ok()) break;
    }
  }
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    stop_ = true;
  }
  stopped_.notify_all();
  heartbeats.join();
  return exit_code;
}

CUresult Session::CopyToHost(Reader* r, uint64_t sequence) {
  const CUdeviceptr src = r->U64();
  const uint64_t bytes = r->U64();
  const uint64_t stream_id = r->U64();
  if (r->failed() || !r->at_end()) return CUDA_ERROR_INVALID_VALUE;
  CUstream stream = nullptr;
  if (!StreamOf(stream_id, &stream)) return CUDA_ERROR_INVALID_HANDLE;
  // An asynchronous copy reads what its stream has written by then.
  if (stream_id != kNullStreamId) {
    if (CUresult rc = cu_.StreamSynchronize(stream); rc != CUDA_SUCCESS) return rc;
  }
  for (uint64_t done = 0; done < bytes;) {
    const uint64_t part = std::min<uint64_t>(bytes - done, kCopyChunk);
    staging_.resize(sizeof(done) + part);
    std::memcpy(staging_.data(), &done, sizeof(done));
    if (CUresult rc = cu_.MemcpyDtoH(staging_.data() + sizeof(done), src + done, part);
        rc != CUDA_SUCCESS) {
      return rc;
    }
    if (!Send(Op::kData, sequence, staging_).ok()) return CUDA_ERROR_DEVICE_UNAVAILABLE;
    done += part;
  }
  return CUDA_SUCCESS;
}

CUresult Session::LoadModule(Reader* r) {
  const uint64_t id = r->U64();
  const uint64_t hash = r->U64();
  const uint64_t total = r->U64();
  const uint64_t offset = r->U64();
  const std::string_view part = r->Rest();
  if (r->failed() || id < kFirstClientId || modules_.count(id) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto cached = images_.find(hash);
  if (total > 0) {
    PendingImage& pending = arriving_[hash];
    if (offset == 0) pending = PendingImage{total, {}};
    if (pending.total != total || offset != pending.bytes.size() || part.size() > total - offset) {
      arriving_.erase(hash);
      return CUDA_ERROR_INVALID_VALUE;
    }
    pending.bytes.append(part);
    if (pending.bytes.size() < total) return CUDA_SUCCESS;  // more parts follow
    if (ImageHash(pending.bytes.data(), pending.bytes.size()) != hash) {
      arriving_.erase(hash);
      return CUDA_ERROR_INVALID_IMAGE;
    }
    cached = images_.insert_or_assign(hash, std::move(pending.bytes)).first;
    arriving_.erase(hash);
  }
  if (cached == images_.end()) return CUDA_ERROR_INVALID_IMAGE;  // a hash the server never got
  CUmodule module = nullptr;
  const CUresult rc = cu_.ModuleLoadData(&module, cached->second.data());
  if (rc == CUDA_SUCCESS) modules_[id] = module;
  return rc;
}

CUresult Session::GetFunction(Reader* r, std::vector<uint8_t>* reply) {
  const uint64_t id = r->U64();
  const uint64_t module_id = r->U64();
  const std::string name(r->Bytes());
  if (r->failed() || !r->at_end() || id < kFirstClientId || functions_.count(id) != 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  auto module = modules_.find(module_id);
  if (module == modules_.end()) return CUDA_ERROR_INVALID_HANDLE;
  Function f{};
  CUresult rc = cu_.ModuleGetFunction(&f.handle, module->second, name.c_str());
  if (rc != CUDA_SUCCESS) return rc;
  for (size_t i = 0; i < kMaxKernelParams; ++i) {
    size_t offset = 0, size = 0;
    if (cu_.FuncGetParamInfo(f.handle, i, &offset, &size) != CUDA_SUCCESS) break;
    f.layout.params.push_back(
        ParamLayout::Param{static_cast<uint32_t>(offset), static_cast<uint32_t>(size)});
  }
  EncodeParamLayout(f.layout, reply);
  functions_[id] = std::move(f);
  return CUDA_SUCCESS;
}

CUresult Session::Launch(const Frame& frame) {
  auto launch = DecodeLaunch(frame.payload.data(), frame.payload.size());
  if (!launch.ok()) return CUDA_ERROR_INVALID_VALUE;
  auto f = functions_.find(launch->function);
  if (f == functions_.end()) return CUDA_ERROR_INVALID_HANDLE;
  CUstream stream = nullptr;
  if (!StreamOf(launch->stream, &stream)) return CUDA_ERROR_INVALID_HANDLE;
  const ParamLayout& layout = f->second.layout;
  if (launch->params.size() != layout.BufferBytes()) return CUDA_ERROR_INVALID_VALUE;
  thread_local std::vector<void*> args;
  args.resize(layout.params.size());
  // The packed buffer lives in the frame, which outlives the call; the driver copies parameters
  // at launch.
  auto* base = const_cast<char*>(launch->params.data());
  for (size_t i = 0; i < layout.params.size(); ++i) args[i] = base + layout.params[i].offset;
  return cu_.LaunchKernel(f->second.handle, launch->grid[0], launch->grid[1], launch->grid[2],
                          launch->block[0], launch->block[1], launch->block[2],
                          launch->shared_bytes, stream, args.empty() ? nullptr : args.data(),
                          nullptr);
}

}  // namespace xpool::remote
