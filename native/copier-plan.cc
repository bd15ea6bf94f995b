// The work and its pace: the target's minimum block size applied to the
// request and range sizes (AlignToTarget), the pieces the copy threads
// take in order (PlanWork), and the token bucket of a rate limit
// (RateWaitMs, RateCharge).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "copier.h"

using Clock = std::chrono::steady_clock;

// A target with a minimum block size (qemu's compress filter: whole
// clusters, each written once) gets only whole blocks: requests, ranges and
// sparse blocks become multiples of it, and FetchRange rounds data extents
// out to it, so every write and zero starts and ends on a block (but the
// disk's last one, which may be short).
bool Copier::AlignToTarget() {
  if (dstAlign <= 1) return true;
  const uint64_t a = dstAlign;
  uint64_t req = (cfg.requestSize + a - 1) / a * a;
  if (req > (32u << 20)) {
    NbdFailure f = NbdFailure::FromErrno("nbd_get_block_size", EINVAL,
                                         "the target's minimum block size (" + std::to_string(a) + " bytes) is too large");
    f.endpoint = cfg.dst.name;
    Fail(f);
    return false;
  }
  cfg.requestSize = (uint32_t)req;
  cfg.rangeSize = (cfg.rangeSize + req - 1) / req * req;
  if (cfg.sparse) {
    cfg.sparse = (uint32_t)((cfg.sparse + a - 1) / a * a);
    if (cfg.requestSize % cfg.sparse != 0) cfg.sparse = dstAlign;
  }
  return true;
}

// The work as pieces (see copier.h): the ranges, rounded out to the target's
// blocks and merged again, or the whole disk, cut where a piece would span
// more than rangeSize bytes (rangeSize is a multiple of the target's block,
// so every cut is on a block). Progress counts the bytes of these runs.
bool Copier::PlanWork() {
  std::vector<ByteRange> runs;
  if (!cfg.hasRanges) {
    if (size > 0) runs.push_back({0, size});
  } else {
    const uint64_t a = dstAlign;
    for (auto &r : cfg.ranges) {
      if (r.off + r.len > size) {
        NbdFailure f = NbdFailure::FromErrno(
            "ranges", EINVAL,
            "the range at offset " + std::to_string(r.off) + " (length " + std::to_string(r.len) +
                ") ends beyond the source's size (" + std::to_string(size) + " bytes)");
        f.endpoint = cfg.src.name;
        Fail(f);
        return false;
      }
      uint64_t s = r.off / a * a, e = std::min(size, (r.off + r.len + a - 1) / a * a);
      if (!runs.empty() && runs.back().off + runs.back().len >= s)
        runs.back().len = std::max(runs.back().off + runs.back().len, e) - runs.back().off;
      else
        runs.push_back({s, e - s});
    }
  }
  uint64_t sum = 0;
  Piece cur{0, 0, 0, 0};
  for (auto &r : runs) {
    sum += r.len;
    for (uint64_t s = r.off, e = r.off + r.len; s < e;) {
      if (cur.count > 0 && s >= cur.start + cfg.rangeSize) {
        pieces.push_back(cur);
        cur.count = 0;
      }
      if (cur.count == 0) cur = {s, s, subs.size(), 0};
      uint64_t t = std::min(e, cur.start + cfg.rangeSize);
      subs.push_back({s, t - s});
      cur.count++;
      cur.end = t;
      s = t;
    }
  }
  if (cur.count > 0) pieces.push_back(cur);
  total = sum;
  return true;
}

// A token bucket in bytes: refilled at cfg.rateLimit per second, holding at
// most a burst of 50 ms (or one request), so a stall is not followed by a
// long burst. Reads are allowed while it is not in debt; a read may take it
// into debt, which the next reads wait out. Average rate = cfg.rateLimit.
int Copier::RateWaitMs() {
  std::lock_guard<std::mutex> lk(rateMu_);
  auto now = Clock::now();
  double rate = (double)cfg.rateLimit;
  double burst = std::max<double>(cfg.requestSize, rate / 20);
  rateTokens_ = std::min(burst, rateTokens_ + rate * std::chrono::duration<double>(now - rateLast_).count());
  rateLast_ = now;
  if (rateTokens_ >= 0) return 0;
  return std::max(1, (int)(-rateTokens_ * 1000 / rate + 0.999));
}

void Copier::RateCharge(uint64_t n) {
  std::lock_guard<std::mutex> lk(rateMu_);
  rateTokens_ -= (double)n;
}
