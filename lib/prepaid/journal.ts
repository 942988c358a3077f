import { promises as fs } from 'node:fs';
import path from 'node:path';

/**
 * A settlement or release that could not be written to the database. Money as a decimal string
 * of micro-units so the record is plain JSON.
 */
export type JournalRecord =
  | { kind: 'settle'; key: string; callId: string; accountId: number; reservationId: number | null; seconds: number; charge: string; at: string }
  | { kind: 'release'; key: string; callId: string; accountId: number; reservationId: number; at: string };

/** Durable store of pending settlements: append is complete only when the record is on disk. */
export interface SettlementJournal {
  append(record: JournalRecord): Promise<void>;
  pending(): JournalRecord[];
  markApplied(key: string): Promise<void>;
  close(): Promise<void>;
}

export class MemorySettlementJournal implements SettlementJournal {
  private readonly records = new Map<string, JournalRecord>();
  async append(record: JournalRecord): Promise<void> { this.records.set(record.key, record); }
  pending(): JournalRecord[] { return [...this.records.values()]; }
  async markApplied(key: string): Promise<void> { this.records.delete(key); }
  async close(): Promise<void> { /* nothing held */ }
}

type Line = { op: 'add'; record: JournalRecord } | { op: 'done'; key: string };

export const JOURNAL_FILE = 'settlements.journal';

/**
 * An append-only JSON-lines file, fsync'd after every line. Applied records are marked with a
 * `done` line; when nothing is pending the file is truncated. A torn last line (crash while
 * writing) is ignored on open: its append never returned, so nobody relied on it.
 */
export class FileSettlementJournal implements SettlementJournal {
  private readonly records = new Map<string, JournalRecord>();
  private chain: Promise<unknown> = Promise.resolve();

  /** Lines that could not be read when the journal was opened. */
  readonly unreadable: string[] = [];

  private constructor(readonly file: string, private handle: fs.FileHandle) {}

  static async open(dir: string): Promise<FileSettlementJournal> {
    await fs.mkdir(dir, { recursive: true });
    const file = path.join(dir, JOURNAL_FILE);
    const handle = await fs.open(file, 'a+');
    const journal = new FileSettlementJournal(file, handle);
    const text = await fs.readFile(file, 'utf8');
    for (const raw of text.split('\n')) {
      if (!raw.trim()) continue;
      let line: Line;
      // Only a crash mid-append tears a line; its settlement was never confirmed. Kept for the log.
      try { line = JSON.parse(raw) as Line; } catch { journal.unreadable.push(raw); continue; }
      if (line.op === 'add') journal.records.set(line.record.key, line.record);
      else if (line.op === 'done') journal.records.delete(line.key);
    }
    // Make sure the directory entry of a newly created file is durable too.
    await syncDir(dir);
    return journal;
  }

  pending(): JournalRecord[] { return [...this.records.values()]; }

  append(record: JournalRecord): Promise<void> {
    return this.serial(async () => {
      await this.writeLine({ op: 'add', record });
      this.records.set(record.key, record);
    });
  }

  markApplied(key: string): Promise<void> {
    return this.serial(async () => {
      if (!this.records.has(key)) return;
      this.records.delete(key);
      if (this.records.size === 0) {
        await this.handle.truncate(0);
        await this.handle.sync();
      } else {
        await this.writeLine({ op: 'done', key });
      }
    });
  }

  close(): Promise<void> {
    return this.serial(() => this.handle.close());
  }

  private async writeLine(line: Line): Promise<void> {
    await this.handle.write(JSON.stringify(line) + '\n');
    await this.handle.sync();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

async function syncDir(dir: string): Promise<void> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(dir, 'r');
    await h.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the file's own fsync still holds.
  } finally {
    await h?.close();
  }
}
