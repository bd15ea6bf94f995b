// Per-environment state of the addon. The addon is context-aware: every worker
// thread that loads it gets its own Addon, and the environment cleanup hook
// closes whatever that thread left open (handles, copier threads), so a
// terminated worker leaves no connection and no server subprocess behind.
#pragma once

#include <napi.h>
#include <set>

class NbdHandle;
class Copier;

struct Addon {
  Napi::FunctionReference nbdHandleCtor;
  Napi::FunctionReference copierCtor;
  // Injected by initialize({ NbdError }): the JS class every libnbd failure
  // becomes. Until it is set, plain Errors with the same fields are thrown.
  Napi::FunctionReference nbdErrorCtor;
  // Our AbortError and NbdClosedError classes (addon.initialize), for a
  // cancelled copy and a call on a closed handle.
  Napi::FunctionReference abortErrorCtor;
  Napi::FunctionReference closedErrorCtor;
  // Live objects; each removes itself when closed. Invariant: an object is
  // in the set exactly while it owns a libnbd handle or a running thread.
  std::set<NbdHandle *> handles;
  std::set<Copier *> copiers;
  bool tearingDown = false;

  static Addon *Get(Napi::Env env) { return env.GetInstanceData<Addon>(); }
};

// Fields of an NBD failure, gathered on the failing thread (libnbd's error
// state is thread-local) and turned into a JS error later on the JS thread.
struct NbdFailure {
  std::string op;        // libnbd call name, such as "nbd_aio_pread"
  std::string message;   // libnbd's message or strerror(errno)
  int err = 0;           // errno value, 0 if unknown
  std::string endpoint;  // which side ("source ...", "target ...") if known
  int64_t offset = -1;   // byte offset of the failed request, -1 if none

  bool set() const { return !op.empty(); }
  // Capture nbd_get_error()/nbd_get_errno() right after a failed call.
  static NbdFailure FromLibnbd(const char *op);
  static NbdFailure FromErrno(const char *op, int err, const std::string &detail = "");
};

Napi::Value MakeNbdError(Napi::Env env, const NbdFailure &f);
// An error of an injected class taking (message), or a plain Error with CODE.
Napi::Value MakeOwnError(Napi::Env env, const Napi::FunctionReference &ctor, const std::string &message, const char *code);
void ThrowNbdError(Napi::Env env, const NbdFailure &f);

// Argument helpers in the style of better-sqlite3's macros: they only check
// types; defaults and policy live in TypeScript.
#define REQUIRE_ARGS(info, n)                                                   \
  do {                                                                          \
    if ((info).Length() < (n)) {                                                \
      Napi::TypeError::New((info).Env(), "expected " #n " argument(s)")         \
          .ThrowAsJavaScriptException();                                        \
      return (info).Env().Undefined();                                          \
    }                                                                           \
  } while (0)

bool GetU64(const Napi::Value &v, const char *what, uint64_t *out);
bool GetU32(const Napi::Value &v, const char *what, uint32_t *out);
