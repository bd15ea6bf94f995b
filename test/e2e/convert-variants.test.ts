// Slow tier, part two: variants of the sample guest (test/helpers/guests.ts).
// A two-disk qcow2 guest, described by a libvirt domain XML, `-i libvirtxml`
// to `-o qemu -of qcow2`: one conversion (test/helpers/conversions.ts) that
// is both the libvirt XML input's run end to end and the two-disk run (disks
// copied in parallel, both renamed in fstab, the data disk intact, the
// script boots it). A conversion that fails (one line naming the step and
// its log, nothing left behind) is checked where it fails sooner: a disk
// with no guest, test/integration/v2v-no-convert.test.ts and
// convert-in-place.test.ts. Skipped until the sample guest is built
// (scripts/setup.sh builds it).
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, run, sha256File, processesUsing } from '../helpers/fixtures.js';
import { runCli, stderrBesidesWarnings } from '../helpers/cli.js';
import { once, sharedConversion } from '../helpers/conversions.js';
import { bootConsole, guestOutputs, makeTwoDiskGuest, noSampleGuest, sampleGuest, tcg } from '../helpers/guests.js';

interface LogLine {
  msg: string;
  time: string;
  disk: string | null;
}

async function copySpan(logs: string, disk: string): Promise<[number, number]> {
  const lines = (await readFile(path.join(logs, `copy-${disk}.log`), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as LogLine);
  const t = (msg: string) => Date.parse(lines.find((l) => l.msg === msg)!.time);
  return [t('copy starting'), t('copy finished')];
}

const MAC = '52:54:00:12:34:56';

describe.skipIf(noSampleGuest)('convert variants of the sample guest', () => {
  describe('-i libvirtxml: a two-disk qcow2 guest to -o qemu -of qcow2', () => {
    const conversion = sharedConversion(async (tmp) => {
      const sda = path.join(tmp, 'guest-sda.qcow2');
      const sdb = path.join(tmp, 'guest-sdb.qcow2');
      const { blobSha256 } = await makeTwoDiskGuest(sda, sdb);
      // The guest's name comes from the XML (no -on).
      const xml = path.join(tmp, 'two.xml');
      await writeFile(
        xml,
        `<domain type='kvm'>
  <name>two</name>
  <memory unit='GiB'>1</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${sda}'/><target dev='sda' bus='sata'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='guest-sdb.qcow2'/><target dev='sdb' bus='sata'/></disk>
    <interface type='network'><mac address='${MAC}'/><source network='default'/><model type='e1000'/></interface>
  </devices>
</domain>
`,
      );
      const out = path.join(tmp, 'out');
      const work = path.join(tmp, 'work');
      const logs = path.join(tmp, 'logs');
      await Promise.all([mkdir(out), mkdir(work)]);
      const sources = [sda, sdb, sampleGuest];
      const before = await Promise.all(sources.map((f) => sha256File(f)));
      const r = await runCli(['-i', 'libvirtxml', xml, '-o', 'qemu', '-os', out, '-of', 'qcow2', '--log-dir', logs], {
        env: { ...tcg, TMPDIR: work },
      });
      return { r, out, work, logs, sources, before, blobSha256 };
    }, 1_200_000);
    const outFile = (name: string) => path.join(conversion().out, name);
    // Both converted disks, read with libguestfs in one appliance.
    const guest = once(async () => {
      const [fstab, hello, blob] = await guestOutputs([outFile('two-sda'), outFile('two-sdb')], 'qcow2', [
        'cat /etc/fstab',
        'cat /data/hello',
        'checksum sha256 /data/blob',
      ]);
      return { fstab: fstab!, hello: hello!, blob: blob!.trim() };
    });

    test('the run: exit 0, no error on stderr (warnings only), 2 disks copied in parallel, sources unchanged, nothing left', async () => {
      const c = conversion();
      expect(stderrBesidesWarnings(c.r)).toEqual([]);
      expect(c.r.code).toBe(0);
      expect(c.r.stdout).toMatch(/\] Copying 2 disks in parallel/);
      expect(await Promise.all(c.sources.map((f) => sha256File(f)))).toEqual(c.before);
      expect(await readdir(c.work)).toEqual([]);
      expect(processesUsing(c.work)).toEqual([]);
    });

    test('the output: two qcow2 disks and the boot script, named from the XML', async () => {
      expect((await readdir(conversion().out)).sort()).toEqual(['two-sda', 'two-sdb', 'two.sh']);
      for (const d of ['two-sda', 'two-sdb']) {
        expect(await run(['qemu-img', 'info', '--output=json', outFile(d)])).toMatch(/"format": "qcow2"/);
      }
    });

    test('the two copies overlapped in time', async () => {
      const { logs } = conversion();
      const [a, b] = [await copySpan(logs, 'sda'), await copySpan(logs, 'sdb')];
      expect(a[0]).toBeLessThanOrEqual(b[1]);
      expect(b[0]).toBeLessThanOrEqual(a[1]);
    });

    test('both disks converted: fstab names the virtio devices', { timeout: 300_000 }, async () => {
      const { fstab } = await guest();
      expect(fstab).toMatch(/^\/dev\/vda1\s+\/\s/m);
      expect(fstab).toMatch(/^\/dev\/vdb1\s+\/data\s/m);
      expect(fstab).not.toMatch(/\/dev\/sd[ab]1/);
    });

    test("the data disk's files survived", { timeout: 300_000 }, async () => {
      const { hello, blob } = await guest();
      expect(hello).toMatch(/^hello from sdb\n/);
      expect(blob).toBe(conversion().blobSha256);
    });

    // A /data that failed to mount would stop in emergency mode instead.
    // TCG: 30-45 s to the prompt on an idle machine, minutes on a busy one.
    test("the script boots it on virtio (disks, the XML's NIC) to a login prompt", { timeout: 480_000 }, async () => {
      const script = await readFile(outFile('two.sh'), 'utf8');
      expect(script).toMatch(/if=virtio/);
      expect(script).toContain(`virtio-net-pci,netdev=net0,mac=${MAC}`);
      const text = await bootConsole(['sh', outFile('two.sh'), '-machine', 'accel=tcg', '-snapshot', '-m', '1024'], 420_000);
      expect(text).not.toMatch(/ALERT!|emergency mode/i);
      expect(text).toMatch(/login:/);
    });
  });
});
