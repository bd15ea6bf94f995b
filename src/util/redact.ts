// A command line as it may be recorded (job.json) or shown: the passphrase
// of each `--key ID:key:KEY` (virt-v2v's LUKS option, also -key, --key=...)
// replaced by "<redacted>". Key files (ID:file:FILE) stay as they are.

const REDACTED = '<redacted>';

/** The selector with its passphrase hidden: "ID:key:<redacted>". */
export function redactKeySelector(sel: string): string {
  const parts = sel.split(':');
  return parts[1] === 'key' && parts.length > 2 ? `${parts[0]}:key:${REDACTED}` : sel;
}

/** ARGV with every --key passphrase hidden (a new array). */
export function redactArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    const m = /^(--?key=)(.*)$/s.exec(w);
    if (m) out.push(`${m[1]}${redactKeySelector(m[2]!)}`);
    else if ((w === '--key' || w === '-key') && i + 1 < argv.length) out.push(w, redactKeySelector(argv[++i]!));
    else out.push(w);
  }
  return out;
}
