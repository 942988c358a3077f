import type { Micros } from '../common/money';
import type {
  Account, AccountAudit, AccountPatch, LedgerEntry, NewAccount, NewLedgerEntry, RecoveryInfo, Reservation,
  ReservationMode, ReservationState, ReservationStep,
} from './types';

/**
 * Storage for credit control. Every method is one atomic unit: it happens whole or not at all.
 * Implementations: lib/db/prepaid-repository.ts (MariaDB/MySQL and SQLite), MemoryPrepaidStore.
 * Failures to reach the database are thrown as AppError code DB_UNAVAILABLE.
 */
export interface PrepaidStore {
  createAccount(input: NewAccount, at: Date): Promise<Account>;
  getAccount(id: number): Promise<Account | undefined>;
  findAccountByCode(code: string): Promise<Account | undefined>;
  listAccounts(): Promise<Account[]>;
  updateAccount(id: number, patch: AccountPatch, at: Date): Promise<Account>;

  /**
   * Post one ledger entry and move the balance by its amount. A replay of the key returns the
   * stored entry with replay=true; the caller compares content.
   */
  postEntry(entry: NewLedgerEntry): Promise<{ entry: LedgerEntry; replay: boolean }>;
  findEntry(idempotencyKey: string): Promise<LedgerEntry | undefined>;
  /** Newest first. */
  listEntries(accountId: number, limit: number): Promise<LedgerEntry[]>;
  /** Balance against the ledger, reserved against the active reservations, for every account. */
  auditAccounts(): Promise<AccountAudit[]>;

  /**
   * One conditional update: reserve `amount` and count one more live call only if the account is
   * active, unexpired, under its call limit and balance + creditLimit - reserved >= required.
   */
  openReservation(req: OpenReservation): Promise<OpenOutcome>;
  findReservation(callId: string): Promise<Reservation | undefined>;
  findStep(callId: string, stepKey: string): Promise<ReservationStep | undefined>;
  /** Change an active reservation by amountDelta (conditional when positive) and record the step. */
  applyStep(req: ApplyStep): Promise<StepOutcome>;
  /**
   * Record the answer time (and the recovery info, when given) of an active reservation whose money
   * does not change, in one statement (idempotent: the first answer wins).
   */
  markAnswered(callId: string, at: Date, recovery?: RecoveryInfo): Promise<void>;
  /** Settle, release or recover an active reservation; a charge posts one ledger entry. */
  closeReservation(req: CloseReservation): Promise<CloseOutcome>;
  checkpoint(callId: string, seconds: number, amount: Micros, at: Date): Promise<boolean>;

  heartbeat(instanceId: string, at: Date): Promise<void>;
  /**
   * Active reservations whose owner is not `self` and has no heartbeat at or after `aliveSince`,
   * by id, those with an id above `afterId` (a page).
   */
  listOrphanedReservations(self: string, aliveSince: Date, limit: number, afterId?: number): Promise<Reservation[]>;
  /** Active reservations owned by `owner` (a restarted instance finds those of its previous life), by id, above `afterId`. */
  listReservationsOwnedBy(owner: string, limit: number, afterId?: number): Promise<Reservation[]>;
}

export interface OpenReservation {
  accountId: number;
  callId: string;
  mode: ReservationMode;
  amount: Micros;
  required: Micros;
  seconds: number;
  final: boolean;
  ownerInstance: string;
  at: Date;
}

export type OpenOutcome =
  | { status: 'opened'; reservation: Reservation; step: ReservationStep }
  | { status: 'exists'; reservation: Reservation; step: ReservationStep | undefined }
  | { status: 'refused'; account: Account | undefined };

export interface ApplyStep {
  reservationId: number;
  callId: string;
  accountId: number;
  stepKey: string;
  requestedSeconds: number;
  /** Reserved amount the caller last saw: the step applies only if it is still the same. */
  expectedAmount: Micros;
  amountDelta: Micros;
  addedSeconds: number;
  final: boolean;
  answeredAt?: Date;
  /** Stored with the answer (the 'answer' step), by the same statement. */
  recovery?: RecoveryInfo;
  at: Date;
}

export type StepOutcome =
  | { status: 'applied'; reservation: Reservation; step: ReservationStep }
  | { status: 'exists'; step: ReservationStep }
  | { status: 'refused'; account: Account | undefined }
  | { status: 'stale'; reservation: Reservation | undefined };

export interface CloseReservation {
  reservationId: number;
  callId: string;
  accountId: number;
  state: Exclude<ReservationState, 'active'>;
  seconds: number;
  charge: Micros;
  expectedAmount: Micros;
  ledgerKey: string;
  /** Note of the charge's ledger entry (default: the seconds). */
  note?: string;
  at: Date;
}

export type CloseOutcome =
  | { status: 'closed' }
  | { status: 'stale'; reservation: Reservation | undefined };
