// What the controller accepts from agents and users, checked at the edge of the domain: names
// (lengths, characters), counts and quantities in range, ids unique. Anything else is refused
// with one line naming the field, before it reaches the pool or the store (issue 28 item 5).
#pragma once

#include "core/status.h"
#include "xpool/v1/pool.pb.h"

namespace xpool::controller {

inline constexpr int kMaxDevicesPerNode = 256;

// A node as its agent registers it.
Status ValidateNode(const v1::Node& node);
// The names and sizes of a request (its quantities are checked where they are compiled).
Status ValidateRequestFields(const v1::AllocateRequest& request);

}  // namespace xpool::controller
