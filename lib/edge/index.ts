import type { Logger } from '../common/logger';
import { ControlServer } from './control/control-server';
import { EdgeCore } from './core';
import { DEFAULT_LIMITS } from './message/parser';
import { DEFAULT_FINISHED_TRANSACTION_LIMITS } from './transaction/finished-transactions';
import { DEFAULT_TIMERS } from './transaction/timers';
import { TransportLayer, type ListenSpec, type TransportName } from './transport/transport';

export interface EdgeOptions {
  /** Listeners (port 0 = any free port); TLS ones with certificate files, see ListenSpec. */
  sip: ListenSpec[];
  control: { address: string; port: number; secret: string };          // port 0 = any free port
  publicAddress?: string;            // host to put in Via/Contact when listening on 0.0.0.0
  timers?: { t1?: number; t2?: number; t4?: number; timerC?: number };    // ms
  sessionTimer?: { enabled: boolean; interval: number; minSE: number; refresher: 'uac' | 'uas' }; // seconds
  appDisconnectGraceMs?: number;
  /** How long the edge keeps when each dialog of a lost application ended (for `tollgate:orphans`). */
  orphanRetentionMs?: number;
  limits?: { maxMessageBytes?: number; maxHeaders?: number; stalledConnectionMs?: number };
  /** Receive (and send) buffer asked for each UDP socket, bytes (default 4 MiB); the kernel may cap it. */
  udpReceiveBufferBytes?: number;
  cdrEvents?: boolean;
  /**
   * Requests whose User-Agent matches a pattern (a regular expression, case-insensitive) are
   * answered `status` (default 403) or, with `discard`, dropped unanswered (drachtio's spammers).
   */
  userAgentBlacklist?: Array<{ pattern: string; action: 'reject' | 'discard'; status?: number }>;
  /**
   * OPTIONS: `answerWhenUnrouted` (default true) answers 200 when no application routes OPTIONS;
   * `autoRespondUserAgents` (patterns) get 200 from the edge even when an application does.
   */
  options?: { answerWhenUnrouted?: boolean; autoRespondUserAgents?: string[] };
  /**
   * A request the application never answers is given up after `timeoutMs` (default 64000, as
   * drachtio-server): dropped (`status` null, the default, as drachtio-server) or answered `status`.
   */
  unansweredRequests?: { timeoutMs?: number; status?: number | null };
  /**
   * Finished transactions are kept as compact records for the rest of their Timer J/K/I/L/M/D, to
   * absorb retransmissions; at most `maxEntries` (default 100000) and about `maxBytes` (default
   * 64 MiB). When full the oldest records go first (counter `finishedTransactionsEvicted`).
   */
  finishedTransactions?: { maxEntries?: number; maxBytes?: number };
}

export interface EdgeServer {
  readonly sipAddresses: Array<{ transport: TransportName; address: string; port: number }>; // as bound
  readonly controlPort: number;
  counters(): Record<string, number>;   // messages in/out, bad messages, live transactions/dialogs…
  /**
   * Stops taking new calls (new INVITEs get 503) and waits for the dialogs and pending INVITEs to
   * end; at `timeoutMs` the edge ends the rest itself (BYE, CANCEL, 503). Resolves within
   * `timeoutMs` + 2 s whatever the peers do. Call `close()` after it.
   */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_SESSION_TIMER = { enabled: false, interval: 1800, minSE: 90, refresher: 'uas' as const };

/** Starts the SIP edge: SIP transports, the transaction/dialog core and the drachtio control listener. */
export async function startEdge(options: EdgeOptions, logger: Logger): Promise<EdgeServer> {
  const limits = {
    maxMessageBytes: options.limits?.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes,
    maxHeaders: options.limits?.maxHeaders ?? DEFAULT_LIMITS.maxHeaders,
  };
  const transport = new TransportLayer(limits, logger, options.limits?.stalledConnectionMs ?? 30000,
    options.udpReceiveBufferBytes ?? 4 * 1024 * 1024);
  const timers = { ...DEFAULT_TIMERS, ...Object.fromEntries(Object.entries(options.timers ?? {}).filter(([, v]) => v !== undefined)) };
  let control: ControlServer | null = null;
  const core = new EdgeCore(transport, () => control?.connections ?? [], {
    timers,
    unansweredRequests: {
      timeoutMs: options.unansweredRequests?.timeoutMs ?? 64_000,
      status: options.unansweredRequests?.status ?? null,
    },
    userAgentBlacklist: (options.userAgentBlacklist ?? []).map((r) => ({
      pattern: new RegExp(r.pattern, 'i'), action: r.action, status: r.status ?? 403,
    })),
    options: {
      answerWhenUnrouted: options.options?.answerWhenUnrouted ?? true,
      autoRespondUserAgents: (options.options?.autoRespondUserAgents ?? []).map((p) => new RegExp(p, 'i')),
    },
    sessionTimer: options.sessionTimer ?? DEFAULT_SESSION_TIMER,
    appDisconnectGraceMs: options.appDisconnectGraceMs ?? 5000,
    orphanRetentionMs: options.orphanRetentionMs ?? 3_600_000,
    cdrEvents: options.cdrEvents ?? false,
    publicAddress: options.publicAddress,
    finishedTransactions: {
      maxEntries: options.finishedTransactions?.maxEntries ?? DEFAULT_FINISHED_TRANSACTION_LIMITS.maxEntries,
      maxBytes: options.finishedTransactions?.maxBytes ?? DEFAULT_FINISHED_TRANSACTION_LIMITS.maxBytes,
    },
  }, logger);
  control = new ControlServer({
    secret: options.control.secret,
    hostports: () => transport.bound.map((b) => `${b.transport}/${b.address.includes(':') ? `[${b.address}]` : b.address}:${b.port}`).join(','),
    sip: (cmd) => core.onAppSip(cmd),
    disconnected: (conn) => core.onAppDisconnected(conn),
    orphans: (ids) => core.orphans.query(ids),
    proxy: (conn, msgId, args, sipText) => core.onAppProxy(conn, msgId, args, sipText),
    routed: () => undefined,
  }, logger);
  try {
    await transport.listen(options.sip);
  } catch (err) {
    await transport.close();
    throw err;
  }
  transport.on('message', (msg, source, local, bytes) => core.onMessage(msg, source, local, bytes));
  transport.on('bad', (err, source) => core.onBadMessage(err, source));
  let controlPort: number;
  try {
    controlPort = await control.listen(options.control.address, options.control.port);
  } catch (err) {
    await transport.close();
    throw err;
  }
  const ctl = control;
  logger.info('edge listening', {
    sip: transport.bound, controlPort,
    udpReceiveBufferBytes: transport.udpReceiveBufferBytes || undefined,
    udpReceiveBufferWanted: options.udpReceiveBufferBytes ?? 4 * 1024 * 1024,
  });
  return {
    sipAddresses: transport.bound.map((b) => ({ ...b })),
    controlPort,
    counters: () => ({
      ...transport.counters,
      udpReceiveBufferBytes: transport.udpReceiveBufferBytes,
      ...core.counters,
      liveServerTransactions: core.liveServerTransactions,
      liveClientTransactions: core.liveClientTransactions,
      liveDialogs: core.liveDialogs,
      finishedTransactions: core.finishedTransactions.entries,
      finishedTransactionBytes: core.finishedTransactions.bytes,
      finishedTransactionsEvicted: core.finishedTransactions.evicted,
      orphansRecorded: core.orphans.recorded,
      orphanRecords: core.orphans.size,
      appConnections: ctl.connections.size,
      controlMessagesIn: ctl.messagesIn,
      controlMessagesOut: ctl.messagesOut,
    }),
    drain: (timeoutMs: number) => core.drain(timeoutMs),
    close: async () => {
      core.close();
      await ctl.close();
      await transport.close();
    },
  };
}
