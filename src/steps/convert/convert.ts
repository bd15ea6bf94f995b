// The convert step: reuse virt-v2v's conversion (virt-v2v-in-place 2.2),
// not a rewrite. It writes through our copy-on-write overlays, so the source
// stays untouched and the copy then reads the converted disks. virt-v2v-in-
// place accepts NBD disks only on a loopback TCP port, so each overlay gets a
// TCP proxy (nbdkit's nbd plugin in front of in<N>) for as long as the
// conversion runs; the proxies and virt-v2v-in-place run in a private
// network namespace (netns.ts), so no other local user can reach those
// ports. virt-inspector reads the source (read-only) meanwhile for the OS
// facts of metadata.out; virt-v2v-in-place's own output says whether the
// guest has virtio drivers now.
//
// KVM or not: libguestfs decides; set LIBGUESTFS_BACKEND_SETTINGS=force_tcg
// where KVM is missing or hangs (REFERENCE.md: it hangs on our CI machine).
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import type { Logger } from 'pino';
import { EngineError } from '../../errors.js';
import { metadataOutFor, type GuestOs, type MetadataIn, type MetadataOut } from '../../metadata/schema.js';
import { runProgram } from '../../process/run.js';
import { writeJson, type WorkDir } from '../../workdir/workdir.js';
import { conversionXml } from './libvirt-xml.js';
import { FIRST_PORT, privateNetwork, runWithProxies, type Proxy } from './netns.js';
import { convertArgs, type ConvertArgs, type ConvertOptions as ConversionOptions } from './options.js';

export interface ConvertOptions {
  workdir: WorkDir;
  metadata: MetadataIn;
  /** The converted guest's name (-on), default the source's. */
  name?: string;
  log: Logger;
  signal?: AbortSignal;
  /** virt-v2v's warnings, each as it is found. */
  onWarning?: (message: string) => void;
  /** --root and --key (given to virt-inspector too: it must open the same LUKS devices). */
  options?: ConversionOptions;
}

interface Inspected {
  os: GuestOs;
  uefi: boolean;
}

/**
 * Parse virt-inspector's XML: entities are not expanded, DOCTYPEs refused.
 * A multi-boot guest: the OS of `--root /dev/...` when it is one of them, else the first.
 */
export function parseInspection(xml: string, root?: string): Inspected {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new EngineError('INSPECTION_ERROR', 'convert: inspection output has a DOCTYPE');
  const doc = new XMLParser({ processEntities: false, ignoreAttributes: false, parseTagValue: false }).parse(xml) as {
    operatingsystems?: { operatingsystem?: Record<string, unknown> | Record<string, unknown>[] };
  };
  const oses = doc.operatingsystems?.operatingsystem;
  const all = Array.isArray(oses) ? oses : oses ? [oses] : [];
  const os = all.find((x) => root?.startsWith('/dev/') && x.root === root) ?? all[0];
  if (!os) throw new EngineError('NO_OS', 'convert: no operating system was found in the guest (is it a guest disk?)');
  const str = (k: string) => (typeof os[k] === 'string' ? (os[k] as string) : '');
  const mps = (os.mountpoints as { mountpoint?: unknown } | undefined)?.mountpoint;
  const mountpoints = (Array.isArray(mps) ? mps : mps ? [mps] : []).map((m) =>
    typeof m === 'object' && m !== null ? String((m as Record<string, unknown>)['#text'] ?? '') : String(m),
  );
  return {
    os: {
      type: str('name'),
      distro: str('distro'),
      major: Number(str('major_version')) || 0,
      minor: Number(str('minor_version')) || 0,
      arch: str('arch'),
      product: str('product_name'),
      osinfo: str('osinfo'),
    },
    uefi: mountpoints.includes('/boot/efi'),
  };
}

/** virt-v2v says whether the converted guest has virtio drivers. */
/** virt-v2v's warnings in its output ("virt-v2v-in-place: warning: ..."). */
export function warningsFromOutput(text: string): string[] {
  return [...text.matchAll(/^virt-v2v(?:-in-place)?: warning: (.+)$/gm)].map((m) => m[1]!.trim());
}

export function virtioFromOutput(text: string): boolean | undefined {
  if (/does not have virtio drivers/i.test(text)) return false;
  if (/has virtio drivers installed/i.test(text)) return true;
  return undefined;
}

export async function convertGuest(o: ConvertOptions): Promise<MetadataOut> {
  // Refused here, before anything runs, where no private network exists.
  await privateNetwork();
  const args = await convertArgs(o.workdir.path, o.options);
  try {
    return await convertWith(o, args);
  } finally {
    await args.dispose();
  }
}

async function convertWith(o: ConvertOptions, args: ConvertArgs): Promise<MetadataOut> {
  const { workdir, metadata: m, log } = o;
  // Ports of the conversion's own loopback: any port is free there.
  const proxies = (readonly: boolean): Proxy[] =>
    m.disks.map((d, i) => ({
      name: `convert-${readonly ? 'ro-' : ''}proxy${d.index}`,
      socket: workdir.inSocket(d.index),
      port: FIRST_PORT + i,
    }));
  const ports = proxies(false).map((p) => p.port);
  const xmlFile = path.join(workdir.path, 'convert.xml');
  await writeFile(xmlFile, conversionXml(m, ports), { mode: 0o600 });
  const env = { TMPDIR: workdir.path, LIBGUESTFS_CACHEDIR: process.env.LIBGUESTFS_CACHEDIR ?? '/var/tmp' };
  // The OS facts come from the pristine source, inspected while the
  // conversion runs (each libguestfs appliance keeps about one core busy;
  // in sequence this cost ~25 s under TCG). Sources that are not local
  // image files are inspected through (read-only) proxies after the
  // conversion, in a private network again. (An OVA's disks are members of
  // a tar, or were decompressed: their `source` is the archive, not an
  // image; those go through the proxies.)
  const local = m.input !== 'ova' && m.disks.every((d) => path.isAbsolute(d.source) && existsSync(d.source));
  const inspect = new AbortController();
  const stopInspect = () => inspect.abort();
  o.signal?.addEventListener('abort', stopInspect, { once: true });
  const inspectorArgv = (drives: string[]) => ['virt-inspector', '--no-applications', '--no-icon', ...args.keys, ...drives];
  const early = local
    ? runProgram(inspectorArgv(m.disks.flatMap((d) => [`--format=${d.format}`, '-a', d.source])), {
        log,
        env,
        what: 'convert: inspection',
        signal: inspect.signal,
      })
    : undefined;
  early?.catch(() => {}); // awaited below, or abandoned when the conversion fails
  let conv;
  try {
    conv = await runWithProxies(['virt-v2v-in-place', ...args.root, ...args.keys, '-i', 'libvirtxml', xmlFile], {
      dir: workdir.path,
      proxies: proxies(false),
      log,
      env,
      what: 'convert',
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (err) {
    inspect.abort();
    await early?.catch(() => {});
    o.signal?.removeEventListener('abort', stopInspect);
    throw err;
  }
  const virtio = virtioFromOutput(conv.stdout + conv.stderr);
  for (const w of warningsFromOutput(conv.stdout + conv.stderr)) {
    log.warn({ warning: w }, 'virt-v2v-in-place warning');
    o.onWarning?.(w);
  }
  const insp = await (
    early ??
    runWithProxies(inspectorArgv(['--format=raw', ...ports.flatMap((p) => ['-a', `nbd://127.0.0.1:${p}`])]), {
      dir: workdir.path,
      proxies: proxies(true),
      readonly: true,
      log,
      env,
      what: 'convert: inspection',
      signal: inspect.signal,
    })
  ).finally(() => o.signal?.removeEventListener('abort', stopInspect));
  const found = parseInspection(insp.stdout, o.options?.root);
  if (virtio === undefined) {
    const w = 'virt-v2v-in-place did not say whether virtio drivers were installed: assuming they were';
    log.warn(w);
    o.onWarning?.(w);
  }
  const hasVirtio = virtio ?? true;
  const out = metadataOutFor(m, o.name ?? m.name, { converted: true, os: found.os, uefi: found.uefi, virtio: hasVirtio });
  await writeJson(workdir.metadataOut, out);
  log.info({ metadataOut: out }, 'metadata.out written');
  return out;
}
