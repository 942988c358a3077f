import { isListHeader, normalizeHeaderName, splitTopLevelCommas } from './headers';
import { ownedBuffer, SipMessage } from './message';
import { parseCSeq, parseFromOrTo, parseNameAddr, parseUri, parseVia, SyntaxError as UriSyntaxError } from './uri';

export interface ParseLimits {
  maxMessageBytes: number;
  maxHeaders: number;
}

export const DEFAULT_LIMITS: ParseLimits = { maxMessageBytes: 65535, maxHeaders: 128 };

/**
 * Why a message was refused. `status` is the response to send when one is possible (400, 413,
 * 505); `partial` is what could be read of the message, enough to build that response when it
 * has Via, From, To, Call-ID and CSeq.
 */
export class ParseError extends Error {
  constructor(readonly status: number, message: string, readonly partial: SipMessage | null = null) {
    super(message);
  }
}

const METHOD_RE = /^[A-Za-z0-9.\-!%*_+`'~]+$/;
const MANDATORY = ['via', 'from', 'to', 'call-id', 'cseq'];
/** Address lists whose empty entries are a syntax error rather than noise. */
const STRICT_LISTS = new Set(['via', 'contact', 'route', 'record-route']);
/** Headers a request carries once (RFC 3261 §7.3.1: only list headers may repeat). */
const SINGLE = ['from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-type'];

/**
 * Parses one whole message (a datagram, or one frame cut by the stream framer).
 * `exactBody`: for streams the framer already cut the body by Content-Length.
 */
export function parseMessage(buf: Buffer, limits: ParseLimits = DEFAULT_LIMITS): SipMessage {
  if (buf.length > limits.maxMessageBytes) {
    throw new ParseError(413, 'message too large', tryPartial(buf, limits));
  }
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2; // leading CRLFs
  const headEnd = findHeaderEnd(buf, start);
  if (headEnd.index < 0) throw new ParseError(400, 'no end of headers', null);
  // header bytes are decoded as UTF-8 so that display names keep their characters
  const lines = unfold(buf.toString('utf8', start, headEnd.index).split(/\r?\n/));
  if (lines.length === 0 || !lines[0]) throw new ParseError(400, 'empty start line');
  // A bad start line is remembered, not thrown at once: when the headers are readable the
  // request still gets its 400 (or 505), as a peer can then tell what went wrong.
  let startError: ParseError | null = null;
  let msg: SipMessage;
  try {
    msg = parseStartLine(lines[0]);
  } catch (err) {
    if (!(err instanceof ParseError) || lines[0].startsWith('SIP/')) throw err;
    startError = err;
    msg = SipMessage.request('UNKNOWN', 'sip:invalid');
  }
  if (lines.length - 1 > limits.maxHeaders) throw new ParseError(413, 'too many headers', null);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ParseError(400, `malformed header line`, checkPartial(msg));
    const rawName = line.slice(0, colon).trim();
    if (!/^[A-Za-z0-9.\-!%*_+`'~]+$/.test(rawName)) throw new ParseError(400, 'bad header name', checkPartial(msg));
    const name = normalizeHeaderName(rawName);
    const value = line.slice(colon + 1).trim();
    if (isListHeader(name) && value.includes(',')) {
      const entries = splitTopLevelCommas(value, true);
      // `a,,b` or a trailing comma in an address list is no entry at all (RFC 3261 §7.3.1)
      if (STRICT_LISTS.has(name) && entries.includes('')) startError ??= new ParseError(400, `empty entry in ${name}`);
      for (const v of entries) if (v) msg.headers.push({ name, value: v });
    } else {
      if (STRICT_LISTS.has(name) && value === '') startError ??= new ParseError(400, `empty ${name}`);
      msg.headers.push({ name, value });
    }
  }
  if (msg.headers.length > limits.maxHeaders) throw new ParseError(413, 'too many headers', checkPartial(msg));
  if (startError) {
    if (msg.method === 'UNKNOWN') {
      try { msg.method = parseCSeq(msg.get('cseq') ?? '').method; } catch { /* no usable CSeq: no answer */ }
    }
    throw new ParseError(startError.status, startError.message, checkPartial(msg));
  }
  const bodyStart = headEnd.index + headEnd.length;
  const available = buf.length - bodyStart;
  const lengths = msg.getAll('content-length');
  // two Content-Lengths leave the framing to whoever reads first: a smuggling risk, so refused
  if (lengths.length > 1) throw new ParseError(400, 'more than one Content-Length', checkPartial(msg));
  const cl = lengths[0];
  let bodyLen = available;
  if (cl !== undefined) {
    if (!/^\s*\d{1,9}\s*$/.test(cl)) throw new ParseError(400, 'bad Content-Length', checkPartial(msg));
    bodyLen = Number(cl);
    if (bodyLen > available) throw new ParseError(400, 'Content-Length larger than body', checkPartial(msg));
  }
  // a copy, not a view: a view would keep the whole datagram or stream chunk for the message's life
  msg.body = ownedBuffer(bodyLen);
  buf.copy(msg.body, 0, bodyStart, bodyStart + bodyLen);
  validate(msg);
  return msg;
}

function findHeaderEnd(buf: Buffer, from: number): { index: number; length: number } {
  const crlf = buf.indexOf('\r\n\r\n', from, 'latin1');
  const lf = buf.indexOf('\n\n', from, 'latin1');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { index: crlf, length: 4 };
  if (lf >= 0) return { index: lf, length: 2 };
  return { index: -1, length: 0 };
}

/** Joins folded lines (a line starting with space or tab continues the previous one). */
function unfold(lines: string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && out.length > 1) {
      out[out.length - 1] += ' ' + line.trim();
    } else if (line.length > 0) {
      out.push(line);
    }
  }
  return out;
}

function parseStartLine(line: string): SipMessage {
  if (line.startsWith('SIP/')) {
    const m = /^(SIP\/\d\.\d)\s+(\d{3})(?:\s+(.*))?$/.exec(line);
    if (!m) throw new ParseError(400, 'bad status line');
    if (m[1] !== 'SIP/2.0') throw new ParseError(505, 'version not supported');
    const status = Number(m[2]);
    if (status < 100 || status > 699) throw new ParseError(400, 'bad status code');
    return SipMessage.response(status, m[3] ?? '');
  }
  // exactly one SP between the three parts (RFC 3261 §7.1; RFC 4475 §3.1.2.9, §3.1.2.10)
  const parts = line.split(' ');
  if (parts.length !== 3 || parts.some((p) => p === '')) throw new ParseError(400, 'bad request line');
  const [method, uri, version] = parts;
  if (!METHOD_RE.test(method)) throw new ParseError(400, 'bad method');
  if (!/^SIP\/\d\.\d$/i.test(version)) throw new ParseError(400, 'bad version');
  if (version.toUpperCase() !== 'SIP/2.0') throw new ParseError(505, 'version not supported');
  const msg = SipMessage.request(method, uri);
  if (!/^[A-Za-z][A-Za-z0-9+\-.]*:\S+$/.test(uri)) throw new ParseError(400, 'bad request-URI');
  return msg;
}

/** Mandatory headers present and well formed; CSeq method matches the request method. */
function validate(msg: SipMessage): void {
  for (const h of MANDATORY) {
    if (!msg.has(h)) throw new ParseError(400, `missing ${h}`, checkPartial(msg));
  }
  try {
    for (const h of SINGLE) {
      if (msg.getAll(h).length > 1) throw new ParseError(400, `more than one ${h}`, checkPartial(msg));
    }
    for (const v of msg.getAll('via')) parseVia(v);
    const cseq = parseCSeq(msg.get('cseq') as string);
    if (msg.isRequest && cseq.method !== msg.method) throw new ParseError(400, 'CSeq method mismatch', checkPartial(msg));
    parseFromOrTo(msg.get('from') as string);
    parseFromOrTo(msg.get('to') as string);
    for (const h of ['contact', 'route', 'record-route']) {
      for (const v of msg.getAll(h)) if (v !== '*') parseNameAddr(v);
    }
    if (msg.isRequest) {
      if (!/^(sips?|tel):/i.test(msg.uri)) throw new ParseError(416, 'unsupported URI scheme', checkPartial(msg));
      parseUri(msg.uri);
    }
    const mf = msg.get('max-forwards');
    if (mf !== undefined && (!/^\d{1,9}$/.test(mf.trim()) || Number(mf) > 255)) throw new ParseError(400, 'bad Max-Forwards', checkPartial(msg));
  } catch (err) {
    if (err instanceof ParseError) throw err;
    if (err instanceof UriSyntaxError) throw new ParseError(400, err.message, checkPartial(msg));
    throw err;
  }
}

/**
 * The message is usable for a response when it is a request with a Via whose sent-by is readable
 * and a CSeq: the response goes where the Via says and the peer matches it by branch and CSeq.
 */
function checkPartial(msg: SipMessage): SipMessage | null {
  if (!msg.isRequest || msg.method === 'UNKNOWN') return null;
  const via = msg.get('via');
  if (via === undefined || !msg.has('cseq')) return null;
  // the sent-by is enough to answer; broken parameters are what the 400 is about
  return /^[A-Za-z0-9.\-!%*_+`'~]+\s*\/\s*[0-9.]+\s*\/\s*[A-Za-z0-9-]+\s+[^;,\s]+/.test(via) ? msg : null;
}

/** What a stream framer could read of a request whose framing it refused: its head without lengths. */
export function partialFromHead(head: string): SipMessage | null {
  const lines = head.split('\r\n').filter((l) => !/^(?:content-length|l)[ \t]*:/i.test(l));
  try {
    return parseMessage(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), { maxMessageBytes: Number.MAX_SAFE_INTEGER, maxHeaders: 1000 });
  } catch (err) {
    return err instanceof ParseError ? err.partial : null;
  }
}

function tryPartial(buf: Buffer, limits: ParseLimits): SipMessage | null {
  try {
    const head = buf.subarray(0, Math.min(buf.length, 16384));
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return null;
    return parseMessage(Buffer.concat([head.subarray(0, end), Buffer.from('\r\nContent-Length: 0\r\n\r\n')]),
      { ...limits, maxMessageBytes: Number.MAX_SAFE_INTEGER });
  } catch { return null; }
}

/**
 * Lenient parse of a message written by an application on the control link: headers may be
 * missing (the edge adds them) and the body is everything after the blank line, whatever
 * Content-Length says (drachtio-srf counts characters, not bytes).
 */
export function parseAppMessage(text: string): SipMessage {
  const sep = text.indexOf('\r\n\r\n');
  const head = sep < 0 ? text : text.slice(0, sep);
  const body = sep < 0 ? '' : text.slice(sep + 4);
  const lines = unfold(head.split(/\r?\n/));
  if (lines.length === 0) throw new ParseError(400, 'empty message');
  const msg = parseStartLine(lines[0]);
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon <= 0) throw new ParseError(400, `malformed header line '${lines[i]}'`);
    const name = normalizeHeaderName(lines[i].slice(0, colon));
    const value = lines[i].slice(colon + 1).trim();
    if (isListHeader(name) && value.includes(',')) {
      for (const v of splitTopLevelCommas(value)) msg.headers.push({ name, value: v });
    } else msg.headers.push({ name, value });
  }
  // own memory: a dialog keeps this body (its SDP) for the whole call, a pool slice would pin 8 KB
  msg.body = ownedBuffer(Buffer.byteLength(body, 'utf8'));
  msg.body.write(body, 0, 'utf8');
  return msg;
}
