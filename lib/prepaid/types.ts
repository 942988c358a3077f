import type { Micros } from '../common/money';

/**
 * The price of one call under the tariff bound to it (the rating engine's CallQuote satisfies this).
 * The same function prices the quote, the reservation and the settlement, so they always agree.
 */
export interface CallPricer {
  currency: string;
  /** Seconds the first billing increment covers: a grant shorter than this is refused. */
  firstStepSeconds: number;
  /** Exact price in micro-units of that many billable seconds. */
  price(seconds: number): bigint;
  /** Most seconds whose price is <= money. */
  maxSeconds(money: bigint): number;
}

export type AccountKind = 'prepaid' | 'postpaid';
export type AccountStatus = 'active' | 'suspended' | 'closed';
export const ACCOUNT_KINDS: readonly AccountKind[] = ['prepaid', 'postpaid'];
export const ACCOUNT_STATUSES: readonly AccountStatus[] = ['active', 'suspended', 'closed'];

export interface Account {
  id: number;
  code: string;
  kind: AccountKind;
  currency: string;
  status: AccountStatus;
  balance: Micros;
  /** Money set aside for live calls; available = balance - reserved (+ credit limit). */
  reserved: Micros;
  /** How far the balance may go below zero (postpaid); 0 for prepaid accounts. */
  creditLimit: Micros;
  lowBalanceThreshold: Micros | null;
  /** Concurrent-call limit; null means unlimited. */
  maxCalls: number | null;
  liveCalls: number;
  expiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewAccount {
  code: string;
  kind: AccountKind;
  currency: string;
  status?: AccountStatus;
  creditLimit?: Micros;
  lowBalanceThreshold?: Micros | null;
  maxCalls?: number | null;
  expiresAt?: Date | null;
}

export interface AccountPatch {
  status?: AccountStatus;
  creditLimit?: Micros;
  lowBalanceThreshold?: Micros | null;
  maxCalls?: number | null;
  expiresAt?: Date | null;
}

export type LedgerKind = 'topup' | 'charge' | 'refund' | 'adjustment';
export const LEDGER_KINDS: readonly LedgerKind[] = ['topup', 'charge', 'refund', 'adjustment'];

export interface LedgerEntry {
  id: number;
  accountId: number;
  kind: LedgerKind;
  /** Signed change of the balance: top-ups and refunds positive, charges negative. */
  amount: Micros;
  balanceAfter: Micros;
  idempotencyKey: string;
  callId: string | null;
  note: string | null;
  createdAt: Date;
}

export interface NewLedgerEntry {
  accountId: number;
  kind: LedgerKind;
  amount: Micros;
  idempotencyKey: string;
  callId?: string | null;
  note?: string | null;
  /** When set, refuse (INSUFFICIENT_FUNDS) if the entry would leave available money below zero. */
  guardAvailable: boolean;
  at: Date;
}

export type ReservationState = 'active' | 'settled' | 'released' | 'recovered';
/** reserved: money set aside (prepaid); postpaid: tracked, nothing set aside. */
export type ReservationMode = 'reserved' | 'postpaid';

export interface Reservation {
  id: number;
  /** The call's own account. */
  accountId: number;
  /** Further accounts holding the same money, all or none with accountId (empty for a plain call). */
  extraHolds: number[];
  callId: string;
  mode: ReservationMode;
  state: ReservationState;
  /** Money currently set aside for the call (on each balance it holds). */
  amount: Micros;
  grantedSeconds: number;
  answeredAt: Date | null;
  ownerInstance: string;
  /** Seconds metered so far and their price, refreshed while the call lives. */
  checkpointSeconds: number;
  checkpointAmount: Micros;
  checkpointAt: Date | null;
  settledSeconds: number | null;
  charged: Micros | null;
  /** What a recovery needs to settle the call to its real end; null when not recorded (or unreadable). */
  recovery: RecoveryInfo | null;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Kept with an answered reservation so that, if this instance dies, another can ask the SIP server
 * when the call really ended and price it again.
 */
export interface RecoveryInfo {
  /** The SIP server's dialog ids of both legs (`<Call-ID>;from-tag=<tag>`). */
  dialogs: string[];
  /** The call's rating attributes (opaque to credit control), turned back into a pricer by the application. */
  rating: string;
}

/**
 * What the SIP server says about orphaned dialogs. known: a dialog with a Date ended then, with null
 * is still up (in the server's grace), absent is unknown to it; unknown: the server cannot tell
 * (it keeps no record, or restarted); retry: not connected right now.
 */
export type OrphanEnds =
  | { status: 'known'; ends: Map<string, Date | null> }
  | { status: 'unknown' }
  | { status: 'retry' };

/** One change to a reservation (authorise, answer, extend n), kept so a replay returns the first result. */
export interface ReservationStep {
  reservationId: number;
  callId: string;
  stepKey: string;
  requestedSeconds: number;
  addedSeconds: number;
  amountDelta: Micros;
  grantedSeconds: number;
  reservedAfter: Micros;
  final: boolean;
  createdAt: Date;
}

export type RefusalCode =
  | 'UNKNOWN_ACCOUNT'
  | 'SUSPENDED'
  | 'CLOSED'
  | 'EXPIRED'
  | 'CALL_LIMIT'
  | 'INSUFFICIENT_FUNDS'
  | 'CREDIT_LIMIT'
  | 'DB_UNAVAILABLE'
  | 'CURRENCY_MISMATCH';

export interface Refusal {
  code: RefusalCode;
  reason: string;
}

/** How a grant is backed: money set aside, a postpaid call, or admitted while the database was down. */
export type GrantMode = 'reserved' | 'postpaid' | 'offline';

export interface Grant {
  callId: string;
  accountId: number;
  reservationId: number | null;
  mode: GrantMode;
  /** Total seconds the call may run from answer. */
  grantedSeconds: number;
  /** Seconds this operation added (or removed, when an answer shortens the grant). */
  addedSeconds: number;
  /** Money set aside for the call after this operation. */
  reserved: Micros;
  /** No further extension will be granted: the call ends when the grant ends. */
  final: boolean;
  /** Why the grant is final (null when it is not): the money ran out, or the database could not be reached. */
  finalCause: FinalCause | null;
  /** True when this result is the stored result of an earlier identical request. */
  replay: boolean;
  /** Available money after this operation fell below the account's low-balance threshold. */
  lowBalance: boolean;
}

export type FinalCause = 'credit_exhausted' | 'database_unavailable';

export type Authorisation = { granted: true; grant: Grant } | { granted: false; refusal: Refusal };

export interface Settlement {
  callId: string;
  accountId: number;
  billableSeconds: number;
  /** Exact price of the billable seconds, charged as one ledger entry. */
  charged: Micros;
  /** Reserved money given back to the available balance. */
  returned: Micros;
  /** The database was unreachable: the settlement is in the local journal and will be replayed. */
  journalled: boolean;
  replay: boolean;
}

export interface AccountAudit {
  accountId: number;
  code: string;
  balance: Micros;
  ledgerSum: Micros;
  reserved: Micros;
  activeReserved: Micros;
  liveCalls: number;
  activeReservations: number;
  ok: boolean;
}
