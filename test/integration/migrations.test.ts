import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { testDatabaseUrl } from '../support/mariadb';
import { schemaOf, typeClass } from '../support/schema-dump';
import { triggerBody } from '../../lib/db/migrations/0010-cdr-with-settlement';

describe('migrations', function () {
  this.timeout(120_000);
  let maria: Database;
  let lite: Database;
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-migrate-'));
    maria = await openDatabaseUrl(await testDatabaseUrl('migrate'));
    lite = await openDatabaseUrl(`sqlite:${path.join(dir, 'tollgate.sqlite')}`);
  });
  after(async () => {
    await maria?.close();
    await lite?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('run forward from empty on MariaDB and on SQLite, and a second run does nothing', async () => {
    const first = await maria.migrate();
    const firstLite = await lite.migrate();
    assert.ok(first.length >= 1, 'MariaDB: migrations applied');
    assert.deepEqual(firstLite, first, 'both dialects apply the same migrations in the same order');
    assert.deepEqual(await maria.migrate(), [], 'MariaDB: second run is a no-op');
    assert.deepEqual(await lite.migrate(), [], 'SQLite: second run is a no-op');
  });

  it('give both dialects the same tables, columns, types and nullability', async () => {
    const a = await schemaOf(maria);
    const b = await schemaOf(lite);
    assert.ok(Object.keys(a).includes('cdrs') && Object.keys(a).includes('app_instances'));
    assert.deepEqual(b, a);
  });

  it('end with the reservations\' recovery info: a nullable text column on both dialects', async () => {
    const names = (await maria.sequelize.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name', { type: QueryTypes.SELECT })).map((r) => r.name);
    assert.ok(names.includes('0005-reservation-recovery'));
    for (const db of [maria, lite]) {
      const cols = await db.sequelize.getQueryInterface().describeTable('reservations');
      assert.ok(cols.recovery, `${db.dialect}: reservations.recovery exists`);
      assert.deepEqual([typeClass(cols.recovery!.type), cols.recovery!.allowNull], ['text', true], db.dialect);
    }
  });

  it('leave no CDR column out of the record a settlement writes: the trigger names every cdrs column but the id', async () => {
    for (const db of [maria, lite]) {
      const qi = db.sequelize.getQueryInterface();
      const body = (await triggerBody(qi)) ?? '';
      const columns = Object.keys(await qi.describeTable('cdrs')).filter((c) => c !== 'id');
      const missing = columns.filter((c) => !new RegExp(`\\b${c}\\b`).test(body));
      assert.deepEqual(missing, [], `${db.dialect}: cdrs columns the settlement's CDR trigger leaves out (a new CDR column needs a migration that makes the trigger again)`);
    }
  });

  it('keep money columns as exact decimals on MariaDB', async () => {
    const cols = await maria.sequelize.getQueryInterface().describeTable('cdrs');
    assert.match(cols.cost!.type, /^DECIMAL\(20,6\)$/i);
  });

  for (const dialect of ['mariadb', 'sqlite'] as const) {
    it(`on ${dialect}, let existing trunks that are home to subscribers keep serving members, and no other`, async () => {
      const db = await openDatabaseUrl(dialect === 'mariadb' ? await testDatabaseUrl('trunk_serves') : `sqlite:${path.join(dir, 'serves.sqlite')}`);
      try {
        const qi = db.sequelize.getQueryInterface();
        const before = ['0001-core', '0002-prepaid', '0003-rating', '0004-vpn', '0005-reservation-recovery', '0006-exact-money-sqlite'];
        for (const name of before) {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          await (require(`../../lib/db/migrations/${name}`) as { up: (p: { context: typeof qi }) => Promise<void> }).up({ context: qi });
        }
        await db.sequelize.query('CREATE TABLE schema_migrations (name VARCHAR(255) NOT NULL PRIMARY KEY)');
        for (const name of before) await db.sequelize.query('INSERT INTO schema_migrations (name) VALUES (?)', { replacements: [name] });
        const now = '2026-01-01 00:00:00.000';
        for (const [id, name] of [[1, 'pbx'], [2, 'carrier'], [3, 'pbx-unused']] as const) {
          await db.sequelize.query('INSERT INTO trunks (id, name, addresses, pai_trusted, host, port, transport, enabled, created_at, updated_at) VALUES (?, ?, ?, 0, ?, 5060, ?, 1, ?, ?)',
            { replacements: [id, name, `192.0.2.${id}`, 'h.example', 'udp', now, now] });
        }
        await db.sequelize.query('INSERT INTO subscribers (e164, account_id, home_trunk_id, status, created_at, updated_at) VALUES (?, 1, 1, ?, ?, ?)', { replacements: ['4930100201', 'active', now, now] });
        assert.deepEqual((await db.migrate()).slice(0, 1), ['0007-trunk-serves-members'], 'the pending migrations begin with 0007');
        const rows = await db.sequelize.query<{ name: string; serves_members: number | boolean }>('SELECT name, serves_members FROM trunks ORDER BY id', { type: QueryTypes.SELECT });
        assert.deepEqual(rows.map((r) => [r.name, Boolean(Number(r.serves_members))]), [['pbx', true], ['carrier', false], ['pbx-unused', false]]);
      } finally {
        await db.close();
      }
    });
  }
});
