import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileSettlementJournal, JOURNAL_FILE, type JournalRecord } from '../../../lib/prepaid';

const record = (callId: string, charge = '150000'): JournalRecord => ({
  kind: 'settle', key: `call:${callId}:settle`, callId, accountId: 1, reservationId: 7, seconds: 61, charge, at: '2026-03-02T10:00:00.000Z',
});

describe('settlement journal file', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-journal-unit-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('keeps appended records across a reopen until they are marked applied', async () => {
    const j = await FileSettlementJournal.open(dir);
    await j.append(record('a'));
    await j.append(record('b'));
    await j.markApplied('call:a:settle');
    await j.close();
    const reopened = await FileSettlementJournal.open(dir);
    assert.deepEqual(reopened.pending().map((r) => r.callId), ['b']);
    await reopened.close();
  });

  it('empties the file once nothing is pending', async () => {
    const j = await FileSettlementJournal.open(dir);
    await j.append(record('a'));
    await j.markApplied('call:a:settle');
    await j.close();
    assert.equal(fs.readFileSync(path.join(dir, JOURNAL_FILE), 'utf8'), '');
  });

  it('ignores a torn last line left by a crash while writing', async () => {
    const j = await FileSettlementJournal.open(dir);
    await j.append(record('a'));
    await j.close();
    fs.appendFileSync(path.join(dir, JOURNAL_FILE), '{"op":"add","record":{"kind":"sett');
    const reopened = await FileSettlementJournal.open(dir);
    assert.deepEqual(reopened.pending().map((r) => r.callId), ['a']);
    await reopened.close();
  });

  it('writes concurrent appends whole, one line each', async () => {
    const j = await FileSettlementJournal.open(dir);
    await Promise.all(Array.from({ length: 50 }, (_, i) => j.append(record(`c${i}`))));
    await j.close();
    const lines = fs.readFileSync(path.join(dir, JOURNAL_FILE), 'utf8').trim().split('\n');
    assert.equal(lines.length, 50);
    for (const line of lines) JSON.parse(line);
  });
});
