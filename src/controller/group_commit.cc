#include "controller/group_commit.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace xpool::controller {
namespace {
// The last ticket this thread took, and from which committer: a thread that used a committer
// since destroyed (a controller reopened in one process) has nothing to wait for in a new one.
thread_local uint64_t t_last_ticket = 0;
thread_local uint64_t t_ticket_from = 0;  // a committer's serial: addresses are reused
std::atomic<uint64_t> g_committers{0};
}  // namespace

GroupCommitter::GroupCommitter(store::Store* store) : store_(store), serial_(++g_committers) {
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
  t_last_ticket = next_ticket_++;
  t_ticket_from = serial_;
  submitted_.notify_one();
}

void GroupCommitter::WaitForMine() {
  const uint64_t ticket = t_last_ticket;
  if (ticket == 0 || t_ticket_from != serial_) return;
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
