// Opening the endpoints (Copier::OpenAll): the first source and target
// connections, what they can do (size, extents, zeroing, multi-conn, block
// sizes), whether the target already reads as zero, the plan of the work,
// then the remaining connections.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "copier.h"
#include "copy-io.h"

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
