import { strict as assert } from 'node:assert';
import { QueryTypes } from 'sequelize';
import type { CdrRecord } from '../../lib/db/cdr-repository';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PEOPLE, POOR_BALANCE, PREFIX_OF, PRICE_PER_SECOND, seedCallWorld, type FarEnd } from '../support/call-fixture';
import { cdrOf, checkBooks, farEndTime, ledgerCharge, placeCall, startFarEnd, type CallerRun, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import { parseMoney } from '../../lib/common/money';

/** National number (0…) in the fixture's numbering plan for a destination prefix, e.g. 4989 → 089…. */
const national = (prefix: string, rest = '1234567') => `0${prefix.slice(2)}${rest}`;

interface Case {
  name: string;
  scenario: string;
  caller: string;
  dialled: string;
  holdMs?: number;
  localHost?: string;
}

/** Every call of the suite; they run side by side, then each is checked on its own. */
const CASES: Case[] = [
  { name: 'on-net extension', scenario: 'uac-call-caller-hangs-up.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext },
  { name: 'off-net through the prefix', scenario: 'uac-call-caller-hangs-up.xml', caller: PEOPLE.alice.e164, dialled: `9${national('4930', '7770000')}` },
  { name: 'forced on-net', scenario: 'uac-call-caller-hangs-up.xml', caller: PEOPLE.alice.e164, dialled: '9030100202' },
  { name: 'public call of a non-member', scenario: 'uac-call-caller-hangs-up.xml', caller: PEOPLE.dora.e164, dialled: national('4930', '7770001') },
  { name: 'postpaid caller', scenario: 'uac-call-caller-hangs-up.xml', caller: PEOPLE.office.e164, dialled: PEOPLE.bob.ext },
  { name: 'no credit', scenario: 'uac-no-credit-expect-402.xml', caller: PEOPLE.broke.e164, dialled: PEOPLE.bob.ext },
  { name: 'cut-off', scenario: 'uac-call-expect-bye.xml', caller: PEOPLE.poor.e164, dialled: `9${national(PREFIX_OF.timing)}` },
  { name: 'several slices', scenario: 'uac-call-caller-hangs-up.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.office.ext, holdMs: 5000 },
  { name: 'callee hangs up', scenario: 'uac-call-expect-bye.xml', caller: PEOPLE.alice.e164, dialled: `9${national(PREFIX_OF.hangup)}` },
  { name: 'cancel before answer', scenario: 'uac-cancel-before-answer.xml', caller: PEOPLE.alice.e164, dialled: `9${national(PREFIX_OF.silent)}` },
  { name: 'busy', scenario: 'uac-busy-expect-486.xml', caller: PEOPLE.alice.e164, dialled: `9${national(PREFIX_OF.busy)}` },
  { name: 'no answer', scenario: 'uac-no-answer-expect-480.xml', caller: PEOPLE.alice.e164, dialled: `9${national(PREFIX_OF.silent, '7654321')}` },
  { name: 'route fail-over', scenario: 'uac-call-caller-hangs-up.xml', caller: PEOPLE.alice.e164, dialled: `9${national(PREFIX_OF.failing)}` },
  { name: 're-INVITE', scenario: 'uac-reinvite-then-hangup.xml', caller: PEOPLE.bob.e164, dialled: PEOPLE.alice.ext },
  { name: 'INFO', scenario: 'uac-info-then-hangup.xml', caller: PEOPLE.onnetOnly.e164, dialled: PEOPLE.alice.ext },
  { name: 'barred destination', scenario: 'uac-expect-403.xml', caller: PEOPLE.onnetOnly.e164, dialled: `9${national('4930', '7770002')}` },
  { name: 'unknown extension', scenario: 'uac-unknown-extension-expect-404.xml', caller: PEOPLE.alice.e164, dialled: '299' },
  { name: 'incomplete number', scenario: 'uac-incomplete-expect-484.xml', caller: PEOPLE.alice.e164, dialled: '20' },
  { name: 'unknown trunk', scenario: 'uac-expect-403.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext, localHost: '127.0.0.2' },
];

const FAR_ENDS: Record<FarEnd, string> = {
  answer: 'uas-answer.xml', busy: 'uas-busy.xml', failing: 'uas-unavailable-503.xml', silent: 'uas-ring-no-answer.xml',
  timing: 'uas-answer.xml', hangup: 'uas-answer-then-hangup.xml', vanish: 'uas-answer-then-vanish.xml',
};

for (const transport of ['udp', 'tcp'] as const) {
  describe(`prepaid VPN calls end to end over ${transport.toUpperCase()} (both processes, MariaDB, SIPp)`, function () {
    this.timeout(180_000);
    let db: Database;
    let product: Product;
    const far = {} as Record<FarEnd, FarEndProcess>;
    const runs = new Map<string, CallerRun>();
    const cdrs = new Map<string, CdrRecord>();

    const run = (name: string): CallerRun => runs.get(name)!;
    const cdr = (name: string): CdrRecord => cdrs.get(name)!;
    const answered = async (name: string, scope: string) => {
      const r = run(name);
      assert.equal(r.result.exitCode, 0, `${name}: SIPp exit ${r.result.exitCode}\n${r.result.stdout.slice(-800)}`);
      const c = cdr(name);
      assert.equal(c.disposition, 'answered');
      assert.equal(c.scope, scope);
      assert.ok(c.billableSeconds >= 1, 'billed some seconds');
      assert.equal(c.cost, BigInt(c.billableSeconds) * PRICE_PER_SECOND[scope as keyof typeof PRICE_PER_SECOND], 'cost is the tariff price of the billable seconds');
      assert.equal(await ledgerCharge(db, c.ledgerKey), c.cost, 'the ledger charge equals the CDR cost');
      return c;
    };
    const refused = async (name: string, status: number, code: RegExp) => {
      const r = run(name);
      assert.equal(r.result.exitCode, 0, `${name}: SIPp exit ${r.result.exitCode}\n${r.result.stdout.slice(-800)}`);
      const c = cdr(name);
      assert.equal(c.sipStatus, status);
      assert.match(c.sipReason ?? '', code);
      assert.equal(c.cost, 0n);
      assert.equal(c.ledgerKey, null, 'nothing charged');
      assert.ok(r.reason, 'the refusal carries a Reason header');
      return c;
    };

    before(async () => {
      const url = await testDatabaseUrl(`calls_${transport}`);
      db = await openDatabaseUrl(url);
      await db.migrate();
      for (const [end, scenario] of Object.entries(FAR_ENDS) as Array<[FarEnd, string]>) far[end] = await startFarEnd(scenario, transport, 1000);
      await seedCallWorld(db, Object.fromEntries(Object.entries(far).map(([k, v]) => [k, v.port])) as Record<FarEnd, number>, transport);
      product = await startProduct({ databaseUrl: url, config: { prepaid: { grantSeconds: 2, reauthLeadSeconds: 1 }, calls: { noAnswerSeconds: 3 } } });
      await Promise.all(CASES.map(async (c) => {
        const r = await placeCall({ ...c, transport, sipPort: product.sipPort, timeoutMs: 30_000 });
        runs.set(c.name, r);
        if (c.localHost !== '127.0.0.2') cdrs.set(c.name, await cdrOf(db, r.sipCallId));
      }));
    });

    after(async () => {
      await product?.stop();
      await Promise.all(Object.values(far).map((f) => f.stop()));
      await db?.close();
    });

    it('connects an on-net extension call, shows the callee the caller\'s extension, and charges the on-net price', async () => {
      const c = await answered('on-net extension', 'onnet');
      assert.equal(c.calleeE164, PEOPLE.bob.e164);
      assert.equal(c.vpnGroup, 'acme');
      const invite = far.answer.readLog().find((l) => l.startsWith('INVITE') && l.includes(`ruser=${PEOPLE.bob.e164}`) && l.includes('"201"'));
      assert.ok(invite, `the callee saw extension 201: ${far.answer.readLog().filter((l) => l.startsWith('INVITE')).join('\n')}`);
    });

    it('places an off-net call through the access prefix at the off-net price', async () => {
      const c = await answered('off-net through the prefix', 'offnet');
      assert.equal(c.calleeE164, '49307770000');
      assert.equal(c.egressTrunk, 'carrier');
    });

    it('makes a member\'s public number dialled through the prefix an on-net call (forced on-net)', async () => {
      const c = await answered('forced on-net', 'onnet');
      assert.equal(c.calleeE164, PEOPLE.bob.e164);
    });

    it('charges a caller who is not a member as a public call', async () => {
      const c = await answered('public call of a non-member', 'public');
      assert.equal(c.vpnGroup, null);
    });

    it('charges a postpaid caller at the end without a reservation', async () => {
      const c = await answered('postpaid caller', 'onnet');
      const steps = await db.sequelize.query<{ mode: string }>('SELECT mode FROM reservations WHERE call_id = ?', { replacements: [c.callId], type: QueryTypes.SELECT });
      assert.equal(steps[0]?.mode, 'postpaid');
    });

    it('refuses a caller without credit with 402 and charges nothing', async () => {
      await refused('no credit', 402, /INSUFFICIENT_FUNDS/);
    });

    it('cuts the call off when the money runs out: BYE to both sides on time, and the charge is exactly the money', async () => {
      const r = run('cut-off');
      assert.equal(r.result.exitCode, 0, r.result.stdout.slice(-800));
      const c = cdr('cut-off');
      assert.equal(c.releaseCause, 'credit_exhausted');
      assert.equal(c.billableSeconds, 4, 'the money buys exactly 4 s');
      assert.equal(c.cost, parseMoney(POOR_BALANCE), 'the charge is all the money, to the micro-unit');
      assert.equal(await ledgerCharge(db, c.ledgerKey), parseMoney(POOR_BALANCE));
      assert.match(r.reason ?? '', /credit/i, 'the BYE says why');
      const callerAnswered = r.at('ANSWERED')!;
      const callerBye = r.at('BYE')!;
      assert.ok(Math.abs(callerBye - callerAnswered - 4000) <= 1000, `caller got BYE ${callerBye - callerAnswered} ms after answer`);
      const farLog = far.timing.readLog();
      const farAnswered = farEndTime(farLog, 'ANSWERED');
      const farBye = farEndTime(farLog, 'BYE');
      assert.ok(farAnswered && farBye, `far end logged answer and BYE: ${farLog.join('\n')}`);
      assert.ok(Math.abs(farBye - farAnswered - 4000) <= 1000, `callee got BYE ${farBye - farAnswered} ms after answer`);
      const poor = await db.sequelize.query<{ balance: string; reserved: string }>('SELECT balance, reserved FROM accounts WHERE code = ?', { replacements: ['acct-poor'], type: QueryTypes.SELECT });
      assert.equal(parseMoney(String(poor[0]!.balance)), 0n);
      assert.equal(parseMoney(String(poor[0]!.reserved)), 0n);
    });

    it('extends a long call over several slices and bills all of it', async () => {
      const c = await answered('several slices', 'onnet');
      assert.ok(c.billableSeconds >= 5, `billed ${c.billableSeconds} s`);
      const steps = await db.sequelize.query<{ step_key: string }>('SELECT step_key FROM reservation_steps WHERE call_id = ?', { replacements: [c.callId], type: QueryTypes.SELECT });
      assert.ok(steps.filter((s) => /ext/i.test(s.step_key)).length >= 2, `extensions: ${steps.map((s) => s.step_key).join(', ')}`);
    });

    it('ends the call when the caller or the callee hangs up', async () => {
      assert.equal(cdr('on-net extension').releaseCause, 'caller_bye');
      const c = await answered('callee hangs up', 'offnet');
      assert.equal(c.releaseCause, 'callee_bye');
    });

    it('charges nothing for CANCEL before answer, busy and no answer', async () => {
      const cancelled = cdr('cancel before answer');
      assert.equal(run('cancel before answer').result.exitCode, 0, run('cancel before answer').result.stdout.slice(-800));
      assert.equal(cancelled.disposition, 'cancelled');
      assert.equal(cancelled.cost, 0n);
      const busy = cdr('busy');
      assert.equal(run('busy').result.exitCode, 0);
      assert.equal(busy.disposition, 'busy');
      assert.equal(busy.sipStatus, 486);
      const noAnswer = cdr('no answer');
      assert.equal(run('no answer').result.exitCode, 0, run('no answer').result.stdout.slice(-800));
      assert.equal(noAnswer.disposition, 'no_answer');
      for (const c of [cancelled, busy, noAnswer]) {
        assert.equal(c.cost, 0n);
        assert.equal(c.ledgerKey, null);
        const r = await db.sequelize.query<{ state: string }>('SELECT state FROM reservations WHERE call_id = ?', { replacements: [c.callId], type: QueryTypes.SELECT });
        assert.equal(r[0]?.state, 'released', `${c.disposition}: reservation released`);
      }
    });

    it('fails over to the next route when the first answers 503', async () => {
      const c = await answered('route fail-over', 'offnet');
      assert.equal(c.egressTrunk, 'carrier');
    });

    it('passes a re-INVITE from the caller through to the callee', async () => {
      await answered('re-INVITE', 'onnet');
      const c = cdr('re-INVITE');
      const farLog = far.answer.readLog();
      const bLeg = farLog.find((l) => l.startsWith('INVITE') && l.includes(`ruser=${PEOPLE.alice.e164}`) && l.includes('"202"'))?.split(' ')[1];
      assert.ok(bLeg, 'the callee got the call');
      assert.ok(farLog.includes(`REINVITE ${bLeg}`), `the callee got the re-INVITE: ${farLog.join('\n')}`);
      assert.equal(c.releaseCause, 'caller_bye');
    });

    it('passes an INFO (DTMF relay) from the caller through to the callee and its 200 back', async () => {
      await answered('INFO', 'onnet');
      const farLog = far.answer.readLog();
      const bLeg = farLog.find((l) => l.startsWith('INVITE') && l.includes(`ruser=${PEOPLE.alice.e164}`) && l.includes('"204"'))?.split(' ')[1];
      assert.ok(bLeg, 'the callee got the call');
      assert.ok(farLog.some((l) => l.startsWith(`INFO ${bLeg} 5`)), `the callee got the INFO with its digit: ${farLog.filter((l) => l.includes(bLeg)).join('\n')}`);
    });

    it('refuses a barred destination, an unknown extension and an incomplete number', async () => {
      await refused('barred destination', 403, /BARRED/);
      await refused('unknown extension', 404, /UNKNOWN_EXTENSION/);
      await refused('incomplete number', 484, /INCOMPLETE/);
    });

    it('refuses an INVITE from an unknown trunk with 403', () => {
      const r = run('unknown trunk');
      assert.equal(r.result.exitCode, 0, r.result.stdout.slice(-800));
      assert.match(r.reason ?? '', /trunk/i);
    });

    it('leaves the books exact: every balance equals its ledger, nothing reserved, every CDR cost equals its ledger charge', async () => {
      const books = await checkBooks(db);
      assert.deepEqual(books.problems, []);
      assert.equal(books.openReservations, 0);
      assert.ok(books.cdrsChecked >= CASES.length - 1);
    });
  });
}
