import type { Logger } from '../../common/logger';
import type { SipMessage } from '../message/message';
import { parseCSeq } from '../message/uri';
import type { Endpoint } from '../transport/transport';
import type { ServerTransaction } from './server-transaction';
import { timerB, type TimerConfig } from './timers';

export interface ReliableProvisionalHooks {
  send(bytes: Buffer, target: Endpoint): void;
  /** No PRACK after 64*T1: the INVITE is to be refused with a 5xx (RFC 3262 §3). */
  noPrack(tx: ServerTransaction): void;
}

interface Pending { tx: ServerTransaction; rseq: number; timer: NodeJS.Timeout | null; giveUp: NodeJS.Timeout }

const optionTags = (m: SipMessage, h: string): string[] =>
  m.getAll(h).flatMap((v) => v.split(',')).map((t) => t.trim().toLowerCase());

/**
 * Reliable provisional responses of the edge as UAS (RFC 3262): RSeq numbering, retransmission
 * until the PRACK, and matching of incoming PRACKs by Call-ID, To tag and RAck.
 */
export class ReliableProvisionals {
  private pending = new Map<string, Pending>();   // by `<Call-ID>|<To tag>`
  private nextRseq = new Map<ServerTransaction, number>();

  constructor(
    private readonly timers: TimerConfig,
    private readonly hooks: ReliableProvisionalHooks,
    private readonly counters: { reliableProvisionals: number; pracksAnswered: number },
    private readonly logger: Logger,
  ) {}

  /** Reliable when the caller requires 100rel, or supports it and the app's response asks for it. */
  wanted(req: SipMessage, app: SipMessage): boolean {
    if (optionTags(req, 'require').includes('100rel')) return true;
    return optionTags(req, 'supported').includes('100rel') && optionTags(app, 'require').includes('100rel');
  }

  /** Adds RSeq and Require: 100rel to a provisional about to be sent. */
  mark(tx: ServerTransaction, res: SipMessage): void {
    const rseq = this.nextRseq.get(tx) ?? Math.floor(Math.random() * 0x3fffffff) + 1;
    this.nextRseq.set(tx, rseq + 1);
    res.remove('rseq');
    res.append('rseq', String(rseq));
    if (!res.getAll('require').some((r) => /\b100rel\b/i.test(r))) res.append('require', '100rel');
    this.counters.reliableProvisionals++;
  }

  /**
   * The marked provisional went out: retransmitted over UDP with T1 doubling up to T2 until its
   * PRACK, and given 64*T1 in all. A newer reliable provisional replaces the pending one.
   */
  sent(tx: ServerTransaction, bytes: Buffer): void {
    this.stop(tx);
    const key = this.keyOf(tx);
    const entry: Pending = {
      tx, rseq: (this.nextRseq.get(tx) as number) - 1, timer: null,
      giveUp: setTimeout(() => {
        this.stop(tx);
        if (tx.finalSent || tx.state === 'terminated') return;
        this.logger.info('no PRACK for a reliable provisional; the INVITE is refused', { callId: tx.request.get('call-id') });
        this.hooks.noPrack(tx);
      }, timerB(this.timers)),
    };
    this.pending.set(key, entry);
    if (tx.responseTarget.transport !== 'udp') return;
    const resend = (interval: number): void => {
      entry.timer = setTimeout(() => {
        if (this.pending.get(key) !== entry) return;
        this.hooks.send(bytes, tx.responseTarget);
        resend(Math.min(interval * 2, this.timers.t2));
      }, interval);
    };
    resend(this.timers.t1);
  }

  /** A final response went out or the transaction ended: no more retransmissions. */
  stop(tx: ServerTransaction): void {
    const key = this.keyOf(tx);
    const entry = this.pending.get(key);
    if (!entry || entry.tx !== tx) return;
    if (entry.timer) clearTimeout(entry.timer);
    clearTimeout(entry.giveUp);
    this.pending.delete(key);
  }

  forget(tx: ServerTransaction): void { this.stop(tx); this.nextRseq.delete(tx); }

  /**
   * An incoming PRACK: `none` when no reliable provisional of this Call-ID and To tag waits,
   * `mismatch` when its RAck names another one (481), `acknowledged` when it is the one (200).
   */
  prack(msg: SipMessage, toTag: string): 'none' | 'mismatch' | 'acknowledged' {
    const entry = this.pending.get(`${msg.get('call-id')}|${toTag}`);
    if (!entry) return 'none';
    const rack = /^\s*(\d+)\s+(\d+)\s+([A-Za-z]+)\s*$/.exec(msg.get('rack') ?? '');
    const inviteSeq = parseCSeq(entry.tx.request.get('cseq') as string).seq;
    if (!rack || Number(rack[1]) !== entry.rseq || Number(rack[2]) !== inviteSeq || rack[3].toUpperCase() !== 'INVITE') return 'mismatch';
    this.stop(entry.tx);
    this.counters.pracksAnswered++;
    return 'acknowledged';
  }

  clearAll(): void { for (const e of [...this.pending.values()]) this.forget(e.tx); }

  private keyOf(tx: ServerTransaction): string { return `${tx.request.get('call-id')}|${tx.toTag}`; }
}
