// pool_call ADDRESS METHOD [TOKEN]: makes one xpool.v1 call with an empty request (and the token,
// if given) and prints the status code's name — for tests that every API checks credentials.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <string>

#include "xpool/v1/pool.grpc.pb.h"

namespace {
const char* Name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    default:
      return "OTHER";
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: pool_call ADDRESS METHOD [TOKEN]\n");
    return 2;
  }
  auto channel = grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (argc > 3) ctx.AddMetadata("authorization", std::string("Bearer ") + argv[3]);
  const std::string method = argv[2];
  grpc::Status s(grpc::StatusCode::UNIMPLEMENTED, "unknown method");
  auto pool = xpool::v1::Pool::NewStub(channel);
  auto agents = xpool::v1::Agents::NewStub(channel);
  xpool::v1::Allocation allocation;
  if (method == "Register") {
    xpool::v1::RegisterResponse r;
    s = agents->Register(&ctx, {}, &r);
  } else if (method == "Heartbeat") {
    xpool::v1::HeartbeatResponse r;
    s = agents->Heartbeat(&ctx, {}, &r);
  } else if (method == "Allocate") {
    s = pool->Allocate(&ctx, {}, &allocation);
  } else if (method == "Release") {
    s = pool->Release(&ctx, {}, &allocation);
  } else if (method == "GetAllocation") {
    s = pool->GetAllocation(&ctx, {}, &allocation);
  } else if (method == "ListAllocations") {
    xpool::v1::ListAllocationsResponse r;
    s = pool->ListAllocations(&ctx, {}, &r);
  } else if (method == "ListNodes") {
    xpool::v1::ListNodesResponse r;
    s = pool->ListNodes(&ctx, {}, &r);
  } else if (method == "WatchAllocations") {
    auto reader = pool->WatchAllocations(&ctx, {});
    xpool::v1::Allocation a;
    const bool answered = reader->Read(&a);
    if (answered) ctx.TryCancel();  // one answer is enough
    s = reader->Finish();
    if (answered) s = grpc::Status::OK;
  } else if (method == "Run") {
    auto tasks = xpool::v1::Tasks::NewStub(channel);
    xpool::v1::RunRequest request;
    request.set_allocation_id(argc > 4 ? argv[4] : "none");
    auto reader = tasks->Run(&ctx, request);
    xpool::v1::RunOutput out;
    while (reader->Read(&out)) {
    }
    s = reader->Finish();
  }
  std::printf("%s\n", Name(s.error_code()));
  return 0;
}
