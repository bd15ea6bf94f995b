// The only file that loads the native addon (build/Release, or build/Debug
// when V2V_NATIVE_DEBUG is set). The addon is context-aware: each worker
// thread that imports this gets its own instance.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { AbortError, NbdClosedError, NbdError, type NbdErrorFields } from '../errors.js';

export interface BlockStatusReply {
  context: string;
  offset: number;
  /** Pairs of (length, flags) as the server sent them. */
  entries: number[];
}

export interface NativeNbdHandle {
  addMetaContext(name: string): void;
  setExportName(name: string): void;
  setPreadInitialize(on: boolean): void;
  connectUri(uri: string): Promise<void>;
  connectUnix(path: string): Promise<void>;
  connectTcp(host: string, port: string): Promise<void>;
  connectCommand(argv: string[]): Promise<void>;
  connectSystemdSocketActivation(argv: string[]): Promise<void>;
  getSize(): number;
  getBlockSize(kind: number): number;
  isReadOnly(): boolean;
  canMultiConn(): boolean;
  canZero(): boolean;
  canFastZero(): boolean;
  canTrim(): boolean;
  canFlush(): boolean;
  canFua(): boolean;
  canMetaContext(name: string): boolean;
  getHandleName(): string;
  inFlight(): number;
  pread(buf: Uint8Array, offset: number | bigint, flags?: number): Promise<void>;
  pwrite(buf: Uint8Array, offset: number | bigint, flags?: number): Promise<void>;
  zero(count: number | bigint, offset: number | bigint, flags?: number): Promise<void>;
  trim(count: number | bigint, offset: number | bigint, flags?: number): Promise<void>;
  flush(flags?: number): Promise<void>;
  blockStatus(count: number | bigint, offset: number | bigint, flags?: number): Promise<BlockStatusReply[]>;
  close(): void;
}

export type NativeEndpoint =
  | { kind: 'nbd-uri'; name: string; uri: string }
  | { kind: 'nbd-systemd'; name: string; argv: string[] }
  | { kind: 'nbd-command'; name: string; argv: string[] }
  | { kind: 'file'; name: string; path: string }
  | { kind: 'null'; name: string };

export interface NativeCopyConfig {
  source: NativeEndpoint;
  target: NativeEndpoint;
  connections: number;
  requests: number;
  requestSize: number;
  /** The request size may grow to this while copying (size-tuner.h); 0 or absent = requestSize only. */
  maxRequestSize?: number;
  /** Most bytes in flight per connection while it does; 0 or absent = requests x size. */
  queueBytes?: number;
  /** Most bytes of buffers per connection; 0 or absent = requests x size. */
  bufferBudget?: number;
  rangeSize: number;
  sparse: number;
  retries: number;
  socketBuffer: number;
  /** Source bytes read per second; 0 or absent = no limit. */
  rateLimit?: number;
  targetIsZero: boolean;
  allocated: boolean;
  extents: boolean;
  flush: boolean;
  /** Copy only these byte ranges (sorted, non-overlapping, non-empty); absent = the whole disk. */
  ranges?: { offset: number; length: number }[];
}

export interface NativeCopyResult {
  size: number;
  connections: number;
  bytesData: number;
  bytesZeroed: number;
  bytesSkipped: number;
  /** Bytes read from the source. */
  bytesRead: number;
  /** Bytes the copy covers: the source's size, or the ranges' total. */
  bytesTotal: number;
  retries: number;
  extentFailures: number;
  targetWasZero: boolean;
  sourceExtents: boolean;
  sparse: number;
  /** The request size each connection settled on. */
  requestSizes: number[];
  /** Per connection, [request size, bytes per second] per epoch the tuner measured. */
  requestSizeTrials: [number, number][][];
  seconds: number;
}

export interface NativeCopier {
  start(): Promise<NativeCopyResult>;
  progress(): { done: number; total: number };
  cancel(): void;
}

interface Addon {
  NbdHandle: new (name?: string) => NativeNbdHandle;
  Copier: new (config: NativeCopyConfig) => NativeCopier;
  initialize(classes: {
    NbdError: new (message: string, fields: NbdErrorFields) => Error;
    AbortError: new (message: string) => Error;
    NbdClosedError: new (message: string) => Error;
  }): void;
  stats(): { handles: number; copiers: number };
  /** For tests: the copier's request-size tuner on a simulated copy (native/size-tuner-sim.cc). */
  simulateSizeTuner(o: SizeTunerSimulation): { size: number; settled: boolean; bytes: number; trials: [number, number][] };
  libnbdVersion: string;
}

/** A copy simulated for the request-size tuner: sequential requests on a virtual clock. */
export interface SizeTunerSimulation {
  start: number;
  max: number;
  rangeSize: number;
  queueBytes: number;
  maxRequests: number;
  /** Stop after this many bytes if the tuner has not settled. */
  bytes: number;
  /** Rates in bytes per second of each size, [size, rate]; a phase holds while fewer epochs than untilTrials were measured (the last one for ever). */
  phases: { untilTrials?: number; rates: [number, number][] }[];
}

function locate(): string {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  // Built JS lives in dist/src/nbd, sources in src/nbd: try both roots.
  const roots = [root, path.resolve(root, '..')];
  const kinds = process.env.V2V_NATIVE_DEBUG ? ['Debug', 'Release'] : ['Release', 'Debug'];
  for (const r of roots) {
    for (const k of kinds) {
      const p = path.join(r, 'build', k, 'v2v_nbd.node');
      if (existsSync(p)) return p;
    }
  }
  throw new Error(`the native addon v2v_nbd.node is not built: run "npm run build:native" in ${root}`);
}

const requireNative = createRequire(import.meta.url);
export const addon = requireNative(locate()) as Addon;
addon.initialize({ NbdError, AbortError, NbdClosedError });
