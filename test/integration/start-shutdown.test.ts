import { strict as assert } from 'node:assert';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { allFarEndsAt, PEOPLE, seedCallWorld } from '../support/call-fixture';
import { cdrOf, checkBooks, placeCall, startFarEnd, type FarEndProcess } from '../support/calls';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';

describe('`tollgate start` stopped by a signal during a live call', function () {
  this.timeout(60_000);
  let db: Database;
  let product: Product;
  let far: FarEndProcess;

  before(async () => {
    const url = await testDatabaseUrl('start_stop');
    db = await openDatabaseUrl(url);
    await db.migrate();
    far = await startFarEnd('uas-answer.xml', 'udp');
    await seedCallWorld(db, allFarEndsAt(far.port), 'udp');
    product = await startProduct({ databaseUrl: url, config: { calls: { drainSeconds: 1 } } });
  });

  after(async () => {
    await product?.stop('SIGKILL');
    await far?.stop();
    await db?.close();
  });

  it('survives SIGHUP (the application reloads), then on SIGTERM drains, BYEs both legs, settles and exits 0', async () => {
    const call = placeCall({ scenario: 'uac-call-expect-bye.xml', caller: PEOPLE.alice.e164, dialled: PEOPLE.bob.ext, transport: 'udp', sipPort: product.sipPort, timeoutMs: 20_000 });
    await product.waitForLog((l) => l.message === 'call answered');
    product.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(product.child.exitCode, null, 'still running after SIGHUP');
    const code = await product.stop('SIGTERM');
    assert.equal(code, 0);
    const run = await call;
    assert.equal(run.result.exitCode, 0, `the caller got its BYE: ${run.result.stdout.slice(-600)}`);
    const cdr = await cdrOf(db, run.sipCallId);
    assert.equal(cdr.releaseCause, 'shutdown');
    const bLeg = far.readLog().find((l) => l.startsWith('INVITE') && l.includes(`ruser=${PEOPLE.bob.e164}`))?.split(' ')[1];
    assert.ok(bLeg && far.readLog().some((l) => l.startsWith(`BYE ${bLeg}`)), 'the callee got its BYE');
    const books = await checkBooks(db);
    assert.deepEqual(books.problems, []);
    assert.equal(books.openReservations, 0);
  });
});
