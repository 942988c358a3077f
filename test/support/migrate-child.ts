/**
 * `node migrate-child.js <database url> <n>`: runs the migrations and kills itself with SIGKILL
 * just before its statement number n (counting from 0) reaches the database, as a crash or an
 * operator's kill -9 would; n = -1 runs to the end. Prints each statement's number and its first
 * words on stdout, so a test can find the kill points and see where it stopped.
 */
import { openDatabase, databaseOptionsFromUrl } from '../../lib/db/database';
import { silentLogger, type Logger } from '../../lib/common/logger';

async function main(): Promise<void> {
  const [url, nText] = process.argv.slice(2);
  const killAt = Number(nText);
  let count = 0;
  const base = silentLogger();
  // Sequelize logs each statement just before it sends it: the n-th log is the moment to die.
  const logger = Object.create(base, {
    debug: {
      value: (message: string, meta?: { sql?: string }) => {
        if (message !== 'sql') return base;
        const sql = String(meta?.sql ?? '').replace(/^Executing \([^)]*\):\s*/, '');
        if (count === killAt) process.kill(process.pid, 'SIGKILL');
        process.stdout.write(`${count} ${sql.replace(/\s+/g, ' ').slice(0, 120)}\n`);
        count++;
        return base;
      },
    },
  }) as Logger;
  const db = await openDatabase({ ...databaseOptionsFromUrl(url!), logQueries: true }, logger);
  await db.migrate();
  await db.close();
  process.stdout.write('migrated\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
