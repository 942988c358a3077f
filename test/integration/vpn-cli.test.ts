import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { registerVpnCommands } from '../../app/cli/vpn';
import type { CliContext } from '../../app/cli/context';
import { loadConfig } from '../../app/config/load';
import { silentLogger } from '../../lib/common/logger';
import { openDatabase, type Database } from '../../lib/db/database';
import { PrepaidRepository } from '../../lib/db/prepaid-repository';
import { AccountService } from '../../lib/prepaid';

/** Runs `tollgate <args>` with the VPN commands against a SQLite file; returns what it printed. */
class CliRunner {
  readonly config;
  constructor(storage: string) {
    this.config = loadConfig({ env: {}, overrides: { database: { dialect: 'sqlite', storage } } });
  }

  context(out: string[]): CliContext {
    const config = this.config;
    const logger = silentLogger();
    return {
      config: () => config,
      logger,
      async withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
        const db = await openDatabase(config.database, logger);
        try {
          return await fn(db);
        } finally {
          await db.close();
        }
      },
      print: (text: string) => { out.push(text); },
    };
  }

  async run(...args: string[]): Promise<string> {
    const out: string[] = [];
    const program = new Command('tollgate').exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    registerVpnCommands(program, this.context(out));
    await program.parseAsync(args, { from: 'user' });
    return out.join('\n');
  }
}

describe('VPN command line on SQLite', function () {
  this.timeout(30_000);
  let dir: string;
  let cli: CliRunner;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-vpn-cli-'));
    cli = new CliRunner(path.join(dir, 'tollgate.sqlite'));
    const db = await openDatabase(cli.config.database, silentLogger());
    await db.migrate();
    // The accounts subscribers pay from: 1 named by id below, 2 by its code.
    const accounts = new AccountService(new PrepaidRepository(db));
    await accounts.create({ code: 'acme-alice', kind: 'prepaid', currency: 'EUR' });
    await accounts.create({ code: 'acme-bob', kind: 'prepaid', currency: 'EUR' });
    await db.close();
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sets up trunks, routes, a group, subscribers and members, and resolves a dry run', async () => {
    assert.match(await cli.run('trunk', 'add', 'pbx', '--host', 'pbx.example', '--address', '192.0.2.10,2001:db8::/32', '--trust-pai'), /added trunk pbx: udp:pbx.example:5060/);
    await cli.run('trunk', 'add', 'carrier', '--host', 'carrier.example', '--transport', 'tcp', '--port', '5070', '--address', '203.0.113.0/24');
    assert.match(await cli.run('route', 'add', '', 'carrier'), /\(default\) → carrier priority 10/);
    await cli.run('route', 'add', '+49', 'carrier', '--priority', '5');
    assert.match(await cli.run('vpn', 'group', 'add', 'acme', '--name', 'Acme', '--offnet-prefix', '9', '--extension-length', '4'), /acme \(Acme\): 4-digit extensions, off-net prefix 9/);
    assert.match(await cli.run('vpn', 'subscriber', 'add', '+49 30 100001', '--account', '1', '--plan', 'business', '--home-trunk', 'pbx'), /added subscriber 4930100001/);
    await cli.run('vpn', 'subscriber', 'add', '030 100002', '--account', 'acme-bob', '--home-trunk', 'pbx');
    await assert.rejects(cli.run('vpn', 'subscriber', 'add', '030 100003', '--account', 'nobody'), /no account nobody/);
    assert.match(await cli.run('vpn', 'member', 'add', 'acme', '1001', '4930100001', '--class', 'international'), /acme 1001 → 4930100001, class international/);
    assert.match(await cli.run('vpn', 'member', 'add', 'acme', '1002', '+4930100002', '--class', 'onnet_only', '--bar-in', '4989'), /bars in 4989/);

    const onnet = await cli.run('vpn', 'resolve', '4930100001', '1002');
    assert.match(onnet, /scope {5}onnet, service voice\.onnet/);
    assert.match(onnet, /presented 1001 \(extension\)/);
    assert.match(onnet, /routes {4}1\. pbx udp:pbx\.example:5060/);

    const offnet = JSON.parse(await cli.run('vpn', 'resolve', 'sip:+4930100001@pbx', '9 089 1234567', '--json')) as { ok: boolean; resolution: { scope: string; routes: { name: string }[] } };
    assert.equal(offnet.ok, true);
    assert.equal(offnet.resolution.scope, 'offnet');
    assert.deepEqual(offnet.resolution.routes.map((r) => r.name), ['carrier']);

    const barred = await cli.run('vpn', 'resolve', '4930100002', '9089 1234567');
    assert.match(barred, /refused {3}403 BARRED/);
    assert.match(barred, /barring {3}barred: call class onnet_only/);

    assert.match(await cli.run('trunk', 'match', '2001:db8::7'), /→ trunk pbx/);
    assert.match(await cli.run('trunk', 'match', '10.0.0.1'), /no trunk/);
  });

  it('refuses an edit that would break the plan and leaves the data as it was', async () => {
    await assert.rejects(cli.run('vpn', 'member', 'update', 'acme', '1002', '--extension', '12'), /extension must have 4 digits/);
    await assert.rejects(cli.run('vpn', 'member', 'update', 'acme', '1002', '--extension', '9002'), /begins with group acme's off-net prefix/);
    await assert.rejects(cli.run('vpn', 'member', 'add', 'acme', '1001', '4930100002'), /already exists/);
    await assert.rejects(cli.run('trunk', 'add', 'other', '--host', 'o.example', '--address', '192.0.2.10'), /also trunk "pbx"'s/);
    await assert.rejects(cli.run('trunk', 'remove', 'pbx'), /used by 0 route\(s\) and 2 subscriber\(s\)/);
    await assert.rejects(cli.run('vpn', 'group', 'remove', 'acme'), /has 2 member\(s\)/);
    await assert.rejects(cli.run('vpn', 'subscriber', 'add', 'alice', '--account', '3'), /not a telephone number/);
    const members = JSON.parse(await cli.run('vpn', 'member', 'list', 'acme', '--json')) as { extension: string }[];
    assert.deepEqual(members.map((m) => m.extension), ['1001', '1002']);
  });

  it('updates, lists and removes', async () => {
    assert.match(await cli.run('vpn', 'member', 'update', 'acme', '1002', '--extension', '1222', '--class', 'national'), /acme 1222 → 4930100002, class national/);
    assert.match(await cli.run('vpn', 'resolve', '4930100001', '1222'), /callee {4}4930100002/);
    assert.match(await cli.run('vpn', 'group', 'update', 'acme', '--onnet-between-groups'), /on-net with other groups yes/);
    assert.match(await cli.run('vpn', 'group', 'list'), /^CODE\s+NAME\s+EXTENSIONS\s+OFF-NET PREFIX\s+ON-NET WITH GROUPS\s+MEMBERS\nacme\s+Acme\s+4 digits\s+9\s+yes\s+2$/);
    assert.match(await cli.run('trunk', 'update', 'carrier', '--disable'), /DISABLED/);
    assert.match(await cli.run('vpn', 'resolve', '4930100001', '9089 1234567'), /refused {3}404 NO_ROUTE/);
    const routes = JSON.parse(await cli.run('route', 'list', '--json')) as { id: number; prefix: string }[];
    assert.deepEqual(routes.map((r) => r.prefix), ['', '49']);
    await cli.run('route', 'remove', String(routes[1]!.id));
    assert.match(await cli.run('route', 'list'), /^ID\s+PREFIX\s+TRUNK\s+PRIORITY\s+ENABLED\s+DESCRIPTION\n\s*\d+\s+\(default\)\s+carrier\s+10\s+yes$/);
    await cli.run('vpn', 'member', 'remove', 'acme', '1222');
    assert.match(await cli.run('vpn', 'subscriber', 'list'), /^NUMBER\s+ACCOUNT\s+PLAN\s+HOME TRUNK\s+STATUS\s+NAME\n4930100001\s+acme-alice\s+business\s+pbx\s+active\n4930100002\s+acme-bob\s+-\s+pbx\s+active$/);
    await cli.run('vpn', 'subscriber', 'remove', '+4930100002');
    const left = await cli.run('vpn', 'subscriber', 'list');
    assert.match(left, /4930100001/);
    assert.doesNotMatch(left, /4930100002/);
  });
});
