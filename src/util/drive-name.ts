// The one drive-name function of the project, as virt-v2v's drive_name and
// the kernel's: 0 -> "a", 25 -> "z", 26 -> "aa", 701 -> "zz", 702 -> "aaa".

/** The letters of disk INDEX: "a", ..., "z", "aa", ... */
export function driveName(index: number): string {
  let s = '';
  for (let i = index + 1; i > 0; i = Math.floor(i / 26)) {
    i -= 1;
    s = String.fromCharCode(97 + (i % 26)) + s;
  }
  return s;
}

/** How the engine names disk INDEX in messages, events and logs: sda, sdb, ... sdaa. */
export function diskName(index: number): string {
  return `sd${driveName(index)}`;
}
