#include "controller/group_commit.h"

#include <cstdio>
#include <cstdlib>

namespace xpool::controller {

GroupCommitter::GroupCommitter(store::Store* store) : store_(store) {
  thread_ = std::thread([this] { Loop(); });
}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  submitted_.notify_all();
  thread_.join();
}

void GroupCommitter::Submit(store::Mutation mutation) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(mutation));
  ++next_ticket_;
  submitted_.notify_one();
}

uint64_t GroupCommitter::Submitted() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_ticket_ - 1;
}

void GroupCommitter::WaitFor(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  committed_.wait(lock, [&] { return durable_ >= ticket; });
}

void GroupCommitter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    submitted_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    std::vector<store::Mutation> batch;
    batch.swap(queue_);
    const uint64_t last = next_ticket_ - 1;
    lock.unlock();
    const Status s = store_->Apply(batch);
    if (!s.ok()) {
      std::fprintf(stderr, "xpool-controller: %s; stopping (a restart reloads the store)\n",
                   s.message().c_str());
      std::abort();
    }
    lock.lock();
    durable_ = last;
    committed_.notify_all();
  }
}

}  // namespace xpool::controller
