#include "remote/client/client_log.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>

namespace xpool::remote {

void ClientLog(const char* format, ...) {
  char line[512];
  int n = std::snprintf(line, sizeof(line), "xpool-remote: ");
  va_list args;
  va_start(args, format);
  n += std::vsnprintf(line + n, sizeof(line) - n - 1, format, args);
  va_end(args);
  if (n > static_cast<int>(sizeof(line)) - 2) n = sizeof(line) - 2;
  line[n++] = '\n';
  // One write, so lines of several threads do not interleave.
  [[maybe_unused]] const ssize_t w = write(STDERR_FILENO, line, n);
}

}  // namespace xpool::remote
