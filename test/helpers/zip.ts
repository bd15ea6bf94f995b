// Zip files built byte by byte, for what the zip tool will not write: names
// with '..' or an absolute path, symlink entries, encrypted flags, a wrong
// CRC. Stored or deflated entries, a central directory, an end record (the
// layout of APPNOTE.TXT 4.3; no zip64).
import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipMember {
  name: string;
  data?: Buffer | string;
  /** A Unix st_mode (0o120777 for a symlink); the entry is then "made by" Unix. */
  mode?: number;
  deflate?: boolean;
  /** General purpose flags (1: encrypted). */
  flags?: number;
  /** The CRC-32 to write instead of the right one. */
  crc?: number;
  /** The local header's name, when it should differ from the central directory's. */
  localName?: string;
}

export function makeZip(members: ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const data = Buffer.from(m.data ?? '');
    const stored = m.deflate ? deflateRawSync(data) : data;
    const name = Buffer.from(m.name);
    const localName = Buffer.from(m.localName ?? m.name);
    const crc = m.crc ?? crc32(data);
    const method = m.deflate ? 8 : 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(m.flags ?? 0, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(localName.length, 26);
    locals.push(local, localName, stored);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(m.mode === undefined ? 20 : (3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(m.flags ?? 0, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(m.mode === undefined ? 0 : (m.mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + localName.length + stored.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
