// Module entry: the list of everything JavaScript can call, and the
// environment cleanup hook that closes what a terminated worker left open.
#include <fcntl.h>
#include <libnbd.h>
#include <napi.h>

#include "addon.h"
#include "copier.h"
#include "nbd-handle.h"

// size-tuner-sim.cc
Napi::Value SimulateSizeTuner(const Napi::CallbackInfo &info);

namespace {

void Cleanup(void *arg) {
  Addon *addon = static_cast<Addon *>(arg);
  addon->tearingDown = true;
  // Copiers first: cancelling joins their threads, which close their handles
  // and so kill any server subprocess they started.
  std::set<Copier *> copiers(addon->copiers);
  for (Copier *c : copiers) c->Shutdown();
  std::set<NbdHandle *> handles(addon->handles);
  for (NbdHandle *h : handles) h->CloseHandle(true);
}

Napi::Value Initialize(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "initialize: expected { NbdError }").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Value ctor = info[0].As<Napi::Object>().Get("NbdError");
  if (!ctor.IsFunction()) {
    Napi::TypeError::New(env, "initialize: NbdError must be a class").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Addon *addon = Addon::Get(env);
  addon->nbdErrorCtor = Napi::Persistent(ctor.As<Napi::Function>());
  Napi::Value abort = info[0].As<Napi::Object>().Get("AbortError");
  if (abort.IsFunction()) addon->abortErrorCtor = Napi::Persistent(abort.As<Napi::Function>());
  Napi::Value closed = info[0].As<Napi::Object>().Get("NbdClosedError");
  if (closed.IsFunction()) addon->closedErrorCtor = Napi::Persistent(closed.As<Napi::Function>());
  return env.Undefined();
}

Napi::Value Stats(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Addon *addon = Addon::Get(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("handles", Napi::Number::New(env, (double)addon->handles.size()));
  o.Set("copiers", Napi::Number::New(env, (double)addon->copiers.size()));
  return o;
}

// Node marks its stdio descriptors close-on-exec (seen on Node 20). libnbd's
// nbd_connect_systemd_socket_activation and nbd_connect_command fork and exec
// the server without touching 0-2, so the server started with no stderr and
// nbdkit exits at once ("fcntl(2): EBADF"). Give such children the usual Unix
// stdio, as a C program like nbdcopy has.
void InheritStdio() {
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags != -1 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InheritStdio();
  Addon *addon = new Addon;
  env.SetInstanceData<Addon>(addon);  // deleted by node-addon-api at teardown
  env.AddCleanupHook(Cleanup, addon);
  Napi::Function handle = NbdHandle::Init(env);
  Napi::Function copier = Copier::Init(env);
  addon->nbdHandleCtor = Napi::Persistent(handle);
  addon->copierCtor = Napi::Persistent(copier);
  exports.Set("NbdHandle", handle);
  exports.Set("Copier", copier);
  exports.Set("initialize", Napi::Function::New(env, Initialize));
  exports.Set("stats", Napi::Function::New(env, Stats));
  // For tests: the request-size tuner on a simulated copy (size-tuner-sim.cc).
  exports.Set("simulateSizeTuner", Napi::Function::New(env, SimulateSizeTuner));
  if (struct nbd_handle *h = nbd_create()) {
    exports.Set("libnbdVersion", Napi::String::New(env, nbd_get_version(h)));
    nbd_close(h);
  }
  return exports;
}

}  // namespace

NODE_API_MODULE(v2v_nbd, Init)
