import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import {
  MediaPolicy, callFacts, mixCommand, remainingCallSeconds, renderPrompt, spokenMinutes, warningDelayMs,
  type CallFacts, type MediaRules, type MediaSelection, type Prompt,
} from '../../../lib/media';
import type { Grant } from '../../../lib/prepaid';
import type { CallResolution } from '../../../lib/vpn';
import { mediaSchema } from '../../../app/config/media';
import { configSchema } from '../../../app/config/schema';

const ANY: MediaSelection = { accountKinds: null, accounts: null, groups: null, scopes: null };
const NO_CREDIT: Prompt = [{ file: '/sounds/no-credit.wav' }];
const REMAINING: Prompt = [{ file: '/sounds/you-have.wav' }, { say: '{minutes}', language: 'en', type: 'number', method: 'pronounced' }, { file: '/sounds/minutes.wav' }];
const WARNING: Prompt = [{ file: '/sounds/one-minute-left.wav' }];

function rules(over: Partial<MediaRules> = {}): MediaRules {
  return {
    select: { ...ANY, accountKinds: ['prepaid'] },
    noCredit: { enabled: true, mode: 'early', prompt: NO_CREDIT },
    remainingTime: { enabled: true, when: 'before_connect', prompt: REMAINING },
    warning: { enabled: true, secondsBefore: 30, callee: false, prompt: WARNING },
    ...over,
  };
}

const facts = (over: Partial<CallFacts> = {}): CallFacts => ({ accountId: 7, accountKind: 'prepaid', group: 'acme', scope: 'offnet', ...over });

describe('media policy: which calls get media', () => {
  const table: Array<[string, MediaSelection, CallFacts, boolean]> = [
    ['any call when nothing is restricted', ANY, facts({ accountKind: null, accountId: null, group: null, scope: null }), true],
    ['a prepaid call when prepaid only', { ...ANY, accountKinds: ['prepaid'] }, facts(), true],
    ['not a postpaid call when prepaid only', { ...ANY, accountKinds: ['prepaid'] }, facts({ accountKind: 'postpaid' }), false],
    ['not a call of unknown kind when prepaid only', { ...ANY, accountKinds: ['prepaid'] }, facts({ accountKind: null }), false],
    ['a listed account', { ...ANY, accounts: [3, 7] }, facts(), true],
    ['not an unlisted account', { ...ANY, accounts: [3] }, facts(), false],
    ['a listed group', { ...ANY, groups: ['acme'] }, facts(), true],
    ['not a caller outside every group when groups are listed', { ...ANY, groups: ['acme'] }, facts({ group: null }), false],
    ['a listed scope', { ...ANY, scopes: ['offnet', 'public'] }, facts(), true],
    ['not an on-net call when off-net only', { ...ANY, scopes: ['offnet'] }, facts({ scope: 'onnet' }), false],
    ['every list must hold: kind and group both match', { ...ANY, accountKinds: ['prepaid'], groups: ['acme'] }, facts(), true],
    ['every list must hold: kind matches, group does not', { ...ANY, accountKinds: ['prepaid'], groups: ['other'] }, facts(), false],
  ];
  for (const [name, select, call, expected] of table) {
    it(`${expected ? 'selects' : 'leaves out'} ${name}`, () => {
      assert.equal(new MediaPolicy(rules({ select })).selects(call), expected);
    });
  }
});

describe('media policy: the no-credit announcement', () => {
  const table: Array<[string, Partial<MediaRules>, string, CallFacts, 'early' | 'answer' | null]> = [
    ['no money: early media then the refusal', {}, 'INSUFFICIENT_FUNDS', facts(), 'early'],
    ['answer mode when configured', { noCredit: { enabled: true, mode: 'answer', prompt: NO_CREDIT } }, 'INSUFFICIENT_FUNDS', facts(), 'answer'],
    ['a postpaid credit limit, when postpaid calls are selected', { select: ANY }, 'CREDIT_LIMIT', facts({ accountKind: 'postpaid' }), 'early'],
    ['not a call limit (486)', {}, 'CALL_LIMIT', facts(), null],
    ['not a database outage (503)', {}, 'DB_UNAVAILABLE', facts(), null],
    ['not an unknown account', {}, 'NO_ACCOUNT', facts({ accountKind: null }), null],
    ['not when switched off', { noCredit: { enabled: false, mode: 'early', prompt: NO_CREDIT } }, 'INSUFFICIENT_FUNDS', facts(), null],
    ['not without a no-credit section', { noCredit: null }, 'INSUFFICIENT_FUNDS', facts(), null],
    ['not for a caller the selection leaves out', { select: { ...ANY, groups: ['other'] } }, 'INSUFFICIENT_FUNDS', facts(), null],
  ];
  for (const [name, over, code, call, mode] of table) {
    it(name, () => {
      assert.equal(new MediaPolicy(rules(over)).refusal(code, call)?.mode ?? null, mode);
    });
  }
});

describe('media policy: what an admitted call gets', () => {
  const table: Array<[string, Partial<MediaRules>, { anchor: boolean; remaining: string | null; warning: boolean } | null]> = [
    ['a warning anchors both legs', { remainingTime: null }, { anchor: true, remaining: null, warning: true }],
    ['remaining time before connecting alone leaves media end to end', { warning: null }, { anchor: false, remaining: 'before_connect', warning: false }],
    ['remaining time at answer anchors', { warning: null, remainingTime: { enabled: true, when: 'at_answer', prompt: REMAINING } }, { anchor: true, remaining: 'at_answer', warning: false }],
    ['both', {}, { anchor: true, remaining: 'before_connect', warning: true }],
    ['nothing enabled: no media at all', { warning: { enabled: false, secondsBefore: 30, callee: false, prompt: WARNING }, remainingTime: null }, null],
    ['no-credit alone gives admitted calls nothing', { warning: null, remainingTime: null }, null],
  ];
  for (const [name, over, expected] of table) {
    it(name, () => {
      const plan = new MediaPolicy(rules(over)).planFor(facts());
      assert.deepEqual(plan && { anchor: plan.anchor, remaining: plan.remainingTime?.when ?? null, warning: plan.warning !== null }, expected);
    });
  }
  it('a call the selection leaves out keeps end-to-end media and hears nothing', () => {
    assert.equal(new MediaPolicy(rules()).planFor(facts({ accountKind: 'postpaid' })), null);
  });
});

describe('media policy: when the warning plays', () => {
  const answer = 1_000_000;
  const table: Array<[string, { grantedSeconds: number; final: boolean }, number, number, number | null]> = [
    ['30 s before the end of a final 120 s grant', { grantedSeconds: 120, final: true }, 30, answer, 90_000],
    ['measured from now, not from the answer', { grantedSeconds: 120, final: true }, 30, answer + 60_000, 30_000],
    ['at once when the final grant is shorter than the lead', { grantedSeconds: 20, final: true }, 30, answer, 0],
    ['at once when less than the lead is left', { grantedSeconds: 120, final: true }, 30, answer + 100_000, 0],
    ['never for a grant that will be extended', { grantedSeconds: 120, final: false }, 30, answer, null],
    ['never once the grant is over', { grantedSeconds: 120, final: true }, 30, answer + 120_000, null],
  ];
  for (const [name, grant, lead, now, expected] of table) {
    it(name, () => assert.equal(warningDelayMs(grant, answer, lead, now), expected));
  }
});

describe('media policy: the remaining time told to the caller', () => {
  const perSecond = { maxSeconds: (money: bigint) => Number(money / 1000n) }; // 0.001 a second
  const grant = (over: Partial<{ grantedSeconds: number; final: boolean; reserved: bigint }> = {}) => ({ grantedSeconds: 300, final: false, reserved: 300_000n, ...over });
  const table: Array<[string, ReturnType<typeof grant>, { balance: bigint; creditLimit: bigint; reserved: bigint } | null, number]> = [
    ['a final grant is all the money buys', grant({ grantedSeconds: 95, final: true, reserved: 95_000n }), null, 95],
    ['otherwise the money left plus what this call holds', grant(), { balance: 1_000_000n, creditLimit: 0n, reserved: 300_000n }, 1000],
    ['other live calls\' reservations are not promised', grant(), { balance: 1_000_000n, creditLimit: 0n, reserved: 500_000n }, 800],
    ['never less than the grant in hand (account unreadable)', grant(), null, 300],
  ];
  for (const [name, g, account, seconds] of table) {
    it(name, () => assert.equal(remainingCallSeconds(g, account, perSecond), seconds));
  }
  const minutes: Array<[number, number]> = [[0, 0], [59, 0], [60, 1], [119, 1], [1000, 16], [-5, 0]];
  for (const [s, m] of minutes) it(`${s} s is spoken as ${m} minutes (rounded down)`, () => assert.equal(spokenMinutes(s), m));
});

describe('media prompts: what FreeSWITCH is asked to play', () => {
  it('renders each kind of part to its dialplan application', () => {
    assert.deepEqual(renderPrompt([
      { file: '/s/a.wav' }, { tone: '%(500,500,440)' },
      { say: '{minutes}', language: 'de', type: 'number', method: 'pronounced' },
      { speak: 'You have {minutes} minutes and {seconds} seconds', engine: 'flite', voice: 'kal' },
    ], { minutes: 16, seconds: 1000 }), [
      { app: 'playback', arg: '/s/a.wav' }, { app: 'playback', arg: 'tone_stream://%(500,500,440)' },
      { app: 'say', arg: 'de number pronounced 16' }, { app: 'speak', arg: 'flite|kal|You have 16 minutes and 1000 seconds' },
    ]);
  });
  it('mixes files and tones into a running channel, bounded', () => {
    assert.equal(mixCommand('ab-12', { file: '/s/w.wav' }, 29.1), 'uuid_displace ab-12 start /s/w.wav 30 mux');
    assert.equal(mixCommand('ab-12', { tone: '%(200,0,880)' }, 0.2), 'uuid_displace ab-12 start tone_stream://%(200,0,880) 1 mux');
    assert.equal(mixCommand('ab-12', { file: '/s/w.wav' }, 1.004), 'uuid_displace ab-12 start /s/w.wav 1 mux', 'a timer a few ms early does not add a second');
    assert.equal(mixCommand('ab-12', { file: '/s/w.wav' }, 1.2), 'uuid_displace ab-12 start /s/w.wav 2 mux');
    assert.throws(() => mixCommand('ab-12', { speak: 'x', engine: 'flite', voice: 'kal' }, 5), /only files and tones/);
    assert.throws(() => mixCommand('ab 12; hupall', { file: '/s/w.wav' }, 5), /not a channel uuid/);
    assert.throws(() => mixCommand('ab-12', { file: '/s/my warning.wav' }, 5), /white space/);
  });
  it('refuses at start a placeholder an announcement cannot fill, and a warning that cannot be mixed', () => {
    assert.throws(() => new MediaPolicy(rules({ noCredit: { enabled: true, mode: 'early', prompt: [{ speak: 'you have {minutes}', engine: 'flite', voice: 'kal' }] } })), /noCredit.prompt names \{minutes\}/);
    assert.throws(() => new MediaPolicy(rules({ remainingTime: { enabled: true, when: 'at_answer', prompt: [{ speak: '{cents} left', engine: 'flite', voice: 'kal' }] } })), /\{cents\}/);
    assert.throws(() => new MediaPolicy(rules({ warning: { enabled: true, secondsBefore: 30, callee: false, prompt: [{ file: '/a b.wav' }] } })), /white space/);
  });
});

describe('media facts of a call', () => {
  const resolution = { scope: 'offnet', caller: { e164: '4930100201', accountId: 7, groupCode: 'acme' } } as unknown as CallResolution;
  const table: Array<[string, Grant | undefined, string | undefined, CallFacts['accountKind']]> = [
    ['a reserved grant is a prepaid call', { mode: 'reserved' } as Grant, undefined, 'prepaid'],
    ['an offline grant is a prepaid call', { mode: 'offline' } as Grant, undefined, 'prepaid'],
    ['a postpaid grant is a postpaid call', { mode: 'postpaid' } as Grant, undefined, 'postpaid'],
    ['a refusal for funds is a prepaid caller', undefined, 'INSUFFICIENT_FUNDS', 'prepaid'],
    ['a refusal for the credit limit is a postpaid caller', undefined, 'CREDIT_LIMIT', 'postpaid'],
    ['any other refusal: kind unknown', undefined, 'CALL_LIMIT', null],
  ];
  for (const [name, grant, code, kind] of table) {
    it(name, () => assert.deepEqual(callFacts(resolution, grant, code), { accountId: 7, accountKind: kind, group: 'acme', scope: 'offnet' }));
  }
});

describe('media config section', () => {
  it('needs only the event socket and the prompts it uses; the rest has defaults', () => {
    const m = mediaSchema.parse({ freeswitch: { address: '127.0.0.1', secret: 'ClueCon' }, warning: { prompt: [{ file: '/s/w.wav' }] } });
    assert.equal(m.freeswitch.port, 8021);
    assert.equal(m.freeswitch.profile, 'drachtio_mrf');
    assert.deepEqual(m.select, { accountKinds: ['prepaid'], accounts: null, groups: null, scopes: null });
    assert.deepEqual(m.warning, { enabled: true, secondsBefore: 30, callee: false, prompt: [{ file: '/s/w.wav' }] });
    assert.equal(m.noCredit, null);
    assert.equal(m.remainingTime, null);
  });
  it('rejects a warning that is spoken (it is mixed into the call), an unknown key, and a bad SIP address', () => {
    const base = { freeswitch: { address: '127.0.0.1', secret: 'ClueCon' } };
    assert.equal(mediaSchema.safeParse({ ...base, warning: { prompt: [{ speak: 'one minute left' }] } }).success, false);
    assert.equal(mediaSchema.safeParse({ ...base, volume: 3 }).success, false);
    assert.equal(mediaSchema.safeParse({ freeswitch: { ...base.freeswitch, sipAddress: 'fs.example' } }).success, false);
  });
  it('the example in config/media.example.json is valid and its rules are accepted', () => {
    const file = path.resolve(__dirname, '../../../../config/media.example.json');
    const m = mediaSchema.parse((JSON.parse(fs.readFileSync(file, 'utf8')) as { media: unknown }).media);
    const policy = new MediaPolicy({ select: m.select, noCredit: m.noCredit, remainingTime: m.remainingTime, warning: m.warning });
    assert.deepEqual(policy.planFor(facts())?.warning?.secondsBefore, 60);
  });
  it('is optional in the whole config', () => {
    assert.ok(configSchema.shape.media.safeParse(undefined).success);
  });
});
