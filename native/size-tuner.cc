// See size-tuner.h.
#include "size-tuner.h"

#include <algorithm>

SizeTuner::SizeTuner(uint32_t start, uint32_t max, uint64_t rangeSize, uint64_t queueBytes, unsigned maxRequests)
    : queueBytes_(queueBytes), maxRequests_(std::max(1u, maxRequests)) {
  sizes_.push_back(start);
  for (uint64_t s = (uint64_t)start * kStep; s <= max && rangeSize % s == 0; s *= kStep) sizes_.push_back((uint32_t)s);
  // The largest allowed, if the steps jumped over it (128K x 4 x 4 > 1M).
  if (sizes_.back() < max && max % sizes_.back() == 0 && rangeSize % max == 0) sizes_.push_back(max);
  for (size_t i = 0; i < sizes_.size(); i++) plan_.push_back(i);
  sum_.assign(sizes_.size(), 0);
  n_.assign(sizes_.size(), 0);
  settled_ = sizes_.size() == 1;
  Begin();
}

unsigned SizeTuner::MaxInFlight() const {
  if (queueBytes_ == 0) return maxRequests_;
  uint64_t n = queueBytes_ / Size();
  return (unsigned)std::max<uint64_t>(1, std::min<uint64_t>(n, maxRequests_));
}

void SizeTuner::Begin() {
  epochBytes_ = 0;
  warmup_ = 2 * MaxInFlight();
  epochStart_ = Clock::now();
}

void SizeTuner::Count(uint32_t size, uint64_t bytes) {
  if (settled_ || size != Size()) return;
  if (warmup_ > 0) {
    if (--warmup_ == 0) epochStart_ = Clock::now();
    return;
  }
  epochBytes_ += bytes;
  if (epochBytes_ < kEpochBytes) return;
  double secs = std::chrono::duration<double>(Clock::now() - epochStart_).count();
  if (secs < kEpochMin) return;
  double rate = (double)epochBytes_ / secs;
  trials_.push_back({Size(), rate});
  size_t i = plan_[step_];
  sum_[i] += rate;
  n_[i]++;
  if (step_ + 1 == sizes_.size()) {
    // The way up is done: back down over the sizes near the best.
    double top = *std::max_element(sum_.begin(), sum_.end());
    for (size_t k = sizes_.size(); k-- > 0;) {
      if (sum_[k] >= kKeep * top) plan_.push_back(k);
    }
  }
  if (++step_ < plan_.size()) {
    Begin();
    return;
  }
  // The contenders were measured twice, the others once (and were slower).
  for (size_t k = 1; k < sizes_.size(); k++) {
    if (n_[k] > n_[best_] || (n_[k] == n_[best_] && sum_[k] / n_[k] > sum_[best_] / n_[best_])) best_ = k;
  }
  settled_ = true;
}
