import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter } from 'node:events';
import type { Logger } from '../../common/logger';
import { WriteBatcher } from '../../common/write-batch';
import { StreamFramer } from '../message/framer';
import { ParseError, parseMessage, type ParseLimits } from '../message/parser';
import type { SipMessage } from '../message/message';

export type TransportName = 'udp' | 'tcp' | 'tls';

/** `serverName`: the host name a TLS peer's certificate must name (the URI's host before lookup). */
export interface Endpoint { transport: TransportName; address: string; port: number; serverName?: string }

/**
 * A listener. TLS ones name PEM files: `certFile` and `keyFile` (the edge's certificate, also
 * shown to peers the edge connects to), `caFile` (the authorities outgoing connections trust;
 * the system's when absent) and `rejectUnauthorized` (default true: a peer whose certificate does
 * not verify, or does not name the host or address connected to, is refused).
 */
export interface ListenSpec {
  transport: TransportName; address: string; port: number;
  certFile?: string; keyFile?: string; caFile?: string; rejectUnauthorized?: boolean;
}

/** Stream transports (one connection per peer, Content-Length framing, no retransmissions). */
export function isStream(t: TransportName): boolean { return t !== 'udp'; }

export interface TransportCounters {
  messagesIn: number; messagesOut: number; badMessages: number; bytesIn: number; bytesOut: number;
  tcpConnections: number; sendErrors: number;
}

export interface TransportEvents {
  message: (msg: SipMessage, source: Endpoint, local: Endpoint, bytes: number) => void;
  bad: (err: ParseError, source: Endpoint, local: Endpoint) => void;
}

export function normalizeAddress(addr: string): string {
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/** The family of an address literal (a host name has no colon either: it goes as IPv4, as before). */
function family(addr: string): 4 | 6 { return addr.includes(':') ? 6 : 4; }

interface TcpConn {
  socket: net.Socket; framer: StreamFramer; local: Endpoint; remote: Endpoint; stallTimer: NodeJS.Timeout | null;
  /** Connected (and for TLS, handshake done): an outgoing connection is not until then. */
  up: boolean;
}

/**
 * UDP sockets and TCP listeners/connections. Emits whole parsed messages; malformed input is
 * reported through 'bad' (with what could be parsed) and never throws out of a socket handler.
 */
export class TransportLayer extends EventEmitter {
  readonly counters: TransportCounters = {
    messagesIn: 0, messagesOut: 0, badMessages: 0, bytesIn: 0, bytesOut: 0, tcpConnections: 0, sendErrors: 0,
  };
  readonly bound: Endpoint[] = [];
  private udp: Array<{ socket: dgram.Socket; local: Endpoint }> = [];
  private tcpServers: Array<{ server: net.Server; local: Endpoint }> = [];
  private tlsServers: Array<{ server: tls.Server; local: Endpoint; client: tls.ConnectionOptions }> = [];
  private conns = new Map<string, TcpConn>();
  private closed = false;
  /** Messages to one TCP or TLS peer written in one turn of the event loop go out in one write. */
  private readonly batcher = new WriteBatcher();

  /** The receive buffer the kernel granted each UDP socket (the smallest), bytes as it reports them. */
  udpReceiveBufferBytes = 0;

  constructor(
    private readonly limits: ParseLimits,
    private readonly logger: Logger,
    private readonly stalledConnectionMs = 30000,
    private readonly udpReceiveBufferWanted = 4 * 1024 * 1024,
  ) { super(); }

  override on<K extends keyof TransportEvents>(event: K, fn: TransportEvents[K]): this { return super.on(event, fn); }

  async listen(specs: ListenSpec[]): Promise<Endpoint[]> {
    for (const spec of specs) {
      if (spec.transport === 'udp') await this.listenUdp(spec);
      else if (spec.transport === 'tls') await this.listenTls(spec);
      else await this.listenTcp(spec);
    }
    return this.bound;
  }

  private listenUdp(spec: ListenSpec): Promise<void> {
    const socket = dgram.createSocket({ type: family(spec.address) === 6 ? 'udp6' : 'udp4', ipv6Only: family(spec.address) === 6 });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(spec.port, spec.address, () => {
        socket.off('error', reject);
        const a = socket.address();
        this.sizeUdpBuffers(socket, `${a.address}:${a.port}`);
        const local: Endpoint = { transport: 'udp', address: normalizeAddress(a.address), port: a.port };
        this.udp.push({ socket, local });
        this.bound.push(local);
        socket.on('error', (err) => this.logger.warn('udp socket error', { err: err.message }));
        socket.on('message', (data, rinfo) => {
          this.onData(data, { transport: 'udp', address: normalizeAddress(rinfo.address), port: rinfo.port }, local);
        });
        resolve();
      });
    });
  }

  /**
   * A burst of datagrams beyond the socket's receive buffer is dropped by the kernel unseen, so the
   * buffer is set large; the kernel caps it at net.core.rmem_max (Linux reports twice what it keeps
   * for data, its bookkeeping included).
   */
  private sizeUdpBuffers(socket: dgram.Socket, where: string): void {
    const wanted = this.udpReceiveBufferWanted;
    try { socket.setRecvBufferSize(wanted); } catch (err) {
      this.logger.warn('udp receive buffer not set', { socket: where, wanted, err: (err as Error).message });
    }
    try { socket.setSendBufferSize(wanted); } catch { /* the send side only queues our own bursts */ }
    let granted = 0;
    try { granted = socket.getRecvBufferSize(); } catch { /* not reported */ }
    this.udpReceiveBufferBytes = this.udpReceiveBufferBytes === 0 ? granted : Math.min(this.udpReceiveBufferBytes, granted);
    if (granted < wanted) {
      this.logger.warn('udp receive buffer smaller than configured: raise net.core.rmem_max', { socket: where, wanted, granted });
    }
  }

  private listenTcp(spec: ListenSpec): Promise<void> {
    const server = net.createServer((socket) => {
      const a = server.address() as net.AddressInfo;
      this.adopt(socket, { transport: 'tcp', address: normalizeAddress(a.address), port: a.port });
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: spec.port, host: spec.address, ipv6Only: family(spec.address) === 6 }, () => {
        server.off('error', reject);
        const a = server.address() as net.AddressInfo;
        const local: Endpoint = { transport: 'tcp', address: normalizeAddress(a.address), port: a.port };
        this.tcpServers.push({ server, local });
        this.bound.push(local);
        server.on('error', (err) => this.logger.warn('tcp server error', { err: err.message }));
        resolve();
      });
    });
  }

  private listenTls(spec: ListenSpec): Promise<void> {
    if (!spec.certFile || !spec.keyFile) throw new Error(`tls listener ${spec.address}:${spec.port} needs certFile and keyFile`);
    const cert = fs.readFileSync(spec.certFile);
    const key = fs.readFileSync(spec.keyFile);
    const ca = spec.caFile ? fs.readFileSync(spec.caFile) : undefined;
    const server = tls.createServer({ cert, key }, (socket) => {
      const a = server.address() as net.AddressInfo;
      this.adopt(socket, { transport: 'tls', address: normalizeAddress(a.address), port: a.port });
    });
    // A handshake that fails is the peer's problem; it must not reach the process.
    server.on('tlsClientError', (err) => this.logger.debug('tls handshake failed', { err: err.message }));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: spec.port, host: spec.address, ipv6Only: family(spec.address) === 6 }, () => {
        server.off('error', reject);
        const a = server.address() as net.AddressInfo;
        const local: Endpoint = { transport: 'tls', address: normalizeAddress(a.address), port: a.port };
        this.tlsServers.push({ server, local, client: { cert, key, ca, rejectUnauthorized: spec.rejectUnauthorized ?? true } });
        this.bound.push(local);
        server.on('error', (err) => this.logger.warn('tls server error', { err: err.message }));
        resolve();
      });
    });
  }

  private key(transport: TransportName, address: string, port: number): string {
    return `${transport}|${normalizeAddress(address)}|${port}`;
  }

  private adopt(socket: net.Socket, local: Endpoint, known?: Endpoint): TcpConn {
    socket.setNoDelay(true);
    const remote: Endpoint = known
      ?? { transport: local.transport, address: normalizeAddress(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    const conn: TcpConn = { socket, framer: new StreamFramer(this.limits.maxMessageBytes), local, remote, stallTimer: null, up: !known };
    if (known) socket.once(remote.transport === 'tls' ? 'secureConnect' : 'connect', () => { conn.up = true; });
    const k = this.key(remote.transport, remote.address, remote.port);
    this.conns.set(k, conn);
    this.counters.tcpConnections++;
    socket.on('data', (data) => this.onStream(conn, data));
    socket.on('error', (err) => this.logger.debug(`${remote.transport} connection error`, { remote: k, err: err.message }));
    socket.on('close', () => {
      if (conn.stallTimer) clearTimeout(conn.stallTimer);
      if (this.conns.get(k) === conn) this.conns.delete(k);
      this.counters.tcpConnections--;
    });
    return conn;
  }

  private onStream(conn: TcpConn, data: Buffer): void {
    let frames: Buffer[];
    try {
      frames = conn.framer.push(data);
    } catch (err) {
      // the stream cannot be resynchronised: answer if possible, then close
      this.counters.badMessages++;
      const pe = err instanceof ParseError ? err : new ParseError(400, String(err));
      this.emit('bad', pe, conn.remote, conn.local);
      conn.socket.end();
      setTimeout(() => conn.socket.destroy(), 1000).unref();
      return;
    }
    for (const f of frames) this.onData(f, conn.remote, conn.local);
    if (conn.framer.pending > 0) {
      if (!conn.stallTimer) {
        conn.stallTimer = setTimeout(() => {
          this.counters.badMessages++;
          this.logger.info('closing tcp connection stalled in the middle of a message', { remote: conn.remote });
          conn.socket.destroy();
        }, this.stalledConnectionMs);
        conn.stallTimer.unref();
      }
    } else if (conn.stallTimer) {
      clearTimeout(conn.stallTimer);
      conn.stallTimer = null;
    }
  }

  private onData(data: Buffer, source: Endpoint, local: Endpoint): void {
    this.counters.bytesIn += data.length;
    // keep-alive CRLFs on UDP
    if (data.length <= 4 && data.toString('latin1').trim() === '') return;
    let msg: SipMessage;
    try {
      msg = parseMessage(data, this.limits);
    } catch (err) {
      this.counters.badMessages++;
      const pe = err instanceof ParseError ? err : new ParseError(400, String(err));
      try { this.emit('bad', pe, source, local); } catch (e) { this.logger.error('bad-message handler failed', { err: String(e) }); }
      return;
    }
    this.counters.messagesIn++;
    try {
      this.emit('message', msg, source, local, data.length);
    } catch (e) {
      this.logger.error('message handler failed', { err: e instanceof Error ? e.stack : String(e) });
    }
  }

  /** The local endpoint messages to `target` leave from (for Via and Contact). */
  localFor(target: Endpoint): Endpoint {
    const fam = family(target.address);
    const list = target.transport === 'udp' ? this.udp.map((u) => u.local)
      : target.transport === 'tls' ? this.tlsServers.map((t) => t.local) : this.tcpServers.map((t) => t.local);
    const match = list.find((l) => family(l.address) === fam) ?? list[0];
    if (!match) throw new Error(`no ${target.transport} transport for ${target.address}`);
    return match;
  }

  hasTransport(t: TransportName): boolean {
    return t === 'udp' ? this.udp.length > 0 : t === 'tls' ? this.tlsServers.length > 0 : this.tcpServers.length > 0;
  }

  /**
   * Sends bytes; TCP and TLS reuse a connection to the same remote address and port or open one
   * (TLS verifying the peer as the listener's config says). onUnreachable is called when a
   * connection for this message cannot be opened (refused, or the handshake failed).
   */
  send(data: Buffer, target: Endpoint, onUnreachable?: (reason: string) => void): void {
    if (this.closed) return;
    this.counters.messagesOut++;
    this.counters.bytesOut += data.length;
    if (target.transport === 'udp') {
      const fam = family(target.address);
      const u = this.udp.find((x) => family(x.local.address) === fam) ?? this.udp[0];
      if (!u) { this.counters.sendErrors++; return; }
      u.socket.send(data, target.port, target.address, (err) => {
        if (err) { this.counters.sendErrors++; this.logger.debug('udp send failed', { err: err.message, target }); }
      });
      return;
    }
    const k = this.key(target.transport, target.address, target.port);
    let conn = this.conns.get(k);
    if (!conn || conn.socket.destroyed) {
      const local = this.localFor(target);
      const remote: Endpoint = { transport: target.transport, address: normalizeAddress(target.address), port: target.port };
      conn = this.adopt(this.connect(target), local, remote);
    }
    const socket = conn.socket;
    if (onUnreachable && !conn.up) {
      const failed = (err: Error) => { this.counters.sendErrors++; onUnreachable(err.message); };
      const ready = target.transport === 'tls' ? 'secureConnect' : 'connect';
      socket.once('error', failed);
      socket.once(ready, () => socket.off('error', failed));
    }
    this.batcher.write(conn.socket, data);
  }

  private connect(target: Endpoint): net.Socket {
    if (target.transport !== 'tls') return net.connect({ host: target.address, port: target.port, family: family(target.address) });
    const fam = family(target.address);
    const listener = this.tlsServers.find((t) => family(t.local.address) === fam) ?? this.tlsServers[0];
    return tls.connect({
      ...listener.client, host: target.address, port: target.port,
      // SNI takes a name, never an address (RFC 6066 §3)
      servername: target.serverName ?? (net.isIP(target.address) ? undefined : target.address),
      ...(target.serverName ? { checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(target.serverName as string, cert) } : {}),
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // What was written in this turn goes out before the connections are destroyed.
    this.batcher.flush();
    for (const c of this.conns.values()) c.socket.destroy();
    this.conns.clear();
    await Promise.all(this.udp.map((u) => new Promise<void>((r) => u.socket.close(() => r()))));
    await Promise.all(this.tcpServers.map((t) => new Promise<void>((r) => t.server.close(() => r()))));
    await Promise.all(this.tlsServers.map((t) => new Promise<void>((r) => t.server.close(() => r()))));
  }
}
