// -i vmx metadata: the .vmx syntax, the guest it describes, the disk files it
// names (VMDK descriptors, sparse and flat extents, made here as text or with
// qemu-img) and hostile input, which must always be a one-line InputError.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseVmxText, readVmx } from '../../../src/steps/input/vmx/parse.js';
import { parseDescriptor } from '../../../src/steps/input/vmx/vmdk.js';
import { has } from '../../helpers/tools.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

// Modelled on what ESXi 7 writes (trimmed): lsilogic SCSI with two disks, an
// IDE CD-ROM with an ISO, a vmxnet3 NIC, EFI.
const ESXI_VMX = `.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
nvram = "web01.nvram"
pciBridge0.present = "TRUE"
svga.present = "TRUE"
floppy0.present = "FALSE"
displayName = "web01"
guestOS = "rhel8-64"
firmware = "efi"
memSize = "4096"
numvcpus = "2"
cpuid.coresPerSocket = "2"
scsi0.virtualDev = "lsilogic"
scsi0.present = "TRUE"
scsi0:0.deviceType = "scsi-hardDisk"
scsi0:0.fileName = "web01.vmdk"
scsi0:0.present = "TRUE"
scsi0:0.redo = ""
scsi0:1.deviceType = "scsi-hardDisk"
scsi0:1.fileName = "web01_1.vmdk"
scsi0:1.present = "TRUE"
ide1:0.deviceType = "cdrom-image"
ide1:0.fileName = "install.iso"
ide1:0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.networkName = "VM Network"
ethernet0.addressType = "generated"
ethernet0.generatedAddress = "00:0C:29:3E:7A:12"
ethernet0.present = "TRUE"
annotation = "Web server|0Asecond line"
uuid.bios = "56 4d 9a 0b 4c 9e 7f 3a-8c 2e 1b 55 6f 77 4a 10"
`;

// As ESXi writes them: a "vmfs" descriptor over a -flat file, and a split sparse disk.
const FLAT_DESCRIPTOR = `# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=fffffffe
parentCID=ffffffff
createType="vmfs"

# Extent description
RW 4096 VMFS "web01-flat.vmdk"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "2"
ddb.thinProvisioned = "1"
ddb.virtualHWVersion = "19"
`;

const SPLIT_DESCRIPTOR = `# Disk DescriptorFile
version=1
CID=d5f25307
parentCID=ffffffff
createType="twoGbMaxExtentSparse"

# Extent description
RW 4194304 SPARSE "web01_1-s001.vmdk"
RW 2048 SPARSE "web01_1-s002.vmdk"

#DDB
ddb.adapterType = "lsilogic"
`;

function flatDescriptor(extent: string, sectors = 4096, extra = ''): string {
  return `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n${extra}createType="monolithicFlat"\n\nRW ${sectors} FLAT "${extent}" 0\n`;
}

/** A minimal valid .vmx with one SCSI disk, plus `extra` lines. */
function vmxWith(fileName = 'disk.vmdk', extra = ''): string {
  return `displayName = "g"\nscsi0.present = "TRUE"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "${fileName}"\n${extra}`;
}

interface InputErrorLike {
  name: string;
  code: string;
  step?: string;
  message: string;
}

/** The error must be a one-line InputError of the input step starting with `file`. */
function checkInputError(err: unknown, file: string): InputErrorLike {
  const e = err as InputErrorLike;
  expect(e.name, String(err)).toBe('InputError');
  expect(e.code).toBe('INPUT_ERROR');
  expect(e.step).toBe('input');
  expect(e.message).not.toMatch(/[\n\r\u2028\u2029]/);
  expect(e.message.startsWith(`${file}: `), e.message).toBe(true);
  return e;
}

function parseError(text: string, file = 'guest.vmx'): string {
  try {
    parseVmxText(text, file);
  } catch (err) {
    return checkInputError(err, file).message;
  }
  throw new Error('parseVmxText did not throw');
}

async function readError(vmx: string): Promise<string> {
  try {
    await readVmx(vmx);
  } catch (err) {
    return checkInputError(err, vmx).message;
  }
  throw new Error('readVmx did not throw');
}

let tmp: string;
let vmDir: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'v2v-vmx-'));
  vmDir = path.join(tmp, 'vm');
  await mkdir(vmDir);
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Write files into the VM directory; returns the path of the first. */
async function files(entries: Record<string, string | Buffer>): Promise<string> {
  for (const [name, data] of Object.entries(entries)) await writeFile(path.join(vmDir, name), data);
  return path.join(vmDir, Object.keys(entries)[0]!);
}

/** A raw file of `bytes` (sparse). */
async function rawFile(name: string, bytes: number): Promise<string> {
  const p = path.join(vmDir, name);
  await writeFile(p, '');
  await truncate(p, bytes);
  return p;
}

describe('vmx syntax', () => {
  it('reads key = "value" lines, comments, blanks, any key case, CRLF and a BOM', () => {
    const p = parseVmxText(
      `\uFEFF#!/usr/bin/vmware\r\n\r\n  # comment\r\nDISPLAYNAME = "a"\r\nmemsize="64"\r\n\tnumVCPUs   =   "3"  \r\n${vmxWith().replace(/^displayName.*\n/, '')}`,
      'g.vmx',
    );
    expect(p.name).toBe('a');
    expect(p.memory).toBe(64 * MiB);
    expect(p.vcpus).toBe(3);
    expect(p.entries.get('displayname')).toEqual({ key: 'DISPLAYNAME', value: 'a', line: 4 });
  });

  it("decodes VMware's |XX escapes, leaves other '|' alone, and keeps inner quotes", () => {
    const p = parseVmxText(vmxWith('disk.vmdk', 'displayName = "a|22b|7Cc|zz|7 d |C3|A9"\nguestOS = "x"y"\n'), 'g.vmx');
    expect(p.name).toBe('a"b|c|zz|7 d é');
    expect(p.osHint).toBe('x"y');
    expect(p.entries.get('annotation')).toBeUndefined();
  });

  it('takes unquoted values as they are, and the last of duplicate keys', () => {
    const p = parseVmxText(vmxWith('disk.vmdk', 'memsize = 128\nnumvcpus = "1"\nNumVcpus = "4"\n'), 'g.vmx');
    expect(p.memory).toBe(128 * MiB);
    expect(p.vcpus).toBe(4);
  });

  it('refuses what is not "key = value"', () => {
    expect(parseError('displayName = "x"\nthis is not a vmx line\n')).toBe('guest.vmx: line 2: not a "key = value" line');
    expect(parseError('displayName = "x\n')).toBe('guest.vmx: line 1: displayName: unterminated quote');
    expect(parseError('displayName = "\n')).toBe('guest.vmx: line 1: displayName: unterminated quote');
    expect(parseError(' = "x"\n')).toBe('guest.vmx: line 1: no key before "="');
    expect(parseError('a b = "x"\n')).toBe('guest.vmx: line 1: "a b" is not a key');
    expect(parseError('displayName = "|C3"\n')).toMatch(/^guest\.vmx: line 1: displayName: the escape "\|C3" is not UTF-8$/);
    expect(parseError('a = "1"\n\0\n')).toBe('guest.vmx: not a text file (NUL character on line 2)');
  });

  it('says when it is given a VMDK instead of a .vmx', () => {
    expect(parseError(FLAT_DESCRIPTOR)).toBe('guest.vmx: this is a VMDK disk, not a .vmx file');
  });

  it('needs a disk', () => {
    expect(parseError('')).toBe('guest.vmx: no disks found (empty file)');
    expect(parseError('\n# only a comment\n\n')).toBe('guest.vmx: no disks found (no "key = value" lines)');
    expect(parseError('displayName = "x"\nmemsize = "64"\n')).toBe('guest.vmx: no disks found');
  });
});

describe('vmx guest fields', () => {
  it('reads name, memory, vCPUs, firmware and guestOS', () => {
    const p = parseVmxText(ESXI_VMX, '/vms/web01/web01.vmx');
    expect(p).toMatchObject({ name: 'web01', memory: 4 * GiB, vcpus: 2, firmware: 'uefi', osHint: 'rhel8-64', warnings: [] });
  });

  it("has virt-v2v's defaults: name from the file, 32 MiB, 1 vCPU, BIOS", () => {
    const p = parseVmxText(vmxWith().replace(/^displayName.*\n/, ''), '/vms/My Guest.v1.vmx');
    expect(p).toMatchObject({ name: 'My Guest.v1', memory: 32 * MiB, vcpus: 1, firmware: 'bios' });
    expect(p.osHint).toBeUndefined();
    expect(p.warnings).toEqual(['no displayName: the guest is named after the file']);
    expect(parseVmxText(vmxWith('d.vmdk', 'displayName = ""\n'), 'x/noext').name).toBe('noext');
  });

  it('maps firmware values', () => {
    const fw = (v: string) => parseVmxText(vmxWith('d.vmdk', `firmware = "${v}"\n`), 'g.vmx');
    expect(fw('EFI').firmware).toBe('uefi');
    expect(fw('bios').firmware).toBe('bios');
    expect(fw('coreboot').firmware).toBe('unknown');
    expect(fw('coreboot').warnings).toEqual(['firmware "coreboot" is unknown']);
  });

  it('refuses numbers that are not numbers, or out of range', () => {
    expect(parseError(vmxWith('d.vmdk', 'memsize = "lots"\n'))).toBe('guest.vmx: line 5: memsize: "lots" is not a number');
    expect(parseError(vmxWith('d.vmdk', 'memsize = "-1"\n'))).toMatch(/memsize: "-1" is not a number$/);
    expect(parseError(vmxWith('d.vmdk', 'memsize = "1.5"\n'))).toMatch(/is not a number$/);
    expect(parseError(vmxWith('d.vmdk', 'memsize = "99999999999999999999"\n'))).toMatch(/is not a number$/);
    expect(parseError(vmxWith('d.vmdk', 'numvcpus = "0"\n'))).toBe('guest.vmx: line 5: numvcpus: 0 is out of range (1 to 4096)');
    expect(parseError(vmxWith('d.vmdk', 'memSize = "999999999"\n'))).toMatch(/memSize: 999999999 is out of range/);
  });

  it('refuses control characters in the values it passes on', () => {
    expect(parseError(vmxWith('d.vmdk', 'displayName = "a|0Ab"\n'))).toBe('guest.vmx: line 5: displayName: "a\\nb" holds a control character');
    expect(parseError(vmxWith('d|00.vmdk'))).toMatch(/scsi0:0\.fileName: "d\\u0000\.vmdk" holds a control character$/);
  });
});

describe('vmx devices', () => {
  it('lists disks by bus (scsi, sata, nvme, ide), controller, unit, numerically', () => {
    const text = [
      'ide0:0.present = "TRUE"\nide0:0.deviceType = "ata-hardDisk"\nide0:0.fileName = "ide.vmdk"',
      'nvme0.present = "TRUE"\nnvme0:0.present = "TRUE"\nnvme0:0.fileName = "nvme.vmdk"',
      'sata0.present = "TRUE"\nsata0:1.present = "TRUE"\nsata0:1.fileName = "sata.vmdk"',
      'scsi1.present = "TRUE"\nscsi1:0.present = "TRUE"\nscsi1:0.fileName = "s10.vmdk"',
      'scsi0.present = "TRUE"\nscsi0:10.present = "TRUE"\nscsi0:10.fileName = "s010.vmdk"',
      'scsi0:2.present = "TRUE"\nscsi0:2.deviceType = "disk"\nscsi0:2.fileName = "s02.vmdk"',
    ].join('\n');
    const p = parseVmxText(text, 'g.vmx');
    expect(p.disks.map((d) => [d.slot, d.bus, d.controller, d.unit, d.fileName])).toEqual([
      ['scsi0:2', 'scsi', 0, 2, 's02.vmdk'],
      ['scsi0:10', 'scsi', 0, 10, 's010.vmdk'],
      ['scsi1:0', 'scsi', 1, 0, 's10.vmdk'],
      ['sata0:1', 'sata', 0, 1, 'sata.vmdk'],
      ['nvme0:0', 'nvme', 0, 0, 'nvme.vmdk'],
      ['ide0:0', 'ide', 0, 0, 'ide.vmdk'],
    ]);
    expect(p.disks[0]).toMatchObject({ key: 'scsi0:2.fileName', line: 18 });
  });

  it('needs present = TRUE on the device and (except IDE) on its controller', () => {
    const text = [
      'displayName = "g"\nscsi0.present = "TRUE"',
      'scsi0:0.present = "TRUE"\nscsi0:0.fileName = "yes.vmdk"',
      'scsi0:1.present = "FALSE"\nscsi0:1.fileName = "off.vmdk"',
      'scsi0:2.fileName = "nopresent.vmdk"',
      'scsi1:0.present = "TRUE"\nscsi1:0.fileName = "nocontroller.vmdk"',
      'sata0.present = "false"\nsata0:0.present = "TRUE"\nsata0:0.fileName = "offcontroller.vmdk"',
      'ide0:0.present = "true"\nide0:0.fileName = "ide.vmdk"',
      'ide1.present = "FALSE"\nide1:0.present = "TRUE"\nide1:0.fileName = "ide1.vmdk"',
      'scsi00:0.present = "TRUE"\nscsi00:0.fileName = "noncanonical.vmdk"',
    ].join('\n');
    const p = parseVmxText(text, 'g.vmx');
    expect(p.disks.map((d) => d.fileName)).toEqual(['yes.vmdk', 'ide.vmdk']);
    expect(p.warnings).toEqual([
      'scsi0:2: no scsi0:2.present = "TRUE": ignored',
      'scsi1:0: its controller scsi1 is not present: ignored',
      'sata0:0: its controller sata0 is not present: ignored',
      'ide1:0: its controller ide1 is not present: ignored',
    ]);
    expect(parseError('scsi0.present = "maybe"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "a.vmdk"\n')).toBe(
      'guest.vmx: line 1: scsi0.present: "maybe" is not TRUE or FALSE',
    );
    expect(parseError('scsi0.present = "TRUE"\nscsi0:0.present = "TRUE"\n')).toBe('guest.vmx: line 2: scsi0:0: a hard disk with no fileName');
  });

  it('sorts deviceTypes into disks, CD-ROMs and ignored devices; reads floppies', () => {
    const text = vmxWith(
      'a.vmdk',
      [
        'scsi0:1.present = "TRUE"\nscsi0:1.deviceType = "plainDisk"\nscsi0:1.fileName = "b.vmdk"',
        'scsi0:2.present = "TRUE"\nscsi0:2.deviceType = "rawDisk"\nscsi0:2.fileName = "c.vmdk"',
        'scsi0:3.present = "TRUE"\nscsi0:3.deviceType = "scsi-passthru"\nscsi0:3.fileName = "/dev/sg1"',
        'scsi0:4.present = "TRUE"\nscsi0:4.deviceType = "cdrom-image"\nscsi0:4.fileName = "s.iso"',
        'ide1:0.present = "TRUE"\nide1:0.deviceType = "atapi-cdrom"\nide1:0.fileName = "/vmfs/devices/cdrom/mpx.vmhba32:C0:T0:L0"',
        'ide0:1.present = "TRUE"\nide0:1.deviceType = "cdrom-raw"\nide0:1.fileName = "auto detect"',
        'sata0.present = "TRUE"\nsata0:0.present = "TRUE"\nsata0:0.deviceType = "cdrom-image"\nsata0:0.fileName = "sata.iso"',
        'floppy1.present = "TRUE"\nfloppy1.fileType = "file"\nfloppy1.fileName = "boot.flp"',
        'floppy0.present = "TRUE"\nfloppy0.fileType = "device"\nfloppy0.fileName = "/dev/fd0"',
        'floppy2.fileName = "notpresent.flp"',
      ].join('\n'),
    );
    const p = parseVmxText(text, 'g.vmx');
    expect(p.disks.map((d) => d.fileName)).toEqual(['a.vmdk', 'b.vmdk', 'c.vmdk']);
    expect(p.removables).toEqual([
      { slot: 'scsi0:4', kind: 'cdrom', bus: 'scsi', fileName: 's.iso', key: 'scsi0:4.fileName', line: 16 },
      { slot: 'sata0:0', kind: 'cdrom', bus: 'sata', fileName: 'sata.iso', key: 'sata0:0.fileName', line: 26 },
      { slot: 'ide0:1', kind: 'cdrom', bus: 'ide', driveSlot: 1 },
      { slot: 'ide1:0', kind: 'cdrom', bus: 'ide', driveSlot: 2 },
      { slot: 'floppy0', kind: 'floppy', bus: 'unknown' },
      { slot: 'floppy1', kind: 'floppy', bus: 'unknown', fileName: 'boot.flp', key: 'floppy1.fileName', line: 29 },
    ]);
    expect(p.warnings).toEqual(['scsi0:3: deviceType scsi-passthru is neither a disk nor a CD-ROM: ignored']);
  });

  it('reads NICs: model, MAC, network, bridged; in port order', () => {
    const text = vmxWith(
      'a.vmdk',
      [
        'ethernet1.present = "TRUE"\nethernet1.virtualDev = "E1000e"\nethernet1.connectionType = "bridged"',
        'ethernet1.addressType = "static"\nethernet1.address = "00:50:56:01:02:0A"\nethernet1.generatedAddress = "00:0c:29:00:00:01"',
        'ethernet0.present = "TRUE"\nethernet0.networkName = "Prod VLAN 10"\nethernet0.generatedAddress = "00:0C:29:AB:CD:EF"',
        'ethernet2.present = "FALSE"\nethernet2.virtualDev = "vlance"',
        'ethernet3.virtualDev = "vlance"',
        'ethernet10.present = "TRUE"\nethernet10.virtualDev = "vmxnet3"\nethernet10.address = "00:50:56:3f:00:01"',
      ].join('\n'),
    );
    expect(parseVmxText(text, 'g.vmx').nics).toEqual([
      { vnet: 'Prod VLAN 10', vnetType: 'network', mac: '00:0c:29:ab:cd:ef' },
      { vnet: 'ethernet1', vnetType: 'bridge', mac: '00:50:56:01:02:0a', model: 'e1000e' },
      { vnet: 'ethernet10', vnetType: 'network', mac: '00:50:56:3f:00:01', model: 'vmxnet3' },
    ]);
    expect(parseError(vmxWith('a.vmdk', 'ethernet0.present = "TRUE"\nethernet0.generatedAddress = "00:0c:29:zz:00:01"\n'))).toBe(
      'guest.vmx: line 6: ethernet0.generatedAddress: "00:0c:29:zz:00:01" is not a MAC address (aa:bb:cc:dd:ee:ff)',
    );
  });
});

describe('readVmx: a realistic guest', () => {
  it('reads an ESXi guest: flat and split sparse disks, CD-ROM image, NIC', async () => {
    const vmx = await files({
      'web01.vmx': ESXI_VMX,
      'web01.vmdk': FLAT_DESCRIPTOR,
      'web01_1.vmdk': SPLIT_DESCRIPTOR,
      'web01_1-s001.vmdk': 'KDMV',
      'web01_1-s002.vmdk': 'KDMV',
      'install.iso': 'iso',
    });
    await rawFile('web01-flat.vmdk', 4096 * 512);
    const warnings: string[] = [];
    expect(await readVmx(vmx, { warn: (m) => warnings.push(m) })).toEqual({
      hypervisor: 'vmware',
      cpuTopology: { sockets: 1, cores: 2, threads: 1 },
      name: 'web01',
      memory: 4 * GiB,
      vcpus: 2,
      firmware: 'uefi',
      osHint: 'rhel8-64',
      disks: [
        { location: path.join(vmDir, 'web01-flat.vmdk'), format: 'raw', bus: 'scsi', capacity: 4096 * 512 },
        { location: path.join(vmDir, 'web01_1.vmdk'), format: 'vmdk', bus: 'scsi', capacity: (4194304 + 2048) * 512 },
      ],
      removables: [{ kind: 'cdrom', bus: 'ide', slot: 2, location: path.join(vmDir, 'install.iso') }],
      nics: [{ vnet: 'VM Network', vnetType: 'network', mac: '00:0c:29:3e:7a:12', model: 'vmxnet3' }],
    });
    expect(warnings).toEqual([]);
  });

  it('accepts an absolute path inside the directory, and a relative one in a subdirectory', async () => {
    await mkdir(path.join(vmDir, 'disks'));
    const vmx = await files({
      'g.vmx': vmxWith(path.join(vmDir, 'disks', 'a.vmdk'), 'scsi0:1.present = "TRUE"\nscsi0:1.fileName = "disks/../disks/b.vmdk"\n'),
      'disks/a.vmdk': flatDescriptor('a-flat.vmdk'),
      'disks/b.vmdk': flatDescriptor('b-flat.vmdk'),
    });
    await rawFile('disks/a-flat.vmdk', 4096 * 512);
    await rawFile('disks/b-flat.vmdk', 4096 * 512);
    const g = await readVmx(vmx);
    expect(g.disks.map((d) => d.location)).toEqual([path.join(vmDir, 'disks/a-flat.vmdk'), path.join(vmDir, 'disks/b-flat.vmdk')]);
  });

  it('leaves a CD-ROM empty, with a warning, when its image is elsewhere or missing', async () => {
    const vmx = await files({
      'g.vmx': vmxWith('a.vmdk', 'ide1:0.present = "TRUE"\nide1:0.deviceType = "cdrom-image"\nide1:0.fileName = "/vmfs/volumes/iso/x.iso"\n'),
      'a.vmdk': flatDescriptor('a-flat.vmdk'),
    });
    await rawFile('a-flat.vmdk', 4096 * 512);
    const warnings: string[] = [];
    const g = await readVmx(vmx, { warn: (m) => warnings.push(m) });
    expect(g.removables).toEqual([{ kind: 'cdrom', bus: 'ide', slot: 2 }]);
    expect(warnings).toEqual([`${vmx}: line 7: ide1:0.fileName: /vmfs/volumes/iso/x.iso escapes the directory of g.vmx: the cdrom drive is left empty`]);
  });

  it('reads a .vmx that declares windows-1252', async () => {
    const text = Buffer.from(`.encoding = "windows-1252"\n${vmxWith('a.vmdk', 'displayName = "Caf\xe9"\n')}`, 'latin1');
    const vmx = await files({ 'g.vmx': text, 'a.vmdk': flatDescriptor('a-flat.vmdk') });
    await rawFile('a-flat.vmdk', 4096 * 512);
    expect((await readVmx(vmx)).name).toBe('Café');
  });
});

describe.skipIf(!has('qemu-img'))('readVmx: disks made by qemu-img', () => {
  const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { cwd: vmDir, stdio: 'pipe' });

  it('monolithicFlat: the flat extent as raw; monolithicSparse and streamOptimized: the vmdk', async () => {
    qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', 'flat.vmdk', '10M');
    qemuImg('create', '-q', '-f', 'vmdk', 'sparse.vmdk', '20M');
    qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=streamOptimized', 'stream.vmdk', '30M');
    qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=twoGbMaxExtentFlat', 'split.vmdk', '3G');
    const vmx = await files({
      'g.vmx': [
        'displayName = "q"',
        'sata0.present = "TRUE"',
        'sata0:0.present = "TRUE"\nsata0:0.fileName = "flat.vmdk"',
        'sata0:1.present = "TRUE"\nsata0:1.fileName = "sparse.vmdk"',
        'nvme0.present = "TRUE"\nnvme0:0.present = "TRUE"\nnvme0:0.fileName = "stream.vmdk"',
        'ide0:0.present = "TRUE"\nide0:0.fileName = "split.vmdk"',
      ].join('\n'),
    });
    const g = await readVmx(vmx);
    expect(g.disks).toEqual([
      { location: path.join(vmDir, 'flat-flat.vmdk'), format: 'raw', bus: 'sata', capacity: 10 * MiB },
      { location: path.join(vmDir, 'sparse.vmdk'), format: 'vmdk', bus: 'sata', capacity: 20 * MiB },
      { location: path.join(vmDir, 'stream.vmdk'), format: 'vmdk', bus: 'nvme', capacity: 30 * MiB },
      { location: path.join(vmDir, 'split.vmdk'), format: 'vmdk', bus: 'ide', capacity: 3 * GiB },
    ]);
    expect(g).toMatchObject({ name: 'q', memory: 32 * MiB, vcpus: 1, firmware: 'bios', removables: [], nics: [] });
  });

  it('refuses a sparse snapshot whose embedded parentFileNameHint escapes', async () => {
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', 'outside.vmdk', '10M'], { cwd: tmp });
    qemuImg('create', '-q', '-f', 'vmdk', '-b', '../outside.vmdk', '-F', 'vmdk', 'child.vmdk', '10M');
    const vmx = await files({ 'g.vmx': vmxWith('child.vmdk') });
    expect(await readError(vmx)).toBe(
      `${vmx}: line 4: scsi0:0.fileName: child.vmdk: embedded descriptor: line 6: parentFileNameHint: ../outside.vmdk escapes the directory of g.vmx`,
    );
  });

  it('follows a snapshot chain that stays inside', async () => {
    qemuImg('create', '-q', '-f', 'vmdk', 'base.vmdk', '10M');
    qemuImg('create', '-q', '-f', 'vmdk', '-b', 'base.vmdk', '-F', 'vmdk', 'snap.vmdk', '10M');
    const vmx = await files({ 'g.vmx': vmxWith('snap.vmdk') });
    expect((await readVmx(vmx)).disks).toEqual([{ location: path.join(vmDir, 'snap.vmdk'), format: 'vmdk', bus: 'scsi', capacity: 10 * MiB }]);
  });
});

describe('readVmx: hostile and broken input', () => {
  it('checks the size before reading (a sparse 10 GiB file)', async () => {
    const vmx = await rawFile('big.vmx', 10 * GiB);
    expect(await readError(vmx)).toBe(`${vmx}: 10.0 GiB is too big for a .vmx file (at most 1.0 MiB)`);
  });

  it('refuses binary content, invalid UTF-8, a VMDK, a directory, a FIFO, a missing file', async () => {
    const nul = await files({ 'nul.vmx': Buffer.from('displayName = "a"\n\0\0\0') });
    expect(await readError(nul)).toBe(`${nul}: not a text file (NUL byte at offset 18)`);
    const bad = await files({ 'bad.vmx': Buffer.from([0x61, 0x20, 0x3d, 0x20, 0x22, 0xff, 0xfe, 0x22, 0x0a]) });
    expect(await readError(bad)).toBe(`${bad}: not a text file (invalid UTF-8)`);
    const enc = await files({ 'enc.vmx': '.encoding = "klingon"\n' });
    expect(await readError(enc)).toBe(`${enc}: .encoding "klingon" is not an encoding we know`);
    const kdmv = await files({ 'kdmv.vmx': Buffer.concat([Buffer.from('KDMV'), Buffer.alloc(508)]) });
    expect(await readError(kdmv)).toBe(`${kdmv}: this is a VMDK disk, not a .vmx file`);
    await mkdir(path.join(vmDir, 'dir.vmx'));
    expect(await readError(path.join(vmDir, 'dir.vmx'))).toBe(`${path.join(vmDir, 'dir.vmx')}: Is a directory`);
    expect(await readError(path.join(vmDir, 'none.vmx'))).toBe(`${path.join(vmDir, 'none.vmx')}: No such file or directory`);
  });

  it.skipIf(!has('mkfifo'))('refuses a FIFO as the .vmx or as a disk without hanging', async () => {
    execFileSync('mkfifo', ['fifo.vmx', 'fifo.vmdk'], { cwd: vmDir });
    expect(await readError(path.join(vmDir, 'fifo.vmx'))).toBe(`${path.join(vmDir, 'fifo.vmx')}: not a regular file`);
    const vmx = await files({ 'g.vmx': vmxWith('fifo.vmdk') });
    expect(await readError(vmx)).toBe(`${vmx}: line 4: scsi0:0.fileName: fifo.vmdk: not a regular file`);
  });

  it('refuses disk paths that escape: "..", absolute elsewhere, a symbolic link out', async () => {
    await writeFile(path.join(tmp, 'outside.vmdk'), flatDescriptor('outside-flat.vmdk'));
    await symlink(path.join(tmp, 'outside.vmdk'), path.join(vmDir, 'link.vmdk'));
    await symlink(tmp, path.join(vmDir, 'up'));
    const cases: [string, string][] = [
      ['../../etc/shadow', '../../etc/shadow escapes the directory of g.vmx'],
      ['/etc/passwd', '/etc/passwd escapes the directory of g.vmx'],
      [path.join(tmp, 'outside.vmdk'), `${path.join(tmp, 'outside.vmdk')} escapes the directory of g.vmx`],
      ['link.vmdk', 'link.vmdk escapes the directory of g.vmx (through a symbolic link)'],
      ['up/outside.vmdk', 'up/outside.vmdk escapes the directory of g.vmx (through a symbolic link)'],
      ['missing.vmdk', 'missing.vmdk: No such file or directory'],
      ['.', '.: Is a directory'],
    ];
    for (const [name, why] of cases) {
      const vmx = await files({ 'g.vmx': vmxWith(name) });
      expect(await readError(vmx)).toBe(`${vmx}: line 4: scsi0:0.fileName: ${why}`);
    }
  });

  it('refuses descriptors naming missing or escaping extents, and bad descriptors', async () => {
    await writeFile(path.join(tmp, 'out-flat.vmdk'), Buffer.alloc(4096 * 512));
    await symlink(path.join(tmp, 'out-flat.vmdk'), path.join(vmDir, 'link-flat.vmdk'));
    await rawFile('ok-flat.vmdk', 4096 * 512);
    await rawFile('short-flat.vmdk', 100);
    const cases: [string, string][] = [
      [flatDescriptor('missing-flat.vmdk'), 'line 7: missing-flat.vmdk: No such file or directory'],
      [flatDescriptor('../out-flat.vmdk'), 'line 7: ../out-flat.vmdk escapes the directory of g.vmx'],
      [flatDescriptor('/etc/passwd'), 'line 7: /etc/passwd escapes the directory of g.vmx'],
      [flatDescriptor('link-flat.vmdk'), 'line 7: link-flat.vmdk escapes the directory of g.vmx (through a symbolic link)'],
      [flatDescriptor('short-flat.vmdk'), 'line 7: short-flat.vmdk: 100 bytes, shorter than the 2097152 the extent needs'],
      [flatDescriptor('ok-flat.vmdk').replace('" 0', '" 8'), 'line 7: ok-flat.vmdk: 2097152 bytes, shorter than the 2101248 the extent needs'],
      [flatDescriptor('ok-flat.vmdk', 2048).replace('" 0', '" 8'), 'line 7: a flat extent at offset 8 is not supported'],
      [flatDescriptor('ok-flat.vmdk', 4096, 'parentFileNameHint="../../x.vmdk"\n'), 'line 5: parentFileNameHint: ../../x.vmdk escapes the directory of g.vmx'],
      [flatDescriptor('ok-flat.vmdk', 4096, 'parentFileNameHint="d.vmdk"\n'), 'line 5: parentFileNameHint: d.vmdk: line 5: parentFileNameHint: d.vmdk: line 5: parentFileNameHint: d.vmdk'],
      ['# Disk DescriptorFile\nversion=1\nRW 10 FLAT "ok-flat.vmdk" 0\n', 'no createType: not a VMDK descriptor'],
      ['# Disk DescriptorFile\ncreateType="vmfs"\n', 'no extents'],
      ['# Disk DescriptorFile\ncreateType="vmfs"\nRW 10 FLAT ok-flat.vmdk 0\n', 'line 3: neither an extent nor a "key = value" line'],
      ['# Disk DescriptorFile\ncreateType="vmfs"\nRW 10 WEIRD "ok-flat.vmdk"\n', 'line 3: unknown extent type "WEIRD"'],
      ['# Disk DescriptorFile\ncreateType="vmfs"\nRW 10 FLAT\n', 'line 3: FLAT extent without a file name'],
      [`# Disk DescriptorFile\ncreateType="vmfs"\n${'#'.repeat(70000)}\n`, 'too big for a VMDK descriptor (at most 65536 bytes)'],
      ['# Disk DescriptorFile\ncreateType="vmfs"\n\0\n', 'not a text descriptor (binary data or invalid UTF-8)'],
      ['just some text\n', 'not a VMDK disk (neither a sparse extent nor a descriptor)'],
      ['', 'not a VMDK disk (neither a sparse extent nor a descriptor)'],
      ['KDMV', 'truncated or corrupt sparse VMDK header'],
    ];
    for (const [descriptor, why] of cases) {
      const vmx = await files({ 'g.vmx': vmxWith('d.vmdk'), 'd.vmdk': descriptor });
      const msg = await readError(vmx);
      if (why.includes('parentFileNameHint: d.vmdk')) expect(msg).toMatch(/more than 32 snapshot parents \(a loop\?\)$/);
      else expect(msg).toBe(`${vmx}: line 4: scsi0:0.fileName: d.vmdk: ${why}`);
    }
  });
});

describe('fuzzing: only InputErrors, on one line', () => {
  const file = 'fuzz/guest.vmx';
  const parseOnly = (text: string) => {
    try {
      parseVmxText(text, file);
    } catch (err) {
      checkInputError(err, file);
    }
  };
  const lines = ESXI_VMX.split('\n');
  // A valid .vmx with lines dropped, duplicated, or bytes changed.
  const mutated = fc
    .tuple(
      fc.array(fc.nat(lines.length), { maxLength: 5 }),
      fc.array(fc.tuple(fc.nat(ESXI_VMX.length), fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 5 }),
    )
    .map(([drop, edits]) => {
      let text = lines.filter((_, i) => !drop.includes(i)).join('\n');
      for (const [at, s] of edits) text = text.slice(0, at) + s + text.slice(at + 1);
      return text;
    });

  it('parseVmxText on arbitrary strings and decoded byte arrays', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), parseOnly), { numRuns: 500 });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => parseOnly(Buffer.from(b).toString('latin1'))), { numRuns: 500 });
    const vmxish = fc.array(fc.constantFrom('scsi0', ':0', '.present', ' = ', '"', 'TRUE', '|22', '|', '\n', 'fileName', 'ethernet0', 'x.vmdk', '#'));
    fc.assert(fc.property(vmxish, (parts) => parseOnly(parts.join(''))), { numRuns: 500 });
  });

  it('parseVmxText on mutated valid .vmx files', () => {
    fc.assert(fc.property(mutated, parseOnly), { numRuns: 500 });
  });

  it('parseDescriptor on arbitrary and mutated descriptors', () => {
    const fail = (why: string, line?: number) => new Error(`${line ?? ''}: ${why}`);
    const check = (text: string) => {
      try {
        parseDescriptor(text, fail);
      } catch (err) {
        expect((err as Error).constructor).toBe(Error);
      }
    };
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), check), { numRuns: 500 });
    const edited = fc
      .array(fc.tuple(fc.nat(SPLIT_DESCRIPTOR.length), fc.string({ unit: 'binary', maxLength: 4 })), { maxLength: 5 })
      .map((edits) => edits.reduce((t, [at, s]) => t.slice(0, at) + s + t.slice(at + 1), SPLIT_DESCRIPTOR));
    fc.assert(fc.property(edited, check), { numRuns: 500 });
  });

  it('readVmx on arbitrary bytes and mutated files, with the disk files present', async () => {
    await files({ 'web01.vmdk': FLAT_DESCRIPTOR, 'web01_1.vmdk': SPLIT_DESCRIPTOR, 'web01_1-s001.vmdk': 'KDMV', 'web01_1-s002.vmdk': 'KDMV' });
    await rawFile('web01-flat.vmdk', 4096 * 512);
    const vmx = path.join(vmDir, 'fuzz.vmx');
    const readOnly = async (data: Uint8Array | string) => {
      await writeFile(vmx, data);
      try {
        await readVmx(vmx);
      } catch (err) {
        checkInputError(err, vmx);
      }
    };
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), readOnly), { numRuns: 200 });
    await fc.assert(fc.asyncProperty(mutated, readOnly), { numRuns: 300 });
  });
});
