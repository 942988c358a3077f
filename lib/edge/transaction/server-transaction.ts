import type { SipMessage } from '../message/message';
import type { Endpoint } from '../transport/transport';
import { TimerSet, timerB, type TimerConfig } from './timers';

export type ServerState = 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

export interface ServerTransactionHooks {
  send(data: Buffer, target: Endpoint): void;
  terminated(tx: ServerTransaction): void;
  /** Timer H fired on a non-2xx final response: the ACK never came. */
  ackTimeout?(tx: ServerTransaction): void;
  /** Accepted, Completed (non-INVITE) or Confirmed: from now on it only absorbs retransmissions. */
  finished?(tx: ServerTransaction): void;
}

/**
 * Server transaction, INVITE (RFC 3261 §17.2.1 with the RFC 6026 Accepted state) and
 * non-INVITE (§17.2.2). The 2xx to an INVITE is retransmitted by the dialog layer, not here.
 */
export class ServerTransaction {
  state: ServerState;
  /** Status of the last response sent (0: none). Only its wire form is kept, and only while needed. */
  lastStatus = 0;
  private lastBytes: Buffer | null = null;
  private timers = new TimerSet();
  private timerG: NodeJS.Timeout | null = null;
  /** Set by the core: the application connection that was handed this request. */
  owner: unknown = null;
  /** Local tag used in To for responses that did not carry one. */
  toTag: string | null = null;
  cancelled = false;

  constructor(
    readonly id: string,
    readonly key: string,
    readonly request: SipMessage,
    readonly source: Endpoint,
    readonly responseTarget: Endpoint,
    private readonly reliable: boolean,
    private readonly t: TimerConfig,
    private readonly hooks: ServerTransactionHooks,
  ) {
    this.state = request.method === 'INVITE' ? 'proceeding' : 'trying';
  }

  get isInvite(): boolean { return this.request.method === 'INVITE'; }
  get finalSent(): boolean { return this.lastStatus >= 200; }

  respond(res: SipMessage): Buffer | null {
    if (this.state === 'terminated' || this.state === 'completed' || this.state === 'confirmed' || this.state === 'accepted') {
      return null;
    }
    const bytes = res.toBuffer();
    this.lastStatus = res.status;
    this.lastBytes = bytes;
    this.hooks.send(bytes, this.responseTarget);
    if (res.status < 200) {
      if (this.state === 'trying') this.state = 'proceeding';
      return bytes;
    }
    if (this.isInvite) {
      if (res.status < 300) {
        this.state = 'accepted';
        // Accepted absorbs retransmitted INVITEs (RFC 6026 §7.1); the dialog layer resends the 2xx.
        this.lastBytes = null;
        this.timers.after(timerB(this.t), () => this.terminate()); // Timer L
      } else {
        this.state = 'completed';
        if (!this.reliable) this.scheduleG(this.t.t1);
        this.timers.after(timerB(this.t), () => { // Timer H
          if (this.state === 'completed') this.hooks.ackTimeout?.(this);
          this.terminate();
        });
      }
    } else {
      this.state = 'completed';
      if (this.reliable) this.terminate();
      else this.timers.after(timerB(this.t), () => this.terminate()); // Timer J
    }
    if (this.state === 'accepted' || (this.state === 'completed' && !this.isInvite)) this.hooks.finished?.(this);
    return bytes;
  }

  /** The last response as sent, while it may be resent (Proceeding, and Completed before the ACK). */
  get lastResponseBytes(): Buffer | null { return this.lastBytes; }

  /** Ends the transaction without the terminated hook: a compact record absorbs its retransmissions now. */
  retire(): void {
    this.timers.clear();
    this.lastBytes = null;
    this.state = 'terminated';
  }

  private scheduleG(interval: number): void {
    this.timerG = this.timers.after(interval, () => {
      if (this.state !== 'completed' || !this.lastBytes) return;
      this.hooks.send(this.lastBytes, this.responseTarget);
      this.scheduleG(Math.min(interval * 2, this.t.t2));
    });
  }

  /** A retransmission of the request arrived. */
  onRetransmission(): void {
    if ((this.state === 'proceeding' || this.state === 'completed') && this.lastBytes) {
      this.hooks.send(this.lastBytes, this.responseTarget);
    }
    // trying: nothing to send yet; accepted/confirmed: absorbed (RFC 6026)
  }

  /** ACK matching a non-2xx final response. */
  onAck(): void {
    if (this.state !== 'completed') return;
    this.state = 'confirmed';
    this.timers.cancel(this.timerG);
    this.lastBytes = null;   // Confirmed only absorbs ACKs (§17.2.1)
    if (this.reliable) { this.terminate(); return; }
    this.timers.after(this.t.t4, () => this.terminate()); // Timer I
    this.hooks.finished?.(this);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timers.clear();
    this.hooks.terminated(this);
  }
}
