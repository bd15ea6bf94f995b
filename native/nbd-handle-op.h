// One command of an NbdHandle in flight (connect, read, write, zero, trim,
// flush, block status): its promise, the caller's buffer kept alive, what
// libnbd's callbacks recorded. Shared by the commands (nbd-handle-io.cc)
// and their completion (nbd-handle-poll.cc).
#pragma once

#include <napi.h>
#include <libnbd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "addon.h"
#include "nbd-handle.h"

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

// libnbd's completion callback for OP: records the result, queues OP on its
// handle; OP is deleted once both libnbd has freed it and its promise is settled.
nbd_completion_callback Completion(NbdHandle::Op *op);
// libnbd's block-status callback: the extents, recorded on OP.
int OpExtentCb(void *ud, const char *metacontext, uint64_t offset, uint32_t *entries, size_t nr_entries, int *error);
