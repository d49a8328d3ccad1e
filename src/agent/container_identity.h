// Which container of which pod a set of device ids went to. The kubelet's PreStartContainer and
// Allocate calls carry device ids only; its pod-resources API lists, for every active pod, the
// device ids of its app containers (and restartable init containers), but not those of ordinary
// init containers. An init container's devices are either handed on to an app container of the
// same pod (the kubelet reuses them), or they are not listed at all: then the pod is the one whose
// containers the kubelet allocated right after it, since it admits one pod at a time and
// allocates a pod's init containers before its app containers.
//
// Thread-safety: plain values and a pure function.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "core/status.h"

namespace xpool::agent {

// One container of the pod-resources API's List, with its device ids of our resource, sorted.
struct ListedContainer {
  std::string pod_namespace;
  std::string pod_name;
  std::string container;
  std::vector<std::string> device_ids;
};

// One Allocate call the plugin answered: its device ids, sorted; older first.
struct AllocateRecord {
  std::vector<std::string> device_ids;
};

struct ContainerIdentity {
  std::string pod_namespace;
  std::string pod_name;
  std::string container;  // empty: an init container of the pod
  // The ids are exactly an app container's, which an init container of the pod may hold first.
  bool may_be_init_container = false;
};

// `ids` sorted. NotFound when no listed pod can be tied to them.
Result<ContainerIdentity> IdentifyContainer(const std::vector<std::string>& ids,
                                            const std::vector<ListedContainer>& listed,
                                            const std::deque<AllocateRecord>& records);

}  // namespace xpool::agent
