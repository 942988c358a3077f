import type { Logger } from '../../common/logger';
import type { AppConnection } from '../control/control-server';
import type { SipMessage } from '../message/message';
import { parseAppMessage } from '../message/parser';
import { parseNameAddr, parseUri, parseVia } from '../message/uri';
import type { ClientTransaction } from '../transaction/client-transaction';
import type { ServerTransaction } from '../transaction/server-transaction';
import type { Endpoint, TransportName } from '../transport/transport';
import { parseProxyTimeout, ProxyOperation, type ProxyCommand, type ProxyHost } from './proxy';

/** Branch prefix of requests the edge forwards statelessly along a route set it recorded. */
export const ROUTED_BRANCH = 'z9hG4bKtgr';

/** Headers of the app's proxy message that the edge does not copy onto the forwarded request. */
const NOT_COPIED = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'content-length', 'record-route', 'max-forwards', 'route']);

/** What the proxy needs of the core. */
export interface ProxyCoreAccess {
  readonly logger: Logger;
  isClosed(): boolean;
  serverTx(id: string): ServerTransaction | undefined;
  /** The request is the proxy's now: no application answer is awaited for it. */
  handOver(tx: ServerTransaction): void;
  resolveTarget(uri: string): Promise<Endpoint>;
  localFor(target: Endpoint): Endpoint;
  viaFor(local: Endpoint, branch: string): string;
  hostFor(local: Endpoint): string;
  bound(): Endpoint[];
  newBranch(): string;
  startClientTx(req: SipMessage, target: Endpoint, branch: string): ClientTransaction;
  cancelInvite(tx: ClientTransaction): void;
  send(bytes: Buffer, target: Endpoint): void;
  strayResponse(): void;
}

/**
 * The control link's `proxy` command and what follows from it: proxy operations by transaction,
 * and stateless forwarding of requests along a route set the edge recorded (§16.4, §16.11).
 */
export class ProxyBridge {
  private byServer = new Map<ServerTransaction, ProxyOperation>();
  private byClient = new Map<ClientTransaction, ProxyOperation>();

  constructor(private readonly core: ProxyCoreAccess) {}

  /** `proxy|<txnId>|<remainInDialog>|<fullResponse>|<followRedirects>|<forking>|<provT>|<finalT>|<dest>…` */
  command(conn: AppConnection, msgId: string, args: string[], sipText: string): void {
    const [transactionId, remainInDialog, fullResponse, followRedirects, forking, provisional, final, ...destinations] = args;
    const tx = this.core.serverTx(transactionId ?? '');
    if (!tx || tx.finalSent) { conn.respond(msgId, 'NOK', `Unknown transaction id: ${transactionId}`); return; }
    let headers: Array<{ name: string; value: string }> = [];
    try {
      if (sipText.trim()) headers = parseAppMessage(sipText).headers.filter((h) => !NOT_COPIED.has(h.name));
    } catch { /* a message we cannot read adds no headers */ }
    const cmd: ProxyCommand = {
      msgId, transactionId, recordRoute: remainInDialog === 'remainInDialog', fullResponse: fullResponse === 'fullResponse',
      followRedirects: followRedirects === 'followRedirects', simultaneous: forking === 'simultaneous',
      provisionalTimeoutMs: parseProxyTimeout(provisional ?? ''), finalTimeoutMs: parseProxyTimeout(final ?? ''),
      destinations: destinations.filter(Boolean), headers,
    };
    this.core.handOver(tx);
    const op = new ProxyOperation(this.hostFor(conn, msgId), tx, cmd);
    this.byServer.set(tx, op);
    this.core.logger.debug('proxying request', { callId: tx.request.get('call-id'), destinations: cmd.destinations, simultaneous: cmd.simultaneous });
    void op.start().then((sent) => {
      if (sent > 0) return;
      conn.respond(msgId, 'NOK', `error proxying request to ${cmd.destinations.join(',')}`);
      op.failStart();
    });
  }

  private hostFor(conn: AppConnection, msgId: string): ProxyHost {
    const c = this.core;
    return {
      logger: c.logger,
      resolveTarget: (uri) => c.resolveTarget(uri),
      localFor: (target) => c.localFor(target),
      viaFor: (local, branch) => c.viaFor(local, branch),
      recordRouteFor: (local) => `<sip:${c.hostFor(local)}:${local.port}${local.transport === 'udp' ? '' : `;transport=${local.transport}`};lr>`,
      isOurUri: (value) => this.isOurUri(value),
      newBranch: () => c.newBranch(),
      startBranch: (op, req, target, branch) => {
        const tx = c.startClientTx(req, target, branch);
        if (tx.state !== 'terminated') this.byClient.set(tx, op);
        return tx;
      },
      cancelBranch: (tx) => { if (tx.state === 'calling' || tx.state === 'proceeding') c.cancelInvite(tx); },
      sendRaw: (bytes, target) => c.send(bytes, target),
      reportToApp: (parts) => conn.respond(msgId, ...parts),
      finished: (op) => c.logger.debug('proxy operation done', { callId: op.server.request.get('call-id') }),
    };
  }

  /** A response of a branch's client transaction: true when it was one. */
  clientResponse(tx: ClientTransaction, res: SipMessage, retransmission: boolean, source: Endpoint, bytes: number, time: string): boolean {
    const op = this.byClient.get(tx);
    if (op) op.onResponse(tx, res, retransmission, source, bytes, time);
    return op !== undefined;
  }

  /** A branch timed out (408) or could not be sent (503): true when it was one. */
  clientFailed(tx: ClientTransaction, status: number): boolean {
    const op = this.byClient.get(tx);
    if (op) op.onBranchFailed(tx, status);
    return op !== undefined;
  }

  /** The caller cancelled a proxied INVITE (it already got 200 and 487): true when it was one. */
  cancelled(tx: ServerTransaction): boolean {
    const op = this.byServer.get(tx);
    if (op) op.cancelAll();
    return op !== undefined;
  }

  /** True while a proxy operation uses the transaction (it forwards the 2xx retransmissions of its branches). */
  owns(tx: ServerTransaction | ClientTransaction): boolean {
    return this.byServer.has(tx as ServerTransaction) || this.byClient.has(tx as ClientTransaction);
  }

  clientEnded(tx: ClientTransaction): void { this.byClient.delete(tx); }
  serverEnded(tx: ServerTransaction): void { this.byServer.delete(tx); }

  /** True when a URI (or name-addr) names one of the edge's own listening addresses. */
  isOurUri(value: string): boolean {
    try {
      const uri = value.includes('<') ? parseNameAddr(value).uri : parseUri(value);
      return this.core.bound().some((b) => (uri.port ?? 5060) === b.port
        && (uri.host === b.address || uri.host === this.core.hostFor(b).replace(/^\[|\]$/g, '')));
    } catch { return false; }
  }

  /**
   * A request inside a dialog the edge record-routed as a proxy (its top Route is the edge): the
   * route entry is consumed and the request forwarded statelessly to the next hop.
   */
  forwardRouted(msg: SipMessage): boolean {
    const routes = msg.getAll('route');
    if (routes.length === 0 || !this.isOurUri(routes[0])) return false;
    msg.removeFirst('route');
    const next = msg.getAll('route')[0];
    const nextUri = next ? next.slice(next.indexOf('<') + 1, next.indexOf('>')) : msg.uri;
    const mf = msg.get('max-forwards');
    if (mf !== undefined && Number(mf) <= 1) return true;   // loops end here
    msg.set('max-forwards', String(mf !== undefined ? Number(mf) - 1 : 70));
    const topBranch = parseVia(msg.get('via') as string).params.get('branch') ?? '';
    void this.core.resolveTarget(nextUri).then((target) => {
      if (this.core.isClosed()) return;
      const local = this.core.localFor(target);
      // the same incoming branch gives the same outgoing one, so retransmissions match end to end
      const branch = `${ROUTED_BRANCH}${Buffer.from(`${topBranch}|${msg.method}`).toString('base64url').slice(0, 40)}`;
      msg.prepend('via', this.core.viaFor(local, branch));
      this.core.send(msg.toBuffer(), target);
    }, (err: unknown) => this.core.logger.info('routed request not forwarded', { uri: nextUri, err: String(err) }));
    return true;
  }

  /** A response to a request forwarded statelessly: our Via comes off and it follows the next one. */
  forwardRoutedResponse(res: SipMessage): void {
    res.removeFirst('via');
    const raw = res.get('via');
    let via;
    try { via = raw === undefined ? null : parseVia(raw); } catch { via = null; }
    if (!via) { this.core.strayResponse(); return; }
    const rport = via.params.get('rport');
    const transport: TransportName = via.transport === 'TCP' ? 'tcp' : via.transport === 'TLS' ? 'tls' : 'udp';
    this.core.send(res.toBuffer(), {
      transport, address: via.params.get('received') ?? via.host, port: rport ? Number(rport) : (via.port ?? 5060),
    });
  }
}
