import { strict as assert } from 'node:assert';
import { CdrRepository, type CdrRecord } from '../../lib/db/cdr-repository';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { testDatabaseUrl } from '../support/mariadb';

const cdr = (callId: string, cost: bigint): CdrRecord => ({
  callId, instanceId: 'i1', sipCallId: `${callId}@pbx`, inviteAt: new Date('2026-11-23T10:00:00.123Z'), answerAt: new Date('2026-11-23T10:00:01.456Z'),
  endAt: new Date('2026-11-23T10:00:31.789Z'), callerDialled: '4930100201', callerE164: '4930100201', calleeDialled: '202', calleeE164: '4930100202',
  presentedCaller: '201', scope: 'onnet', service: 'voice.onnet', vpnGroup: 'acme', accountId: 3, ingressTrunk: 'pbx', egressTrunk: 'pbx',
  billableSeconds: 31, grantedSeconds: 300, disposition: 'answered', releaseCause: 'caller_bye', sipStatus: 200, sipReason: 'OK',
  ruleId: 4, tariffId: 2, currency: 'EUR', cost, ledgerKey: `call:${callId}:settle`,
});

for (const dialect of ['mariadb', 'sqlite'] as const) {
  describe(`CDR repository on ${dialect}`, () => {
    let db: Database;
    before(async () => {
      db = await openDatabaseUrl(dialect === 'mariadb' ? await testDatabaseUrl('cdrs') : 'sqlite::memory:');
      await db.migrate();
    });
    after(async () => { await db?.close(); });

    it('keeps costs to the micro-unit and times to the millisecond', async () => {
      for (const [id, cost] of [['tiny', 1n], ['large', 987_654_321_123_456n], ['zero', 0n]] as const) {
        await new CdrRepository(db).write(cdr(id, cost));
        const back = await new CdrRepository(db).findByCallId(id);
        assert.deepEqual(back, cdr(id, cost));
      }
    });

    it('writes a call once: a second write of the same call id changes nothing', async () => {
      const repo = new CdrRepository(db);
      assert.equal(await repo.write(cdr('once', 5n)), true);
      assert.equal(await repo.write(cdr('once', 99n)), false);
      assert.equal((await repo.findByCallId('once'))!.cost, 5n);
    });

    it('writes CDRs made while one is in flight together, each once, and tells a replay among them', async () => {
      const repo = new CdrRepository(db);
      await repo.write(cdr('batch-seen', 7n));
      let statements = 0;
      db.sequelize.addHook('afterQuery', 'count-cdr-statements', () => { statements++; });
      let results: boolean[];
      try {
        results = await Promise.all([
          ...Array.from({ length: 30 }, (_, i) => repo.write(cdr(`batch-${i}`, BigInt(i + 1)))),
          repo.write(cdr('batch-seen', 99n)),
        ]);
      } finally {
        db.sequelize.removeHook('afterQuery', 'count-cdr-statements');
      }
      assert.deepEqual(results.slice(0, 30), Array.from({ length: 30 }, () => true));
      assert.equal(results[30], false, 'the replayed call id');
      for (let i = 0; i < 30; i++) assert.equal((await repo.findByCallId(`batch-${i}`))!.cost, BigInt(i + 1));
      assert.equal((await repo.findByCallId('batch-seen'))!.cost, 7n);
      // The first alone, the 30 others as one batch that the replay fails, then each alone: 33.
      // Without the replay: two statements for 31 CDRs.
      assert.ok(statements <= 33, `${statements} statements`);
      statements = 0;
      db.sequelize.addHook('afterQuery', 'count-cdr-statements', () => { statements++; });
      try {
        await Promise.all(Array.from({ length: 30 }, (_, i) => repo.write(cdr(`group-${i}`, 1n))));
      } finally {
        db.sequelize.removeHook('afterQuery', 'count-cdr-statements');
      }
      assert.equal(statements, 2, 'the first CDR alone, the 29 made meanwhile in one INSERT');
      assert.equal((await repo.list({ limit: 1000 })).filter((c) => c.callId.startsWith('group-')).length, 30);
    });

    it('refuses a CDR whose cost the column cannot hold, alone', async () => {
      const repo = new CdrRepository(db);
      const results = await Promise.allSettled([repo.write(cdr('fits-1', 1n)), repo.write(cdr('too-dear', 10n ** 30n)), repo.write(cdr('fits-2', 2n))]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.equal(await repo.findByCallId('too-dear'), undefined);
      assert.equal((await repo.findByCallId('fits-2'))!.cost, 2n);
    });
  });
}
