// `-O FILE` of an in-place conversion (as virt-v2v-in-place's -O in later
// versions): the converted guest as a libvirt XML naming its own disks
// (the files converted in place, or the NBD exports they are on), and the
// conversion's metadata.out beside it as FILE.metadata.out. Each written
// atomically (a temp file renamed over FILE): the user named FILE.
import { accessSync, constants, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MetadataIn, MetadataOut } from '../../metadata/schema.js';
import { libvirtXml } from '../output/libvirt-xml.js';
import { ConfigError } from '../../errors.js';

async function writeAtomically(file: string, content: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.v2v-tmp`);
  try {
    await writeFile(tmp, content, { mode: 0o644 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new ConfigError(`-O ${file}: cannot write it: ${(err as Error).message}`);
  }
}

/** -O FILE can be written: its directory exists and is writable, FILE is not a directory (checked before the conversion). */
export function checkInPlaceOutput(file: string): void {
  const abs = path.resolve(file);
  try {
    if (statSync(abs).isDirectory()) throw new ConfigError(`-O ${file}: is a directory`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
  }
  try {
    accessSync(path.dirname(abs), constants.W_OK | constants.X_OK);
  } catch {
    throw new ConfigError(`-O ${file}: its directory does not exist or is not writable`);
  }
}

/** Write FILE and FILE.metadata.out; returns both paths. */
export async function writeInPlaceOutput(file: string, inMeta: MetadataIn, outMeta: MetadataOut): Promise<string[]> {
  const abs = path.resolve(file);
  const refs = inMeta.disks.map((d) => ({ index: d.index, path: d.commit?.target ?? d.source, format: d.commit?.format ?? d.format }));
  await writeAtomically(abs, libvirtXml(outMeta, outMeta.name, refs));
  await writeAtomically(`${abs}.metadata.out`, `${JSON.stringify(outMeta, null, 2)}\n`);
  return [abs, `${abs}.metadata.out`];
}
