// Names and paths must survive as the bytes the user meant. Node decodes
// argv, environment and file names as UTF-8 and turns every invalid byte
// into U+FFFD (the replacement character) without a word, and a string
// from JavaScript may hold a lone surrogate, which has no UTF-8 form at all
// (Buffer.from writes it as U+FFFD too). Either way the file we would
// create or open is not the one named, so such text is refused, said with
// the bad characters escaped.

const REPLACEMENT = '\uFFFD';

/** Well-formed (no lone surrogate) and free of U+FFFD: text that is what its bytes said. */
export function isCleanText(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed() && !s.includes(REPLACEMENT);
}

/**
 * TEXT for a one-line message: JSON-quoted (control characters and lone
 * surrogates escaped), U+FFFD written \ufffd, cut after `max` characters.
 */
export function showText(s: string, max = 60): string {
  const cut = s.length > max ? `${s.slice(0, max)}...` : s;
  return JSON.stringify(cut).replace(/\uFFFD/g, '\\ufffd');
}

/** Why TEXT was refused, for a message: "not valid UTF-8" covers both causes as the user sees them. */
export const NOT_UTF8 = 'not valid UTF-8 (it holds U+FFFD or a lone surrogate)';

/**
 * The first word of a command line that is not clean text, as a one-line
 * problem ("argument 5 (after -on) is not valid UTF-8 ...: "a\ufffdb""),
 * counting from 1 after the program's name; undefined if all are clean.
 */
export function argvProblem(argv: readonly string[]): string | undefined {
  const i = argv.findIndex((w) => !isCleanText(w));
  if (i < 0) return undefined;
  const prev = argv[i - 1];
  const after = prev !== undefined && prev.startsWith('-') && prev !== '--' && isCleanText(prev) ? ` (after ${prev})` : '';
  return `argument ${i + 1}${after} is ${NOT_UTF8}: ${showText(argv[i]!)}`;
}
