import { strict as assert } from 'node:assert';
import { parseMoney as m } from '../../../lib/common/money';
import { perSecond } from '../../support/prepaid-fixtures';
import { PrepaidError } from '../../../lib/prepaid/errors';
import { bench } from './support';

describe('prepaid failure policy when the database is unreachable', () => {
  it('refuses new calls with DB_UNAVAILABLE by default', async () => {
    const b = bench();
    const a = await b.account('10');
    b.store.unavailable = true;
    const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    assert.equal(res.granted ? 'granted' : res.refusal.code, 'DB_UNAVAILABLE');
  });

  it('admits new calls unreserved for one slice under the admit policy, and charges them when the database is back', async () => {
    const b = bench({ grantSeconds: 120, failurePolicy: { newCalls: 'admit', liveCalls: 'end', graceSeconds: 0 } });
    const a = await b.account('10');
    b.store.unavailable = true;
    const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    assert.ok(res.granted);
    assert.deepEqual([res.grant.mode, res.grant.grantedSeconds, res.grant.final], ['offline', 120, true]);
    await b.cc.answer('c1', perSecond());
    const s = await b.cc.settle('c1', 90);
    assert.equal(s.journalled, true);
    b.store.unavailable = false;
    assert.equal((await b.cc.replayJournal()).applied, 1);
    assert.equal((await b.store.getAccount(a.id))!.balance, m('9.10'));
  });

  it('ends live calls at the end of their grant by default', async () => {
    const b = bench();
    const a = await b.account('10');
    await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    await b.cc.answer('c1', perSecond());
    b.store.unavailable = true;
    const g = await b.cc.extend('c1');
    assert.deepEqual([g.addedSeconds, g.final], [0, true]);
  });

  it('grants a live call one bounded grace under the grace policy', async () => {
    const b = bench({ failurePolicy: { newCalls: 'refuse', liveCalls: 'grace', graceSeconds: 45 } });
    const a = await b.account('10');
    await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    await b.cc.answer('c1', perSecond());
    b.store.unavailable = true;
    const first = await b.cc.extend('c1');
    const second = await b.cc.extend('c1');
    assert.deepEqual([first.addedSeconds, first.grantedSeconds], [45, 345]);
    assert.deepEqual([second.addedSeconds, second.grantedSeconds], [0, 345]);
  });

  it('journals a settlement it cannot write and replays it exactly once', async () => {
    const b = bench();
    const a = await b.account('10');
    await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    await b.cc.answer('c1', perSecond());
    b.store.unavailable = true;
    const s = await b.cc.settle('c1', 200);
    assert.deepEqual([s.journalled, s.charged], [true, m('2.00')]);
    assert.equal((await b.cc.settle('c1', 200)).replay, true, 'a replay while journalled is recognised');
    assert.equal((await b.cc.replayJournal()).applied, 0, 'nothing applies while the database is down');
    b.store.unavailable = false;
    assert.equal((await b.cc.replayJournal()).applied, 1);
    assert.equal((await b.cc.replayJournal()).applied, 0);
    const after = (await b.store.getAccount(a.id))!;
    assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('8.00'), 0n, 0]);
    assert.equal((await b.cc.settle('c1', 200)).replay, true);
  });

  it('recovers a dead instance\'s answered calls at their checkpoint and releases the unanswered', async () => {
    const b = bench();
    const a = await b.account('10');
    await b.cc.beat();
    await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    await b.cc.authorise({ callId: 'c2', accountId: a.id, pricer: perSecond() });
    await b.cc.answer('c1', perSecond());
    await b.cc.checkpoint('c1', 75);
    b.clock.now = new Date(b.clock.now.getTime() + 60_000);
    const other = b.instance('instance-b');
    assert.equal(await other.recoverDeadInstances(120_000), 0, 'an instance with a recent heartbeat is alive');
    assert.equal(await other.recoverDeadInstances(30_000), 2);
    const after = (await b.store.getAccount(a.id))!;
    assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('9.25'), 0n, 0]);
  });

  it('settles, on restart under the same instance id, the reservations left by its previous life', async () => {
    const b = bench();
    const a = await b.account('10');
    await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    await b.cc.authorise({ callId: 'c2', accountId: a.id, pricer: perSecond() });
    await b.cc.answer('c1', perSecond());
    await b.cc.checkpoint('c1', 90);
    const restarted = b.instance('instance-a');
    await restarted.start();
    await restarted.stop();
    const after = (await b.store.getAccount(a.id))!;
    assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('9.10'), 0n, 0]);
  });
});

describe('prepaid: an authorisation whose statement lost its answer', () => {
  /** The store opens the reservation (or not), then reports the connection lost after sending it. */
  function loseAnswers(b: ReturnType<typeof bench>, applied: boolean): { lose: boolean } {
    const state = { lose: true };
    const open = b.store.openReservation.bind(b.store);
    b.store.openReservation = async (req) => {
      if (!state.lose) return open(req);
      if (applied) await open(req);
      const lost = Object.assign(new Error('no answer from the database within 5000 ms'), { outcomeUnknown: true });
      throw new PrepaidError('DB_UNAVAILABLE', 'database unavailable: no answer', {}, { cause: lost });
    };
    return state;
  }

  it('refuses the call, and releases the reservation the server opened all the same once it answers', async () => {
    const b = bench();
    const a = await b.account('10');
    loseAnswers(b, true);
    const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    assert.equal(res.granted ? 'granted' : res.refusal.code, 'DB_UNAVAILABLE');
    assert.ok((await b.store.getAccount(a.id))!.reserved > 0n, 'the server applied the lost statement');
    assert.equal(b.cc.lostAuthorisationCount(), 1);
    b.store.unavailable = true;
    await b.cc.beat();
    assert.equal(b.cc.lostAuthorisationCount(), 1, 'kept while the database does not answer');
    b.store.unavailable = false;
    await b.cc.beat();
    const after = (await b.store.getAccount(a.id))!;
    assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('10'), 0n, 0]);
    assert.equal((await b.store.findReservation('c1'))!.state, 'released');
    assert.equal(b.cc.lostAuthorisationCount(), 0);
  });

  it('leaves the reservation of a call admitted unreserved until that call has ended, then releases it; its charge stands', async () => {
    const b = bench({ grantSeconds: 120, failurePolicy: { newCalls: 'admit', liveCalls: 'end', graceSeconds: 0 } });
    const a = await b.account('10');
    loseAnswers(b, true);
    const res = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    assert.ok(res.granted);
    assert.equal(res.grant.mode, 'offline');
    await b.cc.beat();
    assert.equal((await b.store.findReservation('c1'))!.state, 'active', 'not released under a live call');
    await b.cc.answer('c1', perSecond());
    const s = await b.cc.settle('c1', 90);
    assert.deepEqual([s.journalled, s.charged], [false, m('0.90')]);
    await b.cc.beat();
    const after = (await b.store.getAccount(a.id))!;
    assert.deepEqual([after.balance, after.reserved, after.liveCalls], [m('9.10'), 0n, 0]);
    assert.equal(b.cc.lostAuthorisationCount(), 0);
  });

  it('forgets a lost authorisation the server never applied once its window has passed', async () => {
    const b = bench();
    const a = await b.account('10');
    const losing = loseAnswers(b, false);
    await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    losing.lose = false;
    await b.cc.beat();
    assert.equal(b.cc.lostAuthorisationCount(), 1, 'looked up again until its window has passed');
    b.clock.now = new Date(b.clock.now.getTime() + 70_000);
    await b.cc.beat();
    assert.equal(b.cc.lostAuthorisationCount(), 0);
    assert.equal(await b.store.findReservation('c1'), undefined);
    // The same call id authorised again later is a call like any other.
    const again = await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    assert.ok(again.granted);
    assert.equal((await b.store.findReservation('c1'))!.state, 'active');
  });

  it('does not track a refusal whose statement was never sent', async () => {
    const b = bench();
    const a = await b.account('10');
    b.store.unavailable = true;
    await b.cc.authorise({ callId: 'c1', accountId: a.id, pricer: perSecond() });
    assert.equal(b.cc.lostAuthorisationCount(), 0);
  });
});
