#include "remote/wire.h"

#include <algorithm>

namespace xpool::remote {
namespace {

constexpr uint32_t kMaxStringBytes = 4096;
constexpr uint32_t kMaxAttributes = 1024;

Status Malformed(std::string_view what) {
  return Status::InvalidArgument("malformed " + std::string(what) + " frame");
}

}  // namespace

bool IsCallOp(uint16_t op) {
  return op >= static_cast<uint16_t>(Op::kMemAlloc) && op <= static_cast<uint16_t>(Op::kLastOp);
}

void EncodeHeader(const FrameHeader& h, uint8_t out[kFrameHeaderBytes]) {
  const auto op = static_cast<uint16_t>(h.op);
  std::memcpy(out, &h.payload_bytes, 4);
  std::memcpy(out + 4, &op, 2);
  std::memcpy(out + 6, &h.flags, 2);
  std::memcpy(out + 8, &h.sequence, 8);
}

Result<FrameHeader> DecodeHeader(const uint8_t in[kFrameHeaderBytes]) {
  FrameHeader h;
  uint16_t op = 0;
  std::memcpy(&h.payload_bytes, in, 4);
  std::memcpy(&op, in + 4, 2);
  std::memcpy(&h.flags, in + 6, 2);
  std::memcpy(&h.sequence, in + 8, 8);
  if (op < static_cast<uint16_t>(Op::kHello) ||
      (op > static_cast<uint16_t>(Op::kHeartbeat) && !IsCallOp(op))) {
    return Status::InvalidArgument("unknown frame op " + std::to_string(op));
  }
  if (h.payload_bytes > kMaxFramePayload) {
    return Status::InvalidArgument("frame of " + std::to_string(h.payload_bytes) +
                                   " bytes is over the limit of " +
                                   std::to_string(kMaxFramePayload));
  }
  h.op = static_cast<Op>(op);
  return h;
}

void EncodeHello(const Hello& h, std::vector<uint8_t>* out) {
  Writer w(out);
  w.U32(h.magic);
  w.U16(h.version);
  w.String(h.credential);
  w.U32(h.client_pid);
  w.String(h.client_host);
  w.String(h.gpu_memory);
  w.String(h.gpu_core);
}

Result<Hello> DecodeHello(const uint8_t* data, size_t n) {
  Reader r(data, n);
  Hello h;
  h.magic = r.U32();
  h.version = r.U16();
  if (r.failed() || h.magic != kMagic) return Status::InvalidArgument("not an xpool remote client");
  if (h.version != kProtocolVersion) {
    return Status::InvalidArgument("protocol version " + std::to_string(h.version) +
                                   " (this server speaks " + std::to_string(kProtocolVersion) +
                                   ")");
  }
  auto text = [&r](std::string* field) {
    const std::string_view v = r.Bytes();
    if (v.size() > kMaxStringBytes) return false;
    field->assign(v);
    return true;
  };
  bool ok = text(&h.credential);
  h.client_pid = r.U32();
  ok = ok && text(&h.client_host) && text(&h.gpu_memory) && text(&h.gpu_core);
  if (!ok || r.failed() || !r.at_end()) return Malformed("hello");
  return h;
}

void EncodeWelcome(const Welcome& w, std::vector<uint8_t>* out) {
  Writer wr(out);
  wr.I32(w.result);
  wr.String(w.reason);
  wr.I32(w.device.driver_version);
  wr.String(w.device.name);
  wr.Raw(w.device.uuid, sizeof(w.device.uuid));
  wr.U64(w.device.total_memory);
  wr.U32(static_cast<uint32_t>(w.device.attributes.size()));
  for (int32_t a : w.device.attributes) wr.I32(a);
}

Result<Welcome> DecodeWelcome(const uint8_t* data, size_t n) {
  Reader r(data, n);
  Welcome w;
  w.result = r.I32();
  const std::string_view reason = r.Bytes();
  w.device.driver_version = r.I32();
  const std::string_view name = r.Bytes();
  for (uint8_t& b : w.device.uuid) b = r.U8();
  w.device.total_memory = r.U64();
  const uint32_t count = r.U32();
  if (r.failed() || reason.size() > kMaxStringBytes || name.size() > kMaxStringBytes ||
      count > kMaxAttributes) {
    return Malformed("welcome");
  }
  w.reason.assign(reason);
  w.device.name.assign(name);
  w.device.attributes.reserve(count);
  for (uint32_t i = 0; i < count; ++i) w.device.attributes.push_back(r.I32());
  if (r.failed() || !r.at_end()) return Malformed("welcome");
  return w;
}

uint32_t ParamLayout::BufferBytes() const {
  uint32_t end = 0;
  for (const Param& p : params) end = std::max(end, p.offset + p.size);
  return end;
}

void EncodeParamLayout(const ParamLayout& p, std::vector<uint8_t>* out) {
  Writer w(out);
  w.U32(static_cast<uint32_t>(p.params.size()));
  for (const auto& param : p.params) {
    w.U32(param.offset);
    w.U32(param.size);
  }
}

Result<ParamLayout> DecodeParamLayout(Reader* r) {
  ParamLayout p;
  const uint32_t count = r->U32();
  if (r->failed() || count > kMaxKernelParams) return Malformed("parameter layout");
  for (uint32_t i = 0; i < count; ++i) {
    ParamLayout::Param param{r->U32(), r->U32()};
    // The driver's limit on a kernel's parameters is 32 KiB; anything past it is not a layout.
    if (param.offset > (1u << 20) || param.size > (1u << 20)) return Malformed("parameter layout");
    p.params.push_back(param);
  }
  if (r->failed()) return Malformed("parameter layout");
  return p;
}

void EncodeLaunch(const Launch& l, std::vector<uint8_t>* out) {
  Writer w(out);
  w.U64(l.function);
  for (uint32_t g : l.grid) w.U32(g);
  for (uint32_t b : l.block) w.U32(b);
  w.U32(l.shared_bytes);
  w.U64(l.stream);
  w.Bytes(l.params.data(), l.params.size());
}

Result<Launch> DecodeLaunch(const uint8_t* data, size_t n) {
  Reader r(data, n);
  Launch l;
  l.function = r.U64();
  for (uint32_t& g : l.grid) g = r.U32();
  for (uint32_t& b : l.block) b = r.U32();
  l.shared_bytes = r.U32();
  l.stream = r.U64();
  l.params = r.Bytes();
  if (r.failed() || !r.at_end()) return Malformed("launch");
  return l;
}

uint64_t ImageHash(const void* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace xpool::remote
