/** URIs (sip:, sips:, tel:), name-addr values (From, To, Contact, Route), Via and CSeq. */

export type Params = Map<string, string | null>;

export interface SipUri {
  scheme: 'sip' | 'sips' | 'tel';
  user: string | null;      // for tel: the number
  password: string | null;
  host: string;             // IPv6 without brackets; empty for tel:
  port: number | null;
  params: Params;
  headers: string | null;   // raw ?headers part
}

export interface NameAddr {
  displayName: string | null;  // as written, quotes included
  uri: SipUri;
  params: Params;              // header params (tag, expires, q…)
  bracketed: boolean;
}

export interface Via {
  protocol: string;          // e.g. SIP/2.0/UDP
  transport: string;         // UDP, TCP, TLS…
  host: string;              // IPv6 without brackets
  port: number | null;
  params: Params;
}

export interface CSeq { seq: number; method: string }

export class SyntaxError extends Error {}

const PARAM_NAME_RE = /^[A-Za-z0-9.\-!%*_+`'~\[\]/:&$]+$/;
const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t';

/**
 * Parses ;a=b;c parameters. Values may be quoted strings (kept with their quotes). Whitespace
 * around `;` and `=` is allowed (RFC 3261 §25.1 SEMI and EQUAL); an empty parameter (`;;`,
 * a trailing `;`) is a syntax error.
 */
export function parseParams(text: string): Params {
  const params: Params = new Map();
  let i = 0;
  const n = text.length;
  while (i < n && isSpace(text[i])) i++;
  while (i < n) {
    if (text[i] !== ';') throw new SyntaxError('junk between parameters');
    i++;
    while (i < n && isSpace(text[i])) i++;
    let j = i;
    while (j < n && text[j] !== '=' && text[j] !== ';') j++;
    const name = text.slice(i, j).trim().toLowerCase();
    if (!PARAM_NAME_RE.test(name)) throw new SyntaxError(name ? `bad parameter name '${name}'` : 'empty parameter');
    if (j < n && text[j] === '=') {
      j++;
      while (j < n && (text[j] === ' ' || text[j] === '\t')) j++;
      let k = j;
      if (text[k] === '"') {
        k++;
        while (k < n && text[k] !== '"') { if (text[k] === '\\') k++; k++; }
        if (k >= n) throw new SyntaxError('unterminated quoted parameter');
        k++;
      } else {
        while (k < n && text[k] !== ';') k++;
        if (/\s/.test(text.slice(j, k).trim())) throw new SyntaxError(`whitespace inside parameter '${name}'`);
      }
      params.set(name, text.slice(j, k).trim());
      i = k;
      while (i < n && isSpace(text[i])) i++;
    } else {
      params.set(name, null);
      i = j;
    }
  }
  return params;
}

export function formatParams(params: Params): string {
  let s = '';
  for (const [k, v] of params) s += v === null ? `;${k}` : `;${k}=${v}`;
  return s;
}

/** host[:port] where host may be [IPv6]. */
export function parseHostPort(text: string): { host: string; port: number | null } {
  const t = text.trim();
  if (t.startsWith('[')) {
    const end = t.indexOf(']');
    if (end < 0) throw new SyntaxError('unterminated IPv6 reference');
    const host = t.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(host)) throw new SyntaxError('bad IPv6 reference');
    const rest = t.slice(end + 1);
    if (rest === '') return { host, port: null };
    if (!rest.startsWith(':')) throw new SyntaxError('bad host:port');
    return { host, port: parsePort(rest.slice(1)) };
  }
  const colon = t.lastIndexOf(':');
  const host = colon >= 0 ? t.slice(0, colon) : t;
  if (!host || !/^[A-Za-z0-9.\-_]+$/.test(host)) throw new SyntaxError(`bad host '${host}'`);
  return { host, port: colon >= 0 ? parsePort(t.slice(colon + 1)) : null };
}

function parsePort(s: string): number {
  if (!/^\d{1,5}$/.test(s)) throw new SyntaxError('bad port');
  const p = Number(s);
  if (p > 65535) throw new SyntaxError('bad port');
  return p;
}

export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function parseUri(text: string): SipUri {
  const t = text.trim();
  const colon = t.indexOf(':');
  if (colon < 0) throw new SyntaxError('URI without scheme');
  const scheme = t.slice(0, colon).toLowerCase();
  const rest = t.slice(colon + 1);
  if (scheme === 'tel') {
    const semi = rest.indexOf(';');
    const number = semi < 0 ? rest : rest.slice(0, semi);
    if (!/^[+0-9A-Fa-f*#\-.()pPwW]+$/.test(number)) throw new SyntaxError('bad tel number');
    return { scheme, user: number, password: null, host: '', port: null,
      params: semi < 0 ? new Map() : parseParams(rest.slice(semi)), headers: null };
  }
  if (scheme !== 'sip' && scheme !== 'sips') throw new SyntaxError(`unsupported URI scheme '${scheme}'`);
  let body = rest;
  let headers: string | null = null;
  // `?` is legal in the user part (user-unreserved) and `@` is not legal unescaped in headers,
  // so the headers start at the first `?` after the last `@`
  const q = body.indexOf('?', body.lastIndexOf('@') + 1);
  if (q >= 0) { headers = body.slice(q + 1); body = body.slice(0, q); }
  let user: string | null = null;
  let password: string | null = null;
  const at = body.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = body.slice(0, at);
    body = body.slice(at + 1);
    const pc = userinfo.indexOf(':');
    if (pc >= 0) { user = userinfo.slice(0, pc); password = userinfo.slice(pc + 1); } else user = userinfo;
    if (!user) throw new SyntaxError('empty user part');
  }
  const semi = body.indexOf(';');
  const params: Params = semi >= 0 ? parseParams(body.slice(semi)) : new Map();
  const { host, port } = parseHostPort(semi >= 0 ? body.slice(0, semi) : body);
  return { scheme, user, password, host, port, params, headers };
}

export function formatUri(u: SipUri): string {
  if (u.scheme === 'tel') return `tel:${u.user ?? ''}${formatParams(u.params)}`;
  let s = `${u.scheme}:`;
  if (u.user !== null) s += u.password !== null ? `${u.user}:${u.password}@` : `${u.user}@`;
  s += formatHost(u.host);
  if (u.port !== null) s += `:${u.port}`;
  s += formatParams(u.params);
  if (u.headers) s += `?${u.headers}`;
  return s;
}

/** name-addr / addr-spec with header parameters: `"Bob" <sip:bob@h>;tag=1` or `sip:bob@h;tag=1`. */
export function parseNameAddr(text: string): NameAddr {
  const t = text.trim();
  let i = 0;
  let displayName: string | null = null;
  if (t[0] === '"') {
    i = 1;
    while (i < t.length && t[i] !== '"') { if (t[i] === '\\') i++; i++; }
    if (i >= t.length) throw new SyntaxError('unterminated display name');
    displayName = t.slice(0, i + 1);
    i++;
  }
  const lt = t.indexOf('<', i);
  if (lt >= 0) {
    if (displayName === null) {
      const dn = t.slice(0, lt).trim();
      // an unquoted display name is tokens (RFC 3261 §25.1): a comma, semicolon, quote or angle
      // bracket in it makes the header ambiguous (RFC 4475 §3.1.2.15); other stray characters
      // seen in the wild are tolerated
      if (/[,;"<>\\]/.test(dn)) throw new SyntaxError('unquoted display name with separators');
      displayName = dn || null;
    } else if (t.slice(i, lt).trim() !== '') throw new SyntaxError('junk after display name');
    const gt = t.indexOf('>', lt);
    if (gt < 0) throw new SyntaxError('unterminated <');
    const uri = parseUri(t.slice(lt + 1, gt));
    return { displayName, uri, params: parseParams(t.slice(gt + 1)), bracketed: true };
  }
  if (displayName !== null) throw new SyntaxError('display name without <uri>');
  // addr-spec: URI params are header params (RFC 3261 §20.10)
  const semi = t.indexOf(';');
  const uriText = (semi < 0 ? t : t.slice(0, semi)).trim();
  if (uriText.includes('?') || /\s/.test(uriText)) throw new SyntaxError('bad addr-spec');
  const uri = parseUri(uriText);
  return { displayName: null, uri, params: semi < 0 ? new Map() : parseParams(t.slice(semi)), bracketed: false };
}

/** URI parameters that an application writing an addr-spec Contact means for the URI, not the header. */
const URI_PARAMS = new Set(['transport', 'lr', 'maddr', 'user', 'method', 'ttl', 'ob', 'gr']);

/**
 * A Contact (or other address) written as name-addr: `sip:a@h;transport=tcp;expires=60` becomes
 * `<sip:a@h;transport=tcp>;expires=60`, since some far ends build a broken request-URI from an
 * addr-spec. Values already bracketed, `*`, and values that do not parse are returned unchanged.
 */
export function toNameAddrForm(value: string): string {
  const t = value.trim();
  if (t === '*' || t.includes('<')) return value;
  const semi = t.indexOf(';');
  const uriText = semi < 0 ? t : t.slice(0, semi).trim();
  let params: Params;
  try { params = semi < 0 ? new Map() : parseParams(t.slice(semi)); parseUri(uriText); } catch { return value; }
  const uriParams: Params = new Map();
  const headerParams: Params = new Map();
  for (const [k, v] of params) (URI_PARAMS.has(k) ? uriParams : headerParams).set(k, v);
  return `<${uriText}${formatParams(uriParams)}>${formatParams(headerParams)}`;
}

export function formatNameAddr(na: NameAddr): string {
  const dn = na.displayName ? `${na.displayName} ` : '';
  return `${dn}<${formatUri(na.uri)}>${formatParams(na.params)}`;
}

export function parseVia(text: string): Via {
  const t = text.trim();
  const m = /^([A-Za-z0-9.\-!%*_+`'~]+\s*\/\s*[0-9.]+\s*\/\s*([A-Za-z0-9\-]+))\s+(.+)$/s.exec(t);
  if (!m) throw new SyntaxError('bad Via');
  const sentBy = m[3];
  const semi = sentBy.indexOf(';');
  const hp = parseHostPort(semi < 0 ? sentBy : sentBy.slice(0, semi));
  return {
    protocol: m[1].replace(/\s+/g, '').toUpperCase(), transport: m[2].toUpperCase(),
    host: hp.host, port: hp.port, params: semi < 0 ? new Map() : parseParams(sentBy.slice(semi)),
  };
}

export function formatVia(v: Via): string {
  return `${v.protocol} ${formatHost(v.host)}${v.port !== null ? `:${v.port}` : ''}${formatParams(v.params)}`;
}

export function parseCSeq(text: string): CSeq {
  const m = /^\s*(\d{1,10})\s+([A-Za-z0-9.\-!%*_+`'~]+)\s*$/.exec(text);
  if (!m) throw new SyntaxError('bad CSeq');
  const seq = Number(m[1]);
  if (seq > 0xffffffff) throw new SyntaxError('CSeq out of range');
  return { seq, method: m[2] };
}

/**
 * The tags of the From/To values read lately. A message's From and To are read for their tag
 * several times as it crosses the edge (its validation, its transaction's key, its dialog), each a
 * whole name-addr parse; the cache is small and emptied when full, so the message texts its keys
 * are cut from are not kept long.
 */
const recentTags = new Map<string, string | null>();
const RECENT_TAGS = 256;

/** The tag parameter of a From/To value; null when it has none or does not parse. */
export function tagOf(value: string | undefined): string | null {
  if (!value) return null;
  const known = recentTags.get(value);
  if (known !== undefined) return known;
  let tag: string | null;
  try { tag = parseNameAddr(value).params.get('tag') ?? null; } catch { tag = null; }
  return noteTag(value, tag);
}

/** parseNameAddr of a From or To value, whose tag tagOf then knows without parsing it again. */
export function parseFromOrTo(value: string): NameAddr {
  const na = parseNameAddr(value);
  noteTag(value, na.params.get('tag') ?? null);
  return na;
}

function noteTag(value: string, tag: string | null): string | null {
  if (recentTags.size >= RECENT_TAGS) recentTags.clear();
  recentTags.set(value, tag);
  return tag;
}
