import { strict as assert } from 'node:assert';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { allFarEndsAt, PEOPLE, seedCallWorld } from '../support/call-fixture';
import { cdrOf, checkBooks, farEndTime, ledgerCharge, placeCall, startFarEnd, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type ConfigPatch, type Product } from '../support/product';

const SESSION_INTERVAL = 4;

/**
 * Who asks for the session timer: the application itself on both legs (so it works on a
 * drachtio-server, which adds none: the edge's own are off here to stand in for one), or, for an
 * application that does not ask, the edge.
 */
const CASES: Array<{ name: string; config: ConfigPatch }> = [
  {
    name: 'the application asks for it, the SIP server adds none',
    config: {
      calls: { sessionTimer: { enabled: true, interval: SESSION_INTERVAL, minSE: 2, refresher: 'uac' } },
      edge: { sessionTimer: { enabled: false, interval: 1800, minSE: 2, refresher: 'uac' } },
    },
  },
  {
    name: 'the application does not ask, the edge adds it',
    config: {
      calls: { sessionTimer: { enabled: false, interval: 1800, minSE: 90, refresher: 'uac' } },
      edge: { sessionTimer: { enabled: true, interval: SESSION_INTERVAL, minSE: 2, refresher: 'uac' } },
    },
  },
];

for (const c of CASES) {
  describe(`a leg that vanishes without BYE (RFC 4028 session timers): ${c.name}`, function () {
    this.timeout(120_000);
    let db: Database;
    let product: Product;
    let far: FarEndProcess;

    before(async () => {
      const url = await testDatabaseUrl(`calls_vanish_${CASES.indexOf(c)}`);
      db = await openDatabaseUrl(url);
      await db.migrate();
      far = await startFarEnd('uas-answer.xml', 'udp');
      await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
      product = await startProduct({
        databaseUrl: url,
        config: { ...c.config, prepaid: { grantSeconds: 30, reauthLeadSeconds: 5 } },
      });
    });

    after(async () => {
      await product?.stop();
      await far?.stop();
      await db?.close();
    });

    it('ends the call when the caller stops refreshing, BYEs the callee and stops the meter', async () => {
      const run = await placeCall({ scenario: 'uac-call-then-vanish.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext, transport: 'udp', sipPort: product.sipPort });
      assert.equal(run.result.exitCode, 0, run.result.stdout.slice(-800));
      const cdr = await cdrOf(db, run.sipCallId, 30_000);
      assert.equal(cdr.disposition, 'answered');
      assert.match(cdr.releaseCause ?? '', /session_expired|edge_teardown/);
      assert.ok(cdr.billableSeconds >= SESSION_INTERVAL - 2 && cdr.billableSeconds <= SESSION_INTERVAL + 4,
        `billed ${cdr.billableSeconds} s for a session interval of ${SESSION_INTERVAL} s: the meter stopped with the session`);
      assert.ok(cdr.billableSeconds < 30, 'far less than the grant');
      assert.equal(await ledgerCharge(db, cdr.ledgerKey), cdr.cost);
      const log = far.readLog();
      const bLeg = log.find((l) => l.startsWith('INVITE') && l.includes(`ruser=${PEOPLE.bob.e164}`))?.split(' ')[1];
      assert.ok(bLeg && farEndTime(log.filter((l) => l.includes(bLeg)), 'BYE'), `the callee got a BYE: ${log.join('\n')}`);
      const books = await checkBooks(db);
      assert.deepEqual(books.problems, []);
      assert.equal(books.openReservations, 0);
    });
  });
}
