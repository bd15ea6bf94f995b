// The copier's plumbing under libnbd's asynchronous API: a connection
// (Conn), waiting for one command or for the handshake while watching the
// cancel eventfd (WaitFor, SyncWait), running libnbd's state machine after
// poll(2) (PollEvents, Notify), and the extents a block-status query
// returns (ExtentCb). Shared by the controller (copier.cc, copier-open.cc)
// and the copy threads (copy-thread.h).
#pragma once

#include <libnbd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "copier.h"

using Clock = std::chrono::steady_clock;

struct Conn {
  const EndpointSpec *spec = nullptr;
  nbd_handle *h = nullptr;  // NBD endpoints
  int fd = -1;              // FILE endpoints
  std::string deadMsg;      // libnbd's message when the connection died
  bool isNbd() const { return h != nullptr; }
  bool isNull() const { return spec->kind == EndpointSpec::NULLDEV; }
};

struct Extent {
  uint64_t off, len;
  bool zero;
};

// One command waited for synchronously (connect, block status, flush, zero
// probe), abandonable on cancel: libnbd frees it through SyncFree.
struct SyncWait {
  bool done = false, freed = false, abandoned = false;
  int err = 0;
  // block status results
  std::vector<Extent> extents;
  uint64_t end = 0;
};

// All bytes of P[0, n) zero. Inline: called for every sparse block a copy
// thread writes (copy-requests.cc).
inline bool IsZero(const uint8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < 16 && i < n; i++)
    if (p[i]) return false;
  if (n <= 16) return true;
  return memcmp(p, p + 16, n - 16) == 0;
}
// The poll(2) events libnbd waits for on H.
short PollEvents(nbd_handle *h);
// Run libnbd's state machine after poll(2) said the socket is ready.
// Returns false when the connection died (conn->deadMsg says why).
bool Notify(Conn *conn, short revents);
// libnbd callbacks of a SyncWait'ed command.
int SyncCb(void *ud, int *error);
void SyncFree(void *ud);
int ExtentCb(void *ud, const char *metacontext, uint64_t offset, uint32_t *entries, size_t n, int *error);
// Done with W: freed now if libnbd has let go of it, else when it does.
void Release(SyncWait *w);
// Wait for a SyncWait'ed command, or for the connection to finish connecting
// when w is null. Returns false if cancelled; on failure fills *f.
bool WaitFor(Copier *c, Conn *conn, SyncWait *w, const char *op, NbdFailure *f);
