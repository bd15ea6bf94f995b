// A copy thread's loop: issue new requests while buffers are free and the
// tuner allows, grow a buffer to the request size, process completions,
// wait in poll(2) on both sockets and the cancel eventfd; the size settled
// on and the tuner's trials handed back at the end.
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "copy-thread.h"

void CopyThread::IssueNew() {
  if (!retryQ.empty()) {
    auto now = Clock::now();
    std::vector<Req *> later;
    for (Req *r : retryQ) {
      if (r->retryAt > now) {
        later.push_back(r);
        continue;
      }
      if (r->phase == Req::READ) {
        if (c->cfg.rateLimit) c->RateCharge(r->len);
        StartRead(r);
      } else if (r->zeroOnly) StartZeroWrite(r);
      else StartWrite(r);
    }
    retryQ.swap(later);
  }
  throttleMs = 0;
  while (!freeList.empty() && !c->Cancelled() && busy < tuner.MaxInFlight()) {
    if (c->cfg.rateLimit && (throttleMs = c->RateWaitMs()) > 0) break;
    Req *r = freeList.back();
    // Grown to a larger size on the way; once settled, each buffer is the
    // settled size again (larger ones, all 2 MiB-aligned, thrashed the
    // caches when only their first 128 KiB was used).
    if ((r->cap < tuner.Size() || (tuner.Settled() && r->cap > tuner.Size())) && !GrowBuffer(r)) break;
    uint64_t off, len;
    bool zero;
    if (!NextItem(&off, &len, &zero)) break;
    freeList.pop_back();
    busy++;
    r->issued = tuner.Size();
    r->off = off;
    r->len = (uint32_t)len;  // zero extents are at most one range
    r->zeroOnly = zero;
    r->attempts = 0;
    r->data = r->zeroed = r->skipped = 0;
    if (zero) {
      StartZeroWrite(r);
    } else {
      if (c->cfg.rateLimit) c->RateCharge(len);
      StartRead(r);
    }
  }
}

// A buffer grows to the tuner's size when first used at it. Within the
// thread's buffer budget: idle buffers are freed first, least recently used
// (the front of the free list) first; r, at its back, is the last to go.
bool CopyThread::GrowBuffer(Req *r) {
  const uint32_t need = tuner.Size();
  bufBytes -= r->cap;
  free(r->buf);
  r->buf = nullptr;
  r->cap = 0;
  for (size_t i = 0; c->cfg.bufferBudget && bufBytes + need > c->cfg.bufferBudget && i + 1 < freeList.size(); i++) {
    Req *idle = freeList[i];
    bufBytes -= idle->cap;
    free(idle->buf);
    idle->buf = nullptr;
    idle->cap = 0;
  }
  if (posix_memalign(reinterpret_cast<void **>(&r->buf), 4096, need) != 0) {
    r->buf = nullptr;
    c->Fail(NbdFailure::FromErrno("posix_memalign", ENOMEM));
    return false;
  }
  r->cap = need;
  bufBytes += need;
  return true;
}

void CopyThread::ProcessDone() {
  std::vector<Req *> done;
  done.swap(doneQ);
  for (Req *r : done) {
    if (c->Cancelled()) return;
    if (r->err) HandleError(r);
    else if (r->phase == Req::READ) {
      c->bytesRead += r->len;
      StartWrite(r);
    } else Complete(r);
  }
}

void CopyThread::PollOnce() {
  struct pollfd fds[3];
  Conn *conns[2];
  int n = 0;
  for (Conn *cn : {src, dst}) {
    if (!cn->isNbd()) continue;
    int fd = nbd_aio_get_fd(cn->h);
    if (fd < 0) continue;
    fds[n] = {fd, PollEvents(cn->h), 0};
    conns[n++] = cn;
  }
  int ncon = n;
  fds[n++] = {c->cancelFd, POLLIN, 0};
  int timeout = -1;
  if (!retryQ.empty()) {
    auto now = Clock::now();
    auto first = retryQ[0]->retryAt;
    for (Req *r : retryQ) first = std::min(first, r->retryAt);
    timeout = first <= now ? 0 : (int)std::chrono::duration_cast<std::chrono::milliseconds>(first - now).count() + 1;
  }
  if (throttleMs > 0 && (timeout < 0 || throttleMs < timeout)) timeout = throttleMs;
  int r = poll(fds, n, timeout);
  if (r <= 0) return;
  for (int i = 0; i < ncon; i++) {
    if (!fds[i].revents) continue;
    if (!Notify(conns[i], fds[i].revents) && doneQ.empty() && busy == 0) {
      NbdFailure f = NbdFailure::FromErrno("nbd_aio_notify_read", ENOTCONN, conns[i]->deadMsg);
      f.endpoint = conns[i]->spec->name;
      c->Fail(f);
    }
  }
}

void CopyThread::Run() {
  // Buffers are allocated as they are first used (IssueNew), at the size then.
  reqs.resize(c->cfg.requests);
  for (auto &r : reqs) {
    r.t = this;
    freeList.push_back(&r);
  }
  while (!c->Cancelled()) {
    IssueNew();
    if (!doneQ.empty()) {
      ProcessDone();
      continue;
    }
    // IssueNew() fills every free buffer unless the work has run out, the
    // copy was cancelled or the rate limit holds it back: nothing busy and
    // nothing held back means this thread is done.
    if (busy == 0 && throttleMs == 0) break;
    PollOnce();
  }
  std::lock_guard<std::mutex> lk(c->tunedMu);
  c->settledSizes.push_back(tuner.Size());
  c->tunerTrials.push_back(tuner.Trials());
}
