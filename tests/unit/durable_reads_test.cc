// Only durable changes are visible: while a change waits for the store, no read of the
// controller's state (listing, watch, the extender) answers with it (issue 28 item 2).
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>

#include "controller/pool_state.h"
#include "pool_state_fixture.h"

namespace xpool::controller {
namespace {

using pool_testing::Ask;
using pool_testing::MakeNode;

// A store whose commits wait at a gate the test opens: a disk that is slow to sync.
class GatedStore final : public store::Store {
 public:
  explicit GatedStore(std::unique_ptr<store::Store> inner) : inner_(std::move(inner)) {}
  Status Apply(const std::vector<store::Mutation>& batch) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return open_; });
    --waiting_;
    return inner_->Apply(batch);
  }
  Status Put(const std::string& t, const std::string& k, const std::string& v) override {
    return inner_->Put(t, k, v);
  }
  Status Delete(const std::string& t, const std::string& k) override {
    return inner_->Delete(t, k);
  }
  Result<std::vector<std::pair<std::string, std::string>>> Scan(const std::string& t) override {
    return inner_->Scan(t);
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    changed_.notify_all();
  }
  void AwaitACommit() {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return waiting_ > 0; });
  }

 private:
  std::unique_ptr<store::Store> inner_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool open_ = true;
  int waiting_ = 0;
};

TEST(DurableReadsTest, NoReadShowsAnAllocationBeforeItIsDurable) {
  const auto dir = std::filesystem::temp_directory_path() / "xpool-durable-reads-test";
  std::filesystem::remove_all(dir);
  auto inner = store::OpenSqliteStore(dir.string());
  ASSERT_TRUE(inner.ok());
  auto gated = std::make_unique<GatedStore>(std::move(*inner));
  GatedStore* gate = gated.get();
  auto opened = PoolState::Open(std::move(gated), ControllerOptions{}, 0);
  ASSERT_TRUE(opened.ok());
  PoolState& state = **opened;
  ASSERT_TRUE(state.Register(MakeNode("g", "H100-SXM", "gpu", 1), 0).ok());
  uint64_t seen = PoolState::kNotWatching;
  (void)state.Changes(&seen, 0);

  gate->Close();
  auto allocated = std::async(std::launch::async, [&] { return state.Allocate(Ask(1), 1); });
  gate->AwaitACommit();  // the allocation is decided, in memory, and waits for the disk
  auto listed = std::async(std::launch::async, [&] { return state.Allocations(false); });
  auto watched = std::async(std::launch::async, [&] { return state.Changes(&seen, 5'000); });
  auto evaluated = std::async(std::launch::async, [&] { return state.Evaluate(Ask(1), {"g"}); });
  using std::chrono::milliseconds;
  EXPECT_EQ(listed.wait_for(milliseconds(300)), std::future_status::timeout)
      << "a listing answered with a change the store has not made durable";
  EXPECT_EQ(watched.wait_for(milliseconds(10)), std::future_status::timeout);
  EXPECT_EQ(evaluated.wait_for(milliseconds(10)), std::future_status::timeout);
  EXPECT_EQ(allocated.wait_for(milliseconds(10)), std::future_status::timeout);
  gate->Open();
  ASSERT_TRUE(allocated.get().ok());
  EXPECT_EQ(listed.get().size(), 1u);
  EXPECT_EQ(watched.get().size(), 1u);
  auto verdicts = evaluated.get();
  ASSERT_TRUE(verdicts.ok());
  EXPECT_FALSE((*verdicts)[0].fits);  // its one GPU is taken, durably
  opened->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace xpool::controller
