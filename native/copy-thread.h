// A copy thread: one source and one target connection, a pool of request
// buffers, the extents of the piece of work in hand, the request size
// chosen while copying (size-tuner.h). Its loop (copy-thread.cc) issues
// reads and writes with libnbd's nbd_aio_* calls (copy-requests.cc) and
// takes pieces of work and their extents (copy-extents.cc).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "copier.h"
#include "copy-io.h"
#include "size-tuner.h"

struct CopyThread;

struct Req {
  enum Phase { IDLE, READ, WRITE } phase = IDLE;
  uint64_t off = 0;
  uint32_t len = 0;
  uint8_t *buf = nullptr;
  bool zeroOnly = false;  // a zero extent: nothing to read
  int pending = 0;        // sub-commands outstanding (+1 while submitting)
  int err = 0;
  const char *errOp = nullptr;
  std::string errMsg;
  unsigned attempts = 0;
  uint64_t data = 0, zeroed = 0, skipped = 0;
  Clock::time_point retryAt;
  CopyThread *t = nullptr;
  uint32_t cap = 0;     // bytes buf holds (grown to the request size on use)
  uint32_t issued = 0;  // the tuner's size when this request was issued
};

struct CopyThread {
  Copier *c;
  Conn *src, *dst;
  std::vector<Req> reqs;
  std::vector<Req *> freeList, doneQ, retryQ;
  unsigned busy = 0;
  std::vector<Extent> ext;
  size_t extIdx = 0;
  uint64_t extPos = 0;
  bool exhausted = false;
  int throttleMs = 0;  // > 0: the rate limit holds back reads this long
  SizeTuner tuner;
  uint64_t bufBytes = 0;  // sum of the buffers' caps

  CopyThread(Copier *c_, Conn *s, Conn *d)
      : c(c_), src(s), dst(d),
        tuner(c_->cfg.requestSize, c_->cfg.rateLimit ? 0 : c_->cfg.maxRequestSize, c_->cfg.rangeSize, c_->cfg.queueBytes,
              c_->cfg.requests) {}
  ~CopyThread() {
    for (auto &r : reqs) free(r.buf);
  }

  void Run();
  bool GrowBuffer(Req *r);
  bool FetchRange();
  bool NextItem(uint64_t *off, uint64_t *len, bool *zero);
  void IssueNew();
  void StartRead(Req *r);
  void StartWrite(Req *r);
  void StartZeroWrite(Req *r);
  void SubmitWrite(Req *r, uint64_t off, size_t len, const uint8_t *buf);
  void SubmitZero(Req *r, uint64_t off, uint64_t len);
  void EndSubmit(Req *r) {
    if (--r->pending == 0) doneQ.push_back(r);
  }
  void ProcessDone();
  void Complete(Req *r);
  void HandleError(Req *r);
  void PollOnce();
  bool GetNbdExtents(uint64_t start, uint64_t end);
  void GetFileExtents(uint64_t start, uint64_t end);
  void AlignExtents(uint64_t start, uint64_t end);
  void ClipToPiece(const Copier::Piece &p);
};
