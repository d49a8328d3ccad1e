// The pool state tests' fixture: a PoolState on a fresh SQLite store, and request helpers.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agent/inventory.h"
#include "controller/pool_state.h"

namespace xpool::controller::pool_testing {

inline v1::Node MakeNode(const std::string& name, const std::string& model, const std::string& type,
                         int count) {
  auto node = agent::ParseInventory(
      "node: " + name + "\ncpu: 32\nmemory: 128Gi\ndevices:\n" + "  - model: " + model +
          "\n    type: " + type + "\n    count: " + std::to_string(count) + "\n    memory: 16Gi\n",
      "test", "x");
  EXPECT_TRUE(node.ok()) << node.status().message();
  return *node;
}

inline v1::AllocateRequest Ask(int devices, int milli = 0, int64_t memory = 0,
                               const std::string& model = "", const std::string& type = "") {
  v1::AllocateRequest r;
  r.set_devices(devices);
  r.set_compute_milli(milli);
  r.set_memory_mib(memory);
  if (!model.empty()) r.add_models(model);
  r.set_type(type);
  return r;
}

// Adds to `beat` a task report of allocation `id`, with the device time its slice has used.
inline v1::TaskReport* Report(v1::HeartbeatRequest& beat, const std::string& id, bool running,
                              double gpu_seconds) {
  v1::TaskReport* task = beat.add_tasks();
  task->set_allocation_id(id);
  task->set_running(running);
  task->set_gpu_seconds_used(gpu_seconds);
  return task;
}

class PoolStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() /
        ("xpool-pool-state-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen(0);
  }
  void TearDown() override {
    state_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen(int64_t now) {
    state_.reset();
    auto store = store::OpenSqliteStore(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status().message();
    ControllerOptions options;
    options.lease_ms = 1000;
    auto state = PoolState::Open(std::move(*store), options, now);
    ASSERT_TRUE(state.ok()) << state.status().message();
    state_ = std::move(*state);
  }
  // Registers node g, with one device per allocation, and allocates `count` one-device
  // allocations of `tenant` on it (fewer if one fails); `beat` becomes a heartbeat from g.
  std::vector<v1::Allocation> AllocateForTenant(const std::string& tenant, int count,
                                                v1::HeartbeatRequest* beat) {
    std::vector<v1::Allocation> out;
    if (!state_->Register(MakeNode("g", "H100-SXM", "gpu", count), 0).ok()) return out;
    auto ask = Ask(1);
    ask.set_tenant(tenant);
    for (int i = 0; i < count; ++i) {
      auto a = state_->Allocate(ask, 1);
      if (a.ok()) out.push_back(*a);
    }
    beat->set_node("g");
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<PoolState> state_;
};

}  // namespace xpool::controller::pool_testing
