#include "cli/pool_client.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "core/signals.h"
#include "rpc/tls.h"

namespace xpool::cli {

std::atomic<grpc::ClientContext*> g_run_stream{nullptr};
std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_up_stop{false};

// Ctrl-C: `up` stops, `run` releases its allocation. Installed by those two commands only, before
// they start any thread (other commands keep the default signal behaviour).
void HandleInterrupts() {
  OnTerminationSignal([] {
    g_up_stop = true;
    g_interrupted = true;
    if (auto* ctx = g_run_stream.load()) ctx->TryCancel();
  });
}

int Fail(const std::string& message, int code) {
  std::cerr << "xpool: " << message << "\n";
  return code;
}

std::string StateDir() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : "/tmp") + "/.xpool";
}

// Where `xpool up` says it listens, so that the other commands find it.
std::string AddressFile() {
  return StateDir() + "/controller";
}

std::string ControllerAddress(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("XPOOL_CONTROLLER"); env != nullptr && *env != '\0') return env;
  std::ifstream in(AddressFile());
  std::string address;
  if (in >> address && !address.empty()) return address;
  return std::string(kDefaultController);
}

// A failed call, said plainly; exit 2 for what the user asked wrongly, 1 otherwise.
int RpcFail(const std::string& what, const grpc::Status& s, const std::string& address) {
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      // gRPC's message tells a refused connection from a failed TLS handshake.
      return Fail("no controller answers at " + address +
                      " (start one with 'xpool up', or set "
                      "--controller / XPOOL_CONTROLLER; with TLS, XPOOL_TLS_CA): " +
                      s.error_message(),
                  1);
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return Fail(what + ": " + s.error_message(), 2);
    default:
      return Fail(what + ": " + s.error_message(), 1);
  }
}

namespace {
// The user's credential, for a controller that checks them: XPOOL_TOKEN or ~/.xpool/token.
std::string UserToken() {
  if (const char* env = std::getenv("XPOOL_TOKEN"); env != nullptr && *env != '\0') return env;
  std::ifstream in(StateDir() + "/token");
  std::string token;
  in >> token;
  return token;
}
}  // namespace

void Authorize(grpc::ClientContext& context) {
  static const std::string token = UserToken();
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
}

// How calls reach the controller and the agents: over TLS, trusting the CA in XPOOL_TLS_CA (a
// PEM file), when that is set; plaintext otherwise. Read once.
const Result<std::shared_ptr<grpc::ChannelCredentials>>& PoolCredentials() {
  static const auto credentials = [] {
    const char* ca = std::getenv("XPOOL_TLS_CA");
    return rpc::ChannelCredentials(ca != nullptr ? ca : "");
  }();
  return credentials;
}

Result<Client> Client::Open(const std::string& flag) {
  const auto& credentials = PoolCredentials();
  if (!credentials.ok())
    return Status::InvalidArgument("XPOOL_TLS_CA: " + credentials.status().message());
  return Client(ControllerAddress(flag), *credentials);
}

std::unique_ptr<grpc::ClientContext> Client::Context() const {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  Authorize(*c);
  return c;
}

Client::Client(std::string controller, const std::shared_ptr<grpc::ChannelCredentials>& credentials)
    : address(std::move(controller)),
      channel(grpc::CreateChannel(address, credentials)),
      pool(v1::Pool::NewStub(channel)) {}

grpc::Status Client::ListEveryAllocation(bool include_released,
                                         v1::ListAllocationsResponse* all) const {
  all->Clear();
  v1::ListAllocationsRequest request;
  request.set_include_released(include_released);
  do {
    v1::ListAllocationsResponse page;
    auto ctx = Context();
    const grpc::Status s = pool->ListAllocations(ctx.get(), request, &page);
    if (!s.ok()) return s;
    for (auto& a : *page.mutable_allocations()) *all->add_allocations() = std::move(a);
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  return grpc::Status::OK;
}

}  // namespace xpool::cli
