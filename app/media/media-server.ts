import { EventEmitter } from 'node:events';
import net from 'node:net';
import type Srf from 'drachtio-srf';
import esl, { type Connection } from 'drachtio-modesl';
import Mrf from 'drachtio-fsmrf';
import MediaServer, { type Endpoint } from 'drachtio-fsmrf/lib/mediaserver';
import { AppError, errorMessage } from '../../lib/common/errors';
import type { Logger } from '../../lib/common/logger';

export type { Endpoint };

export interface MediaServerSettings {
  address: string;
  port: number;
  secret: string;
  profile: string;
  sipAddress: string | null;
  listenAddress: string;
  listenPort: number;
  advertisedAddress: string | null;
  reconnect: { minSeconds: number; maxSeconds: number };
  /** How often a connected media server is asked `status`; one that does not answer within it is lost. */
  healthCheckSeconds: number;
}

export type MediaServerState = 'connecting' | 'up' | 'down' | 'stopped';

/** `sofia status` names the profile with its SIP URL: the address drachtio sends INVITEs to. */
export function profileAddress(sofiaStatus: string, profile: string): string | undefined {
  const escaped = profile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\s*${escaped}\\s.*sip:mod_sofia@((?:[0-9]{1,3}\\.){3}[0-9]{1,3}:\\d+)`, 'm').exec(sofiaStatus)?.[1];
}

/**
 * The connection to one FreeSWITCH through drachtio-fsmrf: its event socket (inbound) and the
 * listener for its outbound sockets (one per endpoint). It owns reconnection: the library's own
 * retries are turned off and this class tries again with a bounded back-off, so a media server
 * that goes away is reported once, calls go on without it, and it is picked up when it returns.
 * Emits 'up' and 'down'.
 */
export class FreeswitchMediaServer extends EventEmitter {
  private state: MediaServerState = 'down';
  private conn: Connection | undefined;
  private server: MediaServer | undefined;
  private retry: NodeJS.Timeout | undefined;
  private health: NodeJS.Timeout | undefined;
  private delayMs: number;
  private readonly mrf: Mrf;
  private outageLogged = false;
  lastError: string | null = null;

  constructor(srf: Srf, private readonly settings: MediaServerSettings, private readonly logger: Logger) {
    super();
    this.mrf = new Mrf(srf);
    this.delayMs = settings.reconnect.minSeconds * 1000;
  }

  get currentState(): MediaServerState { return this.state; }
  get isUp(): boolean { return this.state === 'up' && this.server !== undefined && this.server.connected(); }
  /** The SIP address endpoints are created at (from `sofia status`, or settings.sipAddress). */
  get sipAddress(): string | undefined { return this.server?.sip.ipv4.udp.address; }

  /** Starts connecting; never throws: a media server that cannot be reached is tried again. */
  start(): void {
    if (this.state === 'stopped' || this.conn) return;
    this.attempt();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.retry);
    this.teardown();
  }

  async createEndpoint(remoteSdp?: string): Promise<Endpoint> {
    if (!this.isUp) throw new AppError('MEDIA_UNAVAILABLE', 'the media server is not connected');
    return this.server!.createEndpoint(remoteSdp ? { remoteSdp } : {});
  }

  /** A FreeSWITCH API command over the event socket; its reply body ("+OK ...", "-ERR ..."). */
  async api(command: string, timeoutMs: number): Promise<string> {
    if (!this.isUp) throw new AppError('MEDIA_UNAVAILABLE', 'the media server is not connected');
    return withTimeout(this.server!.api(command), timeoutMs, `media server did not answer "${command.split(' ')[0]}"`);
  }

  // ---------------------------------------------------------------------------------- lifecycle

  private attempt(): void {
    this.state = 'connecting';
    const { address, port, secret } = this.settings;
    let settled = false;
    const failed = (why: string) => {
      if (settled || conn !== this.conn) return;
      settled = true;
      this.failed(why);
    };
    const conn = new esl.Connection(address, port, secret, () => {
      this.onAuthenticated(conn).then(() => { settled = true; }, (err: unknown) => failed(errorMessage(err)));
    });
    this.conn = conn;
    // One connection per attempt: the library must not reconnect it behind our back.
    conn.reconnectOpts = { maxAttempts: 1 };
    conn.on('error', (err: Error) => {
      this.lastError = errorMessage(err);
      if (this.state !== 'up') failed(this.lastError);
    });
    conn.on('esl::event::auth::fail', () => failed('event socket authentication failed (check media.freeswitch.secret)'));
    conn.on('esl::event::raw::text/rude-rejection', () => failed('event socket refused this address (FreeSWITCH event_socket ACL)'));
    conn.on('esl::end', () => {
      if (conn !== this.conn) return;
      if (this.state === 'up') this.lost('event socket closed');
      else failed('event socket closed');
    });
  }

  private async onAuthenticated(conn: Connection): Promise<void> {
    // MediaServer throws out of a callback when the profile is missing: look first, fail cleanly.
    const status = await withTimeout(new Promise<string>((resolve) => conn.api('sofia status', (res) => resolve(res.getBody()))), 5000, 'no answer to sofia status');
    const found = profileAddress(status, this.settings.profile);
    if (!found && !this.settings.sipAddress) throw new Error(`sofia profile "${this.settings.profile}" not found on the media server`);
    const s = this.settings;
    // MediaServer listens without an error handler: a bad address or a taken port would crash the process.
    await canListen(s.listenAddress, s.listenPort);
    const server = new MediaServer(conn, this.mrf, s.listenAddress, s.listenPort, s.advertisedAddress ?? undefined, undefined, s.profile);
    // After 'ready' the library reports nothing useful as 'error'; an unheard 'error' would throw.
    server.on('error', (err: Error) => { this.lastError = errorMessage(err); });
    await withTimeout(new Promise<void>((resolve, reject) => {
      server.once('ready', resolve);
      server.once('error', reject);
    }), 10_000, 'media server not ready').catch((err: unknown) => { server.disconnect(); throw err; });
    if (conn !== this.conn) { server.disconnect(); return; }
    if (s.sipAddress) server.sip.ipv4.udp.address = s.sipAddress;
    this.server = server;
    this.state = 'up';
    this.delayMs = s.reconnect.minSeconds * 1000;
    this.outageLogged = false;
    this.lastError = null;
    this.logger.info('media server connected', { eventSocket: `${s.address}:${s.port}`, sip: server.sip.ipv4.udp.address, outboundPort: server.listenPort });
    this.emit('up');
    this.watch(server);
  }

  /** A FreeSWITCH that hangs keeps its socket open: only an unanswered question shows it. */
  private watch(server: MediaServer): void {
    const everyMs = this.settings.healthCheckSeconds * 1000;
    const check = () => {
      if (this.server !== server) return;
      withTimeout(server.api('status'), everyMs, 'no answer to status').then(
        () => { if (this.server === server) this.health = setTimeout(check, everyMs).unref(); },
        (err: unknown) => { if (this.server === server) this.lost(errorMessage(err)); },
      );
    };
    this.health = setTimeout(check, everyMs).unref();
  }

  private lost(why: string): void {
    this.logger.warn('media server lost; new calls go without media until it is back', { why });
    this.outageLogged = true;
    this.teardown();
    this.scheduleRetry();
    this.emit('down');
  }

  private failed(why: string): void {
    this.lastError = why;
    // Once per outage: a media server that stays away is not a log line every few seconds.
    if (!this.outageLogged) this.logger.warn('media server unavailable; calls go without media', { why, retryInSeconds: this.delayMs / 1000 });
    else this.logger.debug('media server still unavailable', { why });
    this.outageLogged = true;
    const wasUp = this.state === 'up';
    this.teardown();
    this.scheduleRetry();
    if (wasUp) this.emit('down');
  }

  private teardown(): void {
    clearTimeout(this.health);
    const { server, conn } = this;
    this.server = undefined;
    this.conn = undefined;
    if (this.state !== 'stopped') this.state = 'down';
    try {
      // Endpoints keep their own outbound sockets: closing this does not end their calls' media.
      if (server) server.disconnect();
      else conn?.disconnect();
    } catch (err) {
      this.logger.debug('media server connection already closed', { error: errorMessage(err) });
    }
  }

  private scheduleRetry(): void {
    if (this.state === 'stopped') return;
    clearTimeout(this.retry);
    const delay = this.delayMs;
    this.delayMs = Math.min(delay * 2, this.settings.reconnect.maxSeconds * 1000);
    this.retry = setTimeout(() => { if (this.state !== 'stopped' && !this.conn) this.attempt(); }, delay);
    this.retry.unref();
  }
}

/** Whether this process may listen at address:port (checked, then released). */
function canListen(address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot listen for FreeSWITCH's outbound connections on ${address}:${port} (media.freeswitch.listenAddress/listenPort): ${err.code ?? err.message}`)));
    probe.listen(port, address, () => probe.close(() => resolve()));
  });
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new AppError('MEDIA_TIMEOUT', `${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
