// Safe loading of a small, untrusted XML metadata file, then read-only access
// to its elements. No DTD can exist (any DOCTYPE or ENTITY is refused before
// parsing), so nothing expands: fast-xml-parser runs with processEntities
// off and the five predefined entities and character references are decoded
// here, one value at a time, only in the values the caller reads. Every
// failure goes through the caller's `fail`, which must throw.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** Throws an error whose message is `message` prefixed by the caller's context. */
export type Fail = (message: string) => never;

// libvirt domain XML is about six levels deep; this is far beyond any real
// one and keeps fast-xml-parser's recursive builder away from the stack limit.
const MAX_DEPTH = 64;

const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

// Characters XML 1.0 forbids in a document (section 2.2), lone surrogates included.
// Not with the u flag: lone surrogates are matched as code units.
const NOT_XML_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function isXmlCodePoint(cp: number): boolean {
  return (
    cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** A value quoted for a one-line message: JSON escapes, at most 200 characters. */
export function quote(value: string): string {
  const q = JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}...` : value);
  // JSON leaves DEL, C1 controls and U+2028/U+2029 raw; some terminals and log readers act on them.
  return q.replace(/[\x7F-\x9F\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Decode `&amp;`, `&lt;`, ..., `&#NN;` and `&#xHH;`; anything else with `&` fails. */
export function decodeEntities(raw: string, what: string, fail: Fail): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^&;]{0,16})(;?)/g, (all, body: string, semi: string) => {
    if (semi !== ';') return fail(`${what}: a bare '&' (write &amp;)`);
    if (Object.hasOwn(PREDEFINED, body)) return PREDEFINED[body]!;
    const m = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(body);
    if (!m) return fail(`${what}: unknown entity ${quote(all)} (entities are not allowed)`);
    const cp = m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2]);
    if (!isXmlCodePoint(cp)) return fail(`${what}: ${quote(all)} is not an XML character`);
    return String.fromCodePoint(cp);
  });
}

/** One element of the parsed document: attributes, children by tag, text. */
export class XmlElement {
  constructor(
    /** The tag as written, with its namespace prefix. */
    readonly tag: string,
    private readonly node: unknown,
    private readonly fail: Fail,
  ) {}

  private get fields(): Record<string, unknown> | undefined {
    const n = this.node;
    return typeof n === 'object' && n !== null && !Array.isArray(n) ? (n as Record<string, unknown>) : undefined;
  }

  /** The attribute's value, whitespace normalised and decoded (XML 1.0 section 3.3.3). */
  attr(name: string): string | undefined {
    const f = this.fields;
    const key = `@_${name}`;
    if (!f || !Object.hasOwn(f, key)) return undefined;
    const v = f[key];
    const what = `<${this.tag} ${name}=...>`;
    if (typeof v !== 'string') return this.fail(`${what}: not a string value`);
    return decodeEntities(v.replace(/\r\n?|[\t\n]/g, ' '), what, this.fail);
  }

  /** This element, its errors (and its descendants') reported through `fail`. */
  withFail(fail: Fail): XmlElement {
    return new XmlElement(this.tag, this.node, fail);
  }

  /** The child elements with this tag, in document order. */
  children(tag: string): XmlElement[] {
    const f = this.fields;
    if (!f || !Object.hasOwn(f, tag)) return [];
    const v = f[tag];
    return (Array.isArray(v) ? v : [v]).map((n) => new XmlElement(tag, n, this.fail));
  }

  /** Tags of the child elements (each once). */
  childTags(): string[] {
    const f = this.fields;
    return f ? Object.keys(f).filter((k) => !k.startsWith('@_') && !k.startsWith('#')) : [];
  }

  /** The one child with this tag, if any; more than one fails. */
  child(tag: string): XmlElement | undefined {
    const all = this.children(tag);
    if (all.length > 1) return this.fail(`more than one <${tag}> in <${this.tag}>`);
    return all[0];
  }

  /** The element's text, decoded and trimmed ('' when empty). */
  text(): string {
    const what = `<${this.tag}>`;
    const n = this.node;
    if (typeof n === 'string') return decodeEntities(n.replace(/\r\n?/g, '\n'), what, this.fail).trim();
    const f = this.fields;
    if (!f) return '';
    const parts = (k: string): string[] => {
      const v = Object.hasOwn(f, k) ? f[k] : undefined;
      return (Array.isArray(v) ? v : v === undefined ? [] : [v]).map((s) => (typeof s === 'string' ? s : this.fail(`${what}: unexpected content`)));
    };
    const text = decodeEntities(parts('#text').join('').replace(/\r\n?/g, '\n'), what, this.fail);
    const cdata = parts('#cdata').join('');
    // The parser keeps CDATA apart from the text, so their order is lost.
    if (cdata !== '' && text.trim() !== '') return this.fail(`${what}: text mixed with CDATA`);
    return (cdata || text).trim();
  }
}

/**
 * Check and parse `text`; return its root element, which must be <rootTag>.
 * Refused: DOCTYPE and ENTITY declarations, characters XML forbids (NUL
 * and other control characters: a binary file), an encoding other than
 * UTF-8, malformed XML (fast-xml-parser's validator, with its line and
 * column), more than one root, nesting deeper than MAX_DEPTH.
 */
export function loadXml(text: string, rootTag: string, fail: Fail): XmlElement {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Before anything parses: a DTD is where billion laughs and external
  // entities (SYSTEM "file:///etc/passwd") live.
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) return fail('DOCTYPE and entities are not allowed');
  const bad = NOT_XML_CHAR.exec(text);
  if (bad) {
    const line = text.slice(0, bad.index).split('\n').length;
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    return fail(`binary content, not an XML text file (U+${code} at line ${line})`);
  }
  const decl = /^\s*<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([^"']*)\1/.exec(text);
  if (decl && !/^(utf-?8|us-ascii|ascii)$/i.test(decl[2]!)) return fail(`encoding ${quote(decl[2]!)} is not supported (only UTF-8)`);
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    return fail(`malformed XML at line ${line}${col === undefined ? '' : `, column ${col}`}: ${msg}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = new XMLParser({
      processEntities: false,
      htmlEntities: false,
      ignoreAttributes: false,
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: false, // attribute values exactly as written; text is trimmed by XmlElement
      ignoreDeclaration: true,
      ignorePiTags: true,
      cdataPropName: '#cdata',
      maxNestedTags: MAX_DEPTH,
    }).parse(text) as Record<string, unknown>;
  } catch (err) {
    // fast-xml-parser refuses __proto__, constructor, ... as tag names, and deep nesting.
    return fail(`malformed XML: ${(err as Error).message}`);
  }
  const roots = Object.keys(doc).filter((k) => !k.startsWith('#'));
  if (roots.length === 0) return fail(`no root element, expected <${rootTag}>`);
  if (roots.length > 1 || Array.isArray(doc[roots[0]!])) return fail('more than one root element');
  if (roots[0] !== rootTag) return fail(`the root element is <${roots[0]}>, expected <${rootTag}>`);
  return new XmlElement(rootTag, doc[rootTag], fail);
}
