// SizeTuner: the request size one copy thread uses, chosen while it copies
// (issue 12: not a constant tuned on one machine). It sweeps the sizes from
// the configured one up by steps of 4 to the largest, one epoch each (at
// least kEpochBytes of data read at that size and kEpochMin of time), then
// back down over the sizes within kKeep of the best rate seen, so each
// contender is measured twice and a drift in the machine's speed hits them
// alike, and no time goes to sizes plainly slower; the first requests at a new size (twice the
// requests in flight: buffers grown and first touched, here and in the
// servers) are not counted. Then it settles on the size with the best
// mean rate of data copied. The sweep copies data as it measures: a copy
// shorter than it just ends. Requests in flight are bounded by bytes:
// queueBytes / size, at most maxRequests, so memory stays within the budget
// the plan gave (memory-budget.ts) whatever the size. Zero extents and
// holes (nothing read) do not count.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

class SizeTuner {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint64_t kEpochBytes = 32ull << 20;
  static constexpr double kEpochMin = 0.25;  // seconds
  static constexpr double kKeep = 0.9;       // of the best rate on the way up
  static constexpr unsigned kStep = 4;       // sizes: start, x4, x16, ... (fewer epochs than doublings)

  // Sizes start, 4 x start, ... up to max, and max (each dividing rangeSize and a
  // multiple of align); a single size when max <= start (no tuning).
  SizeTuner(uint32_t start, uint32_t max, uint64_t rangeSize, uint64_t queueBytes, unsigned maxRequests);

  uint32_t Size() const { return sizes_[settled_ ? best_ : plan_[step_]]; }
  uint32_t MaxSize() const { return sizes_.back(); }
  // Requests in flight allowed at the current size.
  unsigned MaxInFlight() const;
  bool Settled() const { return settled_; }
  // Data bytes of a completed read-and-write issued at size SIZE.
  void Count(uint32_t size, uint64_t bytes);

  struct Trial {
    uint32_t size;
    double rate;  // bytes per second
  };
  const std::vector<Trial> &Trials() const { return trials_; }

 private:
  void Begin();
  std::vector<uint32_t> sizes_;
  std::vector<size_t> plan_;  // indices into sizes_: up, then down over the contenders
  std::vector<double> sum_;   // rates measured per size
  std::vector<unsigned> n_;
  uint64_t queueBytes_;
  unsigned maxRequests_;
  size_t step_ = 0, best_ = 0;
  bool settled_;
  uint64_t epochBytes_ = 0;
  unsigned warmup_ = 0;  // requests at this size still to let pass uncounted
  Clock::time_point epochStart_;
  std::vector<Trial> trials_;
};
