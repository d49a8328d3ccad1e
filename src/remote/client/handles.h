// The driver handles the remote client gives the program. The client names every object itself
// (so creating one needs no round trip); a handle is a pointer to the client's record of it.
//
// Thread-safety: records are immutable after creation; the program owns their lifetime as it
// owns the real driver's handles.
#pragma once

#include <cstdint>

#include "remote/wire.h"
#include "runtime/driver_abi.h"

namespace xpool::remote {

struct RemoteObject {
  uint64_t id;
};
struct RemoteFunction {
  uint64_t id;
  ParamLayout layout;
};

inline uint64_t StreamId(CUstream s) {
  if (s == nullptr) return kNullStreamId;
  if (s == CU_STREAM_LEGACY) return kLegacyStreamId;
  if (s == CU_STREAM_PER_THREAD) return kPerThreadStreamId;
  return reinterpret_cast<const RemoteObject*>(s)->id;
}
template <typename Handle>
uint64_t IdOf(Handle h) {
  return h == nullptr ? 0 : reinterpret_cast<const RemoteObject*>(h)->id;
}
template <typename Handle>
Handle HandleOf(RemoteObject* o) {
  return reinterpret_cast<Handle>(o);
}

}  // namespace xpool::remote
