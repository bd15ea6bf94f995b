// Copy options: one zod schema with the defaults, the help text beside each
// key, strict keys. Parsed once on the coordinator and again at the worker
// boundary.
import os from 'node:os';
import * as z from 'zod';

export const MIN_REQUEST_SIZE = 4096; // nbdcopy's MIN_REQUEST_SIZE
export const MAX_REQUEST_SIZE = 32 * 1024 * 1024; // the NBD protocol's limit, as nbdcopy
const MiB = 1024 * 1024;
/**
 * 128 KiB: a reply fits in a Unix socket's default send buffer (208 KiB), so
 * a local server is not blocked half-way through each reply; measured a few
 * per cent faster than 256 KiB here, with half the memory (bench/).
 */
export const DEFAULT_REQUEST_SIZE = 128 * 1024;
/**
 * Requests start at requestSize; the copier tries sizes 4 times larger, up
 * to this, then settles on the one that copied fastest (native/size-tuner.h): 2 MiB x 8 was the fastest
 * setting measured on a slow-memory machine, 128 KiB on a fast one
 * (docs/ARCHITECTURE.md, "Copy throughput"), so the copier finds out.
 */
export const DEFAULT_MAX_REQUEST_SIZE = 2 * MiB;
/** Bytes in flight per connection while the request size grows (2 MiB x 8). */
export const DEFAULT_QUEUE_SIZE = 16 * MiB;
/**
 * Request buffers of all connections together, whatever the flags
 * (memory-budget.ts). 64 MiB: with Node, the addon and libnbd (about 90 MiB
 * of RSS for `v2v copy`), a copy stays under 200 MiB peak RSS whatever -C,
 * -R and --request-size say (test/integration/copy-memory.test.ts); the
 * fastest settings measured here (2 MiB x 8 requests x 4 connections) fit.
 */
export const DEFAULT_MEMORY_BUDGET = 64 * MiB;

/**
 * Connections by default: one connection pair per two cores. On 2 cores the
 * copier competes for CPU with both NBD servers, and one connection with a
 * deep queue was measured faster than nbdcopy's several (REFERENCE.md,
 * docs/ARCHITECTURE.md).
 */
export function defaultConnections(cpus = os.availableParallelism()): number {
  return Math.max(1, Math.min(4, Math.floor(cpus / 2)));
}

const powerOfTwo = (n: number) => (n & (n - 1)) === 0;

export const CopyOptions = z
  .strictObject({
    connections: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(() => defaultConnections())
      .describe('maximum NBD connections per side (multi-conn) (default: 1 per 2 cores, at most 4)'),
    requests: z.number().int().min(1).max(1024).default(32).describe('requests in flight per connection (default: 32)'),
    requestSize: z
      .number()
      .int()
      .min(MIN_REQUEST_SIZE)
      .max(MAX_REQUEST_SIZE)
      .refine(powerOfTwo, 'must be a power of two')
      .default(DEFAULT_REQUEST_SIZE)
      .describe('largest read or write request in bytes (default: 128 KiB)'),
    maxRequestSize: z
      .number()
      .int()
      .min(0)
      .max(MAX_REQUEST_SIZE)
      .refine((n) => n === 0 || powerOfTwo(n), 'must be 0 or a power of two')
      .default(DEFAULT_MAX_REQUEST_SIZE)
      .describe('requests grow from requestSize up to this while copying, as long as the rate rises; 0 or requestSize = fixed (default: 2 MiB)'),
    queueSize: z
      .number()
      .int()
      .min(MIN_REQUEST_SIZE)
      .max(1024 * MiB)
      .default(DEFAULT_QUEUE_SIZE)
      .describe('most bytes in flight per connection while requests grow (default: 16 MiB)'),
    rangeSize: z
      .number()
      .int()
      .min(MIN_REQUEST_SIZE)
      .max(1024 * MiB)
      .default(128 * MiB)
      .describe('unit of work handed to a connection, with one block-status query (default: 128 MiB)'),
    sparse: z
      .number()
      .int()
      .min(0)
      .default(4096)
      .describe('detect all-zero blocks of this size and write them as zeroes or holes; 0 = off (default: 4096)'),
    targetIsZero: z.boolean().default(false).describe('assume the target reads as zero already'),
    allocated: z.boolean().default(false).describe('never punch holes in the target'),
    extents: z.boolean().default(true).describe("use the source's extents to skip holes (default: true)"),
    flush: z.boolean().default(true).describe('flush the target at the end (default: true)'),
    retries: z.number().int().min(0).max(100).default(0).describe('retry a failed read or write this many times (default: 0)'),
    socketBuffer: z
      .number()
      .int()
      .min(0)
      .max(64 * MiB)
      .default(4 * MiB)
      .describe('SO_SNDBUF/SO_RCVBUF of each NBD socket in bytes; 0 = system default (default: 4 MiB)'),
    rateLimit: z
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .default(0)
      .describe('read at most this many bytes per second from the source; 0 = no limit (default: 0)'),
    memoryBudget: z
      .number()
      .int()
      .min(MIN_REQUEST_SIZE)
      .max(Number.MAX_SAFE_INTEGER)
      .default(DEFAULT_MEMORY_BUDGET)
      .describe(
        'most bytes of request buffers, all connections together: fewer requests in flight (then connections) if ' +
          'connections x requests x requestSize would exceed it (default: 64 MiB)',
      ),
  })
  .superRefine((o, ctx) => {
    // Cross-field checks only against a valid requestSize: a bad one is
    // already reported, and checks against it would blame options the user
    // did not set ("--request-size 3000" is not a rangeSize problem).
    const r = o.requestSize;
    if (!Number.isInteger(r) || r < MIN_REQUEST_SIZE || r > MAX_REQUEST_SIZE || !powerOfTwo(r)) return;
    if (o.rangeSize % o.requestSize !== 0) {
      ctx.addIssue({ code: 'custom', path: ['rangeSize'], message: `must be a multiple of requestSize (${o.requestSize})` });
    }
    if (o.sparse !== 0 && (o.sparse < 512 || !powerOfTwo(o.sparse) || o.requestSize % o.sparse !== 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['sparse'],
        message: `must be 0 or a power of two from 512 that divides requestSize (${o.requestSize})`,
      });
    }
    if (o.memoryBudget < o.requestSize) {
      ctx.addIssue({ code: 'custom', path: ['memoryBudget'], message: `must be at least requestSize (${o.requestSize})` });
    }
  });

export type CopyOptionsInput = z.input<typeof CopyOptions>;
export type CopyOptions = z.output<typeof CopyOptions>;
