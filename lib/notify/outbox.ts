import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** One notification kept until it is delivered or given up: its key and the exact body sent. */
export interface OutboxEntry {
  key: string;
  body: string;
}

/** A stored entry and the name it is stored under (to remove it once it is done). */
export interface StoredEntry extends OutboxEntry {
  ref: string;
}

/**
 * Where spend notifications wait for their webhook across restarts. The notifier writes an entry
 * when it queues an event and removes it once the event is delivered or given up; at start it
 * takes back whatever is left, under the same keys.
 */
export interface NotificationOutbox {
  /** Every stored entry, oldest first, and the names that could not be read (left in place). */
  load(): Promise<{ entries: StoredEntry[]; unreadable: string[] }>;
  /** Store an entry; resolves with its ref. */
  add(entry: OutboxEntry, sequence: number): Promise<string>;
  remove(ref: string): Promise<void>;
}

const SUFFIX = '.json';

/**
 * The outbox as one small file per notification in this instance's own folder (next to its
 * settlement journal, so only this instance replays it). A file, not a table: a call that is cut
 * off because the database is down still gets its notification kept, and the call path never
 * waits on a database statement for it. Written to a temporary name and renamed, so a stop in the
 * middle leaves either the whole entry or none.
 */
export class FileNotificationOutbox implements NotificationOutbox {
  constructor(private readonly dir: string) {}

  async load(): Promise<{ entries: StoredEntry[]; unreadable: string[] }> {
    await fs.mkdir(this.dir, { recursive: true });
    // Names begin with the time and a sequence, so their order is the order the events came in.
    const names = (await fs.readdir(this.dir)).filter((n) => n.endsWith(SUFFIX)).sort();
    const entries: StoredEntry[] = [];
    const unreadable: string[] = [];
    for (const name of names) {
      try {
        const parsed = JSON.parse(await fs.readFile(path.join(this.dir, name), 'utf8')) as Partial<OutboxEntry>;
        if (typeof parsed.key !== 'string' || typeof parsed.body !== 'string') throw new Error('not an outbox entry');
        entries.push({ key: parsed.key, body: parsed.body, ref: name });
      } catch {
        unreadable.push(name);
      }
    }
    return { entries, unreadable };
  }

  async add(entry: OutboxEntry, sequence: number): Promise<string> {
    const digest = createHash('sha256').update(entry.key).digest('hex').slice(0, 16);
    const name = `${Date.now().toString().padStart(15, '0')}-${String(sequence).padStart(9, '0')}-${digest}${SUFFIX}`;
    const file = path.join(this.dir, name);
    await fs.mkdir(this.dir, { recursive: true });
    await fs.writeFile(`${file}.tmp`, JSON.stringify(entry));
    await fs.rename(`${file}.tmp`, file);
    return name;
  }

  async remove(ref: string): Promise<void> {
    await fs.rm(path.join(this.dir, ref), { force: true });
  }
}
