// xpool's remote-GPU protocol: the frames a client (the program's libcuda.so.1) and a server (one
// process per client, beside the GPU) exchange over one TCP or unix stream, and their bounded
// encoders and decoders. Everything is little-endian; docs/remote.md gives the layout.
//
// A frame is a 16-byte header {u32 payload bytes, u16 op, u16 flags, u64 sequence} and a payload.
// The client numbers its requests; a request with kWantsReply gets exactly one kReply frame with
// the same sequence (result code first), possibly preceded by kData frames that carry bytes the
// request reads back. Requests without it are pipelined: the server runs them in order and keeps
// the first failure for the next reply. The server also sends kHeartbeat frames, so a silent link
// is a dead one.
//
// Thread-safety: the types here are values; Reader and Writer are not shared between threads.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace xpool::remote {

inline constexpr uint32_t kMagic = 0x4d525058;  // "XPRM"
inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr uint32_t kMaxFramePayload = 16u << 20;
// Host-to-device copies travel in pieces of this size, so that a large copy overlaps with the
// server's work and never needs one huge buffer.
inline constexpr uint32_t kCopyChunk = 4u << 20;
inline constexpr size_t kFrameHeaderBytes = 16;

enum class Op : uint16_t {
  kHello = 1,
  kWelcome = 2,
  kReply = 3,
  kData = 4,
  kHeartbeat = 5,
  // Driver calls.
  kMemAlloc = 32,
  kMemFree,
  kMemGetInfo,
  kMemcpyHtoD,         // {dst, stream, bytes...}
  kMemcpyDtoH,         // {src, bytes, stream}: kData frames {offset, bytes...}, then the reply
  kMemcpyDtoD,         // {dst, src, bytes, stream}
  kMemset,             // {dst, value, element bytes (1, 2, 4), count, stream}
  kModuleLoad,         // {module id, hash, image (empty when the server has the hash)}
  kModuleUnload,       // {module id}
  kModuleGetFunction,  // {function id, module id, name}: reply {count, (offset, size)...}
  kLaunchKernel,       // {function id, grid[3], block[3], shared bytes, stream, parameter bytes}
  kStreamCreate,       // {stream id, flags, priority}
  kStreamDestroy,
  kStreamSynchronize,
  kStreamQuery,
  kStreamWaitEvent,  // {stream, event, flags}
  kEventCreate,      // {event id, flags}
  kEventDestroy,
  kEventRecord,  // {event, stream}
  kEventSynchronize,
  kEventQuery,
  kEventElapsedTime,  // {start, end}: reply {float ms}
  kCtxSynchronize,
  kLastOp = kCtxSynchronize,
};

bool IsCallOp(uint16_t op);

inline constexpr uint16_t kWantsReply = 1;

// Object names: the client names streams, events, modules and functions from kFirstClientId up;
// the names below it are the driver's predefined streams.
inline constexpr uint64_t kNullStreamId = 0;
inline constexpr uint64_t kLegacyStreamId = 1;
inline constexpr uint64_t kPerThreadStreamId = 2;
inline constexpr uint64_t kFirstClientId = 16;

struct FrameHeader {
  uint32_t payload_bytes = 0;
  Op op = Op::kHeartbeat;
  uint16_t flags = 0;
  uint64_t sequence = 0;
};
void EncodeHeader(const FrameHeader& h, uint8_t out[kFrameHeaderBytes]);
// Refuses unknown ops and payloads over kMaxFramePayload.
Result<FrameHeader> DecodeHeader(const uint8_t in[kFrameHeaderBytes]);

// Appends little-endian values to a byte buffer.
class Writer {
 public:
  explicit Writer(std::vector<uint8_t>* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v) { Raw(&v, sizeof(v)); }
  void U32(uint32_t v) { Raw(&v, sizeof(v)); }
  void U64(uint64_t v) { Raw(&v, sizeof(v)); }
  void I32(int32_t v) { Raw(&v, sizeof(v)); }
  void F32(float v) { Raw(&v, sizeof(v)); }
  void Bytes(const void* data, size_t n) {
    U32(static_cast<uint32_t>(n));
    Raw(data, n);
  }
  void String(std::string_view s) { Bytes(s.data(), s.size()); }
  void Raw(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    out_->insert(out_->end(), p, p + n);
  }

 private:
  std::vector<uint8_t>* out_;
};

// Reads little-endian values from a payload; any read past the end sets failed() and yields
// zeros, so a decoder checks once at the end.
class Reader {
 public:
  Reader(const uint8_t* data, size_t n) : p_(data), end_(data + n) {}
  uint8_t U8() { return Take<uint8_t>(); }
  uint16_t U16() { return Take<uint16_t>(); }
  uint32_t U32() { return Take<uint32_t>(); }
  uint64_t U64() { return Take<uint64_t>(); }
  int32_t I32() { return Take<int32_t>(); }
  float F32() { return Take<float>(); }
  // A length-prefixed byte run, pointing into the payload.
  std::string_view Bytes() {
    const uint32_t n = U32();
    if (failed_ || static_cast<size_t>(end_ - p_) < n) {
      failed_ = true;
      return {};
    }
    std::string_view v(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return v;
  }
  // Whatever is left, without a length prefix.
  std::string_view Rest() {
    std::string_view v(reinterpret_cast<const char*>(p_), end_ - p_);
    p_ = end_;
    return v;
  }
  bool failed() const { return failed_; }
  bool at_end() const { return p_ == end_; }

 private:
  template <typename T>
  T Take() {
    T v{};
    if (failed_ || static_cast<size_t>(end_ - p_) < sizeof(T)) {
      failed_ = true;
      return v;
    }
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool failed_ = false;
};

// The session's first frame, client to server.
struct Hello {
  uint32_t magic = kMagic;
  uint16_t version = kProtocolVersion;
  std::string credential;  // the allocation's session credential; may be empty on loopback
  uint32_t client_pid = 0;
  std::string client_host;
  std::string gpu_memory;  // the slice's quota as the runtime reads it ("8Gi"); empty: server's
  std::string gpu_core;    // compute share in percent; empty: server's
};
void EncodeHello(const Hello& h, std::vector<uint8_t>* out);
Result<Hello> DecodeHello(const uint8_t* data, size_t n);

// What the client answers locally for the session's one device, taken when the session opens.
struct DeviceDescription {
  int32_t driver_version = 0;
  std::string name;
  uint8_t uuid[16] = {};
  uint64_t total_memory = 0;
  std::vector<int32_t> attributes;  // by CUdevice_attribute value; index 0 unused
};

// The server's answer to Hello: a result code (non-zero: the session is refused, and `reason`
// says why) and the device.
struct Welcome {
  int32_t result = 0;
  std::string reason;
  DeviceDescription device;
};
void EncodeWelcome(const Welcome& w, std::vector<uint8_t>* out);
Result<Welcome> DecodeWelcome(const uint8_t* data, size_t n);

// A kernel's parameters as cuFuncGetParamInfo describes them.
struct ParamLayout {
  struct Param {
    uint32_t offset;
    uint32_t size;
  };
  std::vector<Param> params;
  // Bytes of the packed parameter buffer: the end of the last parameter.
  uint32_t BufferBytes() const;
};
inline constexpr uint32_t kMaxKernelParams = 4096;
void EncodeParamLayout(const ParamLayout& p, std::vector<uint8_t>* out);
Result<ParamLayout> DecodeParamLayout(Reader* r);

// Kernel launches, the most frequent call: decoded by the server, fuzzed.
struct Launch {
  uint64_t function = 0;
  uint32_t grid[3] = {1, 1, 1};
  uint32_t block[3] = {1, 1, 1};
  uint32_t shared_bytes = 0;
  uint64_t stream = 0;
  std::string_view params;  // the packed parameter buffer, pointing into the payload
};
void EncodeLaunch(const Launch& l, std::vector<uint8_t>* out);
Result<Launch> DecodeLaunch(const uint8_t* data, size_t n);

// 64-bit FNV-1a of a module image, its key in the server's cache.
uint64_t ImageHash(const void* data, size_t n);

}  // namespace xpool::remote
