// The output disks' file names: NAME-sda, NAME-sdb, ... as virt-v2v names
// them, or, for -o json, what `-oo json-disks-pattern=PATTERN` makes of
// virt-v2v's variables: %{GuestName}, %{DiskNo} (1, 2, ...) and
// %{DiskDeviceName} (sda, sdb, ...). One place for setup (disks.ts), the
// early clash check (output.ts) and output.json's check (state-file.ts).
// A pattern names files in -os DIR itself: no "/", and it must tell the
// disks apart (%{DiskNo} or %{DiskDeviceName}).
import { driveName } from '../../util/drive-name.js';

/** virt-v2v's own naming, and -o json's default pattern. */
export const DEFAULT_DISK_PATTERN = '%{GuestName}-%{DiskDeviceName}';

const VARIABLE = /%\{([^}]*)\}/g;
const KNOWN = new Set(['GuestName', 'DiskNo', 'DiskDeviceName']);

/** Why PATTERN cannot be -oo json-disks-pattern, in one line; undefined if it can. */
export function diskPatternProblem(pattern: string): string | undefined {
  const where = `-o json: -oo json-disks-pattern=${pattern}`;
  for (const m of pattern.matchAll(VARIABLE)) {
    if (!/^[A-Za-z]+$/.test(m[1]!)) return `${where}: invalid variable %{${m[1]}}`;
    if (!KNOWN.has(m[1]!)) return `${where}: unhandled variable %{${m[1]}}`;
  }
  if (pattern.includes('/')) return `${where}: the disks go into -os itself: no "/" (subdirectories) in the pattern`;
  if (!/%\{(DiskNo|DiskDeviceName)\}/.test(pattern)) return `${where}: every disk would get the same name: use %{DiskNo} or %{DiskDeviceName}`;
  if (/[\u0000-\u001f\u007f]/.test(pattern)) return `${where}: control characters in the pattern`;
  return undefined;
}

/** The base name of disk INDEX (0-based) of guest NAME. */
export function diskBaseName(name: string, index: number, pattern = DEFAULT_DISK_PATTERN): string {
  return pattern.replace(VARIABLE, (_, v: string) => (v === 'GuestName' ? name : v === 'DiskNo' ? String(index + 1) : `sd${driveName(index)}`));
}

/** A test for the base names PATTERN makes for guest NAME, whatever the disk. */
export function diskNameTest(name: string, pattern = DEFAULT_DISK_PATTERN): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let re = '';
  let last = 0;
  for (const m of pattern.matchAll(VARIABLE)) {
    re += escape(pattern.slice(last, m.index));
    re += m[1] === 'GuestName' ? escape(name) : m[1] === 'DiskNo' ? '[1-9][0-9]*' : 'sd[a-z]+';
    last = m.index + m[0].length;
  }
  return new RegExp(`^${re}${escape(pattern.slice(last))}$`);
}
