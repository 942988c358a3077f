import net from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../common/logger';
import { WriteBatcher } from '../../common/write-batch';
import { ControlFramer, frameControlMessage } from './framing';

/** One connected application (a drachtio-srf instance in inbound mode). */
export class AppConnection {
  readonly id = randomUUID();
  authenticated = false;
  readonly routes = new Set<string>();   // upper-case SIP methods and 'cdr:…' events
  readonly tags: string[] = [];
  closed = false;

  constructor(readonly socket: net.Socket, private readonly onSend: (n: number) => void, private readonly batcher: WriteBatcher) {}

  send(body: string): void {
    if (this.closed || this.socket.destroyed) return;
    this.onSend(1);
    this.batcher.write(this.socket, frameControlMessage(body));
  }

  /** `uuid|response|<msgId>|<parts…>` */
  respond(msgId: string, ...parts: string[]): void {
    this.send(`${randomUUID()}|response|${msgId}|${parts.join('|')}`);
  }
}

export interface SipCommand {
  conn: AppConnection;
  msgId: string;
  transactionId: string;
  dialogId: string;
  routeUrl: string;
  sipText: string;   // the SIP message after the leader's CRLF
}

export interface ControlServerHooks {
  secret: string;
  /** Host ports announced at authentication, e.g. `udp/127.0.0.1:5060,tcp/127.0.0.1:5060`. */
  hostports(): string;
  sip(cmd: SipCommand): void;
  disconnected(conn: AppConnection): void;
  routed(conn: AppConnection): void;
  /** `proxy|<txnId>|<remainInDialog>|<fullResponse>|<followRedirects>|<simultaneous|serial>|<provT>|<finalT>|<dest>…` */
  proxy(conn: AppConnection, msgId: string, args: string[], sipText: string): void;
  /** `tollgate:orphans`: when each asked dialog of a lost application ended (all known when none asked). */
  orphans(dialogIds: string[]): unknown;
}

export const EDGE_PROTOCOL_VERSION = 'v0.9.2-tollgate-edge';
/** Control-link verb of this edge only (drachtio-server does not know it): orphan end times. */
export const ORPHANS_VERB = 'tollgate:orphans';

/** The TCP control listener: drachtio framing, authentication, route/remove_route, ping, sip. */
export class ControlServer {
  readonly connections = new Set<AppConnection>();
  private server: net.Server | null = null;
  messagesIn = 0;
  messagesOut = 0;
  /** Messages to the applications written in one turn of the event loop go out in one write. */
  readonly batcher = new WriteBatcher();

  constructor(private readonly hooks: ControlServerHooks, private readonly logger: Logger) {}

  listen(address: string, port: number): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    socket.setKeepAlive(true);
    const conn = new AppConnection(socket, (n) => { this.messagesOut += n; }, this.batcher);
    const framer = new ControlFramer();
    this.connections.add(conn);
    this.logger.info('application connected', { conn: conn.id, remote: `${socket.remoteAddress}:${socket.remotePort}` });
    socket.on('data', (data) => {
      let bodies: string[];
      try {
        bodies = framer.push(data);
      } catch (err) {
        this.logger.warn('invalid control framing, closing application connection', { conn: conn.id, err: String(err) });
        socket.destroy();
        return;
      }
      for (const body of bodies) {
        this.messagesIn++;
        try {
          if (!this.handle(conn, body)) { socket.end(); return; }
        } catch (err) {
          this.logger.error('control message failed', { conn: conn.id, err: err instanceof Error ? err.stack : String(err) });
        }
      }
    });
    socket.on('error', (err) => this.logger.debug('application connection error', { conn: conn.id, err: err.message }));
    socket.on('close', () => {
      if (conn.closed) return;
      conn.closed = true;
      this.connections.delete(conn);
      this.logger.info('application disconnected', { conn: conn.id });
      this.hooks.disconnected(conn);
    });
  }

  /** Returns false when the connection must be closed. */
  private handle(conn: AppConnection, body: string): boolean {
    const crlf = body.indexOf('\r\n');
    const leader = crlf < 0 ? body : body.slice(0, crlf);
    const tokens = leader.split('|');
    const msgId = tokens[0];
    const verb = tokens[1];
    if (tokens.length < 2) return false;
    if (verb === 'authenticate') {
      if (tokens[2] !== this.hooks.secret) {
        conn.respond(msgId, 'NO', 'incorrect secret');
        this.logger.warn('application failed to authenticate', { conn: conn.id });
        return false;
      }
      conn.authenticated = true;
      if (tokens[3]) conn.tags.push(...tokens[3].split(',').filter(Boolean));
      conn.respond(msgId, 'OK', this.hooks.hostports(), EDGE_PROTOCOL_VERSION);
      return true;
    }
    if (!conn.authenticated) {
      conn.respond(msgId, 'NO', 'not authenticated');
      return false;
    }
    switch (verb) {
      case 'ping':
        conn.respond(msgId, 'OK', 'pong');
        return true;
      case 'route': {
        const what = (tokens[2] ?? '').trim();
        if (!what) { conn.respond(msgId, 'NO', 'Route request includes unsupported verb'); return false; }
        conn.routes.add(what.startsWith('cdr:') ? what : what.toUpperCase());
        conn.respond(msgId, 'OK');
        this.hooks.routed(conn);
        return true;
      }
      case 'remove_route': {
        const what = (tokens[2] ?? '').trim();
        conn.routes.delete(what.startsWith('cdr:') ? what : what.toUpperCase());
        conn.respond(msgId, 'OK');
        return true;
      }
      case 'sip':
        this.hooks.sip({
          conn, msgId, transactionId: tokens[2] ?? '', dialogId: tokens[3] ?? '', routeUrl: tokens[4] ?? '',
          sipText: crlf < 0 ? '' : body.slice(crlf + 2),
        });
        return true;
      case ORPHANS_VERB: {
        // The body after the leader lists dialog ids, one a line; the answer is a drachtio
        // response whose text after the CRLF is JSON, so drachtio-srf hands it over as rawMsg.
        const ids = crlf < 0 ? [] : body.slice(crlf + 2).split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
        conn.send(`${randomUUID()}|response|${msgId}|OK\r\n${JSON.stringify(this.hooks.orphans(ids))}`);
        return true;
      }
      case 'proxy':
        this.hooks.proxy(conn, msgId, tokens.slice(2), crlf < 0 ? '' : body.slice(crlf + 2));
        return true;
      default:
        conn.respond(msgId, 'NO', 'Unknown message type');
        return false;
    }
  }

  async close(): Promise<void> {
    // What was written in this turn goes out before the connections are destroyed.
    this.batcher.flush();
    for (const c of this.connections) { c.closed = true; c.socket.destroy(); }
    this.connections.clear();
    const s = this.server;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
