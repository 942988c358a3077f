import assert from 'node:assert/strict';
import { CallState, type LiveCallView, type ReleaseCause } from '../../../app/calls/call-session';
import { callsToEnd, SuspensionWatch, type SuspendPolicy } from '../../../app/calls/suspensions';
import { silentLogger } from '../../../lib/common/logger';

const call = (callId: string, accountId: number | null, vpnGroup: string | null): LiveCallView => ({
  callId, state: CallState.Answered, caller: '4930100201', callee: '4930100202', scope: 'onnet', inviteAt: new Date(), answerAt: new Date(),
  grantedSeconds: 30, remainingSeconds: 20, sipCallId: `${callId}@x`, accountId, ingressTrunk: 'pbx', egressTrunk: 'pbx', currency: 'EUR', reserved: 1n, spent: 0n, vpnGroup,
});

describe('suspension of accounts and groups: which live calls end', () => {
  const accounts = new Map([[1, 'active'], [2, 'suspended'], [3, 'closed']]);
  const groups: Record<string, string> = { acme: 'active', beta: 'suspended', gamma: 'closed' };
  const cases: Array<[string, LiveCallView, string | undefined]> = [
    ['an active account in an active group goes on', call('a', 1, 'acme'), undefined],
    ['a suspended account ends', call('b', 2, 'acme'), 'account 2 is suspended'],
    ['a closed account ends', call('c', 3, null), 'account 3 is closed'],
    ['a suspended group ends its members\' calls', call('d', 1, 'beta'), 'group beta is suspended'],
    ['a closed group too', call('e', 1, 'gamma'), 'group gamma is closed'],
    ['a group no longer in the directory does not end calls by itself', call('f', 1, 'gone'), undefined],
    ['an account that is gone does not end calls by itself', call('g', 99, null), undefined],
  ];
  for (const [why, c, expected] of cases) {
    it(why, () => assert.equal(callsToEnd([c], accounts, (code) => groups[code])[0]?.why, expected));
  }
});

describe('the suspension watch', () => {
  for (const policy of ['now', 'end_of_grant'] as SuspendPolicy[]) {
    it(`ends each concerned call once, ${policy === 'now' ? 'at once' : 'at the end of its grant'}, and leaves the others`, async () => {
      const ended: Array<[string, string, ReleaseCause]> = [];
      const status = new Map([[1, 'active'], [2, 'suspended']]);
      const watch = new SuspensionWatch({
        liveCalls: () => [call('x', 1, 'acme'), call('y', 2, 'acme')],
        endNow: async (id, cause) => { ended.push(['now', id, cause]); return true; },
        endAtGrant: (id, cause) => { ended.push(['grant', id, cause]); return true; },
        accountStatuses: async (ids) => new Map(ids.filter((id) => status.has(id)).map((id) => [id, status.get(id)!])),
        groupStatus: () => 'active',
      }, policy, 1000, silentLogger());
      assert.equal(await watch.sweep(), 1);
      assert.equal(await watch.sweep(), 0, 'acted on once');
      assert.deepEqual(ended, [[policy === 'now' ? 'now' : 'grant', 'y', 'suspended']]);
    });
  }
});
