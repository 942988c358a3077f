import { strict as assert } from 'node:assert';
import { recoveredCdr } from '../../../app/calls/recovered-cdr';
import type { RecoveredCall } from '../../../lib/prepaid';

function recovered(rating: string | null, dialogs: string[] = ['abc@pbx;from-tag=1', 'out-1;from-tag=2']): RecoveredCall {
  const at = new Date('2026-12-01T10:00:00Z');
  return {
    answered: true, billableSeconds: 42, charged: 420000n, ledgerKey: 'call:c1:settle', endAt: new Date('2026-12-01T10:00:47Z'),
    reservation: {
      id: 1, accountId: 7, extraHolds: [], callId: 'c1', mode: 'reserved', state: 'recovered', amount: 3000000n, grantedSeconds: 300,
      answeredAt: new Date('2026-12-01T10:00:05Z'), ownerInstance: 'dead-1', checkpointSeconds: 40, checkpointAmount: 400000n,
      checkpointAt: null, settledSeconds: 42, charged: 420000n, recovery: rating === null ? null : { dialogs, rating },
      createdAt: at, updatedAt: at,
    },
  };
}

describe('the CDR of a call recovered from a lost instance', () => {
  it('carries the numbers, trunks, tariff and SIP Call-ID the lost instance stored at answer', () => {
    const rating = JSON.stringify({
      attributes: { service: 'voice.offnet', destination: '493055512' },
      cdr: {
        sipCallId: 'abc@pbx', inviteAt: '2026-12-01T10:00:01.000Z', callerDialled: '201', callerE164: '4930100201', calleeDialled: '9030555',
        calleeE164: '493055512', presentedCaller: null, scope: 'offnet', service: 'voice.offnet', vpnGroup: 'acme', ingressTrunk: 'pbx',
        egressTrunk: 'carrier', ruleId: 3, tariffId: 4, currency: 'EUR',
      },
    });
    const cdr = recoveredCdr(recovered(rating), 'me');
    assert.equal(cdr.sipCallId, 'abc@pbx');
    assert.equal(cdr.callerE164, '4930100201');
    assert.equal(cdr.egressTrunk, 'carrier');
    assert.equal(cdr.tariffId, 4);
    assert.equal(cdr.currency, 'EUR');
    assert.equal(cdr.inviteAt.toISOString(), '2026-12-01T10:00:01.000Z');
    assert.equal(cdr.endAt.toISOString(), '2026-12-01T10:00:47.000Z');
    assert.equal(cdr.cost, 420000n);
    assert.equal(cdr.billableSeconds, 42);
    assert.equal(cdr.releaseCause, 'instance_lost');
  });

  it('takes the SIP Call-ID from the caller leg\'s dialog id when only the rating attributes were stored', () => {
    const cdr = recoveredCdr(recovered(JSON.stringify({ attributes: { service: 'voice.onnet', destination: '1' } }), ['x;y@pbx;from-tag=9', 'o;from-tag=2']), 'me');
    assert.equal(cdr.sipCallId, 'x;y@pbx');
    assert.equal(cdr.callerE164, null);
  });

  it('an unreadable stored record still gives a CDR, without the fields it cannot know', () => {
    const cdr = recoveredCdr(recovered('{not json'), 'me');
    assert.equal(cdr.sipCallId, 'abc@pbx');
    assert.equal(cdr.scope, null);
    assert.equal(cdr.cost, 420000n);
  });
});
