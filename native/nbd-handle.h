// NbdHandle: a libnbd handle for JavaScript. Every I/O call is libnbd's
// nbd_aio_* and returns a promise; the socket is watched by a uv_poll on the
// calling thread's own event loop, so no JS thread ever blocks on the network
// and any number of requests can be in flight. Buffers are used in place
// (zero-copy) and kept alive by a reference until the command retires.
// Files: nbd-handle.cc (the object, settings, information, close),
// nbd-handle-connect.cc, nbd-handle-io.cc (the commands), nbd-handle-poll.cc
// (completion and the poll loop), nbd-handle-op.h (a command in flight).
#pragma once

#include <napi.h>
#include <uv.h>
#include <libnbd.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

class NbdHandle : public Napi::ObjectWrap<NbdHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NbdHandle(const Napi::CallbackInfo &info);
  ~NbdHandle() override;

  // Closes the libnbd handle (which also kills a server subprocess it
  // started), stops the poll and rejects what is still pending. Idempotent.
  void CloseHandle(bool fromCleanupHook);

  struct Op;

 private:
  // Connecting
  Napi::Value AddMetaContext(const Napi::CallbackInfo &info);
  Napi::Value SetExportName(const Napi::CallbackInfo &info);
  Napi::Value SetPreadInitialize(const Napi::CallbackInfo &info);
  Napi::Value ConnectUri(const Napi::CallbackInfo &info);
  Napi::Value ConnectUnix(const Napi::CallbackInfo &info);
  Napi::Value ConnectTcp(const Napi::CallbackInfo &info);
  Napi::Value ConnectCommand(const Napi::CallbackInfo &info);
  Napi::Value ConnectSystemdSocketActivation(const Napi::CallbackInfo &info);
  // Information (valid once connected)
  Napi::Value GetSize(const Napi::CallbackInfo &info);
  Napi::Value GetBlockSize(const Napi::CallbackInfo &info);
  Napi::Value IsReadOnly(const Napi::CallbackInfo &info);
  Napi::Value CanMultiConn(const Napi::CallbackInfo &info);
  Napi::Value CanZero(const Napi::CallbackInfo &info);
  Napi::Value CanFastZero(const Napi::CallbackInfo &info);
  Napi::Value CanTrim(const Napi::CallbackInfo &info);
  Napi::Value CanFlush(const Napi::CallbackInfo &info);
  Napi::Value CanFua(const Napi::CallbackInfo &info);
  Napi::Value CanMetaContext(const Napi::CallbackInfo &info);
  Napi::Value GetHandleName(const Napi::CallbackInfo &info);
  Napi::Value InFlight(const Napi::CallbackInfo &info);
  // I/O
  Napi::Value Pread(const Napi::CallbackInfo &info);
  Napi::Value Pwrite(const Napi::CallbackInfo &info);
  Napi::Value Zero(const Napi::CallbackInfo &info);
  Napi::Value Trim(const Napi::CallbackInfo &info);
  Napi::Value Flush(const Napi::CallbackInfo &info);
  Napi::Value BlockStatus(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);

  Napi::Value StartConnect(Napi::Env env, const char *op, int rc);
  Op *Begin(Napi::Env env, const char *name, int64_t offset);
  template <typename Call>
  Napi::Value BufferCommand(const Napi::CallbackInfo &info, const char *name, Call call);
  template <typename Call>
  Napi::Value RangeCommand(const Napi::CallbackInfo &info, const char *name, Call call);
  Napi::Value Issue(Napi::Env env, Op *op, int64_t cookie);
  bool CheckOpen(Napi::Env env, const char *op);
  void Rearm();
  void OnPoll(int status, int events);
  void Settle(Op *op);
  void MaybeDelete(Op *op);
  static void PollCb(uv_poll_t *p, int status, int events);

 public:
  void completedPush(Op *op);

 private:

  struct nbd_handle *h_ = nullptr;
  Napi::Env env_;
  std::string name_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  uv_poll_t *poll_ = nullptr;  // freed in its close callback
  int fd_ = -1;
  bool polling_ = false;
  int pollEvents_ = 0;
  Op *connectOp_ = nullptr;
  std::set<Op *> ops_;           // issued and not yet settled
  std::vector<Op *> completed_;  // filled by libnbd callbacks during notify
  bool closed_ = false;
};
