import assert from 'node:assert/strict';
import { parse } from 'csv-parse/sync';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../lib/common/logger';
import { parseMoney } from '../../lib/common/money';
import { CdrRepository, type CdrRecord } from '../../lib/db/cdr-repository';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { CDR_FIELDS } from '../../app/admin/cdr-format';
import { testDatabaseUrl } from '../support/mariadb';
import { startProduct, type Product } from '../support/product';
import { startSipp, type SippProcess } from '../support/sipp';
import { adminClient, ALICE, eventually, injectionFile, readBooks, seedOpsDatabase, type AdminClient } from '../support/ops-product';

const CLI = path.resolve(__dirname, '../../app/cli.js');
const SCENARIOS = path.resolve(__dirname, '../../../scenarios');
const BASE = Date.parse('2026-02-01T08:00:00.000Z');
const BOB = '4930100202';

function cdrRow(over: Partial<CdrRecord> & Pick<CdrRecord, 'callId' | 'inviteAt'>): CdrRecord {
  return {
    instanceId: 'test', sipCallId: `${over.callId}@pbx`, answerAt: null, endAt: new Date(over.inviteAt.getTime() + 30_000),
    callerDialled: ALICE, callerE164: ALICE, calleeDialled: '9030555123', calleeE164: '4930555123', presentedCaller: null,
    scope: 'offnet', service: 'voice.offnet', vpnGroup: 'acme', accountId: null, ingressTrunk: 'pbx-loopback', egressTrunk: 'carrier',
    billableSeconds: 0, grantedSeconds: 0, disposition: 'answered', releaseCause: 'caller_bye', sipStatus: 200, sipReason: 'OK',
    ruleId: null, tariffId: null, currency: 'EUR', cost: 0n, ledgerKey: null, ...over,
  };
}

/** RFC 4180 text → rows, by the same CSV library the product reads rating tables with. */
function parseCsv(text: string): string[][] {
  return parse(text, { record_delimiter: '\r\n' }) as string[][];
}

describe('CDRs and accounts at hand: repository reads, `tollgate cdr` and `account list`, GET /cdrs, GET /accounts, live calls', function () {
  this.timeout(120_000);
  let databaseUrl: string;
  let db: Database;
  let repo: CdrRepository;
  let carrier: SippProcess;
  let product: Product;
  let api: AdminClient;
  let alice: number;
  let bob: number;

  const cli = (args: string[]) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_CONFIG: product.configFile };
    delete env.TOLLGATE_TEST_MYSQL_URL;
    return spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 30_000 });
  };

  before(async () => {
    databaseUrl = await testDatabaseUrl('ops_cdr');
    carrier = await startSipp({ scenario: { file: path.join(SCENARIOS, 'uas-answer.xml') }, transport: 'udp', timeoutMs: 115_000 });
    await seedOpsDatabase(databaseUrl, { carrier: carrier.localPort });
    db = await openDatabaseUrl(databaseUrl, silentLogger());
    repo = new CdrRepository(db);
    const accounts = new PrepaidRepository(db);
    alice = (await accounts.findAccountByCode('acme-alice'))!.id;
    bob = (await accounts.findAccountByCode('acme-bob'))!.id;
    const rows: CdrRecord[] = [];
    // February: 30 answered calls of alice a minute apart, costing 0.01 × i.
    for (let i = 0; i < 30; i++) {
      rows.push(cdrRow({ callId: `feb-alice-${String(i).padStart(2, '0')}`, inviteAt: new Date(BASE + i * 60_000), accountId: alice, billableSeconds: 10 + i, cost: BigInt(i) * 10_000n, answerAt: new Date(BASE + i * 60_000 + 2000) }));
    }
    // Bob: 8 busy calls, 4 of them at the very same instant (the page cursor must not lose or repeat any).
    for (let i = 0; i < 8; i++) {
      rows.push(cdrRow({ callId: `feb-bob-${i}`, inviteAt: new Date(BASE + 3_600_000 + (i < 4 ? 0 : i) * 1000), accountId: bob, callerDialled: BOB, callerE164: BOB, disposition: 'busy', releaseCause: 'callee_refused', sipStatus: 486, sipReason: 'Busy Here', cost: 0n }));
    }
    // Refused calls from outside any group, with a note-worthy reason text (commas and quotes in CSV).
    for (let i = 0; i < 5; i++) {
      rows.push(cdrRow({ callId: `feb-refused-${i}`, inviteAt: new Date(BASE + 7_200_000 + i * 1000), callerDialled: '4930999000', callerE164: null, vpnGroup: null, disposition: 'refused', releaseCause: 'refused', sipStatus: 403, sipReason: 'TRUNK_UNKNOWN, "not ours"', currency: null, egressTrunk: null }));
    }
    // January: 1234 calls for the export (more than two export pages).
    for (let i = 0; i < 1234; i++) rows.push(cdrRow({ callId: `jan-${String(i).padStart(4, '0')}`, inviteAt: new Date(Date.parse('2026-01-10T00:00:00Z') + i * 1000), accountId: alice, cost: 1n }));
    for (let i = 0; i < rows.length; i += 25) await Promise.all(rows.slice(i, i + 25).map((r) => repo.write(r)));
    product = await startProduct({ databaseUrl, config: { prepaid: { grantSeconds: 30 } } });
    api = adminClient(`http://127.0.0.1:${product.adminPort}`, product.adminToken);
  });

  after(async () => {
    await product?.stop();
    await carrier?.stop();
    await db?.close();
  });

  it('pages through the filtered CDRs newest first with a cursor that neither loses nor repeats a row, ties included', async () => {
    const feb = { from: new Date('2026-02-01T00:00:00Z'), to: new Date('2026-03-01T00:00:00Z') };
    const seen: string[] = [];
    let after: Awaited<ReturnType<CdrRepository['findPage']>>['next'] | undefined;
    for (let i = 0; i < 20; i++) {
      const page = await repo.findPage(feb, { limit: 3, after: after ?? undefined });
      seen.push(...page.cdrs.map((c) => c.callId));
      if (!page.next) break;
      after = page.next;
    }
    assert.equal(seen.length, 43);
    assert.equal(new Set(seen).size, 43, 'no row twice');
    assert.equal(seen[0], 'feb-refused-4', 'newest first');
    assert.equal(seen[42], 'feb-alice-00');

    const bobs = await repo.findPage({ accountId: bob }, { limit: 100 });
    assert.deepEqual(bobs.cdrs.map((c) => c.disposition), Array(8).fill('busy'));
    assert.equal((await repo.findPage({ ...feb, disposition: 'refused' }, { limit: 100 })).cdrs.length, 5);
    assert.equal((await repo.findPage({ ...feb, vpnGroup: 'acme' }, { limit: 100 })).cdrs.length, 38);
    assert.equal((await repo.findPage({ caller: '+4930999000' }, { limit: 100 })).cdrs.length, 5, 'caller as dialled, with a +');
    assert.equal((await repo.findPage({ ...feb, caller: '493010020*' }, { limit: 100 })).cdrs.length, 38, 'caller prefix');
    assert.equal((await repo.findPage({ caller: '4930_*' }, { limit: 100 })).cdrs.length, 0, 'an underscore is no wildcard');
    const window = await repo.findPage({ accountId: alice, from: new Date(BASE + 10 * 60_000), to: new Date(BASE + 20 * 60_000) }, { limit: 100 });
    assert.deepEqual(window.cdrs.map((c) => c.callId), Array.from({ length: 10 }, (_, i) => `feb-alice-${19 - i}`), 'from inclusive, to exclusive');
  });

  it('streams every matching CDR oldest first, a page at a time', async () => {
    const ids: string[] = [];
    for await (const c of repo.stream({ to: new Date('2026-02-01T00:00:00Z') }, 100)) ids.push(c.callId);
    assert.equal(ids.length, 1234);
    assert.equal(ids[0], 'jan-0000');
    assert.equal(ids[1233], 'jan-1233');
    assert.deepEqual(ids, [...ids].sort());
  });

  it('`tollgate cdr list` filters by account code, time and disposition as a table with headers, CSV or JSON', () => {
    const table = cli(['cdr', 'list', '--account', 'acme-alice', '--from', '2026-02-01', '--to', '2026-02-02', '--limit', '5']);
    assert.equal(table.status, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0]!, /^START \(UTC\)\s+CALL ID\s+CALLER\s+CALLEE\s+DISPOSITION\s+CAUSE\s+STATUS\s+SECONDS\s+COST\s+ACCOUNT$/);
    assert.match(lines[1]!, /^2026-02-01 08:29:00\s+feb-alice-29\s+4930100201\s+4930555123\s+answered\s+caller_bye\s+200\s+39\s+0\.290000 EUR\s+acme-alice$/);
    assert.match(lines[lines.length - 1]!, /^\(more: /);

    const json = cli(['cdr', 'list', '--account', String(bob), '--json']);
    assert.equal(json.status, 0, json.stderr);
    const cdrs = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.equal(cdrs.length, 8);
    assert.deepEqual(Object.keys(cdrs[0]!), [...CDR_FIELDS]);
    assert.equal(cdrs[0]!.cost, '0.000000');

    const csv = cli(['cdr', 'list', '--disposition', 'refused', '--format', 'csv']);
    assert.equal(csv.status, 0, csv.stderr);
    const rows = parseCsv(csv.stdout);
    assert.deepEqual(rows[0], [...CDR_FIELDS]);
    assert.equal(rows.length, 6);
    assert.equal(rows[1]![CDR_FIELDS.indexOf('sipReason')], 'TRUNK_UNKNOWN, "not ours"');
    assert.equal(rows[1]![CDR_FIELDS.indexOf('callerE164')], '', 'null is an empty field');

    const bad = cli(['cdr', 'list', '--disposition', 'lost']);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--disposition must be one of answered, busy/);
    const badTime = cli(['cdr', 'list', '--from', 'yesterday']);
    assert.notEqual(badTime.status, 0);
    assert.match(badTime.stderr, /--from must be an ISO 8601/);
    const nobody = cli(['cdr', 'list', '--account', 'nobody']);
    assert.notEqual(nobody.status, 0);
  });

  it('`tollgate cdr show` finds a CDR by call id or SIP Call-ID; `cdr export` streams CSV, JSON and NDJSON to a file', () => {
    const shown = cli(['cdr', 'show', 'feb-alice-07', '--json']);
    assert.equal(shown.status, 0, shown.stderr);
    assert.equal((JSON.parse(shown.stdout) as { cost: string }).cost, '0.070000');
    const bySip = cli(['cdr', 'show', 'feb-alice-07@pbx']);
    assert.equal(bySip.status, 0, bySip.stderr);
    assert.match(bySip.stdout, /^callId\s+feb-alice-07$/m);
    assert.notEqual(cli(['cdr', 'show', 'no-such-call']).status, 0);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdr-export-'));
    const file = (f: string) => path.join(dir, `jan.${f}`);
    for (const format of ['csv', 'json', 'ndjson']) {
      const r = cli(['cdr', 'export', '--to', '2026-02-01', '--account', 'acme-alice', '--format', format, '--output', file(format)]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /1234 CDR\(s\) written/);
    }
    const csv = parseCsv(fs.readFileSync(file('csv'), 'utf8'));
    assert.equal(csv.length, 1235);
    assert.equal(csv[1]![0], 'jan-0000');
    const json = JSON.parse(fs.readFileSync(file('json'), 'utf8')) as Array<{ callId: string; cost: string }>;
    assert.equal(json.length, 1234);
    assert.equal(json[1233]!.callId, 'jan-1233');
    assert.equal(json.reduce((s, c) => s + parseMoney(c.cost), 0n), 1234n);
    const nd = fs.readFileSync(file('ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { callId: string });
    assert.equal(nd.length, 1234);
    const stdout = cli(['cdr', 'export', '--from', '2026-02-01T09:00:00Z', '--format', 'ndjson']);
    assert.equal(stdout.status, 0, stdout.stderr);
    assert.equal(stdout.stdout.trim().split('\n').length, 13, 'bob and the refused ones, to standard output');
  });

  it('`tollgate account list` shows every account in a table with headers, or JSON, filtered by status or kind', () => {
    const table = cli(['account', 'list']);
    assert.equal(table.status, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0]!, /^ID\s+CODE\s+KIND\s+STATUS\s+CURRENCY\s+BALANCE\s+RESERVED\s+AVAILABLE\s+CALLS$/);
    assert.ok(lines.some((l) => /^\d+\s+acme-alice\s+prepaid\s+active\s+EUR\s+10\.000000\s+0\.000000\s+10\.000000\s+0\/10$/.test(l)), table.stdout);
    assert.equal(lines.length, 6);
    const post = cli(['account', 'list', '--kind', 'postpaid', '--json']);
    assert.equal(post.status, 0, post.stderr);
    assert.deepEqual((JSON.parse(post.stdout) as Array<{ code: string; balance: string }>).map((a) => [a.code, a.balance]), [['acme-office', '0.000000']]);
  });

  it('GET /cdrs filters and pages like the CLI, in JSON or CSV; GET /cdrs/{callId} by either id; bad filters are 400 naming them', async () => {
    const seen: string[] = [];
    let next: string | null = null;
    for (let i = 0; i < 10; i++) {
      const r = await api.call('GET', `/cdrs?from=2026-02-01&account=acme-alice&limit=7${next ? `&cursor=${next}` : ''}`);
      assert.equal(r.status, 200, r.text);
      seen.push(...(r.json.cdrs as Array<{ callId: string }>).map((c) => c.callId));
      next = r.json.next as string | null;
      if (!next) break;
    }
    assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => `feb-alice-${String(29 - i).padStart(2, '0')}`));

    const csv = await fetch(`http://127.0.0.1:${product.adminPort}/cdrs?disposition=busy&format=csv&limit=5`, { headers: { authorization: `Bearer ${product.adminToken}` } });
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    assert.ok(csv.headers.get('x-next-cursor'), 'the next page is named in a header');
    assert.equal(parseCsv(await csv.text()).length, 6);

    const one = await api.call('GET', '/cdrs/feb-bob-3');
    assert.equal(one.status, 200, one.text);
    assert.deepEqual([one.json.disposition, one.json.sipStatus, one.json.accountId, one.json.cost], ['busy', 486, bob, '0.000000']);
    assert.equal((await api.call('GET', `/cdrs/${encodeURIComponent('feb-bob-3@pbx')}`)).json.callId, 'feb-bob-3');
    const missing = await api.call('GET', '/cdrs/nothing-here');
    assert.deepEqual([missing.status, missing.json.error], [404, 'UNKNOWN_CALL']);

    for (const [q, name] of [['from=soon', 'from'], ['disposition=lost', 'disposition'], ['caller=alice', 'caller'], ['cursor=xyz', 'cursor'], ['limit=0', 'limit']] as const) {
      const r = await api.call('GET', `/cdrs?${q}`);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.match(String(r.json.message), new RegExp(name), r.text);
      assert.doesNotMatch(r.text, /FST_/);
    }
    assert.equal((await api.call('GET', '/cdrs?account=nobody')).status, 404);
  });

  it('GET /cdrs/export streams every matching CDR, oldest first, as CSV or NDJSON', async () => {
    const auth = { authorization: `Bearer ${product.adminToken}` };
    const csv = await fetch(`http://127.0.0.1:${product.adminPort}/cdrs/export?to=2026-02-01`, { headers: auth });
    assert.equal(csv.status, 200);
    const rows = parseCsv(await csv.text());
    assert.equal(rows.length, 1235);
    assert.deepEqual(rows[0], [...CDR_FIELDS]);
    assert.equal(rows[1234]![0], 'jan-1233');
    const nd = await fetch(`http://127.0.0.1:${product.adminPort}/cdrs/export?from=2026-02-01&format=ndjson&group=acme`, { headers: auth });
    assert.match(nd.headers.get('content-type') ?? '', /ndjson/);
    assert.equal((await nd.text()).trim().split('\n').length, 38);
  });

  it('GET /accounts lists accounts, filtered and paged', async () => {
    const all = await api.call('GET', '/accounts');
    assert.equal(all.status, 200, all.text);
    assert.equal(all.json.total, 5);
    const alices = (all.json.accounts as Array<{ code: string; balance: string; available: string }>).filter((a) => a.code === 'acme-alice');
    assert.deepEqual(alices.map((a) => [a.balance, a.available]), [['10.000000', '10.000000']]);
    const page = await api.call('GET', '/accounts?kind=prepaid&limit=2&offset=2');
    assert.deepEqual([page.json.total, page.json.count], [4, 2]);
    assert.equal((await api.call('GET', '/accounts?status=open')).status, 400);
  });

  it('a live call shows its SIP Call-ID, account, trunks and the money reserved and spent so far; its CDR is then at GET /cdrs/{callId}', async () => {
    const caller = await startSipp({
      scenario: { file: path.join(SCENARIOS, 'uac-call-expect-bye.xml') }, target: `127.0.0.1:${product.sipPort}`, transport: 'udp',
      injection: injectionFile([[ALICE, '9030555123']]), calls: 1, timeoutMs: 40_000,
    });
    try {
      const live = await eventually('an answered call', async () => {
        const calls = (await api.call('GET', '/calls')).json.calls as Array<Record<string, unknown>>;
        return calls.find((c) => c.state === 'answered');
      });
      assert.match(String(live.sipCallId), /.+/);
      assert.deepEqual([live.accountId, live.ingressTrunk, live.egressTrunk, live.currency], [alice, 'pbx-loopback', 'carrier', 'EUR']);
      assert.ok(parseMoney(String(live.reserved)) > 0n, `reserved ${String(live.reserved)}`);
      // Past the tariff's free seconds the meter runs: spent grows and never passes what is reserved.
      const later = await eventually('money spent', async () => {
        const c = (await api.call('GET', `/calls/${String(live.callId)}`)).json;
        return parseMoney(String(c.spent)) > 0n ? c : undefined;
      }, 15_000, 250);
      assert.ok(parseMoney(String(later.spent)) <= parseMoney(String(later.reserved)));
      const del = await api.call('DELETE', `/calls/${String(live.callId)}`);
      assert.equal(del.status, 200, del.text);
      await caller.done;
      const cdr = await eventually('the CDR', async () => {
        const r = await api.call('GET', `/cdrs/${String(live.callId)}`);
        return r.status === 200 ? r.json : undefined;
      });
      assert.equal(cdr.sipCallId, live.sipCallId);
      assert.equal(cdr.releaseCause, 'admin');
      const books = await readBooks(databaseUrl);
      assert.equal(parseMoney(String(cdr.cost)), books.charges.get(String(live.callId)), 'CDR cost equals the ledger charge');
      const bySip = await api.call('GET', `/cdrs/${encodeURIComponent(String(live.sipCallId))}`);
      assert.equal(bySip.json.callId, live.callId);
    } finally {
      await caller.stop();
    }
  });
});
