// `xpool up`: a controller and a local agent in one process, on an embedded store, until Ctrl-C;
// with --demo, one sample run and stop.
#pragma once

#include <cstdint>
#include <string>

#include "cli/pool_client.h"

namespace xpool::cli {

struct UpOptions {
  std::string inventory;
  std::string data;
  std::string listen = std::string(kDefaultController);
  std::string policy = "xpool";
  std::string run_as;
  std::string metrics;
  int64_t lease_ms = 10'000;
  bool demo = false;
};

// Returns the exit code.
int Up(const UpOptions& o);

}  // namespace xpool::cli
