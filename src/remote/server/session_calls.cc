// Session::Execute: one call of the protocol on the real driver. Every payload is decoded with
// bounds checks; a malformed one is CUDA_ERROR_INVALID_VALUE, never a read past its end.
#include <cstring>

#include "remote/server/session.h"

namespace xpool::remote {

CUresult Session::Execute(const Frame& frame, std::vector<uint8_t>* reply) {
  Reader r(frame.payload.data(), frame.payload.size());
  Writer out(reply);
  auto complete = [&r] { return !r.failed() && r.at_end(); };
  switch (frame.header.op) {
    case Op::kMemAlloc: {
      const uint64_t bytes = r.U64();
      if (!complete()) return CUDA_ERROR_INVALID_VALUE;
      CUdeviceptr p = 0;
      const CUresult rc = cu_.MemAlloc(&p, bytes);
      out.U64(p);
      return rc;
    }
    case Op::kMemFree: {
      const CUdeviceptr p = r.U64();
      return complete() ? cu_.MemFree(p) : CUDA_ERROR_INVALID_VALUE;
    }
    case Op::kMemGetInfo: {
      size_t free_bytes = 0, total = 0;
      const CUresult rc = cu_.MemGetInfo(&free_bytes, &total);
      out.U64(free_bytes);
      out.U64(total);
      return rc;
    }
    case Op::kMemcpyHtoD: {
      const CUdeviceptr dst = r.U64();
      const uint64_t stream_id = r.U64();
      const std::string_view bytes = r.Rest();
      CUstream stream = nullptr;
      if (r.failed()) return CUDA_ERROR_INVALID_VALUE;
      if (!StreamOf(stream_id, &stream)) return CUDA_ERROR_INVALID_HANDLE;
      // From pageable memory the driver stages the bytes before it returns, so the frame's
      // buffer may be reused at once.
      return stream_id == kNullStreamId
                 ? cu_.MemcpyHtoD(dst, bytes.data(), bytes.size())
                 : cu_.MemcpyHtoDAsync(dst, bytes.data(), bytes.size(), stream);
    }
    case Op::kMemcpyDtoH:
      return CopyToHost(&r, frame.header.sequence);
    case Op::kMemcpyDtoD: {
      const CUdeviceptr dst = r.U64(), src = r.U64();
      const uint64_t bytes = r.U64(), stream_id = r.U64();
      CUstream stream = nullptr;
      if (!complete()) return CUDA_ERROR_INVALID_VALUE;
      if (!StreamOf(stream_id, &stream)) return CUDA_ERROR_INVALID_HANDLE;
      return cu_.MemcpyDtoDAsync(dst, src, bytes, stream);
    }
    case Op::kMemset: {
      const CUdeviceptr dst = r.U64();
      const uint32_t value = r.U32(), element = r.U32();
      const uint64_t count = r.U64(), stream_id = r.U64();
      CUstream stream = nullptr;
      if (!complete()) return CUDA_ERROR_INVALID_VALUE;
      if (!StreamOf(stream_id, &stream)) return CUDA_ERROR_INVALID_HANDLE;
      if (element == 1) return cu_.MemsetD8Async(dst, static_cast<uint8_t>(value), count, stream);
      if (element == 2) {
        return cu_.MemsetD16Async(dst, static_cast<uint16_t>(value), count, stream);
      }
      if (element == 4) return cu_.MemsetD32Async(dst, value, count, stream);
      return CUDA_ERROR_INVALID_VALUE;
    }
    case Op::kModuleLoad:
      return LoadModule(&r);
    case Op::kModuleUnload: {
      const uint64_t id = r.U64();
      auto it = modules_.find(id);
      if (!complete() || it == modules_.end()) return CUDA_ERROR_INVALID_HANDLE;
      const CUresult rc = cu_.ModuleUnload(it->second);
      modules_.erase(it);
      return rc;
    }
    case Op::kModuleGetFunction:
      return GetFunction(&r, reply);
    case Op::kLaunchKernel:
      return Launch(frame);
    case Op::kStreamCreate: {
      const uint64_t id = r.U64();
      const uint32_t flags = r.U32();
      const int32_t priority = r.I32();
      if (!complete() || id < kFirstClientId || streams_.count(id) != 0)
        return CUDA_ERROR_INVALID_VALUE;
      CUstream s = nullptr;
      const CUresult rc = cu_.StreamCreateWithPriority(&s, flags, priority);
      if (rc == CUDA_SUCCESS) streams_[id] = s;
      return rc;
    }
    case Op::kStreamDestroy: {
      const uint64_t id = r.U64();
      auto it = streams_.find(id);
      if (!complete() || it == streams_.end()) return CUDA_ERROR_INVALID_HANDLE;
      const CUresult rc = cu_.StreamDestroy(it->second);
      streams_.erase(it);
      return rc;
    }
    case Op::kStreamSynchronize:
    case Op::kStreamQuery: {
      const uint64_t id = r.U64();
      CUstream s = nullptr;
      if (!complete()) return CUDA_ERROR_INVALID_VALUE;
      if (!StreamOf(id, &s)) return CUDA_ERROR_INVALID_HANDLE;
      return frame.header.op == Op::kStreamQuery ? cu_.StreamQuery(s) : cu_.StreamSynchronize(s);
    }
    case Op::kStreamWaitEvent: {
      const uint64_t stream_id = r.U64(), event_id = r.U64();
      const uint32_t flags = r.U32();
      CUstream s = nullptr;
      CUevent e = nullptr;
      if (!complete()) return CUDA_ERROR_INVALID_VALUE;
      if (!StreamOf(stream_id, &s) || !EventOf(event_id, &e)) return CUDA_ERROR_INVALID_HANDLE;
      return cu_.StreamWaitEvent(s, e, flags);
    }
    case Op::kEventCreate: {
      const uint64_t id = r.U64();
      const uint32_t flags = r.U32();
      if (!complete() || id < kFirstClientId || events_.count(id) != 0)
        return CUDA_ERROR_INVALID_VALUE;
      CUevent e = nullptr;
      const CUresult rc = cu_.EventCreate(&e, flags);
      if (rc == CUDA_SUCCESS) events_[id] = e;
      return rc;
    }
    case Op::kEventDestroy: {
      const uint64_t id = r.U64();
      auto it = events_.find(id);
      if (!complete() || it == events_.end()) return CUDA_ERROR_INVALID_HANDLE;
      const CUresult rc = cu_.EventDestroy(it->second);
      events_.erase(it);
      return rc;
    }
    case Op::kEventRecord: {
      const uint64_t event_id = r.U64(), stream_id = r.U64();
      CUstream s = nullptr;
      CUevent e = nullptr;
      if (!complete()) return CUDA_ERROR_INVALID_VALUE;
      if (!StreamOf(stream_id, &s) || !EventOf(event_id, &e)) return CUDA_ERROR_INVALID_HANDLE;
      return cu_.EventRecord(e, s);
    }
    case Op::kEventSynchronize:
    case Op::kEventQuery: {
      const uint64_t id = r.U64();
      CUevent e = nullptr;
      if (!complete()) return CUDA_ERROR_INVALID_VALUE;
      if (!EventOf(id, &e)) return CUDA_ERROR_INVALID_HANDLE;
      return frame.header.op == Op::kEventQuery ? cu_.EventQuery(e) : cu_.EventSynchronize(e);
    }
    case Op::kEventElapsedTime: {
      const uint64_t start_id = r.U64(), end_id = r.U64();
      CUevent start = nullptr, end = nullptr;
      if (!complete()) return CUDA_ERROR_INVALID_VALUE;
      if (!EventOf(start_id, &start) || !EventOf(end_id, &end)) return CUDA_ERROR_INVALID_HANDLE;
      float ms = 0;
      const CUresult rc = cu_.EventElapsedTime(&ms, start, end);
      out.F32(ms);
      return rc;
    }
    case Op::kCtxSynchronize:
      return cu_.CtxSynchronize();
    default:
      return CUDA_ERROR_NOT_SUPPORTED;
  }
}

}  // namespace xpool::remote
