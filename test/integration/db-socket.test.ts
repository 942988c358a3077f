import { strict as assert } from 'node:assert';
import { QueryTypes } from 'sequelize';
import { AppError } from '../../lib/common/errors';
import { openDatabaseUrl, type Database } from '../../lib/db/database';
import { testDatabaseUrl } from '../support/mariadb';

/** The url's ?socket= against the real server: the same database, reached over its Unix socket. */
describe('MariaDB over its Unix socket (database url ?socket=)', function () {
  this.timeout(60_000);
  let tcpUrl: string;
  let socketPath: string;
  let tcp: Database;
  before(async () => {
    tcpUrl = await testDatabaseUrl('sock');
    tcp = await openDatabaseUrl(tcpUrl);
    const [row] = await tcp.sequelize.query<{ socket: string }>('SELECT @@socket AS socket', { type: QueryTypes.SELECT });
    socketPath = String(row?.socket);
  });
  after(async () => { await tcp?.close(); });

  it('migrates over the socket, on a connection that is not TCP, and TCP reads what it wrote', async () => {
    const db = await openDatabaseUrl(`${tcpUrl}?socket=${encodeURIComponent(socketPath)}`);
    try {
      await db.migrate();
      await db.sequelize.query('CREATE TABLE socket_probe (v INT NOT NULL)');
      await db.sequelize.query('INSERT INTO socket_probe (v) VALUES (42)');
      const [probe] = await tcp.sequelize.query<{ v: number }>('SELECT v FROM socket_probe', { type: QueryTypes.SELECT });
      assert.equal(Number(probe?.v), 42);
      const [migrated] = await tcp.sequelize.query<{ n: number }>("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'cdrs'", { type: QueryTypes.SELECT });
      assert.equal(Number(migrated?.n), 1);
      // A Unix-socket client shows as 'localhost' in the process list; a TCP one as address:port.
      const [me] = await db.sequelize.query<{ host: string }>('SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()', { type: QueryTypes.SELECT });
      assert.equal(me?.host, 'localhost');
    } finally {
      await db.close();
    }
  });

  it('a socket path where no server listens is DB_UNAVAILABLE, naming the path', async () => {
    await assert.rejects(openDatabaseUrl(`${tcpUrl}?socket=/nonexistent/mysqld.sock`),
      (err: unknown) => err instanceof AppError && err.code === 'DB_UNAVAILABLE' && /\/nonexistent\/mysqld\.sock/.test(err.message));
  });
});
