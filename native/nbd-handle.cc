// See nbd-handle.h: the object, its settings, what the server said,
// closing; connecting in nbd-handle-connect.cc, commands in nbd-handle-io.cc, completion and polling in
// nbd-handle-poll.cc. Locking: libnbd callbacks run inside nbd_aio_* and
// nbd_aio_notify_* with the handle's lock held, so they only record results in
// completed_; promises are settled afterwards, outside libnbd.
#include "nbd-handle-op.h"

#include <cerrno>
#include <cstring>

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
