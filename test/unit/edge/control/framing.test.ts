import assert from 'node:assert/strict';
import { ControlFramer, ControlFramingError, frameControlMessage } from '../../../../lib/edge/control/framing';

describe('drachtio control framing', () => {
  it('frames with the body length in UTF-8 bytes', () => {
    assert.equal(frameControlMessage('a|é').toString('utf8'), '4#a|é');
  });

  it('reads messages split anywhere, including inside the length and multi-byte characters', () => {
    const wire = Buffer.concat([frameControlMessage('id1|ping'), frameControlMessage('id2|sip||\r\nINFO sip:€ SIP/2.0')]);
    for (let chunk = 1; chunk <= wire.length; chunk += 3) {
      const f = new ControlFramer();
      const out: string[] = [];
      for (let i = 0; i < wire.length; i += chunk) out.push(...f.push(wire.subarray(i, i + chunk)));
      assert.deepEqual(out, ['id1|ping', 'id2|sip||\r\nINFO sip:€ SIP/2.0']);
    }
  });

  for (const bad of ['abc#x', '123456#x', '#x', '0#']) {
    it(`refuses the length specifier in '${bad}'`, () => {
      assert.throws(() => new ControlFramer().push(Buffer.from(bad)), ControlFramingError);
    });
  }
});
