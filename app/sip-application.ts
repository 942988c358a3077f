import { randomUUID } from 'node:crypto';
import Srf from 'drachtio-srf';
import type { Logger } from '../lib/common/logger';
import { CallSession, CallState, type CallSessionDeps, type LiveCallView, type ReleaseCause } from './calls/call-session';
import { ControlLink, type DialogEnds } from './calls/control-link';
import { CallRejection } from './calls/types';
import type { NewCallGate } from './admission/overload';

export interface SipConnection { host: string; port: number; secret: string }

export interface SipApplicationOptions {
  /** How long calls of a lost connection wait for the server to come back and say when they ended. */
  lostServerWaitMs: number;
  /** Upper bound on ending and settling the calls left at the end of a drain. */
  settleBoundMs?: number;
  /** Overload control: asked at each new INVITE, before any database work. */
  overload?: NewCallGate;
}

/** How often the calls of a lost connection ask again while their dialogs are still up on the server. */
const LOST_POLL_MS = 1000;

/**
 * The drachtio-srf application: connects to the edge (or a drachtio-server), takes every INVITE
 * and gives it a CallSession. Keeps the live sessions for shutdown and the admin API, and
 * reconciles them with the server whenever the connection drops: a call the server no longer
 * carries is settled at the moment it really ended and is never extended.
 */
export class SipApplication {
  readonly srf = new Srf();
  readonly link = new ControlLink(this.srf);
  private readonly sessions = new Map<string, CallSession>();
  private accepting = true;
  private connected = false;
  private deps: CallSessionDeps | undefined;
  private reconciling: Promise<void> | undefined;
  private lostDeadline: NodeJS.Timeout | undefined;

  constructor(private readonly logger: Logger, private readonly options: SipApplicationOptions = { lostServerWaitMs: 60_000 }) {
    // While stopping, the SIP server closing its end (ECONNRESET) is expected: info.
    this.srf.on('error', (err: Error) => this.logger[this.accepting ? 'warn' : 'info']('SIP server connection error', { error: err.message }));
    // drachtio-srf reports a lost connection as 'close' (it has no 'disconnect' event).
    const lost = () => {
      if (!this.connected) return;
      this.connected = false;
      this.link.disconnected();
      this.onServerLost(new Date());
    };
    this.srf.on('disconnect', lost);
    (this.srf as unknown as NodeJS.EventEmitter).on('close', lost);
    this.srf.on('connect', (err: Error | undefined, hostports: string, serverVersion?: string) => {
      if (err) return;
      this.connected = true;
      this.link.connected(serverVersion);
      this.logger.info('connected to the SIP server', { hostports, serverVersion });
      this.reconcileLost();
    });
  }

  get isConnected(): boolean { return this.connected; }
  get liveCount(): number { return this.sessions.size; }

  /** Registers the INVITE handler and connects; resolves at the first successful connection. */
  async start(conn: SipConnection, deps: Omit<CallSessionDeps, 'srf'>, timeoutMs = 15_000): Promise<void> {
    this.deps = { ...deps, srf: this.srf };
    this.srf.invite((req, res) => this.onInvite(req, res));
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection to the SIP server at ${conn.host}:${conn.port} within ${timeoutMs} ms`)), timeoutMs);
      this.srf.once('connect', (err: Error | undefined) => {
        clearTimeout(timer);
        if (err) reject(err); else resolve();
      });
    });
    this.srf.connect({ host: conn.host, port: conn.port, secret: conn.secret });
    await connected;
  }

  private onInvite(req: Srf.SrfRequest, res: Srf.SrfResponse): void {
    if (!this.deps) {
      res.send(503, { headers: { Reason: 'SIP;cause=503;text="Starting"', 'Retry-After': '5' } });
      return;
    }
    const session = new CallSession(this.deps, req, res, randomUUID(), this.logger);
    this.sessions.set(session.callId, session);
    session.onEnded(() => this.sessions.delete(session.callId));
    if (!this.accepting) {
      void session.refuseNow(new CallRejection(503, 'SHUTTING_DOWN', 'the service is shutting down'), { 'Retry-After': '30' });
      return;
    }
    const overloaded = this.options.overload?.admit(session.callId);
    if (overloaded) {
      void session.refuseNow(new CallRejection(503, 'OVERLOADED', 'Overloaded'), { 'Retry-After': String(overloaded.retryAfterSeconds) });
      return;
    }
    void session.run();
  }

  /**
   * For credit control's recovery of a lost instance's calls: when their dialogs ended on the SIP
   * server. Dialogs the server still carries (the edge's grace, or a drachtio-server that keeps
   * them for ever) cannot be metered by anyone: they are ended now with BYE, which is then their end.
   */
  async endOrphanedDialogs(dialogIds: string[]): Promise<DialogEnds> {
    const answer = await this.link.dialogEnds(dialogIds);
    if (answer.status === 'retry') return answer;
    const ends = answer.status === 'known' ? new Map(answer.ends) : new Map<string, Date | null>();
    const open = dialogIds.filter((id) => !(ends.get(id) instanceof Date));
    const outcomes = await Promise.all(open.map((id) => this.link.requestInDialog(id, 'BYE', { Reason: 'SIP;cause=503;text="application instance lost"' })));
    const now = new Date();
    open.forEach((id, i) => { if (outcomes[i] === 'sent') ends.set(id, now); });
    if (open.length > 0) this.logger.info('orphaned dialogs ended', { asked: open.length, ended: outcomes.filter((o) => o === 'sent').length });
    return { status: 'known', ends };
  }

  // ------------------------------------------------------------------------------ lost server

  private onServerLost(at: Date): void {
    const count = this.sessions.size;
    // While stopping, the SIP server going first (both told to stop at once) is expected: info.
    if (this.accepting) this.logger.warn('SIP server connection lost; reconnecting', { liveCalls: count });
    else this.logger.info('SIP server connection closed while stopping', { liveCalls: count });
    for (const s of this.sessions.values()) s.sipServerLost(at);
    clearTimeout(this.lostDeadline);
    if (count === 0) return;
    // Bounded: a server that does not come back cannot say more; settle at the moment of loss.
    this.lostDeadline = setTimeout(() => void this.settleLostAtLoss('the SIP server did not come back'), this.options.lostServerWaitMs);
    this.lostDeadline.unref();
  }

  private lostSessions(): CallSession[] {
    return [...this.sessions.values()].filter((s) => s.lostAt !== undefined);
  }

  private async settleLostAtLoss(why: string): Promise<void> {
    const lost = this.lostSessions();
    if (lost.length > 0) this.logger.warn('settling calls of the lost SIP server connection at the moment of loss', { count: lost.length, why });
    await Promise.all(lost.map((s) => s.settleLost(s.lostAt!)));
  }

  private reconcileLost(): void {
    this.reconciling ??= this.reconcile().catch((err: unknown) => {
      this.logger.error('reconciliation with the SIP server failed', { error: err instanceof Error ? err.stack : String(err) });
    }).finally(() => { this.reconciling = undefined; });
  }

  /**
   * After a reconnect: each call of the lost connection is settled where the server says its
   * dialogs ended; dialogs still up (the edge keeps them through its grace) are ended now with
   * BYE, which is then their real end; a server that knows nothing of them (restarted, or one
   * that keeps no record) means they ended when the connection was lost.
   */
  private async reconcile(): Promise<void> {
    for (let round = 0; round < 1000 && this.connected; round++) {
      const lost = this.lostSessions();
      if (lost.length === 0) { clearTimeout(this.lostDeadline); return; }
      const ids = lost.flatMap((s) => s.dialogIds);
      const answer = await this.link.dialogEnds(ids);
      if (answer.status === 'retry') { await sleep(LOST_POLL_MS); continue; }
      await Promise.all(lost.map((s) => this.reconcileOne(s, answer)));
    }
  }

  private async reconcileOne(s: CallSession, answer: Exclude<DialogEnds, { status: 'retry' }>): Promise<void> {
    const ids = s.dialogIds;
    if (answer.status === 'known') {
      const ended = ids.map((id) => answer.ends.get(id)).filter((d): d is Date => d instanceof Date);
      if (ended.length > 0) {
        const realEnd = new Date(Math.min(...ended.map((d) => d.getTime())));
        for (const id of ids) if (answer.ends.get(id) === null) void this.link.requestInDialog(id, 'BYE', { Reason: 'SIP;cause=503;text="SIP server connection lost"' });
        await s.settleLost(realEnd);
        return;
      }
    }
    // Still up on the server, or the server cannot tell: hang up both legs now. A BYE the server
    // sends means the call ran until now; one it cannot send means the dialog died with the connection.
    const outcomes = await Promise.all(ids.map((id) => this.link.requestInDialog(id, 'BYE', { Reason: 'SIP;cause=503;text="SIP server connection lost"' })));
    const reached = outcomes.includes('sent');
    await s.settleLost(reached ? new Date() : s.lostAt!);
  }

  // ------------------------------------------------------------------------------ calls

  /** Calls still up or being set up; those already settling (a refusal writing its CDR) are not live. */
  liveCalls(): LiveCallView[] {
    const now = Date.now();
    return [...this.sessions.values()]
      .filter((s) => s.currentState !== CallState.Ending && s.currentState !== CallState.Ended)
      .map((s) => s.view(now));
  }

  /** Ends one live call, settled like any other ending; false when no such call. */
  async endCall(callId: string, cause: ReleaseCause = 'admin'): Promise<boolean> {
    const s = this.sessions.get(callId);
    if (!s) return false;
    await s.end(cause);
    return true;
  }

  /** Lets a live call run to the end of its current grant, then ends it with `cause`; false when no such call. */
  endCallAtGrant(callId: string, cause: ReleaseCause): boolean {
    const s = this.sessions.get(callId);
    if (!s) return false;
    void s.endAtGrant(cause);
    return true;
  }

  /** New calls get 503 from now on. */
  stopAccepting(): void { this.accepting = false; }

  /**
   * Waits up to drainMs for live calls to end by themselves, then ends and settles the rest,
   * bounded by settleBoundMs whatever the far ends or the database do.
   */
  async drain(drainMs: number): Promise<void> {
    this.stopAccepting();
    const until = Date.now() + drainMs;
    while (this.sessions.size > 0 && Date.now() < until) await sleep(100);
    const rest = [...this.sessions.values()];
    if (rest.length > 0) this.logger.info('ending live calls', { count: rest.length });
    const bound = this.options.settleBoundMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), bound); });
    const outcome = await Promise.race([Promise.all(rest.map((s) => s.end('shutdown'))).then(() => 'done' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout' || this.sessions.size > 0) {
      this.logger.error('calls not settled within the shutdown bound; their reservations are recovered at the next start', { count: this.sessions.size, boundMs: bound });
    }
    clearTimeout(this.lostDeadline);
  }

  /**
   * Closes the connection to the SIP server. When the server is already gone (the edge stopped
   * first) there is no socket to close, and drachtio-srf would otherwise keep the process alive
   * trying to reconnect: its retry loop is stopped instead.
   */
  disconnect(): void {
    clearTimeout(this.lostDeadline);
    if (this.connected) {
      this.connected = false;
      try {
        this.srf.disconnect();
        return;
      } catch (err) {
        // The socket went away before its 'close' was reported: stop the retry loop below.
        this.logger.debug('SIP server connection already closed', { error: err instanceof Error ? err.message : String(err) });
      }
    }
    type RetryingClient = { wp?: { closing: boolean; reconnectVars?: { retryTimer?: NodeJS.Timeout | null } } };
    const wp = (this.srf as unknown as { _app?: { client?: RetryingClient } })._app?.client?.wp;
    if (!wp) return;
    wp.closing = true;
    if (wp.reconnectVars?.retryTimer) clearTimeout(wp.reconnectVars.retryTimer);
    wp.reconnectVars = { ...wp.reconnectVars, retryTimer: null };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
