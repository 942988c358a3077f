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
  });
}
