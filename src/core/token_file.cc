#include "core/token_file.h"

#include <fstream>

namespace xpool {

std::string TrimBlanks(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r\n") - a + 1);
}

Result<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("token file '" + path + "' cannot be read");
  std::string line;
  std::getline(in, line);
  line = TrimBlanks(line);
  if (line.size() < 16) {
    return Status::InvalidArgument("token file '" + path + "': a token has at least 16 characters");
  }
  return line;
}

}  // namespace xpool
