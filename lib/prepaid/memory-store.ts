import type { Micros } from '../common/money';
import { PrepaidError } from './errors';
import {
  holdLedgerKey, type ApplyStep, type CloseOutcome, type CloseReservation, type OpenOutcome, type OpenReservation,
  type PrepaidStore, type StepOutcome,
} from './store';
import type {
  Account, AccountAudit, AccountPatch, LedgerEntry, NewAccount, NewLedgerEntry, RecoveryInfo, Reservation, ReservationStep,
} from './types';

/**
 * A PrepaidStore in memory with the same atomic semantics as the SQL repository (each method runs
 * without an await in its critical part). For unit tests and for trying the domain without a database.
 * `unavailable = true` makes every call fail as an unreachable database would.
 */
export class MemoryPrepaidStore implements PrepaidStore {
  unavailable = false;
  private readonly accounts = new Map<number, Account>();
  private readonly entries: LedgerEntry[] = [];
  private readonly entryByKey = new Map<string, LedgerEntry>();
  private readonly reservations = new Map<string, Reservation>();
  private readonly steps = new Map<string, ReservationStep>();
  private readonly heartbeats = new Map<string, Date>();
  private nextId = { account: 1, entry: 1, reservation: 1 };

  private up(): void {
    if (this.unavailable) throw new PrepaidError('DB_UNAVAILABLE', 'database unavailable');
  }

  async createAccount(input: NewAccount, at: Date): Promise<Account> {
    this.up();
    for (const a of this.accounts.values()) {
      if (a.code === input.code) throw new PrepaidError('DUPLICATE_ACCOUNT', `account ${input.code} exists`, { code: input.code });
    }
    const account: Account = {
      id: this.nextId.account++, code: input.code, kind: input.kind, currency: input.currency,
      status: input.status ?? 'active', balance: 0n, reserved: 0n, creditLimit: input.creditLimit ?? 0n,
      lowBalanceThreshold: input.lowBalanceThreshold ?? null, maxCalls: input.maxCalls ?? null, liveCalls: 0,
      expiresAt: input.expiresAt ?? null, createdAt: at, updatedAt: at,
    };
    this.accounts.set(account.id, account);
    return { ...account };
  }

  async getAccount(id: number): Promise<Account | undefined> {
    this.up();
    const a = this.accounts.get(id);
    return a ? { ...a } : undefined;
  }

  async findAccountByCode(code: string): Promise<Account | undefined> {
    this.up();
    for (const a of this.accounts.values()) if (a.code === code) return { ...a };
    return undefined;
  }

  async accountStatuses(ids: readonly number[]): Promise<Map<number, Account['status']>> {
    this.up();
    const out = new Map<number, Account['status']>();
    for (const id of ids) { const a = this.accounts.get(id); if (a) out.set(id, a.status); }
    return out;
  }

  async listAccounts(): Promise<Account[]> {
    this.up();
    return [...this.accounts.values()].map((a) => ({ ...a }));
  }

  async updateAccount(id: number, patch: AccountPatch, at: Date): Promise<Account> {
    this.up();
    const a = this.accounts.get(id);
    if (!a) throw new PrepaidError('UNKNOWN_ACCOUNT', `no account ${id}`, { accountId: id });
    Object.assign(a, stripUndefined(patch), { updatedAt: at });
    return { ...a };
  }

  async postEntry(req: NewLedgerEntry): Promise<{ entry: LedgerEntry; replay: boolean }> {
    this.up();
    const existing = this.entryByKey.get(req.idempotencyKey);
    if (existing) return { entry: { ...existing }, replay: true };
    const a = this.accounts.get(req.accountId);
    if (!a) throw new PrepaidError('UNKNOWN_ACCOUNT', `no account ${req.accountId}`, { accountId: req.accountId });
    if (req.guardAvailable && a.balance + req.amount + a.creditLimit - a.reserved < 0n) {
      throw new PrepaidError('INSUFFICIENT_FUNDS', 'the entry would take the available balance below zero', { accountId: a.id });
    }
    a.balance += req.amount;
    a.updatedAt = req.at;
    const entry: LedgerEntry = {
      id: this.nextId.entry++, accountId: a.id, kind: req.kind, amount: req.amount, balanceAfter: a.balance,
      idempotencyKey: req.idempotencyKey, callId: req.callId ?? null, note: req.note ?? null, createdAt: req.at,
    };
    this.entries.push(entry);
    this.entryByKey.set(entry.idempotencyKey, entry);
    return { entry: { ...entry }, replay: false };
  }

  async findEntry(key: string): Promise<LedgerEntry | undefined> {
    this.up();
    const e = this.entryByKey.get(key);
    return e ? { ...e } : undefined;
  }

  async listEntries(accountId: number, limit: number): Promise<LedgerEntry[]> {
    this.up();
    return this.entries.filter((e) => e.accountId === accountId).reverse().slice(0, limit).map((e) => ({ ...e }));
  }

  async auditAccounts(): Promise<AccountAudit[]> {
    this.up();
    return [...this.accounts.values()].map((a) => {
      const ledgerSum = this.entries.filter((e) => e.accountId === a.id).reduce((s, e) => s + e.amount, 0n);
      const active = [...this.reservations.values()].filter((r) => r.state === 'active' && holdsOf(r).includes(a.id));
      const activeReserved = active.reduce((s, r) => s + r.amount, 0n);
      return {
        accountId: a.id, code: a.code, balance: a.balance, ledgerSum, reserved: a.reserved, activeReserved,
        liveCalls: a.liveCalls, activeReservations: active.length,
        ok: ledgerSum === a.balance && activeReserved === a.reserved && active.length === a.liveCalls,
      };
    });
  }

  async openReservation(req: OpenReservation): Promise<OpenOutcome> {
    this.up();
    const existing = this.reservations.get(req.callId);
    if (existing) return { status: 'exists', reservation: copy(existing), step: this.steps.get(stepId(req.callId, 'authorise')) };
    const holds = [req.accountId, ...(req.extraHolds ?? [])];
    if (new Set(holds).size !== holds.length) throw new PrepaidError('ILLEGAL_STATE', `call ${req.callId} holds money twice on one account`);
    const own = this.accounts.get(req.accountId);
    const ownFits = own !== undefined && own.currency === req.currency && own.kind === (req.mode === 'postpaid' ? 'postpaid' : 'prepaid');
    for (const id of holds) {
      const a = this.accounts.get(id);
      if (!a || !admits(a, req.at, req.required) || (id === req.accountId && !ownFits)) {
        return { status: 'refused', refusedBy: id, account: a ? { ...a } : undefined };
      }
    }
    for (const id of holds) {
      const a = this.accounts.get(id)!;
      a.reserved += req.amount;
      a.liveCalls += 1;
      a.updatedAt = req.at;
    }
    const r: Reservation = {
      id: this.nextId.reservation++, accountId: req.accountId, extraHolds: holds.slice(1), callId: req.callId, mode: req.mode, state: 'active',
      amount: req.amount, grantedSeconds: req.seconds, answeredAt: null, ownerInstance: req.ownerInstance,
      checkpointSeconds: 0, checkpointAmount: 0n, checkpointAt: null, settledSeconds: null, charged: null,
      recovery: null, createdAt: req.at, updatedAt: req.at,
    };
    this.reservations.set(r.callId, r);
    const step: ReservationStep = {
      reservationId: r.id, callId: r.callId, stepKey: 'authorise', requestedSeconds: req.seconds, addedSeconds: req.seconds,
      amountDelta: req.amount, grantedSeconds: req.seconds, reservedAfter: req.amount, final: req.final, createdAt: req.at,
    };
    this.steps.set(stepId(r.callId, step.stepKey), step);
    return { status: 'opened', reservation: copy(r), step: { ...step }, lowBalance: isLow(own!) };
  }

  async findReservation(callId: string): Promise<Reservation | undefined> {
    this.up();
    const r = this.reservations.get(callId);
    return r ? copy(r) : undefined;
  }

  async findStep(callId: string, stepKey: string): Promise<ReservationStep | undefined> {
    this.up();
    const s = this.steps.get(stepId(callId, stepKey));
    return s ? { ...s } : undefined;
  }

  async markAnswered(callId: string, at: Date, recovery?: RecoveryInfo): Promise<void> {
    this.up();
    const r = this.reservations.get(callId);
    if (r && r.state === 'active') {
      if (r.answeredAt === null) r.answeredAt = at;
      if (recovery && r.recovery === null) r.recovery = copyRecovery(recovery);
      r.updatedAt = at;
    }
  }

  async applyStep(req: ApplyStep): Promise<StepOutcome> {
    this.up();
    const existing = this.steps.get(stepId(req.callId, req.stepKey));
    if (existing) return { status: 'exists', step: { ...existing } };
    const r = this.reservations.get(req.callId);
    if (!r || r.state !== 'active' || r.amount !== req.expectedAmount || r.grantedSeconds !== req.expectedSeconds) {
      return { status: 'stale', reservation: r ? copy(r) : undefined };
    }
    for (const id of holdsOf(r)) {
      const a = this.accounts.get(id)!;
      if (req.amountDelta > 0n && a.balance + a.creditLimit - a.reserved < req.amountDelta) return { status: 'refused', refusedBy: id, account: { ...a } };
    }
    for (const id of holdsOf(r)) {
      const a = this.accounts.get(id)!;
      a.reserved += req.amountDelta;
      a.updatedAt = req.at;
    }
    r.amount += req.amountDelta;
    r.grantedSeconds += req.addedSeconds;
    if (req.answeredAt && r.answeredAt === null) r.answeredAt = req.answeredAt;
    if (req.recovery && r.recovery === null) r.recovery = copyRecovery(req.recovery);
    r.updatedAt = req.at;
    const step: ReservationStep = {
      reservationId: r.id, callId: r.callId, stepKey: req.stepKey, requestedSeconds: req.requestedSeconds,
      addedSeconds: req.addedSeconds, amountDelta: req.amountDelta, grantedSeconds: r.grantedSeconds,
      reservedAfter: r.amount, final: req.final, createdAt: req.at,
    };
    this.steps.set(stepId(r.callId, step.stepKey), step);
    return { status: 'applied', step: { ...step }, lowBalance: isLow(this.accounts.get(r.accountId)!) };
  }

  async closeReservation(req: CloseReservation): Promise<CloseOutcome> {
    this.up();
    const r = this.reservations.get(req.callId);
    if (!r || r.id !== req.reservationId || r.state !== 'active' || r.amount !== req.expectedAmount) {
      return { status: 'stale', reservation: r ? copy(r) : undefined };
    }
    const keyOf = (id: number): string => (id === r.accountId ? req.ledgerKey : holdLedgerKey(req.ledgerKey, id));
    if (req.charge !== 0n) {
      for (const id of holdsOf(r)) {
        if (this.entryByKey.has(keyOf(id))) throw new PrepaidError('IDEMPOTENCY_CONFLICT', `ledger key ${keyOf(id)} already used`, { key: keyOf(id) });
      }
    }
    r.state = req.state;
    r.settledSeconds = req.seconds;
    r.charged = req.charge;
    r.updatedAt = req.at;
    for (const id of holdsOf(r)) {
      const a = this.accounts.get(id)!;
      a.reserved -= r.amount;
      a.liveCalls -= 1;
      a.balance -= req.charge;
      a.updatedAt = req.at;
      if (req.charge === 0n) continue;
      const entry: LedgerEntry = {
        id: this.nextId.entry++, accountId: a.id, kind: 'charge', amount: -req.charge, balanceAfter: a.balance,
        idempotencyKey: keyOf(id), callId: r.callId, note: req.note ?? `${req.seconds} s${req.state === 'recovered' ? ' (recovered)' : ''}`, createdAt: req.at,
      };
      this.entries.push(entry);
      this.entryByKey.set(entry.idempotencyKey, entry);
    }
    return { status: 'closed' };
  }

  async checkpoint(callId: string, seconds: number, amount: Micros, at: Date): Promise<boolean> {
    this.up();
    const r = this.reservations.get(callId);
    if (!r || r.state !== 'active') return false;
    r.checkpointSeconds = seconds;
    r.checkpointAmount = amount;
    r.checkpointAt = at;
    return true;
  }

  async heartbeat(instanceId: string, at: Date): Promise<void> {
    this.up();
    this.heartbeats.set(instanceId, at);
  }

  async listOrphanedReservations(self: string, aliveSince: Date, limit: number, afterId = 0): Promise<Reservation[]> {
    this.up();
    const out: Reservation[] = [];
    for (const r of [...this.reservations.values()].sort((x, y) => x.id - y.id)) {
      if (out.length >= limit) break;
      if (r.state !== 'active' || r.ownerInstance === self || r.id <= afterId) continue;
      const beat = this.heartbeats.get(r.ownerInstance);
      if (!beat || beat < aliveSince) out.push(copy(r));
    }
    return out;
  }

  async listReservationsOwnedBy(owner: string, limit: number, afterId = 0): Promise<Reservation[]> {
    this.up();
    return [...this.reservations.values()]
      .filter((r) => r.state === 'active' && r.ownerInstance === owner && r.id > afterId)
      .sort((x, y) => x.id - y.id).slice(0, limit).map(copy);
  }
}

function copy(r: Reservation): Reservation {
  return { ...r, extraHolds: [...r.extraHolds] };
}

function holdsOf(r: Reservation): number[] {
  return [r.accountId, ...r.extraHolds];
}

function isLow(a: Account): boolean {
  return a.lowBalanceThreshold !== null && a.balance + a.creditLimit - a.reserved < a.lowBalanceThreshold;
}

function copyRecovery(info: RecoveryInfo): RecoveryInfo {
  return { dialogs: [...info.dialogs], rating: info.rating };
}

function stepId(callId: string, stepKey: string): string {
  return `${callId}\u0000${stepKey}`;
}

function admits(a: Account, at: Date, required: Micros): boolean {
  return a.status === 'active'
    && (a.expiresAt === null || a.expiresAt > at)
    && (a.maxCalls === null || a.liveCalls < a.maxCalls)
    && a.balance + a.creditLimit - a.reserved >= required;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
