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
  /** The status of each account asked for, in one read; an id with no account is left out. */
  accountStatuses(ids: readonly number[]): Promise<Map<number, Account['status']>>;
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
   * Reserve `amount` and count one more live call on every balance the call holds money on (its
   * account, then `extraHolds`), all or none, only if each account is active, unexpired, under its
   * call limit and balance + creditLimit - reserved >= required; the call's own account must also
   * be of the mode's kind and in `currency`. Opens the reservation and its 'authorise' step in the
   * same atomic write; a call id already opened answers `exists`.
   */
  openReservation(req: OpenReservation): Promise<OpenOutcome>;
  findReservation(callId: string): Promise<Reservation | undefined>;
  findStep(callId: string, stepKey: string): Promise<ReservationStep | undefined>;
  /**
   * Change an active reservation by amountDelta on every balance it holds (conditional on each when
   * positive), all or none, and record the step.
   */
  applyStep(req: ApplyStep): Promise<StepOutcome>;
  /**
   * Record the answer time (and the recovery info, when given) of an active reservation whose money
   * does not change, in one statement (idempotent: the first answer wins).
   */
  markAnswered(callId: string, at: Date, recovery?: RecoveryInfo): Promise<void>;
  /**
   * Settle, release or recover an active reservation: every balance it holds gives its hold back
   * and is charged `charge`, one ledger entry per balance (`ledgerKey` on the call's account,
   * `holdLedgerKey(ledgerKey, id)` on each extra hold).
   */
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

/**
 * Money of a call held on one balance: the call's own account, or a further balance above it
 * (a group pool over a member's cap). Every hold of a reservation holds the same amount.
 */
export interface OpenReservation {
  /** The call's own account: its reservation row, its refusals and its low-balance warning. */
  accountId: number;
  /** Further accounts that hold the same amount, all or none with accountId (none for a plain call). */
  extraHolds?: number[];
  callId: string;
  /** The tariff's currency: the call's account must be in it. */
  currency: string;
  mode: ReservationMode;
  amount: Micros;
  required: Micros;
  seconds: number;
  final: boolean;
  ownerInstance: string;
  at: Date;
}

/**
 * `opened`: `lowBalance` says whether the call's own account is below its low-balance threshold
 * after the hold. `refused`: `refusedBy` is the account that could not hold the money, `account`
 * its state as read after the refusal (undefined when it does not exist).
 */
export type OpenOutcome =
  | { status: 'opened'; reservation: Reservation; step: ReservationStep; lowBalance: boolean }
  | { status: 'exists'; reservation: Reservation; step: ReservationStep | undefined }
  | { status: 'refused'; refusedBy: number; account: Account | undefined };

export interface ApplyStep {
  reservationId: number;
  callId: string;
  accountId: number;
  stepKey: string;
  requestedSeconds: number;
  /** Reserved amount and granted seconds the caller last saw: the step applies only if both are still the same. */
  expectedAmount: Micros;
  expectedSeconds: number;
  amountDelta: Micros;
  addedSeconds: number;
  final: boolean;
  answeredAt?: Date;
  /** Stored with the answer (the 'answer' step), by the same statement. */
  recovery?: RecoveryInfo;
  at: Date;
}

/**
 * `applied`: the step holds the reservation's amount (reservedAfter) and grant (grantedSeconds)
 * after it; `lowBalance` as for OpenOutcome.
 */
export type StepOutcome =
  | { status: 'applied'; step: ReservationStep; lowBalance: boolean }
  | { status: 'exists'; step: ReservationStep }
  | { status: 'refused'; refusedBy: number; account: Account | undefined }
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
  /**
   * The call's record (its CDR, as the store's CDR table reads it), written by the same statement
   * as the charge, with the charge as its cost; a store without a CDR table ignores it.
   */
  callRecord?: string;
  at: Date;
}

export type CloseOutcome =
  /** `recorded`: the call record went with this close (not known for a close made before). */
  | { status: 'closed'; recorded?: boolean }
  | { status: 'stale'; reservation: Reservation | undefined };

/** The ledger key of a charge on an extra hold's account, from the call's own key. */
export function holdLedgerKey(ledgerKey: string, accountId: number): string {
  return `${ledgerKey}@${accountId}`;
}
