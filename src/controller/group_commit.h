// GroupCommitter: makes the controller's changes durable in order, many per store commit. A
// change is submitted while the controller's state lock is held (so the log's order is the order
// the state changed in) and waited for after the lock is released (so other requests go on while
// the disk syncs); a request is answered only once its change is durable. One commit, and one
// sync, serves every change submitted meanwhile.
//
// Memory runs ahead of the disk by at most the changes not yet acknowledged, so a crash can only
// lose changes nobody was told of. A failed commit leaves memory ahead of the store for good: the
// process then stops (crash-only), and a restart rebuilds memory from the store.
#pragma once

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

  // Queues a change; remembers it as the calling thread's latest.
  void Submit(store::Mutation mutation);
  // Blocks until the calling thread's latest change (if any) is durable.
  void WaitForMine();

 private:
  void Loop();

  store::Store* store_;
  const uint64_t serial_;  // tells this committer apart from earlier ones in the process
  std::mutex mu_;
  std::condition_variable submitted_;
  std::condition_variable committed_;
  std::vector<store::Mutation> queue_;
  uint64_t next_ticket_ = 1;  // the ticket of the next submitted change
  uint64_t durable_ = 0;      // every ticket up to this one is durable
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace xpool::controller
