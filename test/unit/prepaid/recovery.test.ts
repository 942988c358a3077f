import { strict as assert } from 'node:assert';
import { parseMoney as m } from '../../../lib/common/money';
import {
  MemorySettlementJournal, settleKey, type CallPricer, type CreditControl, type OrphanEnds, type RecoveredCall, type RecoveryInfo,
} from '../../../lib/prepaid';
import { fixedTariff, perSecond, tenSecondSteps } from '../../support/prepaid-fixtures';
import { bench, type Bench } from './support';

const T0 = new Date('2026-03-02T10:00:00Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);
const dialogsOf = (callId: string): string[] => [`${callId}-in;from-tag=a1`, `${callId}-out;from-tag=b2`];

/** The SIP server as credit control sees it: a scripted answer per pass, and every question asked. */
class FakeSipServer {
  asked: string[][] = [];
  answer: (dialogs: string[]) => OrphanEnds = () => ({ status: 'unknown' });
  readonly orphanEnds = async (dialogs: string[]): Promise<OrphanEnds> => {
    this.asked.push([...dialogs]);
    return this.answer(dialogs);
  };

  /** The server knows these dialogs: ended at a time, or still up (null). */
  knows(ends: Record<string, Date | null>): void {
    this.answer = () => ({ status: 'known', ends: new Map(Object.entries(ends)) });
  }
}

/** Rating attributes → tariff, as the application would rebuild it; 'broken' cannot be priced. */
const TARIFFS: Record<string, () => CallPricer> = {
  'ten-second-steps': tenSecondSteps,
  'per-second': perSecond,
  dear: () => fixedTariff({ pricePerIncrement: '0.05', firstStepSeconds: 60 }),
  cheap: () => fixedTariff({ pricePerIncrement: '0.001', firstStepSeconds: 60 }),
};

interface World {
  b: Bench;
  accountId: number;
  crashed: CreditControl;
  rescuer: CreditControl;
  sip: FakeSipServer;
  recovered: RecoveredCall[];
  repriced: Array<[string, Date]>;
}

async function world(opts: { liveOrphanWaitMs?: number; balance?: string } = {}): Promise<World> {
  const b = bench({ grantSeconds: 300 });
  b.clock.now = T0;
  const account = await b.account(opts.balance ?? '100');
  const crashed = b.instance('instance-a');
  const sip = new FakeSipServer();
  const recovered: RecoveredCall[] = [];
  const repriced: Array<[string, Date]> = [];
  const rescuer = b.instance('instance-b', { liveOrphanWaitMs: opts.liveOrphanWaitMs ?? 60_000 }, new MemorySettlementJournal(), {
    orphanEnds: sip.orphanEnds,
    repricer: (rating, answeredAt) => {
      repriced.push([rating, answeredAt]);
      const tariff = TARIFFS[rating];
      if (!tariff) throw new Error(`no tariff for ${rating}`);
      return tariff();
    },
    onRecovered: async (call) => { recovered.push(call); },
  });
  return { b, accountId: account.id, crashed, rescuer, sip, recovered, repriced };
}

/** A call answered at T0 on the crashed instance, checkpointed at `checkpoint` seconds. */
async function answeredCall(w: World, callId: string, opts: { pricer?: CallPricer; rating?: string; checkpoint?: number; recovery?: RecoveryInfo | null } = {}): Promise<void> {
  const pricer = opts.pricer ?? perSecond();
  w.b.clock.now = T0;
  assert.ok((await w.crashed.authorise({ callId, accountId: w.accountId, pricer })).granted);
  const recovery = opts.recovery === null ? undefined : opts.recovery ?? { dialogs: dialogsOf(callId), rating: opts.rating ?? 'per-second' };
  await w.crashed.answer(callId, pricer, recovery);
  if (opts.checkpoint !== undefined) {
    w.b.clock.now = at(opts.checkpoint);
    await w.crashed.checkpoint(callId, opts.checkpoint);
  }
}

/** The crashed instance is long silent; one recovery pass of the rescuer at `seconds` after T0. */
async function recoverAt(w: World, seconds: number): Promise<number> {
  w.b.clock.now = at(seconds);
  return w.rescuer.recoverDeadInstances(30_000);
}

async function audited(b: Bench): Promise<void> {
  for (const a of await b.store.auditAccounts()) assert.ok(a.ok, `account ${a.code} is consistent`);
}

describe('prepaid recovery of orphaned calls to their real end', () => {
  it('keeps the recovery info with the answer, on the plain answer and on a re-priced one', async () => {
    const w = await world();
    await answeredCall(w, 'same-price');
    w.b.clock.now = T0;
    assert.ok((await w.crashed.authorise({ callId: 'repriced', accountId: w.accountId, pricer: perSecond() })).granted);
    await w.crashed.answer('repriced', TARIFFS.dear!(), { dialogs: dialogsOf('repriced'), rating: 'dear' });
    assert.deepEqual((await w.b.store.findReservation('same-price'))!.recovery, { dialogs: dialogsOf('same-price'), rating: 'per-second' });
    assert.deepEqual((await w.b.store.findReservation('repriced'))!.recovery, { dialogs: dialogsOf('repriced'), rating: 'dear' });
    assert.equal((await w.b.store.findStep('repriced', 'answer'))!.reservedAfter, m('15.00'), 'the answer step re-priced the grant');
  });

  it('settles an orphan to the first leg\'s real end, priced by its own tariff, as one ledger entry', async () => {
    const w = await world();
    const tariff = tenSecondSteps();
    await answeredCall(w, 'c1', { pricer: tariff, rating: 'ten-second-steps', checkpoint: 30 });
    const [inLeg, outLeg] = dialogsOf('c1');
    w.sip.knows({ [inLeg!]: at(100), [outLeg!]: at(95.2) });
    assert.equal(await recoverAt(w, 200), 1);

    const r = (await w.b.store.findReservation('c1'))!;
    assert.deepEqual([r.state, r.settledSeconds, r.charged], ['recovered', 96, tariff.price(96)]);
    const ledger = await w.b.store.listEntries(w.accountId, 10);
    const charges = ledger.filter((e) => e.callId === 'c1');
    assert.equal(charges.length, 1);
    assert.deepEqual([charges[0]!.idempotencyKey, charges[0]!.amount], [settleKey('c1'), -tariff.price(96)]);
    const after = (await w.b.store.getAccount(w.accountId))!;
    assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('100') - tariff.price(96), 0n, 0]);
    assert.deepEqual(w.repriced, [['ten-second-steps', T0]]);
    assert.equal(w.recovered.length, 1);
    const call = w.recovered[0]!;
    assert.deepEqual([call.answered, call.billableSeconds, call.charged, call.ledgerKey, call.endAt?.toISOString()],
      [true, 96, tariff.price(96), settleKey('c1'), at(95.2).toISOString()]);
    await audited(w.b);
  });

  // Answered at T0 under perSecond (300 s reserved: 3.00), checkpoint at 30 s (0.60: first step 60 s).
  const clamps: Array<{ name: string; rating: string; endAfter: number; seconds: number; charge: string }> = [
    { name: 'a real end before the checkpoint is charged the checkpoint', rating: 'per-second', endAfter: 10, seconds: 30, charge: '0.60' },
    { name: 'a real end beyond the grant is charged the grant', rating: 'per-second', endAfter: 1000, seconds: 300, charge: '3.00' },
    { name: 'a charge above the money reserved is cut to it', rating: 'dear', endAfter: 200, seconds: 200, charge: '3.00' },
    { name: 'a charge below the checkpoint\'s is raised to it', rating: 'cheap', endAfter: 100, seconds: 100, charge: '0.60' },
    { name: 'the real seconds are rounded up to the second', rating: 'per-second', endAfter: 120.001, seconds: 121, charge: '1.21' },
  ];
  for (const t of clamps) {
    it(`clamps: ${t.name}`, async () => {
      const w = await world();
      await answeredCall(w, 'c1', { rating: t.rating, checkpoint: 30 });
      w.sip.knows({ [dialogsOf('c1')[0]!]: at(t.endAfter) });
      assert.equal(await recoverAt(w, 1200), 1);
      const r = (await w.b.store.findReservation('c1'))!;
      assert.deepEqual([r.state, r.settledSeconds, r.charged], ['recovered', t.seconds, m(t.charge)]);
      assert.equal((await w.b.store.getAccount(w.accountId))!.balance, m('100') - m(t.charge));
      await audited(w.b);
    });
  }

  it('leaves a call still up on the SIP server for a later pass, then settles it to its real end', async () => {
    const w = await world();
    await answeredCall(w, 'c1', { checkpoint: 30 });
    const [inLeg, outLeg] = dialogsOf('c1');
    w.sip.knows({ [inLeg!]: null, [outLeg!]: null });
    assert.equal(await recoverAt(w, 40), 0);
    assert.equal((await w.b.store.findReservation('c1'))!.state, 'active', 'not settled while it is still up');
    assert.equal(w.recovered.length, 0);
    w.sip.knows({ [inLeg!]: at(50), [outLeg!]: null });
    assert.equal(await recoverAt(w, 55), 1);
    const r = (await w.b.store.findReservation('c1'))!;
    assert.deepEqual([r.state, r.settledSeconds, r.charged], ['recovered', 50, perSecond().price(50)]);
    assert.equal(w.sip.asked.length, 2);
  });

  it('waits for a call one of whose legs is still up and the other unknown to the SIP server', async () => {
    const w = await world();
    await answeredCall(w, 'c1', { checkpoint: 30 });
    w.sip.knows({ [dialogsOf('c1')[1]!]: null });
    assert.equal(await recoverAt(w, 40), 0);
    assert.equal((await w.b.store.findReservation('c1'))!.state, 'active');
  });

  it('leaves orphans for a later pass while the SIP server is not connected', async () => {
    const w = await world();
    await answeredCall(w, 'c1', { checkpoint: 30 });
    w.sip.answer = () => ({ status: 'retry' });
    assert.equal(await recoverAt(w, 40), 0);
    assert.equal((await w.b.store.findReservation('c1'))!.state, 'active');
    w.sip.knows({ [dialogsOf('c1')[0]!]: at(70) });
    assert.equal(await recoverAt(w, 45), 1);
    assert.equal((await w.b.store.findReservation('c1'))!.settledSeconds, 70);
  });

  it('treats a SIP server query that fails as not connected', async () => {
    const w = await world();
    await answeredCall(w, 'c1', { checkpoint: 30 });
    w.sip.answer = () => { throw new Error('control link down'); };
    assert.equal(await recoverAt(w, 40), 0);
    assert.equal((await w.b.store.findReservation('c1'))!.state, 'active');
  });

  const bounded: Array<{ name: string; answer: (s: FakeSipServer) => void }> = [
    { name: 'still up', answer: (s) => s.knows({ [dialogsOf('c1')[0]!]: null, [dialogsOf('c1')[1]!]: null }) },
    { name: 'not connected', answer: (s) => { s.answer = () => ({ status: 'retry' }); } },
  ];
  for (const t of bounded) {
    it(`settles a call ${t.name} at its checkpoint once liveOrphanWaitMs has passed since that checkpoint`, async () => {
      const w = await world({ liveOrphanWaitMs: 60_000 });
      await answeredCall(w, 'c1', { checkpoint: 30 });
      t.answer(w.sip);
      assert.equal(await recoverAt(w, 89), 0, 'within the wait');
      assert.equal(await recoverAt(w, 90), 1, 'at the bound');
      const r = (await w.b.store.findReservation('c1'))!;
      assert.deepEqual([r.state, r.settledSeconds, r.charged], ['recovered', 30, perSecond().price(30)]);
      assert.equal(w.recovered[0]!.endAt, null);
      await audited(w.b);
    });
  }

  const checkpointed: Array<{ name: string; rating: string; answer: (s: FakeSipServer) => void; recovery?: null }> = [
    { name: 'a SIP server that cannot tell', rating: 'per-second', answer: (s) => { s.answer = () => ({ status: 'unknown' }); } },
    { name: 'a tariff that cannot be rebuilt', rating: 'broken', answer: (s) => s.knows({ [dialogsOf('c1')[0]!]: at(100) }) },
    { name: 'dialogs the SIP server does not know', rating: 'per-second', answer: (s) => s.knows({ 'other;from-tag=x': at(100) }) },
    { name: 'an end that is not a time', rating: 'per-second', answer: (s) => s.knows({ [dialogsOf('c1')[0]!]: new Date(Number.NaN) }) },
    { name: 'no recovery info', rating: 'per-second', answer: (s) => s.knows({ [dialogsOf('c1')[0]!]: at(100) }), recovery: null },
  ];
  for (const t of checkpointed) {
    it(`settles at the last checkpoint on the first pass with ${t.name}`, async () => {
      const w = await world();
      await answeredCall(w, 'c1', { rating: t.rating, checkpoint: 75, recovery: t.recovery });
      t.answer(w.sip);
      assert.equal(await recoverAt(w, 80), 1);
      const r = (await w.b.store.findReservation('c1'))!;
      assert.deepEqual([r.state, r.settledSeconds, r.charged], ['recovered', 75, m('0.75')]);
      assert.equal(w.recovered[0]!.endAt, null);
      await audited(w.b);
    });
  }

  it('asks the SIP server once per pass, for the dialogs of every answered orphan of the page', async () => {
    const w = await world();
    const ends: Record<string, Date | null> = {};
    for (let i = 1; i <= 5; i++) {
      await answeredCall(w, `c${i}`, { checkpoint: 10 });
      ends[dialogsOf(`c${i}`)[0]!] = at(20 + i);
    }
    await answeredCall(w, 'no-info', { checkpoint: 10, recovery: null });
    w.b.clock.now = T0;
    assert.ok((await w.crashed.authorise({ callId: 'ringing', accountId: w.accountId, pricer: perSecond() })).granted);
    w.sip.knows(ends);
    assert.equal(await recoverAt(w, 200), 7);
    assert.equal(w.sip.asked.length, 1);
    assert.deepEqual([...w.sip.asked[0]!].sort(), [1, 2, 3, 4, 5].flatMap((i) => dialogsOf(`c${i}`)).sort());
    for (let i = 1; i <= 5; i++) assert.equal((await w.b.store.findReservation(`c${i}`))!.settledSeconds, 20 + i);
    assert.equal((await w.b.store.findReservation('no-info'))!.settledSeconds, 10);
    assert.equal((await w.b.store.findReservation('ringing'))!.state, 'released');
    await audited(w.b);
  });

  it('asks once per page of 200 orphans, and reaches the orphans behind a page of calls still up', async () => {
    const w = await world({ balance: '1000' });
    const ends: Record<string, Date | null> = {};
    for (let i = 0; i < 201; i++) {
      await answeredCall(w, `p${i}`);
      ends[dialogsOf(`p${i}`)[0]!] = i < 200 ? null : at(42);
    }
    w.sip.knows(ends);
    assert.equal(await recoverAt(w, 50), 1, 'the 201st, behind 200 waiting calls, is settled');
    assert.equal(w.sip.asked.length, 2);
    assert.deepEqual(w.sip.asked.map((d) => d.length), [400, 2]);
    assert.equal((await w.b.store.findReservation('p200'))!.settledSeconds, 42);
  });

  it('settles its own previous life\'s orphans to their real end after a restart, once they have ended', async () => {
    const w = await world();
    await answeredCall(w, 'c1', { checkpoint: 30 });
    const [inLeg, outLeg] = dialogsOf('c1');
    w.sip.knows({ [inLeg!]: null, [outLeg!]: null });
    w.b.clock.now = at(40);
    const restarted = w.b.instance('instance-a', {}, new MemorySettlementJournal(), { orphanEnds: w.sip.orphanEnds, repricer: () => perSecond() });
    await restarted.beat();
    assert.equal((await w.b.store.findReservation('c1'))!.state, 'active', 'still up: left for a later beat');
    w.b.clock.now = at(45);
    assert.ok((await restarted.authorise({ callId: 'new-life', accountId: w.accountId, pricer: perSecond() })).granted);
    await restarted.answer('new-life', perSecond(), { dialogs: dialogsOf('new-life'), rating: 'per-second' });
    w.sip.knows({ [inLeg!]: at(48), [outLeg!]: at(48.5) });
    await restarted.beat();
    assert.deepEqual([(await w.b.store.findReservation('c1'))!.state, (await w.b.store.findReservation('c1'))!.settledSeconds], ['recovered', 48]);
    assert.equal((await w.b.store.findReservation('new-life'))!.state, 'active', 'the new life\'s own call is untouched');
    assert.deepEqual(w.sip.asked.map((d) => d.length), [2, 2], 'the new call\'s dialogs are never asked about');
    await restarted.settle('new-life', 10);
    await audited(w.b);
  });

  it('charges only the rest, once, when the crashed instance replays a journalled settlement after a real-end recovery', async () => {
    const w = await world();
    await answeredCall(w, 'c1', { checkpoint: 30 });
    w.sip.knows({ [dialogsOf('c1')[0]!]: at(96) });
    assert.equal(await recoverAt(w, 200), 1);
    const journal = new MemorySettlementJournal();
    const record = { kind: 'settle' as const, key: settleKey('c1'), callId: 'c1', accountId: w.accountId, reservationId: 1, seconds: 97, charge: perSecond().price(97).toString(), at: at(97).toISOString() };
    await journal.append(record);
    const returned = w.b.instance('instance-a', {}, journal);
    assert.equal((await returned.replayJournal()).applied, 1);
    await journal.append(record);
    assert.equal((await returned.replayJournal()).applied, 1);
    assert.equal((await w.b.store.getAccount(w.accountId))!.balance, m('100') - perSecond().price(97), 'charged to the journalled length, once');
    assert.equal((await w.b.store.findEntry(`call:c1:settle-rest`))!.amount, -m('0.01'));
    await audited(w.b);
  });
});

describe('prepaid final grants say why they are final', () => {
  it('a grant ended by a database outage is final for database_unavailable, under both live-call policies', async () => {
    for (const liveCalls of ['end', 'grace'] as const) {
      const b = bench({ failurePolicy: { newCalls: 'refuse', liveCalls, graceSeconds: 30 } });
      const a = await b.account('10');
      await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
      const answer = await b.cc.answer('c1', perSecond());
      assert.deepEqual([answer.final, answer.finalCause], [false, null]);
      b.store.unavailable = true;
      const g = await b.cc.extend('c1');
      assert.deepEqual([g.final, g.finalCause], [true, 'database_unavailable'], liveCalls);
      b.store.unavailable = false;
      const replay = await b.cc.extend('c1', 1);
      assert.deepEqual([replay.final, replay.finalCause], [true, 'database_unavailable'], `${liveCalls} replay`);
    }
  });

  it('a call admitted unreserved during an outage is final for database_unavailable', async () => {
    const b = bench({ failurePolicy: { newCalls: 'admit', liveCalls: 'end', graceSeconds: 0 } });
    const a = await b.account('10');
    b.store.unavailable = true;
    const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    assert.ok(res.granted);
    assert.equal(res.grant.finalCause, 'database_unavailable');
    assert.equal((await b.cc.answer('c1', perSecond())).finalCause, 'database_unavailable');
  });

  it('a grant cut short by the money is final for credit_exhausted, at authorise and at extend', async () => {
    const b = bench({ grantSeconds: 300 });
    const a = await b.account('4.50');
    const first = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    assert.ok(first.granted);
    assert.deepEqual([first.grant.final, first.grant.finalCause], [false, null]);
    await b.cc.answer('c1', perSecond());
    const partial = await b.cc.extend('c1');
    assert.deepEqual([partial.final, partial.finalCause], [true, 'credit_exhausted']);
    const replay = await b.cc.extend('c1', 1);
    assert.deepEqual([replay.final, replay.finalCause], [true, 'credit_exhausted']);
    const small = await b.account('1.00');
    const short = await b.cc.authorise({ callId: 'c2', accountId: small.id, pricer: perSecond() });
    assert.ok(short.granted);
    assert.deepEqual([short.grant.final, short.grant.finalCause], [true, 'credit_exhausted']);
    assert.equal((await b.cc.answer('c2', perSecond())).finalCause, 'credit_exhausted');
  });
});
