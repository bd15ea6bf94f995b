// A job that is still copying when a test acts on it: its one disk is an
// NBD disk served slowly by nbdkit's delay filter (1 GiB in 128 KiB reads of
// 100 ms each: far longer than any test waits), named in a libvirt XML. Used
// by the signal, cancel and stale-dir tests, and the example service's.
// The blocksize filter above it serves a larger request as 128 KiB reads one
// after another, so the copy stays as slow when its requests grow.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { Server } from '../../src/process/server.js';
import type { Fixtures } from './fixtures.js';
import { processesUsing } from './fixtures.js';

export const SLOW = ['--filter=blocksize', '--filter=delay', 'pattern', '1G', 'delay-read=100ms', 'maxdata=128K'];

export interface SlowJob {
  /** An empty dir for TMPDIR (the job's work dir goes there). */
  work: string;
  /** An empty dir for -os. */
  out: string;
  src: Server;
  /** -i libvirtxml XML: the slow disk as vda. */
  input: string[];
}

/** The slow source in TMP (served by the test's nbdkit fixture as NAME), with empty work and out dirs. */
export async function slowJob(tmp: string, nbdkit: Fixtures['nbdkit'], name = 'slow'): Promise<SlowJob> {
  const work = path.join(tmp, 'work');
  const out = path.join(tmp, 'out');
  await mkdir(work);
  await mkdir(out);
  const src = await nbdkit(SLOW, { readonly: true, name });
  const xml = path.join(tmp, 'slow.xml');
  await writeFile(
    xml,
    `<domain type='kvm'><name>slow</name><memory unit='MiB'>1024</memory><devices>
  <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='nbd'><host transport='unix' socket='${src.socket}'/></source><target dev='vda' bus='virtio'/></disk>
</devices></domain>
`,
  );
  return { work, out, src, input: ['-i', 'libvirtxml', xml] };
}

/** Processes using P (a path), other than EXCEPTPID. */
export function othersUsing(p: string, exceptPid?: number): string[] {
  return processesUsing(p).filter((l) => Number(l.trim().split(/\s+/)[0]) !== exceptPid);
}

/** Nothing of the job is left: no output, no work dir, no process working in it or reading the source. */
export async function nothingLeft(s: SlowJob): Promise<void> {
  expect(await readdir(s.out)).toEqual([]);
  expect(await readdir(s.work)).toEqual([]);
  expect(processesUsing(s.work)).toEqual([]);
  expect(othersUsing(s.src.socket, s.src.pid)).toEqual([]);
}
