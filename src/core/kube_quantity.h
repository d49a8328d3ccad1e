// Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity) as the API server and
// users write them: "10000", the canonical "10k", "8Ki", "1e4", "1.5k", "10000000m". Parsed
// exactly (no floating point), so that a pod's request means the same number to xpool as to
// kube-scheduler and a ResourceQuota.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace xpool {

// The whole, non-negative number a quantity stands for. The grammar is the API's:
//   <signedNumber><suffix>; number = digits | digits.digits | digits. | .digits;
//   suffix = Ki Mi Gi Ti Pi Ei | m "" k M G T P E | e<signed integer> | E<signed integer>.
// Refused with a message that quotes the text: anything off the grammar, a value with a fraction
// ("1.5", "500m": extended resources are counts), a negative value, and one above 2^63-1.
Result<int64_t> ParseKubeWholeQuantity(std::string_view text);

}  // namespace xpool
