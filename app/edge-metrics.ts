import { Counter, Gauge, type Registry } from 'prom-client';

/** One of the edge's counters as a Prometheus metric. */
export interface EdgeMetricSpec {
  /** The key in the edge's `counters()`. */
  key: string;
  name: string;
  help: string;
  /** counter: a running total since the edge started; gauge: a level now. */
  type: 'counter' | 'gauge';
}

const c = (key: string, name: string, help: string): EdgeMetricSpec => ({ key, name: `tollgate_edge_${name}_total`, help, type: 'counter' });
const g = (key: string, name: string, help: string): EdgeMetricSpec => ({ key, name: `tollgate_edge_${name}`, help, type: 'gauge' });

/**
 * Every counter the edge keeps, by name. The edge process serves them on its own /metrics and the
 * application republishes them under the same names; a counter the edge adds without a line here
 * fails a test.
 */
export const EDGE_METRICS: readonly EdgeMetricSpec[] = [
  c('messagesIn', 'messages_received', 'SIP messages received (requests and responses, every transport)'),
  c('messagesOut', 'messages_sent', 'SIP messages sent, retransmissions included'),
  c('bytesIn', 'bytes_received', 'Bytes of SIP received'),
  c('bytesOut', 'bytes_sent', 'Bytes of SIP sent'),
  c('badMessages', 'bad_messages', 'Messages received that did not parse or broke a limit'),
  c('sendErrors', 'send_errors', 'Messages the network refused to send'),
  g('tcpConnections', 'tcp_connections', 'Open SIP TCP/TLS connections'),
  g('udpReceiveBufferBytes', 'udp_receive_buffer_bytes', 'Receive buffer the kernel granted the UDP sockets'),
  c('strayResponses', 'stray_responses', 'Responses that matched no client transaction'),
  c('retransmissionsAbsorbed', 'retransmissions_absorbed', 'Request retransmissions answered by their transaction, not passed on'),
  c('rejected', 'requests_rejected', 'Requests the edge answered itself with an error'),
  c('appRequests', 'app_requests', 'Requests handed to an application'),
  c('unsolicitedByes', 'unsolicited_byes', 'BYEs the edge sent itself, the application told afterwards'),
  c('timerHByes', 'ack_timeout_byes', 'BYEs sent because the ACK of a 2xx never came (Timer H)'),
  c('sessionTimerByes', 'session_timer_byes', 'BYEs sent because a session refresh did not come (RFC 4028)'),
  c('disconnectByes', 'app_disconnect_byes', 'BYEs sent for dialogs of an application that went away'),
  c('drainRefusals', 'drain_refusals', 'INVITEs refused with 503 while draining'),
  c('drainByes', 'drain_byes', 'BYEs sent at the end of a drain'),
  c('timerCCancels', 'timer_c_cancels', 'INVITEs cancelled by the edge at Timer C'),
  c('cancelGiveUps', 'cancel_give_ups', 'CANCELled INVITEs given up without a final response'),
  c('sessionRefreshes', 'session_refreshes', 'Session refreshes sent by the edge (RFC 4028)'),
  c('blacklistRejects', 'blacklist_rejects', 'Requests refused by the User-Agent blacklist'),
  c('blacklistDiscards', 'blacklist_discards', 'Requests dropped silently by the User-Agent blacklist'),
  c('optionsAnswered', 'options_answered', 'OPTIONS answered by the edge itself'),
  c('unansweredRequests', 'unanswered_requests', 'Requests an application left without a final response'),
  c('forkByes', 'fork_byes', 'BYEs sent to extra 2xx of a forked INVITE'),
  c('reliableProvisionals', 'reliable_provisionals', 'Reliable provisional responses sent (RFC 3262)'),
  c('pracksAnswered', 'pracks_answered', 'PRACKs answered'),
  c('pracksSent', 'pracks_sent', 'PRACKs sent'),
  g('liveServerTransactions', 'server_transactions', 'Server transactions in progress'),
  g('liveClientTransactions', 'client_transactions', 'Client transactions in progress'),
  g('liveDialogs', 'dialogs', 'Dialogs up'),
  c('orphansRecorded', 'orphaned_dialogs', 'Dialogs recorded as orphaned (their application went away)'),
  g('orphanRecords', 'orphan_records', 'Orphaned-dialog records kept for the applications to ask about'),
  g('finishedTransactions', 'finished_transactions', 'Finished transactions kept as compact records while they absorb retransmissions (Timers J/K/I/D)'),
  g('finishedTransactionBytes', 'finished_transaction_bytes', 'Bytes those finished-transaction records hold'),
  c('finishedTransactionsEvicted', 'finished_transactions_evicted', 'Finished-transaction records dropped early because edge.finishedTransactions was full'),
  g('appConnections', 'app_connections', 'Applications connected to the control port'),
  c('controlMessagesIn', 'control_messages_received', 'Control-protocol messages received from applications'),
  c('controlMessagesOut', 'control_messages_sent', 'Control-protocol messages sent to applications'),
];

/**
 * Registers the edge's metrics, read at scrape time. `read` gives the counters, or undefined when
 * they cannot be had (the edge process does not answer): then every series keeps its last value
 * instead of dropping to zero, which a counter would read as a restart.
 */
export function registerEdgeMetrics(registry: Registry, read: () => Promise<Record<string, number> | undefined>): void {
  for (const spec of EDGE_METRICS) {
    const registers = [registry];
    if (spec.type === 'counter') {
      new Counter({
        name: spec.name, help: spec.help, registers,
        async collect() {
          const v = (await read())?.[spec.key];
          if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return;
          // A counter only grows: it is set to the edge's running total, from zero.
          this.reset();
          this.inc(v);
        },
      });
    } else {
      new Gauge({
        name: spec.name, help: spec.help, registers,
        async collect() {
          const v = (await read())?.[spec.key];
          if (typeof v === 'number' && Number.isFinite(v)) this.set(v);
        },
      });
    }
  }
}

/** Shares one read among the collects of one scrape (and scrapes within 100 ms). */
export function sharedRead(read: () => Promise<Record<string, number> | undefined>): () => Promise<Record<string, number> | undefined> {
  let inFlight: Promise<Record<string, number> | undefined> | undefined;
  return () => (inFlight ??= read()
    .catch(() => undefined)
    .finally(() => setTimeout(() => { inFlight = undefined; }, 100).unref()));
}
