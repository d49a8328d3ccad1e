#include "agent/pod_resources.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>

#include "k8s/podresources/v1/api.grpc.pb.h"

namespace xpool::agent {

Result<std::vector<ListedContainer>> PodResourcesClient::List(const std::string& resource) const {
  auto stub = ::v1::PodResourcesLister::NewStub(
      grpc::CreateChannel("unix:" + socket_path_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ::v1::ListPodResourcesResponse response;
  const grpc::Status s = stub->List(&context, ::v1::ListPodResourcesRequest(), &response);
  if (!s.ok()) {
    return Status::IoError("the kubelet's pod-resources API at " + socket_path_ +
                           " did not answer: " + s.error_message());
  }
  std::vector<ListedContainer> out;
  for (const auto& pod : response.pod_resources()) {
    for (const auto& c : pod.containers()) {
      ListedContainer listed{pod.namespace_(), pod.name(), c.name(), {}};
      for (const auto& d : c.devices()) {
        if (d.resource_name() != resource) continue;
        listed.device_ids.insert(listed.device_ids.end(), d.device_ids().begin(),
                                 d.device_ids().end());
      }
      if (listed.device_ids.empty()) continue;
      std::sort(listed.device_ids.begin(), listed.device_ids.end());
      out.push_back(std::move(listed));
    }
  }
  return out;
}

}  // namespace xpool::agent
