import { newTag } from '../message/identifiers';
import type { SipMessage } from '../message/message';
import type { ParseError } from '../message/parser';
import { responseFor } from '../message/responses';
import { parseCSeq, parseNameAddr, tagOf } from '../message/uri';
import type { Endpoint } from '../transport/transport';
import type { AppConnection } from './control-server';
import { KNOWN_METHODS, SUPPORTED_OPTION_TAGS, type AppDialog, type EdgeContext } from './edge-context';

const REFUSAL_REASONS: Record<number, string> = {
  400: 'Bad Request', 413: 'Request Entity Too Large', 416: 'Unsupported URI Scheme', 505: 'Version Not Supported',
};

/**
 * Requests from the network: retransmissions absorbed, refusals the edge makes itself (blacklist,
 * Max-Forwards, Require, draining, no application), OPTIONS keepalives, CANCEL, ACK and PRACK
 * matching, and the rest handed to the application that routes the method or owns the dialog.
 */
export class NetworkRequests {
  constructor(private readonly ctx: EdgeContext) {}

  onBadMessage(err: ParseError, source: Endpoint): void {
    const { logger, addr, transport } = this.ctx;
    logger.debug('bad sip message', { source, reason: err.message, status: err.status });
    const partial = err.partial;
    if (!partial || !partial.isRequest || partial.method === 'ACK') return;
    try {
      const res = responseFor(partial, err.status, REFUSAL_REASONS[err.status] ?? 'Bad Request', newTag());
      res.append('warning', `399 tollgate-edge "${err.message.replace(/"/g, "'")}"`);
      let target = source;   // a Via too broken to route by: answer whoever sent it
      try { target = addr.responseTarget(partial, source); } catch { /* keep the source */ }
      transport.send(res.toBuffer(), target);
    } catch (e) {
      logger.debug('could not answer bad message', { err: String(e) });
    }
  }

  onRequest(msg: SipMessage, source: Endpoint, local: Endpoint, bytes: number): void {
    const { txl, counters } = this.ctx;
    this.ctx.addr.stampVia(msg, source);
    const key = txl.serverKey(msg);
    if (msg.method === 'ACK') { this.onAck(msg, key, source, bytes); return; }
    const existing = txl.serverByRequestKey(key);
    if (existing) { counters.retransmissionsAbsorbed++; existing.onRetransmission(); return; }
    const finished = txl.finishedServer(key);
    if (finished) {
      counters.retransmissionsAbsorbed++;
      if (finished.resend && finished.target) this.ctx.transport.send(finished.resend, finished.target);
      return;
    }
    if (this.refusedUserAgent(msg, source)) return;
    if (msg.method === 'CANCEL') { this.onCancel(msg, source, local, bytes); return; }
    const mf = msg.get('max-forwards');
    if (mf !== undefined && Number(mf) === 0) { txl.reject(msg, source, 483, 'Too Many Hops'); return; }
    if (!KNOWN_METHODS.has(msg.method)) {
      txl.reject(msg, source, 501, 'Not Implemented', [['allow', [...KNOWN_METHODS].join(', ')]]);
      return;
    }
    const unsupported = msg.getAll('require').flatMap((r) => r.split(',')).map((t) => t.trim())
      .filter((t) => t && !SUPPORTED_OPTION_TAGS.has(t.toLowerCase()));
    if (unsupported.length) { txl.reject(msg, source, 420, 'Bad Extension', [['unsupported', unsupported.join(', ')]]); return; }
    const toTag = tagOf(msg.get('to'));
    const fromTag = tagOf(msg.get('from'));
    if (msg.method === 'PRACK' && toTag && this.onPrack(msg, key, source, toTag)) return;
    if (toTag) {
      const dialog = fromTag ? this.ctx.dialogs.find(msg.get('call-id') as string, toTag, fromTag) : undefined;
      if ((!dialog || dialog.terminated) && this.ctx.proxies.forwardRouted(msg)) return;
      if (!dialog || dialog.terminated) { txl.reject(msg, source, 481, 'Call/Transaction Does Not Exist'); return; }
      this.onInDialogRequest(dialog, msg, key, source, bytes);
      return;
    }
    if (msg.method === 'BYE' || msg.method === 'PRACK') { txl.reject(msg, source, 481, 'Call/Transaction Does Not Exist'); return; }
    this.onNewRequest(msg, key, source, local, bytes);
  }

  /** The User-Agent blacklist: true when the request was refused or dropped. */
  private refusedUserAgent(msg: SipMessage, source: Endpoint): boolean {
    const { opts, counters } = this.ctx;
    const ua = msg.get('user-agent');
    if (ua === undefined || opts.userAgentBlacklist.length === 0) return false;
    const rule = opts.userAgentBlacklist.find((r) => r.pattern.test(ua));
    if (!rule) return false;
    this.ctx.logger.debug('blacklisted user agent', { userAgent: ua, source, action: rule.action });
    if (rule.action === 'discard') { counters.blacklistDiscards++; return true; }
    counters.blacklistRejects++;
    this.ctx.txl.reject(msg, source, rule.status, rule.status === 403 ? 'Forbidden' : 'Rejected');
    return true;
  }

  /** 200 to OPTIONS from the edge itself (RFC 3261 §11.2): what it allows, accepts and supports. */
  private answerOptions(msg: SipMessage, source: Endpoint): void {
    this.ctx.counters.optionsAnswered++;
    this.ctx.txl.reject(msg, source, 200, 'OK', [['allow', [...KNOWN_METHODS].join(', ')], ['accept', 'application/sdp'],
      ['supported', [...SUPPORTED_OPTION_TAGS].join(', ')]]);
    this.ctx.counters.rejected--;   // an answer, not a refusal
  }

  private onNewRequest(msg: SipMessage, key: string, source: Endpoint, local: Endpoint, bytes: number): void {
    const { opts, txl, apps, counters } = this.ctx;
    if (msg.method === 'OPTIONS') {
      const ua = msg.get('user-agent');
      if (ua !== undefined && opts.options.autoRespondUserAgents.some((p) => p.test(ua))) { this.answerOptions(msg, source); return; }
    }
    if (this.ctx.state.draining && msg.method === 'INVITE') {
      counters.drainRefusals++;
      txl.reject(msg, source, 503, 'Service Unavailable', [['retry-after', '30'], ['reason', 'SIP;cause=503;text="edge shutting down"']]);
      return;
    }
    const app = apps.pick(msg.method);
    if (!app) {
      if (msg.method === 'OPTIONS' && opts.options.answerWhenUnrouted) { this.answerOptions(msg, source); return; }
      txl.reject(msg, source, 503, 'Service Unavailable');
      return;
    }
    if (msg.method === 'INVITE' && opts.sessionTimer.enabled) {
      const se = msg.get('session-expires');
      const seconds = se ? Number(se.split(';')[0]) : NaN;
      if (se && (!Number.isFinite(seconds) || seconds < opts.sessionTimer.minSE)) {
        txl.reject(msg, source, 422, 'Session Interval Too Small', [['min-se', String(opts.sessionTimer.minSE)]]);
        return;
      }
    }
    const tx = txl.createServerTx(key, msg, source);
    tx.owner = app;
    if (msg.method === 'INVITE') {
      tx.toTag = newTag();
      tx.respond(responseFor(msg, 100, 'Trying', null));
      apps.cdr('attempt', 'network', msg);
    }
    counters.appRequests++;
    this.ctx.unanswered.handedOver(tx);
    apps.send(app, apps.leader('network', bytes, source, tx.id, '', `${local.address}|${local.port}|`), msg.toString());
  }

  private onInDialogRequest(dialog: AppDialog, msg: SipMessage, key: string, source: Endpoint, bytes: number): void {
    const { txl, apps } = this.ctx;
    const cseq = parseCSeq(msg.get('cseq') as string).seq;
    if (cseq < dialog.remoteSeq) { txl.reject(msg, source, 500, 'Server Internal Error', [['retry-after', '1']]); return; }
    if (msg.method === 'INVITE') {
      if (dialog.outgoingInvite) { txl.reject(msg, source, 491, 'Request Pending'); return; }
      if (dialog.incomingInvite || !dialog.confirmed && dialog.role === 'uas') {
        txl.reject(msg, source, 500, 'Server Internal Error', [['retry-after', '1']]);
        return;
      }
    }
    dialog.remoteSeq = cseq;
    const tx = txl.createServerTx(key, msg, source);
    tx.owner = dialog.owner;
    this.ctx.dialogs.bindServer(tx, dialog);
    if (msg.method === 'INVITE' || msg.method === 'UPDATE') {
      if (msg.method === 'INVITE') {
        dialog.incomingInvite = tx.id;
        tx.respond(responseFor(msg, 100, 'Trying', null));
      }
      const contact = msg.get('contact');
      if (contact) { try { dialog.remoteTarget = parseNameAddr(contact).uri ? contact : dialog.remoteTarget; } catch { /* keep */ } }
      this.ctx.dialogs.sessionTimers.update(dialog, msg, 'incoming');
    }
    if (msg.method === 'BYE') {
      this.ctx.dialogs.end(dialog, 'bye-received');
      apps.cdr('stop', 'network', msg, 'normal-release');
      if (!dialog.owner || dialog.owner.closed) {
        tx.respond(responseFor(msg, 200, 'OK', null));
        return;
      }
    } else if (!dialog.owner || dialog.owner.closed) {
      tx.respond(responseFor(msg, 480, 'Temporarily Unavailable', null));
      return;
    }
    this.ctx.unanswered.handedOver(tx);
    apps.send(dialog.owner, apps.leader('network', bytes, source, tx.id, dialog.id), msg.toString());
  }

  private onAck(msg: SipMessage, key: string, source: Endpoint, bytes: number): void {
    const tx = this.ctx.txl.serverByRequestKey(key);
    if (tx && tx.state === 'completed') { tx.onAck(); return; }
    // the ACK of a non-2xx is in the INVITE's transaction (Confirmed now); a 2xx's goes to its dialog
    if ((this.ctx.txl.finishedServer(key)?.status ?? 0) >= 300) { this.ctx.counters.retransmissionsAbsorbed++; return; }
    const toTag = tagOf(msg.get('to'));
    const fromTag = tagOf(msg.get('from'));
    if (!toTag || !fromTag) return;
    const dialog = this.ctx.dialogs.find(msg.get('call-id') as string, toTag, fromTag);
    if (!dialog) { this.ctx.proxies.forwardRouted(msg); return; }
    const txId = this.ctx.dialogs.confirm(dialog, parseCSeq(msg.get('cseq') as string).seq);
    if (txId === null) { this.ctx.counters.retransmissionsAbsorbed++; return; }
    this.ctx.apps.send(dialog.owner, this.ctx.apps.leader('network', bytes, source, txId, dialog.id), msg.toString());
  }

  private onCancel(msg: SipMessage, source: Endpoint, local: Endpoint, bytes: number): void {
    const { txl, apps } = this.ctx;
    const inviteKey = txl.serverKey(msg, 'INVITE');
    const inviteTx = txl.serverByRequestKey(inviteKey);
    const answered = inviteTx?.finalSent ? inviteTx : inviteTx ? undefined : txl.finishedServer(inviteKey);
    const cancelTx = txl.createServerTx(txl.serverKey(msg), msg, source);
    if (answered) {
      // a CANCEL has the INVITE's Call-ID and From (§9.1): the dialog is found by them
      const dialog = this.ctx.dialogs.get(`${msg.get('call-id')};from-tag=${tagOf(msg.get('from'))}`);
      const status = 'lastStatus' in answered ? answered.lastStatus : answered.status;
      if (dialog && !dialog.confirmed && status >= 200 && status < 300) {
        cancelTx.respond(responseFor(msg, 481, 'Call/Transaction Does Not Exist', newTag()));
        this.ctx.dialogs.byeFromEdge(dialog, 'SIP ;cause=200 ;text="CANCEL after 200 OK"', true, 'cancel-after-200');
        return;
      }
      cancelTx.respond(responseFor(msg, 200, 'OK', answered.toTag));
      return;
    }
    if (!inviteTx) { cancelTx.respond(responseFor(msg, 481, 'Call/Transaction Does Not Exist', newTag())); return; }
    const invite = inviteTx.request;
    cancelTx.respond(responseFor(msg, 200, 'OK', inviteTx.toTag));
    inviteTx.cancelled = true;
    inviteTx.respond(responseFor(invite, 487, 'Request Terminated', inviteTx.toTag));
    if (this.ctx.proxies.cancelled(inviteTx)) return;
    apps.cdr('stop', 'network', msg, 'call-canceled');
    apps.send(inviteTx.owner as AppConnection | null, apps.leader('network', bytes, source, inviteTx.id, '', `${local.address}|${local.port}|`), msg.toString());
  }

  /** An incoming PRACK for one of our reliable provisionals is answered by the edge; the app is not asked. */
  private onPrack(msg: SipMessage, key: string, source: Endpoint, toTag: string): boolean {
    const outcome = this.ctx.reliable1xx.prack(msg, toTag);
    if (outcome === 'none') return false;
    if (outcome === 'mismatch') { this.ctx.txl.reject(msg, source, 481, 'Call/Transaction Does Not Exist'); return true; }
    this.ctx.txl.createServerTx(key, msg, source).respond(responseFor(msg, 200, 'OK', null));
    return true;
  }
}
