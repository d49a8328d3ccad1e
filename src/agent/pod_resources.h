// A client of the kubelet's pod-resources API (v1 List): which device ids of one resource each
// container of each active pod holds.
//
// Thread-safety: PodResourcesClient may be used from any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/container_identity.h"
#include "core/status.h"

namespace xpool::agent {

inline constexpr const char* kDefaultPodResourcesSocket =
    "/var/lib/kubelet/pod-resources/kubelet.sock";

class PodResourcesClient {
 public:
  explicit PodResourcesClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}
  // The containers that hold devices of `resource`, their ids sorted. IoError when the kubelet
  // does not answer within 5 s.
  Result<std::vector<ListedContainer>> List(const std::string& resource) const;
  const std::string& socket_path() const { return socket_path_; }

 private:
  std::string socket_path_;
};

}  // namespace xpool::agent
