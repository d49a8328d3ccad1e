// Whether a client's hello opens a session, and on what terms: its credential (required off
// loopback) looked up in the credentials file, and the quota and share the session runs under.
//
// The credentials file holds one session credential per line, optionally with the limits of
// the allocation it belongs to:
//     <credential> [gpu-memory=<quantity>] [gpu-core=<percent>]
// Blank lines and lines starting with '#' are ignored. The file is read per connection, so the
// agent may rewrite it as allocations come and go.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "core/status.h"
#include "remote/wire.h"

namespace xpool::remote {

struct ServerLimits {
  std::string credentials_file;  // empty: no credentials (only loopback sessions)
  std::string gpu_memory;        // the most a session without its own limit may hold
  std::string gpu_core;
};

struct SessionTerms {
  std::string gpu_memory;  // empty: the whole device
  std::string gpu_core;    // empty: unshared
};

// The terms for `hello`, or why it is refused (kFailedPrecondition).
Result<SessionTerms> Admit(const Hello& hello, bool peer_is_local, const ServerLimits& limits);

}  // namespace xpool::remote
