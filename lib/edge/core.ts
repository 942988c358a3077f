import { randomUUID, randomBytes } from 'node:crypto';
import type { Logger } from '../common/logger';
import { AppBridge, stackTime } from './control/app-bridge';
import { AppConnection, type SipCommand } from './control/control-server';
import { Dialog, dialogLookupKey } from './dialog/dialog';
import { OrphanRecords, type OrphanEnd } from './dialog/orphans';
import { negotiateSessionExpires, reinviteSessionExpires, SessionTimers, type SessionTimerOptions } from './dialog/session-timers';
import { SipMessage } from './message/message';
import { ParseError, parseAppMessage } from './message/parser';
import { ProxyBridge, ROUTED_BRANCH } from './proxy/proxy-bridge';
import { parseCSeq, parseNameAddr, parseUri, parseVia, tagOf, toNameAddrForm, type SipUri } from './message/uri';
import { ClientTransaction, sameTransactionRequest } from './transaction/client-transaction';
import { ServerTransaction } from './transaction/server-transaction';
import { DEFAULT_TIMER_C_MS, InviteGuards } from './transaction/invite-guards';
import { ReliableProvisionals } from './transaction/reliable-provisionals';
import { TimerSet, timerB, type TimerConfig } from './transaction/timers';
import { Addressing } from './transport/addressing';
import { isStream, type Endpoint, type TransportLayer, type TransportName } from './transport/transport';

export type { SessionTimerOptions } from './dialog/session-timers';

/** A User-Agent the edge refuses (drachtio's spammer list): answered `status`, or dropped unanswered. */
export interface UserAgentRule { pattern: RegExp; action: 'reject' | 'discard'; status: number }

export interface OptionsPolicy {
  /** OPTIONS no application routes get 200 from the edge (a keepalive peer marks a 503 down). */
  answerWhenUnrouted: boolean;
  /** OPTIONS from these User-Agents get 200 from the edge whatever the applications route. */
  autoRespondUserAgents: RegExp[];
}

/**
 * A request handed to an application that never answers it: after `timeoutMs` the edge forgets it
 * (drachtio-server's 64 s), and with a `status` answers it that first.
 */
export interface UnansweredRequestPolicy { timeoutMs: number; status: number | null }

export interface CoreOptions {
  timers: TimerConfig;
  unansweredRequests: UnansweredRequestPolicy;
  userAgentBlacklist: UserAgentRule[];
  options: OptionsPolicy;
  sessionTimer: SessionTimerOptions;
  appDisconnectGraceMs: number;
  orphanRetentionMs: number;
  cdrEvents: boolean;
  publicAddress?: string;
}

const REFUSAL_REASONS: Record<number, string> = {
  400: 'Bad Request', 413: 'Request Entity Too Large', 416: 'Unsupported URI Scheme', 505: 'Version Not Supported',
};

/** Option tags a peer may put in Require (RFC 3261 §8.2.2.3); anything else gets 420. */
export const SUPPORTED_OPTION_TAGS = new Set(['timer', '100rel', 'replaces', 'norefersub', 'path', 'outbound', 'gruu', 'tdialog']);

const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'INFO', 'UPDATE', 'PRACK', 'REFER',
  'MESSAGE', 'SUBSCRIBE', 'NOTIFY', 'REGISTER', 'PUBLISH']);

/** Headers the edge owns on requests the application sends; the application's values are dropped. */
const EDGE_OWNED_REQUEST = new Set(['via', 'content-length', 'record-route', 'max-forwards']);
const DIALOG_OWNED_REQUEST = new Set([...EDGE_OWNED_REQUEST, 'from', 'to', 'call-id', 'cseq', 'route']);
const EDGE_OWNED_RESPONSE = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'content-length', 'record-route', 'max-forwards']);

let idCounter = 0;
const idPrefix = randomBytes(4).toString('hex');
function uniqueToken(): string { idCounter = (idCounter + 1) % 0x7fffffff; return `${idPrefix}${idCounter.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`; }
function newBranch(): string { return `z9hG4bK${uniqueToken()}`; }
function newTag(): string { return uniqueToken(); }

export interface CoreCounters {
  strayResponses: number; retransmissionsAbsorbed: number; rejected: number; appRequests: number;
  unsolicitedByes: number; timerHByes: number; sessionTimerByes: number; disconnectByes: number;
  drainRefusals: number; drainByes: number; timerCCancels: number; cancelGiveUps: number;
  sessionRefreshes: number; blacklistRejects: number; blacklistDiscards: number; optionsAnswered: number;
  unansweredRequests: number; forkByes: number; reliableProvisionals: number; pracksAnswered: number; pracksSent: number;
}

export { DEFAULT_TIMER_C_MS } from './transaction/invite-guards';

interface UacPending {
  tx: ClientTransaction; dialogId: string; owner: AppConnection; cancelled: boolean; fromTag: string;
  /** The last reliable provisional (RFC 3262): where the application's PRACK goes, and its CSeq. */
  early?: { to: string; contact: string; routeSet: string[]; target: Endpoint; lastSeq: number };
}



/**
 * The SIP core of the edge: routes network messages to transactions, dialogs and applications,
 * and turns application commands from the control link into SIP on the wire.
 */
export class EdgeCore {
  private serverTxByKey = new Map<string, ServerTransaction>();
  private serverTxById = new Map<string, ServerTransaction>();
  private serverTxDialog = new Map<string, Dialog>();
  private clientTxByKey = new Map<string, ClientTransaction>();
  private clientTxById = new Map<string, ClientTransaction>();
  private clientTxDialog = new Map<ClientTransaction, Dialog>();
  private internalTx = new Set<ClientTransaction>();   // edge's own requests: responses stay here
  private uacPending = new Map<string, UacPending>();  // by transaction id
  private dialogs = new Map<string, Dialog>();
  private dialogsByKey = new Map<string, Dialog>();
  private graceTimers = new TimerSet();
  private closed = false;
  /** Set by drain(): new INVITEs are refused with 503 from then on. */
  private draining = false;
  readonly counters: CoreCounters = {
    strayResponses: 0, retransmissionsAbsorbed: 0, rejected: 0, appRequests: 0,
    unsolicitedByes: 0, timerHByes: 0, sessionTimerByes: 0, disconnectByes: 0,
    drainRefusals: 0, drainByes: 0, timerCCancels: 0, cancelGiveUps: 0, sessionRefreshes: 0,
    blacklistRejects: 0, blacklistDiscards: 0, optionsAnswered: 0, unansweredRequests: 0, forkByes: 0,
    reliableProvisionals: 0, pracksAnswered: 0, pracksSent: 0,
  };
  readonly orphans: OrphanRecords;
  private guards: InviteGuards;
  private proxies: ProxyBridge;
  private readonly addr: Addressing;
  private readonly apps: AppBridge;
  private reliable1xx: ReliableProvisionals;
  private sessionTimers: SessionTimers;
  /** Requests handed to an application and not answered yet, with their give-up timers. */
  private unanswered = new Map<ServerTransaction, NodeJS.Timeout>();
  /** 2xx of INVITE forks the edge ended (ACK + BYE): their ACK, resent on retransmissions. */
  private endedForks = new Map<string, { ack: Buffer; target: Endpoint }>();
  private orphanPruner: NodeJS.Timeout;

  constructor(
    private readonly transport: TransportLayer,
    private readonly connections: () => Iterable<AppConnection>,
    private readonly opts: CoreOptions,
    private readonly logger: Logger,
  ) {
    this.orphans = new OrphanRecords(opts.orphanRetentionMs);
    this.addr = new Addressing(transport, opts.publicAddress);
    this.apps = new AppBridge(connections, opts.cdrEvents);
    this.guards = new InviteGuards(opts.timers.timerC ?? DEFAULT_TIMER_C_MS, timerB(opts.timers), {
      cancel: (tx, reason) => this.cancelInvite(tx, reason),
      giveUp: (tx) => { this.onClientTimeout(tx); tx.terminate(); },
    }, this.counters, logger);
    this.proxies = new ProxyBridge({
      logger,
      isClosed: () => this.closed,
      serverTx: (id) => this.serverTxById.get(id),
      handOver: (tx) => { this.appAnswered(tx); tx.owner = null; },
      resolveTarget: (uri) => this.addr.resolveTarget(uri),
      localFor: (target) => this.transport.localFor(target),
      viaFor: (local, branch) => this.addr.viaFor(local, branch),
      hostFor: (local) => this.addr.hostFor(local),
      bound: () => this.transport.bound,
      newBranch,
      startClientTx: (req, target, branch) => this.startClientTx(req, target, branch),
      cancelInvite: (tx) => { this.cancelInvite(tx); },
      send: (bytes, target) => this.transport.send(bytes, target),
      strayResponse: () => { this.counters.strayResponses++; },
    });
    this.sessionTimers = new SessionTimers({
      refresh: (d) => this.sendRefresh(d),
      expired: (d) => {
        this.counters.sessionTimerByes++;
        this.logger.info('session timer expired, ending the call', { dialogId: d.id });
        this.byeFromEdge(d, 'SIP ;cause=408 ;text="session timer expired"', true, 'session-timer');
      },
    });
    this.reliable1xx = new ReliableProvisionals(opts.timers, {
      send: (bytes, target) => this.transport.send(bytes, target),
      noPrack: (tx) => tx.respond(this.responseFor(tx.request, 500, 'No PRACK', tx.toTag)),
    }, this.counters, logger);
    this.orphanPruner = setInterval(() => this.orphans.prune(), Math.min(60_000, Math.max(1000, opts.orphanRetentionMs))).unref();
  }

  // ───────────────────────────── helpers ─────────────────────────────

  get liveServerTransactions(): number { return this.serverTxById.size; }
  get liveClientTransactions(): number { return this.clientTxById.size; }
  get liveDialogs(): number { return this.dialogs.size; }

  private reliable(t: TransportName): boolean { return isStream(t); }

  private serverKey(msg: SipMessage, methodOverride?: string): string {
    const via = parseVia(msg.get('via') as string);
    const method = methodOverride ?? (msg.method === 'ACK' ? 'INVITE' : msg.method);
    const branch = via.params.get('branch');
    if (branch && branch.startsWith('z9hG4bK')) return `${branch}|${via.host}:${via.port ?? ''}|${method}`;
    // RFC 2543 matching (§17.2.3): the top Via's sent-by is part of the transaction too
    const cseq = parseCSeq(msg.get('cseq') as string);
    return `${msg.get('call-id')}|${cseq.seq}|${tagOf(msg.get('from'))}|${via.host}:${via.port ?? ''}|${method}`;
  }

  private clientKey(branch: string, method: string): string { return `${branch}|${method}`; }

  /** A response built from a request (§8.2.6): Via, From, To, Call-ID, CSeq copied. */
  private responseFor(req: SipMessage, status: number, reason: string, toTag: string | null): SipMessage {
    const res = SipMessage.response(status, reason);
    for (const v of req.getAll('via')) res.append('via', v);
    // a refused request may lack some of these (RFC 4475 §3.3.1): copy what is there
    const from = req.get('from');
    if (from !== undefined) res.append('from', from);
    const to = req.get('to');
    if (to !== undefined) res.append('to', toTag && !tagOf(to) ? `${to};tag=${toTag}` : to);
    const callId = req.get('call-id');
    if (callId !== undefined) res.append('call-id', callId);
    res.append('cseq', req.get('cseq') as string);
    return res;
  }

  /** Stateless-looking answer sent through a server transaction so retransmissions are absorbed. */
  private reject(req: SipMessage, source: Endpoint, status: number, reason: string, extra: Array<[string, string]> = []): void {
    this.counters.rejected++;
    if (req.method === 'ACK') return;
    let tx: ServerTransaction | undefined;
    try {
      const key = this.serverKey(req);
      tx = this.serverTxByKey.get(key) ?? this.createServerTx(key, req, source);
    } catch { /* fall back to sending once */ }
    const res = this.responseFor(req, status, reason, status > 100 ? newTag() : null);
    for (const [k, v] of extra) res.append(k, v);
    if (tx) tx.respond(res); else this.transport.send(res.toBuffer(), this.addr.responseTarget(req, source));
  }

  private createServerTx(key: string, req: SipMessage, source: Endpoint): ServerTransaction {
    const tx = new ServerTransaction(randomUUID(), key, req, source, this.addr.responseTarget(req, source),
      this.reliable(source.transport), this.opts.timers, {
        send: (data, target) => this.transport.send(data, target),
        terminated: (t) => {
          this.appAnswered(t);
          this.reliable1xx.forget(t);
          this.proxies.serverEnded(t);
          this.serverTxByKey.delete(t.key);
          this.serverTxById.delete(t.id);
          this.serverTxDialog.delete(t.id);
        },
      });
    this.serverTxByKey.set(key, tx);
    this.serverTxById.set(tx.id, tx);
    return tx;
  }

  // ───────────────────────────── network side ─────────────────────────────

  onBadMessage(err: ParseError, source: Endpoint): void {
    this.logger.debug('bad sip message', { source, reason: err.message, status: err.status });
    const partial = err.partial;
    if (!partial || !partial.isRequest || partial.method === 'ACK') return;
    try {
      const res = this.responseFor(partial, err.status, REFUSAL_REASONS[err.status] ?? 'Bad Request', newTag());
      res.append('warning', `399 tollgate-edge "${err.message.replace(/"/g, "'")}"`);
      let target = source;   // a Via too broken to route by: answer whoever sent it
      try { target = this.addr.responseTarget(partial, source); } catch { /* keep the source */ }
      this.transport.send(res.toBuffer(), target);
    } catch (e) {
      this.logger.debug('could not answer bad message', { err: String(e) });
    }
  }

  onMessage(msg: SipMessage, source: Endpoint, local: Endpoint, bytes: number): void {
    if (this.closed) return;
    if (msg.isRequest) this.onRequest(msg, source, local, bytes);
    else this.onResponse(msg, source, bytes);
  }

  private onRequest(msg: SipMessage, source: Endpoint, local: Endpoint, bytes: number): void {
    this.addr.stampVia(msg, source);
    const key = this.serverKey(msg);
    if (msg.method === 'ACK') { this.onAck(msg, key, source, bytes); return; }
    const existing = this.serverTxByKey.get(key);
    if (existing) { this.counters.retransmissionsAbsorbed++; existing.onRetransmission(); return; }
    if (this.refusedUserAgent(msg, source)) return;
    if (msg.method === 'CANCEL') { this.onCancel(msg, source, local, bytes); return; }
    const mf = msg.get('max-forwards');
    if (mf !== undefined && Number(mf) === 0) { this.reject(msg, source, 483, 'Too Many Hops'); return; }
    if (!KNOWN_METHODS.has(msg.method)) {
      this.reject(msg, source, 501, 'Not Implemented', [['allow', [...KNOWN_METHODS].join(', ')]]);
      return;
    }
    const unsupported = msg.getAll('require').flatMap((r) => r.split(',')).map((t) => t.trim())
      .filter((t) => t && !SUPPORTED_OPTION_TAGS.has(t.toLowerCase()));
    if (unsupported.length) { this.reject(msg, source, 420, 'Bad Extension', [['unsupported', unsupported.join(', ')]]); return; }
    const toTag = tagOf(msg.get('to'));
    const fromTag = tagOf(msg.get('from'));
    if (msg.method === 'PRACK' && toTag && this.onPrack(msg, key, source, toTag)) return;
    if (toTag) {
      const dialog = fromTag ? this.dialogsByKey.get(dialogLookupKey(msg.get('call-id') as string, toTag, fromTag)) : undefined;
      if ((!dialog || dialog.terminated) && this.proxies.forwardRouted(msg)) return;
      if (!dialog || dialog.terminated) { this.reject(msg, source, 481, 'Call/Transaction Does Not Exist'); return; }
      this.onInDialogRequest(dialog, msg, key, source, bytes);
      return;
    }
    if (msg.method === 'BYE' || msg.method === 'PRACK') { this.reject(msg, source, 481, 'Call/Transaction Does Not Exist'); return; }
    this.onNewRequest(msg, key, source, local, bytes);
  }

  /** The User-Agent blacklist: true when the request was refused or dropped. */
  private refusedUserAgent(msg: SipMessage, source: Endpoint): boolean {
    const ua = msg.get('user-agent');
    if (ua === undefined || this.opts.userAgentBlacklist.length === 0) return false;
    const rule = this.opts.userAgentBlacklist.find((r) => r.pattern.test(ua));
    if (!rule) return false;
    this.logger.debug('blacklisted user agent', { userAgent: ua, source, action: rule.action });
    if (rule.action === 'discard') { this.counters.blacklistDiscards++; return true; }
    this.counters.blacklistRejects++;
    this.reject(msg, source, rule.status, rule.status === 403 ? 'Forbidden' : 'Rejected');
    return true;
  }

  /** 200 to OPTIONS from the edge itself (RFC 3261 §11.2): what it allows, accepts and supports. */
  private answerOptions(msg: SipMessage, source: Endpoint): void {
    this.counters.optionsAnswered++;
    this.reject(msg, source, 200, 'OK', [['allow', [...KNOWN_METHODS].join(', ')], ['accept', 'application/sdp'],
      ['supported', [...SUPPORTED_OPTION_TAGS].join(', ')]]);
    this.counters.rejected--;   // an answer, not a refusal
  }

  private onNewRequest(msg: SipMessage, key: string, source: Endpoint, local: Endpoint, bytes: number): void {
    if (msg.method === 'OPTIONS') {
      const ua = msg.get('user-agent');
      if (ua !== undefined && this.opts.options.autoRespondUserAgents.some((p) => p.test(ua))) { this.answerOptions(msg, source); return; }
    }
    if (this.draining && msg.method === 'INVITE') {
      this.counters.drainRefusals++;
      this.reject(msg, source, 503, 'Service Unavailable', [['retry-after', '30'], ['reason', 'SIP;cause=503;text="edge shutting down"']]);
      return;
    }
    const app = this.apps.pick(msg.method);
    if (!app) {
      if (msg.method === 'OPTIONS' && this.opts.options.answerWhenUnrouted) { this.answerOptions(msg, source); return; }
      this.reject(msg, source, 503, 'Service Unavailable');
      return;
    }
    if (msg.method === 'INVITE' && this.opts.sessionTimer.enabled) {
      const se = msg.get('session-expires');
      const seconds = se ? Number(se.split(';')[0]) : NaN;
      if (se && (!Number.isFinite(seconds) || seconds < this.opts.sessionTimer.minSE)) {
        this.reject(msg, source, 422, 'Session Interval Too Small', [['min-se', String(this.opts.sessionTimer.minSE)]]);
        return;
      }
    }
    const tx = this.createServerTx(key, msg, source);
    tx.owner = app;
    if (msg.method === 'INVITE') {
      tx.toTag = newTag();
      tx.respond(this.responseFor(msg, 100, 'Trying', null));
      this.apps.cdr('attempt', 'network', msg);
    }
    this.counters.appRequests++;
    this.awaitAppAnswer(tx);
    this.apps.send(app, this.apps.leader('network', bytes, source, tx.id, '', `${local.address}|${local.port}|`), msg.toString());
  }

  /** Bounds how long a request waits for the application's first response (drachtio-server: 64 s). */
  private awaitAppAnswer(tx: ServerTransaction): void {
    const { timeoutMs, status } = this.opts.unansweredRequests;
    this.unanswered.set(tx, setTimeout(() => {
      this.unanswered.delete(tx);
      if (tx.finalSent || tx.state === 'terminated') return;
      this.counters.unansweredRequests++;
      this.logger.info('the application never answered the request; the edge gives it up',
        { method: tx.request.method, callId: tx.request.get('call-id'), timeoutMs, status });
      if (status !== null) tx.respond(this.responseFor(tx.request, status, status === 408 ? 'Request Timeout' : 'Server Internal Error', tx.toTag ?? newTag()));
      else tx.terminate();
    }, timeoutMs));
  }

  private appAnswered(tx: ServerTransaction): void {
    const t = this.unanswered.get(tx);
    if (t) { clearTimeout(t); this.unanswered.delete(tx); }
  }

  private onInDialogRequest(dialog: Dialog, msg: SipMessage, key: string, source: Endpoint, bytes: number): void {
    const cseq = parseCSeq(msg.get('cseq') as string).seq;
    if (cseq < dialog.remoteSeq) { this.reject(msg, source, 500, 'Server Internal Error', [['retry-after', '1']]); return; }
    if (msg.method === 'INVITE') {
      if (dialog.outgoingInvite) { this.reject(msg, source, 491, 'Request Pending'); return; }
      if (dialog.incomingInvite || !dialog.confirmed && dialog.role === 'uas') {
        this.reject(msg, source, 500, 'Server Internal Error', [['retry-after', '1']]);
        return;
      }
    }
    dialog.remoteSeq = cseq;
    const tx = this.createServerTx(key, msg, source);
    tx.owner = dialog.owner;
    this.serverTxDialog.set(tx.id, dialog);
    if (msg.method === 'INVITE' || msg.method === 'UPDATE') {
      if (msg.method === 'INVITE') {
        dialog.incomingInvite = tx.id;
        tx.respond(this.responseFor(msg, 100, 'Trying', null));
      }
      const contact = msg.get('contact');
      if (contact) { try { dialog.remoteTarget = parseNameAddr(contact).uri ? contact : dialog.remoteTarget; } catch { /* keep */ } }
      this.sessionTimers.update(dialog, msg, 'incoming');
    }
    if (msg.method === 'BYE') {
      this.endDialog(dialog, 'bye-received');
      this.apps.cdr('stop', 'network', msg, 'normal-release');
      if (!dialog.owner || dialog.owner.closed) {
        tx.respond(this.responseFor(msg, 200, 'OK', null));
        return;
      }
    } else if (!dialog.owner || dialog.owner.closed) {
      tx.respond(this.responseFor(msg, 480, 'Temporarily Unavailable', null));
      return;
    }
    this.awaitAppAnswer(tx);
    this.apps.send(dialog.owner, this.apps.leader('network', bytes, source, tx.id, dialog.id), msg.toString());
  }

  private onAck(msg: SipMessage, key: string, source: Endpoint, bytes: number): void {
    const tx = this.serverTxByKey.get(key);
    if (tx && tx.state === 'completed') { tx.onAck(); return; }
    const toTag = tagOf(msg.get('to'));
    const fromTag = tagOf(msg.get('from'));
    if (!toTag || !fromTag) return;
    const dialog = this.dialogsByKey.get(dialogLookupKey(msg.get('call-id') as string, toTag, fromTag));
    if (!dialog) { this.proxies.forwardRouted(msg); return; }
    const cseq = parseCSeq(msg.get('cseq') as string).seq;
    const pending = dialog.pending2xx;
    if (!pending || pending.cseq !== cseq) { this.counters.retransmissionsAbsorbed++; return; }
    dialog.pending2xx = null;
    dialog.confirmed = true;
    dialog.timers.clear();
    this.sessionTimers.arm(dialog);
    if (msg.body.length) dialog.localSdp = dialog.localSdp ?? null;
    this.apps.send(dialog.owner, this.apps.leader('network', bytes, source, pending.txId, dialog.id), msg.toString());
  }

  private onCancel(msg: SipMessage, source: Endpoint, local: Endpoint, bytes: number): void {
    const inviteTx = this.serverTxByKey.get(this.serverKey(msg, 'INVITE'));
    const cancelTx = this.createServerTx(this.serverKey(msg), msg, source);
    if (!inviteTx) { cancelTx.respond(this.responseFor(msg, 481, 'Call/Transaction Does Not Exist', newTag())); return; }
    const invite = inviteTx.request;
    if (inviteTx.finalSent) {
      const dialog = this.dialogs.get(`${invite.get('call-id')};from-tag=${tagOf(invite.get('from'))}`);
      if (dialog && !dialog.confirmed && inviteTx.lastStatus >= 200 && inviteTx.lastStatus < 300) {
        cancelTx.respond(this.responseFor(msg, 481, 'Call/Transaction Does Not Exist', newTag()));
        this.byeFromEdge(dialog, 'SIP ;cause=200 ;text="CANCEL after 200 OK"', true, 'cancel-after-200');
        return;
      }
      cancelTx.respond(this.responseFor(msg, 200, 'OK', inviteTx.toTag));
      return;
    }
    cancelTx.respond(this.responseFor(msg, 200, 'OK', inviteTx.toTag));
    inviteTx.cancelled = true;
    inviteTx.respond(this.responseFor(invite, 487, 'Request Terminated', inviteTx.toTag));
    if (this.proxies.cancelled(inviteTx)) return;
    this.apps.cdr('stop', 'network', msg, 'call-canceled');
    this.apps.send(inviteTx.owner as AppConnection | null, this.apps.leader('network', bytes, source, inviteTx.id, '', `${local.address}|${local.port}|`), msg.toString());
  }

  private onResponse(res: SipMessage, source: Endpoint, bytes: number): void {
    let via;
    try { via = parseVia(res.get('via') as string); } catch { this.counters.strayResponses++; return; }
    const branch = via.params.get('branch') ?? '';
    const method = parseCSeq(res.get('cseq') as string).method;
    const tx = this.clientTxByKey.get(this.clientKey(branch, method));
    if (!tx && branch.startsWith(ROUTED_BRANCH)) { this.proxies.forwardRoutedResponse(res); return; }
    if (!tx) {
      if (method === 'INVITE' && res.status >= 200 && res.status < 300) this.onStray2xx(res);
      else this.counters.strayResponses++;
      return;
    }
    (res as SipMessage & { _source?: Endpoint; _bytes?: number })._source = source;
    (res as SipMessage & { _bytes?: number })._bytes = bytes;
    tx.receive(res);
  }

  /** A 2xx retransmitted after the INVITE transaction ended: send the ACK again. */
  private onStray2xx(res: SipMessage): void {
    const fromTag = tagOf(res.get('from'));
    const toTag = tagOf(res.get('to'));
    const dialog = fromTag && toTag ? this.dialogsByKey.get(dialogLookupKey(res.get('call-id') as string, fromTag, toTag)) : undefined;
    if (dialog?.lastAck) { this.transport.send(dialog.lastAck, dialog.target); return; }
    const forked = this.endedForks.get(`${res.get('call-id')}|${fromTag}|${toTag}`);
    if (forked) { this.transport.send(forked.ack, forked.target); return; }
    this.counters.strayResponses++;
  }

  /**
   * A second 2xx from another fork of our INVITE (RFC 3261 §13.2.2.4): the edge acknowledges it and
   * ends that dialog with BYE; the application keeps the first. Retransmissions get the ACK again.
   */
  private endFork(res: SipMessage, invite: SipMessage, fallback: Endpoint): void {
    const callId = invite.get('call-id') as string;
    const fromTag = tagOf(invite.get('from')) ?? '';
    const toTag = tagOf(res.get('to')) ?? '';
    const key = `${callId}|${fromTag}|${toTag}`;
    const known = this.endedForks.get(key);
    if (known) { this.transport.send(known.ack, known.target); return; }
    this.counters.forkByes++;
    const contact = res.get('contact') ?? invite.uri;
    const routeSet = res.getAll('record-route').reverse();
    const target = this.addr.targetFromUriSync(routeSet.length ? routeSet[0] : contact, fallback);
    const cseq = parseCSeq(invite.get('cseq') as string).seq;
    const fork = new Dialog(`${callId};from-tag=${fromTag};fork=${toTag}`, 'uac', callId, fromTag, toTag,
      invite.get('from') as string, res.get('to') as string, contact, target,
      invite.get('contact') ?? this.addr.contactFor(this.transport.localFor(fallback)), null, cseq, 0, '');
    fork.routeSet = routeSet;
    const ack = this.buildInDialogRequest(fork, 'ACK', null, cseq).req.toBuffer();
    this.transport.send(ack, target);
    this.endedForks.set(key, { ack, target });
    setTimeout(() => this.endedForks.delete(key), timerB(this.opts.timers)).unref();
    this.logger.info('a second fork answered the INVITE; the edge ends it', { callId, toTag });
    const { req: bye, branch } = this.buildInDialogRequest(fork, 'BYE', null);
    bye.append('reason', 'SIP;cause=200;text="another fork answered first"');
    this.internalTx.add(this.startClientTx(bye, target, branch));
  }

  private onClientResponse(tx: ClientTransaction, res: SipMessage, retransmission: boolean): void {
    const meta = res as SipMessage & { _source?: Endpoint; _bytes?: number };
    const source = meta._source ?? tx.target;
    const bytes = meta._bytes ?? res.toBuffer().length;
    if (tx.isInvite) {
      if (res.status >= 200) this.guards.clear(tx);
      else if (res.status > 100) this.guards.armTimerC(tx);
    }
    if (this.proxies.clientResponse(tx, res, retransmission, source, bytes, stackTime())) return;
    if (this.internalTx.has(tx)) { this.onInternalResponse(tx, res, retransmission); return; }
    const pending = this.uacPending.get(tx.id);
    if (pending) { this.onInitialInviteResponse(pending, tx, res, retransmission, source, bytes); return; }
    const dialog = this.clientTxDialog.get(tx);
    if (dialog && tx.isInvite && res.status >= 200) {
      if (res.status < 300) {
        if (retransmission) { if (dialog.lastAck) this.transport.send(dialog.lastAck, dialog.target); return; }
        dialog.awaitingAck = { cseq: parseCSeq(res.get('cseq') as string).seq, txId: tx.id };
        const contact = res.get('contact');
        if (contact) dialog.remoteTarget = contact;
        this.sessionTimers.update(dialog, res, 'response');
      }
      dialog.outgoingInvite = null;
    }
    if (dialog && tx.request.method === 'BYE' && res.status >= 200) this.dropDialog(dialog);
    if (retransmission) return;
    this.apps.send(tx.owner as AppConnection | null, this.apps.leader('network', bytes, source, tx.id, dialog?.id ?? ''), res.toString());
  }

  private onInitialInviteResponse(p: UacPending, tx: ClientTransaction, res: SipMessage, retransmission: boolean, source: Endpoint, bytes: number): void {
    if (res.status > 100 && res.status < 200) this.noteEarly(p, res, tx.target);
    if (res.status >= 200 && res.status < 300) {
      let dialog = this.dialogs.get(p.dialogId);
      if (dialog && tagOf(res.get('to')) !== dialog.remoteTag) { this.endFork(res, tx.request, tx.target); return; }
      if (retransmission) {
        if (dialog?.lastAck) this.transport.send(dialog.lastAck, dialog.target);
        return;
      }
      if (!dialog) dialog = this.createUacDialog(p, tx, res);
      if (p.owner.closed) {
        // answered after its application went away: nobody will ACK or meter it
        const { req } = this.buildInDialogRequest(dialog, 'ACK', null, dialog.awaitingAck?.cseq);
        dialog.lastAck = req.toBuffer();
        dialog.awaitingAck = null;
        this.uacPending.delete(tx.id);
        this.transport.send(dialog.lastAck, dialog.target);
        this.byeFromEdge(dialog, 'SIP ;cause=503 ;text="application disconnected"', false, 'grace-bye');
        return;
      }
      if (p.cancelled) dialog.ackThenBye = true;
      this.apps.cdr('start', 'network', res, 'uac');
    } else if (res.status >= 300) {
      this.uacPending.delete(tx.id);
      this.apps.cdr('stop', 'network', res, res.status === 487 ? 'call-canceled' : 'call-rejected');
    }
    this.apps.send(p.owner, this.apps.leader('network', bytes, source, tx.id, p.dialogId), res.toString());
  }

  private createUacDialog(p: UacPending, tx: ClientTransaction, res: SipMessage): Dialog {
    const req = tx.request;
    const contact = res.get('contact') ?? req.uri;
    const routeSet = res.getAll('record-route').reverse();
    const target = routeSet.length ? this.addr.targetFromUriSync(routeSet[0], tx.target) : this.addr.targetFromUriSync(contact, tx.target);
    const cseq = parseCSeq(req.get('cseq') as string).seq;
    // a PRACK in the early dialog used CSeq numbers after the INVITE's: later requests go above them
    const localSeq = Math.max(cseq, p.early?.lastSeq ?? cseq);
    const dialog = new Dialog(p.dialogId, 'uac', req.get('call-id') as string, p.fromTag, tagOf(res.get('to')) ?? '',
      req.get('from') as string, res.get('to') as string, contact, target,
      req.get('contact') ?? this.addr.contactFor(this.transport.localFor(tx.target)), p.owner, localSeq, 0, tx.id);
    dialog.routeSet = routeSet;
    dialog.localSdp = req.body.length ? req.body : null;
    dialog.localContentType = req.get('content-type') ?? null;
    dialog.awaitingAck = { cseq, txId: tx.id };
    this.addDialog(dialog);
    this.sessionTimers.update(dialog, res, 'response');
    return dialog;
  }

  /** No final response (Timer B/F: 408) or no way to send (503): the app gets that response. */
  private onClientTimeout(tx: ClientTransaction, status = 408, reason = 'Request Timeout'): void {
    if (this.proxies.clientFailed(tx, status)) return;
    const res = this.responseFor(tx.request, status, reason, null);
    if (this.internalTx.has(tx)) { this.onInternalResponse(tx, res, false); return; }
    const pending = this.uacPending.get(tx.id);
    const dialog = this.clientTxDialog.get(tx);
    if (pending) this.uacPending.delete(tx.id);
    if (dialog && tx.isInvite) dialog.outgoingInvite = null;
    if (dialog && tx.request.method === 'BYE') this.dropDialog(dialog);
    this.apps.send(tx.owner as AppConnection | null, this.apps.leader('network', 0, tx.target, tx.id, pending?.dialogId ?? dialog?.id ?? ''), res.toString());
  }

  private startClientTx(req: SipMessage, target: Endpoint, branch: string, id: string = randomUUID()): ClientTransaction {
    const tx = new ClientTransaction(id, this.clientKey(branch, req.method), req, target, this.reliable(target.transport),
      this.opts.timers, {
        send: (data, t, onUnreachable) => this.transport.send(data, t, onUnreachable),
        response: (t, res, retrans) => this.onClientResponse(t, res, retrans),
        timeout: (t) => this.onClientTimeout(t),
        unreachable: (t, why) => {
          this.logger.info('request not sent: destination unreachable', { target: t.target, reason: why });
          this.onClientTimeout(t, 503, 'Service Unavailable');
        },
        terminated: (t) => {
          this.guards.clear(t);
          this.proxies.clientEnded(t);
          this.clientTxByKey.delete(t.key);
          this.clientTxById.delete(t.id);
          this.clientTxDialog.delete(t);
          this.internalTx.delete(t);
          this.uacPending.delete(t.id);
        },
      });
    this.clientTxByKey.set(tx.key, tx);
    this.clientTxById.set(tx.id, tx);
    tx.start();
    if (tx.isInvite && tx.state !== 'terminated') this.guards.armTimerC(tx);
    return tx;
  }

  // ───────────────────────────── dialogs ─────────────────────────────

  private addDialog(d: Dialog): void {
    this.dialogs.set(d.id, d);
    this.dialogsByKey.set(d.lookupKey, d);
  }

  /** Stops timers and marks the dialog ended; it stays findable until dropped. */
  private endDialog(d: Dialog, how: OrphanEnd): void {
    this.orphans.ended(d.id, how);
    d.terminated = true;
    d.timers.clear();
    if (d.sessionTimer?.timer) clearTimeout(d.sessionTimer.timer);
    this.dropDialog(d);
  }

  private dropDialog(d: Dialog): void {
    d.terminated = true;
    d.timers.clear();
    if (d.sessionTimer?.timer) clearTimeout(d.sessionTimer.timer);
    if (this.dialogs.get(d.id) === d) this.dialogs.delete(d.id);
    if (this.dialogsByKey.get(d.lookupKey) === d) this.dialogsByKey.delete(d.lookupKey);
  }

  /** An in-dialog request from the dialog state (§12.2.1.1). */
  private buildInDialogRequest(d: Dialog, method: string, uri: string | null, cseq?: number): { req: SipMessage; branch: string } {
    let targetUri: string;
    try { targetUri = uri && !uri.includes('placeholder') ? uri : this.uriOf(d.remoteTarget); } catch { targetUri = uri ?? 'sip:invalid'; }
    const req = SipMessage.request(method, targetUri);
    const local = this.transport.localFor(d.target);
    const branch = newBranch();
    req.append('via', this.addr.viaFor(local, branch));
    for (const r of d.routeSet) req.append('route', r);
    req.append('max-forwards', '70');
    req.append('from', d.role === 'uac' ? d.localParty : d.remoteParty);
    req.append('to', d.role === 'uac' ? d.remoteParty : d.localParty);
    if (d.role === 'uas') {
      // our side is the To of the original INVITE: in our requests it is the From
      req.headers = req.headers.filter((h) => h.name !== 'from' && h.name !== 'to');
      req.append('from', d.localParty);
      req.append('to', d.remoteParty);
    }
    req.append('call-id', d.callId);
    req.append('cseq', `${cseq ?? ++d.localSeq} ${method}`);
    return { req, branch };
  }

  private uriOf(value: string): string {
    const t = value.trim();
    if (t.includes('<')) return t.slice(t.indexOf('<') + 1, t.indexOf('>'));
    return t.split(';')[0];
  }

  /** BYE sent by the edge itself; the application is told with an unsolicited BYE. */
  private byeFromEdge(d: Dialog, reason: string, tellApp: boolean, how: OrphanEnd): void {
    if (d.terminated) return;
    this.counters.unsolicitedByes++;
    const { req, branch } = this.buildInDialogRequest(d, 'BYE', null);
    req.append('reason', reason);
    this.endDialog(d, how);
    const tx = this.startClientTx(req, d.target, branch);
    this.internalTx.add(tx);
    this.apps.cdr('stop', 'application', req, 'normal-release');
    if (tellApp) {
      const text = req.toString();
      this.apps.send(d.owner, this.apps.leader('application', Buffer.byteLength(text), d.target, 'unsolicited', d.id), text);
    }
  }

  private onInternalResponse(tx: ClientTransaction, res: SipMessage, retransmission: boolean): void {
    const dialog = this.clientTxDialog.get(tx);
    if (!dialog || tx.request.method !== 'INVITE' || res.status < 200) return;
    if (res.status < 300) {
      // session refresh answered: acknowledge it ourselves
      const cseq = parseCSeq(res.get('cseq') as string).seq;
      const { req } = this.buildInDialogRequest(dialog, 'ACK', null, cseq);
      const bytes = req.toBuffer();
      dialog.lastAck = bytes;
      this.transport.send(bytes, dialog.target);
      if (retransmission) return;
      this.counters.sessionRefreshes++;
      dialog.outgoingInvite = null;
      this.sessionTimers.update(dialog, res, 'response');
      return;
    }
    dialog.outgoingInvite = null;
    if (res.status === 491) { this.sessionTimers.arm(dialog, 1); return; }
    this.counters.sessionTimerByes++;
    this.byeFromEdge(dialog, 'SIP ;cause=408 ;text="session refresh failed"', true, 'session-timer');
  }

  /** Reads Session-Expires from a request or response and (re)arms the dialog's timer. */
  private sendRefresh(d: Dialog): void {
    if (d.outgoingInvite || d.incomingInvite) { this.sessionTimers.arm(d, 1); return; }
    const { req, branch } = this.buildInDialogRequest(d, 'INVITE', null);
    req.append('contact', d.localContact);
    req.append('session-expires', `${d.sessionTimer?.interval ?? this.opts.sessionTimer.interval};refresher=uac`);
    req.append('supported', 'timer');
    if (d.localSdp) {
      req.append('content-type', d.localContentType ?? 'application/sdp');
      req.body = d.localSdp;
    }
    const tx = this.startClientTx(req, d.target, branch);
    this.internalTx.add(tx);
    this.clientTxDialog.set(tx, d);
    d.outgoingInvite = tx;
  }

  // ───────────────────────────── application side ─────────────────────────────

  onAppSip(cmd: SipCommand): void {
    let msg: SipMessage;
    try {
      msg = parseAppMessage(cmd.sipText);
    } catch (err) {
      cmd.conn.respond(cmd.msgId, 'NOK', `invalid sip message: ${String((err as Error).message)}`);
      return;
    }
    try {
      if (!msg.isRequest) this.appResponse(cmd, msg);
      else if (cmd.dialogId) this.appInDialogRequest(cmd, msg);
      else if (cmd.transactionId && msg.method === 'CANCEL') this.appCancel(cmd, msg);
      else void this.appNewRequest(cmd, msg).catch((err) => {
        cmd.conn.respond(cmd.msgId, 'NOK', String(err instanceof Error ? err.message : err));
      });
    } catch (err) {
      this.logger.warn('application message refused', { err: err instanceof Error ? err.message : String(err) });
      cmd.conn.respond(cmd.msgId, 'NOK', `Server error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private copyAppHeaders(from: SipMessage, to: SipMessage, owned: Set<string>, local: Endpoint): void {
    for (const h of from.headers) {
      if (owned.has(h.name)) continue;
      let v = h.name === 'contact' ? this.addr.replaceContactLocalhost(h.value, local)
        : h.name === 'p-asserted-identity' || h.name === 'from' || h.name === 'to' ? this.addr.replaceLocalhost(h.value, local) : h.value;
      // drachtio-server writes Contact as name-addr whatever the application wrote
      if (h.name === 'contact') v = toNameAddrForm(v);
      to.headers.push({ name: h.name, value: v });
    }
  }

  private setBody(from: SipMessage, to: SipMessage): void {
    if (!from.body.length) return;
    to.body = from.body;
    if (!to.has('content-type') && from.body.toString('latin1', 0, 3) === 'v=0') to.append('content-type', 'application/sdp');
  }

  private appResponse(cmd: SipCommand, app: SipMessage): void {
    const tx = this.serverTxById.get(cmd.transactionId);
    if (!tx) {
      const cseq = app.get('cseq') ?? '';
      cmd.conn.respond(cmd.msgId, 'NOK', /CANCEL/i.test(cseq)
        ? '200 OK to incoming CANCEL is automatically generated by the stack' : 'Response not sent due to unknown transaction');
      return;
    }
    if (tx.finalSent || tx.cancelled) {
      cmd.conn.respond(cmd.msgId, 'NOK', 'final response already sent');
      return;
    }
    this.appAnswered(tx);
    const req = tx.request;
    const status = app.status;
    const appToTag = tagOf(app.get('to'));
    if (appToTag && !tx.toTag) tx.toTag = appToTag;
    if (appToTag && tx.toTag !== appToTag && !tagOf(req.get('to'))) tx.toTag = appToTag;
    if (!tx.toTag && status > 100 && !tagOf(req.get('to'))) tx.toTag = newTag();
    const res = this.responseFor(req, status, app.reason || 'OK', status > 100 ? tx.toTag : null);
    const local = this.transport.localFor(tx.source);
    if (req.method === 'INVITE' && status > 100 && status < 300) for (const rr of req.getAll('record-route')) res.append('record-route', rr);
    this.copyAppHeaders(app, res, EDGE_OWNED_RESPONSE, local);
    const isInvite = req.method === 'INVITE';
    if (isInvite && status >= 200 && status < 300 && !res.has('contact')) res.append('contact', this.addr.contactFor(local));
    this.setBody(app, res);
    const inDialog = this.serverTxDialog.get(tx.id);
    if (isInvite && status >= 200 && status < 300) {
      if (inDialog) reinviteSessionExpires(inDialog, req, res);
      else negotiateSessionExpires(this.opts.sessionTimer, req, res);
    }
    const reliable = isInvite && status > 100 && status < 200 && this.reliable1xx.wanted(req, app);
    if (reliable) this.reliable1xx.mark(tx, res);
    if (isInvite && status >= 200) this.reliable1xx.stop(tx);
    const bytes = tx.respond(res);
    if (!bytes) { cmd.conn.respond(cmd.msgId, 'NOK', 'response could not be sent'); return; }
    if (reliable) this.reliable1xx.sent(tx, bytes);
    let dialogId = inDialog?.id ?? '';
    if (isInvite && !inDialog && status >= 200 && status < 300) {
      const d = this.createUasDialog(tx, res, bytes, local);
      dialogId = d.id;
      this.apps.cdr('start', 'application', res, 'uas');
    } else if (isInvite && !inDialog && status >= 300) {
      this.apps.cdr('stop', 'application', res, 'call-rejected');
    }
    if (inDialog && isInvite && status >= 200) {
      inDialog.incomingInvite = null;
      if (status < 300) {
        if (app.body.length) { inDialog.localSdp = app.body; }
        this.start2xxRetransmission(inDialog, parseCSeq(req.get('cseq') as string).seq, bytes, tx.id, tx.responseTarget);
      }
    }
    this.apps.echo(cmd, bytes, tx.responseTarget, tx.id, `${dialogId}||`);
  }

  // ───────────────────────────── 100rel (RFC 3262) ─────────────────────────────

  /** An incoming PRACK for one of our reliable provisionals is answered by the edge; the app is not asked. */
  private onPrack(msg: SipMessage, key: string, source: Endpoint, toTag: string): boolean {
    const outcome = this.reliable1xx.prack(msg, toTag);
    if (outcome === 'none') return false;
    if (outcome === 'mismatch') { this.reject(msg, source, 481, 'Call/Transaction Does Not Exist'); return true; }
    this.createServerTx(key, msg, source).respond(this.responseFor(msg, 200, 'OK', null));
    return true;
  }

  /** The application's PRACK (drachtio-srf sends it for a 1xx with RSeq) in the early dialog of its INVITE. */
  private appPrack(cmd: SipCommand, app: SipMessage): boolean {
    const p = [...this.uacPending.values()].find((x) => x.dialogId === cmd.dialogId);
    if (!p?.early) return false;
    const inv = p.tx.request;
    const e = p.early;
    const req = SipMessage.request('PRACK', this.uriOf(e.contact));
    const local = this.transport.localFor(e.target);
    const branch = newBranch();
    req.append('via', this.addr.viaFor(local, branch));
    for (const r of e.routeSet) req.append('route', r);
    req.append('max-forwards', '70');
    req.append('from', inv.get('from') as string);
    req.append('to', e.to);
    req.append('call-id', inv.get('call-id') as string);
    e.lastSeq++;
    req.append('cseq', `${e.lastSeq} PRACK`);
    this.copyAppHeaders(app, req, DIALOG_OWNED_REQUEST, local);
    this.setBody(app, req);
    const tx = this.startClientTx(req, e.target, branch);
    this.internalTx.add(tx);
    this.counters.pracksSent++;
    this.apps.echo(cmd, tx.wireBytes, e.target, tx.id, '');
    return true;
  }

  /** Keeps what the application's PRACK needs from a reliable provisional to its INVITE. */
  private noteEarly(p: UacPending, res: SipMessage, fallback: Endpoint): void {
    if (!res.has('rseq') || !tagOf(res.get('to'))) return;
    const contact = res.get('contact') ?? p.tx.request.uri;
    const routeSet = res.getAll('record-route').reverse();
    const lastSeq = p.early?.lastSeq ?? parseCSeq(p.tx.request.get('cseq') as string).seq;
    p.early = { to: res.get('to') as string, contact, routeSet, target: this.addr.targetFromUriSync(routeSet[0] ?? contact, fallback), lastSeq };
  }

  private createUasDialog(tx: ServerTransaction, res: SipMessage, bytes: Buffer, local: Endpoint): Dialog {
    const req = tx.request;
    const callId = req.get('call-id') as string;
    const fromTag = tagOf(req.get('from')) ?? '';
    const contact = req.get('contact') ?? req.get('from') as string;
    const routeSet = req.getAll('record-route');
    const fallback = tx.responseTarget;
    let target = routeSet.length ? this.addr.targetFromUriSync(routeSet[0], fallback) : this.addr.targetFromUriSync(contact, fallback);
    if (target.transport !== fallback.transport) target = fallback;
    const cseq = parseCSeq(req.get('cseq') as string).seq;
    const d = new Dialog(`${callId};from-tag=${fromTag}`, 'uas', callId, tx.toTag ?? '', fromTag,
      res.get('to') as string, req.get('from') as string, contact, target, res.get('contact') ?? this.addr.contactFor(local),
      tx.owner as AppConnection | null, Math.floor(Math.random() * 10000) + 1, cseq, tx.id);
    d.routeSet = routeSet;
    d.localSdp = res.body.length ? res.body : null;
    d.localContentType = res.get('content-type') ?? null;
    this.addDialog(d);
    this.sessionTimers.update(d, res, 'sent');
    this.start2xxRetransmission(d, cseq, bytes, tx.id, tx.responseTarget);
    return d;
  }

  /** The UAS core retransmits a 2xx until its ACK (§13.3.1.4); Timer H ends the call with BYE. */
  private start2xxRetransmission(d: Dialog, cseq: number, bytes: Buffer, txId: string, target: Endpoint): void {
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

  private appInDialogRequest(cmd: SipCommand, app: SipMessage): void {
    const d = this.dialogs.get(cmd.dialogId);
    if ((!d || d.terminated) && app.method === 'PRACK' && this.appPrack(cmd, app)) return;
    if (!d || d.terminated) {
      if (app.method === 'ACK') cmd.conn.respond(cmd.msgId, 'NOK', 'ACK for non-success final response is automatically generated by server');
      else cmd.conn.respond(cmd.msgId, 'NOK', 'unable to find dialog for dialog id provided');
      return;
    }
    const local = this.transport.localFor(d.target);
    const txId = cmd.transactionId || randomUUID();
    if (app.method === 'ACK') {
      const awaiting = d.awaitingAck;
      if (!awaiting) { cmd.conn.respond(cmd.msgId, 'NOK', 'ACK for non-success final response is automatically generated by server'); return; }
      const { req } = this.buildInDialogRequest(d, 'ACK', null, awaiting.cseq);
      this.copyAppHeaders(app, req, DIALOG_OWNED_REQUEST, local);
      this.setBody(app, req);
      const bytes = req.toBuffer();
      d.lastAck = bytes;
      d.awaitingAck = null;
      d.confirmed = true;
      this.uacPending.delete(awaiting.txId);
      this.transport.send(bytes, d.target);
      this.apps.echo(cmd, bytes, d.target, txId, '');
      if (d.ackThenBye) this.byeFromEdge(d, 'SIP ;cause=200 ;text="CANCEL crossed 200 OK"', true, 'cancel-after-200');
      return;
    }
    const { req, branch } = this.buildInDialogRequest(d, app.method, app.uri);
    this.copyAppHeaders(app, req, DIALOG_OWNED_REQUEST, local);
    if ((app.method === 'INVITE' || app.method === 'UPDATE' || app.method === 'SUBSCRIBE' || app.method === 'REFER') && !req.has('contact')) {
      req.append('contact', d.localContact);
    }
    this.setBody(app, req);
    if (app.method === 'INVITE') {
      if (d.outgoingInvite) { cmd.conn.respond(cmd.msgId, 'NOK', 'a re-INVITE is already in progress'); return; }
      if (req.body.length) { d.localSdp = req.body; d.localContentType = req.get('content-type') ?? d.localContentType; }
      if (d.sessionTimer && !req.has('session-expires')) {
        req.append('session-expires', `${d.sessionTimer.interval};refresher=${d.sessionTimer.weRefresh ? 'uac' : 'uas'}`);
      }
    }
    if (app.method === 'BYE') {
      d.timers.clear();
      if (d.sessionTimer?.timer) clearTimeout(d.sessionTimer.timer);
      d.pending2xx = null;
      this.orphans.ended(d.id, 'app-bye');
      this.apps.cdr('stop', 'application', req, 'normal-release');
    }
    const tx = this.startClientTx(req, d.target, branch, txId);
    tx.owner = cmd.conn;
    this.clientTxDialog.set(tx, d);
    if (app.method === 'INVITE') d.outgoingInvite = tx;
    if (app.method === 'BYE') { d.terminated = true; }
    this.apps.echo(cmd, tx.wireBytes, d.target, tx.id, '');
  }

  private appCancel(cmd: SipCommand, app: SipMessage): void {
    const inviteTx = this.clientTxById.get(cmd.transactionId);
    const pending = this.uacPending.get(cmd.transactionId);
    if (!inviteTx || !inviteTx.isInvite || (inviteTx.state !== 'calling' && inviteTx.state !== 'proceeding')) {
      cmd.conn.respond(cmd.msgId, 'NOK', `unable to cancel unknown transaction id: ${cmd.transactionId}`);
      return;
    }
    if (pending) pending.cancelled = true;
    const tx = this.cancelInvite(inviteTx, undefined, app.headers.filter((h) => h.name === 'reason' || h.name.startsWith('x-')));
    const cancel = tx.request;
    this.apps.echo(cmd, tx.wireBytes, inviteTx.target, randomUUID(), '');
  }

  private async appNewRequest(cmd: SipCommand, app: SipMessage): Promise<void> {
    const routeUrl = cmd.routeUrl;
    let uri: SipUri;
    try { uri = parseUri(app.uri); } catch { throw new Error(`invalid request-uri: ${app.uri}`); }
    if (uri.scheme === 'tel' && !routeUrl) throw new Error('requested protocol/transport not available');
    const appRoute = app.get('route');
    const target = await this.addr.resolveTarget(routeUrl || (appRoute ? this.uriOf(appRoute) : app.uri));
    if (this.closed) return;
    const local = this.transport.localFor(target);
    const req = SipMessage.request(app.method, app.uri);
    const branch = newBranch();
    req.append('via', this.addr.viaFor(local, branch));
    req.append('max-forwards', '70');
    let from = app.get('from');
    from = from ? this.addr.replaceLocalhost(from, local) : this.addr.contactFor(local);
    let fromTag = tagOf(from);
    if (!fromTag) { fromTag = newTag(); from = `${from};tag=${fromTag}`; }
    req.append('from', from);
    req.append('to', app.get('to') ? this.addr.replaceLocalhost(app.get('to') as string, local) : `<${app.uri}>`);
    const callId = app.get('call-id') ?? `${randomUUID()}`;
    req.append('call-id', callId);
    req.append('cseq', app.get('cseq') ?? `${Math.floor(Math.random() * 10000) + 1} ${app.method}`);
    this.copyAppHeaders(app, req, new Set([...EDGE_OWNED_REQUEST, 'from', 'to', 'call-id', 'cseq']), local);
    if ((app.method === 'INVITE' || app.method === 'SUBSCRIBE') && !req.has('contact')) req.append('contact', this.addr.contactFor(local));
    if (app.method === 'INVITE' && this.opts.sessionTimer.enabled && !req.has('session-expires')) {
      req.append('session-expires', String(this.opts.sessionTimer.interval));
      if (!req.has('min-se')) req.append('min-se', String(this.opts.sessionTimer.minSE));
      if (!req.getAll('supported').some((s) => s.toLowerCase() === 'timer')) req.append('supported', 'timer');
    }
    this.setBody(app, req);
    const txId = cmd.transactionId || randomUUID();
    const tx = this.startClientTx(req, target, branch, txId);
    tx.owner = cmd.conn;
    if (app.method === 'INVITE') {
      this.uacPending.set(tx.id, { tx, dialogId: `${callId};from-tag=${fromTag}`, owner: cmd.conn, cancelled: false, fromTag });
      this.apps.cdr('attempt', 'application', req);
    }
    this.apps.echo(cmd, tx.wireBytes, target, tx.id, '');
  }

  // ───────────────────────────── application connections ─────────────────────────────

  /** An application's connection dropped: after the grace, its calls end with BYE. */
  onAppDisconnected(conn: AppConnection): void {
    const grace = this.opts.appDisconnectGraceMs;
    let orphaned = 0;
    for (const d of this.dialogs.values()) {
      if (d.owner !== conn || d.terminated) continue;
      this.orphans.record(d.id, d.callId);
      orphaned++;
    }
    this.orphans.prune();
    this.logger.info('application gone; its calls end after the grace', { conn: conn.id, graceMs: grace, orphaned });
    this.graceTimers.after(grace, () => this.endCallsOf(conn));
  }

  private endCallsOf(conn: AppConnection): void {
    for (const d of [...this.dialogs.values()]) {
      if (d.owner !== conn || d.terminated) continue;
      this.counters.disconnectByes++;
      if (d.role === 'uac' && d.awaitingAck) {
        const { req } = this.buildInDialogRequest(d, 'ACK', null, d.awaitingAck.cseq);
        this.transport.send(req.toBuffer(), d.target);
        d.awaitingAck = null;
      }
      this.byeFromEdge(d, 'SIP ;cause=503 ;text="application disconnected"', false, 'grace-bye');
    }
    for (const tx of [...this.serverTxById.values()]) {
      if (tx.owner === conn && !tx.finalSent && tx.request.method !== 'ACK') {
        tx.respond(this.responseFor(tx.request, 503, 'Service Unavailable', tx.toTag ?? newTag()));
      }
    }
    for (const p of [...this.uacPending.values()]) {
      if (p.owner !== conn) continue;
      if (p.tx.state === 'calling' || p.tx.state === 'proceeding') this.cancelInvite(p.tx, 'SIP;cause=503;text="application disconnected"');
    }
  }

  /** Calls still up or being set up: dialogs (ended ones until their BYE completes) and unanswered INVITEs. */
  private get drainPending(): boolean {
    if (this.dialogs.size > 0) return true;
    for (const tx of this.clientTxById.values()) if (tx.isInvite && (tx.state === 'calling' || tx.state === 'proceeding')) return true;
    for (const tx of this.serverTxById.values()) if (tx.isInvite && !tx.finalSent && tx.state !== 'terminated') return true;
    return false;
  }

  /** Edge-initiated requests still waiting for their final response. */
  private get ownRequestsPending(): boolean {
    for (const tx of this.clientTxById.values()) if (tx.state === 'calling' || tx.state === 'trying' || tx.state === 'proceeding') return true;
    return false;
  }

  /**
   * Shutdown drain: refuse new INVITEs, let the calls end; at the deadline end the rest from the
   * edge and give those requests at most 2 s. Bounded whatever the peers do.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    this.logger.info('edge draining', { dialogs: this.dialogs.size, timeoutMs });
    const settled = await this.waitFor(() => !this.drainPending, timeoutMs);
    if (settled || this.closed) return;
    this.logger.info('drain deadline reached; the edge ends the remaining calls', { dialogs: this.dialogs.size });
    this.endEverything('SIP;cause=503;text="edge shutting down"', 'edge-stop');
    await this.waitFor(() => !this.ownRequestsPending, 2000);
  }

  private waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve) => {
      const check = (): void => {
        if (done() || this.closed) { resolve(true); return; }
        const left = deadline - Date.now();
        if (left <= 0) { resolve(false); return; }
        setTimeout(check, Math.min(50, left));
      };
      check();
    });
  }

  /** BYE every dialog, CANCEL every outgoing INVITE, 503 every incoming one. */
  private endEverything(reason: string, how: OrphanEnd): void {
    for (const d of [...this.dialogs.values()]) {
      if (d.terminated) continue;
      this.counters.drainByes++;
      if (d.role === 'uac' && d.awaitingAck) {
        const { req } = this.buildInDialogRequest(d, 'ACK', null, d.awaitingAck.cseq);
        this.transport.send(req.toBuffer(), d.target);
        d.awaitingAck = null;
      }
      this.byeFromEdge(d, reason, true, how);
    }
    for (const tx of [...this.serverTxById.values()]) {
      if (tx.isInvite && !tx.finalSent && tx.state !== 'terminated') {
        const res = this.responseFor(tx.request, 503, 'Service Unavailable', tx.toTag ?? newTag());
        res.append('retry-after', '30');
        tx.respond(res);
      }
    }
    for (const tx of [...this.clientTxById.values()]) {
      if (tx.isInvite && (tx.state === 'calling' || tx.state === 'proceeding') && !this.internalTx.has(tx)) this.cancelInvite(tx, reason);
    }
  }

  /** CANCEL for an outgoing INVITE (§9.1). */
  private cancelInvite(inviteTx: ClientTransaction, reason?: string, extra: Array<{ name: string; value: string }> = []): ClientTransaction {
    const pending = this.uacPending.get(inviteTx.id);
    if (pending) pending.cancelled = true;
    const inv = inviteTx.request;
    const cancel = sameTransactionRequest(inv, 'CANCEL', inv.get('to') as string);
    if (reason) cancel.append('reason', reason);
    for (const h of extra) cancel.headers.push(h);
    const branch = parseVia(inv.get('via') as string).params.get('branch') ?? newBranch();
    const tx = this.startClientTx(cancel, inviteTx.target, branch);
    this.internalTx.add(tx);
    this.guards.cancelled(inviteTx);
    return tx;
  }

  /** The `proxy` command (drachtio-srf's proxyRequest). */
  onAppProxy(conn: AppConnection, msgId: string, args: string[], sipText: string): void {
    this.proxies.command(conn, msgId, args, sipText);
  }

  close(): void {
    this.closed = true;
    for (const id of this.orphans.openIds()) this.orphans.ended(id, 'edge-stop');
    clearInterval(this.orphanPruner);
    this.guards.clearAll();
    for (const t of this.unanswered.values()) clearTimeout(t);
    this.unanswered.clear();
    this.reliable1xx.clearAll();
    this.graceTimers.clear();
    for (const d of this.dialogs.values()) { d.timers.clear(); if (d.sessionTimer?.timer) clearTimeout(d.sessionTimer.timer); }
    for (const tx of [...this.serverTxById.values()]) tx.terminate();
    for (const tx of [...this.clientTxById.values()]) tx.terminate();
    this.dialogs.clear();
    this.dialogsByKey.clear();
  }
}
