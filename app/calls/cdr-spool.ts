import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../lib/common/logger';
import type { CdrRecord } from '../../lib/db/cdr-repository';

type WriteCdr = (cdr: CdrRecord) => Promise<unknown>;

/**
 * CDRs that cannot be written (database down) go to a local file, fsync'd, one JSON line each, and
 * are written again in order once the database answers; a CDR write is idempotent by call id, so a
 * replay after a crash between writing and truncating duplicates nothing.
 */
export class CdrSpool {
  private readonly file: string;
  private flushing: Promise<number> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Lines in the file, kept in memory so the hot path does not read the disk. */
  private waiting: number;

  constructor(dir: string, private readonly write: WriteCdr, private readonly logger: Logger) {
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'cdr-spool.jsonl');
    this.waiting = this.readLines().length;
  }

  private readLines(): string[] {
    return fs.existsSync(this.file) ? fs.readFileSync(this.file, 'utf8').split('\n').filter(Boolean) : [];
  }

  /** Writes the CDR, or spools it when the write fails. */
  async record(cdr: CdrRecord): Promise<void> {
    if (this.pending() === 0) {
      try {
        await this.write(cdr);
        return;
      } catch (err) {
        this.logger.warn('CDR not written; spooled for later', { callId: cdr.callId, error: String(err) });
      }
    }
    this.append(cdr);
  }

  private append(cdr: CdrRecord): void {
    const line = JSON.stringify(cdr, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) + '\n';
    const fd = fs.openSync(this.file, 'a');
    try {
      fs.writeSync(fd, line);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.waiting++;
  }

  /** CDRs waiting in the spool. */
  pending(): number {
    return this.waiting;
  }

  /** Writes what is spooled, in order; stops at the first failure. Returns how many were written. */
  flush(): Promise<number> {
    this.flushing ??= this.flushNow().finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  private async flushNow(): Promise<number> {
    const lines = this.readLines();
    if (lines.length === 0) return 0;
    let written = 0;
    for (const line of lines) {
      let cdr: CdrRecord;
      try {
        cdr = JSON.parse(line, (k, v: unknown) => {
          if (typeof v === 'string' && /^-?\d+n$/.test(v)) return BigInt(v.slice(0, -1));
          if (typeof v === 'string' && /At$/.test(k)) return new Date(v);
          return v;
        }) as CdrRecord;
      } catch {
        // A line torn by a crash mid-write: its text goes to the log, where an operator can recover it.
        this.logger.error('unreadable spooled CDR dropped', { line });
        written++;
        continue;
      }
      try {
        await this.write(cdr);
        written++;
      } catch (err) {
        this.logger.debug('spooled CDRs still not writable', { error: String(err) });
        break;
      }
    }
    // Re-read: CDRs may have been spooled while these were written. From here to the rename
    // nothing awaits, so no append can slip between.
    const rest = this.readLines().slice(written);
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, rest.length ? rest.join('\n') + '\n' : '');
    const fd = fs.openSync(tmp, 'r+');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file);
    this.waiting = rest.length;
    if (written > 0) this.logger.info('spooled CDRs written', { written, remaining: rest.length });
    return written;
  }

  /** Retries the spool every intervalMs until stopped. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => { if (this.pending() > 0) void this.flush(); }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
