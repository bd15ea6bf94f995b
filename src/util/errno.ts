// strerror-like text for a Node fs error, for our one-line messages: Node's
// own message names the path again (and a hostile path could hold a line
// break), so the text comes from the error code.
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EEXIST: 'File exists',
  ENOSPC: 'No space left on device',
  ENXIO: 'No such device or address',
  EIO: 'Input/output error',
};

export function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return ERRNO_TEXT[code] ?? code;
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}
