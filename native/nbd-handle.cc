// See nbd-handle.h. Locking: libnbd callbacks run inside nbd_aio_* and
// nbd_aio_notify_* with the handle's lock held, so they only record results in
// completed_; promises are settled afterwards, outside libnbd.
#include "nbd-handle.h"
#include "addon.h"

#include <cerrno>
#include <cstring>

struct NbdHandle::Op {
  struct Extents {
    std::string context;
    uint64_t offset;
    std::vector<uint32_t> entries;
  };
  NbdHandle *owner;
  const char *name;
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference bufRef;  // keeps the caller's buffer alive
  int64_t offset = -1;
  int error = 0;
  bool freed = false;    // libnbd called .free: it will not touch us again
  bool settled = false;  // the promise is settled (or abandoned at teardown)
  bool wantExtents = false;
  std::vector<Extents> extents;
  NbdFailure failure;

  Op(NbdHandle *o, const char *n, Napi::Env env)
      : owner(o), name(n), deferred(Napi::Promise::Deferred::New(env)) {}
};

namespace {

int CompletionCb(void *ud, int *error) {
  auto *op = static_cast<NbdHandle::Op *>(ud);
  op->error = *error;
  op->owner->completedPush(op);
  return 1;  // retire the command
}

void FreeCb(void *ud) {
  auto *op = static_cast<NbdHandle::Op *>(ud);
  op->freed = true;
  if (op->settled) delete op;
}

int ExtentCb(void *ud, const char *metacontext, uint64_t offset, uint32_t *entries,
             size_t nr_entries, int *error) {
  auto *op = static_cast<NbdHandle::Op *>(ud);
  op->extents.push_back({metacontext, offset, std::vector<uint32_t>(entries, entries + nr_entries)});
  return 0;
}

nbd_completion_callback Completion(NbdHandle::Op *op) {
  return nbd_completion_callback{CompletionCb, op, FreeCb};
}

}  // namespace

void NbdHandle::completedPush(Op *op) { completed_.push_back(op); }

Napi::Function NbdHandle::Init(Napi::Env env) {
  return DefineClass(
      env, "NbdHandle",
      {
          InstanceMethod("addMetaContext", &NbdHandle::AddMetaContext),
          InstanceMethod("setExportName", &NbdHandle::SetExportName),
          InstanceMethod("setPreadInitialize", &NbdHandle::SetPreadInitialize),
          InstanceMethod("connectUri", &NbdHandle::ConnectUri),
          InstanceMethod("connectUnix", &NbdHandle::ConnectUnix),
          InstanceMethod("connectTcp", &NbdHandle::ConnectTcp),
          InstanceMethod("connectCommand", &NbdHandle::ConnectCommand),
          InstanceMethod("connectSystemdSocketActivation", &NbdHandle::ConnectSystemdSocketActivation),
          InstanceMethod("getSize", &NbdHandle::GetSize),
          InstanceMethod("getBlockSize", &NbdHandle::GetBlockSize),
          InstanceMethod("isReadOnly", &NbdHandle::IsReadOnly),
          InstanceMethod("canMultiConn", &NbdHandle::CanMultiConn),
          InstanceMethod("canZero", &NbdHandle::CanZero),
          InstanceMethod("canFastZero", &NbdHandle::CanFastZero),
          InstanceMethod("canTrim", &NbdHandle::CanTrim),
          InstanceMethod("canFlush", &NbdHandle::CanFlush),
          InstanceMethod("canFua", &NbdHandle::CanFua),
          InstanceMethod("canMetaContext", &NbdHandle::CanMetaContext),
          InstanceMethod("getHandleName", &NbdHandle::GetHandleName),
          InstanceMethod("inFlight", &NbdHandle::InFlight),
          InstanceMethod("pread", &NbdHandle::Pread),
          InstanceMethod("pwrite", &NbdHandle::Pwrite),
          InstanceMethod("zero", &NbdHandle::Zero),
          InstanceMethod("trim", &NbdHandle::Trim),
          InstanceMethod("flush", &NbdHandle::Flush),
          InstanceMethod("blockStatus", &NbdHandle::BlockStatus),
          InstanceMethod("close", &NbdHandle::Close),
      });
}

NbdHandle::NbdHandle(const Napi::CallbackInfo &info)
    : Napi::ObjectWrap<NbdHandle>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  h_ = nbd_create();
  if (!h_) {
    ThrowNbdError(env, NbdFailure::FromLibnbd("nbd_create"));
    return;
  }
  if (info.Length() > 0 && info[0].IsString()) {
    name_ = info[0].As<Napi::String>().Utf8Value();
    nbd_set_handle_name(h_, name_.c_str());
  }
  asyncContext_ = std::make_unique<Napi::AsyncContext>(env, "NbdHandle");
  Addon::Get(env)->handles.insert(this);
}

NbdHandle::~NbdHandle() { CloseHandle(true); }

bool NbdHandle::CheckOpen(Napi::Env env, const char *op) {
  if (closed_ || !h_) {
    Napi::Value e = MakeOwnError(env, Addon::Get(env)->closedErrorCtor, std::string(op) + ": the handle is closed", "ERR_NBD_CLOSED");
    if (!env.IsExceptionPending()) Napi::Error(env, e).ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- settings

Napi::Value NbdHandle::AddMetaContext(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 1);
  if (!CheckOpen(env, "nbd_add_meta_context")) return env.Undefined();
  std::string name = info[0].ToString().Utf8Value();
  if (nbd_add_meta_context(h_, name.c_str()) == -1)
    ThrowNbdError(env, NbdFailure::FromLibnbd("nbd_add_meta_context"));
  return env.Undefined();
}

Napi::Value NbdHandle::SetExportName(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 1);
  if (!CheckOpen(env, "nbd_set_export_name")) return env.Undefined();
  std::string name = info[0].ToString().Utf8Value();
  if (nbd_set_export_name(h_, name.c_str()) == -1)
    ThrowNbdError(env, NbdFailure::FromLibnbd("nbd_set_export_name"));
  return env.Undefined();
}

Napi::Value NbdHandle::SetPreadInitialize(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 1);
  if (!CheckOpen(env, "nbd_set_pread_initialize")) return env.Undefined();
  if (nbd_set_pread_initialize(h_, info[0].ToBoolean().Value()) == -1)
    ThrowNbdError(env, NbdFailure::FromLibnbd("nbd_set_pread_initialize"));
  return env.Undefined();
}

// -------------------------------------------------------------- connecting

Napi::Value NbdHandle::StartConnect(Napi::Env env, const char *opname, int rc) {
  Op *op = new Op(this, opname, env);
  Napi::Promise p = op->deferred.Promise();
  if (rc == -1) {
    op->deferred.Reject(MakeNbdError(env, NbdFailure::FromLibnbd(opname)));
    delete op;
    return p;
  }
  if (nbd_aio_is_ready(h_)) {
    op->deferred.Resolve(env.Undefined());
    delete op;
    return p;
  }
  connectOp_ = op;
  Ref();
  Rearm();
  return p;
}

Napi::Value NbdHandle::ConnectUri(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 1);
  if (!CheckOpen(env, "nbd_aio_connect_uri")) return env.Undefined();
  std::string uri = info[0].ToString().Utf8Value();
  return StartConnect(env, "nbd_aio_connect_uri", nbd_aio_connect_uri(h_, uri.c_str()));
}

Napi::Value NbdHandle::ConnectUnix(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 1);
  if (!CheckOpen(env, "nbd_aio_connect_unix")) return env.Undefined();
  std::string path = info[0].ToString().Utf8Value();
  return StartConnect(env, "nbd_aio_connect_unix", nbd_aio_connect_unix(h_, path.c_str()));
}

Napi::Value NbdHandle::ConnectTcp(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 2);
  if (!CheckOpen(env, "nbd_aio_connect_tcp")) return env.Undefined();
  std::string host = info[0].ToString().Utf8Value();
  std::string port = info[1].ToString().Utf8Value();
  return StartConnect(env, "nbd_aio_connect_tcp", nbd_aio_connect_tcp(h_, host.c_str(), port.c_str()));
}

static bool ArgvFrom(const Napi::Value &v, std::vector<std::string> *strs, std::vector<char *> *argv) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() == 0) return false;
  for (uint32_t i = 0; i < a.Length(); i++) strs->push_back(a.Get(i).ToString().Utf8Value());
  for (auto &s : *strs) argv->push_back(const_cast<char *>(s.c_str()));
  argv->push_back(nullptr);
  return true;
}

Napi::Value NbdHandle::ConnectCommand(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 1);
  if (!CheckOpen(env, "nbd_aio_connect_command")) return env.Undefined();
  std::vector<std::string> strs;
  std::vector<char *> argv;
  if (!ArgvFrom(info[0], &strs, &argv)) {
    Napi::TypeError::New(env, "argv must be a non-empty array of strings").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return StartConnect(env, "nbd_aio_connect_command", nbd_aio_connect_command(h_, argv.data()));
}

Napi::Value NbdHandle::ConnectSystemdSocketActivation(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 1);
  if (!CheckOpen(env, "nbd_aio_connect_systemd_socket_activation")) return env.Undefined();
  std::vector<std::string> strs;
  std::vector<char *> argv;
  if (!ArgvFrom(info[0], &strs, &argv)) {
    Napi::TypeError::New(env, "argv must be a non-empty array of strings").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return StartConnect(env, "nbd_aio_connect_systemd_socket_activation",
                      nbd_aio_connect_systemd_socket_activation(h_, argv.data()));
}

// ------------------------------------------------------------- information

#define BOOL_GETTER(Method, call)                                             \
  Napi::Value NbdHandle::Method(const Napi::CallbackInfo &info) {             \
    Napi::Env env = info.Env();                                               \
    if (!CheckOpen(env, #call)) return env.Undefined();                       \
    int r = call(h_);                                                         \
    if (r == -1) {                                                            \
      ThrowNbdError(env, NbdFailure::FromLibnbd(#call));                      \
      return env.Undefined();                                                 \
    }                                                                         \
    return Napi::Boolean::New(env, r != 0);                                   \
  }

BOOL_GETTER(IsReadOnly, nbd_is_read_only)
BOOL_GETTER(CanMultiConn, nbd_can_multi_conn)
BOOL_GETTER(CanZero, nbd_can_zero)
BOOL_GETTER(CanFastZero, nbd_can_fast_zero)
BOOL_GETTER(CanTrim, nbd_can_trim)
BOOL_GETTER(CanFlush, nbd_can_flush)
BOOL_GETTER(CanFua, nbd_can_fua)

Napi::Value NbdHandle::GetSize(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "nbd_get_size")) return env.Undefined();
  int64_t r = nbd_get_size(h_);
  if (r == -1) {
    ThrowNbdError(env, NbdFailure::FromLibnbd("nbd_get_size"));
    return env.Undefined();
  }
  return Napi::Number::New(env, (double)r);
}

Napi::Value NbdHandle::GetBlockSize(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 1);
  if (!CheckOpen(env, "nbd_get_block_size")) return env.Undefined();
  uint32_t kind;
  if (!GetU32(info[0], "size_type", &kind)) return env.Undefined();
  int64_t r = nbd_get_block_size(h_, (int)kind);
  if (r == -1) {
    ThrowNbdError(env, NbdFailure::FromLibnbd("nbd_get_block_size"));
    return env.Undefined();
  }
  return Napi::Number::New(env, (double)r);
}

Napi::Value NbdHandle::CanMetaContext(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGS(info, 1);
  if (!CheckOpen(env, "nbd_can_meta_context")) return env.Undefined();
  std::string name = info[0].ToString().Utf8Value();
  int r = nbd_can_meta_context(h_, name.c_str());
  if (r == -1) {
    ThrowNbdError(env, NbdFailure::FromLibnbd("nbd_can_meta_context"));
    return env.Undefined();
  }
  return Napi::Boolean::New(env, r != 0);
}

Napi::Value NbdHandle::GetHandleName(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), name_);
}

Napi::Value NbdHandle::InFlight(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), (double)ops_.size());
}

// --------------------------------------------------------------------- I/O

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
               nbd_aio_block_status(h_, count, offset, nbd_extent_callback{ExtentCb, op, nullptr},
                                    Completion(op), FlagsArg(info, 2)));
}

// ------------------------------------------------------ completion, polling

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

// ------------------------------------------------------------------- close

Napi::Value NbdHandle::Close(const Napi::CallbackInfo &info) {
  CloseHandle(false);
  return info.Env().Undefined();
}

void NbdHandle::CloseHandle(bool teardown) {
  if (closed_) return;
  closed_ = true;
  if (poll_) {
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t *>(poll_),
             [](uv_handle_t *hd) { delete reinterpret_cast<uv_poll_t *>(hd); });
    poll_ = nullptr;
  }
  // nbd_close kills a server subprocess the handle started and calls the
  // .free of every command still in flight.
  nbd_close(h_);
  h_ = nullptr;
  std::vector<Op *> pending(ops_.begin(), ops_.end());
  if (connectOp_) pending.push_back(connectOp_);
  connectOp_ = nullptr;
  completed_.clear();
  Addon *addon = Addon::Get(env_);
  if (addon) addon->handles.erase(this);
  if (teardown) {
    // Finalizer or environment teardown: JS can no longer observe promises.
    for (Op *op : pending) {
      op->bufRef.Reset();
      delete op;
    }
    ops_.clear();
    return;
  }
  Napi::HandleScope hs(env_);
  for (Op *op : pending) {
    op->freed = true;
    if (!op->failure.set()) {
      op->failure = NbdFailure::FromErrno(op->name, ESHUTDOWN, "the handle was closed");
      op->failure.offset = op->offset;
    }
    if (ops_.count(op)) {
      Settle(op);
    } else {  // the connect op
      op->deferred.Reject(MakeNbdError(env_, op->failure));
      delete op;
      Unref();
    }
  }
}
