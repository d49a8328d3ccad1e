// What every pool command shares: how the controller is found and reached (address, TLS, the
// user's token), failure messages and exit codes, and Ctrl-C handling for `run` and `up`.
// Thread-safety: the interrupt flags are atomics; the rest is called from the main thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "xpool/v1/pool.grpc.pb.h"

namespace xpool::cli {

inline constexpr std::string_view kDefaultController = "127.0.0.1:7070";

extern std::atomic<grpc::ClientContext*>
    g_run_stream;  // `run`'s output stream, cancelled on Ctrl-C
extern std::atomic<bool> g_interrupted;
extern std::atomic<bool> g_up_stop;

// Ctrl-C: `up` stops, `run` releases its allocation. Installed by those two commands only, before
// they start any thread (other commands keep the default signal behaviour).
void HandleInterrupts();

// Prints "xpool: MESSAGE" on stderr; returns `code`.
int Fail(const std::string& message, int code = 2);
std::string StateDir();     // ~/.xpool
std::string AddressFile();  // where `xpool up` says it listens, so that other commands find it
// --controller, else XPOOL_CONTROLLER, else the address file, else 127.0.0.1:7070.
std::string ControllerAddress(const std::string& flag);
// A failed call, said plainly; exit 2 for what the user asked wrongly, 1 otherwise.
int RpcFail(const std::string& what, const grpc::Status& s, const std::string& address);
// Adds the user's token (XPOOL_TOKEN or ~/.xpool/token) to a call.
void Authorize(grpc::ClientContext& context);
// TLS trusting XPOOL_TLS_CA when set, plaintext otherwise. Read once.
const Result<std::shared_ptr<grpc::ChannelCredentials>>& PoolCredentials();

struct Client {
  // Fails only when XPOOL_TLS_CA names a file that holds no CA certificate.
  static Result<Client> Open(const std::string& flag);
  std::unique_ptr<grpc::ClientContext> Context() const;  // 10 s deadline, authorized
  // Every allocation (live ones, or all with `include_released`), page by page, into `*all`.
  grpc::Status ListEveryAllocation(bool include_released, v1::ListAllocationsResponse* all) const;
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Pool::Stub> pool;

 private:
  Client(std::string controller, const std::shared_ptr<grpc::ChannelCredentials>& credentials);
};

}  // namespace xpool::cli
