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
// The appliance's boot is watched (boot-watch.ts): the fast appliance
// (appliance.ts) not up in time is killed and the conversion run again with
// the standard one; the standard one not up in time fails the step in one
// line instead of hanging for ever. A killed run's libguestfs socket dir
// (in /tmp, not in our work dir) is removed after it (sockdir.ts).
//
// KVM or not: libguestfs decides; set LIBGUESTFS_BACKEND_SETTINGS=force_tcg
// where KVM is missing or hangs (REFERENCE.md: it hangs on our CI machine).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { metadataOutFor, type MetadataIn, type MetadataOut } from '../../metadata/schema.js';
import { writeJson, type WorkDir } from '../../workdir/workdir.js';
import { EngineError } from '../../errors.js';
import { fastApplianceEnv } from './appliance.js';
import { BootWatch, bootTimeoutSeconds } from './boot-watch.js';
import { conversionXml } from './libvirt-xml.js';
import { FIRST_PORT, privateNetwork, runWithProxies, type Proxy } from './netns.js';
import { convertArgs, type ConvertArgs, type ConvertOptions as ConversionOptions } from './options.js';
import { ConversionReport } from './report.js';
import { SocketDirs } from './sockdir.js';

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
  await writeFile(xmlFile, conversionXml(m, proxies.map((p) => p.port)), { mode: 0o600 });
  const cacheRoot = process.env.LIBGUESTFS_CACHEDIR ?? '/var/tmp';
  const env = { TMPDIR: workdir.path, LIBGUESTFS_CACHEDIR: cacheRoot };
  const seconds = bootTimeoutSeconds();
  const fast = await fastApplianceEnv(cacheRoot, log);
  const run = (e: Record<string, string>) => runConversion(o, args, { proxies, xmlFile, env: e, seconds });
  let report: ConversionReport;
  try {
    report = await run({ ...env, ...fast });
  } catch (err) {
    // Nothing is written before the appliance is up: run again, standard.
    if (!fast.LIBGUESTFS_PATH || (err as EngineError).code !== 'APPLIANCE_BOOT_TIMEOUT') throw err;
    log.warn({ seconds }, 'libguestfs appliance: the fast one did not come up; converting again with the standard one');
    report = await run(env);
  }
  const facts = report.facts();
  const out = metadataOutFor(m, o.name ?? m.name, { converted: true, ...facts });
  await writeJson(workdir.metadataOut, out);
  log.info({ metadataOut: out }, 'metadata.out written');
  return out;
}

/** One run of virt-v2v-in-place, its appliance's boot watched (boot-watch.ts); what it reported. */
async function runConversion(
  o: ConvertOptions,
  args: ConvertArgs,
  r: { proxies: Proxy[]; xmlFile: string; env: Record<string, string>; seconds: number },
): Promise<ConversionReport> {
  const { workdir, log } = o;
  const report = new ConversionReport();
  const watch = new BootWatch(r.seconds);
  const sockets = new SocketDirs(workdir.path);
  try {
    await runWithProxies(['virt-v2v-in-place', '-v', ...args.root, ...args.keys, '-i', 'libvirtxml', r.xmlFile], {
      dir: workdir.path,
      proxies: r.proxies,
      log,
      env: r.env,
      what: 'convert',
      onLine: (line) => {
        watch.line(line);
        sockets.line(line);
        const w = report.line(line);
        if (w === undefined) return;
        log.warn({ warning: w }, 'virt-v2v-in-place warning');
        o.onWarning?.(w);
      },
      redact: args.secrets,
      signal: o.signal ? AbortSignal.any([o.signal, watch.signal]) : watch.signal,
    });
    return report;
  } catch (err) {
    if (!watch.fired || o.signal?.aborted) throw err;
    log.error({ seconds: r.seconds, appliance: r.env.LIBGUESTFS_PATH ?? 'standard' }, 'libguestfs appliance did not come up: virt-v2v-in-place killed');
    throw new EngineError('APPLIANCE_BOOT_TIMEOUT', `convert: the libguestfs appliance did not come up within ${r.seconds} s (its console output is in convert.log)`, { cause: err });
  } finally {
    watch.stop();
    // The process group has ended: a killed run leaves libguestfs's socket dir.
    await sockets.removeLeftovers(log);
  }
}
