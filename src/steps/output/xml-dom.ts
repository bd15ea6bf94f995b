// A small XML writer for the files virt-v2v writes with its DOM module
// (lib/DOM.ml): elements with attributes in the order given, text, and
// comments, indented by two spaces, every string escaped.

// XML 1.0 cannot carry these code points even as references.
const INVALID_XML_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function xmlText(s: string): string {
  return s.replace(INVALID_XML_CHARS, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** For attribute values: quotes too, and whitespace a parser would normalise to spaces. */
export function xmlAttr(s: string): string {
  return xmlText(s)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

/** A comment node (`<!-- text -->`): the text must not hold "--". */
export interface Comment {
  comment: string;
}

export interface El {
  name: string;
  attrs?: [string, string][];
  children?: (El | Comment | string)[];
}

export const el = (name: string, attrs: [string, string][] = [], ...children: (El | Comment | string)[]): El => ({ name, attrs, children });

export const comment = (text: string): Comment => ({ comment: text.replace(/--/g, '- -') });

export function render(e: El, indent: string, out: string[]): void {
  const attrs = (e.attrs ?? []).map(([k, v]) => ` ${k}='${xmlAttr(v)}'`).join('');
  const kids = e.children ?? [];
  if (kids.length === 0) out.push(`${indent}<${e.name}${attrs}/>`);
  else if (kids.length === 1 && typeof kids[0] === 'string') out.push(`${indent}<${e.name}${attrs}>${xmlText(kids[0])}</${e.name}>`);
  else {
    out.push(`${indent}<${e.name}${attrs}>`);
    for (const k of kids) {
      if (typeof k === 'string') out.push(`${indent}  ${xmlText(k)}`);
      else if ('comment' in k) out.push(`${indent}  <!-- ${xmlText(k.comment)} -->`);
      else render(k, `${indent}  `, out);
    }
    out.push(`${indent}</${e.name}>`);
  }
}
