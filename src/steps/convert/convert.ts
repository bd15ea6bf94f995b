// The convert step: reuse virt-v2v's conversion (virt-v2v-in-place 2.2),
// not a rewrite. It writes through our copy-on-write overlays, so the source
// stays untouched and the copy then reads the converted disks. virt-v2v-in-
// place accepts NBD disks only on a loopback TCP port, so each overlay gets a
// TCP proxy (nbdkit's nbd plugin in front of in<N>) for as long as the
// conversion runs; the proxies and virt-v2v-in-place run in a private
// network namespace (netns.ts), so no other local user can reach those
// ports. One libguestfs appliance per guest: virt-v2v-in-place runs with -v,
// and what it reports (its inspection and the converted guest's
// capabilities, report.ts) is all metadata.out needs; its whole output goes
// to the step's log, the first thing to read when a conversion fails.
//
// KVM or not: libguestfs decides; set LIBGUESTFS_BACKEND_SETTINGS=force_tcg
// where KVM is missing or hangs (REFERENCE.md: it hangs on our CI machine).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { metadataOutFor, type MetadataIn, type MetadataOut } from '../../metadata/schema.js';
import { writeJson, type WorkDir } from '../../workdir/workdir.js';
import { fastApplianceEnv } from './appliance.js';
import { conversionXml } from './libvirt-xml.js';
import { FIRST_PORT, privateNetwork, runWithProxies, type Proxy } from './netns.js';
import { convertArgs, type ConvertArgs, type ConvertOptions as ConversionOptions } from './options.js';
import { ConversionReport } from './report.js';

export interface ConvertOptions {
  workdir: WorkDir;
  metadata: MetadataIn;
  /** The converted guest's name (-on), default the source's. */
  name?: string;
  log: Logger;
  signal?: AbortSignal;
  /** virt-v2v's warnings, each as it is found. */
  onWarning?: (message: string) => void;
  /** --root and --key. */
  options?: ConversionOptions;
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
  const proxies: Proxy[] = m.disks.map((d, i) => ({ name: `convert-proxy${d.index}`, socket: workdir.inSocket(d.index), port: FIRST_PORT + i }));
  const xmlFile = path.join(workdir.path, 'convert.xml');
  const ports = proxies.map((p) => p.port);
  await writeFile(xmlFile, conversionXml(m, ports), { mode: 0o600 });
  const cacheRoot = process.env.LIBGUESTFS_CACHEDIR ?? '/var/tmp';
  const env = { TMPDIR: workdir.path, LIBGUESTFS_CACHEDIR: cacheRoot, ...(await fastApplianceEnv(cacheRoot, log)) };
  const report = new ConversionReport();
  await runWithProxies(['virt-v2v-in-place', '-v', ...args.root, ...args.keys, '-i', 'libvirtxml', xmlFile], {
    dir: workdir.path,
    proxies,
    log,
    env,
    what: 'convert',
    onLine: (line) => {
      const w = report.line(line);
      if (w === undefined) return;
      log.warn({ warning: w }, 'virt-v2v-in-place warning');
      o.onWarning?.(w);
    },
    redact: args.secrets,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const facts = report.facts();
  const out = metadataOutFor(m, o.name ?? m.name, { converted: true, ...facts });
  await writeJson(workdir.metadataOut, out);
  log.info({ metadataOut: out }, 'metadata.out written');
  return out;
}
