import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { testDatabaseUrl } from '../support/mariadb';
import { schemaOf, typeClass } from '../support/schema-dump';

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
