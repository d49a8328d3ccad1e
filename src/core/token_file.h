// Credentials kept in files: the cluster's join token and users' tokens (docs/standalone.md).
#pragma once

#include <string>

#include "core/status.h"

namespace xpool {

// Leading and trailing blanks (spaces, tabs, line ends) removed.
std::string TrimBlanks(const std::string& s);

// The token in a file: its first line, trimmed; at least 16 characters. Errors name the file.
Result<std::string> ReadTokenFile(const std::string& path);

}  // namespace xpool
