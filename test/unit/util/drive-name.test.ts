// One drive-name function (issue 9 §6): a guest with 27 or more disks gets
// sdaa after sdz, as the kernel and virt-v2v name them, in the conversion's
// libvirt XML and in the output's file names.
import { describe, expect, it } from 'vitest';
import { MetadataIn } from '../../../src/metadata/schema.js';
import { conversionXml } from '../../../src/steps/convert/libvirt-xml.js';
import { diskPaths } from '../../../src/steps/output/disks.js';
import { diskName, driveName } from '../../../src/util/drive-name.js';

describe('drive names', () => {
  it('a ... z, aa ... az, ba, ... zz, aaa', () => {
    expect([0, 1, 25, 26, 27, 51, 52, 701, 702, 18277].map(driveName)).toEqual(['a', 'b', 'z', 'aa', 'ab', 'az', 'ba', 'zz', 'aaa', 'zzz']);
    expect(diskName(26)).toBe('sdaa');
  });

  it("a 28-disk guest: the conversion XML names the 27th and 28th sdaa and sdab (not sd{), the output NAME-sdaa", () => {
    const m = MetadataIn.parse({
      version: 1,
      kind: 'v2v-metadata-in',
      name: 'many',
      input: 'disk',
      memory: 1 << 30,
      vcpus: 1,
      firmware: 'bios',
      disks: Array.from({ length: 28 }, (_, index) => ({ index, socket: `in${index}`, source: `/d/${index}.img`, format: 'raw', size: 1 << 20, bus: 'scsi' })),
      nics: [],
    });
    const devs = [...conversionXml(m, m.disks.map((_, i) => 10000 + i)).matchAll(/<target dev='([^']+)'/g)].map((x) => x[1]);
    expect(devs.slice(24)).toEqual(['sdy', 'sdz', 'sdaa', 'sdab']);
    expect(devs.join(' ')).not.toMatch(/[^a-z ]/);
    expect(diskPaths('/out', 'many', 26).final).toBe('/out/many-sdaa');
  });
});
