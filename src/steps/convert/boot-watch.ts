// A watchdog on the libguestfs appliance's boot, read from virt-v2v-in-
// place's -v output: from the line that starts qemu's command line to
// "libguestfs: appliance is up". libguestfs itself waits for ever; an
// appliance that does not come up within the limit is killed, and the
// convert step runs virt-v2v-in-place once more with the standard appliance
// (convert.ts). Nothing has been written to the disks by then: guestfsd,
// which mounts them, is what "appliance is up" reports.
//
// The limit: V2V_APPLIANCE_BOOT_TIMEOUT seconds (default 300; an appliance
// boots in 2 to 3 s on KVM, 10 to 25 s on TCG here, under load too).
import { ConfigError } from '../../errors.js';

export const DEFAULT_BOOT_TIMEOUT_S = 300;

/** qemu's command line as libguestfs logs it: "/usr/bin/qemu-system-x86_64 \". */
const QEMU_STARTS = /^\S*qemu-(system-\S+|kvm) \\$/;
const APPLIANCE_UP = 'libguestfs: appliance is up';

/** The limit in seconds, from V2V_APPLIANCE_BOOT_TIMEOUT; one line naming it when it is not a whole number >= 1. */
export function bootTimeoutSeconds(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.V2V_APPLIANCE_BOOT_TIMEOUT;
  if (v === undefined || v === '') return DEFAULT_BOOT_TIMEOUT_S;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new ConfigError(`V2V_APPLIANCE_BOOT_TIMEOUT: expected whole seconds >= 1, got "${v}"`);
  return Number(v);
}

/** Aborts its signal when qemu has started and the appliance is not up within SECONDS. */
export class BootWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly ac = new AbortController();

  constructor(readonly seconds: number) {}

  /** Aborted once the limit passed with the appliance not up. */
  get signal(): AbortSignal {
    return this.ac.signal;
  }

  get fired(): boolean {
    return this.ac.signal.aborted;
  }

  /** Feed every line of virt-v2v-in-place's output. */
  line(text: string): void {
    const t = text.trim();
    if (QEMU_STARTS.test(t)) {
      this.stop();
      this.timer = setTimeout(() => this.ac.abort(new Error('appliance boot timeout')), this.seconds * 1000);
      this.timer.unref();
    } else if (t === APPLIANCE_UP) {
      this.stop();
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
