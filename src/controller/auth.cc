#include "controller/auth.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/token_file.h"

namespace xpool::controller {
namespace {

// Compares without stopping at the first difference, so timing says nothing of a token.
bool SameToken(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

Result<Auth> Auth::Load(const std::string& join_token_file, const std::string& users_file) {
  Auth auth;
  if (join_token_file.empty() && users_file.empty()) return auth;
  auth.enabled_ = true;
  if (!join_token_file.empty()) {
    auto token = ReadTokenFile(join_token_file);
    if (!token.ok()) return token.status();
    auth.join_token_ = *token;
  }
  if (!users_file.empty()) {
    std::ifstream in(users_file);
    if (!in) return Status::NotFound("users file '" + users_file + "' cannot be read");
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      line = TrimBlanks(line);
      if (line.empty() || line[0] == '#') continue;
      std::istringstream fields(line);
      std::string token, user, extra;
      fields >> token >> user;
      if (user.empty() || (fields >> extra) || token.size() < 16) {
        return Status::InvalidArgument(users_file + ":" + std::to_string(number) +
                                       ": expected '<token of 16+ characters> <user>'");
      }
      if (SameToken(token, auth.join_token_)) {
        return Status::InvalidArgument(users_file + ":" + std::to_string(number) +
                                       ": a user token must differ from the join token");
      }
      auth.users_[token] = user;
    }
  }
  return auth;
}

grpc::Status Auth::Check(grpc::ServerContext* context, Caller needed, const char* method,
                         std::string* user, bool agents_too) const {
  user->clear();
  if (!enabled_) return grpc::Status::OK;
  std::string token;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    const std::string value(it->second.data(), it->second.size());
    if (value.rfind("Bearer ", 0) == 0) token = value.substr(7);
  }
  const bool agent = !join_token_.empty() && SameToken(token, join_token_);
  if ((needed == Caller::kAgent || agents_too) && agent) return grpc::Status::OK;
  if (needed == Caller::kUser) {
    for (const auto& [known, name] : users_) {
      if (SameToken(token, known)) {
        *user = name;
        return grpc::Status::OK;
      }
    }
  }
  std::fprintf(stderr, "xpool-controller: refused %s from %s: %s\n", method,
               context->peer().c_str(), token.empty() ? "no credential" : "unknown credential");
  return {grpc::StatusCode::UNAUTHENTICATED,
          token.empty() ? "this controller needs a credential (--token / XPOOL_TOKEN)"
                        : "the credential is not accepted here"};
}

}  // namespace xpool::controller
