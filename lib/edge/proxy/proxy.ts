import type { Logger } from '../../common/logger';
import { SipMessage } from '../message/message';
import { parseUri } from '../message/uri';
import type { ClientTransaction } from '../transaction/client-transaction';
import type { ServerTransaction } from '../transaction/server-transaction';
import type { Endpoint } from '../transport/transport';

/** The `proxy` control command as drachtio-srf's Request#proxy sends it. */
export interface ProxyCommand {
  msgId: string;
  transactionId: string;
  recordRoute: boolean;
  fullResponse: boolean;
  followRedirects: boolean;
  simultaneous: boolean;
  provisionalTimeoutMs: number | null;
  finalTimeoutMs: number | null;
  destinations: string[];
  /** Headers the application asked to set on the forwarded request. */
  headers: Array<{ name: string; value: string }>;
}

/** What a proxy operation needs from the core: sending, transactions, and the application link. */
export interface ProxyHost {
  readonly logger: Logger;
  resolveTarget(uri: string): Promise<Endpoint>;
  localFor(target: Endpoint): Endpoint;
  viaFor(local: Endpoint, branch: string): string;
  recordRouteFor(local: Endpoint): string;
  isOurUri(value: string): boolean;
  newBranch(): string;
  /** A client transaction whose responses, timeouts and end come back to `op`. */
  startBranch(op: ProxyOperation, req: SipMessage, target: Endpoint, branch: string): ClientTransaction;
  cancelBranch(tx: ClientTransaction): void;
  sendRaw(bytes: Buffer, target: Endpoint): void;
  /** `response|<msgId>|OK|…` to the application (drachtio-server's route_api_response). */
  reportToApp(parts: string[]): void;
  finished(op: ProxyOperation): void;
}

type BranchState = 'pending' | 'calling' | 'proceeding' | 'completed' | 'terminated';

interface Branch {
  uri: string;
  state: BranchState;
  tx: ClientTransaction | null;
  status: number;                 // final status seen (0: none)
  final: SipMessage | null;       // non-2xx final kept for the best-response choice
  abandoned: boolean;             // given up before any response: a late provisional gets CANCEL
  timers: NodeJS.Timeout[];
}

/** `1500ms` or `2s` as drachtio-srf writes provisionalTimeout/finalTimeout; anything else is none. */
export function parseProxyTimeout(text: string): number | null {
  const m = /^(\d+)(ms|s)$/.exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

/** RFC 3261 §16.7 step 6, as drachtio-server orders them: 6xx, then 401/407/415/420/484, 4xx, 5xx, the rest. */
function responseRank(status: number): number {
  if (status >= 600) return 0;
  if ([401, 407, 415, 420, 484].includes(status)) return 1;
  if (status >= 400 && status < 500) return 2;
  if (status >= 500 && status < 600) return 3;
  return 4;
}

/**
 * One stateful proxy operation (RFC 3261 §16) started by the application's `proxy` command: the
 * incoming request is forked to its destinations, serially or all at once, optionally following
 * redirects; provisional responses and the 2xx go upstream at once, else the best final response
 * once every branch has ended. The application is told each final response and then `done`.
 */
export class ProxyOperation {
  private branches: Branch[];
  private searching = true;
  private ended = false;
  private cancelled = false;
  private answered = false;

  constructor(private readonly host: ProxyHost, readonly server: ServerTransaction, private readonly cmd: ProxyCommand) {
    this.branches = cmd.destinations.map((uri) => this.newBranch(uri));
  }

  private newBranch(uri: string): Branch {
    return { uri, state: 'pending', tx: null, status: 0, final: null, abandoned: false, timers: [] };
  }

  /** Starts the first branch (serial) or all of them; resolves to how many requests went out. */
  async start(): Promise<number> {
    return this.launchPending();
  }

  private async launchPending(): Promise<number> {
    let sent = 0;
    for (const b of this.branches) {
      if (!this.searching) break;
      if (b.state !== 'pending') continue;
      if (await this.launch(b)) {
        sent++;
        if (!this.cmd.simultaneous) break;
      }
    }
    return sent;
  }

  /** The request for one branch (§16.6): retargeted when the destination names a user, our Via on top. */
  private async launch(b: Branch): Promise<boolean> {
    let target: Endpoint;
    try {
      target = await this.host.resolveTarget(b.uri);
    } catch (err) {
      this.host.logger.info('proxy destination not usable', { uri: b.uri, err: (err as Error).message });
      b.state = 'terminated';
      b.status = 503;   // §16.9: a destination the request cannot be sent to counts as 503
      return false;
    }
    if (!this.searching) { b.state = 'terminated'; return false; }
    const req = this.server.request.clone();
    try { if (parseUri(b.uri).user !== null) req.uri = b.uri; } catch { /* the destination is a host only */ }
    const mf = req.get('max-forwards');
    req.set('max-forwards', String(mf !== undefined ? Math.max(0, Number(mf) - 1) : 70));
    const route = req.get('route');
    if (route !== undefined && this.host.isOurUri(route)) req.removeFirst('route');
    for (const h of this.cmd.headers) req.set(h.name, h.value);
    const local = this.host.localFor(target);
    if (this.cmd.recordRoute && req.method === 'INVITE') req.prepend('record-route', this.host.recordRouteFor(local));
    const branch = this.host.newBranch();
    req.prepend('via', this.host.viaFor(local, branch));
    b.state = 'calling';
    b.tx = this.host.startBranch(this, req, target, branch);
    if (this.cmd.provisionalTimeoutMs !== null) {
      b.timers.push(setTimeout(() => this.onProvisionalTimeout(b), this.cmd.provisionalTimeoutMs));
    }
    if (this.cmd.finalTimeoutMs !== null) b.timers.push(setTimeout(() => this.onFinalTimeout(b), this.cmd.finalTimeoutMs));
    return true;
  }

  private branchOf(tx: ClientTransaction): Branch | undefined { return this.branches.find((b) => b.tx === tx); }

  private clearTimers(b: Branch): void { for (const t of b.timers) clearTimeout(t); b.timers = []; }

  /** The response as it goes upstream: our Via removed (§16.7 step 3). */
  private upstream(res: SipMessage): SipMessage {
    const out = res.clone();
    out.removeFirst('via');
    return out;
  }

  private report(res: SipMessage, source: Endpoint, bytes: number, time: string): void {
    if (!this.cmd.fullResponse) return;
    this.host.reportToApp(['OK', 'network', String(bytes), source.transport, source.address, String(source.port), time, '', '',
      `continue\r\n${res.toString()}`]);
  }

  onResponse(tx: ClientTransaction, res: SipMessage, retransmission: boolean, source: Endpoint, bytes: number, time: string): void {
    const b = this.branchOf(tx);
    if (!b) return;
    if (res.status < 200) {
      if (b.abandoned) { this.host.cancelBranch(tx); return; }   // given up before it answered
      this.clearProvisionalTimer(b);
      if (b.state === 'calling') b.state = 'proceeding';
      if (res.status > 100 && this.searching) this.server.respond(this.upstream(res));   // §16.7 step 5
      return;
    }
    if (res.status < 300) {
      // every 2xx goes upstream, retransmissions and other forks' too (§16.7 step 5)
      const up = this.upstream(res);
      if (!this.server.finalSent) this.server.respond(up);
      else this.host.sendRaw(up.toBuffer(), this.server.responseTarget);
      if (retransmission || b.state === 'completed') return;
      this.clearTimers(b);
      b.state = 'completed';
      b.status = res.status;
      this.report(res, source, bytes, time);
      if (!this.answered) {
        this.answered = true;
        this.searching = false;
        this.cancelOthers(b);
        this.finish();
      }
      return;
    }
    if (retransmission || b.state === 'completed' || b.state === 'terminated') return;
    this.clearTimers(b);
    b.state = 'completed';
    b.status = res.status;
    b.final = res;
    if (res.status < 400 && this.cmd.followRedirects && this.searching) this.addRedirectTargets(b, res);
    this.report(res, source, bytes, time);
    void this.afterFailure();
  }

  /** Contacts of a 3xx become new branches right after the one that was redirected. */
  private addRedirectTargets(b: Branch, res: SipMessage): void {
    const at = this.branches.indexOf(b) + 1;
    const fresh: Branch[] = [];
    for (const c of res.getAll('contact')) {
      const t = c.trim();
      const uri = t.includes('<') ? t.slice(t.indexOf('<') + 1, t.indexOf('>')) : t.split(';')[0].trim();
      try { parseUri(uri); } catch { continue; }   // an unreadable Contact is no target
      if (!this.branches.some((x) => x.uri === uri)) fresh.push(this.newBranch(uri));
    }
    this.branches.splice(at, 0, ...fresh.slice(0, 10));
  }

  /** A branch ended without a response (Timer B/C give-up: 408; not sendable: 503). */
  onBranchFailed(tx: ClientTransaction, status: number): void {
    const b = this.branchOf(tx);
    if (!b || b.state === 'completed' || b.state === 'terminated') return;
    this.clearTimers(b);
    b.state = 'terminated';
    b.status = b.abandoned ? 0 : status;
    void this.afterFailure();
  }

  private async afterFailure(): Promise<void> {
    if (!this.searching) { this.finishIfIdle(); return; }
    if (!this.cmd.simultaneous || this.branches.some((x) => x.state === 'pending')) await this.launchPending();
    if (this.searching && !this.branches.some((x) => x.state === 'calling' || x.state === 'proceeding' || x.state === 'pending')) {
      this.forwardBest();
    }
  }

  private clearProvisionalTimer(b: Branch): void {
    // the provisional timer is the first armed; clearing all of them would also drop finalTimeout
    if (this.cmd.provisionalTimeoutMs !== null && b.timers.length > 0 && b.state === 'calling') {
      clearTimeout(b.timers[0]);
    }
  }

  private onProvisionalTimeout(b: Branch): void {
    if (b.state !== 'calling' || !this.searching) return;
    this.host.logger.info('proxy: no provisional response in time, next destination', { uri: b.uri });
    b.abandoned = true;
    b.state = 'completed';
    void this.afterFailure();
  }

  private onFinalTimeout(b: Branch): void {
    if ((b.state !== 'calling' && b.state !== 'proceeding') || !this.searching) return;
    this.host.logger.info('proxy: no final response in time, next destination', { uri: b.uri });
    if (b.state === 'proceeding' && b.tx) this.host.cancelBranch(b.tx);
    b.abandoned = true;
    b.state = 'completed';
    b.status = 408;
    void this.afterFailure();
  }

  private cancelOthers(winner: Branch | null): void {
    for (const b of this.branches) {
      if (b === winner) continue;
      this.clearTimers(b);
      if (b.state === 'pending') { b.state = 'terminated'; continue; }
      if ((b.state === 'calling' || b.state === 'proceeding') && b.tx) {
        if (b.state === 'calling') b.abandoned = true;   // CANCEL once it answers (§9.1)
        else this.host.cancelBranch(b.tx);
      }
    }
  }

  /** The caller's CANCEL: it already got 200 and 487; every branch is cancelled (§16.10). */
  cancelAll(): void {
    this.cancelled = true;
    this.searching = false;
    this.cancelOthers(null);
    this.finish();
  }

  /** No 2xx: the best final response goes upstream, or 408 when there is none (§16.7 step 6). */
  private forwardBest(): void {
    this.searching = false;
    const candidates = this.branches.filter((b) => b.status >= 300 && !(b.abandoned && b.final === null));
    candidates.sort((a, b) => responseRank(a.status) - responseRank(b.status));
    const best = candidates[0];
    if (!this.server.finalSent) {
      if (best?.final) this.server.respond(this.upstream(best.final));
      else this.server.respond(this.synthesized(best?.status ?? 408));
    }
    this.finish();
  }

  private synthesized(status: number): SipMessage {
    const req = this.server.request;
    const res = SipMessage.response(status, status === 503 ? 'Service Unavailable' : status === 500 ? 'Server Internal Error' : 'Request Timeout');
    for (const v of req.getAll('via')) res.append('via', v);
    for (const h of ['from', 'to', 'call-id', 'cseq']) {
      const v = req.get(h);
      if (v !== undefined) res.append(h, h === 'to' && !/;\s*tag=/i.test(v) ? `${v};tag=${this.server.toTag ?? 'proxy'}` : v);
    }
    return res;
  }

  /** A failed start (no request could go out): 500 upstream as drachtio-server answers. */
  failStart(): void {
    this.searching = false;
    if (!this.server.finalSent) this.server.respond(this.synthesized(500));
    this.ended = true;
    this.host.finished(this);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.cmd.fullResponse) this.host.reportToApp(['OK', 'done']);
    this.finishIfIdle();
  }

  private finishIfIdle(): void {
    if (!this.ended) return;
    if (this.branches.every((b) => b.state !== 'calling' && b.state !== 'proceeding' || b.tx === null)) {
      for (const b of this.branches) this.clearTimers(b);
    }
    this.host.finished(this);
  }

  get wasCancelled(): boolean { return this.cancelled; }
}
