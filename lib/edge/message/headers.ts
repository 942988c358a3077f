/** Header names: compact forms (RFC 3261 §7.3.3 and extensions), canonical spelling, list headers. */

import { ownedString } from './owned';

const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', r: 'refer-to',
  b: 'referred-by', u: 'allow-events', x: 'session-expires', a: 'accept-contact', j: 'reject-contact',
  d: 'request-disposition', y: 'identity', n: 'identity-info',
};

const CANONICAL: Record<string, string> = {
  'call-id': 'Call-ID', cseq: 'CSeq', via: 'Via', from: 'From', to: 'To', contact: 'Contact',
  'content-length': 'Content-Length', 'content-type': 'Content-Type', 'max-forwards': 'Max-Forwards',
  'record-route': 'Record-Route', route: 'Route', 'www-authenticate': 'WWW-Authenticate',
  'session-expires': 'Session-Expires', 'min-se': 'Min-SE', rack: 'RAck', rseq: 'RSeq',
  'p-asserted-identity': 'P-Asserted-Identity', 'user-agent': 'User-Agent', 'mime-version': 'MIME-Version',
};

/** Headers whose comma-separated values are separate entries (RFC 3261 §7.3.1). */
const LIST_HEADERS = new Set([
  'via', 'route', 'record-route', 'contact', 'allow', 'supported', 'require', 'proxy-require',
  'unsupported', 'accept', 'accept-encoding', 'accept-language', 'content-encoding', 'allow-events',
  'path', 'service-route',
]);

/**
 * Names already worked out, as every message is read and written: a name is looked up far more
 * often than it is new. Bounded, since the names come from the network; past the bound a name is
 * worked out each time. Kept as copies of their own: a name cut from a message would keep its text.
 */
const MAX_KNOWN_NAMES = 1000;
const normalized = new Map<string, string>();
const canonical = new Map<string, string>();

/** Lower-case full name of a header, whatever form it was written in. */
export function normalizeHeaderName(name: string): string {
  const known = normalized.get(name);
  if (known !== undefined) return known;
  const lower = name.trim().toLowerCase();
  const full = COMPACT[lower] ?? lower;
  if (normalized.size < MAX_KNOWN_NAMES) normalized.set(ownedString(name), ownedString(full));
  return full;
}


/** Display spelling of a normalized name: "call-id" → "Call-ID", "x-foo" → "X-Foo". */
export function canonicalHeaderName(lowerName: string): string {
  const known = CANONICAL[lowerName] ?? canonical.get(lowerName);
  if (known !== undefined) return known;
  const spelt = lowerName.replace(/(^|-)([a-z])/g, (_m, dash: string, ch: string) => dash + ch.toUpperCase());
  if (canonical.size < MAX_KNOWN_NAMES) canonical.set(ownedString(lowerName), ownedString(spelt));
  return spelt;
}

export function isListHeader(lowerName: string): boolean {
  return LIST_HEADERS.has(lowerName);
}

/**
 * Splits a header value at top-level commas: commas inside quoted strings (with backslash
 * escapes) and inside <...> do not split. Empty entries are dropped unless `keepEmpty`.
 */
export function splitTopLevelCommas(value: string, keepEmpty = false): string[] {
  const out: string[] = [];
  let depth = 0;
  let inQuote = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (inQuote) {
      if (ch === 92 /* \ */) i++;
      else if (ch === 34 /* " */) inQuote = false;
    } else if (ch === 34) inQuote = true;
    else if (ch === 60 /* < */) depth++;
    else if (ch === 62 /* > */) { if (depth > 0) depth--; }
    else if (ch === 44 /* , */ && depth === 0) {
      const part = value.slice(start, i).trim();
      if (part || keepEmpty) out.push(part);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last || keepEmpty) out.push(last);
  return out;
}
