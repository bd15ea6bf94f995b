// One request's life in a copy thread: read from the source, write what
// was read (runs of zero blocks as zero requests, or nothing), zero a zero
// extent, complete, or fail and be retried. libnbd's completion callbacks
// only record the result and queue the request; the follow-up is issued
// from the thread's loop (copy-thread.cc).
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "copy-thread.h"

static void SetErr(Req *r, int err, const char *op, const char *msg) {
  if (r->err) return;
  r->err = err ? err : EIO;
  r->errOp = op;
  r->errMsg = msg ? msg : "";
}

static int ReadCb(void *ud, int *error) {
  auto *r = static_cast<Req *>(ud);
  if (*error) SetErr(r, *error, "nbd_aio_pread", nullptr);
  r->t->EndSubmit(r);
  return 1;
}
static int WriteCb(void *ud, int *error) {
  auto *r = static_cast<Req *>(ud);
  if (*error) SetErr(r, *error, "nbd_aio_pwrite", nullptr);
  r->t->EndSubmit(r);
  return 1;
}
static int ZeroCb(void *ud, int *error) {
  auto *r = static_cast<Req *>(ud);
  if (*error) SetErr(r, *error, "nbd_aio_zero", nullptr);
  r->t->EndSubmit(r);
  return 1;
}

void CopyThread::StartRead(Req *r) {
  r->phase = Req::READ;
  r->err = 0;
  r->pending = 1;
  if (src->isNbd()) {
    r->pending++;
    if (nbd_aio_pread(src->h, r->buf, r->len, r->off, nbd_completion_callback{ReadCb, r, nullptr}, 0) == -1) {
      r->pending--;
      SetErr(r, nbd_get_errno(), "nbd_aio_pread", nbd_get_error());
    }
  } else {
    size_t done = 0;
    while (done < r->len) {
      ssize_t n = pread(src->fd, r->buf + done, r->len - done, (off_t)(r->off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        SetErr(r, n < 0 ? errno : EIO, "pread", n < 0 ? nullptr : "unexpected end of file");
        break;
      }
      done += (size_t)n;
    }
  }
  EndSubmit(r);
}

void CopyThread::SubmitWrite(Req *r, uint64_t off, size_t len, const uint8_t *buf) {
  if (dst->isNull()) return;
  if (dst->isNbd()) {
    r->pending++;
    if (nbd_aio_pwrite(dst->h, buf, len, off, nbd_completion_callback{WriteCb, r, nullptr}, 0) == -1) {
      r->pending--;
      SetErr(r, nbd_get_errno(), "nbd_aio_pwrite", nbd_get_error());
    }
    return;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(dst->fd, buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      SetErr(r, n < 0 ? errno : EIO, "pwrite", nullptr);
      return;
    }
    done += (size_t)n;
  }
}

void CopyThread::SubmitZero(Req *r, uint64_t off, uint64_t len) {
  if (dst->isNull()) return;
  if (dst->isNbd()) {
    uint32_t flags = c->cfg.allocated ? LIBNBD_CMD_FLAG_NO_HOLE : 0;
    r->pending++;
    if (nbd_aio_zero(dst->h, len, off, nbd_completion_callback{ZeroCb, r, nullptr}, flags) == -1) {
      r->pending--;
      SetErr(r, nbd_get_errno(), "nbd_aio_zero", nbd_get_error());
    }
    return;
  }
  // Files: punch a hole (reads back as zero), else zero the range, else write.
  if (!c->cfg.allocated &&
      fallocate(dst->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
    return;
  if (fallocate(dst->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0) return;
  for (uint64_t pos = off; pos < off + len && !r->err;) {
    size_t n = (size_t)std::min<uint64_t>(c->cfg.requestSize, off + len - pos);
    SubmitWrite(r, pos, n, c->zeroBuf);
    pos += n;
  }
}

// Write what was read, turning runs of all-zero blocks (of cfg.sparse bytes)
// into zero requests, or into nothing on a target known to be zero.
void CopyThread::StartWrite(Req *r) {
  r->phase = Req::WRITE;
  r->err = 0;
  r->pending = 1;
  r->data = r->zeroed = r->skipped = 0;
  uint32_t sparse = c->cfg.sparse;
  if (sparse == 0) {
    SubmitWrite(r, r->off, r->len, r->buf);
    r->data = r->len;
    EndSubmit(r);
    return;
  }
  size_t pos = 0;
  while (pos < r->len && !r->err) {
    size_t blk = std::min<size_t>(sparse, r->len - pos);
    bool z = IsZero(r->buf + pos, blk);
    size_t end = pos + blk;
    while (end < r->len) {
      size_t b = std::min<size_t>(sparse, r->len - end);
      if (IsZero(r->buf + end, b) != z) break;
      end += b;
    }
    size_t n = end - pos;
    if (!z) {
      SubmitWrite(r, r->off + pos, n, r->buf + pos);
      r->data += n;
    } else if (c->dstZero) {
      r->skipped += n;
    } else if (c->dstCanZero) {
      SubmitZero(r, r->off + pos, n);
      r->zeroed += n;
    } else {
      SubmitWrite(r, r->off + pos, n, r->buf + pos);
      r->data += n;
    }
    pos = end;
  }
  EndSubmit(r);
}

void CopyThread::StartZeroWrite(Req *r) {
  r->phase = Req::WRITE;
  r->err = 0;
  r->pending = 1;
  if (c->dstCanZero) {
    SubmitZero(r, r->off, r->len);
  } else {
    SubmitWrite(r, r->off, r->len, c->zeroBuf);  // len <= requestSize here
  }
  r->zeroed = r->len;
  EndSubmit(r);
}

void CopyThread::Complete(Req *r) {
  if (!r->zeroOnly) tuner.Count(r->issued, r->len, Clock::now());
  c->bytesData += r->data;
  c->bytesZeroed += r->zeroed;
  c->bytesSkipped += r->skipped;
  c->bytesDone += r->len;
  r->phase = Req::IDLE;
  busy--;
  freeList.push_back(r);
}

void CopyThread::HandleError(Req *r) {
  Conn *conn = r->phase == Req::READ ? src : dst;
  bool dead = conn->isNbd() && nbd_aio_is_dead(conn->h);
  if (!dead && r->attempts < c->cfg.retries) {
    r->attempts++;
    c->retriesUsed++;
    unsigned ms = std::min(2000u, 100u << std::min(r->attempts - 1, 5u));
    r->retryAt = Clock::now() + std::chrono::milliseconds(ms);
    r->err = 0;
    retryQ.push_back(r);
    return;
  }
  NbdFailure f = NbdFailure::FromErrno(r->errOp, r->err, r->errMsg);
  if (!conn->deadMsg.empty()) f.message += " (" + conn->deadMsg + ")";
  f.endpoint = conn->spec->name;
  f.offset = (int64_t)r->off;
  c->Fail(f);
}
