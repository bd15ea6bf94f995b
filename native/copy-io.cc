// See copy-io.h. libnbd callbacks run inside nbd_aio_* / nbd_aio_notify_*
// with the handle's lock held: they only record what happened.
#include "copy-io.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

short PollEvents(nbd_handle *h) {
  unsigned dir = nbd_aio_get_direction(h);
  short ev = 0;
  if (dir & LIBNBD_AIO_DIRECTION_READ) ev |= POLLIN;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE) ev |= POLLOUT;
  return ev;
}

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

bool WaitFor(Copier *c, Conn *conn, SyncWait *w, const char *op, NbdFailure *f) {
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

