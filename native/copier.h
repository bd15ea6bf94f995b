// Copier: the copy's hot path, in native threads. JS hands over the plan's
// parameters (endpoints, connections, requests, request size, what the target
// holds) and then only reads progress counters on a timer and may cancel; no
// JS thread blocks and nothing per byte or per request crosses into JS.
//
// One controller thread connects the endpoints, decides multi-conn, and runs
// one copy thread per connection pair. Each copy thread owns one source and
// one target connection, a fixed pool of request buffers (memory is bounded by
// connections x requests x request size whatever the disk size), takes the
// next work range from a shared counter, asks the source for extents (holes
// and zero extents are never read), and keeps up to `requests` commands in
// flight with libnbd's nbd_aio_* calls, waiting in poll(2) on both sockets and
// on an eventfd that cancel() signals.
//
// A rate limit (bytes read from the source per second) is one token bucket
// per Copier, shared by its copy threads: a thread issues a read only while
// the bucket is not in debt, and otherwise sleeps in its poll(2) until the
// debt is paid, so cancel still wakes it at once. With no limit the bucket
// is never touched.
//
// Files: copier.cc (the object, the controller's run), copier-js.cc (the
// config in, the stats out), copier-open.cc (connecting, what the endpoints
// can do), copier-plan.cc (alignment to the target, the pieces of work,
// the rate limit), copy-io.h/.cc
// (waiting on libnbd: connections, synchronous commands, poll),
// copy-thread.h/.cc (a copy thread's loop), copy-requests.cc (a request's
// read, write, zero, completion and retry), copy-extents.cc (the next piece
// and its extents), size-tuner.h/.cc (the request size; size-tuner-sim.cc
// runs it on a simulated copy for tests).
#pragma once

#include <napi.h>
#include <libnbd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "addon.h"
#include "size-tuner.h"

struct EndpointSpec {
  enum Kind { NBD_URI, NBD_SYSTEMD, NBD_COMMAND, FILE, NULLDEV } kind = NULLDEV;
  std::string name;  // shown in errors: "source nbd+unix:///?socket=..."
  std::string uri;
  std::vector<std::string> argv;
  std::string path;
};

// A byte range of the disk.
struct ByteRange {
  uint64_t off, len;
};

struct CopyConfig {
  EndpointSpec src, dst;
  unsigned connections = 1;
  unsigned requests = 16;
  uint32_t requestSize = 256 * 1024;
  // Adaptive request size (size-tuner.h): each copy thread tries sizes from
  // requestSize up to maxRequestSize (0: requestSize only), with at most
  // queueBytes in flight per connection (0: `requests` x the size).
  uint32_t maxRequestSize = 0;
  uint64_t queueBytes = 0;
  // Most bytes of request buffers one copy thread holds (0: no bound beyond
  // requests x the size): idle buffers are freed, least recently used
  // first, before one grows past it.
  uint64_t bufferBudget = 0;
  uint64_t rangeSize = 128ull << 20;  // must be a multiple of requestSize
  uint32_t sparse = 4096;             // zero-detection granularity, 0 = off
  bool targetIsZero = false;
  bool allocated = false;  // never punch holes: zero with NO_HOLE
  bool extents = true;
  bool flush = false;
  unsigned retries = 0;
  int socketBuffer = 4 << 20;
  uint64_t rateLimit = 0;  // source bytes read per second, 0 = unlimited
  // Copy only these byte ranges (sorted, non-overlapping, non-empty, within
  // the source: see PlanWork); without them the whole disk. A ranges copy
  // never infers that the target reads as zero (no probe, a file target is
  // not truncated): zeroes inside the ranges are written as zero requests,
  // unless targetIsZero says otherwise.
  bool hasRanges = false;
  std::vector<ByteRange> ranges;
};

struct Conn;
struct CopyThread;

// The config object JS hands over; false with a JS exception pending when bad (copier-js.cc).
bool ParseCopyConfig(const Napi::CallbackInfo &info, CopyConfig *cfg);

class Copier : public Napi::ObjectWrap<Copier> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Copier(const Napi::CallbackInfo &info);
  ~Copier() override;

  // Stop everything and wait for the threads. Safe to call more than once.
  void Shutdown();

  // Shared state read and written by the copy threads.
  CopyConfig cfg;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> nextRange{0};
  std::atomic<uint64_t> bytesDone{0}, bytesData{0}, bytesZeroed{0}, bytesSkipped{0};
  std::atomic<uint64_t> retriesUsed{0}, extentFailures{0};
  std::atomic<uint64_t> bytesRead{0};  // read from the source
  std::atomic<uint64_t> total{0};      // bytes the copy covers (progress total)
  uint64_t size = 0;
  // The work, planned once before the copy threads start (PlanWork): pieces
  // spanning at most rangeSize bytes, each one block-status query, holding
  // the runs `subs[first, first + count)` to copy (one run, the piece, for
  // a whole-disk copy). Threads take pieces in order from nextRange.
  struct Piece {
    uint64_t start, end;
    size_t first, count;
  };
  std::vector<ByteRange> subs;
  std::vector<Piece> pieces;
  bool dstZero = false, dstCanZero = false, srcExtents = false;
  uint32_t dstPreferred = 0;
  // The target takes only whole blocks of this many bytes (its NBD minimum
  // block size: qemu's compress filter says a cluster): see AlignToTarget.
  uint32_t dstAlign = 1;
  int cancelFd = -1;
  uint8_t *zeroBuf = nullptr;
  // The request size each copy thread settled on (or ended with).
  std::vector<uint32_t> settledSizes;
  // What each thread's tuner measured, epoch by epoch.
  std::vector<std::vector<SizeTuner::Trial>> tunerTrials;
  std::mutex tunedMu;

  void Fail(NbdFailure f);
  bool Cancelled() const { return stop.load(std::memory_order_relaxed); }

  // The rate limit's token bucket (only with cfg.rateLimit > 0).
  // Milliseconds until the next read may be issued; 0 = now.
  int RateWaitMs();
  // Charge a read of n bytes (the bucket may go into debt).
  void RateCharge(uint64_t n);

 private:
  Napi::Value Start(const Napi::CallbackInfo &info);
  Napi::Value Progress(const Napi::CallbackInfo &info);
  Napi::Value Cancel(const Napi::CallbackInfo &info);

  void Run();  // the controller thread
  Napi::Object Stats(Napi::Env env, double secs);
  bool OpenAll();
  bool AlignToTarget();
  bool PlanWork();
  void Finish();

  std::mutex mu_;
  std::mutex rateMu_;
  double rateTokens_ = 0;  // bytes; negative = debt
  std::chrono::steady_clock::time_point rateLast_{};
  NbdFailure failure_;
  bool cancelled_ = false;
  std::thread controller_;
  bool started_ = false, joined_ = false;
  Napi::ThreadSafeFunction tsfn_;
  Napi::Promise::Deferred *deferred_ = nullptr;
  std::vector<Conn *> srcs_, dsts_;
  unsigned connsUsed_ = 0;
  Napi::Env env_;
};
