// The example service (examples/service/server.mjs), run as a user runs it:
// a child process listening on 127.0.0.1, driven with real HTTP requests.
// Bad requests get clear 4xx answers; jobs run side by side and stream their
// events; a cancelled job (DELETE) and a service stopped with SIGTERM leave
// no server, no work dir and no partial output behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { repoRoot } from '../helpers/cli.js';
import { processesUsing, run, sha256File, test } from '../helpers/fixtures.js';
import { has } from '../helpers/tools.js';
import { nothingLeft as slowJobLeftNothing, othersUsing, slowJob } from '../helpers/slow-job.js';

const MiB = 1024 * 1024;
const serverScript = path.join(repoRoot, 'examples', 'service', 'server.mjs');
const STEPS = ['input', 'convert', 'output-setup', 'copy', 'output-finalize'];
// 1 GiB served in 128 KiB reads of 100 ms each: tens of seconds of copying,
// far longer than the test waits before it cancels.

interface Service {
  url: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

/** Start the service on port 0 and read the port it printed. */
async function startService(env: NodeJS.ProcessEnv): Promise<Service> {
  const child = spawn(process.execPath, [serverScript, '0'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^listening on (http:\/\/127\.0\.0\.1:(\d+))$/m.exec(out);
      if (m && Number(m[2]) > 0) resolve(m[1]!);
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    void exited.then(({ code, signal }) => reject(new Error(`the service exited (${code ?? signal}) before listening: ${err}`)));
  });
  return { url, child, exited, stdout: () => out, stderr: () => err };
}

/** SIGTERM: the service must exit 0, within TIMEOUTMS. */
async function stopService(s: Service, timeoutMs = 20_000): Promise<void> {
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), timeoutMs);
  const r = await s.exited;
  clearTimeout(timer);
  expect(r, `the service's exit after SIGTERM; stderr: ${s.stderr()}`).toEqual({ code: 0, signal: null });
}

/** Run FN with a service, killing it whatever happens (the test ends it with SIGTERM itself). */
async function withService(env: NodeJS.ProcessEnv, fn: (s: Service) => Promise<void>): Promise<void> {
  const s = await startService(env);
  try {
    await fn(s);
  } finally {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGKILL');
      await s.exited;
    }
  }
}

async function request(
  url: string,
  init: { method?: string; body?: unknown; raw?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
  const res = await fetch(url, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    ...(body === undefined ? {} : { body, headers: { 'Content-Type': 'application/json' } }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function postJob(s: Service, body: unknown): Promise<string> {
  const r = await request(`${s.url}/jobs`, { body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  expect(typeof r.body.id).toBe('string');
  return r.body.id as string;
}

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** A job's server-sent events as they come, until the server ends the stream. */
async function* events(url: string): AsyncGenerator<SseEvent> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body!) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) yield { event, data: JSON.parse(data.join('\n')) as Record<string, unknown> };
    }
  }
  expect(buf.trim(), 'nothing after the last event').toBe('');
}

async function allEvents(url: string): Promise<SseEvent[]> {
  const got: SseEvent[] = [];
  for await (const e of events(url)) got.push(e);
  return got;
}

/** Check a finished stream: the job's own events, then one `end` with STATUS, then nothing. */
function expectEnded(got: SseEvent[], status: string): SseEvent['data'] {
  const end = got.at(-1);
  expect(end?.event).toBe('end');
  expect(end?.data.status, JSON.stringify(end?.data)).toBe(status);
  expect(got.filter((e) => e.event === 'end')).toHaveLength(1);
  for (const e of got.slice(0, -1)) expect(e.data.type).toBe(e.event);
  return end!.data;
}

const startedSteps = (got: SseEvent[]) => got.filter((e) => e.event === 'step.started').map((e) => e.data.step);

/** A raw disk of SIZEMIB made by qemu-img, with random bytes at a few places. */
async function makeDisk(file: string, sizeMiB: number): Promise<void> {
  await run(['qemu-img', 'create', '-q', '-f', 'raw', file, `${sizeMiB}M`]);
  const fh = await open(file, 'r+');
  try {
    for (const at of [0, 3 * MiB + 17, (sizeMiB / 2) * MiB, sizeMiB * MiB - 4096]) await fh.write(randomBytes(4096), 0, 4096, at);
    await fh.write(randomBytes(2 * MiB), 0, 2 * MiB, 8 * MiB);
  } finally {
    await fh.close();
  }
}

const needs = !has('nbdkit') || !has('qemu-img') || !has('qemu-nbd') || !has('nbdcopy');

describe.skipIf(needs)('examples/service', () => {
  test('bad requests: 400 with the zod issues or the one-line error, bad JSON 400, over 1 MiB 413, unknown job 404; SIGTERM exits 0', async ({
    tmp,
  }) => {
    await withService({ TMPDIR: tmp }, async (s) => {
      const invalid = await request(`${s.url}/jobs`, { body: { input: { type: 'disk', files: [] }, output: { type: 'local', format: 'vmdk' } } });
      expect(invalid.status).toBe(400);
      expect(invalid.body.error).toEqual(expect.any(String));
      const issues = invalid.body.issues as { path: (string | number)[]; message: string }[];
      expect(Array.isArray(issues)).toBe(true);
      expect(issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['input.files', 'output.format']));

      const args = await request(`${s.url}/jobs`, { body: { args: ['-i', 'disk', path.join(tmp, 'a.img'), '-o', 'local'] } });
      expect(args.status).toBe(400);
      expect(args.body.error).toMatch(/-os/);
      const notStrings = await request(`${s.url}/jobs`, { body: { args: '-i disk a.img' } });
      expect(notStrings.status).toBe(400);

      const badJson = await request(`${s.url}/jobs`, { raw: '{"input": ' });
      expect(badJson.status).toBe(400);
      expect(badJson.body.error).toMatch(/JSON/);

      const big = await request(`${s.url}/jobs`, { raw: JSON.stringify({ pad: 'x'.repeat(2 * MiB) }) });
      expect(big.status).toBe(413);
      // The same without a Content-Length (chunked): the client still gets the 413, not a broken pipe.
      let n = 0;
      const body = new ReadableStream<Uint8Array>({ pull: (c) => (n++ < 32 ? c.enqueue(new Uint8Array(64 * 1024).fill(32)) : c.close()) });
      const chunked = await fetch(`${s.url}/jobs`, { method: 'POST', body, duplex: 'half' } as RequestInit);
      expect(chunked.status).toBe(413);
      expect(((await chunked.json()) as { error: string }).error).toMatch(/over 1048576 bytes/);

      for (const [method, p] of [
        ['GET', '/jobs/nope'],
        ['GET', '/jobs/nope/events'],
        ['DELETE', '/jobs/nope'],
        ['GET', '/nope'],
      ] as const) {
        expect((await request(`${s.url}${p}`, { method })).status, `${method} ${p}`).toBe(404);
      }
      expect((await request(`${s.url}/jobs`)).body).toEqual([]);
      expect(await readdir(tmp)).toEqual([]);
      await stopService(s);
      expect(s.stderr()).toBe('');
    });
  });

  test('two --no-convert jobs at once (-o local from a command line, -o null as JSON) both succeed and stream their events; the output equals the source', async ({
    tmp,
  }) => {
    const work = path.join(tmp, 'work');
    const out = path.join(tmp, 'out');
    await mkdir(work);
    await mkdir(out);
    const a = path.join(tmp, 'a.img');
    const b = path.join(tmp, 'b.img');
    await makeDisk(a, 64);
    await makeDisk(b, 32);
    const before = [await sha256File(a), await sha256File(b)];

    await withService({ TMPDIR: work }, async (s) => {
      const ja = await postJob(s, { args: ['-i', 'disk', a, '-o', 'local', '-os', out, '--no-convert'] });
      const jb = await postJob(s, { input: { type: 'disk', files: [b] }, output: { type: 'null' }, noConvert: true });
      expect(ja).not.toBe(jb);
      // Both started at once: neither waits for the other.
      for (const id of [ja, jb]) expect((await request(`${s.url}/jobs/${id}`)).body.status).toBe('running');
      const list = (await request(`${s.url}/jobs`)).body as unknown as { id: string }[];
      expect(list.map((j) => j.id).sort()).toEqual([ja, jb].sort());

      const [ea, eb] = await Promise.all([allEvents(`${s.url}/jobs/${ja}/events`), allEvents(`${s.url}/jobs/${jb}/events`)]);
      for (const got of [ea, eb]) {
        expectEnded(got, 'succeeded');
        expect(startedSteps(got)).toEqual(expect.arrayContaining(STEPS));
        expect(got.some((e) => e.event === 'copy.started' && e.data.disk === 'sda')).toBe(true);
        expect(got.some((e) => e.event === 'copy.finished' && e.data.disk === 'sda')).toBe(true);
      }

      const ra = await request(`${s.url}/jobs/${ja}`);
      expect(ra.status).toBe(200);
      expect(ra.body).toMatchObject({ id: ja, status: 'succeeded' });
      expect(ra.body.error).toBeUndefined();
      const result = ra.body.result as { files: string[]; metadataIn: { disks: unknown[] } };
      expect(result.files).toContain(path.join(out, 'a-sda'));
      expect(result.metadataIn.disks).toHaveLength(1);
      expect((await request(`${s.url}/jobs/${jb}`)).body).toMatchObject({ id: jb, status: 'succeeded' });

      expect((await readdir(out)).sort()).toEqual(['a-sda', 'a.xml']);
      expect(await sha256File(path.join(out, 'a-sda'))).toBe(before[0]);
      expect([await sha256File(a), await sha256File(b)]).toEqual(before);

      // A stream opened after the end replays every event, then `end`.
      const replay = await allEvents(`${s.url}/jobs/${ja}/events`);
      expect(replay).toEqual(ea);
      // A finished job cannot be cancelled.
      expect((await request(`${s.url}/jobs/${ja}`, { method: 'DELETE' })).status).toBe(409);

      expect(await readdir(work)).toEqual([]);
      expect(processesUsing(work)).toEqual([]);
      await stopService(s);
    });
  });

  test('DELETE cancels a slow job: it ends cancelled, no server or partial disk is left; SIGTERM with a job running exits 0 and cleans up', async ({
    tmp,
    nbdkit,
  }) => {
    const slow = await slowJob(tmp, nbdkit);
    const { work, out, src } = slow;
    const job = { args: [...slow.input, '-o', 'local', '-os', out, '--no-convert'] };
    const nothingLeft = () => slowJobLeftNothing(slow);

    await withService({ TMPDIR: work }, async (s) => {
      const id = await postJob(s, job);
      const got: SseEvent[] = [];
      let cancelledAt = 0;
      for await (const e of events(`${s.url}/jobs/${id}/events`)) {
        got.push(e);
        if (!cancelledAt && e.event === 'copy.progress' && (e.data.done as number) > 0) {
          // Under way: the copy's servers run in the work dir.
          expect(processesUsing(work).length).toBeGreaterThan(0);
          cancelledAt = Date.now();
          const del = await request(`${s.url}/jobs/${id}`, { method: 'DELETE' });
          expect(del.status).toBe(202);
        }
      }
      expect(cancelledAt, 'the copy got under way').toBeGreaterThan(0);
      expect(Date.now() - cancelledAt).toBeLessThan(15_000);
      const end = expectEnded(got, 'cancelled');
      expect(end.error).toEqual(expect.any(String));
      expect(startedSteps(got)).toEqual(expect.arrayContaining(['input', 'convert', 'output-setup', 'copy']));
      expect(startedSteps(got)).not.toContain('output-finalize');
      const copied = got.filter((e) => e.event === 'copy.progress').at(-1)!.data;
      expect(copied.done as number).toBeLessThan(copied.total as number);
      expect((await request(`${s.url}/jobs/${id}`)).body).toMatchObject({ id, status: 'cancelled' });
      expect((await request(`${s.url}/jobs/${id}`, { method: 'DELETE' })).status).toBe(409);
      await nothingLeft();

      // SIGTERM while a job copies: it is cancelled, its stream ends, the service exits 0.
      // It reads a source of its own: nbdkit 1.32 can die on the first job's
      // cancel (`raw_send_socket: Assertion 'sock >= 0'` when a client goes
      // away with reads in flight), which is the test's server, not the job.
      await mkdir(path.join(tmp, 'again'));
      const again = await slowJob(path.join(tmp, 'again'), nbdkit, 'slow-again');
      const id2 = await postJob(s, { args: [...again.input, '-o', 'local', '-os', out, '--no-convert'] });
      const got2: SseEvent[] = [];
      let stopping = 0;
      let stopped: Promise<unknown> | undefined;
      for await (const e of events(`${s.url}/jobs/${id2}/events`)) {
        got2.push(e);
        // Once the copy has started (a loaded machine may not show progress before).
        if (!stopped && (e.event === 'copy.started' || e.event === 'copy.progress')) {
          stopping = Date.now();
          stopped = stopService(s).then(
            () => undefined,
            (err: unknown) => err,
          );
        }
      }
      expect(stopped, `the copy got under way; events: ${got2.map((e) => e.event).join(' ')}`).toBeDefined();
      const stopError = await stopped;
      if (stopError) throw stopError;
      expect(Date.now() - stopping).toBeLessThan(15_000);
      expectEnded(got2, 'cancelled');
      expect(s.stdout()).toMatch(/SIGTERM/);
      await nothingLeft();
      expect(othersUsing(again.src.socket, again.src.pid)).toEqual([]);
    });
  });
});
