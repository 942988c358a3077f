import type { Logger } from '../../common/logger';
import { newBranch } from '../message/identifiers';
import { SipMessage } from '../message/message';
import { uriOf } from '../message/responses';
import { parseCSeq, tagOf } from '../message/uri';
import type { ClientTransaction } from '../transaction/client-transaction';
import type { ServerTransaction } from '../transaction/server-transaction';
import { timerB, type TimerConfig } from '../transaction/timers';
import type { TransactionLayer } from '../transaction/transaction-layer';
import type { Addressing } from '../transport/addressing';
import type { Endpoint, TransportLayer } from '../transport/transport';
import { Dialog, dialogLookupKey } from './dialog';
import type { OrphanEnd, OrphanRecords } from './orphans';
import { SessionTimers } from './session-timers';

export interface DialogUser<Owner> {
  /** The edge sent BYE itself; `tellApp`: the application is to get it as an unsolicited BYE. */
  byeSent(d: Dialog<Owner>, bye: SipMessage, tellApp: boolean): void;
}

export interface DialogCounters {
  timerHByes: number; unsolicitedByes: number; sessionTimerByes: number; sessionRefreshes: number; forkByes: number;
}

/** What a UAC dialog is made from besides the INVITE transaction and its 2xx. */
export interface UacDialogSpec<Owner> { dialogId: string; fromTag: string; owner: Owner; lastEarlySeq?: number }

/**
 * The dialog layer (RFC 3261 §12-§15): the edge's dialogs, requests built from their state,
 * the 2xx retransmission until its ACK (§13.3.1.4, ended by Timer H with BYE), the ACK resent on
 * 2xx retransmissions, second forks' 2xx ended (§13.2.2.4), BYE from the edge and RFC 4028
 * session refreshes (timers in SessionTimers).
 */
export class DialogLayer<Owner> {
  private byId = new Map<string, Dialog<Owner>>();
  private byKey = new Map<string, Dialog<Owner>>();
  private ofServerTx = new Map<string, Dialog<Owner>>();
  private ofClientTx = new Map<ClientTransaction, Dialog<Owner>>();
  /** 2xx of INVITE forks the edge ended (ACK + BYE): their ACK, resent on retransmissions. */
  private endedForks = new Map<string, { ack: Buffer; target: Endpoint }>();
  readonly sessionTimers: SessionTimers;

  constructor(
    private readonly transport: TransportLayer,
    private readonly addr: Addressing,
    private readonly txl: TransactionLayer,
    private readonly opts: { timers: TimerConfig; sessionInterval: number },
    private readonly orphans: OrphanRecords,
    private readonly counters: DialogCounters,
    private readonly logger: Logger,
    private readonly user: DialogUser<Owner>,
  ) {
    this.sessionTimers = new SessionTimers({
      refresh: (d) => this.sendRefresh(d as Dialog<Owner>),
      expired: (d) => {
        this.counters.sessionTimerByes++;
        this.logger.info('session timer expired, ending the call', { dialogId: d.id });
        this.byeFromEdge(d as Dialog<Owner>, 'SIP ;cause=408 ;text="session timer expired"', true, 'session-timer');
      },
    });
  }

  get size(): number { return this.byId.size; }
  all(): Array<Dialog<Owner>> { return [...this.byId.values()]; }
  get(id: string): Dialog<Owner> | undefined { return this.byId.get(id); }
  find(callId: string, localTag: string, remoteTag: string): Dialog<Owner> | undefined {
    return this.byKey.get(dialogLookupKey(callId, localTag, remoteTag));
  }

  /** In-dialog transactions, both ways. */
  bindServer(tx: ServerTransaction, d: Dialog<Owner>): void { this.ofServerTx.set(tx.id, d); }
  ofServer(tx: ServerTransaction): Dialog<Owner> | undefined { return this.ofServerTx.get(tx.id); }
  bindClient(tx: ClientTransaction, d: Dialog<Owner>): void { this.ofClientTx.set(tx, d); }
  ofClient(tx: ClientTransaction): Dialog<Owner> | undefined { return this.ofClientTx.get(tx); }
  serverEnded(tx: ServerTransaction): void { this.ofServerTx.delete(tx.id); }
  clientEnded(tx: ClientTransaction): void { this.ofClientTx.delete(tx); }

  private add(d: Dialog<Owner>): void {
    this.byId.set(d.id, d);
    this.byKey.set(d.lookupKey, d);
  }

  /** Stops timers and marks the dialog ended, recording how for orphan queries. */
  end(d: Dialog<Owner>, how: OrphanEnd): void {
    this.orphans.ended(d.id, how);
    this.drop(d);
  }

  drop(d: Dialog<Owner>): void {
    d.terminated = true;
    d.timers.clear();
    if (d.sessionTimer?.timer) clearTimeout(d.sessionTimer.timer);
    if (this.byId.get(d.id) === d) this.byId.delete(d.id);
    if (this.byKey.get(d.lookupKey) === d) this.byKey.delete(d.lookupKey);
  }

  /** An in-dialog request from the dialog state (§12.2.1.1). */
  buildRequest(d: Dialog<Owner>, method: string, uri: string | null, cseq?: number): { req: SipMessage; branch: string } {
    let targetUri: string;
    try { targetUri = uri && !uri.includes('placeholder') ? uri : uriOf(d.remoteTarget); } catch { targetUri = uri ?? 'sip:invalid'; }
    const req = SipMessage.request(method, targetUri);
    const local = this.transport.localFor(d.target);
    const branch = newBranch();
    req.append('via', this.addr.viaFor(local, branch));
    for (const r of d.routeSet) req.append('route', r);
    req.append('max-forwards', '70');
    // our side is From of our requests: the INVITE's From (uac) or its To (uas)
    req.append('from', d.localParty);
    req.append('to', d.remoteParty);
    req.append('call-id', d.callId);
    req.append('cseq', `${cseq ?? ++d.localSeq} ${method}`);
    return { req, branch };
  }

  /** A UAC dialog whose 2xx is not acknowledged yet gets its ACK before the edge ends it. */
  acknowledgePending(d: Dialog<Owner>): void {
    if (d.role !== 'uac' || !d.awaitingAck) return;
    const { req } = this.buildRequest(d, 'ACK', null, d.awaitingAck.cseq);
    this.transport.send(req.toBuffer(), d.target);
    d.awaitingAck = null;
  }

  /** BYE sent by the edge itself; the application is told through `byeSent`. */
  byeFromEdge(d: Dialog<Owner>, reason: string, tellApp: boolean, how: OrphanEnd): void {
    if (d.terminated) return;
    this.counters.unsolicitedByes++;
    const { req, branch } = this.buildRequest(d, 'BYE', null);
    req.append('reason', reason);
    this.end(d, how);
    this.txl.startInternalTx(req, d.target, branch);
    this.user.byeSent(d, req, tellApp);
  }

  createUas(tx: ServerTransaction, res: SipMessage, bytes: Buffer, local: Endpoint, owner: Owner | null): Dialog<Owner> {
    const req = tx.request;
    const callId = req.get('call-id') as string;
    const fromTag = tagOf(req.get('from')) ?? '';
    const contact = req.get('contact') ?? req.get('from') as string;
    const routeSet = req.getAll('record-route');
    const fallback = tx.responseTarget;
    let target = this.addr.targetFromUriSync(routeSet.length ? routeSet[0] : contact, fallback);
    if (target.transport !== fallback.transport) target = fallback;
    const cseq = parseCSeq(req.get('cseq') as string).seq;
    const d = new Dialog<Owner>(`${callId};from-tag=${fromTag}`, 'uas', callId, tx.toTag ?? '', fromTag,
      res.get('to') as string, req.get('from') as string, contact, target, res.get('contact') ?? this.addr.contactFor(local),
      owner, Math.floor(Math.random() * 10000) + 1, cseq, tx.id);
    d.routeSet = routeSet;
    d.localSdp = res.body.length ? res.body : null;
    d.localContentType = res.get('content-type') ?? null;
    this.add(d);
    this.sessionTimers.update(d, res, 'sent');
    this.start2xxRetransmission(d, cseq, bytes, tx.id, tx.responseTarget);
    return d;
  }

  createUac(spec: UacDialogSpec<Owner>, tx: ClientTransaction, res: SipMessage): Dialog<Owner> {
    const req = tx.request;
    const contact = res.get('contact') ?? req.uri;
    const routeSet = res.getAll('record-route').reverse();
    const target = this.addr.targetFromUriSync(routeSet.length ? routeSet[0] : contact, tx.target);
    const cseq = parseCSeq(req.get('cseq') as string).seq;
    // a PRACK in the early dialog used CSeq numbers after the INVITE's: later requests go above them
    const localSeq = Math.max(cseq, spec.lastEarlySeq ?? cseq);
    const d = new Dialog<Owner>(spec.dialogId, 'uac', req.get('call-id') as string, spec.fromTag, tagOf(res.get('to')) ?? '',
      req.get('from') as string, res.get('to') as string, contact, target,
      req.get('contact') ?? this.addr.contactFor(this.transport.localFor(tx.target)), spec.owner, localSeq, 0, tx.id);
    d.routeSet = routeSet;
    d.localSdp = req.body.length ? req.body : null;
    d.localContentType = req.get('content-type') ?? null;
    d.awaitingAck = { cseq, txId: tx.id };
    d.inviteSeq = cseq;
    this.add(d);
    this.sessionTimers.update(d, res, 'response');
    return d;
  }

  /** The UAS core retransmits a 2xx until its ACK (§13.3.1.4); Timer H ends the call with BYE. */
  start2xxRetransmission(d: Dialog<Owner>, cseq: number, bytes: Buffer, txId: string, target: Endpoint): void {
    d.pending2xx = { cseq, bytes, txId };
    const t = this.opts.timers;
    if (target.transport === 'udp') {
      const resend = (interval: number) => {
        d.timers.after(interval, () => {
          if (d.pending2xx?.cseq !== cseq || d.terminated) return;
          this.transport.send(bytes, target);
          resend(Math.min(interval * 2, t.t2));
        });
      };
      resend(t.t1);
    }
    d.timers.after(timerB(t), () => {
      if (d.pending2xx?.cseq !== cseq || d.terminated) return;
      this.counters.timerHByes++;
      this.logger.info('no ACK for 2xx, ending the call', { dialogId: d.id });
      d.pending2xx = null;
      this.byeFromEdge(d, 'SIP ;cause=408 ;text="ACK timeout"', true, 'ack-timeout');
    });
  }

  /** An ACK for the 2xx being retransmitted: the dialog is confirmed. The 2xx's transaction id, or null for a stray ACK. */
  confirm(d: Dialog<Owner>, cseq: number): string | null {
    const pending = d.pending2xx;
    if (!pending || pending.cseq !== cseq) return null;
    d.pending2xx = null;
    d.confirmed = true;
    d.timers.clear();
    this.sessionTimers.arm(d);
    return pending.txId;
  }

  /**
   * A 2xx to an INVITE whose transaction is finished (RFC 6026): a retransmission gets the ACK
   * again, another fork's 2xx is ended. False when no dialog knows it.
   */
  late2xx(res: SipMessage): boolean {
    const callId = res.get('call-id') as string;
    const fromTag = tagOf(res.get('from'));
    const toTag = tagOf(res.get('to'));
    if (!fromTag || !toTag) return false;
    const d = this.find(callId, fromTag, toTag);
    if (d) { if (d.lastAck) this.transport.send(d.lastAck, d.target); return true; }
    const forked = this.endedForks.get(`${callId}|${fromTag}|${toTag}`);
    if (forked) { this.transport.send(forked.ack, forked.target); return true; }
    const first = this.byId.get(`${callId};from-tag=${fromTag}`);
    if (!first || first.role !== 'uac' || first.terminated || parseCSeq(res.get('cseq') as string).seq !== first.inviteSeq) return false;
    this.endFork(res, first);
    return true;
  }

  /**
   * A second 2xx from another fork of our INVITE (RFC 3261 §13.2.2.4): the edge acknowledges it and
   * ends that dialog with BYE; the application keeps the first. Retransmissions get the ACK again.
   */
  private endFork(res: SipMessage, first: Dialog<Owner>): void {
    const { callId, localTag: fromTag } = first;
    const toTag = tagOf(res.get('to')) ?? '';
    const key = `${callId}|${fromTag}|${toTag}`;
    this.counters.forkByes++;
    const contact = res.get('contact') ?? first.remoteTarget;
    const routeSet = res.getAll('record-route').reverse();
    const target = this.addr.targetFromUriSync(routeSet.length ? routeSet[0] : contact, first.target);
    const cseq = first.inviteSeq;
    const fork = new Dialog<Owner>(`${callId};from-tag=${fromTag};fork=${toTag}`, 'uac', callId, fromTag, toTag,
      first.localParty, res.get('to') as string, contact, target, first.localContact, null, cseq, 0, '');
    fork.routeSet = routeSet;
    const ack = this.buildRequest(fork, 'ACK', null, cseq).req.toBuffer();
    this.transport.send(ack, target);
    this.endedForks.set(key, { ack, target });
    setTimeout(() => this.endedForks.delete(key), timerB(this.opts.timers)).unref();
    this.logger.info('a second fork answered the INVITE; the edge ends it', { callId, toTag });
    const { req: bye, branch } = this.buildRequest(fork, 'BYE', null);
    bye.append('reason', 'SIP;cause=200;text="another fork answered first"');
    this.txl.startInternalTx(bye, target, branch);
  }

  /** Our session refresh (RFC 4028 §9): a re-INVITE with the last SDP we sent. */
  private sendRefresh(d: Dialog<Owner>): void {
    if (d.outgoingInvite || d.incomingInvite) { this.sessionTimers.arm(d, 1); return; }
    const { req, branch } = this.buildRequest(d, 'INVITE', null);
    req.append('contact', d.localContact);
    req.append('session-expires', `${d.sessionTimer?.interval ?? this.opts.sessionInterval};refresher=uac`);
    req.append('supported', 'timer');
    if (d.localSdp) {
      req.append('content-type', d.localContentType ?? 'application/sdp');
      req.body = d.localSdp;
    }
    const tx = this.txl.startInternalTx(req, d.target, branch);
    this.bindClient(tx, d);
    d.outgoingInvite = tx;
  }

  /** A response to one of the edge's own requests in a dialog: a session refresh's is acknowledged here. */
  internalResponse(tx: ClientTransaction, res: SipMessage, retransmission: boolean): void {
    const d = this.ofClient(tx);
    if (!d || tx.request.method !== 'INVITE' || res.status < 200) return;
    if (res.status < 300) {
      const { req } = this.buildRequest(d, 'ACK', null, parseCSeq(res.get('cseq') as string).seq);
      const bytes = req.toBuffer();
      d.lastAck = bytes;
      this.transport.send(bytes, d.target);
      if (retransmission) return;
      this.counters.sessionRefreshes++;
      d.outgoingInvite = null;
      this.sessionTimers.update(d, res, 'response');
      return;
    }
    d.outgoingInvite = null;
    if (res.status === 491) { this.sessionTimers.arm(d, 1); return; }
    this.counters.sessionTimerByes++;
    this.byeFromEdge(d, 'SIP ;cause=408 ;text="session refresh failed"', true, 'session-timer');
  }

  close(): void {
    for (const d of this.byId.values()) { d.timers.clear(); if (d.sessionTimer?.timer) clearTimeout(d.sessionTimer.timer); }
    this.byId.clear();
    this.byKey.clear();
  }
}
