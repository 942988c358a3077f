import { BaseError, ConnectionError, QueryTypes, Transaction, UniqueConstraintError } from 'sequelize';
import { AppError } from '../common/errors';
import type { Logger } from '../common/logger';
import { formatMoney, type Micros } from '../common/money';
import { PrepaidError } from '../prepaid/errors';
import type {
  ApplyStep, CloseOutcome, CloseReservation, OpenOutcome, OpenReservation, PrepaidStore, StepOutcome,
} from '../prepaid/store';
import type {
  Account, AccountAudit, AccountKind, AccountPatch, AccountStatus, LedgerEntry, LedgerKind, NewAccount, NewLedgerEntry,
  RecoveryInfo, Reservation, ReservationMode, ReservationState, ReservationStep,
} from '../prepaid/types';
import { GroupCommit, type Database } from './database';
import { MoneyColumns, type StoredAt } from './money-column';

type Row = Record<string, unknown>;
/** What the driver answers to a statement that returns no rows. */
type ResultHeader = { affectedRows: number; insertId: number };
/** How a statement goes to the driver (FastStatements.execute). */
type SentAs = 'prepared' | 'formatted';

export interface PrepaidRepositoryOptions {
  /**
   * Use INSERT ... RETURNING at authorise and steps (default: when the server has it, as MariaDB
   * does). False on MySQL/MariaDB calls the procedures of migration 0009 instead, as MySQL needs;
   * tests set it to run the MySQL path on MariaDB.
   */
  returning?: boolean;
}

/** The statements of a call's steps (see PrepaidRepository.hotStatements). */
interface HotStatements {
  authorise: string;
  answer: string;
  answerWithRecovery: string;
  step: string;
  settle: string;
  checkpoint: string;
  heartbeat: string;
}

/** Thrown inside a transaction to roll it back and report an outcome instead of an error. */
class Rollback<T> {
  constructor(readonly outcome: T) {}
}

/** Deadlocks (MySQL) are rare and short; SQLite's single writer may be busy with other writers for longer. */
const ATTEMPTS = { mysql: 6, sqlite: 40 };
/** Settlements in one statement at most (19 parameters each). */
const MAX_CLOSES = 100;
/** Answers recorded together in one UPDATE, at most. */
const MAX_ANSWERS = 100;

/** One call's answer as recorded: when, and the recovery info that rides on it. */
interface AnswerRecord {
  callId: string;
  at: Date;
  recovery: RecoveryInfo | undefined;
}
/** Accounts read in one statement by a suspension sweep. */
const STATUS_CHUNK = 500;

/**
 * Prepaid storage on MySQL/MariaDB and SQLite. Every step of a call is one SQL statement whose
 * triggers (migration 0008) hold, move or charge the money on every balance of the call, with the
 * conditions in the same statement: the database, not the application, decides whether the money
 * is there, so concurrent calls on one account cannot overspend it, and a statement happens whole
 * or not at all. Account administration (top-ups, adjustments) keeps its transactions.
 *
 * Money columns are exact on both dialects (DECIMAL(20,6) on MySQL, integers of micro-units on
 * SQLite: see money-column.ts), so the conditional updates compute and compare exactly. Every
 * amount is range-checked before it is sent, and every stored result is guarded to stay in range.
 * (On SQLite an intermediate sum beyond 64 bits, such as balance + credit_limit of a postpaid
 * account with both near 9.2e12 units, becomes a double: such a comparison is then approximate,
 * but no stored value ever is.)
 * SQLite has one writer: transactions are serialised here.
 */
export class PrepaidRepository implements PrepaidStore {
  private readonly mysql: boolean;
  private readonly money: MoneyColumns;
  private writeQueue: Promise<unknown> = Promise.resolve();
  private readonly closes: GroupCommit<CloseReservation, CloseOutcome>;
  private readonly answers: GroupCommit<AnswerRecord, void>;
  /** Whether authorise and steps use INSERT ... RETURNING, or (MySQL) the procedures of migration 0009. */
  readonly returning: boolean;
  /** The texts of a call's statements, built once: each call sends the same string (cheap to look up as a prepared statement). */
  private readonly hot: HotStatements;

  constructor(private readonly db: Database, private readonly logger: Logger = db.logger, options: PrepaidRepositoryOptions = {}) {
    this.mysql = db.dialect === 'mysql';
    // SQLite has no procedures: RETURNING there whatever is asked.
    this.returning = !this.mysql || (options.returning ?? db.server.returning);
    this.money = new MoneyColumns(db.dialect);
    this.closes = new GroupCommit(MAX_CLOSES, (req) => this.closeOne(req), (reqs) => this.closeMany(reqs), isUnreachable);
    this.answers = new GroupCommit(MAX_ANSWERS, (a) => this.answerOne(a), (as) => this.answerMany(as), isUnreachable);
    this.hot = this.hotStatements();
  }

  private hotStatements(): HotStatements {
    // The leading comment keeps the SQLite driver from taking authorise and steps for plain INSERTs, which return no rows.
    const authoriseLow = this.mysql ? 'low_balance' : `(SELECT ${LOW_BALANCE} FROM accounts a WHERE a.id = $1) AS low_balance`;
    const stepLow = this.mysql ? 'low_balance' : `(SELECT ${LOW_BALANCE} FROM accounts a WHERE a.id = $11) AS low_balance`;
    const answer = (recovery: boolean): string => `UPDATE reservations SET ${recovery ? 'recovery = COALESCE(recovery, $3), ' : ''}answered_at = COALESCE(answered_at, $1), updated_at = $1
       WHERE call_id = $2 AND state = 'active'`;
    return {
      authorise: this.returning
        ? `/* authorise */ INSERT INTO reservations (account_id, extra_holds, call_id, currency, mode, state, amount, required_amount, granted_seconds,
               authorised_final, owner_instance, checkpoint_seconds, checkpoint_amount, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'active', ${this.m(6)}, ${this.m(7)}, $8, $9, $10, 0, 0, 0, $11, $11)
             RETURNING id, ${authoriseLow}`
        : `CALL tollgate_authorise($1, $2, $3, $4, $5, ${this.m(6)}, ${this.m(7)}, $8, $9, $10, $11)`,
      answer: answer(false),
      answerWithRecovery: answer(true),
      step: this.returning
        ? `/* step */ INSERT INTO reservation_steps (reservation_id, call_id, step_key, requested_seconds, added_seconds, amount_delta, granted_seconds, reserved_after, final, created_at)
             VALUES ($1, $2, $3, $4, $5, ${this.m(6)}, $7, ${this.m(8)}, $9, $10)
             RETURNING ${stepLow}`
        : `CALL tollgate_apply_step($1, $2, $3, $4, $5, ${this.m(6)}, $7, ${this.m(8)}, $9, $10)`,
      settle: `UPDATE reservations SET state = $1, settled_seconds = $2, charged = ${this.m(3)}, ledger_key = $4, settle_note = $5, call_record = $10,
             version = version + 1, updated_at = $6
           WHERE id = $7 AND account_id = $8 AND state = 'active' AND ${this.eq('amount', 9)}`,
      checkpoint: `UPDATE reservations SET checkpoint_seconds = $1, checkpoint_amount = ${this.m(2)}, checkpoint_at = $3,
         answered_at = COALESCE(answered_at, $3), version = version + 1
       WHERE call_id = $4 AND state = 'active'`,
      // The parameter again on MySQL: 8.0.20+ deprecates VALUES() there, and MariaDB has no row alias (AS new).
      heartbeat: this.mysql
        ? 'INSERT INTO app_instances (instance_id, started_at, heartbeat_at) VALUES ($1, $2, $2) ON DUPLICATE KEY UPDATE heartbeat_at = $2'
        : 'INSERT INTO app_instances (instance_id, started_at, heartbeat_at) VALUES ($1, $2, $2) ON CONFLICT(instance_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at',
    };
  }

  private rows(): RowReader {
    return new RowReader(this.money, this.logger);
  }

  private toReservation(row: Row): Reservation {
    return this.rows().reservation(row);
  }

  /** The select list of a table, money columns read as exact text. */
  private cols(table: keyof typeof COLUMNS, alias?: string): string {
    const p = alias ? `${alias}.` : '';
    return COLUMNS[table].map((c) => (MONEY_COLUMNS.has(`${table}.${c}`) ? this.money.read(`${p}${c}`, c) : `${p}${c}`)).join(', ');
  }

  // ------------------------------------------------------------ SQL dialect helpers

  /** A money parameter. */
  private m(n: number): string {
    return this.money.param(n);
  }

  /** An amount to bind, refused (AMOUNT_OUT_OF_RANGE) when the column cannot hold it. */
  private b(micros: Micros, what: string): string {
    return this.money.bind(micros, what);
  }

  private ge(expr: string, n: number): string {
    return `${expr} >= ${this.m(n)}`;
  }

  private eq(expr: string, n: number): string {
    return `${expr} = ${this.m(n)}`;
  }

  /** The result of `expr` stays within what the column holds. */
  private fits(expr: string): string {
    return this.money.inRange(expr);
  }

  private forUpdate(): string {
    return this.mysql ? ' FOR UPDATE' : '';
  }

  // A statement outside a transaction goes straight to the driver on MySQL/MariaDB (db.direct):
  // every step of a call is one such statement. Transactions and SQLite go through Sequelize.

  private async select(sql: string, bind: unknown[], transaction?: Transaction, how: SentAs = 'prepared'): Promise<Row[]> {
    const direct = transaction ? undefined : this.db.direct;
    if (direct) return await direct.execute(sql, bind, how) as Row[];
    return this.db.sequelize.query<Row>(sql, { bind, type: QueryTypes.SELECT, transaction });
  }

  /** A stored procedure's CALL and the rows of its (one) result set. */
  private async call(sql: string, bind: unknown[]): Promise<Row[]> {
    const result = this.db.direct ? await this.db.direct.execute(sql, bind) : await this.db.sequelize.query(sql, { bind, type: QueryTypes.RAW });
    return callRows(result);
  }

  /**
   * Statements whose text varies with a batch's size (closeMany, accountStatuses) are sent
   * formatted, not prepared: every size prepared would stay cached, on each connection and on the
   * server, for the connection's life (a steady growth of memory, and the server's
   * max_prepared_stmt_count reached in the end).
   */
  private selectBatch(sql: string, bind: unknown[]): Promise<Row[]> {
    return this.select(sql, bind, undefined, 'formatted');
  }

  private updateBatch(sql: string, bind: unknown[]): Promise<number> {
    return this.update(sql, bind, undefined, 'formatted');
  }

  private async update(sql: string, bind: unknown[], transaction?: Transaction, how: SentAs = 'prepared'): Promise<number> {
    const direct = transaction ? undefined : this.db.direct;
    if (direct) return Number((await direct.execute(sql, bind, how) as ResultHeader).affectedRows);
    const changed = await this.db.sequelize.query(sql, { bind, type: QueryTypes.BULKUPDATE, transaction });
    return Number(changed);
  }

  private async insert(sql: string, bind: unknown[], transaction?: Transaction): Promise<number> {
    const direct = transaction ? undefined : this.db.direct;
    if (direct) return Number((await direct.execute(sql, bind) as ResultHeader).insertId);
    const [id] = await this.db.sequelize.query(sql, { bind, type: QueryTypes.INSERT, transaction });
    return Number(id);
  }

  /** One transaction, retried on deadlock or busy; database failures become DB_UNAVAILABLE. */
  private async tx<T>(fn: (t: Transaction) => Promise<T>): Promise<T | Rollback<unknown>> {
    const run = async (): Promise<T | Rollback<unknown>> => {
      for (let attempt = 1; ; attempt++) {
        try {
          // MySQL/MariaDB: bounded like the statements of a call (database.statementTimeoutMs).
          return this.db.direct
            ? await this.db.direct.transaction({}, fn)
            : await this.db.sequelize.transaction(this.mysql ? {} : { type: Transaction.TYPES.IMMEDIATE }, fn);
        } catch (err) {
          if (err instanceof Rollback) return err;
          if (attempt < ATTEMPTS[this.db.dialect] && isRetryable(err)) {
            await new Promise((r) => setTimeout(r, Math.min(attempt, 5) * 5 + Math.floor(Math.random() * 10)));
            continue;
          }
          throw storeError(err);
        }
      }
    };
    if (this.mysql) return run();
    const next = this.writeQueue.then(run, run);
    this.writeQueue = next.catch(() => undefined);
    return next;
  }

  /**
   * One statement outside a transaction (its triggers make it atomic), retried on deadlock or busy
   * like a transaction; on SQLite queued behind the other writes.
   */
  private async write<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn();
        } catch (err) {
          if (attempt < ATTEMPTS[this.db.dialect] && isRetryable(err)) {
            await new Promise((r) => setTimeout(r, Math.min(attempt, 5) * 5 + Math.floor(Math.random() * 10)));
            continue;
          }
          throw err;
        }
      }
    };
    if (this.mysql) return run();
    const next = this.writeQueue.then(run, run);
    this.writeQueue = next.catch(() => undefined);
    return next;
  }

  private async read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw storeError(err);
    }
  }

  // ------------------------------------------------------------ accounts

  async createAccount(input: NewAccount, at: Date): Promise<Account> {
    const out = await this.tx(async (t) => {
      try {
        return await this.insert(
          `INSERT INTO accounts (code, kind, currency, status, balance, reserved, credit_limit, low_balance_threshold, max_calls, live_calls, expires_at, created_at, updated_at)
           VALUES ($1, $2, $3, $4, 0, 0, ${this.m(5)}, ${this.m(6)}, $7, 0, $8, $9, $9)`,
          [input.code, input.kind, input.currency, input.status ?? 'active', this.b(input.creditLimit ?? 0n, 'credit limit'),
            input.lowBalanceThreshold == null ? null : this.b(input.lowBalanceThreshold, 'low-balance threshold'), input.maxCalls ?? null,
            input.expiresAt ? sqlDate(input.expiresAt) : null, sqlDate(at)],
          t,
        );
      } catch (err) {
        if (err instanceof UniqueConstraintError) throw new Rollback('duplicate');
        throw err;
      }
    });
    if (out instanceof Rollback) throw new PrepaidError('DUPLICATE_ACCOUNT', `account ${input.code} exists`, { code: input.code });
    return (await this.getAccount(out))!;
  }

  async getAccount(id: number): Promise<Account | undefined> {
    const rows = await this.read(() => this.select(`SELECT ${this.cols('accounts')} FROM accounts WHERE id = $1`, [id]));
    return rows[0] ? this.rows().account(rows[0]) : undefined;
  }

  async accountStatuses(ids: readonly number[]): Promise<Map<number, Account['status']>> {
    const out = new Map<number, Account['status']>();
    const distinct = [...new Set(ids)].filter((id) => Number.isSafeInteger(id));
    // Bounded statements: a sweep over tens of thousands of live calls reads in chunks.
    for (let i = 0; i < distinct.length; i += STATUS_CHUNK) {
      const chunk = distinct.slice(i, i + STATUS_CHUNK);
      const marks = chunk.map((_, k) => `$${k + 1}`).join(', ');
      const rows = await this.read(() => this.selectBatch(`SELECT id, status FROM accounts WHERE id IN (${marks})`, chunk));
      for (const r of rows) out.set(Number(r.id), String(r.status) as Account['status']);
    }
    return out;
  }

  async findAccountByCode(code: string): Promise<Account | undefined> {
    const rows = await this.read(() => this.select(`SELECT ${this.cols('accounts')} FROM accounts WHERE code = $1`, [code]));
    return rows[0] ? this.rows().account(rows[0]) : undefined;
  }

  async listAccounts(): Promise<Account[]> {
    const rows = await this.read(() => this.select(`SELECT ${this.cols('accounts')} FROM accounts ORDER BY id`, []));
    const reader = this.rows();
    return rows.map((r) => reader.account(r));
  }

  async updateAccount(id: number, patch: AccountPatch, at: Date): Promise<Account> {
    const sets: string[] = ['updated_at = $1'];
    const bind: unknown[] = [sqlDate(at)];
    const add = (column: string, value: unknown, money = false): void => {
      bind.push(value);
      sets.push(`${column} = ${money && value !== null ? this.m(bind.length) : `$${bind.length}`}`);
    };
    if (patch.status !== undefined) add('status', patch.status);
    if (patch.creditLimit !== undefined) add('credit_limit', this.b(patch.creditLimit, 'credit limit'), true);
    if (patch.lowBalanceThreshold !== undefined) add('low_balance_threshold', this.money.bindOrNull(patch.lowBalanceThreshold, 'low-balance threshold'), true);
    if (patch.maxCalls !== undefined) add('max_calls', patch.maxCalls);
    if (patch.expiresAt !== undefined) add('expires_at', patch.expiresAt === null ? null : sqlDate(patch.expiresAt));
    bind.push(id);
    const changed = await this.tx((t) => this.update(`UPDATE accounts SET ${sets.join(', ')} WHERE id = $${bind.length}`, bind, t));
    const account = await this.getAccount(id);
    if (!account || changed === 0) throw new PrepaidError('UNKNOWN_ACCOUNT', `no account ${id}`, { accountId: id });
    return account;
  }

  // ------------------------------------------------------------ ledger

  async postEntry(req: NewLedgerEntry): Promise<{ entry: LedgerEntry; replay: boolean }> {
    const existing = await this.findEntry(req.idempotencyKey);
    if (existing) return { entry: existing, replay: true };
    const amount = this.b(req.amount, `${req.kind} amount`);
    const at = sqlDate(req.at);
    const out = await this.tx(async (t) => {
      const guard = req.guardAvailable ? ` AND ${this.ge(`balance + ${this.m(1)} + credit_limit - reserved`, 4)}` : '';
      const changed = await this.update(
        `UPDATE accounts SET balance = balance + ${this.m(1)}, updated_at = $2 WHERE id = $3 AND ${this.fits(`balance + ${this.m(1)}`)}${guard}`,
        req.guardAvailable ? [amount, at, req.accountId, this.b(0n, 'zero')] : [amount, at, req.accountId], t,
      );
      if (changed === 0) {
        const [row] = await this.select(`SELECT ${this.money.read('balance', 'balance')} FROM accounts WHERE id = $1`, [req.accountId], t);
        if (row && !this.money.fits(this.rows().money(row.balance, { table: 'accounts', column: 'balance', id: req.accountId }) + req.amount)) throw new Rollback('range');
        throw new Rollback('refused');
      }
      const balanceAfter = await this.balanceOf(req.accountId, t);
      try {
        const id = await this.insert(
          `INSERT INTO ledger_entries (account_id, kind, amount, balance_after, idempotency_key, call_id, note, created_at)
           VALUES ($1, $2, ${this.m(3)}, ${this.m(4)}, $5, $6, $7, $8)`,
          [req.accountId, req.kind, amount, this.b(balanceAfter, 'balance'), req.idempotencyKey, req.callId ?? null, req.note ?? null, at], t,
        );
        return { id, balanceAfter };
      } catch (err) {
        if (err instanceof UniqueConstraintError) throw new Rollback('duplicate');
        throw err;
      }
    });
    if (out instanceof Rollback) {
      if (out.outcome === 'duplicate') {
        const entry = await this.findEntry(req.idempotencyKey);
        if (entry) return { entry, replay: true };
      }
      if (out.outcome === 'range') {
        throw new PrepaidError('AMOUNT_OUT_OF_RANGE', `${req.kind} of ${formatMoney(req.amount)} would take the balance of account ${req.accountId} outside what the database holds (${this.money.rangeText()})`,
          { accountId: req.accountId, amount: formatMoney(req.amount) });
      }
      if (!(await this.getAccount(req.accountId))) throw new PrepaidError('UNKNOWN_ACCOUNT', `no account ${req.accountId}`, { accountId: req.accountId });
      throw new PrepaidError('INSUFFICIENT_FUNDS', 'the entry would take the available balance below zero', { accountId: req.accountId });
    }
    return {
      entry: {
        id: out.id, accountId: req.accountId, kind: req.kind, amount: req.amount, balanceAfter: out.balanceAfter,
        idempotencyKey: req.idempotencyKey, callId: req.callId ?? null, note: req.note ?? null, createdAt: req.at,
      },
      replay: false,
    };
  }

  private async balanceOf(accountId: number, t: Transaction): Promise<Micros> {
    const rows = await this.select(`SELECT ${this.money.read('balance', 'balance')} FROM accounts WHERE id = $1${this.forUpdate()}`, [accountId], t);
    return this.rows().money(rows[0]!.balance, { table: 'accounts', column: 'balance', id: accountId });
  }

  async findEntry(key: string): Promise<LedgerEntry | undefined> {
    const rows = await this.read(() => this.select(`SELECT ${this.cols('ledger_entries')} FROM ledger_entries WHERE idempotency_key = $1`, [key]));
    return rows[0] ? this.rows().entry(rows[0]) : undefined;
  }

  async listEntries(accountId: number, limit: number): Promise<LedgerEntry[]> {
    const n = Math.max(1, Math.floor(limit));
    const rows = await this.read(() => this.select(`SELECT ${this.cols('ledger_entries')} FROM ledger_entries WHERE account_id = $1 ORDER BY id DESC LIMIT ${n}`, [accountId]));
    const reader = this.rows();
    return rows.map((r) => reader.entry(r));
  }

  async auditAccounts(): Promise<AccountAudit[]> {
    return this.read(async () => {
      const reader = this.rows();
      const accounts = (await this.select(`SELECT ${this.cols('accounts')} FROM accounts ORDER BY id`, [])).map((r) => reader.account(r));
      // Summed in SQL: exact on both dialects (DECIMAL sums on MySQL, 64-bit integer sums on SQLite,
      // which fail rather than overflow).
      const ledger = new Map<number, Micros>();
      for (const row of await this.select(`SELECT account_id, ${this.money.read('SUM(amount)', 'total')} FROM ledger_entries GROUP BY account_id`, [])) {
        ledger.set(Number(row.account_id), this.money.parseSum(row.total, { table: 'ledger_entries', column: 'SUM(amount)', id: `account ${String(row.account_id)}` }));
      }
      const active = new Map<number, { sum: Micros; count: number }>();
      // The calls' own accounts, then the extra holds (every hold holds the reservation's amount).
      const extraHolds = this.mysql
        ? `SELECT h.account_id, ${this.money.read('SUM(r.amount)', 'total')}, COUNT(*) AS n FROM reservations r
             JOIN JSON_TABLE(r.extra_holds, '$[*]' COLUMNS (account_id BIGINT PATH '$')) h
            WHERE r.state = 'active' AND r.extra_holds IS NOT NULL GROUP BY h.account_id`
        : `SELECT h.value AS account_id, ${this.money.read('SUM(r.amount)', 'total')}, COUNT(*) AS n FROM reservations r, json_each(r.extra_holds) h
            WHERE r.state = 'active' AND r.extra_holds IS NOT NULL GROUP BY h.value`;
      for (const sql of [`SELECT account_id, ${this.money.read('SUM(amount)', 'total')}, COUNT(*) AS n FROM reservations WHERE state = 'active' GROUP BY account_id`, extraHolds]) {
        for (const row of await this.select(sql, [])) {
          const id = Number(row.account_id);
          const sum = this.money.parseSum(row.total, { table: 'reservations', column: 'SUM(amount)', id: `account ${String(row.account_id)}` });
          const was = active.get(id) ?? { sum: 0n, count: 0 };
          active.set(id, { sum: was.sum + sum, count: was.count + Number(row.n) });
        }
      }
      return accounts.map((a) => {
        const ledgerSum = ledger.get(a.id) ?? 0n;
        const act = active.get(a.id) ?? { sum: 0n, count: 0 };
        return {
          accountId: a.id, code: a.code, balance: a.balance, ledgerSum, reserved: a.reserved, activeReserved: act.sum,
          liveCalls: a.liveCalls, activeReservations: act.count,
          ok: ledgerSum === a.balance && act.sum === a.reserved && act.count === a.liveCalls,
        };
      });
    });
  }

  // ------------------------------------------------------------ reservations

  async openReservation(req: OpenReservation): Promise<OpenOutcome> {
    const at = sqlDate(req.at);
    const amount = this.b(req.amount, 'reservation amount');
    const required = this.b(req.required, 'required amount');
    const extra = req.extraHolds ?? [];
    const holds = [req.accountId, ...extra];
    if (new Set(holds).size !== holds.length || !holds.every((id) => Number.isSafeInteger(id))) {
      throw new PrepaidError('ILLEGAL_STATE', `call ${req.callId} must hold money once on each of distinct accounts`, { holds });
    }
    // The triggers hold the money on every balance and record the 'authorise' step.
    const outcome = await this.write(async (): Promise<'refused' | 'exists' | { id: number; lowBalance: boolean }> => {
      try {
        const bind = [req.accountId, extra.length > 0 ? JSON.stringify(extra) : null, req.callId, req.currency, req.mode, amount, required, req.seconds,
          req.final, req.ownerInstance, at];
        const [row] = this.returning ? await this.select(this.hot.authorise, bind) : await this.call(this.hot.authorise, bind);
        return { id: Number(row!.id), lowBalance: Boolean(Number(row!.low_balance)) };
      } catch (err) {
        const signal = signalOf(err);
        if (signal === 'refused') return 'refused';
        if (err instanceof UniqueConstraintError) return 'exists';
        throw storeError(err);
      }
    }).catch((err: unknown) => { throw storeError(err); });
    if (outcome === 'refused' || outcome === 'exists') {
      // One read tells why: the accounts as they are now, and whether the call id is already open.
      const rows = await this.read(() => this.select(
        `SELECT ${this.cols('accounts')}, (SELECT COUNT(*) FROM reservations WHERE call_id = $1) AS opened
         FROM accounts WHERE id IN (${holds.map((_, i) => `$${i + 2}`).join(', ')})`,
        [req.callId, ...holds],
      ));
      if (outcome === 'exists' || rows.some((r) => Number(r.opened) > 0) || rows.length === 0) {
        const reservation = await this.findReservation(req.callId);
        if (reservation) return { status: 'exists', reservation, step: await this.findStep(req.callId, 'authorise') };
      }
      const reader = this.rows();
      const accounts = new Map(rows.map((r) => [Number(r.id), reader.account(r)]));
      const refusedBy = holds.find((id) => {
        const a = accounts.get(id);
        return !a || !admits(a, req.at, req.required) || (id === req.accountId && (a.currency !== req.currency || a.kind !== kindOf(req.mode)));
      }) ?? req.accountId;
      return { status: 'refused', refusedBy, account: accounts.get(refusedBy) };
    }
    const reservation: Reservation = {
      id: outcome.id, accountId: req.accountId, extraHolds: [...extra], callId: req.callId, mode: req.mode, state: 'active', amount: req.amount,
      grantedSeconds: req.seconds, answeredAt: null, ownerInstance: req.ownerInstance, checkpointSeconds: 0,
      checkpointAmount: 0n, checkpointAt: null, settledSeconds: null, charged: null, recovery: null, createdAt: req.at, updatedAt: req.at,
    };
    const step: ReservationStep = {
      reservationId: outcome.id, callId: req.callId, stepKey: 'authorise', requestedSeconds: req.seconds, addedSeconds: req.seconds,
      amountDelta: req.amount, grantedSeconds: req.seconds, reservedAfter: req.amount, final: req.final, createdAt: req.at,
    };
    return { status: 'opened', reservation, step, lowBalance: outcome.lowBalance };
  }

  async findReservation(callId: string): Promise<Reservation | undefined> {
    const rows = await this.read(() => this.select(`SELECT ${this.cols('reservations')} FROM reservations WHERE call_id = $1`, [callId]));
    return rows[0] ? this.toReservation(rows[0]) : undefined;
  }

  async findStep(callId: string, stepKey: string): Promise<ReservationStep | undefined> {
    const rows = await this.read(() => this.select(`SELECT ${this.cols('reservation_steps')} FROM reservation_steps WHERE call_id = $1 AND step_key = $2`, [callId, stepKey]));
    return rows[0] ? this.rows().step(rows[0]) : undefined;
  }

  /**
   * Answers are group-committed, as settlements are: those made while one is being written go
   * together as one UPDATE. Each call still waits for its own answer to be committed.
   */
  markAnswered(callId: string, at: Date, recovery?: RecoveryInfo): Promise<void> {
    return this.answers.run({ callId, at, recovery });
  }

  private async answerOne(a: AnswerRecord): Promise<void> {
    const when = sqlDate(a.at);
    const bind: unknown[] = [when, a.callId];
    if (a.recovery) bind.push(recoveryText(a.recovery));
    // The recovery info rides on the answer's own statement: no extra round trip per call.
    await this.write(() => this.update(a.recovery ? this.hot.answerWithRecovery : this.hot.answer, bind)).catch((err: unknown) => { throw storeError(err); });
  }

  /**
   * Several answers in one UPDATE, each row set as answerOne would set it. Only reservation rows
   * are written (no trigger acts on an answer), each call's own, so a batch shares no lock with
   * another. Any error makes the caller write each alone.
   */
  private async answerMany(as: AnswerRecord[]): Promise<void[]> {
    const bind: unknown[] = [];
    const p = (v: unknown): string => { bind.push(v); return `$${bind.length}`; };
    const byCall = (value: (a: AnswerRecord) => string): string => `CASE call_id ${as.map((a) => `WHEN ${p(a.callId)} THEN ${value(a)}`).join(' ')} END`;
    const recovery = as.some((a) => a.recovery)
      ? `recovery = COALESCE(recovery, ${byCall((a) => p(a.recovery ? recoveryText(a.recovery) : null))}), `
      : '';
    const when = byCall((a) => p(sqlDate(a.at)));
    const sql = `UPDATE reservations SET ${recovery}answered_at = COALESCE(answered_at, ${when}), updated_at = ${when}
      WHERE call_id IN (${as.map((a) => p(a.callId)).join(', ')}) AND state = 'active'`;
    await this.write(() => this.updateBatch(sql, bind)).catch((err: unknown) => { throw storeError(err); });
    return as.map(() => undefined);
  }

  async applyStep(req: ApplyStep): Promise<StepOutcome> {
    const at = sqlDate(req.at);
    const delta = this.b(req.amountDelta, 'reservation change');
    const reservedAfter = this.b(req.expectedAmount + req.amountDelta, 'reserved amount');
    const grantedAfter = req.expectedSeconds + req.addedSeconds;
    // The step's row says where the reservation was (reserved_after - amount_delta, granted_seconds -
    // added_seconds) and where it goes; the triggers apply it only from there, on every balance.
    const bind: unknown[] = [req.reservationId, req.callId, req.stepKey, req.requestedSeconds, req.addedSeconds, delta, grantedAfter, reservedAfter, req.final, at];
    if (!this.mysql) bind.push(req.accountId);
    // A step that also answers (a re-priced answer) records the answer first, with its own
    // statement: were the process to die between the two, a recovery still knows the call was
    // answered and charges it within the money held before the step.
    if (req.answeredAt) await this.markAnswered(req.callId, req.answeredAt, req.recovery);
    const outcome = await this.write(async (): Promise<'stale' | 'refused' | 'exists' | boolean> => {
      try {
        const [row] = this.returning ? await this.select(this.hot.step, bind) : await this.call(this.hot.step, bind);
        return Boolean(Number(row!.low_balance));
      } catch (err) {
        const signal = signalOf(err);
        if (signal === 'stale' || signal === 'refused') return signal;
        if (err instanceof UniqueConstraintError) return 'exists';
        throw storeError(err);
      }
    }).catch((err: unknown) => { throw storeError(err); });
    if (typeof outcome === 'boolean') {
      const step: ReservationStep = {
        reservationId: req.reservationId, callId: req.callId, stepKey: req.stepKey, requestedSeconds: req.requestedSeconds,
        addedSeconds: req.addedSeconds, amountDelta: req.amountDelta, grantedSeconds: grantedAfter,
        reservedAfter: req.expectedAmount + req.amountDelta, final: req.final, createdAt: req.at,
      };
      return { status: 'applied', step, lowBalance: outcome };
    }
    if (outcome === 'refused') {
      const r = await this.findReservation(req.callId);
      const holds = r ? [r.accountId, ...r.extraHolds] : [req.accountId];
      const reader = this.rows();
      const rows = await this.read(() => this.select(`SELECT ${this.cols('accounts')} FROM accounts WHERE id IN (${holds.map((_, i) => `$${i + 1}`).join(', ')})`, holds));
      const accounts = new Map(rows.map((row) => [Number(row.id), reader.account(row)]));
      const refusedBy = holds.find((id) => {
        const a = accounts.get(id);
        return !a || a.balance + a.creditLimit - a.reserved < req.amountDelta;
      }) ?? req.accountId;
      return { status: 'refused', refusedBy, account: accounts.get(refusedBy) };
    }
    const step = await this.findStep(req.callId, req.stepKey);
    if (step) return { status: 'exists', step };
    return { status: 'stale', reservation: await this.findReservation(req.callId) };
  }

  /**
   * Settlements are group-committed: those made while one is being written go together as one
   * UPDATE, whose triggers close each reservation as they would alone.
   */
  closeReservation(req: CloseReservation): Promise<CloseOutcome> {
    return this.closes.run(req);
  }

  private async closeOne(req: CloseReservation): Promise<CloseOutcome> {
    const at = sqlDate(req.at);
    const charge = this.b(req.charge, 'charge');
    const expected = this.b(req.expectedAmount, 'reserved amount');
    this.b(-req.charge, 'charge');
    // The trigger gives every hold back, charges every balance and posts its ledger entries.
    const out = await this.write(async (): Promise<'closed' | 'stale' | 'range' | 'key-used'> => {
      try {
        const changed = await this.update(
          this.hot.settle,
          [req.state, req.seconds, charge, req.ledgerKey, req.note ?? null, at, req.reservationId, req.accountId, expected, req.callRecord ?? null],
        );
        return changed === 0 ? 'stale' : 'closed';
      } catch (err) {
        if (signalOf(err) === 'range') return 'range';
        // Only the ledger's key: a CDR row the table refuses (SQLite reports NOT NULL alike) is a plain failure.
        if (err instanceof UniqueConstraintError && isLedgerKeyConflict(err)) return 'key-used';
        throw storeError(err);
      }
    }).catch((err: unknown) => { throw storeError(err); });
    if (out === 'key-used') throw new PrepaidError('IDEMPOTENCY_CONFLICT', `ledger key ${req.ledgerKey} already used`, { key: req.ledgerKey });
    if (out === 'range') {
      throw new PrepaidError('AMOUNT_OUT_OF_RANGE', `a charge of ${formatMoney(req.charge)} would take the balance of account ${req.accountId} outside what the database holds (${this.money.rangeText()})`,
        { accountId: req.accountId, callId: req.callId });
    }
    if (out === 'stale') return { status: 'stale', reservation: await this.findReservation(req.callId) };
    return req.callRecord !== undefined ? { status: 'closed', recorded: true } : { status: 'closed' };
  }

  /**
   * Several settlements in one UPDATE. Each row changes only from the amount its settlement saw, so
   * a row that did not change is told apart by reading it back: closed as asked (by this statement
   * or an identical earlier one), or stale. Any error makes the caller write each alone.
   */
  private async closeMany(reqs: CloseReservation[]): Promise<CloseOutcome[]> {
    const bind: unknown[] = [];
    const p = (v: unknown): string => { bind.push(v); return `$${bind.length}`; };
    const pm = (v: Micros, what: string): string => { bind.push(this.b(v, what)); return this.m(bind.length); };
    for (const req of reqs) this.b(-req.charge, 'charge');
    const byId = (value: (req: CloseReservation) => string): string => `CASE id ${reqs.map((r) => `WHEN ${p(r.reservationId)} THEN ${value(r)}`).join(' ')} END`;
    const sets = [
      `state = ${byId((r) => p(r.state))}`, `settled_seconds = ${byId((r) => p(r.seconds))}`, `charged = ${byId((r) => pm(r.charge, 'charge'))}`,
      `ledger_key = ${byId((r) => p(r.ledgerKey))}`, `settle_note = ${byId((r) => p(r.note ?? null))}`,
      `call_record = ${byId((r) => p(r.callRecord ?? null))}`, 'version = version + 1',
      `updated_at = ${byId((r) => p(sqlDate(r.at)))}`,
    ];
    const where = `id IN (${reqs.map((r) => p(r.reservationId)).join(', ')}) AND state = 'active'
      AND account_id = ${byId((r) => p(r.accountId))} AND amount = ${byId((r) => pm(r.expectedAmount, 'reserved amount'))}`;
    // Balances are locked in account order, so that two batches on shared accounts do not deadlock.
    const order = this.mysql ? ' ORDER BY account_id' : '';
    const changed = await this.write(() => this.updateBatch(`UPDATE reservations SET ${sets.join(', ')} WHERE ${where}${order}`, bind))
      .catch((err: unknown) => { throw storeError(err); });
    if (changed === reqs.length) return reqs.map((r): CloseOutcome => (r.callRecord !== undefined ? { status: 'closed', recorded: true } : { status: 'closed' }));
    const rows = await this.read(() => this.selectBatch(
      `SELECT ${this.cols('reservations')}, ledger_key AS closed_key FROM reservations WHERE id IN (${reqs.map((_, i) => `$${i + 1}`).join(', ')})`,
      reqs.map((r) => r.reservationId),
    ));
    const found = new Map(rows.map((row) => [Number(row.id), { r: this.toReservation(row), key: row.closed_key === null ? null : String(row.closed_key) }]));
    return reqs.map((req): CloseOutcome => {
      const got = found.get(req.reservationId);
      const asAsked = got && got.r.state === req.state && got.r.settledSeconds === req.seconds && got.r.charged === req.charge && got.key === req.ledgerKey;
      // Closed as asked, by this statement or an earlier one: whether the record went with it is not known here.
      return asAsked ? { status: 'closed' } : { status: 'stale', reservation: got?.r };
    });
  }

  async checkpoint(callId: string, seconds: number, amount: Micros, at: Date): Promise<boolean> {
    const checkpointAmount = this.b(amount, 'checkpoint amount');
    const changed = await this.write(() => this.update(
      this.hot.checkpoint,
      [seconds, checkpointAmount, sqlDate(at), callId],
    )).catch((err: unknown) => { throw storeError(err); });
    return changed === 1;
  }

  // ------------------------------------------------------------ instances

  async heartbeat(instanceId: string, at: Date): Promise<void> {
    const sql = this.hot.heartbeat;
    const bind = [instanceId, sqlDate(at)];
    await this.write(() => (this.db.direct ? this.db.direct.execute(sql, bind) : this.db.sequelize.query(sql, { bind, type: QueryTypes.RAW })))
      .catch((err: unknown) => { throw storeError(err); });
  }

  async listOrphanedReservations(self: string, aliveSince: Date, limit: number, afterId = 0): Promise<Reservation[]> {
    const n = Math.max(1, Math.floor(limit));
    const rows = await this.read(() => this.select(
      `SELECT ${this.cols('reservations', 'r')} FROM reservations r
       WHERE r.state = 'active' AND r.owner_instance <> $1 AND r.id > $3
         AND NOT EXISTS (SELECT 1 FROM app_instances i WHERE i.instance_id = r.owner_instance AND i.heartbeat_at >= $2)
       ORDER BY r.id LIMIT ${n}`,
      [self, sqlDate(aliveSince), Math.floor(afterId)],
    ));
    return rows.map((row) => this.toReservation(row));
  }

  async listReservationsOwnedBy(owner: string, limit: number, afterId = 0): Promise<Reservation[]> {
    const n = Math.max(1, Math.floor(limit));
    const rows = await this.read(() => this.select(
      `SELECT ${this.cols('reservations')} FROM reservations WHERE state = 'active' AND owner_instance = $1 AND id > $2 ORDER BY id LIMIT ${n}`, [owner, Math.floor(afterId)],
    ));
    return rows.map((row) => this.toReservation(row));
  }
}

// ------------------------------------------------------------ errors

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR', 'SQLITE_CANTOPEN', 'SQLITE_IOERR',
]);
const UNAVAILABLE_ERRNO = new Set([1053, 2002, 2003, 2006, 2013]);

function parentOf(err: unknown): { code?: string; errno?: number; message?: string } | undefined {
  if (err instanceof BaseError) return (err as BaseError & { parent?: { code?: string; errno?: number } }).parent;
  return err as { code?: string; errno?: number };
}

/** A deadlock or lock-wait timeout (MySQL), or a busy database (SQLite): the statement may be tried again. */
export function isRetryable(err: unknown): boolean {
  const p = parentOf(err);
  return p?.errno === 1213 || p?.errno === 1205 || p?.code === 'ER_LOCK_DEADLOCK' || p?.code === 'ER_LOCK_WAIT_TIMEOUT' || p?.code === 'SQLITE_BUSY';
}

/** The database cannot be reached (whatever the statement). */
export function isUnreachable(err: unknown): boolean {
  const e = storeError(err);
  return e instanceof AppError && e.code === 'DB_UNAVAILABLE';
}

/** A database that cannot be reached becomes AppError DB_UNAVAILABLE; everything else passes as is. */
export function storeError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  const p = parentOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (
    err instanceof ConnectionError
    || (p?.code !== undefined && UNAVAILABLE_CODES.has(p.code))
    || (p?.errno !== undefined && UNAVAILABLE_ERRNO.has(p.errno))
    || /connection (is )?(lost|closed)|closed state|Connection acquire|ECONNREFUSED/i.test(message)
  ) {
    return new PrepaidError('DB_UNAVAILABLE', `database unavailable: ${message}`, {}, { cause: err });
  }
  return err;
}

// ------------------------------------------------------------ rows

/** 'YYYY-MM-DD HH:MM:SS.mmm' in UTC: the same text sorts and compares on both dialects. */
export function sqlDate(d: Date): string {
  const iso = d.toISOString();
  // 'YYYY-MM-DDTHH:MM:SS.mmmZ' for years 0-9999; a wider year keeps the general form.
  return iso.length === 24 ? `${iso.slice(0, 10)} ${iso.slice(11, 23)}` : iso.replace('T', ' ').replace('Z', '');
}

function date(v: unknown): Date {
  if (v instanceof Date) return v;
  if (typeof v === 'number') return new Date(v);
  const s = String(v).trim();
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)\s*(Z|[+-]\d\d:?\d\d)?$/.exec(s);
  if (!m) return new Date(s);
  return new Date(`${m[1]}T${m[2]}${m[3] ?? 'Z'}`);
}

function dateOrNull(v: unknown): Date | null {
  return v === null || v === undefined ? null : date(v);
}

/** Every column of the prepaid tables, so that money columns can be read as exact text. */
const COLUMNS = {
  accounts: ['id', 'code', 'kind', 'currency', 'status', 'balance', 'reserved', 'credit_limit', 'low_balance_threshold', 'max_calls',
    'live_calls', 'expires_at', 'created_at', 'updated_at'],
  ledger_entries: ['id', 'account_id', 'kind', 'amount', 'balance_after', 'idempotency_key', 'call_id', 'note', 'created_at'],
  reservations: ['id', 'account_id', 'extra_holds', 'call_id', 'mode', 'state', 'amount', 'granted_seconds', 'answered_at', 'owner_instance',
    'checkpoint_seconds', 'checkpoint_amount', 'checkpoint_at', 'settled_seconds', 'charged', 'recovery', 'version', 'created_at', 'updated_at'],
  reservation_steps: ['id', 'reservation_id', 'call_id', 'step_key', 'requested_seconds', 'added_seconds', 'amount_delta', 'granted_seconds',
    'reserved_after', 'final', 'created_at'],
} as const;

const MONEY_COLUMNS = new Set([
  'accounts.balance', 'accounts.reserved', 'accounts.credit_limit', 'accounts.low_balance_threshold',
  'ledger_entries.amount', 'ledger_entries.balance_after',
  'reservations.amount', 'reservations.checkpoint_amount', 'reservations.charged',
  'reservation_steps.amount_delta', 'reservation_steps.reserved_after',
]);

/**
 * The rows of a CALL's result set. mysql2 answers a CALL with its result sets followed by the OK
 * of the CALL itself; Sequelize passes the list on, sometimes wrapped once more.
 */
function callRows(result: unknown): Row[] {
  let v: unknown = result;
  for (let depth = 0; depth < 3 && Array.isArray(v); depth++) {
    const first: unknown = v[0];
    if (Array.isArray(first)) { v = first; continue; }
    if (first && typeof first === 'object' && !('affectedRows' in first)) return v as Row[];
    break;
  }
  throw new AppError('DB_UNEXPECTED_RESULT', 'a stored procedure returned no rows');
}

/** The low-balance test of account `a`, as the triggers compute it. */
const LOW_BALANCE = '(a.low_balance_threshold IS NOT NULL AND a.balance + a.credit_limit - a.reserved < a.low_balance_threshold)';

function kindOf(mode: ReservationMode): AccountKind {
  return mode === 'postpaid' ? 'postpaid' : 'prepaid';
}

/** What the trigger checks of each balance at authorise, to name the one that refused. */
function admits(a: Account, at: Date, required: Micros): boolean {
  return a.status === 'active' && (a.expiresAt === null || a.expiresAt > at) && (a.maxCalls === null || a.liveCalls < a.maxCalls)
    && a.balance + a.creditLimit - a.reserved >= required;
}

/** The extra holds column: a JSON array of account ids, null for none. */
function parseHolds(v: unknown): number[] {
  if (v === null || v === undefined) return [];
  const ids = JSON.parse(String(v)) as unknown;
  if (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id))) throw new AppError('DB_INVALID_HOLDS', `reservation extra holds ${String(v).slice(0, 80)} are not account ids`);
  return ids as number[];
}

/** A refusal raised by a trigger (`tollgate:<what>`), or undefined for any other error. */
function signalOf(err: unknown): 'refused' | 'stale' | 'range' | undefined {
  const texts = [err instanceof Error ? err.message : '', parentOf(err)?.message ?? ''];
  for (const text of texts) {
    const m = /tollgate:(refused|stale|range)/.exec(text);
    if (m) return m[1] as 'refused' | 'stale' | 'range';
  }
  return undefined;
}

/** A unique-key failure on the ledger's idempotency key (not on any other table of the statement). */
function isLedgerKeyConflict(err: unknown): boolean {
  const texts = [err instanceof Error ? err.message : '', parentOf(err)?.message ?? ''];
  return texts.some((t) => /ledger_entries|idempotency_key/.test(t));
}

function recoveryText(info: RecoveryInfo): string {
  return JSON.stringify({ dialogs: info.dialogs, rating: info.rating });
}

/** The stored recovery info, or null (with a warning) when it is not what this code writes. */
function parseRecovery(v: unknown, callId: string, logger: Logger): RecoveryInfo | null {
  if (v === null || v === undefined) return null;
  try {
    const o = JSON.parse(String(v)) as { dialogs?: unknown; rating?: unknown };
    if (o && Array.isArray(o.dialogs) && o.dialogs.every((d) => typeof d === 'string') && typeof o.rating === 'string') {
      return { dialogs: o.dialogs as string[], rating: o.rating };
    }
  } catch {
    // reported below, like any other unreadable value
  }
  logger.warn('unreadable recovery info of a reservation ignored', { callId, value: String(v).slice(0, 200) });
  return null;
}

/** Rows to domain objects; a money value that is not what this code writes is an error naming its row. */
class RowReader {
  constructor(private readonly columns: MoneyColumns, private readonly logger: Logger) {}

  money(v: unknown, at: StoredAt): Micros {
    return this.columns.parse(v, at);
  }

  private m(row: Row, table: string, column: string): Micros {
    return this.columns.parse(row[column], { table, column, id: row.id });
  }

  private mOrNull(row: Row, table: string, column: string): Micros | null {
    return this.columns.parseOrNull(row[column], { table, column, id: row.id });
  }

  account(row: Row): Account {
    return {
      id: Number(row.id), code: String(row.code), kind: String(row.kind) as AccountKind, currency: String(row.currency),
      status: String(row.status) as AccountStatus, balance: this.m(row, 'accounts', 'balance'), reserved: this.m(row, 'accounts', 'reserved'),
      creditLimit: this.m(row, 'accounts', 'credit_limit'), lowBalanceThreshold: this.mOrNull(row, 'accounts', 'low_balance_threshold'),
      maxCalls: row.max_calls === null || row.max_calls === undefined ? null : Number(row.max_calls),
      liveCalls: Number(row.live_calls), expiresAt: dateOrNull(row.expires_at), createdAt: date(row.created_at), updatedAt: date(row.updated_at),
    };
  }

  entry(row: Row): LedgerEntry {
    return {
      id: Number(row.id), accountId: Number(row.account_id), kind: String(row.kind) as LedgerKind, amount: this.m(row, 'ledger_entries', 'amount'),
      balanceAfter: this.m(row, 'ledger_entries', 'balance_after'), idempotencyKey: String(row.idempotency_key),
      callId: row.call_id === null || row.call_id === undefined ? null : String(row.call_id),
      note: row.note === null || row.note === undefined ? null : String(row.note), createdAt: date(row.created_at),
    };
  }

  reservation(row: Row): Reservation {
    return {
      id: Number(row.id), accountId: Number(row.account_id), extraHolds: parseHolds(row.extra_holds), callId: String(row.call_id), mode: String(row.mode) as ReservationMode,
      state: String(row.state) as ReservationState, amount: this.m(row, 'reservations', 'amount'), grantedSeconds: Number(row.granted_seconds),
      answeredAt: dateOrNull(row.answered_at), ownerInstance: String(row.owner_instance), checkpointSeconds: Number(row.checkpoint_seconds),
      checkpointAmount: this.m(row, 'reservations', 'checkpoint_amount'), checkpointAt: dateOrNull(row.checkpoint_at),
      settledSeconds: row.settled_seconds === null || row.settled_seconds === undefined ? null : Number(row.settled_seconds),
      charged: this.mOrNull(row, 'reservations', 'charged'), recovery: parseRecovery(row.recovery, String(row.call_id), this.logger),
      createdAt: date(row.created_at), updatedAt: date(row.updated_at),
    };
  }

  step(row: Row): ReservationStep {
    return {
      reservationId: Number(row.reservation_id), callId: String(row.call_id), stepKey: String(row.step_key),
      requestedSeconds: Number(row.requested_seconds), addedSeconds: Number(row.added_seconds), amountDelta: this.m(row, 'reservation_steps', 'amount_delta'),
      grantedSeconds: Number(row.granted_seconds), reservedAfter: this.m(row, 'reservation_steps', 'reserved_after'), final: Boolean(Number(row.final)),
      createdAt: date(row.created_at),
    };
  }
}
