import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { testDatabaseUrl } from '../support/mariadb';

/** A column reduced to what must agree between dialects. */
function typeClass(sqlType: string): string {
  const t = sqlType.toUpperCase();
  if (/^(TINYINT\(1\)|BOOLEAN)/.test(t)) return 'boolean';
  // SQLite's exact money column: integers of micro-units.
  if (t === 'BIGINT_MICROS') return 'money';
  if (/INT/.test(t)) return 'integer';
  if (/^DECIMAL\(20,\s*6\)/.test(t)) return 'money';
  if (/^DECIMAL/.test(t)) return t.replace(/\s/g, '');
  if (/^(VARCHAR|CHAR)/.test(t)) return t.replace(/\s/g, '');
  if (/TEXT/.test(t)) return 'text';
  if (/^DATETIME|^TIMESTAMP/.test(t)) return 'datetime';
  if (/^DATE$/.test(t)) return 'date';
  if (/^TIME$/.test(t)) return 'time';
  if (/^ENUM/.test(t)) return 'string';
  if (/^(FLOAT|DOUBLE|REAL)/.test(t)) return 'float';
  return t;
}

async function schemaOf(db: Database): Promise<Record<string, Record<string, string>>> {
  const qi = db.sequelize.getQueryInterface();
  const tables = (await qi.showAllTables()).map((t) => (typeof t === 'string' ? t : (t as { tableName: string }).tableName)).filter((t) => t !== 'schema_migrations').sort();
  const out: Record<string, Record<string, string>> = {};
  for (const table of tables) {
    const cols = await qi.describeTable(table);
    out[table] = Object.fromEntries(Object.entries(cols).sort(([a], [b]) => a.localeCompare(b)).map(([name, c]) => [name, `${typeClass(c.type)}${c.allowNull && !c.primaryKey ? ' null' : ''}${c.primaryKey ? ' pk' : ''}`]));
  }
  return out;
}

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

  it('keep money columns as exact decimals on MariaDB', async () => {
    const cols = await maria.sequelize.getQueryInterface().describeTable('cdrs');
    assert.match(cols.cost!.type, /^DECIMAL\(20,6\)$/i);
  });
});
