// What virt-v2v-in-place 2.2 reports with -v, read line by line as it runs:
// the inspection of the guest it converts (lib/types.ml string_of_inspect:
// "i_distro = debian", "i_firmware = UEFI [/dev/sda1]", ...) and the
// capabilities of the converted guest (string_of_guestcaps:
// "gcaps_block_bus = virtio-blk", "gcaps_machine = q35", ...). These are
// everything metadata.out needs from the guest, so one libguestfs appliance
// (the conversion's own) serves both. A line that is missing is an error
// naming it, never a guess. Lines are matched exactly ("key = value" on a
// line of its own), so the appliance's console output around them cannot be
// taken for one. One exception: virt-v2v-in-place writes each block in one
// write, but the appliance's console (the same stderr, written by libguestfs
// as it comes) can leave a cut line just before it, so the block's first
// line may come as "guestfsd: => hgcaps_block_bus = virtio-blk". Its first
// key is taken after such a fragment only when the next line is exactly the
// block's second key: a trace or console line naming a key is never
// followed by one of virt-v2v's lines of its own.
import { EngineError } from '../../errors.js';
import type { GuestOs } from '../../metadata/schema.js';

const INSPECT_KEYS = ['i_root', 'i_type', 'i_distro', 'i_osinfo', 'i_arch', 'i_major_version', 'i_minor_version', 'i_product_name', 'i_firmware'] as const;
const GCAPS_KEYS = ['gcaps_block_bus', 'gcaps_net_bus', 'gcaps_machine', 'gcaps_arch'] as const;
const KEYS: ReadonlySet<string> = new Set([...INSPECT_KEYS, ...GCAPS_KEYS]);
const LINE = /^\s*([a-z_0-9]+) = (.*)$/;
/** Each block's first key, which may follow a cut console line, and the key of the line after it. */
const FIRST_KEYS: ReadonlyMap<string, string> = new Map([
  ['i_root', 'i_type'],
  ['gcaps_block_bus', 'gcaps_net_bus'],
]);
const AFTER_FRAGMENT = new RegExp(`(${[...FIRST_KEYS.keys()].join('|')}) = ([^\r]*)$`);

/** The converted guest as metadata.out takes it. */
export interface ConversionFacts {
  os: GuestOs;
  uefi: boolean;
  /** virt-v2v's buses and machine for the converted guest. */
  diskBus: 'virtio' | 'sata' | 'ide';
  nicModel: 'virtio' | 'e1000' | 'rtl8139';
  machine: 'q35' | 'pc';
}

export class ConversionReport {
  private readonly seen = new Map<string, string>();
  /** A block's first key found after a cut console line, kept until the next line confirms it. */
  private pending: { key: string; value: string } | undefined;

  /** Feed one line of the program's stdout or stderr (without its newline); a warning of virt-v2v's is returned. */
  line(text: string): string | undefined {
    const m = LINE.exec(text);
    if (this.pending && m?.[1] === FIRST_KEYS.get(this.pending.key)) this.keep(this.pending.key, this.pending.value);
    this.pending = undefined;
    if (m && KEYS.has(m[1]!)) this.keep(m[1]!, m[2]!);
    else {
      const cut = AFTER_FRAGMENT.exec(text);
      if (cut) this.pending = { key: cut[1]!, value: cut[2]! };
    }
    return /^virt-v2v(?:-in-place)?: warning: (.+)$/.exec(text)?.[1]?.trim();
  }

  // The first report wins: a later debug line of the same name (there is
  // none in 2.2) cannot change what was inspected.
  private keep(key: string, value: string): void {
    if (!this.seen.has(key)) this.seen.set(key, value.trim());
  }

  /** The facts, or an error naming every line that was not reported. */
  facts(): ConversionFacts {
    const missing = [...KEYS].filter((k) => !this.seen.has(k));
    if (missing.length) {
      throw new EngineError('CONVERT_REPORT', `convert: virt-v2v-in-place -v did not report ${missing.join(', ')} (is it version 2.2 or later?)`);
    }
    const v = (k: string) => this.seen.get(k)!;
    const int = (k: string) => {
      const n = Number(v(k));
      if (!Number.isInteger(n)) throw new EngineError('CONVERT_REPORT', `convert: virt-v2v-in-place reported ${k} = ${v(k)}: not a number`);
      return n;
    };
    const firmware = v('i_firmware');
    if (firmware !== 'BIOS' && !/^UEFI \[.*\]$/.test(firmware)) throw unexpected('i_firmware', firmware);
    const machine = ({ q35: 'q35', i440fx: 'pc' } as const)[v('gcaps_machine') as 'q35' | 'i440fx'];
    if (!machine) {
      throw new EngineError('CONVERT_REPORT', `convert: the converted guest needs machine type ${v('gcaps_machine')} (${v('gcaps_arch')}); the outputs write x86 machines (q35, pc) only`);
    }
    const block = v('gcaps_block_bus');
    if (block !== 'virtio-blk' && block !== 'ide') throw unexpected('gcaps_block_bus', block);
    const net = ({ 'virtio-net': 'virtio', e1000: 'e1000', rtl8139: 'rtl8139' } as const)[v('gcaps_net_bus') as 'e1000'];
    if (!net) throw unexpected('gcaps_net_bus', v('gcaps_net_bus'));
    return {
      os: {
        type: v('i_type'),
        distro: v('i_distro'),
        major: int('i_major_version'),
        minor: int('i_minor_version'),
        arch: v('i_arch'),
        product: v('i_product_name'),
        // virt-v2v writes "unknown" where libosinfo has no id; metadata.out keeps "" then.
        osinfo: v('i_osinfo') === 'unknown' ? '' : v('i_osinfo'),
      },
      uefi: firmware.startsWith('UEFI'),
      // IDE on q35 (which has no IDE controller) is SATA, as virt-v2v's libvirt output does.
      diskBus: block === 'virtio-blk' ? 'virtio' : machine === 'q35' ? 'sata' : 'ide',
      nicModel: net,
      machine,
    };
  }
}

function unexpected(key: string, value: string): EngineError {
  return new EngineError('CONVERT_REPORT', `convert: virt-v2v-in-place reported ${key} = ${value}, which this version does not know`);
}
