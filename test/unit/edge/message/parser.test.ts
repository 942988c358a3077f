import assert from 'node:assert/strict';
import { StreamFramer } from '../../../../lib/edge/message/framer';
import { ParseError, parseAppMessage, parseMessage } from '../../../../lib/edge/message/parser';
import { formatUri, parseNameAddr, parseParams, parseUri, parseVia, toNameAddrForm } from '../../../../lib/edge/message/uri';

const CRLF = '\r\n';
const msg = (...lines: string[]) => Buffer.from(lines.join(CRLF), 'utf8');
const BASE = ['Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds', 'From: <sip:a@example.com>;tag=1928301774',
  'To: <sip:b@example.com>', 'Call-ID: a84b4c76e66710', 'CSeq: 314159 INVITE', 'Max-Forwards: 70'];

describe('SIP message parser (cases in the spirit of RFC 4475)', () => {
  it('reads compact header names, folded lines, and comma-separated Via values as separate entries', () => {
    const m = parseMessage(msg('INVITE sip:b@example.com SIP/2.0',
      'v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1, SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bK2',
      'f: "Alice \\"the\\" Caller" <sip:a@example.com>;tag=x', 't: <tel:+4930123456>', 'i: abc',
      'CSeq: 1', '  INVITE', 'Subject: first', '\tsecond', 'l: 4', '', 'body'));
    assert.equal(m.getAll('via').length, 2);
    assert.equal(parseVia(m.getAll('via')[1]).host, '2001:db8::9');
    assert.equal(parseVia(m.getAll('via')[1]).port, 5061);
    assert.equal(m.get('cseq'), '1 INVITE');
    assert.equal(m.get('subject'), 'first second');
    assert.equal(parseNameAddr(m.get('from') as string).displayName, '"Alice \\"the\\" Caller"');
    assert.equal(parseNameAddr(m.get('to') as string).uri.user, '+4930123456');
    assert.equal(m.body.toString(), 'body');
  });

  it('counts Content-Length in bytes, not characters', () => {
    const body = 'é€';  // 2 + 3 bytes
    const m = parseMessage(Buffer.concat([msg('MESSAGE sip:b@example.com SIP/2.0', ...BASE.map((l) => l.replace('INVITE', 'MESSAGE')), 'Content-Length: 5', '', ''), Buffer.from(body)]));
    assert.equal(m.body.toString('utf8'), body);
    assert.match(m.toString(), /Content-Length: 5\r\n/);
  });

  it('keeps commas inside quoted strings and angle brackets in one Contact', () => {
    const m = parseMessage(msg('INVITE sip:b@example.com SIP/2.0', ...BASE, 'Contact: "Doe, John" <sip:j@h;lr>;q=0.5, <sip:k@h>', 'Content-Length: 0', '', ''));
    assert.deepEqual(m.getAll('contact'), ['"Doe, John" <sip:j@h;lr>;q=0.5', '<sip:k@h>']);
  });

  it('is case-insensitive for header names', () => {
    const m = parseMessage(msg('OPTIONS sip:b@example.com SIP/2.0', ...BASE.map((l) => l.toUpperCase().replace('INVITE', 'OPTIONS').replace(/^(\w[\w-]*):/, (x) => x.toLowerCase())), 'CONTENT-LENGTH: 0', '', ''));
    assert.ok(m.get('Call-Id'));
  });

  const refusals: Array<[string, Buffer, number]> = [
    ['a missing Call-ID', msg('INVITE sip:b@example.com SIP/2.0', ...BASE.filter((l) => !l.startsWith('Call-ID')), 'Content-Length: 0', '', ''), 400],
    ['a Content-Length larger than the body', msg('INVITE sip:b@example.com SIP/2.0', ...BASE, 'Content-Length: 50', '', 'short'), 400],
    ['a negative Content-Length', msg('INVITE sip:b@example.com SIP/2.0', ...BASE, 'Content-Length: -4', '', ''), 400],
    ['a CSeq method that differs from the request', msg('BYE sip:b@example.com SIP/2.0', ...BASE, 'Content-Length: 0', '', ''), 400],
    ['an unterminated quoted display name', msg('INVITE sip:b@example.com SIP/2.0', ...BASE.map((l) => l.replace('From: <', 'From: "bad <')), 'Content-Length: 0', '', ''), 400],
    ['an unterminated IPv6 reference', msg('INVITE sip:b@[2001:db8::1 SIP/2.0', ...BASE, '', ''), 400],
    ['SIP version 7', msg('INVITE sip:b@example.com SIP/7.0', ...BASE, 'Content-Length: 0', '', ''), 505],
    ['a message with no blank line', msg('INVITE sip:b@example.com SIP/2.0', ...BASE), 400],
    ['a header line without a colon', msg('INVITE sip:b@example.com SIP/2.0', ...BASE, 'Garbage here', '', ''), 400],
    ['too many headers', msg('INVITE sip:b@example.com SIP/2.0', ...BASE, ...Array.from({ length: 200 }, (_v, i) => `X-${i}: y`), '', ''), 413],
    ['an oversized message', Buffer.concat([msg('INVITE sip:b@example.com SIP/2.0', ...BASE, 'Content-Length: 70000', '', ''), Buffer.alloc(70000, 65)]), 413],
    ['binary garbage', Buffer.from([0, 1, 2, 255, 254, 13, 10, 13, 10]), 400],
  ];
  for (const [name, buf, status] of refusals) {
    it(`refuses ${name} with ${status}`, () => {
      assert.throws(() => parseMessage(buf), (e: unknown) => e instanceof ParseError && e.status === status);
    });
  }

  it('keeps enough of a refused request to answer it when its dialog headers are there', () => {
    try {
      parseMessage(msg('INVITE sip:b@example.com SIP/2.0', ...BASE, 'Content-Length: 99', '', 'x'));
      assert.fail('should throw');
    } catch (e) {
      assert.ok(e instanceof ParseError && e.partial && e.partial.get('call-id') === 'a84b4c76e66710');
    }
  });

  it('parses sip:, sips: and tel: URIs with IPv6 hosts, parameters and headers, and writes them back', () => {
    const table: Array<[string, Partial<{ user: string | null; host: string; port: number | null }>]> = [
      ['sip:alice@atlanta.com;transport=tcp', { user: 'alice', host: 'atlanta.com', port: null }],
      ['sips:bob:secret@[2001:db8::10]:5061;lr?subject=x', { user: 'bob', host: '2001:db8::10', port: 5061 }],
      ['sip:192.0.2.4', { user: null, host: '192.0.2.4' }],
      ['tel:+1-201-555-0123;phone-context=example.com', { user: '+1-201-555-0123', host: '' }],
    ];
    for (const [text, expected] of table) {
      const u = parseUri(text);
      for (const [k, v] of Object.entries(expected)) assert.equal((u as unknown as Record<string, unknown>)[k], v, `${text} ${k}`);
      assert.equal(formatUri(u), text);
    }
    assert.throws(() => parseUri('http://example.com'));
    assert.throws(() => parseUri('sip:a@host:99999'));
  });

  it('allows whitespace around ; and = in parameters and refuses empty parameters', () => {
    const na = parseNameAddr('<sip:x@h> ;  tag = 1');
    assert.equal(na.params.get('tag'), '1');
    assert.equal(parseNameAddr('sip:x@h ;   tag    = 19').params.get('tag'), '19');
    for (const bad of [';;', ';a;;b', ';a;', '; ;x', ';a=1 junk']) assert.throws(() => parseParams(bad), bad);
    assert.throws(() => parseNameAddr('"Joe" <sip:joe@example.org>;;;;'));
  });

  it('reads a ? in the user part of a URI as part of the user, and headers after the host', () => {
    const u = parseUri('sip:-TXDOTFILE?x@host');
    assert.equal(u.user, '-TXDOTFILE?x');
    assert.equal(u.host, 'host');
    assert.equal(u.headers, null);
    assert.equal(parseUri('sip:a?b@h?subject=x').headers, 'subject=x');
  });

  it('writes an addr-spec Contact as name-addr, keeping URI parameters inside the brackets', () => {
    assert.equal(toNameAddrForm('sip:sipp@127.0.0.1:5060'), '<sip:sipp@127.0.0.1:5060>');
    assert.equal(toNameAddrForm('sip:a@h;transport=tcp;expires=60;+sip.instance="x"'), '<sip:a@h;transport=tcp>;expires=60;+sip.instance="x"');
    assert.equal(toNameAddrForm('"A" <sip:a@h>;q=1'), '"A" <sip:a@h>;q=1');
    assert.equal(toNameAddrForm('*'), '*');
  });

  const refusedWithAnswer: Array<[string, Buffer, number]> = [
    ['two Content-Length headers', msg('OPTIONS sip:b@example.com SIP/2.0', ...BASE.map((l) => l.replace('INVITE', 'OPTIONS')), 'Content-Length: 0', 'l: 0', '', ''), 400],
    ['empty Via entries', msg('OPTIONS sip:b@example.com SIP/2.0', ...BASE.map((l) => l.replace('INVITE', 'OPTIONS').replace('z9hG4bK776asdhds', 'z9hG4bK1;;,;,,')), 'l: 0', '', ''), 400],
    ['a request-line with two spaces', msg('OPTIONS  sip:b@example.com SIP/2.0', ...BASE.map((l) => l.replace('INVITE', 'OPTIONS')), 'l: 0', '', ''), 400],
    ['a request-URI in angle brackets', msg('OPTIONS <sip:b@example.com> SIP/2.0', ...BASE.map((l) => l.replace('INVITE', 'OPTIONS')), 'l: 0', '', ''), 400],
    ['an unknown request-URI scheme', msg('OPTIONS soap.beep://192.0.2.1:3002 SIP/2.0', ...BASE.map((l) => l.replace('INVITE', 'OPTIONS')), 'l: 0', '', ''), 416],
    ['SIP/7.0 in the request-line', msg('OPTIONS sip:b@example.com SIP/7.0', ...BASE.map((l) => l.replace('INVITE', 'OPTIONS')), 'l: 0', '', ''), 505],
    ['two From headers', msg('OPTIONS sip:b@example.com SIP/2.0', ...BASE.map((l) => l.replace('INVITE', 'OPTIONS')), 'From: <sip:c@example.com>;tag=2', 'l: 0', '', ''), 400],
  ];
  for (const [name, buf, status] of refusedWithAnswer) {
    it(`refuses ${name} with ${status} and keeps what a response needs`, () => {
      assert.throws(() => parseMessage(buf), (e: unknown) => e instanceof ParseError && e.status === status && e.partial?.get('call-id') === 'a84b4c76e66710');
    });
  }

  it('parses what an application sends (no Via, body counted in characters)', () => {
    const m = parseAppMessage('INVITE sip:b@h SIP/2.0\r\ncontent-length: 2\r\nfrom: <sip:a@localhost>\r\n\r\né€');
    assert.equal(m.body.toString('utf8'), 'é€');
    assert.equal(m.get('from'), '<sip:a@localhost>');
  });
});

describe('TCP stream framer', () => {
  const one = msg('OPTIONS sip:b@h SIP/2.0', ...BASE, 'Content-Length: 3', '', 'abc');

  it('cuts messages split at any byte and joined back to back, skipping keep-alive CRLFs', () => {
    const stream = Buffer.concat([Buffer.from('\r\n\r\n'), one, one, Buffer.from('\r\n'), one]);
    for (const chunk of [1, 7, 64, stream.length]) {
      const f = new StreamFramer(65535);
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += chunk) out.push(...f.push(stream.subarray(i, i + chunk)));
      assert.equal(out.length, 3, `chunk ${chunk}`);
      assert.ok(out.every((b) => b.equals(one)));
      assert.equal(f.pending, 0);
    }
  });

  it('counts the body in bytes', () => {
    const m = Buffer.concat([msg('MESSAGE sip:b@h SIP/2.0', 'l: 3', '', ''), Buffer.from('€')]);
    const f = new StreamFramer(65535);
    assert.equal(f.push(Buffer.concat([m, m])).length, 2);
  });

  it('refuses a stream message with two Content-Lengths (the rest could be framed either way), keeping its head', () => {
    const f = new StreamFramer(65535);
    const smuggled = msg('OPTIONS sip:b@h SIP/2.0', ...BASE.map((l) => l.replace('INVITE', 'OPTIONS')), 'Content-Length: 0', 'Content-Length: 40', '', '');
    assert.throws(() => f.push(smuggled), (e: unknown) => e instanceof ParseError && e.status === 400 && e.partial?.method === 'OPTIONS');
  });

  it('refuses a message whose headers never end within the size limit', () => {
    const f = new StreamFramer(1000);
    assert.throws(() => f.push(Buffer.alloc(2000, 65)), (e: unknown) => e instanceof ParseError && e.status === 413);
  });
});
