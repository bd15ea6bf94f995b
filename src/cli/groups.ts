// nbdcopy's `[ CMD ARGS ... ]` operands hold another program's options
// ("[ nbdkit --filter=delay memory 1G ]"), which commander would take for
// ours. main() hides each group in one placeholder word before commander
// parses, and the command puts the groups back before it reads its operands.

// A NUL cannot occur in a real argument, so no operand looks like this.
const MARK = '\u0000[group ';

/** Each group is kept as its words, brackets included. */
export function hideGroups(argv: string[]): { argv: string[]; groups: string[][] } {
  const out: string[] = [];
  const groups: string[][] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] !== '[') {
      out.push(argv[i]!);
      continue;
    }
    // An unterminated group runs to the end; parseOperands() reports it.
    const end = argv.indexOf(']', i + 1);
    const last = end === -1 ? argv.length - 1 : end;
    out.push(`${MARK}${groups.length}]`);
    groups.push(argv.slice(i, last + 1));
    i = last;
  }
  return { argv: out, groups };
}

export function restoreGroups(words: string[], groups: string[][]): string[] {
  return words.flatMap((w) => (w.startsWith(MARK) ? (groups[Number(w.slice(MARK.length, -1))] ?? [w]) : [w]));
}
