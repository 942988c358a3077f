import type { Logger } from '../common/logger';
import { ControlServer } from './control/control-server';
import { EdgeCore } from './core';
import { DEFAULT_LIMITS } from './message/parser';
import { DEFAULT_TIMERS } from './transaction/timers';
import { TransportLayer } from './transport/transport';

export interface EdgeOptions {
  sip: Array<{ transport: 'udp' | 'tcp'; address: string; port: number }>; // port 0 = any free port
  control: { address: string; port: number; secret: string };          // port 0 = any free port
  publicAddress?: string;            // host to put in Via/Contact when listening on 0.0.0.0
  timers?: { t1?: number; t2?: number; t4?: number; timerC?: number };    // ms
  sessionTimer?: { enabled: boolean; interval: number; minSE: number; refresher: 'uac' | 'uas' }; // seconds
  appDisconnectGraceMs?: number;
  /** How long the edge keeps when each dialog of a lost application ended (for `tollgate:orphans`). */
  orphanRetentionMs?: number;
  limits?: { maxMessageBytes?: number; maxHeaders?: number; stalledConnectionMs?: number };
  cdrEvents?: boolean;
}

export interface EdgeServer {
  readonly sipAddresses: Array<{ transport: 'udp' | 'tcp'; address: string; port: number }>; // as bound
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
  const transport = new TransportLayer(limits, logger, options.limits?.stalledConnectionMs ?? 30000);
  const timers = { ...DEFAULT_TIMERS, ...Object.fromEntries(Object.entries(options.timers ?? {}).filter(([, v]) => v !== undefined)) };
  let control: ControlServer | null = null;
  const core = new EdgeCore(transport, () => control?.connections ?? [], {
    timers,
    sessionTimer: options.sessionTimer ?? DEFAULT_SESSION_TIMER,
    appDisconnectGraceMs: options.appDisconnectGraceMs ?? 5000,
    orphanRetentionMs: options.orphanRetentionMs ?? 3_600_000,
    cdrEvents: options.cdrEvents ?? false,
    publicAddress: options.publicAddress,
  }, logger);
  control = new ControlServer({
    secret: options.control.secret,
    hostports: () => transport.bound.map((b) => `${b.transport}/${b.address.includes(':') ? `[${b.address}]` : b.address}:${b.port}`).join(','),
    sip: (cmd) => core.onAppSip(cmd),
    disconnected: (conn) => core.onAppDisconnected(conn),
    orphans: (ids) => core.orphans.query(ids),
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
  logger.info('edge listening', { sip: transport.bound, controlPort });
  return {
    sipAddresses: transport.bound.map((b) => ({ ...b })),
    controlPort,
    counters: () => ({
      ...transport.counters,
      ...core.counters,
      liveServerTransactions: core.liveServerTransactions,
      liveClientTransactions: core.liveClientTransactions,
      liveDialogs: core.liveDialogs,
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
