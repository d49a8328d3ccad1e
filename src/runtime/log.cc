#include "runtime/log.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace xpool::runtime {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
constexpr std::array<const char*, 4> kNames = {"error", "warn", "info", "debug"};
}  // namespace

void SetLogLevel(LogLevel level) {
  g_level.store(static_cast<int>(level));
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) <= g_level.load();
}

void Log(LogLevel level, const char* format, ...) {
  if (!LogEnabled(level)) return;
  char line[512];  // NOLINT(modernize-avoid-c-arrays): one write(2)
  int n = std::snprintf(line, sizeof(line), "xpool-cuda[%d] %s: ", static_cast<int>(getpid()),
                        kNames[static_cast<int>(level)]);
  va_list args;
  va_start(args, format);
  const int m = std::vsnprintf(line + n, sizeof(line) - n - 1, format, args);
  va_end(args);
  n += m < 0 ? 0
             : (m > static_cast<int>(sizeof(line)) - n - 2 ? static_cast<int>(sizeof(line)) - n - 2
                                                           : m);
  line[n++] = '\n';
  // One write, so lines from several processes do not interleave.
  (void)!write(STDERR_FILENO, line, n);
}

}  // namespace xpool::runtime
