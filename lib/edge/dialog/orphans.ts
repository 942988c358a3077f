/** How an orphaned dialog ended. */
export type OrphanEnd = 'bye-received' | 'grace-bye' | 'session-timer' | 'ack-timeout' | 'edge-stop' | 'app-bye' | 'cancel-after-200';

export interface OrphanRecord {
  dialogId: string;
  callId: string;
  /** Epoch ms of the BYE sent or received; null while the dialog is still up. */
  endedAt: number | null;
  how: OrphanEnd | null;
  recordedAt: number;
}

export const MAX_ORPHAN_RECORDS = 100_000;

/**
 * Dialogs whose application connection closed, and when each really ended, so that a restarted
 * application can bill them to their real end. Bounded: ended records are kept `retentionMs`,
 * and at most `maxRecords` in all (the oldest go first).
 */
export class OrphanRecords {
  private records = new Map<string, OrphanRecord>();  // insertion order = oldest first
  recorded = 0;

  constructor(private readonly retentionMs: number, private readonly maxRecords = MAX_ORPHAN_RECORDS, private readonly now: () => number = Date.now) {}

  get size(): number { return this.records.size; }

  has(dialogId: string): boolean { return this.records.has(dialogId); }

  record(dialogId: string, callId: string): void {
    const existing = this.records.get(dialogId);
    if (existing && existing.endedAt === null) return;
    if (existing) this.records.delete(dialogId);
    this.records.set(dialogId, { dialogId, callId, endedAt: null, how: null, recordedAt: this.now() });
    this.recorded++;
    while (this.records.size > this.maxRecords) {
      const oldest = this.records.keys().next().value as string;
      this.records.delete(oldest);
    }
  }

  /** Marks the end of an orphan; the first end wins. No-op for dialogs that are not orphans. */
  ended(dialogId: string, how: OrphanEnd, at = this.now()): void {
    const r = this.records.get(dialogId);
    if (!r || r.endedAt !== null) return;
    r.endedAt = at;
    r.how = how;
  }

  /** Drops ended records older than the retention. */
  prune(): void {
    const cutoff = this.now() - this.retentionMs;
    for (const [id, r] of this.records) if (r.endedAt !== null && r.endedAt < cutoff) this.records.delete(id);
  }

  /** Records for the ids asked (all when none), as the `tollgate:orphans` answer lists them. */
  query(ids: string[]): { now: number; dialogs: Record<string, { endedAt: number | null; how: string | null }> } {
    this.prune();
    const dialogs: Record<string, { endedAt: number | null; how: string | null }> = {};
    const pick = ids.length ? ids : [...this.records.keys()];
    for (const id of pick) {
      const r = this.records.get(id);
      if (r) dialogs[id] = { endedAt: r.endedAt, how: r.how };
    }
    return { now: this.now(), dialogs };
  }

  /** Dialog ids still open (the edge stopping ends them all). */
  openIds(): string[] {
    const out: string[] = [];
    for (const [id, r] of this.records) if (r.endedAt === null) out.push(id);
    return out;
  }
}
