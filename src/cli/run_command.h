// `xpool run`: allocates a slice (waiting in the controller's queue while the pool has no room,
// unless --no-wait), runs a command on the node chosen, streams its output (and
// attaches again if the stream breaks), releases the slice, and exits with the command's status.
#pragma once

#include <string>
#include <vector>

namespace xpool::cli {

struct RunOptions {
  std::string controller;
  int gpus = 1;
  std::string gpu_memory;
  std::string gpu_core;
  std::string compute_policy;
  std::string priority;
  std::string compute_period;
  std::string models;  // comma-separated (a vector option would swallow the "--" after it)
  std::string type;
  double min_bf16_tflops = 0;     // a rating instead of model names; 0: no bound
  std::string min_device_memory;  // e.g. 40Gi; empty: no bound
  std::string tenant;
  bool no_wait = false;    // fail when nothing fits now instead of queueing
  int queue_priority = 0;  // among waiting requests, higher first
  std::string priority_class;
  bool requeue = false;  // preempted: ask again (and run the command again)  // a class of the
                         // pool's tenants file instead
  std::vector<std::string> command;
};

// Returns the exit code.
int Run(const RunOptions& o);

}  // namespace xpool::cli
