// Pool: the scheduler's view of the cluster — node specs, their free resources, and an index
// that groups nodes in identical states so a decision looks at each distinct state once.
//
// Thread-safety: none; one owner mutates it (the replay driver, the controller's scheduling
// loop). Invariant: every node belongs to exactly one class, the one of its current state.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/model.h"
#include "core/quantity.h"
#include "core/status.h"

namespace xpool::sched {

using NodeIndex = int32_t;
using ModelId = int16_t;
using ClassId = int32_t;

struct NodeSpec {
  std::string name;
  std::string model;  // device model on this node; empty for a node without devices
  DeviceType device_type = DeviceType::kGpu;
  int device_count = 0;
  MiB device_memory;  // per device; 0 = not tracked
  MilliCpu cpu;
  MiB host_memory;
};

// Bit i of the affinity mask is set while a pod of that shape runs on the node:
// bit 0 = sharing (< 1 device), bit k = k whole devices (k <= 30).
inline uint32_t AffinityBit(int device_count, MilliDevice per_device) {
  if (device_count == 0) return 0;
  if (device_count == 1 && per_device < kWholeDevice) return 1u;
  return 1u << (device_count < 31 ? device_count : 31);
}

struct NodeState {
  ModelId model = -1;
  int device_count = 0;
  int64_t cpu_capacity = 0;  // millicores
  int64_t cpu_free = 0;
  int64_t mem_free = 0;                  // host MiB
  std::vector<int32_t> milli_free;       // per device, index order
  std::vector<int64_t> dev_mem_free;     // per device MiB (empty when not tracked)
  std::vector<int32_t> affinity_counts;  // per affinity bit
  uint32_t affinity_mask = 0;

  int64_t milli_free_total() const;
  int whole_free_devices() const;
  int32_t max_milli_free() const;
};

class Pool {
 public:
  // Adds a node; returns its index. Model names are interned.
  NodeIndex AddNode(const NodeSpec& spec);

  int node_count() const { return static_cast<int>(specs_.size()); }
  const NodeSpec& spec(NodeIndex n) const { return specs_[n]; }
  const NodeState& state(NodeIndex n) const { return states_[n]; }
  ModelId FindModelId(const std::string& model) const;  // -1 when no node has it
  // The ids of the models a '|'-separated list names ("V100M16|V100M32") that some node has.
  std::vector<ModelId> FindModelIds(std::string_view models) const;
  const std::string& model_name(ModelId m) const { return model_names_[m]; }
  int model_count() const { return static_cast<int>(model_names_.size()); }

  int64_t total_device_milli() const { return total_milli_; }
  int64_t used_device_milli() const { return used_milli_; }
  int total_devices() const { return static_cast<int>(total_milli_ / 1000); }

  // Takes (or gives back, with sign -1) the resources of one placement. The caller has checked
  // that it fits; Take() asserts it in debug builds.
  void Take(NodeIndex n, int64_t cpu, int64_t mem, const std::vector<int>& devices,
            MilliDevice per_device, MiB dev_mem, uint32_t affinity_bit);
  void Give(NodeIndex n, int64_t cpu, int64_t mem, const std::vector<int>& devices,
            MilliDevice per_device, MiB dev_mem, uint32_t affinity_bit);

  // Equivalence classes: nodes whose states are equal up to device order.
  struct Class {
    std::set<NodeIndex> members;  // ordered: the earliest node first
    uint64_t version = 0;         // bumped on every membership change, for policies' caches
  };
  const std::vector<ClassId>& live_classes() const { return live_classes_; }
  const Class& node_class(ClassId c) const { return classes_[c]; }
  ClassId class_of(NodeIndex n) const { return class_of_[n]; }
  int class_count() const { return static_cast<int>(classes_.size()); }  // ids are below this

 private:
  using Key = std::vector<int64_t>;
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  Key KeyOf(const NodeState& s) const;
  void Index(NodeIndex n);
  void Unindex(NodeIndex n);

  std::vector<NodeSpec> specs_;
  std::vector<NodeState> states_;
  std::vector<std::string> model_names_;
  std::unordered_map<std::string, ModelId> model_ids_;
  int64_t total_milli_ = 0;
  int64_t used_milli_ = 0;

  std::unordered_map<Key, ClassId, KeyHash> class_by_key_;
  std::vector<Class> classes_;
  std::vector<ClassId> class_of_;      // node -> class
  std::vector<ClassId> live_classes_;  // classes with members
  std::vector<int32_t> live_pos_;      // class -> position in live_classes_, -1 if empty
};

}  // namespace xpool::sched
