// GroupCommitter: makes the controller's changes durable in order, many per store commit. A
// change is submitted while the controller's state lock is held (so the log's order is the order
// the state changed in) and waited for after the lock is released (so other requests go on while
// the disk syncs); a request is answered only once its change is durable. One commit, and one
// sync, serves every change submitted meanwhile.
//
// Memory runs ahead of the disk by at most the changes not yet acknowledged, and every answer
// waits for what it may show (StateLock, DurableAnswer), so a crash can only lose changes nobody
// saw. A failed commit leaves memory ahead of the store for good: the
// process then stops (crash-only), and a restart rebuilds memory from the store.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.h"

namespace xpool::controller {

class GroupCommitter {
 public:
  explicit GroupCommitter(store::Store* store);
  ~GroupCommitter();  // commits what was submitted, then stops
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues a change.
  void Submit(store::Mutation mutation);
  // The ticket of the latest change submitted (0: none yet).
  uint64_t Submitted();
  // Blocks until every change up to `ticket` is durable.
  void WaitFor(uint64_t ticket);

 private:
  void Loop();

  store::Store* store_;
  std::mutex mu_;
  std::condition_variable submitted_;
  std::condition_variable committed_;
  std::vector<store::Mutation> queue_;
  uint64_t next_ticket_ = 1;  // the ticket of the next submitted change
  uint64_t durable_ = 0;      // every ticket up to this one is durable
  bool stop_ = false;
  std::thread thread_;
};

namespace internal {
// The latest change the calling thread's current answer may show (StateLock, DurableAnswer).
inline thread_local uint64_t t_seen_ticket = 0;
}  // namespace internal

// The state lock of a store-backed state (PoolState): a unique lock on `mu` that, when released,
// notes the latest change submitted, which is the latest one the holder could have seen.
class StateLock {
 public:
  StateLock(std::mutex& mu, GroupCommitter& committer) : lock_(mu), committer_(committer) {}
  ~StateLock() { Note(); }
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;
  std::unique_lock<std::mutex>& unique() { return lock_; }  // for condition variables

 private:
  void Note() {
    if (!lock_.owns_lock()) return;
    internal::t_seen_ticket = std::max(internal::t_seen_ticket, committer_.Submitted());
    lock_.unlock();
  }
  std::unique_lock<std::mutex> lock_;
  GroupCommitter& committer_;
};

// Declared at the top of a method that answers from the state: once the answer is made and the
// state lock released, waits until every change the method could have seen under that lock is
// durable, so that nothing an answer shows can be undone by a crash.
class DurableAnswer {
 public:
  explicit DurableAnswer(GroupCommitter& committer) : committer_(committer) {
    internal::t_seen_ticket = 0;
  }
  ~DurableAnswer() {
    committer_.WaitFor(internal::t_seen_ticket);
    internal::t_seen_ticket = 0;
  }
  DurableAnswer(const DurableAnswer&) = delete;
  DurableAnswer& operator=(const DurableAnswer&) = delete;

 private:
  GroupCommitter& committer_;
};

}  // namespace xpool::controller
