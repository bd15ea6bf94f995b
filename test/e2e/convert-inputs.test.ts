// Slow tier, issue 4: each input type through a real conversion end to end,
// from a fixture made here out of virt-v2v's phony Windows 7 guest (the one
// its own test scripts convert; test/helpers/phony-windows.ts), with the
// fake virtio-win drivers: a conversion through the input path is what is
// checked here, and that guest converts in about a third of the Debian
// sample's time (no initramfs to rebuild). One conversion per input, shared
// by the tests that check it, the two made side by side
// (sideBySideConversions, test/helpers/conversions.ts);
// between them and the other files' conversions, every output is covered:
//   -i vmx (a monolithicFlat vmdk) to -o null: every step runs, the disk is
//     copied to its end, virt-v2v-in-place's output (in convert.log) says it
//     converted the guest and installed virtio drivers;
//   -i ova (a tar of an OVF, a streamOptimized vmdk read in place, a SHA256
//     manifest) to -o local: a libvirt XML with a virtio disk, the virtio
//     drivers installed in the converted disk (the compressed stream is the
//     input whose bytes are least like the image's: its output is the one
//     read back);
//   -i disk is convert-sample.test.ts's conversion (the Debian sample, booted
//     after), -i libvirtxml the two-disk guest's in convert-variants.test.ts.
// Each: exit 0, no error on stderr (warnings only), the sources unchanged, nothing left in
// the work dir.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect } from 'vitest';
import { test, run, sha256File } from '../helpers/fixtures.js';
import { runCli, stderrBesidesWarnings } from '../helpers/cli.js';
import { once, sideBySideConversions } from '../helpers/conversions.js';
import { guestOutputs, tcg } from '../helpers/guests.js';
import { noPhonyWindows, phonyWindows, type PhonyWindows } from '../helpers/phony-windows.js';

const MiB = 1024 ** 2;

/** The environment of a conversion of the phony guest: TCG, its fake drivers and tools, TMPDIR WORK. */
function windowsEnv(w: PhonyWindows, work: string): NodeJS.ProcessEnv {
  return { ...tcg, VIRTIO_WIN: w.virtioWin, VIRT_TOOLS_DATA_DIR: w.virtToolsData, TMPDIR: work };
}

async function sha256Stream(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** -i vmx (a monolithicFlat vmdk) to -o null, in TMP. */
async function viaVmx(tmp: string) {
  const w = await phonyWindows();
  const dir = path.join(tmp, 'vm');
  await mkdir(dir);
  await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', w.image, path.join(dir, 'sample.vmdk')]);
  const vmx = path.join(dir, 'sample.vmx');
  await writeFile(
    vmx,
    [
      'displayName = "fromvmx"',
      'guestOS = "windows7-64"',
      'memsize = "1024"',
      'numvcpus = "1"',
      'scsi0.present = "TRUE"',
      'scsi0.virtualDev = "lsilogic"',
      'scsi0:0.present = "TRUE"',
      'scsi0:0.fileName = "sample.vmdk"',
      'ethernet0.present = "TRUE"',
      'ethernet0.virtualDev = "vmxnet3"',
      'ethernet0.networkName = "VM Network"',
      'ethernet0.generatedAddress = "00:0c:29:aa:bb:cc"',
      '',
    ].join('\n'),
  );
  const flat = path.join(dir, 'sample-flat.vmdk');
  const work = path.join(tmp, 'work');
  const logs = path.join(tmp, 'logs');
  await mkdir(work);
  const before = await sha256File(flat);
  const r = await runCli(['-i', 'vmx', vmx, '-o', 'null', '--machine-readable', '--log-dir', logs], { env: windowsEnv(w, work) });
  if (r.code !== 0) throw new Error(`-i vmx: exit ${r.code}: ${r.stderr}`);
  const events = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { r, events, flat, before, work, logs };
}

/** -i ova (a streamOptimized vmdk read in place, a manifest) to -o local, in TMP. */
async function viaOva(tmp: string) {
  const w = await phonyWindows();
  const dir = path.join(tmp, 'export');
  await mkdir(dir);
  const disk = path.join(dir, 'sample-disk1.vmdk');
  await run(['qemu-img', 'convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', w.image, disk]);
  const ovf = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References><File ovf:href="sample-disk1.vmdk" ovf:id="file1"/></References>
  <DiskSection><Disk ovf:capacity="${512 * MiB}" ovf:diskId="d1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
  <VirtualSystem ovf:id="fromova"><Name>fromova</Name>
    <VirtualHardwareSection>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType><rasd:Address>0</rasd:Address></Item>
      <Item><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceType>17</rasd:ResourceType><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:HostResource>ovf:/disk/d1</rasd:HostResource><rasd:Parent>3</rasd:Parent></Item>
      <Item><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType><rasd:Connection>VM Network</rasd:Connection><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType></Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
  await writeFile(path.join(dir, 'sample.ovf'), ovf);
  const sums = [`SHA256(sample.ovf)= ${createHash('sha256').update(ovf).digest('hex')}`, `SHA256(sample-disk1.vmdk)= ${await sha256Stream(disk)}`];
  await writeFile(path.join(dir, 'sample.mf'), `${sums.join('\n')}\n`);
  const ova = path.join(tmp, 'sample.ova');
  await run(['tar', '-C', dir, '-cf', ova, 'sample.ovf', 'sample-disk1.vmdk', 'sample.mf']);
  const out = path.join(tmp, 'out');
  const work = path.join(tmp, 'work');
  await mkdir(out);
  await mkdir(work);
  const before = await sha256File(ova);
  const r = await runCli(['-i', 'ova', ova, '-o', 'local', '-os', out, '-on', 'fromova'], { env: windowsEnv(w, work) });
  return { r, ova, before, out, work };
}

describe.skipIf(noPhonyWindows)('convert the phony Windows guest from each input type', () => {
  const made = sideBySideConversions({ vmx: viaVmx, ova: viaOva });

  describe('-i vmx (monolithicFlat vmdk) to -o null', () => {
    const conversion = made.vmx;

    test('the run: exit 0, no error on stderr (warnings only), the flat vmdk unchanged, nothing left in the work dir', async () => {
      const c = conversion();
      expect(stderrBesidesWarnings(c.r)).toEqual([]);
      expect(c.r.code).toBe(0);
      expect(await sha256File(c.flat)).toBe(c.before);
      expect(await readdir(c.work)).toEqual([]);
    });

    test('every step ran, the disk was copied to its end (to nothing)', () => {
      const { events } = conversion();
      expect(events.filter((e) => e.type === 'step.finished').map((e) => e.step)).toEqual([
        'input',
        'convert',
        'output-setup',
        'copy',
        'output-finalize',
        'cleanup',
      ]);
      const done = events.filter((e) => e.type === 'copy.progress' && e.disk === 'sda').at(-1);
      expect(done?.total).toBe(512 * MiB);
      expect(done?.done).toBe(done?.total);
    });

    test("the guest was converted: virt-v2v-in-place's output in convert.log says so", async () => {
      const log = await readFile(path.join(conversion().logs, 'convert.log'), 'utf8');
      const said = log
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg?: string; stdout?: string })
        .filter((l) => l.msg === 'virt-v2v-in-place' && l.stdout !== undefined)
        .map((l) => l.stdout)
        .join('\n');
      expect(said).toMatch(/\] Converting .+ to run on KVM$/m);
      expect(said).toMatch(/^virt-v2v-in-place: This guest has virtio drivers installed\.$/m);
      expect(said).toMatch(/\] Finishing off$/m);
    });
  });

  describe('-i ova (streamOptimized vmdk read in place, manifest) to -o local', () => {
    const conversion = made.ova;
    // The converted guest, read with libguestfs (a peer, not our code): the
    // drivers virt-v2v-in-place copies in (test-v2v-windows-conversion.sh
    // checks the same files).
    const drivers = once(() =>
      guestOutputs([path.join(conversion().out, 'fromova-sda')], 'raw', ['is-dir /Windows/Drivers/VirtIO', 'is-file /Windows/Drivers/VirtIO/viostor.sys', 'is-file /Windows/Drivers/VirtIO/netkvm.inf']),
    );

    test('the run: exit 0, no error on stderr (warnings only), the OVA unchanged, nothing left in the work dir', async () => {
      const c = conversion();
      expect(stderrBesidesWarnings(c.r)).toEqual([]);
      expect(c.r.code).toBe(0);
      expect(await sha256File(c.ova)).toBe(c.before);
      expect(await readdir(c.work)).toEqual([]);
    });

    test('the output: the disk and a libvirt XML naming a virtio disk', async () => {
      const { out } = conversion();
      expect((await readdir(out)).sort()).toEqual(['fromova-sda', 'fromova.xml']);
      expect(await readFile(path.join(out, 'fromova.xml'), 'utf8')).toMatch(/<target dev=['"]vda['"] bus=['"]virtio['"]/);
    });

    test('the virtio drivers are in the converted disk', { timeout: 300_000 }, async () => {
      expect(await drivers()).toEqual(['true\n', 'true\n', 'true\n']);
    });
  });
});
