// See size-tuner.h.
#include "size-tuner.h"

#include <algorithm>

SizeTuner::SizeTuner(uint32_t start, uint32_t max, uint64_t rangeSize, uint64_t queueBytes, unsigned maxRequests)
    : queueBytes_(queueBytes), maxRequests_(std::max(1u, maxRequests)) {
  sizes_.push_back(start);
  for (uint64_t s = (uint64_t)start * kStep; s <= max && rangeSize % s == 0; s *= kStep) sizes_.push_back((uint32_t)s);
  // The largest allowed, if the steps jumped over it (128K x 4 x 4 > 1M).
  if (sizes_.back() < max && max % sizes_.back() == 0 && rangeSize % max == 0) sizes_.push_back(max);
  for (size_t i = 0; i < sizes_.size(); i++) order_.push_back(i);
  roundRate_.assign(sizes_.size(), 0);
  scores_.resize(sizes_.size());
  alive_.assign(sizes_.size(), true);
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
  warmup_ = MaxInFlight();  // the epoch starts when they have passed
}

void SizeTuner::Count(uint32_t size, uint64_t bytes, Clock::time_point now) {
  if (settled_ || size != Size()) return;
  if (warmup_ > 0) {
    if (--warmup_ == 0) epochStart_ = now;
    return;
  }
  epochBytes_ += bytes;
  if (epochBytes_ < kEpochBytes) return;
  double secs = std::chrono::duration<double>(now - epochStart_).count();
  if (secs < kEpochMin) return;
  double rate = (double)epochBytes_ / secs;
  trials_.push_back({Size(), rate});
  roundRate_[order_[pos_]] = rate;
  if (++pos_ < order_.size()) {
    Begin();
    return;
  }
  EndRound();
}

namespace {
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
}  // namespace

// Each measured size scored against the round's best; the sizes whose
// median score so far is below kKeep of the configured size's are not
// measured again; the next round's order.
void SizeTuner::EndRound() {
  double top = *std::max_element(roundRate_.begin(), roundRate_.end());
  for (size_t k = 0; k < sizes_.size(); k++) {
    if (roundRate_[k] > 0) scores_[k].push_back(roundRate_[k] / top);
  }
  double start = Median(scores_[0]);
  for (size_t k = 1; k < sizes_.size(); k++) {
    if (alive_[k] && Median(scores_[k]) < kKeep * start) alive_[k] = false;
  }
  roundRate_.assign(sizes_.size(), 0);
  if (++round_ == kRounds || std::count(alive_.begin(), alive_.end(), true) == 1) return Settle();
  order_.clear();
  for (size_t k = 0; k < sizes_.size(); k++) {
    if (alive_[k]) order_.push_back(k);
  }
  if (round_ % 2 == 1) std::reverse(order_.begin(), order_.end());
  pos_ = 0;
  Begin();
}

// The best median score among the sizes measured in every round; the
// configured size unless another beats it by kMargin.
void SizeTuner::Settle() {
  double start = Median(scores_[0]), bestScore = start;
  best_ = 0;
  for (size_t k = 1; k < sizes_.size(); k++) {
    if (!alive_[k] || scores_[k].size() != scores_[0].size()) continue;
    double s = Median(scores_[k]);
    if (s > bestScore && s >= kMargin * start) best_ = k, bestScore = s;
  }
  settled_ = true;
}
