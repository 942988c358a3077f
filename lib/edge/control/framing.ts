/**
 * drachtio control framing: `<length>#<body>`, the length in bytes (UTF-8) of the body, at most
 * five digits as drachtio-server reads it.
 */
export class ControlFramingError extends Error {}

export const MAX_LENGTH_DIGITS = 5;

export function frameControlMessage(body: string): Buffer {
  const b = Buffer.from(body, 'utf8');
  return Buffer.concat([Buffer.from(`${b.length}#`, 'latin1'), b]);
}

export class ControlFramer {
  private buf: Buffer = Buffer.alloc(0);

  push(data: Buffer): string[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    const out: string[] = [];
    for (let guard = 0; guard < 100000; guard++) {
      if (this.buf.length === 0) break;
      const hash = this.buf.indexOf(0x23 /* # */);
      const digitsSeen = hash < 0 ? this.buf.length : hash;
      for (let i = 0; i < Math.min(digitsSeen, MAX_LENGTH_DIGITS + 1); i++) {
        const c = this.buf[i];
        if (c < 0x30 || c > 0x39) throw new ControlFramingError('invalid message length specifier');
      }
      if (digitsSeen > MAX_LENGTH_DIGITS || hash === 0) throw new ControlFramingError('invalid message length specifier');
      if (hash < 0) break;
      const len = Number(this.buf.toString('latin1', 0, hash));
      if (len <= 0) throw new ControlFramingError('invalid message length');
      if (this.buf.length < hash + 1 + len) break;
      out.push(this.buf.toString('utf8', hash + 1, hash + 1 + len));
      this.buf = this.buf.subarray(hash + 1 + len);
    }
    return out;
  }
}
