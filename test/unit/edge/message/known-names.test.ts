import assert from 'node:assert/strict';
import { canonicalHeaderName, normalizeHeaderName } from '../../../../lib/edge/message/headers';
import { parseMessage } from '../../../../lib/edge/message/parser';
import { parseFromOrTo, tagOf } from '../../../../lib/edge/message/uri';

describe('header names and tags worked out once', () => {
  it('normalizes and spells header names the same on every call, past the bound of names kept', () => {
    for (let round = 0; round < 2; round++) {
      assert.equal(normalizeHeaderName('v'), 'via');
      assert.equal(normalizeHeaderName(' Call-ID '), 'call-id');
      assert.equal(normalizeHeaderName('Content-Length'), 'content-length');
      assert.equal(canonicalHeaderName('x-account-ref'), 'X-Account-Ref');
      assert.equal(canonicalHeaderName('call-id'), 'Call-ID');
    }
    // Names from the network without end: each past the bound is still worked out right.
    for (let i = 0; i < 2500; i++) {
      assert.equal(normalizeHeaderName(`X-Probe-${i}`), `x-probe-${i}`);
      assert.equal(canonicalHeaderName(`x-probe-${i}`), `X-Probe-${i}`);
    }
    assert.equal(normalizeHeaderName('F'), 'from');
    assert.equal(normalizeHeaderName('X-New-After-Bound'), 'x-new-after-bound');
  });

  it('gives the tag of a From or To value read again, and of values past the bound of those kept', () => {
    assert.equal(tagOf('<sip:a@example.com>;tag=abc'), 'abc');
    assert.equal(tagOf('<sip:a@example.com>;tag=abc'), 'abc');
    assert.equal(tagOf('<sip:a@example.com>'), null);
    assert.equal(tagOf('<sip:a@example.com>'), null);
    assert.equal(tagOf('not an address <'), null);
    assert.equal(tagOf('not an address <'), null);
    assert.equal(tagOf(undefined), null);
    assert.equal(tagOf(''), null);
    for (let i = 0; i < 1000; i++) assert.equal(tagOf(`"N ${i}" <sip:${i}@example.com>;tag=t${i}`), `t${i}`);
    for (let i = 0; i < 1000; i += 7) assert.equal(tagOf(`"N ${i}" <sip:${i}@example.com>;tag=t${i}`), `t${i}`);
  });

  it("gives a parsed message's own From and To tags, read again after its validation, and none for a value that does not parse", () => {
    const from = '<sip:alice@example.com>;tag=from-1';
    const to = '<sip:bob@example.com>;tag=to-9';
    const m = parseMessage(Buffer.from([
      'BYE sip:bob@192.0.2.2 SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-known', `From: ${from}`, `To: ${to}`,
      'Call-ID: known-1', 'CSeq: 2 BYE', 'Content-Length: 0', '', ''].join('\r\n')));
    assert.equal(tagOf(m.get('from')), 'from-1');
    assert.equal(tagOf(m.get('to')), 'to-9');
    assert.equal(parseFromOrTo(from).params.get('tag'), 'from-1');
    assert.throws(() => parseFromOrTo('<sip:bad'), /unterminated/);
    assert.equal(tagOf('<sip:bad'), null);
  });
});
