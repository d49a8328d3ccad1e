// Graceful shutdown on SIGINT and SIGTERM (and reloads on SIGHUP) for the long-running binaries.
// Call before starting any thread: the signals are blocked in the caller (and so in every thread it
// starts) and waited for by one thread of their own, which runs `on_signal` in ordinary (not
// signal) context.
#pragma once

#include <pthread.h>

#include <csignal>
#include <functional>
#include <thread>

namespace xpool {

// Blocks SIGINT, SIGTERM and SIGHUP in the caller: no thread may see a signal another thread
// waits for, whose default action would end the process.
inline void BlockHandledSignals() {
  sigset_t all;
  sigemptyset(&all);
  sigaddset(&all, SIGINT);
  sigaddset(&all, SIGTERM);
  sigaddset(&all, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
}

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

// The same for SIGHUP ("read your configuration again"), in a thread of its own. Call it before
// OnTerminationSignal, so that neither waiting thread is started with the other's signals open.
inline void OnReloadSignal(std::function<void()> on_signal) {
  BlockHandledSignals();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  std::thread([set, fn = std::move(on_signal)] {
    int signal = 0;
    while (sigwait(&set, &signal) == 0) fn();
  }).detach();
}

}  // namespace xpool
