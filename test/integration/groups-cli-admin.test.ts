import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { registerAccountCommands } from '../../app/cli/account';
import { registerEnterpriseGroupCommands } from '../../app/cli/group';
import { registerVpnCommands } from '../../app/cli/vpn';
import type { CliContext } from '../../app/cli/context';
import { loadConfig } from '../../app/config/load';
import { buildAdminApp } from '../../app/admin/server';
import type { AdminDeps } from '../../app/admin/routes';
import { TollgateMetrics } from '../../app/metrics';
import { silentLogger } from '../../lib/common/logger';
import { openDatabase, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { VpnRepository } from '../../lib/db/vpn-repository';
import { AccountService } from '../../lib/prepaid';
import { RatingService } from '../../lib/rating';
import { Directory, resolveCall, VpnService } from '../../lib/vpn';
import { engineFor, rawRuleSet, rule } from '../unit/rating/fixtures';

const TOKEN = 'groups-token';

describe('enterprise VPN features from the CLI and the admin API (SQLite)', function () {
  this.timeout(60_000);
  let dir: string;
  let config: ReturnType<typeof loadConfig>;
  const withDb = async <T>(fn: (db: Database) => Promise<T>): Promise<T> => {
    const db = await openDatabase(config.database, silentLogger());
    try { return await fn(db); } finally { await db.close(); }
  };
  const cli = async (...args: string[]): Promise<string> => {
    const out: string[] = [];
    const ctx: CliContext = { config: () => config, logger: silentLogger(), withDatabase: withDb, print: (t) => { out.push(t); } };
    const program = new Command('tollgate').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerVpnCommands(program, ctx);
    registerAccountCommands(program, ctx);
    registerEnterpriseGroupCommands(program, ctx);
    await program.parseAsync(args, { from: 'user' });
    return out.join('\n');
  };
  const load = () => withDb(async (db) => Directory.build(await new VpnRepository(db).load(), config.numbering));

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-groups-'));
    config = loadConfig({ env: {}, overrides: { database: { dialect: 'sqlite', storage: path.join(dir, 'groups.sqlite') } } });
    await withDb((db) => db.migrate());
    await cli('account', 'create', 'alice', '--currency', 'EUR');
    await cli('account', 'create', 'alice-own', '--currency', 'EUR');
    await cli('account', 'create', 'acme-pool', '--currency', 'EUR');
    await cli('trunk', 'add', 'pbx', '--host', 'pbx.example', '--address', '192.0.2.10', '--serves-members');
    await cli('route', 'add', '', 'pbx');
    await cli('vpn', 'group', 'add', 'acme', '--name', 'Acme', '--offnet-prefix', '9', '--extension-length', '4');
    await cli('vpn', 'subscriber', 'add', '+49 30 100001', '--account', '1', '--home-trunk', 'pbx');
    await cli('vpn', 'subscriber', 'add', '+49 30 100002', '--account', '1', '--home-trunk', 'pbx');
    await cli('vpn', 'member', 'add', 'acme', '1001', '4930100001', '--class', 'international');
    await cli('vpn', 'member', 'add', 'acme', '1002', '4930100002', '--class', 'onnet_only');
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('sets up private calls, a pool with caps, a CUG, a short code and screening, and the stored plan resolves with them', async () => {
    await cli('group', 'set', 'acme', '--private-prefix', '*7');
    await cli('group', 'personal', 'acme', '1001', '--account', '2', '--plan', 'personal');
    assert.match(await cli('group', 'pool', 'acme', 'acme-pool'), /pool 3/);
    assert.match(await cli('group', 'cap', 'acme', '1001', '--per-day', '5.00', '--per-call', '1.50'), /per call 1\.500000, per day 5\.000000, per month -/);
    await cli('group', 'cug', 'add', 'sales', '--name', 'Sales');
    assert.match(await cli('group', 'cug', 'join', 'sales', 'acme', '1002'), /outgoing access no, incoming access no/);
    assert.match(await cli('group', 'short-code', 'add', 'acme', '7001', '+49 40 777000', '--service', 'voice.virtual'), /7001 → 4940777000, rated as voice\.virtual/);
    assert.match(await cli('group', 'screening', 'add', 'acme', '--extension', '1002', '--day-type', 'weekday', '--from', '08:00', '--to', '18:00', '--class', 'national'), /extension 1002: weekday 08:00-18:00 → national/);
    const d = await load();
    const priv = resolveCall(d, { caller: '4930100001', dialled: '*79089123456' });
    assert.ok(priv.ok);
    assert.deepEqual([priv.resolution.charging, priv.resolution.caller.accountId], ['private', 2]);
    const business = resolveCall(d, { caller: '4930100001', dialled: '1002' });
    assert.equal(!business.ok && business.refusal.code, 'CUG_INCOMING_BARRED');
    const virtual = resolveCall(d, { caller: '4930100001', dialled: '7001' });
    assert.ok(virtual.ok);
    assert.deepEqual([virtual.resolution.caller.accountId, virtual.resolution.budget?.caps.perDay, virtual.resolution.service], [3, 5_000_000n, 'voice.virtual']);
    const report = JSON.parse(await cli('group', 'budget', 'acme', '--json')) as { pool: { account: string }; members: Array<{ extension: string; left: Record<string, string> }> };
    assert.equal(report.pool.account, 'acme-pool');
    assert.deepEqual(report.members.map((m) => [m.extension, m.left.day]), [['1001', '5.000000']]);
  });

  it('`vpn resolve` says in text who pays (business or private) and the budget, as --json does', async () => {
    const business = await cli('vpn', 'resolve', '4930100001', '7001');
    assert.match(business, /^charging {2}business \(the enterprise pays\), virtual on-net/m);
    assert.match(business, /^budget {4}group pool \(account 3\) pays; member #\d+ caps per call 1\.500000, per day 5\.000000, per month -$/m);
    const priv = await cli('vpn', 'resolve', '4930100001', '*79089123456');
    assert.match(priv, /^charging {2}private \(the member's personal account pays, personal tariff\)$/m);
    assert.match(priv, /^budget {4}none$/m);
    const asJson = JSON.parse(await cli('vpn', 'resolve', '4930100001', '7001', '--json')) as { resolution: { charging: string; budget: { pool: boolean; payerAccountId: number; caps: Record<string, string | null> } } };
    assert.deepEqual([asJson.resolution.charging, asJson.resolution.budget.pool, asJson.resolution.budget.payerAccountId], ['business', true, 3]);
    assert.deepEqual(asJson.resolution.budget.caps, { perCall: '1.500000', perDay: '5.000000', perMonth: null }, 'money as decimal strings');
  });

  it('refuses an edit that would break the plan and keeps the data as it was', async () => {
    await assert.rejects(cli('group', 'short-code', 'add', 'acme', '1001', '+49 40 777001'), /is an extension of group acme/);
    await assert.rejects(cli('group', 'set', 'acme', '--private-prefix', '9'), /overlap/);
    assert.equal((await load()).group('acme')!.group.privatePrefix, '*7');
  });

  it('changes the same through the admin API, validated, and answers errors with their codes', async () => {
    let reloads = 0;
    const accountsDb = await openDatabase(config.database, silentLogger());
    const deps: AdminDeps = {
      instanceId: 'groups', accounts: new AccountService(new PrepaidRepository(accountsDb)),
      calls: { liveCalls: () => [], endCall: async () => false },
      cdrs: { findPage: async () => ({ cdrs: [], next: null }), stream: async function* () { /* none */ }, findByCallId: async () => undefined, findBySipCallId: async () => undefined },
      rating: new RatingService(engineFor(rawRuleSet([{ id: 1, steps: [[0, 1, '0.01']] }], [rule(1, 1)]))),
      vpn: VpnService.empty(config.numbering), reload: async () => ({ rating: { outcome: 'unchanged' }, vpn: { outcome: 'unchanged', problems: [], loadedAt: '' } }),
      metrics: new TollgateMetrics({ processMetrics: false }), pingDatabase: async () => undefined, sipConnected: () => true, draining: () => false,
      groups: {
        change: (fn) => withDb((db) => new VpnRepository(db).changeValidated(config.numbering, fn)), read: (fn) => withDb((db) => fn(new VpnRepository(db))),
        reload: async () => { reloads++; },
      },
    };
    const app = buildAdminApp(deps, TOKEN, silentLogger());
    const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) => app.inject({ method, url, payload: payload as Record<string, unknown>, headers: { authorization: `Bearer ${TOKEN}` } });
    try {
      assert.equal((await call('PATCH', '/groups/acme', { status: 'suspended' })).statusCode, 200);
      const caps = await call('PATCH', '/groups/acme/members/1002/caps', { perMonth: '20.00' });
      assert.equal(caps.statusCode, 200, caps.body);
      assert.equal((caps.json() as { caps: { perMonth: string } }).caps.perMonth, '20.000000');
      assert.equal((await call('PATCH', '/groups/acme/members/1002/caps', { perMonth: '-1' })).statusCode, 400);
      assert.equal((await call('POST', '/cugs/sales/members/acme/1001', { outgoingAccess: true })).statusCode, 200);
      const bad = await call('POST', '/groups/acme/short-codes', { code: '1002', e164: '4940777002' });
      assert.deepEqual([bad.statusCode, (bad.json() as { error: string }).error], [422, 'VPN_DIRECTORY_INVALID']);
      assert.equal((await call('POST', '/groups/acme/screening', { callClass: 'local', timeFrom: '8:00', timeTo: '18:00' })).statusCode, 400);
      assert.equal((await call('GET', '/cugs')).statusCode, 200);
      assert.equal((await call('DELETE', '/groups/acme/short-codes/7001')).statusCode, 204);
      assert.equal((await call('DELETE', '/groups/nope/short-codes/7001')).statusCode, 404);
      const d = await load();
      assert.equal(d.group('acme')!.group.status, 'suspended');
      assert.equal(d.group('acme')!.shortCodes.size, 0);
      assert.ok(reloads >= 4, 'the directory in force is reloaded after each change');
      const openapi = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, unknown> };
      assert.ok(openapi.paths['/cugs'] && openapi.paths['/groups/{group}/budget'], 'documented in the OpenAPI file');
    } finally {
      await app.close();
      await accountsDb.close();
    }
  });
});
