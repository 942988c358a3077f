/**
 * The command line as an operator uses it day to day, run as `node dist/app/cli.js` against
 * MariaDB: version, help with examples, lists as tables with headers, accounts by id or code,
 * `--json` on every read command, exit codes, and replays that say nothing changed.
 */
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { buildProgram } from '../../app/cli';
import { commandPath, EXAMPLES, leafCommands } from '../../app/cli/examples';
import { EXIT_REFUSED } from '../../app/cli/vpn';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { cliRunner } from '../support/cli';
import { testDatabaseUrl } from '../support/mariadb';

const ROOT = path.resolve(__dirname, '../../..');

/** The commands that only read: each must answer `--json`. */
const READ_COMMANDS = /(^| )(list|show|ledger|check|status|rate|resolve|match)$/;

describe('the command line for an operator', function () {
  // Each step spawns the CLI a dozen times; on a loaded machine one start is seconds.
  this.timeout(240_000);
  let url: string;
  let db: Database;

  const tollgate = cliRunner(() => url);
  const ok = (...args: string[]): string => {
    const r = tollgate(...args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const count = async (table: string): Promise<number> => {
    const [row] = await db.sequelize.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${table}`, { type: QueryTypes.SELECT });
    return Number(row!.n);
  };

  before(async () => {
    url = await testDatabaseUrl('cli_operator');
    ok('db', 'migrate');
    ok('account', 'create', 'acme-alice', '--currency', 'EUR', '--max-calls', '3');
    ok('account', 'create', 'acme-office', '--currency', 'EUR', '--kind', 'postpaid');
    ok('trunk', 'add', 'pbx', '--host', '192.0.2.10', '--address', '192.0.2.10', '--serves-members');
    ok('trunk', 'add', 'carrier', '--host', '203.0.113.5', '--address', '203.0.113.0/24');
    ok('route', 'add', '', 'carrier');
    ok('vpn', 'group', 'add', 'acme', '--name', 'Acme', '--offnet-prefix', '9', '--extension-length', '4');
    db = await openDatabaseUrl(url);
  });
  after(async () => { await db?.close(); });

  it('`--version` prints the package version', () => {
    const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V']) {
      const r = tollgate(flag);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), version);
    }
  });

  it('every command has an example in its help, and every read command answers --json', () => {
    const leaves = leafCommands(buildProgram([]));
    const missing = leaves.map(commandPath).filter((p) => !EXAMPLES[p]);
    assert.deepEqual(missing, [], 'commands without an example');
    assert.deepEqual(Object.keys(EXAMPLES).filter((p) => !leaves.some((c) => commandPath(c) === p)), [], 'examples of no command');
    const noJson = leaves.filter((c) => READ_COMMANDS.test(commandPath(c)) && !c.options.some((o) => o.long === '--json')).map(commandPath);
    assert.deepEqual(noJson, []);
    // As the user sees it.
    const help = tollgate('account', 'topup', '--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /\nExample:\n {2}\$ tollgate account topup acme-alice 20\.00 --key portal-payment-8812/);
  });

  it('a top-up by code or id; a replay with the same key says nothing changed and writes nothing', async () => {
    assert.match(ok('account', 'topup', 'acme-alice', '10.00', '--key', 'pay-1'), /^top-up 10\.000000; balance 10\.000000 \(entry \d+\)$/m);
    const entries = await count('ledger_entries');
    const id = (JSON.parse(ok('account', 'show', 'acme-alice', '--json')) as { id: number }).id;
    const replay = ok('account', 'topup', String(id), '10.00', '--key', 'pay-1');
    assert.match(replay, /^nothing changed: --key pay-1 was already posted as entry \d+/m);
    assert.equal(await count('ledger_entries'), entries);
    const json = JSON.parse(ok('account', 'topup', 'acme-alice', '10.00', '--key', 'pay-1', '--json')) as { replay: boolean; amount: string };
    assert.deepEqual([json.replay, json.amount], [true, '10.000000']);
    assert.match(ok('account', 'show', String(id)), /balance {3}10\.000000 EUR/);
  });

  it('lists are tables with a header line: accounts, ledger, trunks, routes, groups, subscribers, members', () => {
    ok('vpn', 'subscriber', 'add', '+4930100001', '--account', 'acme-alice', '--home-trunk', 'pbx');
    ok('vpn', 'member', 'add', 'acme', '1001', '+4930100001');
    const lines = (text: string) => text.trim().split('\n');
    const accounts = lines(ok('account', 'list'));
    assert.match(accounts[0]!, /^ID\s+CODE\s+KIND\s+STATUS\s+CURRENCY\s+BALANCE\s+RESERVED\s+AVAILABLE\s+CALLS$/);
    assert.match(accounts[1]!, /^\d+\s+acme-alice\s+prepaid\s+active\s+EUR\s+10\.000000\s+0\.000000\s+10\.000000\s+0\/3$/);
    const ledger = lines(ok('account', 'ledger', 'acme-alice'));
    assert.match(ledger[0]!, /^ID\s+TIME \(UTC\)\s+KIND\s+AMOUNT\s+BALANCE AFTER\s+KEY\s+CALL ID\s+NOTE$/);
    assert.match(ledger[1]!, /^\d+\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+topup\s+10\.000000\s+10\.000000\s+pay-1$/);
    assert.equal(ledger.length, 2);
    assert.match(lines(ok('trunk', 'list'))[0]!, /^NAME\s+TARGET\s+FROM\s+PAI\s+MEMBERS\s+MAX CALLS\s+ENABLED$/);
    assert.match(lines(ok('route', 'list'))[1]!, /^\s*\d+\s+\(default\)\s+carrier\s+10\s+yes$/);
    assert.match(ok('vpn', 'subscriber', 'list').trim(), /^NUMBER\s+ACCOUNT\s+PLAN\s+HOME TRUNK\s+STATUS\s+NAME\n4930100001\s+acme-alice\s+-\s+pbx\s+active$/);
    assert.match(ok('vpn', 'member', 'list').trim(), /^GROUP\s+EXTENSION\s+NUMBER\s+CLASS\s+BARS OUT\s+BARS IN\nacme\s+1001\s+4930100001\s+national\s+-\s+-$/);
    assert.match(ok('cdr', 'list'), /^no CDRs$/m);
    assert.match(ok('tariff', 'list'), /^no tariffs$/m);
    ok('tariff', 'import', path.join(ROOT, 'lib/rating/examples'));
    const tariffs = lines(ok('tariff', 'list'));
    assert.match(tariffs[0]!, /^ID\s+CODE\s+NAME\s+CURRENCY\s+CONNECT_FEE\s+MINIMUM_CHARGE\s+FREE_SECONDS\s+TIME_ZONE$/);
    assert.equal(tariffs.length - 1, (JSON.parse(ok('tariff', 'list', '--json')) as unknown[]).length);
    assert.match(lines(ok('tariff', 'list', 'charging_rules'))[0]!, /^ID\s+SERVICE_ID\s+CALLER_PLAN\s+VPN_GROUP\s+DESTINATION_PREFIX/);
  });

  it('read commands answer JSON', () => {
    const parsed = [
      ['db', 'status'], ['account', 'list'], ['account', 'ledger', 'acme-alice'], ['account', 'check'], ['trunk', 'list'], ['trunk', 'match', '203.0.113.7'],
      ['route', 'list'], ['vpn', 'group', 'list'], ['vpn', 'subscriber', 'list'], ['vpn', 'member', 'list'], ['cdr', 'list'],
    ].map((args) => JSON.parse(ok(...args, '--json')) as unknown);
    assert.deepEqual((parsed[0] as { upToDate: boolean }).upToDate, true);
    assert.equal((parsed[5] as { trunk: { name: string } }).trunk.name, 'carrier');
  });

  it('`vpn resolve` prints the refusal and exits non-zero; a call that resolves exits 0', () => {
    const refused = tollgate('vpn', 'resolve', '+4930100001', '1999');
    assert.equal(refused.status, EXIT_REFUSED, refused.stderr);
    assert.match(refused.stdout, /^refused {3}404 /m);
    const json = tollgate('vpn', 'resolve', '+4930100001', '1999', '--json');
    assert.equal(json.status, EXIT_REFUSED);
    assert.equal((JSON.parse(json.stdout) as { ok: boolean }).ok, false);
    const offnet = tollgate('vpn', 'resolve', '+4930100001', '9 030 555123');
    assert.equal(offnet.status, 0, offnet.stderr);
    assert.match(offnet.stdout, /scope {5}offnet/);
  });

  it('bad input is refused by the admin API\'s schema, named by its option, with nothing written', async () => {
    const accounts = await count('accounts');
    const r = tollgate('account', 'create', 'carol', '--currency', 'EUR', '--max-calls', '0');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: --max-calls must be >= 1, not 0$/m);
    const kind = tollgate('account', 'create', 'carol', '--currency', 'EUR', '--kind', 'credit');
    assert.match(kind.stderr, /^error: --kind must be one of prepaid, postpaid, not "credit"$/m);
    const note = tollgate('account', 'topup', 'acme-alice', '1', '--key', 'n', '--note', 'x'.repeat(300));
    assert.match(note.stderr, /^error: --note must NOT have more than 255 characters/m);
    const dest = tollgate('tariff', 'rate', '--service', 'voice.public', '--destination', '+49', '--seconds', '60');
    assert.match(dest.stderr, /^error: --destination must be E\.164 digits without \+, not "\+49"$/m);
    const caller = tollgate('cdr', 'list', '--caller', '49x');
    assert.equal(caller.status, 1);
    assert.match(caller.stderr, /^error: --caller must be caller's E\.164 number or digits as received; a trailing \* matches a prefix, not "49x"$/m);
    assert.equal(await count('accounts'), accounts);
    assert.equal(tollgate('vpn', 'subscriber', 'add', '+4930100009', '--account', 'nobody').status, 1);
  });
});
