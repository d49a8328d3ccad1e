// A file description of a process's own, for the locks that tell live processes apart: the slice
// segment and the compute arbitration segment both hold their liveness locks on one.
#pragma once

#include <fcntl.h>

#include <cstdio>

namespace xpool::runtime {

// Opens the file `fd` refers to again, as a new open file description (O_RDWR, close-on-exec):
// through /proc/self/fd, so it is the very file even if its path was replaced meanwhile. Its
// locks are this process's alone and die with it; keep it unmapped, since a mapping refers to
// its description too and may outlive the process (a CUDA program's forked child keeps the
// dead program's address space). Returns -1 with errno set on failure.
inline int ReopenOwnDescription(int fd) {
  char fd_path[64];  // NOLINT(modernize-avoid-c-arrays): C string buffer
  std::snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
  return open(fd_path, O_RDWR | O_CLOEXEC);
}

}  // namespace xpool::runtime
