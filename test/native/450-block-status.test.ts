// Block status (libnbd python/t/460-block-status.py, 465-block-status-64):
// base:allocation on sparse nbdkit disks, and a qemu dirty bitmap served by
// qemu-nbd -B as the named context qemu:dirty-bitmap:NAME.
import path from 'node:path';
import { describe, expect } from 'vitest';
import {
  CMD_FLAG,
  CONTEXT_BASE_ALLOCATION,
  STATE_HOLE,
  STATE_ZERO,
  type Extent,
  type NbdHandle,
} from '../../src/nbd/handle.js';
import { run } from '../helpers/fixtures.js';
import { test } from '../helpers/nbd.js';
import { has } from '../helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const HOLE_ZERO = STATE_HOLE | STATE_ZERO;

/** Extents of [0, size) for CONTEXT, asking again where a reply stops short. */
async function mapAll(h: NbdHandle, size: number, context = CONTEXT_BASE_ALLOCATION): Promise<Extent[]> {
  const out: Extent[] = [];
  let off = 0;
  while (off < size) {
    const ex = await h.blockStatus(size - off, off, context);
    expect(ex.length, `extents at ${off}`).toBeGreaterThan(0);
    expect(ex[0]!.offset).toBe(off);
    for (const e of ex) {
      if (e.offset >= size) break;
      out.push({ ...e, length: Math.min(e.length, size - e.offset) });
    }
    const last = out[out.length - 1]!;
    off = last.offset + last.length;
  }
  // Contiguous, no gaps, exactly [0, size).
  let at = 0;
  for (const e of out) {
    expect(e.offset).toBe(at);
    expect(e.length).toBeGreaterThan(0);
    at += e.length;
  }
  expect(at).toBe(size);
  return out;
}

function flagsAt(extents: Extent[], offset: number): number {
  const e = extents.find((x) => x.offset <= offset && offset < x.offset + x.length);
  if (!e) throw new Error(`no extent covers ${offset}`);
  return e.flags;
}

describe.skipIf(!has('nbdkit'))('450 block status base:allocation', () => {
  test('a sparse data disk: data where bytes were given, holes elsewhere', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['data', 'data=1 @1048576 2', 'size=4M']);
    const h = open('data', { metaContexts: [CONTEXT_BASE_ALLOCATION] });
    await h.connect({ uri: srv.uri });
    expect(h.canMetaContext(CONTEXT_BASE_ALLOCATION)).toBe(true);
    const ex = await mapAll(h, 4 * MiB);
    expect(flagsAt(ex, 0)).toBe(0);
    expect(flagsAt(ex, MiB)).toBe(0);
    for (const off of [512 * KiB, MiB - 1, 2 * MiB, 4 * MiB - 1]) expect(flagsAt(ex, off), `at ${off}`).toBe(HOLE_ZERO);
    // The extents agree with the bytes.
    const b = new Uint8Array(1);
    await h.pread(b, 0);
    expect(b[0]).toBe(1);
    await h.pread(b, MiB);
    expect(b[0]).toBe(2);
    const data = ex.filter((e) => e.flags === 0).reduce((n, e) => n + e.length, 0);
    expect(data).toBeLessThanOrEqual(128 * KiB);
  });

  test('a memory disk follows writes, zero and trim', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['memory', '4M']);
    const h = open('memory', { metaContexts: [CONTEXT_BASE_ALLOCATION] });
    await h.connect({ uri: srv.uri });
    const empty = await mapAll(h, 4 * MiB);
    expect(empty.every((e) => e.flags === HOLE_ZERO)).toBe(true);

    await h.pwrite(Buffer.alloc(64 * KiB, 0xab), MiB);
    await h.pwrite(Buffer.alloc(64 * KiB, 0xcd), 3 * MiB);
    let ex = await mapAll(h, 4 * MiB);
    expect(flagsAt(ex, MiB)).toBe(0);
    expect(flagsAt(ex, MiB + 64 * KiB - 1)).toBe(0);
    expect(flagsAt(ex, 3 * MiB)).toBe(0);
    expect(flagsAt(ex, 0)).toBe(HOLE_ZERO);
    expect(flagsAt(ex, 2 * MiB)).toBe(HOLE_ZERO);

    await h.trim(64 * KiB, MiB);
    ex = await mapAll(h, 4 * MiB);
    expect(flagsAt(ex, MiB) & STATE_ZERO).toBe(STATE_ZERO);
    expect(flagsAt(ex, 3 * MiB)).toBe(0);
  });

  test('REQ_ONE gives one extent; a range in the middle starts at its offset', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['data', 'data=1 @1048576 2', 'size=4M']);
    const h = open('req-one', { metaContexts: [CONTEXT_BASE_ALLOCATION] });
    await h.connect({ uri: srv.uri });
    const one = await h.blockStatus(4 * MiB, 0, CONTEXT_BASE_ALLOCATION, CMD_FLAG.REQ_ONE);
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ offset: 0, flags: 0 });
    const mid = await h.blockStatus(MiB, 512 * KiB);
    expect(mid[0]!.offset).toBe(512 * KiB);
    expect(mid[0]!.flags).toBe(HOLE_ZERO);
    // Another context name gives nothing: replies are filtered by context.
    expect(await h.blockStatus(MiB, 0, 'qemu:dirty-bitmap:b0')).toEqual([]);
  });

  test('without a negotiated context block status is refused by libnbd', async ({ nbdkit, open }) => {
    const srv = await nbdkit(['memory', '1M']);
    const h = open('no-context');
    await h.connect({ uri: srv.uri });
    await expect(h.blockStatus(MiB, 0)).rejects.toMatchObject({ name: 'NbdError', op: 'nbd_aio_block_status' });
    expect(h.inFlight).toBe(0);
  });
});

describe.skipIf(!has('qemu-nbd') || !has('qemu-img') || !has('qemu-io'))('450 block status qemu:dirty-bitmap', () => {
  test('qemu-nbd -B b0 reports the written range dirty and the rest clean', async ({ tmp, qemuNbd, open }) => {
    const file = path.join(tmp, 'disk.qcow2');
    await run(['qemu-img', 'create', '-q', '-f', 'qcow2', file, '4M']);
    // Data written before the bitmap existed does not count as dirty.
    await run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x77 3M 64k', file]);
    await run(['qemu-img', 'bitmap', '--add', file, 'b0']);
    await run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x55 0 64k', file]);
    await run(['qemu-io', '-f', 'qcow2', '-c', 'write -P 0x66 2M 128k', file]);

    const srv = await qemuNbd(file, { format: 'qcow2', readonly: true, bitmap: 'b0' });
    expect(srv.command).toEqual(expect.arrayContaining(['-B', 'b0']));
    const ctx = 'qemu:dirty-bitmap:b0';
    const h = open('bitmap', { metaContexts: [CONTEXT_BASE_ALLOCATION, ctx] });
    await h.connect({ uri: srv.uri });
    expect(h.canMetaContext(ctx)).toBe(true);
    expect(h.readOnly).toBe(true);

    const dirty = await mapAll(h, 4 * MiB, ctx);
    expect(flagsAt(dirty, 0)).toBe(1);
    expect(flagsAt(dirty, 64 * KiB - 1)).toBe(1);
    expect(flagsAt(dirty, 64 * KiB)).toBe(0);
    expect(flagsAt(dirty, 2 * MiB)).toBe(1);
    expect(flagsAt(dirty, 2 * MiB + 128 * KiB - 1)).toBe(1);
    expect(flagsAt(dirty, 2 * MiB + 128 * KiB)).toBe(0);
    expect(flagsAt(dirty, 3 * MiB)).toBe(0);
    expect(flagsAt(dirty, 4 * MiB - 1)).toBe(0);
    const dirtyBytes = dirty.filter((e) => e.flags === 1).reduce((n, e) => n + e.length, 0);
    expect(dirtyBytes).toBe(192 * KiB);

    // Both contexts come back from one request; each is picked by name.
    const alloc = await mapAll(h, 4 * MiB);
    expect(flagsAt(alloc, 0)).toBe(0);
    expect(flagsAt(alloc, 3 * MiB)).toBe(0);
    expect(flagsAt(alloc, MiB) & STATE_ZERO).toBe(STATE_ZERO);
    const b = new Uint8Array(64 * KiB);
    await h.pread(b, 0);
    expect(b.every((x) => x === 0x55)).toBe(true);
  });
});
