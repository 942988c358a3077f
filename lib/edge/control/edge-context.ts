import type { Logger } from '../../common/logger';
import type { Dialog } from '../dialog/dialog';
import type { DialogLayer } from '../dialog/dialog-layer';
import type { OrphanRecords } from '../dialog/orphans';
import type { SessionTimerOptions } from '../dialog/session-timers';
import type { ProxyBridge } from '../proxy/proxy-bridge';
import type { ClientTransaction } from '../transaction/client-transaction';
import type { FinishedTransactionLimits } from '../transaction/finished-transactions';
import type { ReliableProvisionals } from '../transaction/reliable-provisionals';
import type { TimerConfig } from '../transaction/timers';
import type { TransactionLayer } from '../transaction/transaction-layer';
import type { Addressing } from '../transport/addressing';
import type { Endpoint, TransportLayer } from '../transport/transport';
import type { AppBridge } from './app-bridge';
import type { AppConnection } from './control-server';
import type { UnansweredRequests } from './unanswered';

/** A User-Agent the edge refuses (drachtio's spammer list): answered `status`, or dropped unanswered. */
export interface UserAgentRule { pattern: RegExp; action: 'reject' | 'discard'; status: number }

export interface OptionsPolicy {
  /** OPTIONS no application routes get 200 from the edge (a keepalive peer marks a 503 down). */
  answerWhenUnrouted: boolean;
  /** OPTIONS from these User-Agents get 200 from the edge whatever the applications route. */
  autoRespondUserAgents: RegExp[];
}

/**
 * A request handed to an application that never answers it: after `timeoutMs` the edge forgets it
 * (drachtio-server's 64 s), and with a `status` answers it that first.
 */
export interface UnansweredRequestPolicy { timeoutMs: number; status: number | null }

export interface CoreOptions {
  timers: TimerConfig;
  unansweredRequests: UnansweredRequestPolicy;
  userAgentBlacklist: UserAgentRule[];
  options: OptionsPolicy;
  sessionTimer: SessionTimerOptions;
  appDisconnectGraceMs: number;
  orphanRetentionMs: number;
  cdrEvents: boolean;
  publicAddress?: string;
  finishedTransactions: FinishedTransactionLimits;
}

export interface CoreCounters {
  strayResponses: number; retransmissionsAbsorbed: number; rejected: number; appRequests: number;
  unsolicitedByes: number; timerHByes: number; sessionTimerByes: number; disconnectByes: number;
  drainRefusals: number; drainByes: number; timerCCancels: number; cancelGiveUps: number;
  sessionRefreshes: number; blacklistRejects: number; blacklistDiscards: number; optionsAnswered: number;
  unansweredRequests: number; forkByes: number; reliableProvisionals: number; pracksAnswered: number; pracksSent: number;
}

export function newCoreCounters(): CoreCounters {
  return {
    strayResponses: 0, retransmissionsAbsorbed: 0, rejected: 0, appRequests: 0,
    unsolicitedByes: 0, timerHByes: 0, sessionTimerByes: 0, disconnectByes: 0,
    drainRefusals: 0, drainByes: 0, timerCCancels: 0, cancelGiveUps: 0, sessionRefreshes: 0,
    blacklistRejects: 0, blacklistDiscards: 0, optionsAnswered: 0, unansweredRequests: 0, forkByes: 0,
    reliableProvisionals: 0, pracksAnswered: 0, pracksSent: 0,
  };
}

/** Option tags a peer may put in Require (RFC 3261 §8.2.2.3); anything else gets 420. */
export const SUPPORTED_OPTION_TAGS = new Set(['timer', '100rel', 'replaces', 'norefersub', 'path', 'outbound', 'gruu', 'tdialog']);

export const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'INFO', 'UPDATE', 'PRACK', 'REFER',
  'MESSAGE', 'SUBSCRIBE', 'NOTIFY', 'REGISTER', 'PUBLISH']);

/** An INVITE an application sent, until its final response (or its ACK, for a 2xx). */
export interface UacPending {
  tx: ClientTransaction; dialogId: string; owner: AppConnection; fromTag: string;
  /** The last reliable provisional (RFC 3262): where the application's PRACK goes, and its CSeq. */
  early?: { to: string; contact: string; routeSet: string[]; target: Endpoint; lastSeq: number };
}

export type AppDialog = Dialog<AppConnection>;

/** What the control-bridge parts of the core share: the layers below and the calls in progress. */
export interface EdgeContext {
  readonly transport: TransportLayer;
  readonly addr: Addressing;
  readonly apps: AppBridge;
  readonly opts: CoreOptions;
  readonly logger: Logger;
  readonly counters: CoreCounters;
  readonly txl: TransactionLayer;
  readonly dialogs: DialogLayer<AppConnection>;
  readonly reliable1xx: ReliableProvisionals;
  readonly proxies: ProxyBridge;
  readonly orphans: OrphanRecords;
  readonly unanswered: UnansweredRequests;
  /** INVITEs applications sent, by transaction id. */
  readonly uacPending: Map<string, UacPending>;
  readonly state: { closed: boolean; draining: boolean };
}
