// Where xpool finds its own files: beside the running binary (a build tree) or under
// ../lib/xpool (an installation), unless a flag or the environment names them.
//
// Thread-safety: pure functions of the file system and the environment.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>

namespace xpool {

// The first of `relative` (paths relative to the binary's folder) that exists, canonical.
inline std::string FindBesideBinary(std::initializer_list<const char*> relative) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
  for (const char* r : relative) {
    if (std::filesystem::exists(self / r, ec)) return std::filesystem::canonical(self / r, ec);
  }
  return {};
}

// libxpool-cuda.so: the flag, else $XPOOL_RUNTIME, else beside the binary.
inline std::string FindRuntimeLibrary(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("XPOOL_RUNTIME"); env != nullptr && *env != '\0') return env;
  return FindBesideBinary({"libxpool-cuda.so", "../lib/xpool/libxpool-cuda.so"});
}

// The folder of the remote client's libcuda.so.1: $XPOOL_REMOTE_CLIENT_DIR, else beside the
// binary.
inline std::string FindRemoteClientDir() {
  if (const char* env = std::getenv("XPOOL_REMOTE_CLIENT_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  const std::string lib =
      FindBesideBinary({"remote/libcuda.so.1", "../lib/xpool/remote/libcuda.so.1"});
  return lib.empty() ? lib : std::filesystem::path(lib).parent_path().string();
}

}  // namespace xpool
