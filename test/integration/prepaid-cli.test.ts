import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { registerAccountCommands } from '../../app/cli/account';
import type { CliContext } from '../../app/cli/context';
import type { TollgateConfig } from '../../app/config/schema';
import { silentLogger } from '../../lib/common/logger';
import { openDatabaseUrl, type Database } from '../../lib/db/database';

describe('tollgate account commands', function () {
  this.timeout(30_000);
  let dir: string;
  let url: string;
  let printed: string[];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-account-cli-'));
    url = `sqlite:${path.join(dir, 'tollgate.sqlite')}`;
    const db = await openDatabaseUrl(url);
    await db.migrate();
    await db.close();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function run(...args: string[]): Promise<string> {
    printed = [];
    const ctx: CliContext = {
      config: () => { throw new Error('not needed'); return undefined as unknown as TollgateConfig; },
      logger: silentLogger(),
      withDatabase: async <T>(fn: (db: Database) => Promise<T>): Promise<T> => {
        const db = await openDatabaseUrl(url);
        try { return await fn(db); } finally { await db.close(); }
      },
      print: (text) => { printed.push(text); },
    };
    const program = new Command('tollgate').exitOverride();
    registerAccountCommands(program, ctx);
    await program.parseAsync(['node', 'tollgate', ...args]);
    return printed.join('\n');
  }

  it('creates an account, tops it up once per key, adjusts it, lists the ledger and checks it', async () => {
    assert.match(await run('account', 'create', 'alice', '--currency', 'EUR', '--max-calls', '3'), /created account \d+ alice/);
    assert.match(await run('account', 'topup', 'alice', '12.50', '--key', 'pay-1'), /balance 12\.500000/);
    const first = (JSON.parse(await run('account', 'ledger', 'alice', '--json')) as unknown[]).length;
    assert.match(await run('account', 'topup', 'alice', '12.50', '--key', 'pay-1'), /^nothing changed: --key pay-1 was already posted as entry \d+ \(top-up 12\.500000; balance then 12\.500000\)$/);
    assert.equal((JSON.parse(await run('account', 'ledger', 'alice', '--json')) as unknown[]).length, first, 'a replayed top-up writes nothing');
    assert.equal((JSON.parse(await run('account', 'topup', 'alice', '12.50', '--key', 'pay-1', '--json')) as { replay: boolean }).replay, true);
    assert.match(await run('account', 'adjust', 'alice', '-0.015', '--key', 'fix-1', '--note', 'goodwill'), /balance 12\.485000/);
    const shown = JSON.parse(await run('account', 'show', 'alice', '--json')) as { balance: string; maxCalls: number };
    assert.deepEqual([shown.balance, shown.maxCalls], ['12.485000', 3]);
    const ledger = JSON.parse(await run('account', 'ledger', 'alice', '--json')) as Array<{ kind: string; amount: string }>;
    assert.deepEqual(ledger.map((e) => [e.kind, e.amount]), [['adjustment', '-0.015000'], ['topup', '12.500000']]);
    assert.match(await run('account', 'check'), /1 account\(s\) checked, 0 inconsistent/);
    assert.match(await run('account', 'set', 'alice', '--status', 'suspended'), /suspended/);
  });

  const bad: Array<{ name: string; args: string[]; message: RegExp }> = [
    { name: 'a negative top-up', args: ['account', 'topup', 'alice', '-5', '--key', 'neg'], message: /must be positive/ },
    { name: 'a malformed amount', args: ['account', 'topup', 'alice', '1,50', '--key', 'bad'], message: /expected a decimal number/ },
    { name: 'an over-precise amount', args: ['account', 'topup', 'alice', '0.0000001', '--key', 'fine'], message: /more than 6 decimal places/ },
    { name: 'an unknown account', args: ['account', 'topup', 'bob', '1', '--key', 'x'], message: /no account bob/ },
    { name: 'a currency mismatch', args: ['account', 'topup', 'alice', '1', '--key', 'usd', '--currency', 'USD'], message: /is in EUR, not USD/ },
    { name: 'a reused key with another amount', args: ['account', 'topup', 'alice', '13', '--key', 'pay-1'], message: /was used for a different/ },
    { name: 'a duplicate account', args: ['account', 'create', 'alice', '--currency', 'EUR'], message: /exists/ },
    { name: 'a bad currency', args: ['account', 'create', 'carol', '--currency', 'euro'], message: /three capital letters/ },
  ];
  for (const b of bad) {
    it(`refuses ${b.name} with a clear message and no write`, async () => {
      const before = await run('account', 'ledger', 'alice', '--json');
      await assert.rejects(run(...b.args), (e: Error) => b.message.test(e.message));
      assert.equal(await run('account', 'ledger', 'alice', '--json'), before);
    });
  }
});
