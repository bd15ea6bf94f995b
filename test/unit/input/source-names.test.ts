// A guest name read from a source file becomes file names, XML and a qemu
// option: one that decodes to U+FFFD (bytes that were not UTF-8, or the
// character itself, as a character reference or a .vmx escape) stood for
// other bytes, and each parser refuses it in one line that starts with the
// file. A name in any other script passes.
import { describe, expect, it } from 'vitest';
import { parseLibvirtXml } from '../../../src/steps/input/libvirtxml/parse.js';
import { decodeOvf, parseOvf } from '../../../src/steps/input/ova/ovf.js';
import { parseVmxText } from '../../../src/steps/input/vmx/parse.js';
import { thrownBy } from '../../helpers/tools.js';

const NOT_UTF8 = 'not valid UTF-8 (it holds U+FFFD or a lone surrogate)';

function expectRefusal(fn: () => unknown, message: string): void {
  const e = thrownBy(fn);
  expect(e).toMatchObject({ name: 'InputError', code: 'INPUT_ERROR', step: 'input' });
  expect(e.message).toBe(message);
}

const domain = (name: string) =>
  `<domain type='kvm'><name>${name}</name><devices><disk type='file' device='disk'><source file='/d.img'/><target dev='vda' bus='virtio'/></disk></devices></domain>`;

const ovfBytes = (name: Buffer) =>
  Buffer.concat([Buffer.from('<Envelope><VirtualSystem ovf:id="v"><Name>'), name, Buffer.from('</Name></VirtualSystem></Envelope>')]);

describe('guest names from source files', () => {
  it('-i libvirtxml: <name> holding U+FFFD, written or as a character reference', () => {
    expectRefusal(() => parseLibvirtXml(domain('g&#xFFFD;'), '/v/g.xml'), `/v/g.xml: <name> "g\\ufffd": ${NOT_UTF8}`);
    expectRefusal(() => parseLibvirtXml(domain('a\uFFFDb'), '/v/g.xml'), `/v/g.xml: <name> "a\\ufffdb": ${NOT_UTF8}`);
    expect(parseLibvirtXml(domain('café-客人'), '/v/g.xml').name).toBe('café-客人');
  });

  it('-i vmx: displayName holding U+FFFD, written or as the escape |ef|bf|bd', () => {
    expectRefusal(() => parseVmxText('displayName = "a|ef|bf|bdb"\nmemsize = "1024"\n', '/v/g.vmx'), `/v/g.vmx: line 1: displayName "a\\ufffdb": ${NOT_UTF8}`);
    expectRefusal(() => parseVmxText('memsize = "1024"\ndisplayName = "\uFFFD"\n', '/v/g.vmx'), `/v/g.vmx: line 2: displayName "\\ufffd": ${NOT_UTF8}`);
    // A clean name goes on to the next check (this file has no disks).
    expect(thrownBy(() => parseVmxText('displayName = "café"\nmemsize = "1024"\n', '/v/g.vmx')).message).toBe('/v/g.vmx: no disks found');
  });

  it('-i ova: a Name whose bytes are not UTF-8 (the descriptor is decoded leniently), or an ovf:id with U+FFFD', () => {
    const label = 'g.ova: g.ovf';
    const bad = decodeOvf(ovfBytes(Buffer.from([0x61, 0xff, 0x62])), label);
    expectRefusal(() => parseOvf(bad, label), `${label}: VirtualSystem name "a\\ufffdb": ${NOT_UTF8}`);
    expectRefusal(() => parseOvf('<Envelope><VirtualSystem ovf:id="v&#xFFFD;"/></Envelope>', label), `${label}: VirtualSystem name "v\\ufffd": ${NOT_UTF8}`);
    expect(parseOvf(decodeOvf(ovfBytes(Buffer.from('café')), label), label).name).toBe('café');
  });
});
