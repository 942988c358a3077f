import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../../lib/common/logger';
import type { CdrRecord } from '../../../lib/db/cdr-repository';
import { CdrSpool } from '../../../app/calls/cdr-spool';

const cdr = (callId: string, cost: bigint): CdrRecord => ({
  callId, instanceId: 'i', sipCallId: 's', inviteAt: new Date('2026-11-23T10:00:00.123Z'), answerAt: new Date('2026-11-23T10:00:01.000Z'),
  endAt: new Date('2026-11-23T10:00:31.000Z'), callerDialled: null, callerE164: '4930100201', calleeDialled: null, calleeE164: '4930100202',
  presentedCaller: '201', scope: 'onnet', service: 'voice.onnet', vpnGroup: 'acme', accountId: 1, ingressTrunk: 'pbx', egressTrunk: 'pbx',
  billableSeconds: 30, grantedSeconds: 300, disposition: 'answered', releaseCause: 'caller_bye', sipStatus: 200, sipReason: 'OK',
  ruleId: 1, tariffId: 1, currency: 'EUR', cost, ledgerKey: `call:${callId}:settle`,
});

describe('CDR spool', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-spool-')); });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('keeps the CDRs the database refuses, on disk, and writes them unchanged and in order once it answers', async () => {
    const written: CdrRecord[] = [];
    let up = false;
    const write = async (c: CdrRecord) => { if (!up) throw new Error('database unavailable'); written.push(c); };
    const spool = new CdrSpool(dir, write, silentLogger());
    await spool.record(cdr('a', 1_500_000n));
    await spool.record(cdr('b', 7n));
    assert.equal(spool.pending(), 2);
    assert.equal(await new CdrSpool(dir, write, silentLogger()).flush(), 0, 'still down: nothing written, nothing lost');
    up = true;
    const afterRestart = new CdrSpool(dir, write, silentLogger());
    assert.equal(await afterRestart.flush(), 2);
    assert.deepEqual(written, [cdr('a', 1_500_000n), cdr('b', 7n)]);
    assert.equal(afterRestart.pending(), 0);
  });

  it('while CDRs wait in the spool, new ones queue behind them so the order holds', async () => {
    const written: string[] = [];
    let up = false;
    const spool = new CdrSpool(dir, async (c) => { if (!up) throw new Error('down'); written.push(c.callId); }, silentLogger());
    await spool.record(cdr('first', 1n));
    up = true;
    await spool.record(cdr('second', 2n));
    assert.deepEqual(written, []);
    await spool.flush();
    assert.deepEqual(written, ['first', 'second']);
  });

  it('keeps a CDR spooled while a flush is writing the earlier ones', async () => {
    const written: string[] = [];
    let release!: () => void;
    let up = false;
    const spool = new CdrSpool(dir, async (c) => {
      if (!up) throw new Error('down');
      if (c.callId === 'a') await new Promise<void>((r) => { release = r; });
      written.push(c.callId);
    }, silentLogger());
    await spool.record(cdr('a', 1n));
    up = true;
    const flushing = spool.flush();
    await new Promise((r) => setImmediate(r));
    await spool.record(cdr('b', 2n));
    release();
    await flushing;
    assert.equal(spool.pending(), 1, 'b is still waiting, not lost');
    await spool.flush();
    assert.deepEqual(written, ['a', 'b']);
  });

  it('survives a line torn by a crash: it is dropped to the log and the CDRs around it are written', async () => {
    const written: string[] = [];
    let up = false;
    const spool = new CdrSpool(dir, async (c) => { if (!up) throw new Error('down'); written.push(c.callId); }, silentLogger());
    await spool.record(cdr('before', 1n));
    fs.appendFileSync(path.join(dir, 'cdr-spool.jsonl'), '{"callId":"torn","co\n');
    up = true;
    const reopened = new CdrSpool(dir, async (c) => { written.push(c.callId); }, silentLogger());
    await reopened.record(cdr('after', 2n));
    assert.equal(await reopened.flush(), 3);
    assert.deepEqual(written, ['before', 'after']);
    assert.equal(reopened.pending(), 0);
  });
});
