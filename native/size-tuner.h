// SizeTuner: the request size one copy thread uses, chosen while it copies
// (issue 12: not a constant tuned on one machine). The sizes are the
// configured one and steps of 4 up to the largest. They are measured in
// rounds, one short epoch each (at least kEpochBytes of data read at that
// size and kEpochMin of time, after a queue's worth of requests at the new
// size to fill the pipeline): ascending, then descending, then ascending.
// Each size's score in a round is its rate over the round's best rate, so
// a change in the machine's speed between rounds (this VM's speed swings by
// up to 4x between copies, and within one) does not favour the sizes
// measured before it; its score over all rounds is the median, so one
// round hit by a slow spell does not decide. After each round, a size whose
// median score so far is below kKeep of the configured size's is not
// measured again (an epoch at a slower size is what the rounds cost). It settles on
// the best median score, and leaves the configured size only for one that
// beats it by kMargin. The rounds copy data as they measure: a copy shorter
// than them just ends. Requests in flight are bounded by bytes: queueBytes
// / size, at most maxRequests, so memory stays within the budget the plan
// gave (memory-budget.ts) whatever the size. Zero extents and holes
// (nothing read) do not count.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

class SizeTuner {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint64_t kEpochBytes = 32ull << 20;
  static constexpr double kEpochMin = 0.1;  // seconds
  static constexpr unsigned kRounds = 3;
  static constexpr double kKeep = 0.95;    // of the configured size's score, to be measured again
  static constexpr double kMargin = 1.03;  // a size other than the configured one must beat it by this
  static constexpr unsigned kStep = 4;     // sizes: start, x4, x16, ...

  // Sizes start, 4 x start, ... up to max, and max (each dividing rangeSize and a
  // multiple of align); a single size when max <= start (no tuning).
  SizeTuner(uint32_t start, uint32_t max, uint64_t rangeSize, uint64_t queueBytes, unsigned maxRequests);

  uint32_t Size() const { return sizes_[settled_ ? best_ : order_[pos_]]; }
  uint32_t MaxSize() const { return sizes_.back(); }
  // Requests in flight allowed at the current size.
  unsigned MaxInFlight() const;
  bool Settled() const { return settled_; }
  // Data bytes of a completed read-and-write issued at size SIZE, completed
  // at NOW (the copy thread's clock; a simulation's in tests).
  void Count(uint32_t size, uint64_t bytes, Clock::time_point now);

  struct Trial {
    uint32_t size;
    double rate;  // bytes per second
  };
  const std::vector<Trial> &Trials() const { return trials_; }

 private:
  void Begin();
  void EndRound();
  void Settle();
  std::vector<uint32_t> sizes_;
  std::vector<size_t> order_;                // indices into sizes_: this round's, in order
  std::vector<double> roundRate_;            // per size: its rate this round (0: not measured)
  std::vector<std::vector<double>> scores_;  // per size: rate / the round's best, per round
  std::vector<bool> alive_;
  uint64_t queueBytes_;
  unsigned maxRequests_;
  unsigned round_ = 0;
  size_t pos_ = 0, best_ = 0;
  bool settled_;
  uint64_t epochBytes_ = 0;
  unsigned warmup_ = 0;  // requests at this size still to let pass uncounted
  Clock::time_point epochStart_;
  std::vector<Trial> trials_;
};
