// NbdHandle's completions and its poll loop (see nbd-handle.h): libuv polls
// the handle's socket; libnbd's state machine runs there, and completed
// commands settle their promises afterwards, outside libnbd.
#include <cerrno>
#include <cstring>

#include "nbd-handle-op.h"

void NbdHandle::MaybeDelete(Op *op) {
  if (op->settled && op->freed) delete op;
}

// Settle one op's promise. Runs on the JS thread, outside libnbd.
void NbdHandle::Settle(Op *op) {
  if (op->settled) return;
  Napi::Env env = env_;
  if (op->failure.set()) {
    op->deferred.Reject(MakeNbdError(env, op->failure));
  } else if (op->error != 0) {
    NbdFailure f = NbdFailure::FromErrno(op->name, op->error);
    f.offset = op->offset;
    if (h_ && nbd_aio_is_dead(h_)) f.message += " (the connection to the server was lost)";
    op->deferred.Reject(MakeNbdError(env, f));
  } else if (op->wantExtents) {
    Napi::Array out = Napi::Array::New(env, op->extents.size());
    for (size_t i = 0; i < op->extents.size(); i++) {
      const auto &e = op->extents[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("context", e.context);
      o.Set("offset", Napi::Number::New(env, (double)e.offset));
      Napi::Array entries = Napi::Array::New(env, e.entries.size());
      for (size_t j = 0; j < e.entries.size(); j++) entries.Set(j, Napi::Number::New(env, e.entries[j]));
      o.Set("entries", entries);
      out.Set(i, o);
    }
    op->deferred.Resolve(out);
  } else {
    op->deferred.Resolve(env.Undefined());
  }
  op->settled = true;
  op->bufRef.Reset();
  if (ops_.erase(op)) Unref();
  MaybeDelete(op);
}

void NbdHandle::PollCb(uv_poll_t *p, int status, int events) {
  static_cast<NbdHandle *>(p->data)->OnPoll(status, events);
}

void NbdHandle::OnPoll(int status, int events) {
  if (closed_) return;
  Napi::HandleScope hs(env_);
  Napi::CallbackScope cs(env_, *asyncContext_);
  NbdFailure notifyFail;
  if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT))) {
    if (nbd_aio_notify_read(h_) == -1) notifyFail = NbdFailure::FromLibnbd("nbd_aio_notify_read");
  }
  if (!notifyFail.set() && (events & UV_WRITABLE)) {
    if (nbd_aio_notify_write(h_) == -1) notifyFail = NbdFailure::FromLibnbd("nbd_aio_notify_write");
  }
  if (connectOp_) {
    Op *op = connectOp_;
    if (nbd_aio_is_ready(h_)) {
      connectOp_ = nullptr;
      op->deferred.Resolve(env_.Undefined());
      delete op;
      Unref();
    } else if (notifyFail.set() || nbd_aio_is_dead(h_) || nbd_aio_is_closed(h_)) {
      connectOp_ = nullptr;
      NbdFailure f = notifyFail.set() ? notifyFail : NbdFailure::FromErrno(op->name, ENOTCONN);
      f.op = op->name;
      op->deferred.Reject(MakeNbdError(env_, f));
      delete op;
      Unref();
    }
  }
  std::vector<Op *> done;
  done.swap(completed_);
  for (Op *op : done) Settle(op);
  if (!closed_ && nbd_aio_is_dead(h_) && !ops_.empty()) {
    // Commands the dead connection could not even complete.
    std::vector<Op *> rest(ops_.begin(), ops_.end());
    for (Op *op : rest) {
      if (!op->failure.set()) {
        op->failure = notifyFail.set() ? notifyFail : NbdFailure::FromErrno(op->name, ENOTCONN);
        op->failure.offset = op->offset;
      }
      Settle(op);
    }
  }
  Rearm();
}

// Start, change or stop the poll to match what libnbd wants. The poll runs
// only while something is pending, so an idle handle does not keep the event
// loop (and so the process or worker) alive.
void NbdHandle::Rearm() {
  if (closed_ || !h_) return;
  uv_loop_t *loop = nullptr;
  int fd = nbd_aio_get_fd(h_);
  if (fd != fd_ && poll_) {
    // libnbd moved to another socket (for example the next address of a host).
    uv_close(reinterpret_cast<uv_handle_t *>(poll_),
             [](uv_handle_t *hd) { delete reinterpret_cast<uv_poll_t *>(hd); });
    poll_ = nullptr;
    polling_ = false;
  }
  fd_ = fd;
  if (fd_ < 0) return;
  if (!poll_) {
    napi_get_uv_event_loop(env_, &loop);
    poll_ = new uv_poll_t;
    if (uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      return;
    }
    poll_->data = this;
  }
  bool want = connectOp_ != nullptr || !ops_.empty();
  if (!want) {
    if (polling_) uv_poll_stop(poll_);
    polling_ = false;
    return;
  }
  unsigned dir = nbd_aio_get_direction(h_);
  int ev = UV_DISCONNECT;
  if (dir & LIBNBD_AIO_DIRECTION_READ) ev |= UV_READABLE;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE) ev |= UV_WRITABLE;
  if (!polling_ || ev != pollEvents_) {
    uv_poll_start(poll_, ev, PollCb);
    polling_ = true;
    pollEvents_ = ev;
  }
}
