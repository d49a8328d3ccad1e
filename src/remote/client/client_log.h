// One-line diagnostics of the remote client on stderr, prefixed "xpool-remote:".
//
// Thread-safety: safe from any thread.
#pragma once

namespace xpool::remote {

void ClientLog(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace xpool::remote
