/**
 * How money columns are stored, per dialect, and the only place that converts between a stored
 * value and micro-units.
 *
 * - MySQL/MariaDB: DECIMAL(20,6), which admins read and type as `0.0150`; SQL arithmetic on it is
 *   exact and values travel as decimal strings.
 * - SQLite: no exact decimal type exists (DECIMAL there is a double), so money columns are
 *   `BIGINT_MICROS`: a 64-bit integer of micro-units (1.5 is stored as 1500000). SQLite integer
 *   arithmetic is exact; values are read as text because the driver turns integers into doubles.
 *
 * Every amount written is checked against the column's range first, so an amount the column cannot
 * hold is a typed error (AMOUNT_OUT_OF_RANGE), not an SQL error or a silently different value.
 */
import { AppError } from '../common/errors';
import { formatMoney, type Micros } from '../common/money';
import type { Dialect } from './database';

/** The declared type of money columns on SQLite; contains INT, so SQLite gives it integer affinity. */
export const SQLITE_MONEY_TYPE = 'BIGINT_MICROS';

/** DECIMAL(20,6): 14 whole digits and 6 decimals. */
export const DECIMAL_20_6_MAX: Micros = 10n ** 20n - 1n;
/** A signed 64-bit integer of micro-units: 9223372036854.775807. */
export const INT64_MAX: Micros = 2n ** 63n - 1n;

/** Where a stored value came from, for errors that must name it. */
export interface StoredAt {
  table: string;
  column: string;
  /** The row's id, when known. */
  id?: unknown;
}

const SIX_PLACES = /^(-?)(\d+)\.(\d{6})$/;
const INTEGER = /^-?\d+$/;

/** The largest magnitude a money column holds on this dialect. */
export function moneyColumnMax(dialect: Dialect): Micros {
  return dialect === 'mysql' ? DECIMAL_20_6_MAX : INT64_MAX;
}

export class MoneyColumns {
  /** Largest magnitude a column holds: the range is [-max, max]. */
  readonly max: Micros;
  private readonly mysql: boolean;

  constructor(readonly dialect: Dialect) {
    this.mysql = dialect === 'mysql';
    this.max = moneyColumnMax(dialect);
  }

  /** The column's range as text, for messages. */
  rangeText(): string {
    return `-${formatMoney(this.max)}..${formatMoney(this.max)}`;
  }

  fits(micros: Micros): boolean {
    return micros <= this.max && micros >= -this.max;
  }

  /** Refuses an amount the column cannot hold; `what` names it ("top-up amount", "tariffs row 3 connect_fee"). */
  check(micros: Micros, what: string): Micros {
    if (!this.fits(micros)) {
      throw new AppError('AMOUNT_OUT_OF_RANGE',
        `${what} ${formatMoney(micros)} is outside what the database holds (${this.rangeText()})`,
        { amount: formatMoney(micros), max: formatMoney(this.max) });
    }
    return micros;
  }

  /** The value to bind for an amount, after the range check. */
  bind(micros: Micros, what: string): string {
    this.check(micros, what);
    return this.mysql ? formatMoney(micros) : micros.toString();
  }

  bindOrNull(micros: Micros | null, what: string): string | null {
    return micros === null ? null : this.bind(micros, what);
  }

  /** SQL for bound parameter `$n` (or `?`) as a money value of the column's type. */
  param(n: number | '?'): string {
    const p = n === '?' ? '?' : `$${n}`;
    return this.mysql ? `CAST(${p} AS DECIMAL(20,6))` : `CAST(${p} AS INTEGER)`;
  }

  /** SQL that reads a money column (or a SUM of one) so that it arrives as exact text. */
  read(expr: string, alias?: string): string {
    const as = alias ? ` AS ${alias}` : '';
    return this.mysql ? `${expr}${as}` : `CAST(${expr} AS TEXT)${as}`;
  }

  /** SQL condition: `expr` (an arithmetic result about to be stored) is within the column's range. */
  inRange(expr: string): string {
    const max = this.mysql ? formatMoney(this.max) : this.max.toString();
    return `(${expr}) BETWEEN -${max} AND ${max}`;
  }

  /**
   * A stored value (as read()) to micro-units. Anything that is not exactly what this code writes
   * (six places on MySQL, a whole number of micro-units on SQLite, within range) is an error naming
   * the table, row and column: a wrong amount is never guessed.
   */
  parse(value: unknown, at: StoredAt): Micros {
    const text = Buffer.isBuffer(value) ? value.toString('utf8') : typeof value === 'string' ? value : undefined;
    let micros: Micros | undefined;
    if (text !== undefined) {
      if (this.mysql) {
        const m = SIX_PLACES.exec(text);
        if (m) micros = (m[1] === '-' ? -1n : 1n) * (BigInt(m[2]!) * 1_000_000n + BigInt(m[3]!));
      } else if (INTEGER.test(text)) {
        micros = BigInt(text);
      }
    }
    if (micros === undefined || !this.fits(micros)) throw storedAmountError(value, at, this.mysql ? 'a DECIMAL(20,6)' : 'a whole number of micro-units');
    return micros;
  }

  parseOrNull(value: unknown, at: StoredAt): Micros | null {
    return value === null || value === undefined ? null : this.parse(value, at);
  }

  /** A SUM as read(): exact text of any size (a sum is not a stored value, so not range-checked). */
  parseSum(value: unknown, at: StoredAt): Micros {
    if (value === null || value === undefined) return 0n;
    const text = String(value);
    if (this.mysql) {
      const m = /^(-?)(\d+)(?:\.(\d{1,6})0*)?$/.exec(text);
      if (m) return (m[1] === '-' ? -1n : 1n) * (BigInt(m[2]!) * 1_000_000n + BigInt((m[3] ?? '').padEnd(6, '0')));
    } else if (INTEGER.test(text)) {
      return BigInt(text);
    }
    throw storedAmountError(value, at, 'an exact sum');
  }
}

function storedAmountError(value: unknown, at: StoredAt, expected: string): AppError {
  const row = at.id === undefined || at.id === null ? '' : ` row ${String(at.id)}`;
  const shown = value === null || value === undefined ? String(value) : JSON.stringify(String(value)).slice(0, 60);
  return new AppError('DB_INVALID_AMOUNT', `${at.table}${row} ${at.column} holds ${shown}, not ${expected}`,
    { table: at.table, column: at.column, id: at.id ?? null, value: value === null || value === undefined ? null : String(value) });
}
