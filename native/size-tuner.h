// SizeTuner: the request size one copy thread uses, chosen while it copies
// (issue 12: not a constant tuned on one machine). It starts at the
// configured size and tries the next doubling after each epoch (at least
// kEpochBytes of data read at that size and kEpochMin of time), as long as
// the rate of data copied rises by more than kGain; then it settles on the
// best size seen. Requests in flight are bounded by bytes: queueBytes /
// size, at most maxRequests, so memory stays within the budget the plan
// gave (memory-budget.ts) whatever size it settles on. Zero extents and
// holes (nothing read) do not count.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

class SizeTuner {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint64_t kEpochBytes = 32ull << 20;
  static constexpr double kEpochMin = 0.2;  // seconds
  static constexpr double kGain = 1.03;

  // Sizes start, 2 x start, ... up to max (each dividing rangeSize and a
  // multiple of align); a single size when max <= start (no tuning).
  SizeTuner(uint32_t start, uint32_t max, uint64_t rangeSize, uint64_t queueBytes, unsigned maxRequests);

  uint32_t Size() const { return sizes_[cur_]; }
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
  uint64_t queueBytes_;
  unsigned maxRequests_;
  size_t cur_ = 0, best_ = 0;
  double bestRate_ = 0;
  bool settled_;
  uint64_t epochBytes_ = 0;
  Clock::time_point epochStart_;
  std::vector<Trial> trials_;
};
