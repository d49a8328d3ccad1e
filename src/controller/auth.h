// Who may call the controller. Without credentials configured the controller serves loopback
// only and trusts every caller there (one machine, one operator). With them, every call on any
// address carries `authorization: Bearer <token>`: agents the cluster's join token, users a token
// of the users file ("<token> <user>" per line). A call without one, or with an unknown one, is
// refused (UNAUTHENTICATED) and logged.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <string>

#include "core/status.h"

namespace xpool::controller {

enum class Caller { kAgent, kUser };

class Auth {
 public:
  Auth() = default;  // no credentials: loopback only
  // Reads the join token file and the users file (either may be empty: that kind of caller then
  // has no way in).
  static Result<Auth> Load(const std::string& join_token_file, const std::string& users_file);

  bool enabled() const { return enabled_; }
  // OK with the caller's user name ("" for an agent or an unauthenticated loopback caller), or
  // UNAUTHENTICATED. Users may make agent calls never; agents may read allocations
  // (GetAllocation, on behalf of a task's user) when `agents_too`.
  grpc::Status Check(grpc::ServerContext* context, Caller needed, const char* method,
                     std::string* user, bool agents_too = false) const;

 private:
  bool enabled_ = false;
  std::string join_token_;
  std::map<std::string, std::string> users_;  // token -> user
};

}  // namespace xpool::controller
