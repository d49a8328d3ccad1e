// Graceful shutdown on SIGINT and SIGTERM for the long-running binaries. Call before starting any
// thread: the signals are blocked in the caller (and so in every thread it starts) and waited
// for by one thread of their own, which runs `on_signal` in ordinary (not signal) context.
#pragma once

#include <pthread.h>

#include <csignal>
#include <functional>
#include <thread>

namespace xpool {

inline void OnTerminationSignal(std::function<void()> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, fn = std::move(on_signal)] {
    int signal = 0;
    while (sigwait(&set, &signal) == 0) fn();
  }).detach();
}

}  // namespace xpool
