import type { SipMessage } from '../message/message';
import { responseFor } from '../message/responses';
import { parseCSeq, tagOf } from '../message/uri';
import { ROUTED_BRANCH } from '../proxy/proxy-bridge';
import type { ClientTransaction } from '../transaction/client-transaction';
import type { Endpoint } from '../transport/transport';
import { stackTime } from './app-bridge';
import type { AppConnection } from './control-server';
import type { EdgeContext, UacPending } from './edge-context';

/** Where a response arrived from and its size, for the leader the application reads. */
type ReceivedResponse = SipMessage & { _source?: Endpoint; _bytes?: number };

/**
 * Responses from the network: matched to client transactions, then given to the proxy, to the
 * edge's own requests, to the dialog layer (UAC dialogs, forks, ACK for retransmitted 2xx), and
 * to the application that sent the request.
 */
export class NetworkResponses {
  constructor(private readonly ctx: EdgeContext) {}

  onResponse(res: SipMessage, source: Endpoint, bytes: number): void {
    const match = this.ctx.txl.matchResponse(res);
    if (!match) { this.ctx.counters.strayResponses++; return; }
    const { tx, finished, branch, method } = match;
    if (!tx && branch.startsWith(ROUTED_BRANCH)) { this.ctx.proxies.forwardRoutedResponse(res); return; }
    if (!tx) {
      // a 2xx after the first (RFC 6026 Accepted): to the dialog layer, which resends the ACK or ends a new fork
      if (method === 'INVITE' && res.status >= 200 && res.status < 300 && this.ctx.dialogs.late2xx(res)) return;
      if (finished) this.ctx.counters.retransmissionsAbsorbed++;
      else this.ctx.counters.strayResponses++;
      return;
    }
    (res as ReceivedResponse)._source = source;
    (res as ReceivedResponse)._bytes = bytes;
    tx.receive(res);
  }

  /** Every response the transaction layer passes up (2xx retransmissions of an INVITE included). */
  onClientResponse(tx: ClientTransaction, res: SipMessage, retransmission: boolean): void {
    const { dialogs, apps } = this.ctx;
    const meta = res as ReceivedResponse;
    const source = meta._source ?? tx.target;
    const bytes = meta._bytes ?? res.toBuffer().length;
    if (this.ctx.proxies.clientResponse(tx, res, retransmission, source, bytes, stackTime())) return;
    if (this.ctx.txl.internal.has(tx)) { dialogs.internalResponse(tx, res, retransmission); return; }
    const pending = this.ctx.uacPending.get(tx.id);
    if (pending) { this.onInitialInviteResponse(pending, tx, res, retransmission, source, bytes); return; }
    const dialog = dialogs.ofClient(tx);
    if (dialog && tx.isInvite && res.status >= 200) {
      if (res.status < 300) {
        if (retransmission) { if (dialog.lastAck) this.ctx.transport.send(dialog.lastAck, dialog.target); return; }
        dialog.awaitingAck = { cseq: parseCSeq(res.get('cseq') as string).seq, txId: tx.id };
        const contact = res.get('contact');
        if (contact) dialog.remoteTarget = contact;
        dialogs.sessionTimers.update(dialog, res, 'response');
      }
      dialog.outgoingInvite = null;
    }
    if (dialog && tx.request.method === 'BYE' && res.status >= 200) dialogs.drop(dialog);
    if (retransmission || res.status === 100) return;
    apps.send(tx.owner as AppConnection | null, apps.leader('network', bytes, source, tx.id, dialog?.id ?? ''), res.toString());
  }

  private onInitialInviteResponse(p: UacPending, tx: ClientTransaction, res: SipMessage, retransmission: boolean, source: Endpoint, bytes: number): void {
    const { dialogs, apps, transport } = this.ctx;
    if (res.status > 100 && res.status < 200) this.noteEarly(p, res, tx.target);
    if (res.status >= 200 && res.status < 300) {
      // later 2xx (retransmissions, other forks) come without the transaction, retired at the first: see late2xx
      if (retransmission || dialogs.get(p.dialogId)) return;
      const dialog = dialogs.createUac({ dialogId: p.dialogId, fromTag: p.fromTag, owner: p.owner, lastEarlySeq: p.early?.lastSeq }, tx, res);
      if (p.owner.closed) {
        // answered after its application went away: nobody will ACK or meter it
        const { req } = dialogs.buildRequest(dialog, 'ACK', null, dialog.awaitingAck?.cseq);
        dialog.lastAck = req.toBuffer();
        dialog.awaitingAck = null;
        this.ctx.uacPending.delete(tx.id);
        transport.send(dialog.lastAck, dialog.target);
        dialogs.byeFromEdge(dialog, 'SIP ;cause=503 ;text="application disconnected"', false, 'grace-bye');
        return;
      }
      if (tx.cancelSent) dialog.ackThenBye = true;
      apps.cdr('start', 'network', res, 'uac');
    } else if (res.status >= 300) {
      this.ctx.uacPending.delete(tx.id);
      apps.cdr('stop', 'network', res, res.status === 487 ? 'call-canceled' : 'call-rejected');
    }
    // As drachtio-server (sofia-sip without NTATAG_PASS_100): the transaction layer takes 100 Trying
    // and the application never sees it.
    if (res.status === 100) return;
    apps.send(p.owner, apps.leader('network', bytes, source, tx.id, p.dialogId), res.toString());
  }

  /** Keeps what the application's PRACK needs from a reliable provisional to its INVITE. */
  private noteEarly(p: UacPending, res: SipMessage, fallback: Endpoint): void {
    if (!res.has('rseq') || !tagOf(res.get('to'))) return;
    const contact = res.get('contact') ?? p.tx.request.uri;
    const routeSet = res.getAll('record-route').reverse();
    const lastSeq = p.early?.lastSeq ?? parseCSeq(p.tx.request.get('cseq') as string).seq;
    p.early = { to: res.get('to') as string, contact, routeSet, target: this.ctx.addr.targetFromUriSync(routeSet[0] ?? contact, fallback), lastSeq };
  }

  /** No final response (Timer B/F: 408) or no way to send (503): the app gets that response. */
  onClientFailed(tx: ClientTransaction, status: number, reason: string): void {
    const { dialogs, apps } = this.ctx;
    if (this.ctx.proxies.clientFailed(tx, status)) return;
    const res = responseFor(tx.request, status, reason, null);
    if (this.ctx.txl.internal.has(tx)) { dialogs.internalResponse(tx, res, false); return; }
    const pending = this.ctx.uacPending.get(tx.id);
    const dialog = dialogs.ofClient(tx);
    if (pending) this.ctx.uacPending.delete(tx.id);
    if (dialog && tx.isInvite) dialog.outgoingInvite = null;
    if (dialog && tx.request.method === 'BYE') dialogs.drop(dialog);
    apps.send(tx.owner as AppConnection | null, apps.leader('network', 0, tx.target, tx.id, pending?.dialogId ?? dialog?.id ?? ''), res.toString());
  }
}
