import { randomUUID } from 'node:crypto';
import Srf from 'drachtio-srf';
import type { Logger } from '../lib/common/logger';
import { CallSession, type CallSessionDeps, type LiveCallView, type ReleaseCause } from './calls/call-session';

export interface SipConnection { host: string; port: number; secret: string }

/**
 * The drachtio-srf application: connects to the edge (or a drachtio-server), takes every INVITE
 * and gives it a CallSession. Keeps the live sessions for shutdown and the admin API.
 */
export class SipApplication {
  readonly srf = new Srf();
  private readonly sessions = new Map<string, CallSession>();
  private accepting = true;
  private connected = false;
  private deps: CallSessionDeps | undefined;

  constructor(private readonly logger: Logger) {
    this.srf.on('error', (err: Error) => this.logger.warn('SIP server connection error', { error: err.message }));
    // drachtio-srf reports a lost connection as 'close' (it has no 'disconnect' event).
    const lost = () => {
      if (!this.connected) return;
      this.connected = false;
      this.logger.warn('SIP server connection lost; reconnecting');
    };
    this.srf.on('disconnect', lost);
    (this.srf as unknown as NodeJS.EventEmitter).on('close', lost);
    this.srf.on('connect', (err: Error | undefined, hostports: string) => {
      if (err) return;
      this.connected = true;
      this.logger.info('connected to the SIP server', { hostports });
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
    if (!this.accepting || !this.deps) {
      res.send(503, { headers: { Reason: 'SIP;cause=503;text="Shutting down"', 'Retry-After': '30' } });
      return;
    }
    const session = new CallSession(this.deps, req, res, randomUUID(), this.logger);
    this.sessions.set(session.callId, session);
    session.onEnded(() => this.sessions.delete(session.callId));
    void session.run();
  }

  liveCalls(): LiveCallView[] {
    const now = Date.now();
    return [...this.sessions.values()].map((s) => s.view(now));
  }

  /** Ends one live call, settled like any other ending; false when no such call. */
  async endCall(callId: string, cause: ReleaseCause = 'admin'): Promise<boolean> {
    const s = this.sessions.get(callId);
    if (!s) return false;
    await s.end(cause);
    return true;
  }

  /** New calls get 503 from now on. */
  stopAccepting(): void { this.accepting = false; }

  /** Waits up to drainMs for live calls to end by themselves, then ends and settles the rest. */
  async drain(drainMs: number): Promise<void> {
    this.stopAccepting();
    const until = Date.now() + drainMs;
    while (this.sessions.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    const rest = [...this.sessions.values()];
    if (rest.length > 0) this.logger.info('ending live calls', { count: rest.length });
    await Promise.all(rest.map((s) => s.end('shutdown')));
    const settleUntil = Date.now() + 10_000;
    while (this.sessions.size > 0 && Date.now() < settleUntil) await new Promise((r) => setTimeout(r, 50));
  }

  /**
   * Closes the connection to the SIP server. When the server is already gone (the edge stopped
   * first) there is no socket to close, and drachtio-srf would otherwise keep the process alive
   * trying to reconnect: its retry loop is stopped instead.
   */
  disconnect(): void {
    if (this.connected) {
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
