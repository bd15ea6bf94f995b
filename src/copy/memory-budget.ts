// The copy's memory, bounded whatever the flags say. Each copy thread owns
// one connection pair and `requests` buffers of `requestSize` bytes
// (native/copy-thread.cc CopyThread::Run), so the buffers take up to
// connections x requests x requestSize bytes: `-C 8 -R 1024 --request-size
// 32M` would be 256 GiB of address space and measured 650 MB of RSS on a
// 1 GiB disk. When that product exceeds `memoryBudget`, the requests in
// flight per connection are lowered to fit (at least 1) and, only if one
// request per connection is still too much, the connections as well. The
// options schema guarantees memoryBudget >= requestSize, so the result fits.
import type { CopyOptions } from './options.js';

export type BufferOptions = Pick<CopyOptions, 'connections' | 'requests' | 'requestSize' | 'memoryBudget'>;

export interface BufferPlan {
  connections: number;
  requests: number;
  /** connections x requests x requestSize: the most buffer memory the copy may use. */
  bytes: number;
  /** True when the options asked for more than the budget and were lowered. */
  lowered: boolean;
}

export function fitMemoryBudget(o: BufferOptions): BufferPlan {
  const { requestSize, memoryBudget } = o;
  let { connections, requests } = o;
  const lowered = connections * requests * requestSize > memoryBudget;
  if (lowered) {
    requests = Math.max(1, Math.min(requests, Math.floor(memoryBudget / (connections * requestSize))));
    if (connections * requests * requestSize > memoryBudget) {
      connections = Math.max(1, Math.floor(memoryBudget / requestSize));
    }
  }
  return { connections, requests, bytes: connections * requests * requestSize, lowered };
}

/** One line for the copy log saying what was lowered and why. */
export function describeLowering(asked: BufferOptions, plan: BufferPlan): string {
  const mib = (n: number) => `${+(n / 2 ** 20).toFixed(2)} MiB`;
  const what = [
    plan.requests !== asked.requests ? `requests in flight per connection from ${asked.requests} to ${plan.requests}` : '',
    plan.connections !== asked.connections ? `connections from ${asked.connections} to ${plan.connections}` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  return (
    `lowered ${what}: ${asked.connections} x ${asked.requests} x ${mib(asked.requestSize)} requests ` +
    `would exceed the memory budget of ${mib(asked.memoryBudget)} (buffers now ${mib(plan.bytes)})`
  );
}

/** How far requests may grow while copying (native/size-tuner.h), within the budget. */
export interface TunerPlan {
  /** 0: requests stay at requestSize. */
  maxRequestSize: number;
  /** Most bytes in flight per connection (0: requests x requestSize, as without tuning). */
  queueBytes: number;
  /** Most bytes of buffers per connection (0: no bound but requests x requestSize). */
  bufferBudget: number;
}

/**
 * Each connection gets memoryBudget / connections of buffers and at most
 * half of it (or queueSize) in flight, so a buffer can always grow by
 * freeing idle ones; the largest size is the biggest doubling of
 * requestSize that fits that and maxRequestSize. No tuning under a rate
 * limit (the rate is the limit's) or when maxRequestSize <= requestSize.
 */
export function tunerPlan(
  o: BufferOptions & Pick<CopyOptions, 'maxRequestSize' | 'queueSize' | 'rateLimit'>,
  plan: Pick<BufferPlan, 'connections'>,
): TunerPlan {
  const off: TunerPlan = { maxRequestSize: 0, queueBytes: 0, bufferBudget: 0 };
  if (o.maxRequestSize <= o.requestSize || o.rateLimit > 0) return off;
  const perConnection = Math.floor(o.memoryBudget / plan.connections);
  const queueBytes = Math.min(o.queueSize, Math.floor(perConnection / 2));
  let max = o.requestSize;
  while (max * 2 <= Math.min(o.maxRequestSize, queueBytes)) max *= 2;
  if (max === o.requestSize) return off;
  return { maxRequestSize: max, queueBytes, bufferBudget: perConnection };
}
