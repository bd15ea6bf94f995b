// See copier.h for the design. Hazards kept in mind here:
// - libnbd callbacks run inside nbd_aio_* / nbd_aio_notify_* with the handle's
//   lock held: they only update the request and queue it; all follow-up
//   commands are issued from the copy thread's loop.
// - nbd_get_error()/nbd_get_errno() are thread-local: read at the failing call.
// - a request buffer is owned by libnbd from nbd_aio_pread/pwrite until its
//   completion; buffers are freed only after nbd_close of every handle.
#include "copier.h"
#include "size-tuner.h"

#include <cmath>

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

using Clock = std::chrono::steady_clock;

struct Conn {
  const EndpointSpec *spec = nullptr;
  nbd_handle *h = nullptr;  // NBD endpoints
  int fd = -1;              // FILE endpoints
  std::string deadMsg;      // libnbd's message when the connection died
  bool isNbd() const { return h != nullptr; }
  bool isNull() const { return spec->kind == EndpointSpec::NULLDEV; }
};

namespace {

bool IsZero(const uint8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < 16 && i < n; i++)
    if (p[i]) return false;
  if (n <= 16) return true;
  return memcmp(p, p + 16, n - 16) == 0;
}

short PollEvents(nbd_handle *h) {
  unsigned dir = nbd_aio_get_direction(h);
  short ev = 0;
  if (dir & LIBNBD_AIO_DIRECTION_READ) ev |= POLLIN;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE) ev |= POLLOUT;
  return ev;
}

// Run libnbd's state machine after poll(2) said the socket is ready.
// Returns false when the connection died (conn->deadMsg says why).
bool Notify(Conn *conn, short revents) {
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    if (nbd_aio_notify_read(conn->h) == -1) {
      if (conn->deadMsg.empty()) conn->deadMsg = nbd_get_error() ? nbd_get_error() : "connection lost";
      return false;
    }
  }
  if (revents & POLLOUT) {
    if (nbd_aio_notify_write(conn->h) == -1) {
      if (conn->deadMsg.empty()) conn->deadMsg = nbd_get_error() ? nbd_get_error() : "connection lost";
      return false;
    }
  }
  return true;
}

struct Extent {
  uint64_t off, len;
  bool zero;
};

// One command waited for synchronously (connect, block status, flush, zero
// probe), abandonable on cancel: libnbd frees it through SyncFree.
struct SyncWait {
  bool done = false, freed = false, abandoned = false;
  int err = 0;
  // block status results
  std::vector<Extent> extents;
  uint64_t end = 0;
};

int SyncCb(void *ud, int *error) {
  auto *w = static_cast<SyncWait *>(ud);
  w->done = true;
  w->err = *error;
  return 1;
}

void SyncFree(void *ud) {
  auto *w = static_cast<SyncWait *>(ud);
  w->freed = true;
  if (w->abandoned) delete w;
}

void Release(SyncWait *w) {
  if (w->freed) delete w;
  else w->abandoned = true;
}

int ExtentCb(void *ud, const char *metacontext, uint64_t offset, uint32_t *entries, size_t n,
             int *error) {
  auto *w = static_cast<SyncWait *>(ud);
  if (strcmp(metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0) return 0;
  for (size_t i = 0; i + 1 < n && offset < w->end; i += 2) {
    uint64_t len = std::min<uint64_t>(entries[i], w->end - offset);
    if (len == 0) break;
    bool zero = (entries[i + 1] & LIBNBD_STATE_ZERO) != 0;
    w->extents.push_back({offset, len, zero});
    offset += len;
  }
  return 0;
}

}  // namespace

// Wait for a SyncWait'ed command, or for the connection to finish connecting
// when w is null. Returns false if cancelled; on failure fills *f.
static bool WaitFor(Copier *c, Conn *conn, SyncWait *w, const char *op, NbdFailure *f) {
  for (;;) {
    if (w ? w->done : !nbd_aio_is_connecting(conn->h)) break;
    if (c->Cancelled()) return false;
    int fd = nbd_aio_get_fd(conn->h);
    if (fd < 0 || nbd_aio_is_dead(conn->h) || nbd_aio_is_closed(conn->h)) break;
    struct pollfd fds[2] = {{fd, PollEvents(conn->h), 0}, {c->cancelFd, POLLIN, 0}};
    int r = poll(fds, 2, -1);
    if (r < 0 && errno != EINTR) {
      *f = NbdFailure::FromErrno("poll", errno);
      return true;
    }
    if (r > 0 && fds[0].revents) Notify(conn, fds[0].revents);
  }
  if (w ? (w->done && w->err == 0) : nbd_aio_is_ready(conn->h)) return true;
  int err = w && w->err ? w->err : ENOTCONN;
  // A lost connection: libnbd's own words say more than strerror(ENOTCONN).
  *f = NbdFailure::FromErrno(op, err, conn->deadMsg);
  return true;
}

// ------------------------------------------------------------------ opening

static bool OpenNbd(Copier *c, Conn *conn, bool isSrc, unsigned index) {
  const EndpointSpec &s = *conn->spec;
  conn->h = nbd_create();
  NbdFailure f;
  if (!conn->h) {
    f = NbdFailure::FromLibnbd("nbd_create");
    f.endpoint = s.name;
    c->Fail(f);
    return false;
  }
  std::string hname = std::string(isSrc ? "src" : "dst") + std::to_string(index);
  nbd_set_handle_name(conn->h, hname.c_str());
  nbd_add_meta_context(conn->h, LIBNBD_CONTEXT_BASE_ALLOCATION);
  if (isSrc) nbd_set_pread_initialize(conn->h, false);
  int r;
  const char *op;
  std::vector<char *> argv;
  for (auto &a : s.argv) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  switch (s.kind) {
    case EndpointSpec::NBD_URI:
      op = "nbd_aio_connect_uri";
      r = nbd_aio_connect_uri(conn->h, s.uri.c_str());
      break;
    case EndpointSpec::NBD_SYSTEMD:
      op = "nbd_aio_connect_systemd_socket_activation";
      r = nbd_aio_connect_systemd_socket_activation(conn->h, argv.data());
      break;
    default:
      op = "nbd_aio_connect_command";
      r = nbd_aio_connect_command(conn->h, argv.data());
      break;
  }
  if (r == -1) {
    f = NbdFailure::FromLibnbd(op);
    f.endpoint = s.name;
    c->Fail(f);
    return false;
  }
  int fd = nbd_aio_get_fd(conn->h);
  if (fd >= 0 && c->cfg.socketBuffer > 0) {
    // Larger socket buffers mean fewer wake-ups per byte (measured on Unix
    // sockets: see docs/ARCHITECTURE.md). Failure here is harmless.
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &c->cfg.socketBuffer, sizeof(int));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &c->cfg.socketBuffer, sizeof(int));
  }
  if (!WaitFor(c, conn, nullptr, op, &f)) return false;
  if (f.set()) {
    f.endpoint = s.name;
    c->Fail(f);
    return false;
  }
  return true;
}

static bool OpenFile(Copier *c, Conn *conn, bool isSrc, bool first, uint64_t srcSize) {
  const EndpointSpec &s = *conn->spec;
  int flags = O_CLOEXEC | O_NOCTTY | (isSrc ? O_RDONLY : O_RDWR);
  if (!isSrc && first) flags |= O_CREAT;
  conn->fd = open(s.path.c_str(), flags, 0644);
  if (conn->fd < 0) {
    NbdFailure f = NbdFailure::FromErrno("open", errno);
    f.endpoint = s.name;
    c->Fail(f);
    return false;
  }
  struct stat st;
  if (fstat(conn->fd, &st) == -1 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
    NbdFailure f = NbdFailure::FromErrno("open", EINVAL, "not a regular file or block device");
    f.endpoint = s.name;
    c->Fail(f);
    return false;
  }
  if (!isSrc && first && S_ISREG(st.st_mode)) {
    // A regular target file is made exactly the source's size and empty, so
    // it is known to be zero and keeps the source's holes; a ranges copy
    // keeps what it holds and only grows it to the source's size.
    bool keep = c->cfg.hasRanges;
    if (keep ? (uint64_t)st.st_size < srcSize && ftruncate(conn->fd, (off_t)srcSize) == -1
             : ftruncate(conn->fd, 0) == -1 || ftruncate(conn->fd, (off_t)srcSize) == -1) {
      NbdFailure f = NbdFailure::FromErrno("ftruncate", errno);
      f.endpoint = s.name;
      c->Fail(f);
      return false;
    }
  }
  return true;
}

static uint64_t FileSize(int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) return (uint64_t)st.st_size;
  uint64_t sz = 0;
  if (ioctl(fd, BLKGETSIZE64, &sz) == 0) return sz;
  return 0;
}

static bool FileIsRegular(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

// ------------------------------------------------------------- copy thread

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

bool CopyThread::GetNbdExtents(uint64_t start, uint64_t end) {
  uint64_t pos = start;
  while (pos < end) {
    auto *w = new SyncWait;
    w->end = end;
    int64_t cookie = nbd_aio_block_status(src->h, end - pos, pos, nbd_extent_callback{ExtentCb, w, nullptr},
                                          nbd_completion_callback{SyncCb, w, SyncFree}, 0);
    if (cookie == -1) {
      Release(w);
      return false;
    }
    NbdFailure f;
    if (!WaitFor(c, src, w, "nbd_aio_block_status", &f)) {
      Release(w);
      return true;  // cancelled: the loop notices
    }
    uint64_t covered = pos;
    for (auto &e : w->extents) {
      if (e.off != covered) break;  // only trust a contiguous answer
      ext.push_back(e);
      covered = e.off + e.len;
    }
    Release(w);
    if (f.set() || covered == pos) return false;
    pos = covered;
  }
  return true;
}

void CopyThread::GetFileExtents(uint64_t start, uint64_t end) {
  uint64_t pos = start;
  while (pos < end) {
    off_t d = lseek(src->fd, (off_t)pos, SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) ext.push_back({pos, end - pos, true});
      else ext.push_back({pos, end - pos, false});
      return;
    }
    if ((uint64_t)d > pos) ext.push_back({pos, std::min<uint64_t>(d, end) - pos, true});
    if ((uint64_t)d >= end) return;
    off_t h = lseek(src->fd, d, SEEK_HOLE);
    uint64_t he = h < 0 ? end : std::min<uint64_t>(h, end);
    ext.push_back({(uint64_t)d, he - d, false});
    pos = he;
  }
}

bool CopyThread::FetchRange() {
  uint64_t i = c->nextRange.fetch_add(1);
  if (i >= c->pieces.size()) {
    exhausted = true;
    return false;
  }
  const Copier::Piece &piece = c->pieces[i];
  uint64_t start = piece.start, end = piece.end;
  ext.clear();
  extIdx = 0;
  if (c->srcExtents) {
    if (src->isNbd()) {
      if (!GetNbdExtents(start, end)) {
        // Failure to get block status is not fatal: read everything.
        c->extentFailures++;
        ext.clear();
      }
      if (c->Cancelled()) return false;
      if (!ext.empty() && ext.back().off + ext.back().len < end) {
        uint64_t e = ext.back().off + ext.back().len;
        ext.push_back({e, end - e, false});
      }
    } else {
      GetFileExtents(start, end);
    }
  }
  if (ext.empty()) ext.push_back({start, end - start, false});
  // Merge neighbours of the same kind so zero runs become one request.
  std::vector<Extent> merged;
  for (auto &e : ext) {
    if (!merged.empty() && merged.back().zero == e.zero && merged.back().off + merged.back().len == e.off)
      merged.back().len += e.len;
    else
      merged.push_back(e);
  }
  ext.swap(merged);
  if (c->dstAlign > 1 && ext.size() > 1) AlignExtents(start, end);
  ClipToPiece(piece);
  if (!ext.empty()) extPos = ext[0].off;  // never empty: the runs lie in the piece
  return true;
}

// Keep only the parts of the piece's extents (which cover [start, end)) that
// lie in its runs: a ranges copy reads and writes nothing else.
void CopyThread::ClipToPiece(const Copier::Piece &p) {
  if (p.count == 1 && c->subs[p.first].off == p.start && c->subs[p.first].len == p.end - p.start) return;
  std::vector<Extent> out;
  size_t j = 0;
  for (size_t k = p.first; k < p.first + p.count; k++) {
    uint64_t rs = c->subs[k].off, re = rs + c->subs[k].len;
    while (j < ext.size() && ext[j].off + ext[j].len <= rs) j++;
    for (size_t m = j; m < ext.size() && ext[m].off < re; m++) {
      uint64_t s = std::max(rs, ext[m].off), t = std::min(re, ext[m].off + ext[m].len);
      if (t > s) out.push_back({s, t - s, ext[m].zero});
    }
  }
  ext.swap(out);
}

// The next request-sized piece of work; zero extents on a target known to
// be zero are counted as done on the way.
bool CopyThread::NextItem(uint64_t *off, uint64_t *len, bool *zero) {
  for (;;) {
    if (extIdx >= ext.size()) {
      if (exhausted || !FetchRange()) return false;
      continue;
    }
    Extent &e = ext[extIdx];
    uint64_t end = e.off + e.len;
    uint64_t remaining = end - extPos;
    if (e.zero && c->dstZero) {
      c->bytesSkipped += remaining;
      c->bytesDone += remaining;
      extIdx++;
      if (extIdx < ext.size()) extPos = ext[extIdx].off;
      continue;
    }
    uint64_t max = (e.zero && c->dstCanZero) ? remaining : tuner.Size();
    *off = extPos;
    *len = std::min(remaining, max);
    *zero = e.zero;
    extPos += *len;
    if (extPos >= end) {
      extIdx++;
      if (extIdx < ext.size()) extPos = ext[extIdx].off;
    }
    return true;
  }
}

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
  if (!r->zeroOnly) tuner.Count(r->issued, r->len);
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

// ---------------------------------------------------------- the rate limit

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

// --------------------------------------------------------------- the object

Napi::Function Copier::Init(Napi::Env env) {
  return DefineClass(env, "Copier",
                     {
                         InstanceMethod("start", &Copier::Start),
                         InstanceMethod("progress", &Copier::Progress),
                         InstanceMethod("cancel", &Copier::Cancel),
                     });
}

static bool ParseEndpoint(Napi::Env env, Napi::Value v, EndpointSpec *s) {
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  std::string kind = o.Get("kind").ToString().Utf8Value();
  s->name = o.Get("name").ToString().Utf8Value();
  if (kind == "nbd-uri") {
    s->kind = EndpointSpec::NBD_URI;
    s->uri = o.Get("uri").ToString().Utf8Value();
  } else if (kind == "nbd-systemd" || kind == "nbd-command") {
    s->kind = kind == "nbd-systemd" ? EndpointSpec::NBD_SYSTEMD : EndpointSpec::NBD_COMMAND;
    Napi::Value a = o.Get("argv");
    if (!a.IsArray() || a.As<Napi::Array>().Length() == 0) return false;
    Napi::Array arr = a.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) s->argv.push_back(arr.Get(i).ToString().Utf8Value());
  } else if (kind == "file") {
    s->kind = EndpointSpec::FILE;
    s->path = o.Get("path").ToString().Utf8Value();
  } else if (kind == "null") {
    s->kind = EndpointSpec::NULLDEV;
  } else {
    return false;
  }
  return true;
}

Copier::Copier(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Copier>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "Copier: expected a config object").ThrowAsJavaScriptException();
    return;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  if (!ParseEndpoint(env, o.Get("source"), &cfg.src) || !ParseEndpoint(env, o.Get("target"), &cfg.dst)) {
    Napi::TypeError::New(env, "Copier: bad source or target").ThrowAsJavaScriptException();
    return;
  }
  if (cfg.src.kind == EndpointSpec::NULLDEV) {
    Napi::TypeError::New(env, "Copier: null: can only be a target").ThrowAsJavaScriptException();
    return;
  }
  uint32_t u;
  uint64_t u64;
  if (!GetU32(o.Get("connections"), "connections", &u)) return;
  cfg.connections = std::max(1u, u);
  if (!GetU32(o.Get("requests"), "requests", &u)) return;
  cfg.requests = std::max(1u, u);
  if (!GetU32(o.Get("requestSize"), "requestSize", &cfg.requestSize)) return;
  Napi::Value maxReq = o.Get("maxRequestSize");
  if (!maxReq.IsUndefined() && !GetU32(maxReq, "maxRequestSize", &cfg.maxRequestSize)) return;
  Napi::Value queue = o.Get("queueBytes");
  if (!queue.IsUndefined() && !GetU64(queue, "queueBytes", &cfg.queueBytes)) return;
  Napi::Value bufBudget = o.Get("bufferBudget");
  if (!bufBudget.IsUndefined() && !GetU64(bufBudget, "bufferBudget", &cfg.bufferBudget)) return;
  if (!GetU64(o.Get("rangeSize"), "rangeSize", &u64)) return;
  cfg.rangeSize = u64;
  if (!GetU32(o.Get("sparse"), "sparse", &cfg.sparse)) return;
  if (!GetU32(o.Get("retries"), "retries", &u)) return;
  cfg.retries = u;
  if (!GetU32(o.Get("socketBuffer"), "socketBuffer", &u)) return;
  cfg.socketBuffer = (int)u;
  cfg.targetIsZero = o.Get("targetIsZero").ToBoolean();
  cfg.allocated = o.Get("allocated").ToBoolean();
  cfg.extents = o.Get("extents").ToBoolean();
  cfg.flush = o.Get("flush").ToBoolean();
  Napi::Value rate = o.Get("rateLimit");
  if (!rate.IsUndefined() && !GetU64(rate, "rateLimit", &cfg.rateLimit)) return;
  Napi::Value ranges = o.Get("ranges");
  if (!ranges.IsUndefined() && !ranges.IsNull()) {
    if (!ranges.IsArray()) {
      Napi::TypeError::New(env, "Copier: ranges must be an array").ThrowAsJavaScriptException();
      return;
    }
    Napi::Array arr = ranges.As<Napi::Array>();
    cfg.hasRanges = true;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value r = arr.Get(i);
      ByteRange br;
      if (!r.IsObject()) {
        Napi::TypeError::New(env, "Copier: ranges[" + std::to_string(i) + "] must be {offset, length}")
            .ThrowAsJavaScriptException();
        return;
      }
      if (!GetU64(r.As<Napi::Object>().Get("offset"), "ranges[].offset", &br.off) ||
          !GetU64(r.As<Napi::Object>().Get("length"), "ranges[].length", &br.len))
        return;
      uint64_t prevEnd = cfg.ranges.empty() ? 0 : cfg.ranges.back().off + cfg.ranges.back().len;
      if (br.len == 0 || br.len > UINT64_MAX - br.off || br.off < prevEnd) {
        Napi::RangeError::New(env, "Copier: ranges[" + std::to_string(i) +
                                       "]: ranges must be non-empty, sorted and not overlapping")
            .ThrowAsJavaScriptException();
        return;
      }
      cfg.ranges.push_back(br);
    }
  }
  if (cfg.requestSize < 512 || cfg.requestSize > (32u << 20) || cfg.rangeSize < cfg.requestSize ||
      cfg.rangeSize % cfg.requestSize != 0 || cfg.rangeSize > (2ull << 30) ||
      (cfg.sparse && cfg.requestSize % cfg.sparse != 0) || cfg.maxRequestSize > (32u << 20)) {
    Napi::RangeError::New(env, "Copier: inconsistent sizes").ThrowAsJavaScriptException();
    return;
  }
  cancelFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Copier::~Copier() {
  Shutdown();
  if (cancelFd >= 0) close(cancelFd);
  free(zeroBuf);
}

void Copier::Fail(NbdFailure f) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!failure_.set() && !cancelled_) failure_ = f;
  }
  stop = true;
  uint64_t one = 1;
  if (write(cancelFd, &one, sizeof one) < 0) { /* eventfd overflow cannot happen */ }
}

Napi::Value Copier::Cancel(const Napi::CallbackInfo &info) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!failure_.set()) cancelled_ = true;
  }
  stop = true;
  uint64_t one = 1;
  if (write(cancelFd, &one, sizeof one) < 0) { /* see above */ }
  return info.Env().Undefined();
}

Napi::Value Copier::Progress(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("done", Napi::Number::New(env, (double)bytesDone.load()));
  o.Set("total", Napi::Number::New(env, (double)total.load()));
  return o;
}

Napi::Value Copier::Start(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (started_) {
    Napi::Error::New(env, "Copier: already started").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  started_ = true;
  deferred_ = new Napi::Promise::Deferred(env);
  Napi::Promise p = deferred_->Promise();
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo &) {}),
                                        "v2v-copier", 0, 1);
  Ref();
  Addon::Get(env)->copiers.insert(this);
  controller_ = std::thread([this] { Run(); });
  return p;
}

bool Copier::OpenAll() {
  auto openOne = [this](std::vector<Conn *> &v, const EndpointSpec &spec, bool isSrc) -> bool {
    Conn *cn = new Conn;
    cn->spec = &spec;
    v.push_back(cn);
    unsigned idx = (unsigned)v.size() - 1;
    switch (spec.kind) {
      case EndpointSpec::FILE:
        return OpenFile(this, cn, isSrc, idx == 0, size);
      case EndpointSpec::NULLDEV:
        return true;
      default:
        return OpenNbd(this, cn, isSrc, idx);
    }
  };
  if (!openOne(srcs_, cfg.src, true)) return false;
  Conn *s0 = srcs_[0];
  if (s0->isNbd()) {
    int64_t sz = nbd_get_size(s0->h);
    if (sz < 0) {
      NbdFailure f = NbdFailure::FromLibnbd("nbd_get_size");
      f.endpoint = cfg.src.name;
      Fail(f);
      return false;
    }
    size = (uint64_t)sz;
    srcExtents = cfg.extents && nbd_can_meta_context(s0->h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  } else {
    size = FileSize(s0->fd);
    srcExtents = cfg.extents && FileIsRegular(s0->fd);
  }
  if (!openOne(dsts_, cfg.dst, false)) return false;
  Conn *d0 = dsts_[0];
  unsigned conns = cfg.connections;
  if (d0->isNbd()) {
    if (nbd_is_read_only(d0->h) == 1) {
      NbdFailure f = NbdFailure::FromErrno("nbd_is_read_only", EROFS, "the target is read-only");
      f.endpoint = cfg.dst.name;
      Fail(f);
      return false;
    }
    int64_t dsz = nbd_get_size(d0->h);
    if (dsz >= 0 && (uint64_t)dsz < size) {
      NbdFailure f = NbdFailure::FromErrno(
          "nbd_get_size", ENOSPC,
          "the target is smaller (" + std::to_string(dsz) + " bytes) than the source (" +
              std::to_string(size) + " bytes)");
      f.endpoint = cfg.dst.name;
      Fail(f);
      return false;
    }
    dstCanZero = nbd_can_zero(d0->h) == 1;
    int64_t pref = nbd_get_block_size(d0->h, LIBNBD_SIZE_PREFERRED);
    if (pref > 0) dstPreferred = (uint32_t)pref;
    int64_t minimum = nbd_get_block_size(d0->h, LIBNBD_SIZE_MINIMUM);
    if (minimum > 1) dstAlign = (uint32_t)minimum;
    if (cfg.dst.kind != EndpointSpec::NBD_URI || nbd_can_multi_conn(d0->h) != 1) conns = 1;
  } else if (d0->isNull()) {
    dstCanZero = true;
    dstZero = true;
  } else {
    dstCanZero = true;
    if (FileSize(d0->fd) < size) {
      NbdFailure f = NbdFailure::FromErrno("open", ENOSPC, "the target device is smaller than the source");
      f.endpoint = cfg.dst.name;
      Fail(f);
      return false;
    }
    dstZero = !cfg.hasRanges && FileIsRegular(d0->fd);  // emptied and resized by OpenFile
  }
  if (s0->isNbd() && (cfg.src.kind != EndpointSpec::NBD_URI || nbd_can_multi_conn(s0->h) != 1)) conns = 1;
  if (cfg.targetIsZero) dstZero = true;
  if (cfg.allocated) dstZero = false;  // every byte of the target gets written

  // Probe whether an NBD target already reads as zero over the source's size
  // (a fresh disk, an nbdkit memory disk): then zeroes need not be written.
  // Not for a ranges copy: it updates a target that holds data.
  if (!dstZero && !cfg.allocated && !cfg.hasRanges && d0->isNbd() && size > 0 && nbd_can_meta_context(d0->h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1) {
    uint64_t pos = 0;
    bool allZero = true;
    for (int i = 0; i < 64 && pos < size && allZero; i++) {
      auto *w = new SyncWait;
      w->end = size;
      uint64_t count = std::min<uint64_t>(size - pos, 1ull << 31);
      if (nbd_aio_block_status(d0->h, count, pos, nbd_extent_callback{ExtentCb, w, nullptr},
                               nbd_completion_callback{SyncCb, w, SyncFree}, 0) == -1) {
        Release(w);
        allZero = false;
        break;
      }
      NbdFailure f;
      if (!WaitFor(this, d0, w, "nbd_aio_block_status", &f)) {
        Release(w);
        return false;
      }
      uint64_t covered = pos;
      for (auto &e : w->extents) {
        if (e.off != covered || !e.zero) {
          allZero = false;
          break;
        }
        covered += e.len;
      }
      Release(w);
      if (f.set() || covered == pos) allZero = false;
      pos = covered;
    }
    dstZero = allZero && pos >= size;
  }
  if (cfg.sparse && dstPreferred > cfg.sparse && dstPreferred <= cfg.requestSize &&
      cfg.requestSize % dstPreferred == 0)
    cfg.sparse = dstPreferred;
  if (!AlignToTarget() || !PlanWork()) return false;
  // Zeroes to write where the target cannot zero (calloc'd pages cost
  // nothing until read).
  zeroBuf = static_cast<uint8_t *>(calloc(1, std::max(cfg.requestSize, cfg.maxRequestSize)));
  if (!zeroBuf) {
    Fail(NbdFailure::FromErrno("calloc", ENOMEM));
    return false;
  }
  // A small copy needs no more connections than it has pieces of work.
  conns = (unsigned)std::max<uint64_t>(1, std::min<uint64_t>(conns, pieces.size()));
  for (unsigned i = 1; i < conns; i++) {
    if (Cancelled()) return false;
    if (!openOne(srcs_, cfg.src, true) || !openOne(dsts_, cfg.dst, false)) return false;
  }
  connsUsed_ = conns;
  return true;
}

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

// Round the data extents of [start, end) out to the target's blocks; what is
// left between them stays zero.
void CopyThread::AlignExtents(uint64_t start, uint64_t end) {
  const uint64_t a = c->dstAlign;
  std::vector<Extent> data, out;
  for (auto &e : ext) {
    if (e.zero) continue;
    uint64_t s = std::max(start, e.off / a * a);
    uint64_t t = std::min(end, (e.off + e.len + a - 1) / a * a);
    if (!data.empty() && data.back().off + data.back().len >= s)
      data.back().len = std::max(data.back().off + data.back().len, t) - data.back().off;
    else
      data.push_back({s, t - s, false});
  }
  uint64_t pos = start;
  for (auto &d : data) {
    if (d.off > pos) out.push_back({pos, d.off - pos, true});
    out.push_back(d);
    pos = d.off + d.len;
  }
  if (pos < end) out.push_back({pos, end - pos, true});
  ext.swap(out);
}

void Copier::Run() {
  auto t0 = Clock::now();
  bool ok = OpenAll();
  rateLast_ = Clock::now();  // the bucket starts empty when the copy starts
  if (ok && !Cancelled()) {
    std::vector<CopyThread *> ts;
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < connsUsed_; i++) ts.push_back(new CopyThread(this, srcs_[i], dsts_[i]));
    for (unsigned i = 1; i < connsUsed_; i++) threads.emplace_back([t = ts[i]] { t->Run(); });
    ts[0]->Run();
    for (auto &t : threads) t.join();
    if (!Cancelled() && cfg.flush) {
      for (Conn *d : dsts_) {
        if (d->isNbd()) {
          if (nbd_can_flush(d->h) != 1) continue;
          auto *w = new SyncWait;
          NbdFailure f;
          if (nbd_aio_flush(d->h, nbd_completion_callback{SyncCb, w, SyncFree}, 0) == -1) {
            f = NbdFailure::FromLibnbd("nbd_aio_flush");
          } else if (!WaitFor(this, d, w, "nbd_aio_flush", &f)) {
            Release(w);
            break;
          }
          Release(w);
          if (f.set()) {
            f.endpoint = cfg.dst.name;
            Fail(f);
            break;
          }
        } else if (d->fd >= 0) {
          if (fdatasync(d->fd) == -1) {
            NbdFailure f = NbdFailure::FromErrno("fdatasync", errno);
            f.endpoint = cfg.dst.name;
            Fail(f);
            break;
          }
          break;  // one fd's sync covers the file
        }
      }
    }
    // Close every handle before the buffers the threads own are freed.
    for (Conn *cn : srcs_) { nbd_close(cn->h); cn->h = nullptr; }
    for (Conn *cn : dsts_) { nbd_close(cn->h); cn->h = nullptr; }
    for (auto *t : ts) delete t;
  }
  for (Conn *cn : srcs_) {
    nbd_close(cn->h);
    if (cn->fd >= 0) close(cn->fd);
    delete cn;
  }
  for (Conn *cn : dsts_) {
    nbd_close(cn->h);
    if (cn->fd >= 0) close(cn->fd);
    delete cn;
  }
  srcs_.clear();
  dsts_.clear();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  auto status = tsfn_.BlockingCall([this, secs](Napi::Env env, Napi::Function) {
    Napi::HandleScope hs(env);
    NbdFailure f;
    bool cancelled;
    {
      std::lock_guard<std::mutex> lk(mu_);
      f = failure_;
      cancelled = cancelled_;
    }
    if (f.set()) {
      deferred_->Reject(MakeNbdError(env, f));
    } else if (cancelled) {
      deferred_->Reject(MakeOwnError(env, Addon::Get(env)->abortErrorCtor, "copy cancelled", "ABORT_ERR"));
    } else {
      Napi::Object r = Napi::Object::New(env);
      r.Set("size", Napi::Number::New(env, (double)size));
      r.Set("connections", Napi::Number::New(env, connsUsed_));
      r.Set("bytesData", Napi::Number::New(env, (double)bytesData.load()));
      r.Set("bytesZeroed", Napi::Number::New(env, (double)bytesZeroed.load()));
      r.Set("bytesSkipped", Napi::Number::New(env, (double)bytesSkipped.load()));
      r.Set("bytesRead", Napi::Number::New(env, (double)bytesRead.load()));
      r.Set("bytesTotal", Napi::Number::New(env, (double)total.load()));
      r.Set("retries", Napi::Number::New(env, (double)retriesUsed.load()));
      r.Set("extentFailures", Napi::Number::New(env, (double)extentFailures.load()));
      r.Set("targetWasZero", Napi::Boolean::New(env, dstZero));
      r.Set("sourceExtents", Napi::Boolean::New(env, srcExtents));
      r.Set("sparse", Napi::Number::New(env, cfg.sparse));
      Napi::Array sizes = Napi::Array::New(env, settledSizes.size());
      for (size_t i = 0; i < settledSizes.size(); i++) sizes.Set((uint32_t)i, Napi::Number::New(env, settledSizes[i]));
      r.Set("requestSizes", sizes);
      Napi::Array trials = Napi::Array::New(env, tunerTrials.size());
      for (size_t i = 0; i < tunerTrials.size(); i++) {
        Napi::Array t = Napi::Array::New(env, tunerTrials[i].size());
        for (size_t j = 0; j < tunerTrials[i].size(); j++) {
          Napi::Array pair = Napi::Array::New(env, 2);
          pair.Set(0u, Napi::Number::New(env, tunerTrials[i][j].size));
          pair.Set(1u, Napi::Number::New(env, std::round(tunerTrials[i][j].rate)));
          t.Set((uint32_t)j, pair);
        }
        trials.Set((uint32_t)i, t);
      }
      r.Set("requestSizeTrials", trials);
      r.Set("seconds", Napi::Number::New(env, secs));
      deferred_->Resolve(r);
    }
    delete deferred_;
    deferred_ = nullptr;
    Addon *addon = Addon::Get(env);
    if (addon) addon->copiers.erase(this);
    Unref();
  });
  (void)status;  // napi_closing at environment teardown: nobody is waiting
  tsfn_.Release();
}

void Copier::Shutdown() {
  if (!started_ || joined_) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!failure_.set()) cancelled_ = true;
  }
  stop = true;
  uint64_t one = 1;
  if (write(cancelFd, &one, sizeof one) < 0) { /* see above */ }
  if (controller_.joinable()) controller_.join();
  joined_ = true;
}
