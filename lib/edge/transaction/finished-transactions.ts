import { ownedString } from '../message/message';
import type { Endpoint } from '../transport/transport';

/**
 * What a finished transaction keeps for the rest of its Timer J/K/I/L/M/D (RFC 3261 §17 with
 * RFC 6026): enough to absorb retransmissions, never the parsed request.
 */
export interface FinishedTransaction {
  /** Final status sent (server) or received (client). */
  readonly status: number;
  /** Resent on each retransmission absorbed: the last response (non-INVITE server) or the ACK (non-2xx INVITE client). */
  readonly resend: Buffer | null;
  readonly target: Endpoint | null;
  /** Server INVITE: the To tag of its final response, for a late CANCEL's 200. */
  readonly toTag: string | null;
  readonly finishedAt: number;
  readonly expiresAt: number;
  readonly bytes: number;
}

export interface FinishedTransactionLimits {
  /** Records kept at most; when full the oldest go first (`evicted`). */
  maxEntries: number;
  /** Estimated bytes kept at most (records, keys and resend copies); when over, the oldest go first. */
  maxBytes: number;
}

export const DEFAULT_FINISHED_TRANSACTION_LIMITS: FinishedTransactionLimits = { maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 };

/**
 * Memory of one record besides its key and resend bytes: the record object, its Map entry and the
 * key's string header; a resend copy adds its Buffer object and backing store. Measured on Node 20
 * x64 with `--expose-gc` over 100,000 records: 265 B of heap without a resend (48-character key),
 * about 890 B of RSS with a 350-byte one.
 */
export const RECORD_OVERHEAD_BYTES = 240;
export const RESEND_OVERHEAD_BYTES = 250;


/**
 * The bounded cache of finished transactions. Records of one lifetime expire in the order they
 * were added, so each lifetime has its own insertion-ordered Map and expiry only looks at heads.
 */
export class FinishedTransactions {
  private byLifetime = new Map<number, Map<string, FinishedTransaction>>();
  private entries = 0;
  private bytesKept = 0;
  evicted = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly limits: FinishedTransactionLimits, sweepMs: number, private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.expire(), sweepMs).unref();
  }

  get size(): number { return this.entries; }
  get bytes(): number { return this.bytesKept; }

  add(key: string, lifetimeMs: number, fields: { status: number; resend?: Buffer | null; target?: Endpoint | null; toTag?: string | null }): void {
    if (lifetimeMs <= 0) return;
    const own = ownedString(key);
    this.remove(own);
    const resend = fields.resend ?? null;
    const bytes = RECORD_OVERHEAD_BYTES + own.length + (resend ? RESEND_OVERHEAD_BYTES + resend.length : 0);
    while (this.entries > 0 && (this.entries >= this.limits.maxEntries || this.bytesKept + bytes > this.limits.maxBytes)) {
      this.evictOldest();
    }
    const at = this.now();
    let queue = this.byLifetime.get(lifetimeMs);
    if (!queue) { queue = new Map(); this.byLifetime.set(lifetimeMs, queue); }
    queue.set(own, {
      status: fields.status, resend, target: fields.target ?? null, toTag: fields.toTag ? ownedString(fields.toTag) : null,
      finishedAt: at, expiresAt: at + lifetimeMs, bytes,
    });
    this.entries++;
    this.bytesKept += bytes;
  }

  get(key: string): FinishedTransaction | undefined {
    for (const queue of this.byLifetime.values()) {
      const r = queue.get(key);
      if (r) return r.expiresAt > this.now() ? r : undefined;
    }
    return undefined;
  }

  private remove(key: string): void {
    for (const queue of this.byLifetime.values()) {
      const r = queue.get(key);
      if (!r) continue;
      queue.delete(key);
      this.entries--;
      this.bytesKept -= r.bytes;
      return;
    }
  }

  /** Drops every record whose timer ran out. */
  expire(): void {
    const now = this.now();
    for (const queue of this.byLifetime.values()) {
      for (const [key, r] of queue) {
        if (r.expiresAt > now) break;
        queue.delete(key);
        this.entries--;
        this.bytesKept -= r.bytes;
      }
    }
  }

  private evictOldest(): void {
    let oldest: { queue: Map<string, FinishedTransaction>; key: string; at: number } | null = null;
    for (const queue of this.byLifetime.values()) {
      const head = queue.entries().next();
      if (head.done) continue;
      const [key, r] = head.value;
      if (!oldest || r.finishedAt < oldest.at) oldest = { queue, key, at: r.finishedAt };
    }
    if (!oldest) return;
    const r = oldest.queue.get(oldest.key) as FinishedTransaction;
    oldest.queue.delete(oldest.key);
    this.entries--;
    this.bytesKept -= r.bytes;
    this.evicted++;
  }

  close(): void {
    clearInterval(this.sweeper);
    this.byLifetime.clear();
    this.entries = 0;
    this.bytesKept = 0;
  }
}
