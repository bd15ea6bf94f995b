// NbdHandle's I/O commands (see nbd-handle.h): each issued with
// nbd_aio_*, its promise settled when the poll loop sees it complete
// (nbd-handle-poll.cc). libnbd's callbacks run with the handle's lock held:
// they only record results in completed_.
#include <cerrno>
#include <cstring>

#include "nbd-handle-op.h"

static int CompletionCb(void *ud, int *error) {
  auto *op = static_cast<NbdHandle::Op *>(ud);
  op->error = *error;
  op->owner->completedPush(op);
  return 1;  // retire the command
}

static void FreeCb(void *ud) {
  auto *op = static_cast<NbdHandle::Op *>(ud);
  op->freed = true;
  if (op->settled) delete op;
}

int OpExtentCb(void *ud, const char *metacontext, uint64_t offset, uint32_t *entries,
             size_t nr_entries, int *error) {
  auto *op = static_cast<NbdHandle::Op *>(ud);
  op->extents.push_back({metacontext, offset, std::vector<uint32_t>(entries, entries + nr_entries)});
  return 0;
}

nbd_completion_callback Completion(NbdHandle::Op *op) {
  return nbd_completion_callback{CompletionCb, op, FreeCb};
}


Napi::Value NbdHandle::Issue(Napi::Env env, Op *op, int64_t cookie) {
  Napi::Promise p = op->deferred.Promise();
  if (cookie == -1) {
    NbdFailure f = NbdFailure::FromLibnbd(op->name);
    f.offset = op->offset;
    op->failure = f;
    Settle(op);
  }
  // Replies may already have been read inside the call.
  std::vector<Op *> done;
  done.swap(completed_);
  for (Op *o : done) Settle(o);
  Rearm();
  return p;
}

// napi_get_typedarray_info rather than ArrayBuffer().Data(): the latter fails
// (leaving a null pointer) when the memory is a SharedArrayBuffer.
static bool GetBuffer(const Napi::Value &v, void **data, size_t *len) {
  if (!v.IsTypedArray()) return false;
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  if (napi_get_typedarray_info(v.Env(), v, nullptr, nullptr, data, nullptr, nullptr) != napi_ok) return false;
  *len = ta.ByteLength();
  return *data != nullptr || *len == 0;
}

static uint32_t FlagsArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() > i && info[i].IsNumber()) return info[i].As<Napi::Number>().Uint32Value();
  return 0;
}

// A new op, registered as pending (and keeping this object alive) before
// libnbd is called: its completion can run inside the call.
NbdHandle::Op *NbdHandle::Begin(Napi::Env env, const char *name, int64_t offset) {
  Op *op = new Op(this, name, env);
  op->offset = offset;
  ops_.insert(op);
  Ref();
  return op;
}

// pread / pwrite: (buf, offset[, flags]); the buffer is used in place.
template <typename Call>
Napi::Value NbdHandle::BufferCommand(const Napi::CallbackInfo &info, const char *name, Call call) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 2);
  if (!CheckOpen(env, name)) return env.Undefined();
  void *data;
  size_t len;
  uint64_t offset;
  if (!GetBuffer(info[0], &data, &len)) {
    Napi::TypeError::New(env, "buf must be a Uint8Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!GetU64(info[1], "offset", &offset)) return env.Undefined();
  Op *op = Begin(env, name, (int64_t)offset);
  op->bufRef = Napi::Persistent(info[0].As<Napi::Object>());
  return Issue(env, op, call(data, len, offset, Completion(op), FlagsArg(info, 2)));
}

// zero / trim: (count, offset[, flags]).
template <typename Call>
Napi::Value NbdHandle::RangeCommand(const Napi::CallbackInfo &info, const char *name, Call call) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 2);
  if (!CheckOpen(env, name)) return env.Undefined();
  uint64_t count, offset;
  if (!GetU64(info[0], "count", &count) || !GetU64(info[1], "offset", &offset)) return env.Undefined();
  Op *op = Begin(env, name, (int64_t)offset);
  return Issue(env, op, call(count, offset, Completion(op), FlagsArg(info, 2)));
}

Napi::Value NbdHandle::Pread(const Napi::CallbackInfo &info) {
  return BufferCommand(info, "nbd_aio_pread", [this](void *d, size_t n, uint64_t off, nbd_completion_callback c, uint32_t f) {
    return nbd_aio_pread(h_, d, n, off, c, f);
  });
}

Napi::Value NbdHandle::Pwrite(const Napi::CallbackInfo &info) {
  return BufferCommand(info, "nbd_aio_pwrite", [this](void *d, size_t n, uint64_t off, nbd_completion_callback c, uint32_t f) {
    return nbd_aio_pwrite(h_, d, n, off, c, f);
  });
}

Napi::Value NbdHandle::Zero(const Napi::CallbackInfo &info) {
  return RangeCommand(info, "nbd_aio_zero", [this](uint64_t n, uint64_t off, nbd_completion_callback c, uint32_t f) {
    return nbd_aio_zero(h_, n, off, c, f);
  });
}

Napi::Value NbdHandle::Trim(const Napi::CallbackInfo &info) {
  return RangeCommand(info, "nbd_aio_trim", [this](uint64_t n, uint64_t off, nbd_completion_callback c, uint32_t f) {
    return nbd_aio_trim(h_, n, off, c, f);
  });
}

Napi::Value NbdHandle::Flush(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "nbd_aio_flush")) return env.Undefined();
  Op *op = Begin(env, "nbd_aio_flush", -1);
  return Issue(env, op, nbd_aio_flush(h_, Completion(op), FlagsArg(info, 0)));
}

Napi::Value NbdHandle::BlockStatus(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 2);
  if (!CheckOpen(env, "nbd_aio_block_status")) return env.Undefined();
  uint64_t count, offset;
  if (!GetU64(info[0], "count", &count) || !GetU64(info[1], "offset", &offset)) return env.Undefined();
  Op *op = Begin(env, "nbd_aio_block_status", (int64_t)offset);
  op->wantExtents = true;
  return Issue(env, op,
               nbd_aio_block_status(h_, count, offset, nbd_extent_callback{OpExtentCb, op, nullptr},
                                    Completion(op), FlagsArg(info, 2)));
}
