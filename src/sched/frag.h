// The fragmentation measure of "Beware of Fragmentation" (FGD, USENIX ATC'23): the expected
// amount of a node's free device share that a pod drawn from the workload's typical shapes could
// not use. A free share is a fragment for a shape when the node cannot host the shape at all
// (too little CPU, too few fitting devices, wrong model: all free share counts), or, when it can,
// the share on devices too small for the shape.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sched/pool.h"

namespace xpool::sched {

// A pod shape as the measure sees it (host memory plays no part in FGD's measure).
struct PodShape {
  int64_t cpu = 0;    // millicores
  int32_t milli = 0;  // per device; 0 for a pod without devices
  int device_count = 0;
  std::string models;  // '|'-separated allowed models; empty = any
  auto operator<=>(const PodShape&) const = default;
};

struct TypicalShape {
  PodShape shape;
  double weight = 0;        // probability; weights sum to 1
  int64_t host_memory = 0;  // MiB; 0 = not considered (the artifact's measure ignores memory)
};

// The most frequent shapes that together cover at least `coverage` of `pods` (by count),
// weights renormalised over the chosen shapes. Ties in frequency are ordered by larger
// (cpu, milli, device count, models) first, as the FGD artifact orders them.
std::vector<TypicalShape> TypicalShapesByCount(const std::vector<PodShape>& pods, double coverage);

class FragMeasure {
 public:
  FragMeasure() = default;
  // `mismatch_is_fragment`: whether a node's free share counts as a fragment for shapes that
  // name other models (FGD's measure: yes).
  FragMeasure(const Pool& pool, std::vector<TypicalShape> shapes, bool mismatch_is_fragment = true);

  // Expected fragmented milli-devices of a node of `model` with `cpu_free` and per-device free
  // share `milli_free` (any order).
  double Amount(ModelId model, int64_t cpu_free, int64_t mem_free,
                std::span<const int32_t> milli_free) const;
  double Amount(const NodeState& s) const {
    return Amount(s.model, s.cpu_free, s.mem_free, s.milli_free);
  }

  const std::vector<TypicalShape>& shapes() const { return shapes_; }

 private:
  struct Compiled {
    int64_t cpu;
    int64_t mem;
    int32_t milli;
    int count;
    double weight;
    std::vector<bool> models;  // by ModelId; empty = any
  };
  std::vector<TypicalShape> shapes_;
  std::vector<Compiled> compiled_;
  bool mismatch_is_fragment_ = true;
};

}  // namespace xpool::sched
