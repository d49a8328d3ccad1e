#include "remote/server/admission.h"

#include <fstream>
#include <optional>
#include <sstream>

#include "core/quantity.h"
#include "runtime/config.h"

namespace xpool::remote {
namespace {

struct CredentialEntry {
  std::string gpu_memory;
  std::string gpu_core;
};

Result<std::optional<CredentialEntry>> FindCredential(const std::string& file,
                                                      const std::string& credential) {
  std::ifstream in(file);
  if (!in) return Status::FailedPrecondition("cannot read the credentials file " + file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string first;
    if (!(words >> first) || first[0] == '#' || first != credential) continue;
    CredentialEntry entry;
    for (std::string w; words >> w;) {
      if (w.rfind("gpu-memory=", 0) == 0) entry.gpu_memory = w.substr(11);
      if (w.rfind("gpu-core=", 0) == 0) entry.gpu_core = w.substr(9);
    }
    return std::optional<CredentialEntry>(entry);
  }
  return std::optional<CredentialEntry>();
}

// The client's ask held to a limit: the limit when the client asks nothing, refused above it.
Result<std::string> HoldMemory(const std::string& asked, const std::string& limit) {
  if (!asked.empty()) {
    auto a = ParseMemory(asked);
    if (!a.ok())
      return Status::FailedPrecondition("gpu-memory '" + asked + "': " + a.status().message());
  }
  if (limit.empty()) return asked;
  auto l = ParseMemory(limit);
  if (!l.ok()) return Status::FailedPrecondition("the server's gpu-memory limit is malformed");
  if (asked.empty()) return limit;
  if (ParseMemory(asked)->value() > l->value()) {
    return Status::FailedPrecondition("asked for " + asked + " of GPU memory; the slice holds " +
                                      limit);
  }
  return asked;
}

Result<std::string> HoldCore(const std::string& asked, const std::string& limit) {
  if (!asked.empty()) {
    auto a = runtime::ParseComputeShare(asked);
    if (!a.ok())
      return Status::FailedPrecondition("gpu-core '" + asked + "': " + a.status().message());
  }
  if (limit.empty()) return asked;
  auto l = runtime::ParseComputeShare(limit);
  if (!l.ok()) return Status::FailedPrecondition("the server's gpu-core limit is malformed");
  if (asked.empty()) return limit;
  if (*runtime::ParseComputeShare(asked) > *l) {
    return Status::FailedPrecondition("asked for " + asked + " % of the GPU; the slice holds " +
                                      limit + " %");
  }
  return asked;
}

}  // namespace

Result<SessionTerms> Admit(const Hello& hello, bool peer_is_local, const ServerLimits& limits) {
  std::optional<CredentialEntry> entry;
  if (!hello.credential.empty() || !peer_is_local) {
    if (hello.credential.empty()) {
      return Status::FailedPrecondition(
          "sessions from other machines need their allocation's credential");
    }
    if (limits.credentials_file.empty()) {
      return Status::FailedPrecondition("this server holds no credentials");
    }
    auto found = FindCredential(limits.credentials_file, hello.credential);
    if (!found.ok()) return found.status();
    if (!found->has_value()) return Status::FailedPrecondition("unknown session credential");
    entry = **found;
  }
  const std::string memory_limit =
      entry && !entry->gpu_memory.empty() ? entry->gpu_memory : limits.gpu_memory;
  const std::string core_limit =
      entry && !entry->gpu_core.empty() ? entry->gpu_core : limits.gpu_core;
  auto memory = HoldMemory(hello.gpu_memory, memory_limit);
  if (!memory.ok()) return memory.status();
  auto core = HoldCore(hello.gpu_core, core_limit);
  if (!core.ok()) return core.status();
  return SessionTerms{*memory, *core};
}

}  // namespace xpool::remote
