import { strict as assert } from 'node:assert';
import { AccountService, MemoryPrepaidStore, PrepaidError, unlessUnknownAccount } from '../../../lib/prepaid';

describe('reading an account that may not exist (unlessUnknownAccount)', () => {
  it('reads a missing account as undefined, and passes every other error on', async () => {
    const accounts = new AccountService(new MemoryPrepaidStore());
    assert.equal(await accounts.resolve('nobody').catch(unlessUnknownAccount), undefined);
    const outage = new PrepaidError('DB_UNAVAILABLE', 'database unavailable');
    await assert.rejects(Promise.reject(outage).catch(unlessUnknownAccount), (err) => err === outage);
    const plain = new Error('socket closed');
    await assert.rejects(Promise.reject(plain).catch(unlessUnknownAccount), (err) => err === plain);
  });
});
