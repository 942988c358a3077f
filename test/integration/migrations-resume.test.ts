import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { QueryTypes } from 'sequelize';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { testDatabaseUrl } from '../support/mariadb';
import { indexesOf, schemaOf } from '../support/schema-dump';

const CHILD = path.resolve(__dirname, '../support/migrate-child.js');
const CLI = path.resolve(__dirname, '../../app/cli.js');

interface ChildRun { code: number | null; signal: NodeJS.Signals | null; statements: string[]; stderr: string }

/** Runs the migrations in a child process that SIGKILLs itself before statement `killAt` (-1: never). */
function migrateChild(url: string, killAt: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, url, String(killAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`migrate child did not finish within 60 s: ${err}`)); }, 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, statements: out.split('\n').filter((l) => /^\d+ /.test(l)), stderr: err });
    });
  });
}

function cli(url: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  // Only the database URL from the environment: the test harness's own variables are not config.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TOLLGATE_')));
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...env, TOLLGATE_DATABASE__URL: url, TOLLGATE_LOG__LEVEL: 'warn' }, encoding: 'utf8', timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const WRITE = /^\d+ (CREATE|ALTER|DROP|INSERT|UPDATE|DELETE)\b/i;

describe('migrations interrupted on MariaDB (DDL is not transactional) are completed by the next migrate', function () {
  this.timeout(900_000);
  let reference: { schema: unknown; indexes: unknown; applied: string[] };
  let killPoints: number[];

  before(async () => {
    const url = await testDatabaseUrl('resume_ref');
    const clean = await migrateChild(url, -1);
    assert.equal(clean.code, 0, clean.stderr);
    // Kill just after each statement that changes the schema or the migration records (the last one ends the run).
    killPoints = clean.statements.filter((l) => WRITE.test(l)).map((l) => Number(l.split(' ')[0]) + 1).filter((n) => n < clean.statements.length);
    const db = await openDatabaseUrl(url);
    reference = {
      schema: await schemaOf(db), indexes: await indexesOf(db),
      applied: (await db.sequelize.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name', { type: QueryTypes.SELECT })).map((r) => r.name),
    };
    await db.close();
  });

  it('after a kill at each write in turn: status names what is partial, migrate succeeds, and the schema equals a clean migrate', async () => {
    assert.ok(killPoints.length >= 40, `writes of a clean migrate: ${killPoints.length}`);
    let partialSeen = 0;
    for (const killAt of killPoints) {
      const url = await testDatabaseUrl('resume');
      const killed = await migrateChild(url, killAt);
      assert.equal(killed.signal, 'SIGKILL', `killed before statement ${killAt}: ${killed.stderr}`);
      assert.equal(killed.statements.length, killAt, 'it died exactly there');
      let db: Database | undefined = await openDatabaseUrl(url);
      try {
        const status = await db.migrationStatus();
        const partial = status.filter((m) => m.state === 'partial');
        assert.ok(partial.length <= 1, `at most the interrupted migration is partial: ${JSON.stringify(partial)}`);
        for (const m of partial) assert.ok(m.present.length > 0);
        partialSeen += partial.length;
        await db.migrate();
        assert.deepEqual((await db.migrationStatus()).map((m) => m.state), reference.applied.map(() => 'applied'), `after kill at ${killAt}`);
        assert.deepEqual(await schemaOf(db), reference.schema, `schema after kill at ${killAt}`);
        assert.deepEqual(await indexesOf(db), reference.indexes, `indexes after kill at ${killAt}`);
      } finally {
        await db.close();
        db = undefined;
      }
    }
    assert.ok(partialSeen >= killPoints.length / 2, `partial migrations were reported (${partialSeen} of ${killPoints.length} kills)`);
    // eslint-disable-next-line no-console -- a figure the report quotes
    console.log(`      ${killPoints.length} kill points, ${partialSeen} reported partial, every one completed`);
  });

  it('tollgate db status tells applied, partial and pending, and tollgate db migrate completes the partial one', async () => {
    // A kill inside the prepaid migration, after its first index: some of its tables exist.
    const url = await testDatabaseUrl('resume_cli');
    const clean = await migrateChild(await testDatabaseUrl('resume_cli_ref'), -1);
    const at = clean.statements.find((l) => /accounts_code_uq/.test(l) && WRITE.test(l));
    assert.ok(at, 'the clean run creates accounts_code_uq');
    const killed = await migrateChild(url, Number(at.split(' ')[0]) + 1);
    assert.equal(killed.signal, 'SIGKILL');
    const status = cli(url, 'db', 'status');
    assert.equal(status.status, 0, status.stderr);
    assert.match(status.stdout, /^applied +0001-core$/m);
    assert.match(status.stdout, /^partial +0002-prepaid: present table accounts, index accounts_code_uq; missing table ledger_entries/m);
    assert.match(status.stdout, /^pending +0003-rating$/m);
    assert.match(status.stdout, /run db migrate/);
    const migrate = cli(url, 'db', 'migrate');
    assert.equal(migrate.status, 0, migrate.stderr);
    assert.match(migrate.stdout, /applied \d+ migration\(s\): 0002-prepaid, 0003-rating/);
    const after = cli(url, 'db', 'status');
    assert.match(after.stdout, /database is up to date/);
    assert.doesNotMatch(after.stdout, /partial|pending/);
    const db = await openDatabaseUrl(url);
    try {
      assert.deepEqual(await schemaOf(db), reference.schema);
      assert.deepEqual(await indexesOf(db), reference.indexes);
    } finally {
      await db.close();
    }
  });
});
