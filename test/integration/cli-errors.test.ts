/**
 * The command line never fails silently: every refusal prints what was wrong and exits non-zero,
 * and nothing is written. Run as a user runs it (`node dist/app/cli.js`) against MariaDB.
 */
import { strict as assert } from 'node:assert';
import { QueryTypes } from 'sequelize';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { cliRunner } from '../support/cli';
import { testDatabaseUrl } from '../support/mariadb';

describe('CLI errors are printed and exit non-zero', function () {
  this.timeout(60_000);
  let url: string;
  let db: Database;

  const tollgate = cliRunner(() => url);
  const count = async (table: string): Promise<number> => {
    const [row] = await db.sequelize.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`, { type: QueryTypes.SELECT });
    return Number(row!.n);
  };

  before(async () => {
    url = await testDatabaseUrl('cli_errors');
    assert.equal(tollgate('db', 'migrate').status, 0);
    const trunk = tollgate('trunk', 'add', 'carrier', '--address', '192.0.2.10', '--host', '192.0.2.10');
    assert.equal(trunk.status, 0, trunk.stderr);
    const account = tollgate('account', 'create', 'alice', '--currency', 'EUR');
    assert.equal(account.status, 0, account.stderr);
    db = await openDatabaseUrl(url);
  });

  after(async () => {
    await db?.close();
  });

  it('`route add` with a bad prefix says what a prefix is, exits 1 and adds no route', async () => {
    const r = tollgate('route', 'add', '+49x', 'carrier');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: a route prefix is E\.164 digits/m);
    assert.equal(await count('routes'), 0);
    // The same command with a good prefix works, so the refusal was about the prefix.
    assert.equal(tollgate('route', 'add', '49', 'carrier').status, 0);
    assert.equal(await count('routes'), 1);
  });

  it('a top-up beyond the range of an amount is refused with a clear message and writes nothing', async () => {
    const r = tollgate('account', 'topup', 'alice', '1000000000000000000', '--key', 'too-much');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: amount 1000000000000000000 is too large/m);
    assert.equal(await count('ledger_entries'), 0);
  });

  it('a top-up that would take the balance past the column is refused by a typed error, printed, and nothing changes', async () => {
    assert.equal(tollgate('account', 'topup', 'alice', '1', '--key', 'first').status, 0);
    const r = tollgate('account', 'topup', 'alice', '99999999999999.999999', '--key', 'overflow');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: .*outside what the database holds/m);
    assert.doesNotMatch(r.stderr, /Out of range value/);
    assert.equal(await count('ledger_entries'), 1);
    assert.match(tollgate('account', 'show', 'alice').stdout, /1\.000000/);
  });

  it('a malformed amount names the problem', async () => {
    const r = tollgate('account', 'topup', 'alice', '12,50', '--key', 'comma');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error: .*invalid amount "12,50"/);
    assert.equal(await count('ledger_entries'), 1, 'only the earlier top-up');
  });

  it('a typed error from the service (an unknown account) is printed with exit 1', () => {
    const r = tollgate('account', 'show', 'nobody');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: .*nobody/m);
  });

  it('commander\'s own parse errors are printed once, and help is not an error', () => {
    const bad = tollgate('route', 'add', '49', 'carrier', '--priority', 'high');
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr.match(/priority must be a whole number/g)?.length, 1, bad.stderr);
    const unknown = tollgate('route', 'frobnicate');
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    assert.equal(unknown.stderr.match(/unknown command/g)?.length, 1, unknown.stderr);
    const help = tollgate('route', '--help');
    assert.equal(help.status, 0);
    assert.equal(help.stderr, '');
  });
});
