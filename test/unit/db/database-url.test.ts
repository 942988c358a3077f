import assert from 'node:assert/strict';
import { databaseOptionsFromUrl } from '../../../lib/db/database';

describe('database url', () => {
  it('reads host, port, user, password and database of a mysql: url', () => {
    const o = databaseOptionsFromUrl('mysql://bill:s%40fe@db.example:3307/tolls');
    assert.deepEqual([o.dialect, o.host, o.port, o.user, o.password, o.database, o.socketPath], ['mysql', 'db.example', 3307, 'bill', 's@fe', 'tolls', undefined]);
  });

  it('takes the server\'s Unix socket from ?socket=, encoded or not', () => {
    assert.equal(databaseOptionsFromUrl('mysql://root@localhost/tollgate?socket=/run/mysqld/mysqld.sock').socketPath, '/run/mysqld/mysqld.sock');
    assert.equal(databaseOptionsFromUrl('mariadb://root@localhost/tollgate?socket=%2Ftmp%2Fmy%20db%2Fmysqld.sock').socketPath, '/tmp/my db/mysqld.sock');
  });

  const refused: Array<[string, RegExp]> = [
    ['mysql://root@localhost/tollgate?socket=run/mysqld.sock', /socket must be an absolute path, got 'run\/mysqld.sock'/],
    ['mysql://root@localhost/tollgate?sslmode=require', /parameter 'sslmode' is not known; the one parameter is socket=/],
    ['postgres://root@localhost/tollgate', /scheme must be mysql: or sqlite:/],
  ];
  for (const [url, why] of refused) {
    it(`refuses ${url} with the reason`, () => {
      assert.throws(() => databaseOptionsFromUrl(url), (err: Error & { code?: string }) => err.code === 'DB_URL_INVALID' && why.test(err.message));
    });
  }
});
