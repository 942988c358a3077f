import { strict as assert } from 'node:assert';
import { FinishedTransactions, RECORD_OVERHEAD_BYTES } from '../../../../lib/edge/transaction/finished-transactions';

describe('edge: the cache of finished transactions', () => {
  let now = 1000;
  const clock = () => now;
  const at = { transport: 'udp' as const, address: '127.0.0.1', port: 5060 };

  it('keeps a record for its lifetime only, each lifetime expiring in order', () => {
    const c = new FinishedTransactions({ maxEntries: 10, maxBytes: 1 << 20 }, 60_000, clock);
    c.add('s|a', 3200, { status: 200 });
    c.add('c|b', 500, { status: 486, resend: Buffer.from('ACK'), target: at });
    assert.equal(c.size, 2);
    assert.equal(c.get('c|b')?.resend?.toString(), 'ACK');
    now += 600;
    assert.equal(c.get('c|b'), undefined, 'past Timer K: not absorbed any more');
    c.expire();
    assert.equal(c.size, 1);
    assert.equal(c.get('s|a')?.status, 200);
    now += 3000;
    c.expire();
    assert.equal(c.size, 0);
    assert.equal(c.bytes, 0);
    assert.equal(c.evicted, 0);
    c.close();
  });

  it('bounds entries and bytes: the oldest records go first, whatever their lifetime, and are counted', () => {
    const c = new FinishedTransactions({ maxEntries: 3, maxBytes: 1 << 20 }, 60_000, clock);
    c.add('k1', 5000, { status: 200 }); now++;
    c.add('k2', 500, { status: 200 }); now++;
    c.add('k3', 5000, { status: 200 }); now++;
    c.add('k4', 500, { status: 200 });
    assert.equal(c.size, 3);
    assert.equal(c.evicted, 1);
    assert.equal(c.get('k1'), undefined);
    c.add('k5', 5000, { status: 200 });
    assert.equal(c.get('k2'), undefined, 'the older of the two heads goes');
    assert.ok(c.get('k3') && c.get('k4') && c.get('k5'));
    c.close();

    const big = Buffer.alloc(1000);
    const b = new FinishedTransactions({ maxEntries: 100, maxBytes: 3 * (RECORD_OVERHEAD_BYTES + 1500) }, 60_000, clock);
    for (let i = 0; i < 5; i++) b.add(`b${i}`, 5000, { status: 200, resend: big, target: at });
    assert.ok(b.bytes <= 3 * (RECORD_OVERHEAD_BYTES + 1500), `bytes ${b.bytes}`);
    assert.equal(b.size + b.evicted, 5);
    assert.ok(b.evicted >= 2);
    assert.equal(b.get('b0'), undefined);
    assert.ok(b.get('b4'));
    b.close();
  });

  it('a key added again replaces its record instead of counting twice', () => {
    const c = new FinishedTransactions({ maxEntries: 3, maxBytes: 1 << 20 }, 60_000, clock);
    c.add('k', 500, { status: 200 });
    const bytes = c.bytes;
    c.add('k', 5000, { status: 481 });
    assert.equal(c.size, 1);
    assert.equal(c.bytes, bytes);
    assert.equal(c.get('k')?.status, 481);
    c.close();
  });
});
