import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Logger } from '../common/logger';
import type { NotificationOutbox } from './outbox';

/**
 * Spend notifications: a low-balance crossing of an account or a group pool, and every cut-off
 * (a call ended because the money ran out). Each is logged and POSTed as JSON to a configured
 * webhook, signed with HMAC-SHA256, retried with exponential back-off, at least once, under an
 * idempotency key the receiver deduplicates by. With an outbox, each queued event is also stored
 * (in the background) until it is delivered or given up, and one left at a stop is sent again after
 * the next start under the same key. Enqueueing never waits and never throws: nothing a receiver or
 * the outbox does (slow, down, refusing, a full disk) reaches a call.
 */

export type SpendEventKind = 'low_balance' | 'cut_off';

export interface SpendEvent {
  kind: SpendEventKind;
  /** What crossed or was cut: an account, or a VPN group's pool. */
  subject: { type: 'account' | 'pool'; id: number; code?: string; group?: string };
  callId?: string;
  /** Money as decimal strings ("1.500000"). */
  available?: string;
  threshold?: string;
  at: string;
}

export interface WebhookOptions {
  url: string;
  /** HMAC key of the signature; the receiver holds the same. */
  secret: string;
  /** Deliveries waiting at most; a notification beyond it is logged and dropped. */
  queueSize: number;
  /** Tries per notification, the first included. */
  maxAttempts: number;
  /** First retry after this long, doubling up to maxBackoffMs (with ±20 % jitter). */
  backoffMs: number;
  maxBackoffMs: number;
  /** One POST's bound, connect to response. */
  timeoutMs: number;
}

/** One POST: the HTTP status, or a thrown error (network, timeout). */
export type WebhookPost = (url: string, body: string, headers: Record<string, string>, timeoutMs: number) => Promise<number>;

export interface NotifierStats {
  queued: number;
  delivered: number;
  /** Given up after maxAttempts, or refused permanently (4xx). */
  failed: number;
  /** Not queued: the queue was full. */
  dropped: number;
  /** Queued but not stored in the outbox (a write failed): delivered while the process lives only. */
  unwritten: number;
  /** Taken back from the outbox at start (left by an earlier run). */
  restored: number;
}

interface Delivery {
  key: string;
  body: string;
  attempts: number;
  /** Its outbox entry's ref, once written (undefined: not stored). */
  stored?: Promise<string | undefined>;
}

export const SIGNATURE_HEADER = 'X-Tollgate-Signature';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the time binds the signature against replays of old bodies. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/** The receiver's check: the signature header matches the body under the secret. */
export function verifyWebhook(secret: string, body: string, header: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  return m !== null && signWebhook(secret, body, Number(m[1])) === header;
}

/** The same event always has the same key, so a re-sent one (a retry, a replay) is recognised. */
export function idempotencyKey(e: SpendEvent): string {
  return [e.kind, e.subject.type, e.subject.id, e.callId ?? e.at].join(':');
}

/** A 2xx is delivered; 408, 429 and 5xx are worth retrying; any other 4xx never will be. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export class SpendNotifier {
  private readonly queue: Delivery[] = [];
  private readonly counts: NotifierStats = { queued: 0, delivered: 0, failed: 0, dropped: 0, unwritten: 0, restored: 0 };
  /** Outbox writes and removals under way: a stop waits for them (bounded) so none is cut in half. */
  private readonly outboxWork = new Set<Promise<unknown>>();
  private sequence = 0;
  private worker: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private waitTimer: NodeJS.Timeout | undefined;
  private stopping = false;

  constructor(
    private readonly options: WebhookOptions | null,
    private readonly logger: Logger,
    private readonly post: WebhookPost = httpPost,
    private readonly clock: () => Date = () => new Date(),
    private readonly outbox: NotificationOutbox | null = null,
  ) {}

  /** Take back what an earlier run left in the outbox and deliver it, under the same keys. Once, before events come in. */
  async start(): Promise<number> {
    if (!this.options || !this.outbox) return 0;
    let loaded: Awaited<ReturnType<NotificationOutbox['load']>>;
    try {
      loaded = await this.outbox.load();
    } catch (err) {
      // Not fatal: calls must still start; what is in the outbox waits for a start that can read it.
      this.logger.error('spend notification outbox not readable; earlier undelivered events are not sent', { error: err instanceof Error ? err.message : String(err) });
      return 0;
    }
    const { entries, unreadable } = loaded;
    if (unreadable.length > 0) this.logger.error('spend notification outbox entries not readable; left in place', { entries: unreadable });
    for (const e of entries) this.queue.push({ key: e.key, body: e.body, attempts: 0, stored: Promise.resolve(e.ref) });
    this.counts.restored += entries.length;
    if (entries.length > 0) {
      this.logger.info('spend notifications taken back from the outbox', { count: entries.length });
      this.kick();
    }
    return entries.length;
  }

  /** Log the event and queue its delivery; returns false when it could not be queued (no webhook, full, stopping). */
  notify(event: SpendEvent): boolean {
    const key = idempotencyKey(event);
    this.logger.warn(event.kind === 'cut_off' ? 'spend notification: call cut off, money exhausted' : 'spend notification: below low-balance threshold', { ...event, key });
    if (!this.options || this.stopping) return false;
    if (this.queue.length >= this.options.queueSize) {
      this.counts.dropped++;
      this.logger.error('spend notification dropped: webhook queue full', { key, queueSize: this.options.queueSize });
      return false;
    }
    const delivery: Delivery = { key, body: JSON.stringify({ id: key, ...event }), attempts: 0 };
    if (this.outbox) delivery.stored = this.track(this.store(delivery));
    this.queue.push(delivery);
    this.counts.queued++;
    this.kick();
    return true;
  }

  get stats(): NotifierStats {
    return { ...this.counts, queued: this.queue.length };
  }

  /**
   * Stop taking events; deliver what is queued for at most `drainMs`. What is left stays in the
   * outbox for the next start; without one (or where its write failed) it is given up (logged).
   */
  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    await within(this.worker ?? Promise.resolve(), drainMs);
    const left = this.queue.splice(0);
    this.wake?.();
    await within(Promise.all(this.outboxWork), drainMs);
    if (left.length === 0) return;
    const kept: string[] = [];
    const lost: string[] = [];
    for (const d of left) ((await settledRef(d)) !== undefined ? kept : lost).push(d.key);
    if (kept.length > 0) this.logger.info('spend notifications kept in the outbox for the next start', { count: kept.length });
    if (lost.length > 0) this.logger.error('spend notifications not delivered at shutdown', { keys: lost });
  }

  private async store(d: Delivery): Promise<string | undefined> {
    try {
      return await this.outbox!.add({ key: d.key, body: d.body }, this.sequence++);
    } catch (err) {
      this.counts.unwritten++;
      this.logger.error('spend notification not stored in the outbox; delivered while the process lives only', { key: d.key, error: err instanceof Error ? err.message : String(err) });
      return undefined;
    }
  }

  /** Done with a delivery (delivered or given up): its outbox entry goes, once it has been written. */
  private forget(d: Delivery): void {
    if (!d.stored) return;
    const stored = d.stored;
    void this.track((async () => {
      const ref = await stored;
      if (ref === undefined) return;
      try {
        await this.outbox!.remove(ref);
      } catch (err) {
        // Left behind, it is sent once more after a restart: a duplicate the key makes harmless.
        this.logger.warn('spend notification outbox entry not removed', { key: d.key, error: err instanceof Error ? err.message : String(err) });
      }
    })());
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.outboxWork.add(work);
    void work.finally(() => this.outboxWork.delete(work));
    return work;
  }

  private kick(): void {
    if (!this.worker) this.worker = this.run().finally(() => { this.worker = undefined; });
  }

  /** One delivery at a time, in order: a receiver that is down is not hammered by every queued event at once. */
  private async run(): Promise<void> {
    const o = this.options!;
    // Bounded: each pass delivers or drops the head, or waits a back-off; every delivery has maxAttempts.
    while (this.queue.length > 0) {
      const d = this.queue[0]!;
      d.attempts++;
      const outcome = await this.attempt(d, o);
      // Stopped meanwhile: the rest stays in the outbox (a delivery that has just gone through is then sent again; the key makes it harmless).
      if (this.queue[0] !== d) return;
      if (outcome === 'delivered' || outcome === 'permanent' || d.attempts >= o.maxAttempts) {
        this.queue.shift();
        this.forget(d);
        if (outcome === 'delivered') this.counts.delivered++;
        else {
          this.counts.failed++;
          this.logger.error('spend notification not delivered', { key: d.key, attempts: d.attempts, outcome });
        }
        continue;
      }
      await this.backOff(d.attempts, o);
    }
  }

  private async attempt(d: Delivery, o: WebhookOptions): Promise<'delivered' | 'retry' | 'permanent'> {
    const unix = Math.floor(this.clock().getTime() / 1000);
    const headers = {
      'Content-Type': 'application/json', [IDEMPOTENCY_HEADER]: d.key, [SIGNATURE_HEADER]: signWebhook(o.secret, d.body, unix),
      'X-Tollgate-Attempt': String(d.attempts),
    };
    try {
      const status = await this.post(o.url, d.body, headers, o.timeoutMs);
      if (status >= 200 && status < 300) return 'delivered';
      this.logger.warn('spend notification refused by the webhook', { key: d.key, status, attempt: d.attempts });
      return retryable(status) ? 'retry' : 'permanent';
    } catch (err) {
      this.logger.warn('spend notification failed', { key: d.key, attempt: d.attempts, error: err instanceof Error ? err.message : String(err) });
      return 'retry';
    }
  }

  private backOff(attempts: number, o: WebhookOptions): Promise<void> {
    const base = Math.min(o.maxBackoffMs, o.backoffMs * 2 ** (attempts - 1));
    const ms = Math.round(base * (0.8 + Math.random() * 0.4));
    return new Promise((resolve) => {
      this.wake = resolve;
      this.waitTimer = setTimeout(resolve, ms);
      this.waitTimer.unref();
    });
  }
}

/** Wait for `work`, at most `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((r) => { timer = setTimeout(r, ms); timer.unref(); })]);
  if (timer) clearTimeout(timer);
}

/** A delivery's outbox ref if its write has finished (a write still hanging counts as not stored). */
function settledRef(d: Delivery): Promise<string | undefined> {
  if (!d.stored) return Promise.resolve(undefined);
  return Promise.race([d.stored, Promise.resolve(undefined)]);
}

/** POST with node's http(s); the whole exchange is bounded by timeoutMs. */
export const httpPost: WebhookPost = (url, body, headers, timeoutMs) => new Promise<number>((resolve, reject) => {
  const target = new URL(url);
  const lib = target.protocol === 'https:' ? https : http;
  const req = lib.request(target, { method: 'POST', headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) }, timeout: timeoutMs }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode ?? 0));
    res.on('error', reject);
  });
  const bound = setTimeout(() => req.destroy(new Error(`webhook did not answer within ${timeoutMs} ms`)), timeoutMs);
  req.on('close', () => clearTimeout(bound));
  req.on('timeout', () => req.destroy(new Error(`webhook timed out after ${timeoutMs} ms`)));
  req.on('error', reject);
  req.end(body);
});
