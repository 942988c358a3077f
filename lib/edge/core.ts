import type { Logger } from '../common/logger';
import { AppBridge } from './control/app-bridge';
import { AppCommands } from './control/app-commands';
import type { AppConnection, SipCommand } from './control/control-server';
import { newCoreCounters, type CoreCounters, type CoreOptions, type EdgeContext, type UacPending } from './control/edge-context';
import { CallLifecycle } from './control/lifecycle';
import { NetworkRequests } from './control/network-requests';
import { NetworkResponses } from './control/network-responses';
import { UnansweredRequests } from './control/unanswered';
import { DialogLayer } from './dialog/dialog-layer';
import { OrphanRecords } from './dialog/orphans';
import { newBranch } from './message/identifiers';
import type { SipMessage } from './message/message';
import type { ParseError } from './message/parser';
import { responseFor } from './message/responses';
import { ProxyBridge } from './proxy/proxy-bridge';
import { ReliableProvisionals } from './transaction/reliable-provisionals';
import { TransactionLayer } from './transaction/transaction-layer';
import { Addressing } from './transport/addressing';
import type { Endpoint, TransportLayer } from './transport/transport';

export type { SessionTimerOptions } from './dialog/session-timers';
export type { CoreCounters, CoreOptions, OptionsPolicy, UnansweredRequestPolicy, UserAgentRule } from './control/edge-context';
export { SUPPORTED_OPTION_TAGS } from './control/edge-context';
export { DEFAULT_TIMER_C_MS } from './transaction/invite-guards';

/**
 * The SIP core of the edge, wiring its layers (see lib/edge/README.md, "Layers"): transport →
 * message → transaction → dialog → control bridge. Network messages go in through `onMessage`,
 * application commands through `onAppSip` and `onAppProxy`.
 */
export class EdgeCore {
  readonly counters: CoreCounters = newCoreCounters();
  readonly orphans: OrphanRecords;
  private readonly ctx: EdgeContext;
  private readonly requests: NetworkRequests;
  private readonly responses: NetworkResponses;
  private readonly commands: AppCommands;
  private readonly lifecycle: CallLifecycle;
  private readonly orphanPruner: NodeJS.Timeout;

  constructor(
    transport: TransportLayer,
    connections: () => Iterable<AppConnection>,
    opts: CoreOptions,
    logger: Logger,
  ) {
    const counters = this.counters;
    const orphans = this.orphans = new OrphanRecords(opts.orphanRetentionMs);
    const addr = new Addressing(transport, opts.publicAddress);
    const apps = new AppBridge(connections, opts.cdrEvents);
    const uacPending = new Map<string, UacPending>();
    const unanswered = new UnansweredRequests(opts.unansweredRequests, counters, logger);
    const txl: TransactionLayer = new TransactionLayer(transport, addr, opts.timers, counters, logger, {
      response: (tx, res, retrans) => this.responses.onClientResponse(tx, res, retrans),
      failed: (tx, status, reason) => this.responses.onClientFailed(tx, status, reason),
      serverEnded: (tx) => {
        unanswered.answered(tx);
        reliable1xx.forget(tx);
        proxies.serverEnded(tx);
        dialogs.serverEnded(tx);
      },
      clientEnded: (tx) => {
        proxies.clientEnded(tx);
        dialogs.clientEnded(tx);
        uacPending.delete(tx.id);
      },
      keepsLive: (tx) => proxies.owns(tx),
    }, opts.finishedTransactions);
    const dialogs = new DialogLayer<AppConnection>(transport, addr, txl,
      { timers: opts.timers, sessionInterval: opts.sessionTimer.interval }, orphans, counters, logger, {
        byeSent: (d, bye, tellApp) => {
          apps.cdr('stop', 'application', bye, 'normal-release');
          if (!tellApp) return;
          const text = bye.toString();
          apps.send(d.owner, apps.leader('application', Buffer.byteLength(text), d.target, 'unsolicited', d.id), text);
        },
      });
    const proxies = new ProxyBridge({
      logger,
      isClosed: () => this.ctx.state.closed,
      serverTx: (id) => txl.server(id),
      handOver: (tx) => { unanswered.answered(tx); tx.owner = null; },
      resolveTarget: (uri) => addr.resolveTarget(uri),
      localFor: (target) => transport.localFor(target),
      viaFor: (local, branch) => addr.viaFor(local, branch),
      hostFor: (local) => addr.hostFor(local),
      bound: () => transport.bound,
      newBranch,
      startClientTx: (req, target, branch) => txl.startClientTx(req, target, branch),
      cancelInvite: (tx) => { txl.cancelInvite(tx); },
      send: (bytes, target) => transport.send(bytes, target),
      strayResponse: () => { counters.strayResponses++; },
    });
    const reliable1xx = new ReliableProvisionals(opts.timers, {
      send: (bytes, target) => transport.send(bytes, target),
      noPrack: (tx) => tx.respond(responseFor(tx.request, 500, 'No PRACK', tx.toTag)),
    }, counters, logger);
    this.ctx = {
      transport, addr, apps, opts, logger, counters, txl, dialogs, reliable1xx, proxies, orphans, unanswered, uacPending,
      state: { closed: false, draining: false },
    };
    this.requests = new NetworkRequests(this.ctx);
    this.responses = new NetworkResponses(this.ctx);
    this.commands = new AppCommands(this.ctx);
    this.lifecycle = new CallLifecycle(this.ctx);
    this.orphanPruner = setInterval(() => orphans.prune(), Math.min(60_000, Math.max(1000, opts.orphanRetentionMs))).unref();
  }

  get liveServerTransactions(): number { return this.ctx.txl.liveServer; }
  get liveClientTransactions(): number { return this.ctx.txl.liveClient; }
  get liveDialogs(): number { return this.ctx.dialogs.size; }
  /** The bounded cache of finished transactions: records, their estimated bytes, and records evicted before their timer ran out. */
  get finishedTransactions(): { entries: number; bytes: number; evicted: number } {
    const f = this.ctx.txl.finished;
    return { entries: f.size, bytes: f.bytes, evicted: f.evicted };
  }

  onBadMessage(err: ParseError, source: Endpoint): void { this.requests.onBadMessage(err, source); }

  onMessage(msg: SipMessage, source: Endpoint, local: Endpoint, bytes: number): void {
    if (this.ctx.state.closed) return;
    if (msg.isRequest) this.requests.onRequest(msg, source, local, bytes);
    else this.responses.onResponse(msg, source, bytes);
  }

  onAppSip(cmd: SipCommand): void { this.commands.onAppSip(cmd); }

  /** The `proxy` command (drachtio-srf's proxyRequest). */
  onAppProxy(conn: AppConnection, msgId: string, args: string[], sipText: string): void {
    this.ctx.proxies.command(conn, msgId, args, sipText);
  }

  onAppDisconnected(conn: AppConnection): void { this.lifecycle.onAppDisconnected(conn); }

  /** See EdgeServer.drain. */
  drain(timeoutMs: number): Promise<void> { return this.lifecycle.drain(timeoutMs); }

  close(): void {
    this.ctx.state.closed = true;
    this.lifecycle.close();
    clearInterval(this.orphanPruner);
    this.ctx.unanswered.clear();
    this.ctx.reliable1xx.clearAll();
    this.ctx.dialogs.close();
    this.ctx.txl.close();
  }
}
