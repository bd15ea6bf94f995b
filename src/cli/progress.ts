// Progress for people and for programs. A bar on a terminal (cli-progress);
// with --progress=FD, lines on that descriptor: nbdcopy's "N/100", or with
// --progress-format=json one JSON object a line with bytes done and total.
// Unlike nbdcopy's, both count bytes actually written, not ranges handed out.
import { writeSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { humanSize } from '../util/size.js';

export interface ProgressSink {
  update(done: number, total: number): void;
  stop(): void;
}

export type ProgressFormat = 'percent' | 'json';

export function fdProgress(fd: number, format: ProgressFormat, label: string): ProgressSink {
  let lastPct = -1;
  const write = (s: string) => {
    try {
      writeSync(fd, s);
    } catch {
      /* a closed progress fd must not stop the copy */
    }
  };
  return {
    update(done, total) {
      const pct = total === 0 ? 100 : Math.floor((done * 100) / total);
      if (pct === lastPct && format === 'percent') return;
      lastPct = pct;
      if (format === 'percent') write(`${pct}/100\n`);
      else write(`${JSON.stringify({ type: 'progress', disk: label, done, total, percent: pct })}\n`);
    },
    stop() {},
  };
}

export function barProgress(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  const t0 = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {percentage}% {doneH}/{totalH} {rate}`,
      hideCursor: true,
      clearOnComplete: false,
      noTTYOutput: !stream.isTTY,
      notTTYSchedule: 2000,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const payload = (done: number, total: number) => {
    const secs = Math.max((Date.now() - t0) / 1000, 0.001);
    return { doneH: humanSize(done), totalH: humanSize(total), rate: `${(done / 1e6 / secs).toFixed(0)} MB/s` };
  };
  return {
    update(done, total) {
      if (!started) {
        bar.start(Math.max(total, 1), done, payload(done, total));
        started = true;
      }
      bar.setTotal(Math.max(total, 1));
      bar.update(done, payload(done, total));
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
