import { SipMessage } from '../message/message';
import type { Endpoint } from '../transport/transport';
import { TimerSet, timerB, timerD, type TimerConfig } from './timers';

export type ClientState = 'calling' | 'trying' | 'proceeding' | 'accepted' | 'completed' | 'terminated';

export interface ClientTransactionHooks {
  send(data: Buffer, target: Endpoint, onUnreachable?: (reason: string) => void): void;
  /** Every response the transaction user must see (2xx retransmissions included for INVITE). */
  response(tx: ClientTransaction, res: SipMessage, retransmission: boolean): void;
  /** Timer B/F: no final response. */
  timeout(tx: ClientTransaction): void;
  /** The request could not be sent at all (a TCP connection refused): RFC 3261 §8.1.3.1, a 503. */
  unreachable(tx: ClientTransaction, reason: string): void;
  terminated(tx: ClientTransaction): void;
  /** Accepted or Completed: from now on it only absorbs retransmissions (and resends its ACK). */
  finished?(tx: ClientTransaction): void;
}

const EMPTY = Buffer.alloc(0);

/** Client transaction, INVITE (§17.1.1 with RFC 6026) and non-INVITE (§17.1.2). */
export class ClientTransaction {
  state: ClientState;
  private timers = new TimerSet();
  private bytes: Buffer;
  private ackBytes: Buffer | null = null;
  lastStatus = 0;
  /** Set by the core: the application connection that sent this request. */
  owner: unknown = null;
  /** A CANCEL went out for this INVITE: a 2xx that still comes is acknowledged, then ended with BYE. */
  cancelSent = false;

  constructor(
    readonly id: string,
    readonly key: string,
    readonly request: SipMessage,
    readonly target: Endpoint,
    private readonly reliable: boolean,
    private readonly t: TimerConfig,
    private readonly hooks: ClientTransactionHooks,
  ) {
    this.state = request.method === 'INVITE' ? 'calling' : 'trying';
    this.bytes = request.toBuffer();
  }

  get isInvite(): boolean { return this.request.method === 'INVITE'; }
  /** The request as sent; released once a final response ends its retransmissions. */
  get wireBytes(): Buffer { return this.bytes; }

  /** After a final response only the ACK (non-2xx INVITE, Timer D) is ever resent (§17.1.1.2, §17.1.2.2). */
  private releaseRequestBytes(): void { this.bytes = EMPTY; }

  start(): void {
    this.hooks.send(this.bytes, this.target, (reason) => {
      if (this.state === 'calling' || this.state === 'trying') {
        this.hooks.unreachable(this, reason);
        this.terminate();
      }
    });
    if (!this.reliable) this.scheduleRetransmit(this.t.t1);
    this.timers.after(timerB(this.t), () => { // Timer B / F
      if (this.state === 'calling' || this.state === 'trying' || (this.state === 'proceeding' && !this.isInvite)) {
        this.hooks.timeout(this);
        this.terminate();
      }
    });
  }

  private scheduleRetransmit(interval: number): void {
    this.timers.after(interval, () => {
      if (this.state === 'calling' || this.state === 'trying' || (this.state === 'proceeding' && !this.isInvite)) {
        this.hooks.send(this.bytes, this.target);
        const next = this.isInvite ? interval * 2 : Math.min(interval * 2, this.t.t2);
        this.scheduleRetransmit(this.state === 'proceeding' ? this.t.t2 : next);
      }
    });
  }

  receive(res: SipMessage): void {
    const s = res.status;
    if (this.state === 'terminated') return;
    if (this.isInvite) {
      if (s < 200) {
        if (this.state === 'calling' || this.state === 'proceeding') {
          this.state = 'proceeding';
          this.hooks.response(this, res, false);
        }
      } else if (s < 300) {
        const retrans = this.state === 'accepted';
        if (this.state === 'calling' || this.state === 'proceeding') {
          this.state = 'accepted';
          this.lastStatus = s;
          this.timers.clear();
          this.releaseRequestBytes();
          this.timers.after(timerB(this.t), () => this.terminate()); // Timer M
        }
        if (this.state === 'accepted') this.hooks.response(this, res, retrans);
        if (!retrans && this.state === 'accepted') this.hooks.finished?.(this);
      } else {
        if (this.state === 'calling' || this.state === 'proceeding') {
          this.state = 'completed';
          this.lastStatus = s;
          this.timers.clear();
          this.releaseRequestBytes();
          this.ackBytes = this.buildAck(res).toBuffer();
          this.hooks.send(this.ackBytes, this.target);
          this.hooks.response(this, res, false);
          const d = timerD(this.t, this.reliable);
          if (d === 0) this.terminate(); else this.timers.after(d, () => this.terminate());
          if (this.state === 'completed') this.hooks.finished?.(this);
        } else if (this.state === 'completed' && this.ackBytes) {
          this.hooks.send(this.ackBytes, this.target);
        }
      }
      return;
    }
    if (s < 200) {
      if (this.state === 'trying' || this.state === 'proceeding') {
        this.state = 'proceeding';
        this.hooks.response(this, res, false);
      }
    } else if (this.state === 'trying' || this.state === 'proceeding') {
      this.state = 'completed';
      this.lastStatus = s;
      this.timers.clear();
      this.releaseRequestBytes();
      this.hooks.response(this, res, false);
      if (this.reliable) this.terminate(); else this.timers.after(this.t.t4, () => this.terminate()); // Timer K
      if (this.state === 'completed') this.hooks.finished?.(this);
    }
  }

  /** The ACK sent for a non-2xx final response, resent while Timer D runs. */
  get ackWireBytes(): Buffer | null { return this.ackBytes; }

  /** Ends the transaction without the terminated hook: a compact record absorbs its retransmissions now. */
  retire(): void {
    this.timers.clear();
    this.ackBytes = null;
    this.state = 'terminated';
  }

  /** ACK for a non-2xx final response (§17.1.1.3). */
  private buildAck(res: SipMessage): SipMessage {
    return sameTransactionRequest(this.request, 'ACK', res.get('to') as string);
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.timers.clear();
    this.hooks.terminated(this);
  }
}

/**
 * A request that travels in the INVITE's own transaction (CANCEL, §9.1; ACK for a non-2xx, §17.1.1.3):
 * the INVITE's Request-URI, top Via, Route set, From, Call-ID and CSeq number; To as given.
 */
export function sameTransactionRequest(invite: SipMessage, method: 'ACK' | 'CANCEL', to: string): SipMessage {
  const req = SipMessage.request(method, invite.uri);
  req.append('via', invite.get('via') as string);
  for (const r of invite.getAll('route')) req.append('route', r);
  req.append('max-forwards', '70');
  req.append('from', invite.get('from') as string);
  req.append('to', to);
  req.append('call-id', invite.get('call-id') as string);
  req.append('cseq', `${(invite.get('cseq') as string).trim().split(/\s+/)[0]} ${method}`);
  return req;
}
