// The Copier object (see copier.h for the design and its files): start,
// progress, cancel, the controller thread's run. Hazards kept in mind in
// all of the copier's files:
// - libnbd callbacks run inside nbd_aio_* / nbd_aio_notify_* with the handle's
//   lock held: they only update the request and queue it; all follow-up
//   commands are issued from the copy thread's loop.
// - nbd_get_error()/nbd_get_errno() are thread-local: read at the failing call.
// - a request buffer is owned by libnbd from nbd_aio_pread/pwrite until its
//   completion; buffers are freed only after nbd_close of every handle.
#include "copier.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <thread>

#include "copy-io.h"
#include "copy-thread.h"

Napi::Function Copier::Init(Napi::Env env) {
  return DefineClass(env, "Copier",
                     {
                         InstanceMethod("start", &Copier::Start),
                         InstanceMethod("progress", &Copier::Progress),
                         InstanceMethod("cancel", &Copier::Cancel),
                     });
}

Copier::Copier(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Copier>(info), env_(info.Env()) {
  if (!ParseCopyConfig(info, &cfg)) return;
  cancelFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Copier::~Copier() {
  Shutdown();
  if (cancelFd >= 0) close(cancelFd);
  free(zeroBuf);
}

void Copier::Fail(NbdFailure f) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!failure_.set() && !cancelled_) failure_ = f;
  }
  stop = true;
  uint64_t one = 1;
  if (write(cancelFd, &one, sizeof one) < 0) { /* eventfd overflow cannot happen */ }
}

Napi::Value Copier::Cancel(const Napi::CallbackInfo &info) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!failure_.set()) cancelled_ = true;
  }
  stop = true;
  uint64_t one = 1;
  if (write(cancelFd, &one, sizeof one) < 0) { /* see above */ }
  return info.Env().Undefined();
}

Napi::Value Copier::Progress(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("done", Napi::Number::New(env, (double)bytesDone.load()));
  o.Set("total", Napi::Number::New(env, (double)total.load()));
  return o;
}

Napi::Value Copier::Start(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (started_) {
    Napi::Error::New(env, "Copier: already started").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  started_ = true;
  deferred_ = new Napi::Promise::Deferred(env);
  Napi::Promise p = deferred_->Promise();
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo &) {}),
                                        "v2v-copier", 0, 1);
  Ref();
  Addon::Get(env)->copiers.insert(this);
  controller_ = std::thread([this] { Run(); });
  return p;
}

void Copier::Run() {
  auto t0 = Clock::now();
  bool ok = OpenAll();
  rateLast_ = Clock::now();  // the bucket starts empty when the copy starts
  if (ok && !Cancelled()) {
    std::vector<CopyThread *> ts;
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < connsUsed_; i++) ts.push_back(new CopyThread(this, srcs_[i], dsts_[i]));
    for (unsigned i = 1; i < connsUsed_; i++) threads.emplace_back([t = ts[i]] { t->Run(); });
    ts[0]->Run();
    for (auto &t : threads) t.join();
    if (!Cancelled() && cfg.flush) {
      for (Conn *d : dsts_) {
        if (d->isNbd()) {
          if (nbd_can_flush(d->h) != 1) continue;
          auto *w = new SyncWait;
          NbdFailure f;
          if (nbd_aio_flush(d->h, nbd_completion_callback{SyncCb, w, SyncFree}, 0) == -1) {
            f = NbdFailure::FromLibnbd("nbd_aio_flush");
          } else if (!WaitFor(this, d, w, "nbd_aio_flush", &f)) {
            Release(w);
            break;
          }
          Release(w);
          if (f.set()) {
            f.endpoint = cfg.dst.name;
            Fail(f);
            break;
          }
        } else if (d->fd >= 0) {
          if (fdatasync(d->fd) == -1) {
            NbdFailure f = NbdFailure::FromErrno("fdatasync", errno);
            f.endpoint = cfg.dst.name;
            Fail(f);
            break;
          }
          break;  // one fd's sync covers the file
        }
      }
    }
    // Close every handle before the buffers the threads own are freed.
    for (Conn *cn : srcs_) { nbd_close(cn->h); cn->h = nullptr; }
    for (Conn *cn : dsts_) { nbd_close(cn->h); cn->h = nullptr; }
    for (auto *t : ts) delete t;
  }
  for (Conn *cn : srcs_) {
    nbd_close(cn->h);
    if (cn->fd >= 0) close(cn->fd);
    delete cn;
  }
  for (Conn *cn : dsts_) {
    nbd_close(cn->h);
    if (cn->fd >= 0) close(cn->fd);
    delete cn;
  }
  srcs_.clear();
  dsts_.clear();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  auto status = tsfn_.BlockingCall([this, secs](Napi::Env env, Napi::Function) {
    Napi::HandleScope hs(env);
    NbdFailure f;
    bool cancelled;
    {
      std::lock_guard<std::mutex> lk(mu_);
      f = failure_;
      cancelled = cancelled_;
    }
    if (f.set()) {
      deferred_->Reject(MakeNbdError(env, f));
    } else if (cancelled) {
      deferred_->Reject(MakeOwnError(env, Addon::Get(env)->abortErrorCtor, "copy cancelled", "ABORT_ERR"));
    } else {
      deferred_->Resolve(Stats(env, secs));
    }
    delete deferred_;
    deferred_ = nullptr;
    Addon *addon = Addon::Get(env);
    if (addon) addon->copiers.erase(this);
    Unref();
  });
  (void)status;  // napi_closing at environment teardown: nobody is waiting
  tsfn_.Release();
}

void Copier::Shutdown() {
  if (!started_ || joined_) return;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!failure_.set()) cancelled_ = true;
  }
  stop = true;
  uint64_t one = 1;
  if (write(cancelFd, &one, sizeof one) < 0) { /* see above */ }
  if (controller_.joinable()) controller_.join();
  joined_ = true;
}
