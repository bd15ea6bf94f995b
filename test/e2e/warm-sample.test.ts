// Slow tier: the whole warm migration on the sample guest (issue 11), one
// flow: a qcow2 overlay of the sample with a persistent dirty bitmap is the
// running source; `v2v warm begin` copies it; files are written into the
// source guest with guestfish between rounds (qemu keeps the bitmap); two
// `v2v warm sync --bitmap` rounds; `v2v warm cutover` (the last sync, the
// in-place conversion of the target disks, output finalize). The target
// boots on virtio and holds the files written before the last sync.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { run } from '../helpers/fixtures.js';
import { runCli, stderrBesidesWarnings } from '../helpers/cli.js';
import { once, sharedConversion } from '../helpers/conversions.js';
import { bootOnVirtio, guestOutputs, noSampleGuest, overlayOfSample, tcg } from '../helpers/guests.js';

async function v2vOk(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runCli(args, { env });
  expect(stderrBesidesWarnings(r), `v2v ${args.join(' ')}`).toEqual([]);
  expect(r.code).toBe(0);
  return r.stdout;
}

describe.skipIf(noSampleGuest)('warm migration of the sample guest', () => {
  const flow = sharedConversion(async (tmp) => {
    const src = path.join(tmp, 'source.qcow2');
    const out = path.join(tmp, 'out');
    const state = path.join(tmp, 'warm.json');
    await mkdir(out);
    await overlayOfSample(src);
    await run(['qemu-img', 'bitmap', '--add', src, 'b0']);
    const env = { ...tcg };
    const outputs: string[] = [];
    outputs.push(await v2vOk(['warm', 'begin', '--state', state, '-i', 'disk', src, '-o', 'local', '-os', out, '-on', 'warm'], env));
    for (const [i, text] of ['written before round 1', 'written before round 2'].entries()) {
      // The guest "runs": a file written into it; then the round copies what changed.
      await run(['guestfish', '-a', src, '-i', 'write', `/root/round${i + 1}.txt`, text], { env: { ...process.env, ...tcg } });
      outputs.push(await v2vOk(['warm', 'sync', '--state', state, '--bitmap', `b${i}`], env));
      await run(['qemu-img', 'bitmap', '--remove', src, `b${i}`]);
      await run(['qemu-img', 'bitmap', '--add', src, `b${i + 1}`]);
    }
    outputs.push(await v2vOk(['warm', 'cutover', '--state', state, '--bitmap', 'b2'], env));
    return { out, state, outputs };
  }, 1_800_000);
  const disk = () => path.join(flow().out, 'warm-sda');
  const guest = once(async () => {
    const [fstab, one, two] = await guestOutputs([disk()], 'raw', ['cat /etc/fstab', 'cat /root/round1.txt', 'cat /root/round2.txt']);
    return { fstab: fstab!, one: one!, two: two! };
  });

  test('each round printed its summary; the state says done with the files; the output is what a copying conversion writes', async () => {
    const { out, state, outputs } = flow();
    expect(outputs[0]).toMatch(/^v2v: warm begin \(round 0\): .* changed, .* read, in [\d.]+ s$/m);
    expect(outputs[1]).toMatch(/^v2v: warm sync \(round 1\)/m);
    expect(outputs[2]).toMatch(/^v2v: warm sync \(round 2\)/m);
    expect(outputs[3]).toMatch(/^v2v: warm cutover \(round 3\)/m);
    const s = JSON.parse(await readFile(state, 'utf8')) as { state: string; rounds: { kind: string; bytesChanged: number }[]; files: string[] };
    expect(s.state).toBe('done');
    expect(s.rounds.map((r) => r.kind)).toEqual(['begin', 'sync', 'sync', 'cutover']);
    // A sync copies what the guest wrote, not the disk.
    for (const r of s.rounds.slice(1)) expect(r.bytesChanged).toBeLessThan(s.rounds[0]!.bytesChanged / 4);
    expect((await readdir(out)).sort()).toEqual(['warm-sda', 'warm.xml']);
    expect(s.files.sort()).toEqual([path.join(out, 'warm-sda'), path.join(out, 'warm.xml')]);
    const xml = await readFile(path.join(out, 'warm.xml'), 'utf8');
    expect(xml).toMatch(/<target dev=['"]vda['"] bus=['"]virtio['"]/);
  });

  test('the target holds the files written before each sync, and is converted (fstab on /dev/vda1)', { timeout: 300_000 }, async () => {
    const g = await guest();
    expect(g.one.trim()).toBe('written before round 1');
    expect(g.two.trim()).toBe('written before round 2');
    expect(g.fstab).toMatch(/^\/dev\/vda1\s+\/\s/m);
  });

  test('it boots on virtio (TCG here) to a login prompt', { timeout: 480_000 }, async () => {
    const text = await bootOnVirtio(disk(), 'raw');
    expect(text).not.toMatch(/ALERT!|emergency mode/i);
    expect(text).toMatch(/login:/);
  });
});
