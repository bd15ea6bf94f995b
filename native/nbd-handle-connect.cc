// NbdHandle's connecting (see nbd-handle.h): by URI, Unix socket, TCP, a
// command on a socketpair, or systemd socket activation; each starts the
// handshake with nbd_aio_connect_* and returns a promise the poll loop
// (nbd-handle-poll.cc) settles once the handle is ready or dead.
#include <string>
#include <vector>

#include "nbd-handle-op.h"

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
