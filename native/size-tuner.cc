// See size-tuner.h.
#include "size-tuner.h"

#include <algorithm>

SizeTuner::SizeTuner(uint32_t start, uint32_t max, uint64_t rangeSize, uint64_t queueBytes, unsigned maxRequests)
    : queueBytes_(queueBytes), maxRequests_(std::max(1u, maxRequests)) {
  sizes_.push_back(start);
  for (uint64_t s = (uint64_t)start * 2; s <= max && rangeSize % s == 0; s *= 2) sizes_.push_back((uint32_t)s);
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
  epochStart_ = Clock::now();
}

void SizeTuner::Count(uint32_t size, uint64_t bytes) {
  if (settled_ || size != Size()) return;
  epochBytes_ += bytes;
  if (epochBytes_ < kEpochBytes) return;
  double secs = std::chrono::duration<double>(Clock::now() - epochStart_).count();
  if (secs < kEpochMin) return;
  double rate = (double)epochBytes_ / secs;
  trials_.push_back({Size(), rate});
  if (cur_ == 0 || rate > bestRate_ * kGain) {
    best_ = cur_;
    bestRate_ = rate;
    if (cur_ + 1 < sizes_.size()) {
      cur_++;
      Begin();
      return;
    }
  }
  cur_ = best_;
  settled_ = true;
}
