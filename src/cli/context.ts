// What every subcommand gets from main(): log config, the job's AbortSignal
// (Ctrl-C), and where to print.
import type { Piscina } from 'piscina';
import type { LogConfig } from '../log/config.js';

export interface CliContext {
  log: LogConfig;
  signal: AbortSignal;
  out(text: string): void;
  /** The `[ CMD ARGS ... ]` operand groups hidden from commander (groups.ts). */
  groups: string[][];
  /** A copy-worker pool started early by bin/v2v.js, if any. */
  copyPool?: Piscina;
}
