// --print-source against what virt-v2v 2.2 prints: the vendored test
// scripts' .expected files (test/compat/virt-v2v/tests/), from the same
// vendored metadata (libvirt XML, .vmx, OVF) read by our parsers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { printSource, stringOfSource } from '../../../src/cli/print-source.js';
import { MetadataIn, METADATA_VERSION } from '../../../src/metadata/schema.js';
import { removablesOf, sourceInfoOf } from '../../../src/steps/input/disk.js';
import { parseLibvirtXml } from '../../../src/steps/input/libvirtxml/parse.js';
import { parseOvf } from '../../../src/steps/input/ova/ovf.js';
import type { SourceGuest } from '../../../src/steps/input/source.js';
import { guestOf, parseVmxText } from '../../../src/steps/input/vmx/parse.js';

const TESTS = path.resolve('test/compat/virt-v2v/tests');
const vendored = (name: string) => readFileSync(path.join(TESTS, name), 'utf8');

/** metadata.in as the input step writes it for GUEST (disks not opened: size 0). */
function metadataOf(guest: SourceGuest, input: string): MetadataIn {
  return MetadataIn.parse({
    ...sourceInfoOf(guest),
    version: METADATA_VERSION,
    kind: 'v2v-metadata-in',
    name: guest.name,
    input,
    memory: guest.memory,
    vcpus: guest.vcpus,
    firmware: guest.firmware,
    disks: guest.disks.map((d, i) => ({ index: i, socket: `in${i}`, source: d.location, format: 'raw', size: 0, bus: d.bus })),
    nics: guest.nics,
    removables: removablesOf(guest),
  });
}

function vmxGuest(n: number): SourceGuest {
  const parsed = parseVmxText(vendored(`test-v2v-i-vmx-${n}.vmx`), `test-v2v-i-vmx-${n}.vmx`);
  const disks = parsed.disks.map((d) => ({ location: d.fileName, bus: d.bus }));
  const removables = parsed.removables.map((r) => ({ kind: r.kind, bus: r.bus, ...(r.driveSlot !== undefined ? { slot: r.driveSlot } : {}) }));
  return guestOf(parsed, disks, removables);
}

function ovaGuest(ovf: string): SourceGuest {
  const g = parseOvf(vendored(ovf), ovf);
  return {
    hypervisor: 'vmware',
    name: g.name!,
    memory: g.memory,
    vcpus: g.vcpus,
    firmware: g.firmware,
    disks: g.disks.map((d) => ({ location: d.href, bus: d.bus })),
    removables: g.removables,
    nics: g.nics,
  };
}

describe('--print-source: virt-v2v 2.2 text', () => {
  it('-i libvirtxml: test-v2v-print-source (CPU, features, unknown firmware, virtio-blk)', () => {
    const xml = vendored('test-v2v-print-source.xml.in').replace(/@abs_top_builddir@/g, '/build');
    const text = stringOfSource(metadataOf(parseLibvirtXml(xml, '/build/tests/x.xml'), 'libvirtxml'));
    // The script drops blank lines before it diffs.
    const lines = text.split('\n').filter((l) => l !== '');
    expect(`${lines.join('\n')}\n`).toBe(vendored('test-v2v-print-source.expected'));
  });

  // The script replaces the "Setting up the source" line by an empty one.
  it.each([1, 2, 3, 4, 5, 6, 7])('-i vmx: test-v2v-i-vmx-%i', (n) => {
    expect(`\n${printSource(metadataOf(vmxGuest(n), 'vmx'))}`).toBe(vendored(`test-v2v-i-vmx-${n}.expected`));
  });

  it.each(['two-disks', 'gz', 'tar', 'formats'])('-i ova: test-v2v-i-ova-%s', (name) => {
    expect(printSource(metadataOf(ovaGuest(`test-v2v-i-ova-${name}.ovf`), 'ova'))).toBe(vendored(`test-v2v-i-ova-${name}.expected`));
  });
});

describe('--print-source: the fields virt-v2v prints', () => {
  const base = metadataOf(vmxGuest(2), 'libvirtxml');

  it('prints buses by controller, slots, a display, sound and sorted features', () => {
    const m: MetadataIn = {
      ...base,
      hypervisor: 'kvm',
      features: ['pae', 'acpi', 'apic'],
      display: { type: 'vnc', keymap: 'en-us', password: true, listen: { type: 'network', value: 'default' } },
      sound: 'ich9',
      virtioScsi: true,
      disks: [
        { ...base.disks[0]!, bus: 'scsi' },
        { ...base.disks[0]!, index: 1, socket: 'in1', bus: 'unknown' },
      ],
      removables: [
        { kind: 'cdrom', bus: 'sata', slot: 2 },
        { kind: 'floppy' },
      ],
      nics: [],
    };
    const text = stringOfSource(m);
    expect(text).toContain('\n   CPU features: acpi,apic,pae\n');
    expect(text).toContain('\n        display: vnc en-us with password listening on network default\n');
    expect(text).toContain('\n          sound: ich9\n');
    expect(text).toContain('\ndisks:\n\t0 [virtio-scsi]\n\t1\nremovable media:\n\tCD-ROM [sata] in slot 2\n\tFloppy\nNICs:\n\n');
  });

  it('-i disk: unknownhv, acpi/apic/pae, a window display, unknown firmware, no bus', () => {
    const m = { ...base, input: 'disk', hypervisor: 'unknownhv', features: ['acpi', 'apic', 'pae'], display: { type: 'window' as const, password: false }, firmware: 'unknown' as const };
    const text = stringOfSource({ ...m, disks: [{ ...base.disks[0]!, bus: 'unknown' }] });
    expect(text).toMatch(/^hypervisor type: unknownhv\n[\s\S]*\n        display: window\n[\s\S]*\ndisks:\n\t0\n/m);
  });

  it('old metadata.in (no source info) still prints, with empty fields', () => {
    const { hypervisor: _h, genid: _g, cpuTopology: _t, ...old } = base;
    expect(stringOfSource(MetadataIn.parse(old))).toContain('hypervisor type: \n       VM genid: \n');
  });
});
