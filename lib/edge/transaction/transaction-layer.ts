import type { Logger } from '../../common/logger';
import { newBranch, newTag, newTransactionId } from '../message/identifiers';
import { ownedString, type SipMessage } from '../message/message';
import { responseFor } from '../message/responses';
import { parseCSeq, parseVia, tagOf } from '../message/uri';
import type { Addressing } from '../transport/addressing';
import { isStream, type Endpoint, type TransportLayer } from '../transport/transport';
import { ClientTransaction, sameTransactionRequest } from './client-transaction';
import { FinishedTransactions, type FinishedTransaction, type FinishedTransactionLimits } from './finished-transactions';
import { DEFAULT_TIMER_C_MS, InviteGuards } from './invite-guards';
import { ServerTransaction } from './server-transaction';
import { timerB, timerD, type TimerConfig } from './timers';

/** What the layers above are told by the transaction layer. */
export interface TransactionUser {
  /** A response for the transaction user (2xx retransmissions of an INVITE included). */
  response(tx: ClientTransaction, res: SipMessage, retransmission: boolean): void;
  /** No final response (Timer B/F, the give-up after CANCEL: 408) or no way to send (503). */
  failed(tx: ClientTransaction, status: number, reason: string): void;
  /** Also called when a finished transaction is retired into the cache of finished ones. */
  serverEnded(tx: ServerTransaction): void;
  clientEnded(tx: ClientTransaction): void;
  /** True while the user needs the whole finished transaction (a proxy forwarding its retransmissions). */
  keepsLive(tx: ServerTransaction | ClientTransaction): boolean;
}

export interface TransactionCounters { rejected: number; timerCCancels: number; cancelGiveUps: number }

/**
 * The transaction layer (RFC 3261 §17): matching of requests and responses to transactions,
 * their creation and ending, Timer C and the give-up after CANCEL (InviteGuards). The timers of
 * each transaction (A/B/D/E/F/G/H/I/J/K/L/M) are in ClientTransaction and ServerTransaction.
 * A transaction that only absorbs retransmissions from then on (Accepted, Completed non-INVITE,
 * Confirmed; client Completed with its ACK) is retired into FinishedTransactions, a bounded cache
 * of compact records, for the rest of its timer.
 */
export class TransactionLayer {
  private serverByKey = new Map<string, ServerTransaction>();
  private serverById = new Map<string, ServerTransaction>();
  private clientByKey = new Map<string, ClientTransaction>();
  private clientById = new Map<string, ClientTransaction>();
  /** The edge's own requests (CANCEL, BYE, session refresh, PRACK): their responses stay in the edge. */
  readonly internal = new Set<ClientTransaction>();
  private readonly guards: InviteGuards;
  readonly finished: FinishedTransactions;

  constructor(
    private readonly transport: TransportLayer,
    private readonly addr: Addressing,
    private readonly timers: TimerConfig,
    private readonly counters: TransactionCounters,
    private readonly logger: Logger,
    private readonly user: TransactionUser,
    limits: FinishedTransactionLimits,
  ) {
    this.finished = new FinishedTransactions(limits, Math.max(100, Math.min(1000, timers.t1)));
    this.guards = new InviteGuards(timers.timerC ?? DEFAULT_TIMER_C_MS, timerB(timers), {
      cancel: (tx, reason) => this.cancelInvite(tx, reason),
      giveUp: (tx) => { this.user.failed(tx, 408, 'Request Timeout'); tx.terminate(); },
    }, counters, logger);
  }

  get liveServer(): number { return this.serverById.size; }
  get liveClient(): number { return this.clientById.size; }
  servers(): ServerTransaction[] { return [...this.serverById.values()]; }
  clients(): ClientTransaction[] { return [...this.clientById.values()]; }
  server(id: string): ServerTransaction | undefined { return this.serverById.get(id); }
  serverByRequestKey(key: string): ServerTransaction | undefined { return this.serverByKey.get(key); }
  client(id: string): ClientTransaction | undefined { return this.clientById.get(id); }

  /** Server transaction key (§17.2.3); ACK matches its INVITE's. */
  serverKey(msg: SipMessage, methodOverride?: string): string {
    const via = parseVia(msg.get('via') as string);
    const method = methodOverride ?? (msg.method === 'ACK' ? 'INVITE' : msg.method);
    const branch = via.params.get('branch');
    if (branch && branch.startsWith('z9hG4bK')) return `${branch}|${via.host}:${via.port ?? ''}|${method}`;
    // RFC 2543 matching (§17.2.3): the top Via's sent-by is part of the transaction too
    const cseq = parseCSeq(msg.get('cseq') as string);
    return `${msg.get('call-id')}|${cseq.seq}|${tagOf(msg.get('from'))}|${via.host}:${via.port ?? ''}|${method}`;
  }

  /** The finished server transaction a request retransmits (or a CANCEL/ACK names). */
  finishedServer(key: string): FinishedTransaction | undefined { return this.finished.get(`s|${key}`); }

  /**
   * The client transaction a response belongs to (§17.1.3), live or finished; null when its Via is
   * unreadable. A finished one's ACK is resent here (Timer D).
   */
  matchResponse(res: SipMessage): { tx: ClientTransaction | undefined; finished: FinishedTransaction | undefined; branch: string; method: string } | null {
    let via;
    try { via = parseVia(res.get('via') as string); } catch { return null; }
    const branch = via.params.get('branch') ?? '';
    const method = parseCSeq(res.get('cseq') as string).method;
    const key = `${branch}|${method}`;
    const tx = this.clientByKey.get(key);
    const finished = tx ? undefined : this.finished.get(`c|${key}`);
    if (finished?.resend && finished.target && res.status >= 300) this.transport.send(finished.resend, finished.target);
    return { tx, finished, branch, method };
  }

  /** A server transaction that only absorbs retransmissions now becomes a record (Timers J, L, I). */
  private retireServer(tx: ServerTransaction): void {
    if (tx.state === 'terminated' || this.user.keepsLive(tx)) return;
    const lifetime = tx.state === 'confirmed' ? this.timers.t4 : timerB(this.timers);
    const resend = tx.state === 'completed' ? tx.lastResponseBytes : null;
    this.finished.add(`s|${tx.key}`, lifetime, { status: tx.lastStatus, resend, target: resend ? tx.responseTarget : null, toTag: tx.toTag });
    tx.retire();
    this.user.serverEnded(tx);
    this.serverByKey.delete(tx.key);
    this.serverById.delete(tx.id);
  }

  /** A client transaction that only absorbs retransmissions now becomes a record (Timers M, D, K). */
  private retireClient(tx: ClientTransaction): void {
    if (tx.state === 'terminated' || this.user.keepsLive(tx)) return;
    const lifetime = tx.state === 'accepted' ? timerB(this.timers) : tx.isInvite ? timerD(this.timers, false) : this.timers.t4;
    const resend = tx.ackWireBytes;
    this.finished.add(`c|${tx.key}`, lifetime, { status: tx.lastStatus, resend, target: resend ? tx.target : null });
    tx.retire();
    this.guards.clear(tx);
    this.user.clientEnded(tx);
    this.clientByKey.delete(tx.key);
    this.clientById.delete(tx.id);
    this.internal.delete(tx);
  }

  createServerTx(key: string, req: SipMessage, source: Endpoint): ServerTransaction {
    const tx = new ServerTransaction(newTransactionId(), key, req, source, this.addr.responseTarget(req, source),
      isStream(source.transport), this.timers, {
        send: (data, target) => this.transport.send(data, target),
        finished: (t) => this.retireServer(t),
        terminated: (t) => {
          this.user.serverEnded(t);
          this.serverByKey.delete(t.key);
          this.serverById.delete(t.id);
        },
      });
    this.serverByKey.set(key, tx);
    this.serverById.set(tx.id, tx);
    return tx;
  }

  /** Stateless-looking answer sent through a server transaction so retransmissions are absorbed. */
  reject(req: SipMessage, source: Endpoint, status: number, reason: string, extra: Array<[string, string]> = []): void {
    this.counters.rejected++;
    if (req.method === 'ACK') return;
    let tx: ServerTransaction | undefined;
    try {
      const key = this.serverKey(req);
      tx = this.serverByKey.get(key) ?? this.createServerTx(key, req, source);
    } catch { /* fall back to sending once */ }
    const res = responseFor(req, status, reason, status > 100 ? newTag() : null);
    for (const [k, v] of extra) res.append(k, v);
    if (tx) tx.respond(res); else this.transport.send(res.toBuffer(), this.addr.responseTarget(req, source));
  }

  startClientTx(req: SipMessage, target: Endpoint, branch: string, id?: string): ClientTransaction {
    // an application's transaction id is cut from its command's text: copied, it does not keep that alive
    const tx = new ClientTransaction(id ? ownedString(id) : newTransactionId(), `${branch}|${req.method}`, req, target, isStream(target.transport),
      this.timers, {
        send: (data, t, onUnreachable) => this.transport.send(data, t, onUnreachable),
        response: (t, res, retrans) => {
          if (t.isInvite) {
            if (res.status >= 200) this.guards.clear(t);
            else if (res.status > 100) this.guards.armTimerC(t);
          }
          this.user.response(t, res, retrans);
        },
        timeout: (t) => this.user.failed(t, 408, 'Request Timeout'),
        unreachable: (t, why) => {
          this.logger.info('request not sent: destination unreachable', { target: t.target, reason: why });
          this.user.failed(t, 503, 'Service Unavailable');
        },
        finished: (t) => this.retireClient(t),
        terminated: (t) => {
          this.guards.clear(t);
          this.user.clientEnded(t);
          this.clientByKey.delete(t.key);
          this.clientById.delete(t.id);
          this.internal.delete(t);
        },
      });
    this.clientByKey.set(tx.key, tx);
    this.clientById.set(tx.id, tx);
    tx.start();
    if (tx.isInvite && tx.state !== 'terminated') this.guards.armTimerC(tx);
    return tx;
  }

  /** A request of the edge's own: its responses are not handed to an application. */
  startInternalTx(req: SipMessage, target: Endpoint, branch: string): ClientTransaction {
    const tx = this.startClientTx(req, target, branch);
    if (tx.state !== 'terminated') this.internal.add(tx);
    return tx;
  }

  /** CANCEL for an outgoing INVITE (§9.1), in the INVITE's transaction; arms the give-up. */
  cancelInvite(inviteTx: ClientTransaction, reason?: string, extra: Array<{ name: string; value: string }> = []): ClientTransaction {
    inviteTx.cancelSent = true;
    const inv = inviteTx.request;
    const cancel = sameTransactionRequest(inv, 'CANCEL', inv.get('to') as string);
    if (reason) cancel.append('reason', reason);
    for (const h of extra) cancel.headers.push(h);
    const branch = parseVia(inv.get('via') as string).params.get('branch') ?? newBranch();
    const tx = this.startInternalTx(cancel, inviteTx.target, branch);
    this.guards.cancelled(inviteTx);
    return tx;
  }

  close(): void {
    this.finished.close();
    this.guards.clearAll();
    for (const tx of [...this.serverById.values()]) tx.terminate();
    for (const tx of [...this.clientById.values()]) tx.terminate();
  }
}
