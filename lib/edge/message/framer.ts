import { ParseError, partialFromHead } from './parser';

/**
 * Cuts a TCP byte stream into SIP messages by Content-Length (RFC 3261 §18.3), counting bytes.
 * Keep-alive CRLFs between messages are skipped. A stream whose framing is ambiguous throws (the
 * connection is then closed), carrying what was readable so the request can be answered 400.
 */
export class StreamFramer {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageBytes: number) {}

  /** Bytes received but not yet forming a whole message. */
  get pending(): number { return this.buf.length; }

  /** Appends data and returns the whole messages now available. Throws ParseError when the stream is unusable. */
  push(data: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    const out: Buffer[] = [];
    for (let guard = 0; guard < 10000; guard++) {
      let start = 0;
      while (start < this.buf.length && (this.buf[start] === 13 || this.buf[start] === 10)) start++;
      if (start > 0) this.buf = this.buf.subarray(start);
      if (this.buf.length === 0) break;
      const end = this.buf.indexOf('\r\n\r\n', 0, 'latin1');
      if (end < 0) {
        if (this.buf.length > this.maxMessageBytes) throw new ParseError(413, 'headers too large');
        break;
      }
      const head = this.buf.toString('latin1', 0, end);
      const declared = head.match(/(?:^|\r\n)(?:content-length|l)[ \t]*:/gi)?.length ?? 0;
      // two lengths: the rest of the stream could be framed either way (request smuggling)
      if (declared > 1) throw new ParseError(400, 'more than one Content-Length', partialFromHead(head));
      const m = /(?:^|\r\n)(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*(?=\r\n|$)/i.exec(head);
      const bodyLen = m ? Number(m[1]) : 0;
      if (!m && declared > 0) throw new ParseError(400, 'bad Content-Length', partialFromHead(head));
      const total = end + 4 + bodyLen;
      if (total > this.maxMessageBytes) throw new ParseError(413, 'message too large');
      if (this.buf.length < total) break;
      out.push(Buffer.from(this.buf.subarray(0, total)));
      this.buf = this.buf.subarray(total);
    }
    return out;
  }
}
