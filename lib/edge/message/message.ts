import { canonicalHeaderName, normalizeHeaderName } from './headers';
import { ownedBuffer } from './owned';

export { ownedBuffer, ownedString } from './owned';

export interface Header { name: string; value: string } // name is lower-case full form

/** A SIP request or response: start line, ordered headers, body bytes. */
export class SipMessage {
  headers: Header[] = [];
  body: Buffer = Buffer.alloc(0);

  private constructor(
    readonly kind: 'request' | 'response',
    public method: string,
    public uri: string,
    public status: number,
    public reason: string,
    public version = 'SIP/2.0',
  ) {}

  static request(method: string, uri: string): SipMessage {
    return new SipMessage('request', method, uri, 0, '');
  }

  static response(status: number, reason: string): SipMessage {
    return new SipMessage('response', '', '', status, reason);
  }

  get isRequest(): boolean { return this.kind === 'request'; }

  get(name: string): string | undefined {
    const n = normalizeHeaderName(name);
    for (const h of this.headers) if (h.name === n) return h.value;
    return undefined;
  }

  getAll(name: string): string[] {
    const n = normalizeHeaderName(name);
    const out: string[] = [];
    for (const h of this.headers) if (h.name === n) out.push(h.value);
    return out;
  }

  has(name: string): boolean { return this.get(name) !== undefined; }

  /** Replaces every occurrence of the header with one value (appended at the place of the first). */
  set(name: string, value: string): this {
    const n = normalizeHeaderName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    if (idx < 0) { this.headers.push({ name: n, value }); return this; }
    this.headers[idx] = { name: n, value };
    this.headers = this.headers.filter((h, i) => h.name !== n || i === idx);
    return this;
  }

  append(name: string, value: string): this {
    this.headers.push({ name: normalizeHeaderName(name), value });
    return this;
  }

  prepend(name: string, value: string): this {
    this.headers.unshift({ name: normalizeHeaderName(name), value });
    return this;
  }

  remove(name: string): this {
    const n = normalizeHeaderName(name);
    this.headers = this.headers.filter((h) => h.name !== n);
    return this;
  }

  /** Removes the first occurrence only (the top Via). */
  removeFirst(name: string): this {
    const n = normalizeHeaderName(name);
    const idx = this.headers.findIndex((h) => h.name === n);
    if (idx >= 0) this.headers.splice(idx, 1);
    return this;
  }

  startLine(): string {
    return this.kind === 'request'
      ? `${this.method} ${this.uri} ${this.version}`
      : `${this.version} ${this.status} ${this.reason}`;
  }

  /** Start line and headers up to the blank line; Content-Length is always written last among headers and counts body bytes. */
  private head(): string {
    let s = this.startLine() + '\r\n';
    for (const h of this.headers) {
      if (h.name === 'content-length') continue;
      s += `${canonicalHeaderName(h.name)}: ${h.value}\r\n`;
    }
    return s + `Content-Length: ${this.body.length}\r\n\r\n`;
  }

  /** Wire form. */
  toBuffer(): Buffer {
    const s = this.head();
    const headLength = Buffer.byteLength(s, 'utf8');
    const out = ownedBuffer(headLength + this.body.length);
    out.write(s, 0, 'utf8');
    this.body.copy(out, headLength);
    return out;
  }

  /** Wire form as text (the control link's), written without the wire buffer. */
  toString(): string { return this.head() + this.body.toString('utf8'); }

  clone(): SipMessage {
    const m = new SipMessage(this.kind, this.method, this.uri, this.status, this.reason, this.version);
    m.headers = this.headers.map((h) => ({ ...h }));
    m.body = this.body;
    return m;
  }
}
