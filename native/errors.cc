// Turning libnbd failures into the injected NbdError class (see addon.h).
#include "addon.h"

#include <libnbd.h>
#include <cerrno>
#include <cstring>

NbdFailure NbdFailure::FromLibnbd(const char *op) {
  NbdFailure f;
  f.op = op;
  const char *msg = nbd_get_error();
  f.err = nbd_get_errno();
  f.message = msg ? msg : (f.err ? strerror(f.err) : "unknown error");
  return f;
}

NbdFailure NbdFailure::FromErrno(const char *op, int err, const std::string &detail) {
  NbdFailure f;
  f.op = op;
  f.err = err;
  f.message = detail.empty() ? std::string(strerror(err)) : detail;
  return f;
}

Napi::Value MakeNbdError(Napi::Env env, const NbdFailure &f) {
  Napi::Object fields = Napi::Object::New(env);
  fields.Set("op", f.op);
  fields.Set("errno", Napi::Number::New(env, f.err));
  if (!f.endpoint.empty()) fields.Set("endpoint", f.endpoint);
  if (f.offset >= 0) fields.Set("offset", Napi::Number::New(env, (double)f.offset));
  Addon *addon = Addon::Get(env);
  if (addon && !addon->nbdErrorCtor.IsEmpty()) {
    return addon->nbdErrorCtor.New({Napi::String::New(env, f.message), fields});
  }
  Napi::Error e = Napi::Error::New(env, f.op + ": " + f.message);
  e.Value().Set("fields", fields);
  return e.Value();
}

Napi::Value MakeOwnError(Napi::Env env, const Napi::FunctionReference &ctor, const std::string &message, const char *code) {
  if (!ctor.IsEmpty()) return ctor.New({Napi::String::New(env, message)});
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", code);
  return e.Value();
}

void ThrowNbdError(Napi::Env env, const NbdFailure &f) {
  Napi::Value e = MakeNbdError(env, f);
  if (!env.IsExceptionPending()) Napi::Error(env, e).ThrowAsJavaScriptException();
}

bool GetU64(const Napi::Value &v, const char *what, uint64_t *out) {
  Napi::Env env = v.Env();
  if (v.IsBigInt()) {
    bool lossless;
    *out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) return true;
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740991.0 && d == (double)(uint64_t)d) {
      *out = (uint64_t)d;
      return true;
    }
  }
  Napi::RangeError::New(env, std::string(what) + " must be a non-negative integer")
      .ThrowAsJavaScriptException();
  return false;
}

bool GetU32(const Napi::Value &v, const char *what, uint32_t *out) {
  uint64_t x;
  if (!GetU64(v, what, &x)) return false;
  if (x > UINT32_MAX) {
    Napi::RangeError::New(v.Env(), std::string(what) + " must fit in 32 bits")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = (uint32_t)x;
  return true;
}
