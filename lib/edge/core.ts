import { randomUUID, randomBytes } from 'node:crypto';
import dns from 'node:dns';
import net from 'node:net';
import type { Logger } from '../common/logger';
import { AppConnection, type SipCommand } from './control/control-server';
import { Dialog, dialogLookupKey } from './dialog/dialog';
import { OrphanRecords, type OrphanEnd } from './dialog/orphans';
import { SipMessage } from './message/message';
import { ParseError, parseAppMessage } from './message/parser';
import { formatHost, parseCSeq, parseNameAddr, parseUri, parseVia, tagOf, type SipUri } from './message/uri';
import { ClientTransaction, sameTransactionRequest } from './transaction/client-transaction';
import { ServerTransaction } from './transaction/server-transaction';
import { TimerSet, timerB, type TimerConfig } from './transaction/timers';
import type { Endpoint, TransportLayer, TransportName } from './transport/transport';

export interface SessionTimerOptions { enabled: boolean; interval: number; minSE: number; refresher: 'uac' | 'uas' }

export interface CoreOptions {
  timers: TimerConfig;
  sessionTimer: SessionTimerOptions;
  appDisconnectGraceMs: number;
  orphanRetentionMs: number;
  cdrEvents: boolean;
  publicAddress?: string;
}

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

function stackTime(): string {
  const d = new Date();
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}000`;
}

export interface CoreCounters {
  strayResponses: number; retransmissionsAbsorbed: number; rejected: number; appRequests: number;
  unsolicitedByes: number; timerHByes: number; sessionTimerByes: number; disconnectByes: number;
  drainRefusals: number; drainByes: number; timerCCancels: number; cancelGiveUps: number;
  sessionRefreshes: number;
}

/** Timers the core keeps on an outgoing INVITE: Timer C and the give-up after CANCEL. */
interface InviteGuard { timerC: NodeJS.Timeout | null; giveUp: NodeJS.Timeout | null }

export const DEFAULT_TIMER_C_MS = 180_000;

interface UacPending { tx: ClientTransaction; dialogId: string; owner: AppConnection; cancelled: boolean; fromTag: string }

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
  private rr = new Map<string, number>();
  private graceTimers = new TimerSet();
  private closed = false;
  /** Set by drain(): new INVITEs are refused with 503 from then on. */
  private draining = false;
  readonly counters: CoreCounters = {
    strayResponses: 0, retransmissionsAbsorbed: 0, rejected: 0, appRequests: 0,
    unsolicitedByes: 0, timerHByes: 0, sessionTimerByes: 0, disconnectByes: 0,
    drainRefusals: 0, drainByes: 0, timerCCancels: 0, cancelGiveUps: 0, sessionRefreshes: 0,
  };
  readonly orphans: OrphanRecords;
  private inviteGuards = new Map<ClientTransaction, InviteGuard>();
  private orphanPruner: NodeJS.Timeout;

  constructor(
    private readonly transport: TransportLayer,
    private readonly connections: () => Iterable<AppConnection>,
    private readonly opts: CoreOptions,
    private readonly logger: Logger,
  ) {
    this.orphans = new OrphanRecords(opts.orphanRetentionMs);
    this.orphanPruner = setInterval(() => this.orphans.prune(), Math.min(60_000, Math.max(1000, opts.orphanRetentionMs))).unref();
  }

  // ───────────────────────────── helpers ─────────────────────────────

  get liveServerTransactions(): number { return this.serverTxById.size; }
  get liveClientTransactions(): number { return this.clientTxById.size; }
  get liveDialogs(): number { return this.dialogs.size; }

  private reliable(t: TransportName): boolean { return t === 'tcp'; }

  private hostFor(local: Endpoint): string {
    const addr = this.opts.publicAddress
      ?? (local.address === '0.0.0.0' || local.address === '::' ? '127.0.0.1' : local.address);
    return formatHost(addr);
  }

  private contactFor(local: Endpoint): string {
    const t = local.transport === 'tcp' ? ';transport=tcp' : '';
    return `<sip:${this.hostFor(local)}:${local.port}${t}>`;
  }

  private viaFor(local: Endpoint, branch: string): string {
    return `SIP/2.0/${local.transport.toUpperCase()} ${this.hostFor(local)}:${local.port};branch=${branch};rport`;
  }

  private replaceLocalhost(value: string, local: Endpoint): string {
    return value.replace(/@localhost(?::\d+)?(?=[;>\s]|$)/g, `@${this.hostFor(local)}:${local.port}`);
  }

  private serverKey(msg: SipMessage, methodOverride?: string): string {
    const via = parseVia(msg.get('via') as string);
    const method = methodOverride ?? (msg.method === 'ACK' ? 'INVITE' : msg.method);
    const branch = via.params.get('branch');
    if (branch && branch.startsWith('z9hG4bK')) return `${branch}|${via.host}:${via.port ?? ''}|${method}`;
    const cseq = parseCSeq(msg.get('cseq') as string);
    return `${msg.get('call-id')}|${cseq.seq}|${tagOf(msg.get('from'))}|${method}`;
  }

  private clientKey(branch: string, method: string): string { return `${branch}|${method}`; }

  private leader(source: 'network' | 'application', bytes: number, ep: Endpoint, txId: string, dialogId: string, extra = ''): string {
    return `${randomUUID()}|sip|${source}|${bytes}|${ep.transport}|${ep.address}|${ep.port}|${stackTime()}|${txId}|${dialogId}|${extra}`;
  }

  private sendToApp(conn: AppConnection | null, leader: string, msgText: string): void {
    if (!conn || conn.closed) return;
    conn.send(`${leader}\r\n${msgText}`);
  }

  private echo(cmd: SipCommand, msg: SipMessage, bytes: Buffer, target: Endpoint, txId: string, dialogPart: string): void {
    cmd.conn.respond(cmd.msgId, 'OK', 'application', String(bytes.length), target.transport, target.address,
      String(target.port), stackTime(), txId, `${dialogPart}Msg sent:|\r\n${bytes.toString('utf8')}`);
  }

  private pickApp(method: string): AppConnection | null {
    const candidates: AppConnection[] = [];
    for (const c of this.connections()) if (c.authenticated && !c.closed && c.routes.has(method)) candidates.push(c);
    if (candidates.length === 0) return null;
    const i = (this.rr.get(method) ?? 0) % candidates.length;
    this.rr.set(method, i + 1);
    return candidates[i];
  }

  private cdr(event: 'attempt' | 'start' | 'stop', source: 'network' | 'application', msg: SipMessage, extra?: string): void {
    if (!this.opts.cdrEvents) return;
    const conn = this.pickApp(`cdr:${event}`);
    if (!conn) return;
    const leader = `${randomUUID()}|cdr:${event}|${source}|${stackTime()}${extra !== undefined ? `|${extra}` : ''}`;
    conn.send(`${leader}\r\n${msg.toString()}`);
  }

  /** Where responses to a request go (RFC 3261 §18.2.2 with rport, RFC 3581). */
  private responseTarget(msg: SipMessage, source: Endpoint): Endpoint {
    if (source.transport === 'tcp') return source;
    const via = parseVia(msg.get('via') as string);
    if (via.params.has('rport')) return source;
    return { transport: 'udp', address: via.params.get('received') ?? source.address, port: via.port ?? 5060 };
  }

  private stampVia(msg: SipMessage, source: Endpoint): void {
    const raw = msg.get('via') as string;
    const via = parseVia(raw);
    let changed = false;
    if (via.host !== source.address) { via.params.set('received', source.address); changed = true; }
    if (via.params.has('rport') && via.params.get('rport') === null) { via.params.set('rport', String(source.port)); changed = true; }
    if (!changed) return;
    let params = '';
    for (const [k, v] of via.params) params += v === null ? `;${k}` : `;${k}=${v}`;
    const updated = `${via.protocol} ${formatHost(via.host)}${via.port !== null ? `:${via.port}` : ''}${params}`;
    const idx = msg.headers.findIndex((h) => h.name === 'via');
    msg.headers[idx] = { name: 'via', value: updated };
  }

  /** A response built from a request (§8.2.6): Via, From, To, Call-ID, CSeq copied. */
  private responseFor(req: SipMessage, status: number, reason: string, toTag: string | null): SipMessage {
    const res = SipMessage.response(status, reason);
    for (const v of req.getAll('via')) res.append('via', v);
    res.append('from', req.get('from') as string);
    const to = req.get('to') as string;
    res.append('to', toTag && !tagOf(to) ? `${to};tag=${toTag}` : to);
    res.append('call-id', req.get('call-id') as string);
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
    if (tx) tx.respond(res); else this.transport.send(res.toBuffer(), this.responseTarget(req, source));
  }

  private createServerTx(key: string, req: SipMessage, source: Endpoint): ServerTransaction {
    const tx = new ServerTransaction(randomUUID(), key, req, source, this.responseTarget(req, source),
      this.reliable(source.transport), this.opts.timers, {
        send: (data, target) => this.transport.send(data, target),
        terminated: (t) => {
          this.serverTxByKey.delete(t.key);
          this.serverTxById.delete(t.id);
          this.serverTxDialog.delete(t.id);
        },
      });
    this.serverTxByKey.set(key, tx);
    this.serverTxById.set(tx.id, tx);
    return tx;
  }

  private async resolveTarget(uriText: string, preferred?: TransportName): Promise<Endpoint> {
    const uri = parseUri(uriText.replace(/^<|>$/g, ''));
    if (uri.scheme === 'tel') throw new Error('cannot route a tel: URI without a proxy');
    const tp = (uri.params.get('transport') ?? preferred ?? 'udp').toLowerCase();
    const transport: TransportName = tp === 'tcp' ? 'tcp' : 'udp';
    let address = uri.host;
    if (!net.isIP(address)) address = (await dns.promises.lookup(address)).address;
    return { transport: this.transport.hasTransport(transport) ? transport : (transport === 'tcp' ? 'udp' : 'tcp'), address, port: uri.port ?? 5060 };
  }

  private targetFromUriSync(uriText: string, fallback: Endpoint): Endpoint {
    try {
      const na = uriText.includes('<') ? parseNameAddr(uriText).uri : parseUri(uriText);
      if (!net.isIP(na.host)) return fallback;
      const tp = na.params.get('transport')?.toLowerCase();
      const transport: TransportName = tp === 'tcp' ? 'tcp' : tp === 'udp' ? 'udp' : fallback.transport;
      return { transport, address: na.host, port: na.port ?? 5060 };
    } catch { return fallback; }
  }

  // ───────────────────────────── network side ─────────────────────────────

  onBadMessage(err: ParseError, source: Endpoint): void {
    this.logger.debug('bad sip message', { source, reason: err.message, status: err.status });
    const partial = err.partial;
    if (!partial || !partial.isRequest || partial.method === 'ACK') return;
    try {
      const res = this.responseFor(partial, err.status, err.status === 413 ? 'Request Entity Too Large'
        : err.status === 505 ? 'Version Not Supported' : 'Bad Request', newTag());
      res.append('warning', `399 tollgate-edge "${err.message.replace(/"/g, "'")}"`);
      this.transport.send(res.toBuffer(), this.responseTarget(partial, source));
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
    this.stampVia(msg, source);
    const key = this.serverKey(msg);
    if (msg.method === 'ACK') { this.onAck(msg, key, source, bytes); return; }
    const existing = this.serverTxByKey.get(key);
    if (existing) { this.counters.retransmissionsAbsorbed++; existing.onRetransmission(); return; }
    if (msg.method === 'CANCEL') { this.onCancel(msg, source, local, bytes); return; }
    const mf = msg.get('max-forwards');
    if (mf !== undefined && Number(mf) === 0) { this.reject(msg, source, 483, 'Too Many Hops'); return; }
    if (!KNOWN_METHODS.has(msg.method)) {
      this.reject(msg, source, 501, 'Not Implemented', [['allow', [...KNOWN_METHODS].join(', ')]]);
      return;
    }
    const toTag = tagOf(msg.get('to'));
    const fromTag = tagOf(msg.get('from'));
    if (toTag) {
      const dialog = fromTag ? this.dialogsByKey.get(dialogLookupKey(msg.get('call-id') as string, toTag, fromTag)) : undefined;
      if (!dialog || dialog.terminated) { this.reject(msg, source, 481, 'Call/Transaction Does Not Exist'); return; }
      this.onInDialogRequest(dialog, msg, key, source, bytes);
      return;
    }
    if (msg.method === 'BYE' || msg.method === 'PRACK') { this.reject(msg, source, 481, 'Call/Transaction Does Not Exist'); return; }
    this.onNewRequest(msg, key, source, local, bytes);
  }

  private onNewRequest(msg: SipMessage, key: string, source: Endpoint, local: Endpoint, bytes: number): void {
    if (this.draining && msg.method === 'INVITE') {
      this.counters.drainRefusals++;
      this.reject(msg, source, 503, 'Service Unavailable', [['retry-after', '30'], ['reason', 'SIP;cause=503;text="edge shutting down"']]);
      return;
    }
    const app = this.pickApp(msg.method);
    if (!app) { this.reject(msg, source, 503, 'Service Unavailable'); return; }
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
      this.cdr('attempt', 'network', msg);
    }
    this.counters.appRequests++;
    this.sendToApp(app, this.leader('network', bytes, source, tx.id, '', `${local.address}|${local.port}|`), msg.toString());
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
      this.refreshSessionTimer(dialog, msg, 'incoming');
    }
    if (msg.method === 'BYE') {
      this.endDialog(dialog, 'bye-received');
      this.cdr('stop', 'network', msg, 'normal-release');
      if (!dialog.owner || dialog.owner.closed) {
        tx.respond(this.responseFor(msg, 200, 'OK', null));
        return;
      }
    } else if (!dialog.owner || dialog.owner.closed) {
      tx.respond(this.responseFor(msg, 480, 'Temporarily Unavailable', null));
      return;
    }
    this.sendToApp(dialog.owner, this.leader('network', bytes, source, tx.id, dialog.id), msg.toString());
  }

  private onAck(msg: SipMessage, key: string, source: Endpoint, bytes: number): void {
    const tx = this.serverTxByKey.get(key);
    if (tx && tx.state === 'completed') { tx.onAck(); return; }
    const toTag = tagOf(msg.get('to'));
    const fromTag = tagOf(msg.get('from'));
    if (!toTag || !fromTag) return;
    const dialog = this.dialogsByKey.get(dialogLookupKey(msg.get('call-id') as string, toTag, fromTag));
    if (!dialog) return;
    const cseq = parseCSeq(msg.get('cseq') as string).seq;
    const pending = dialog.pending2xx;
    if (!pending || pending.cseq !== cseq) { this.counters.retransmissionsAbsorbed++; return; }
    dialog.pending2xx = null;
    dialog.confirmed = true;
    dialog.timers.clear();
    this.armSessionTimer(dialog);
    if (msg.body.length) dialog.localSdp = dialog.localSdp ?? null;
    this.sendToApp(dialog.owner, this.leader('network', bytes, source, pending.txId, dialog.id), msg.toString());
  }

  private onCancel(msg: SipMessage, source: Endpoint, local: Endpoint, bytes: number): void {
    const inviteTx = this.serverTxByKey.get(this.serverKey(msg, 'INVITE'));
    const cancelTx = this.createServerTx(this.serverKey(msg), msg, source);
    if (!inviteTx) { cancelTx.respond(this.responseFor(msg, 481, 'Call/Transaction Does Not Exist', newTag())); return; }
    const invite = inviteTx.request;
    if (inviteTx.finalSent) {
      const dialog = this.dialogs.get(`${invite.get('call-id')};from-tag=${tagOf(invite.get('from'))}`);
      if (dialog && !dialog.confirmed && inviteTx.lastResponse && inviteTx.lastResponse.status < 300) {
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
    this.cdr('stop', 'network', msg, 'call-canceled');
    this.sendToApp(inviteTx.owner as AppConnection | null, this.leader('network', bytes, source, inviteTx.id, '', `${local.address}|${local.port}|`), msg.toString());
  }

  private onResponse(res: SipMessage, source: Endpoint, bytes: number): void {
    let via;
    try { via = parseVia(res.get('via') as string); } catch { this.counters.strayResponses++; return; }
    const branch = via.params.get('branch') ?? '';
    const method = parseCSeq(res.get('cseq') as string).method;
    const tx = this.clientTxByKey.get(this.clientKey(branch, method));
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
    if (dialog?.lastAck) this.transport.send(dialog.lastAck, dialog.target);
    else this.counters.strayResponses++;
  }

  private onClientResponse(tx: ClientTransaction, res: SipMessage, retransmission: boolean): void {
    const meta = res as SipMessage & { _source?: Endpoint; _bytes?: number };
    const source = meta._source ?? tx.target;
    const bytes = meta._bytes ?? res.toBuffer().length;
    if (tx.isInvite) {
      if (res.status >= 200) this.clearGuard(tx);
      else if (res.status > 100) this.armTimerC(tx);
    }
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
        this.refreshSessionTimer(dialog, res, 'response');
      }
      dialog.outgoingInvite = null;
    }
    if (dialog && tx.request.method === 'BYE' && res.status >= 200) this.dropDialog(dialog);
    if (retransmission) return;
    this.sendToApp(tx.owner as AppConnection | null, this.leader('network', bytes, source, tx.id, dialog?.id ?? ''), res.toString());
  }

  private onInitialInviteResponse(p: UacPending, tx: ClientTransaction, res: SipMessage, retransmission: boolean, source: Endpoint, bytes: number): void {
    if (res.status >= 200 && res.status < 300) {
      let dialog = this.dialogs.get(p.dialogId);
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
      this.cdr('start', 'network', res, 'uac');
    } else if (res.status >= 300) {
      this.uacPending.delete(tx.id);
      this.cdr('stop', 'network', res, res.status === 487 ? 'call-canceled' : 'call-rejected');
    }
    this.sendToApp(p.owner, this.leader('network', bytes, source, tx.id, p.dialogId), res.toString());
  }

  private createUacDialog(p: UacPending, tx: ClientTransaction, res: SipMessage): Dialog {
    const req = tx.request;
    const contact = res.get('contact') ?? req.uri;
    const routeSet = res.getAll('record-route').reverse();
    const target = routeSet.length ? this.targetFromUriSync(routeSet[0], tx.target) : this.targetFromUriSync(contact, tx.target);
    const cseq = parseCSeq(req.get('cseq') as string).seq;
    const dialog = new Dialog(p.dialogId, 'uac', req.get('call-id') as string, p.fromTag, tagOf(res.get('to')) ?? '',
      req.get('from') as string, res.get('to') as string, contact, target,
      req.get('contact') ?? this.contactFor(this.transport.localFor(tx.target)), p.owner, cseq, 0, tx.id);
    dialog.routeSet = routeSet;
    dialog.localSdp = req.body.length ? req.body : null;
    dialog.localContentType = req.get('content-type') ?? null;
    dialog.awaitingAck = { cseq, txId: tx.id };
    this.addDialog(dialog);
    this.refreshSessionTimer(dialog, res, 'response');
    return dialog;
  }

  /** No final response (Timer B/F: 408) or no way to send (503): the app gets that response. */
  private onClientTimeout(tx: ClientTransaction, status = 408, reason = 'Request Timeout'): void {
    const res = this.responseFor(tx.request, status, reason, null);
    if (this.internalTx.has(tx)) { this.onInternalResponse(tx, res, false); return; }
    const pending = this.uacPending.get(tx.id);
    const dialog = this.clientTxDialog.get(tx);
    if (pending) this.uacPending.delete(tx.id);
    if (dialog && tx.isInvite) dialog.outgoingInvite = null;
    if (dialog && tx.request.method === 'BYE') this.dropDialog(dialog);
    this.sendToApp(tx.owner as AppConnection | null, this.leader('network', 0, tx.target, tx.id, pending?.dialogId ?? dialog?.id ?? ''), res.toString());
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
          this.clearGuard(t);
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
    if (tx.isInvite && tx.state !== 'terminated') this.armTimerC(tx);
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
    req.append('via', this.viaFor(local, branch));
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
    this.cdr('stop', 'application', req, 'normal-release');
    if (tellApp) {
      const text = req.toString();
      this.sendToApp(d.owner, this.leader('application', Buffer.byteLength(text), d.target, 'unsolicited', d.id), text);
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
      this.refreshSessionTimer(dialog, res, 'response');
      return;
    }
    dialog.outgoingInvite = null;
    if (res.status === 491) { this.armSessionTimer(dialog, 1); return; }
    this.counters.sessionTimerByes++;
    this.byeFromEdge(dialog, 'SIP ;cause=408 ;text="session refresh failed"', true, 'session-timer');
  }

  // ───────────────────────────── session timers (RFC 4028) ─────────────────────────────

  /** Reads Session-Expires from a request or response and (re)arms the dialog's timer. */
  private refreshSessionTimer(d: Dialog, msg: SipMessage, kind: 'incoming' | 'response' | 'sent'): void {
    const se = msg.get('session-expires');
    if (!se) {
      if (d.sessionTimer) this.armSessionTimer(d);
      return;
    }
    const parts = se.split(';');
    const interval = Number(parts[0]);
    if (!Number.isFinite(interval) || interval <= 0) return;
    const refresherParam = /refresher\s*=\s*(uac|uas)/i.exec(se)?.[1]?.toLowerCase() ?? null;
    // the UAC of the transaction carrying the header: us when we sent the request
    let weRefresh: boolean;
    if (kind === 'incoming') weRefresh = refresherParam === 'uas';
    else if (kind === 'response') weRefresh = refresherParam === null || refresherParam === 'uac';
    else weRefresh = refresherParam === 'uas';
    d.sessionTimer = { interval, weRefresh, timer: d.sessionTimer?.timer ?? null };
    if (d.confirmed || d.role === 'uac' || kind !== 'sent') this.armSessionTimer(d);
  }

  private armSessionTimer(d: Dialog, overrideSeconds?: number): void {
    const st = d.sessionTimer;
    if (!st || d.terminated) return;
    if (st.timer) clearTimeout(st.timer);
    const seconds = overrideSeconds ?? (st.weRefresh ? st.interval / 2 : st.interval - Math.min(32, st.interval / 3));
    st.timer = setTimeout(() => {
      st.timer = null;
      if (d.terminated) return;
      if (st.weRefresh) this.sendRefresh(d);
      else {
        this.counters.sessionTimerByes++;
        this.logger.info('session timer expired, ending the call', { dialogId: d.id });
        this.byeFromEdge(d, 'SIP ;cause=408 ;text="session timer expired"', true, 'session-timer');
      }
    }, seconds * 1000);
  }

  private sendRefresh(d: Dialog): void {
    if (d.outgoingInvite || d.incomingInvite) { this.armSessionTimer(d, 1); return; }
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
      const v = h.name === 'contact' || h.name === 'p-asserted-identity' || h.name === 'from' || h.name === 'to'
        ? this.replaceLocalhost(h.value, local) : h.value;
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
    if (isInvite && status >= 200 && status < 300 && !res.has('contact')) res.append('contact', this.contactFor(local));
    this.setBody(app, res);
    const inDialog = this.serverTxDialog.get(tx.id);
    if (isInvite && status >= 200 && status < 300) {
      if (inDialog) this.addReinviteSessionExpires(inDialog, req, res);
      else this.negotiateSessionTimer(req, res);
    }
    const bytes = tx.respond(res);
    if (!bytes) { cmd.conn.respond(cmd.msgId, 'NOK', 'response could not be sent'); return; }
    let dialogId = inDialog?.id ?? '';
    if (isInvite && !inDialog && status >= 200 && status < 300) {
      const d = this.createUasDialog(tx, res, bytes, local);
      dialogId = d.id;
      this.cdr('start', 'application', res, 'uas');
    } else if (isInvite && !inDialog && status >= 300) {
      this.cdr('stop', 'application', res, 'call-rejected');
    }
    if (inDialog && isInvite && status >= 200) {
      inDialog.incomingInvite = null;
      if (status < 300) {
        if (app.body.length) { inDialog.localSdp = app.body; }
        this.start2xxRetransmission(inDialog, parseCSeq(req.get('cseq') as string).seq, bytes, tx.id, tx.responseTarget);
      }
    }
    this.echo(cmd, res, bytes, tx.responseTarget, tx.id, `${dialogId}||`);
  }

  private negotiateSessionTimer(req: SipMessage, res: SipMessage): void {
    if (res.has('session-expires')) return;
    const st = this.opts.sessionTimer;
    const reqSe = req.get('session-expires');
    if (!st.enabled && !(reqSe && /refresher/i.test(reqSe))) return;
    const supported = req.getAll('supported').some((s) => s.toLowerCase() === 'timer');
    let interval = st.interval;
    let refresher: 'uac' | 'uas' = supported ? st.refresher : 'uas';
    if (reqSe) {
      interval = Math.max(st.minSE, Number(reqSe.split(';')[0]) || st.interval);
      const r = /refresher\s*=\s*(uac|uas)/i.exec(reqSe)?.[1]?.toLowerCase();
      if (r === 'uac' || r === 'uas') refresher = r;
    }
    res.append('session-expires', `${interval};refresher=${refresher}`);
    if (refresher === 'uac' && supported) res.append('require', 'timer');
  }

  private addReinviteSessionExpires(d: Dialog, req: SipMessage, res: SipMessage): void {
    if (!d.sessionTimer || res.has('session-expires')) return;
    const se = req.get('session-expires');
    if (se) res.append('session-expires', se.includes('refresher') ? se : `${se};refresher=uac`);
  }

  private createUasDialog(tx: ServerTransaction, res: SipMessage, bytes: Buffer, local: Endpoint): Dialog {
    const req = tx.request;
    const callId = req.get('call-id') as string;
    const fromTag = tagOf(req.get('from')) ?? '';
    const contact = req.get('contact') ?? req.get('from') as string;
    const routeSet = req.getAll('record-route');
    const fallback = tx.responseTarget;
    let target = routeSet.length ? this.targetFromUriSync(routeSet[0], fallback) : this.targetFromUriSync(contact, fallback);
    if (target.transport !== fallback.transport) target = fallback;
    const cseq = parseCSeq(req.get('cseq') as string).seq;
    const d = new Dialog(`${callId};from-tag=${fromTag}`, 'uas', callId, tx.toTag ?? '', fromTag,
      res.get('to') as string, req.get('from') as string, contact, target, res.get('contact') ?? this.contactFor(local),
      tx.owner as AppConnection | null, Math.floor(Math.random() * 10000) + 1, cseq, tx.id);
    d.routeSet = routeSet;
    d.localSdp = res.body.length ? res.body : null;
    d.localContentType = res.get('content-type') ?? null;
    this.addDialog(d);
    this.refreshSessionTimer(d, res, 'sent');
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
      this.echo(cmd, req, bytes, d.target, txId, '');
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
      this.cdr('stop', 'application', req, 'normal-release');
    }
    const tx = this.startClientTx(req, d.target, branch, txId);
    tx.owner = cmd.conn;
    this.clientTxDialog.set(tx, d);
    if (app.method === 'INVITE') d.outgoingInvite = tx;
    if (app.method === 'BYE') { d.terminated = true; }
    this.echo(cmd, req, tx.wireBytes, d.target, tx.id, '');
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
    this.echo(cmd, cancel, tx.wireBytes, inviteTx.target, randomUUID(), '');
  }

  private async appNewRequest(cmd: SipCommand, app: SipMessage): Promise<void> {
    const routeUrl = cmd.routeUrl;
    let uri: SipUri;
    try { uri = parseUri(app.uri); } catch { throw new Error(`invalid request-uri: ${app.uri}`); }
    if (uri.scheme === 'tel' && !routeUrl) throw new Error('requested protocol/transport not available');
    const appRoute = app.get('route');
    const target = await this.resolveTarget(routeUrl || (appRoute ? this.uriOf(appRoute) : app.uri));
    if (this.closed) return;
    const local = this.transport.localFor(target);
    const req = SipMessage.request(app.method, app.uri);
    const branch = newBranch();
    req.append('via', this.viaFor(local, branch));
    req.append('max-forwards', '70');
    let from = app.get('from');
    from = from ? this.replaceLocalhost(from, local) : this.contactFor(local);
    let fromTag = tagOf(from);
    if (!fromTag) { fromTag = newTag(); from = `${from};tag=${fromTag}`; }
    req.append('from', from);
    req.append('to', app.get('to') ? this.replaceLocalhost(app.get('to') as string, local) : `<${app.uri}>`);
    const callId = app.get('call-id') ?? `${randomUUID()}`;
    req.append('call-id', callId);
    req.append('cseq', app.get('cseq') ?? `${Math.floor(Math.random() * 10000) + 1} ${app.method}`);
    this.copyAppHeaders(app, req, new Set([...EDGE_OWNED_REQUEST, 'from', 'to', 'call-id', 'cseq']), local);
    if ((app.method === 'INVITE' || app.method === 'SUBSCRIBE') && !req.has('contact')) req.append('contact', this.contactFor(local));
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
      this.cdr('attempt', 'application', req);
    }
    this.echo(cmd, req, tx.wireBytes, target, tx.id, '');
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
    this.armGiveUp(inviteTx);
    return tx;
  }

  private guardOf(tx: ClientTransaction): InviteGuard {
    let g = this.inviteGuards.get(tx);
    if (!g) { g = { timerC: null, giveUp: null }; this.inviteGuards.set(tx, g); }
    return g;
  }

  private clearGuard(tx: ClientTransaction): void {
    const g = this.inviteGuards.get(tx);
    if (!g) return;
    if (g.timerC) clearTimeout(g.timerC);
    if (g.giveUp) clearTimeout(g.giveUp);
    this.inviteGuards.delete(tx);
  }

  /** Timer C (RFC 3261 §16.6 item 11, §16.7 step 2): armed at send, reset by each 101–199. */
  private armTimerC(tx: ClientTransaction): void {
    const g = this.guardOf(tx);
    if (g.giveUp) return;   // already cancelled: the give-up bounds it now
    if (g.timerC) clearTimeout(g.timerC);
    g.timerC = setTimeout(() => {
      g.timerC = null;
      if (g.giveUp || (tx.state !== 'calling' && tx.state !== 'proceeding')) return;
      this.counters.timerCCancels++;
      this.logger.info('Timer C fired: no final response, cancelling the INVITE', { txId: tx.id, callId: tx.request.get('call-id') });
      this.cancelInvite(tx, 'SIP;cause=408;text="no final response (Timer C)"');
    }, this.opts.timers.timerC ?? DEFAULT_TIMER_C_MS);
  }

  /**
   * After CANCEL the INVITE gets 64*T1 to reach a final response (§9.1); then the edge ends the
   * transaction and the application gets 408, so no INVITE waits for ever on a vanished callee.
   */
  private armGiveUp(tx: ClientTransaction): void {
    const g = this.guardOf(tx);
    if (g.timerC) { clearTimeout(g.timerC); g.timerC = null; }
    if (g.giveUp) return;
    g.giveUp = setTimeout(() => {
      g.giveUp = null;
      if (tx.state !== 'calling' && tx.state !== 'proceeding') return;
      this.counters.cancelGiveUps++;
      this.logger.info('no final response after CANCEL, giving up the INVITE', { txId: tx.id, callId: tx.request.get('call-id') });
      this.onClientTimeout(tx);
      tx.terminate();
    }, timerB(this.opts.timers));
  }

  close(): void {
    this.closed = true;
    for (const id of this.orphans.openIds()) this.orphans.ended(id, 'edge-stop');
    clearInterval(this.orphanPruner);
    for (const tx of [...this.inviteGuards.keys()]) this.clearGuard(tx);
    this.graceTimers.clear();
    for (const d of this.dialogs.values()) { d.timers.clear(); if (d.sessionTimer?.timer) clearTimeout(d.sessionTimer.timer); }
    for (const tx of [...this.serverTxById.values()]) tx.terminate();
    for (const tx of [...this.clientTxById.values()]) tx.terminate();
    this.dialogs.clear();
    this.dialogsByKey.clear();
  }
}
