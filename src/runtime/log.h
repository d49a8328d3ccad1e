// One-line diagnostics on stderr, prefixed "xpool-cuda:", filtered by XPOOL_LOG_LEVEL.
#pragma once

#include "runtime/config.h"

namespace xpool::runtime {

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace xpool::runtime
