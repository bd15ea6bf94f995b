// Where a ranges copy's byte ranges come from; each returns a sorted,
// merged list (src/copy/byte-ranges.ts) for CopyRequest.ranges:
// - a JSON extent list, as VMware's changed block tracking gives it
//   (QueryChangedDiskAreas: [{"offset": N, "length": N}, ...] in bytes);
// - an NBD meta context walked over the whole disk: a dirty bitmap that
//   qemu-nbd -B NAME exports as qemu:dirty-bitmap:NAME (dirty = flags & 1),
//   or qemu-nbd -A's qemu:allocation-depth (1 = allocated in the top layer,
//   so an overlay's own writes: what committing it into its disk copies).
// The NBD handle (the native addon) is loaded only when a context is walked.
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { ByteRangesInput, mergeRanges, type ByteRange } from './byte-ranges.js';

export { normaliseRanges, mergeRanges, rangesTotal, type ByteRange } from './byte-ranges.js';

export const CONTEXT_ALLOCATION_DEPTH = 'qemu:allocation-depth';
export const dirtyBitmapContext = (name: string): string => `qemu:dirty-bitmap:${name}`;
/** A dirty bitmap's extent flag: the block changed since the bitmap was added. */
export const DIRTY = 1;

/**
 * Ranges from the text of a JSON array of {"offset": N, "length": N} objects
 * (bytes). `what` names the file in errors: one line saying what is wrong.
 */
export function rangesFromJson(text: string, what: string): ByteRange[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${what}: not JSON: ${oneLine((err as Error).message)}`);
  }
  const parsed = ByteRangesInput.safeParse(data);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    const where = i.path.length === 0 ? '' : `entry ${String(i.path[0])}${i.path.length > 1 ? ` ${i.path.slice(1).join('.')}` : ''}: `;
    const expected = i.path.length === 0 ? ' (expected an array of {"offset": N, "length": N} in bytes)' : '';
    throw new InputError(`${what}: ${where}${oneLine(i.message)}${expected}`);
  }
  return mergeRanges(parsed.data);
}

/** rangesFromJson of a file. */
export async function rangesFromJsonFile(file: string): Promise<ByteRange[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: ${oneLine((err as Error).message.replace(/^[A-Z]+: /, ''))}`);
  }
  return rangesFromJson(text, file);
}

/**
 * Walk the block status of meta context `context` over the whole disk the
 * NBD server at `uri` exports, and keep the extents whose flags satisfy
 * `pick`. `describe` names the context in the error when the server does not
 * offer it (default: the context's name).
 */
export async function rangesFromContext(
  uri: string,
  context: string,
  pick: (flags: number) => boolean,
  describe = `meta context ${context}`,
): Promise<ByteRange[]> {
  const { NbdHandle, MAX_32BIT_REQUEST } = await import('../nbd/handle.js');
  const h = new NbdHandle('ranges', { metaContexts: [context] });
  try {
    await h.connect({ uri });
    if (!h.canMetaContext(context)) throw new InputError(`${uri}: the server does not offer ${describe}`);
    const size = h.size;
    const out: ByteRange[] = [];
    // Requests below libnbd 1.14's 4 GiB limit, on a 1 MiB boundary.
    const chunk = Math.floor(MAX_32BIT_REQUEST / (1 << 20)) * (1 << 20);
    let off = 0;
    while (off < size) {
      const extents = await h.blockStatus(Math.min(size - off, chunk), off, context);
      let at = off;
      for (const e of extents) {
        if (e.offset !== at || e.length === 0 || at >= size) break; // trust only a contiguous answer
        const length = Math.min(e.length, size - at);
        if (pick(e.flags)) out.push({ offset: at, length });
        at += length;
      }
      if (at === off) throw new InputError(`${uri}: the server's block status for ${describe} says nothing at offset ${off}`);
      off = at;
    }
    return mergeRanges(out);
  } finally {
    h.close();
  }
}

/** The blocks that dirty bitmap `name` marks (qemu-nbd -B NAME). */
export function rangesFromBitmap(uri: string, name: string): Promise<ByteRange[]> {
  return rangesFromContext(
    uri,
    dirtyBitmapContext(name),
    (flags) => (flags & DIRTY) !== 0,
    `the dirty bitmap "${name}" (${dirtyBitmapContext(name)}, as qemu-nbd -B ${name} exports it)`,
  );
}

/** The blocks allocated in the exported image itself, not in its backing chain (qemu-nbd -A). */
export function rangesFromTopLayer(uri: string): Promise<ByteRange[]> {
  return rangesFromContext(
    uri,
    CONTEXT_ALLOCATION_DEPTH,
    (depth) => depth === 1,
    `${CONTEXT_ALLOCATION_DEPTH} (as qemu-nbd -A exports it)`,
  );
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
