/**
 * Storage of the rating tables: reads the whole rule set (as one consistent snapshot), a cheap
 * fingerprint for change polling, and a whole-set replacement in one transaction for imports.
 * Values travel as text so that money is never a float on the way; money columns are stored as
 * money-column.ts says and shown to the rating engine as decimal strings ("0.130620").
 */
import { createHash } from 'node:crypto';
import { QueryTypes, type Transaction } from 'sequelize';
import { AppError } from '../common/errors';
import { formatMoney, MoneyFormatError, parseMoney, type Micros } from '../common/money';
import type { Database } from './database';
import { MoneyColumns } from './money-column';
import { parseInstant } from '../rating/validate';
import { RATING_TABLES, RATING_TABLE_NAMES, emptyTables, rowsToRawRuleSet, type RatingTableName, type RatingTableRows, type TableRow } from '../rating/tables';
import type { RawRuleSet } from '../rating/types';
import type { RuleSetSource } from '../rating/reloader';

const INT_COLUMNS = new Set(['id', 'day_type_id', 'free_seconds', 'tariff_id', 'from_second', 'increment_seconds', 'service_id', 'priority']);
const INSTANT_COLUMNS = new Set(['valid_from', 'valid_to']);
const MONEY_COLUMNS: Partial<Record<RatingTableName, readonly string[]>> = {
  tariffs: ['connect_fee', 'minimum_charge'],
  tariff_steps: ['price_per_increment'],
};

function isMoney(table: RatingTableName, column: string): boolean {
  return MONEY_COLUMNS[table]?.includes(column) ?? false;
}
const INSERT_CHUNK = 500;

export class RatingRepository implements RuleSetSource {
  private readonly money: MoneyColumns;

  constructor(private readonly db: Database, private readonly defaultTimeZone: string = 'UTC') {
    this.money = new MoneyColumns(db.dialect);
  }

  private q(name: string): string {
    return this.db.sequelize.getQueryInterface().quoteIdentifier(name);
  }

  private async readTable(table: RatingTableName, transaction?: Transaction): Promise<TableRow[]> {
    const cols = RATING_TABLES[table].map((c) => (isMoney(table, c) ? this.money.read(this.q(c), this.q(c)) : `CAST(${this.q(c)} AS CHAR) AS ${this.q(c)}`)).join(', ');
    const rows = await this.db.sequelize.query<Record<string, unknown>>(`SELECT ${cols} FROM ${this.q(table)} ORDER BY ${this.q('id')}`, { type: QueryTypes.SELECT, transaction });
    return rows.map((r) => {
      const row: TableRow = {};
      for (const c of RATING_TABLES[table]) {
        const v = r[c];
        if (isMoney(table, c)) row[c] = v === null || v === undefined ? null : formatMoney(this.money.parse(v, { table, column: c, id: r.id }));
        else row[c] = v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
      }
      return row;
    });
  }

  /** Every rating table, read in one transaction so a multi-row edit is seen whole or not at all. */
  async readTables(): Promise<RatingTableRows> {
    return this.db.sequelize.transaction(async (transaction) => {
      const out = emptyTables();
      for (const t of RATING_TABLE_NAMES) out[t] = await this.readTable(t, transaction);
      return out;
    });
  }

  async load(): Promise<RawRuleSet> {
    return rowsToRawRuleSet(await this.readTables(), this.defaultTimeZone);
  }

  /** Changes whenever a row of a rating table changes, however it was edited. */
  async fingerprint(): Promise<string> {
    if (this.db.dialect === 'mysql') {
      const rows = await this.db.sequelize.query<{ Table: string; Checksum: number | string | null }>(
        `CHECKSUM TABLE ${RATING_TABLE_NAMES.map((t) => this.q(t)).join(', ')}`, { type: QueryTypes.SELECT });
      return rows.map((r) => `${r.Table}=${String(r.Checksum)}`).join(';');
    }
    return createHash('sha256').update(JSON.stringify(await this.readTables())).digest('hex');
  }

  async countRows(): Promise<Record<RatingTableName, number>> {
    const out = {} as Record<RatingTableName, number>;
    for (const t of RATING_TABLE_NAMES) {
      const [row] = await this.db.sequelize.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${this.q(t)}`, { type: QueryTypes.SELECT });
      out[t] = Number(row?.n ?? 0);
    }
    return out;
  }

  /**
   * Replaces the whole content of the rating tables with these rows, in one transaction: either
   * all of it is written or nothing is. Validate the rows first (validateRuleSet). Every amount is
   * checked against what its column holds before writing, and read back before the commit: an
   * amount the database would not return exactly fails the whole import (AMOUNT_OUT_OF_RANGE,
   * INVALID_AMOUNT or DB_INVALID_AMOUNT, naming table, row and column).
   */
  async replaceTables(tables: RatingTableRows): Promise<void> {
    const qi = this.db.sequelize.getQueryInterface();
    const rowsByTable = RATING_TABLE_NAMES.map((t) => [t, tables[t].map((r, i) => this.toDbRow(t, r, i))] as const);
    await this.db.sequelize.transaction(async (transaction) => {
      for (const t of [...RATING_TABLE_NAMES].reverse()) await qi.bulkDelete(t, {}, { transaction });
      for (const [t, rows] of rowsByTable) {
        for (let i = 0; i < rows.length; i += INSERT_CHUNK) await qi.bulkInsert(t, rows.slice(i, i + INSERT_CHUNK).map((r) => r.values), { transaction });
      }
      for (const [t, rows] of rowsByTable) await this.checkStoredMoney(t, rows, transaction);
    });
  }

  /** The money of every written row, read back, equals what was meant. */
  private async checkStoredMoney(table: RatingTableName, rows: ReadonlyArray<DbRow>, transaction: Transaction): Promise<void> {
    if (!MONEY_COLUMNS[table] || rows.length === 0) return;
    const stored = new Map((await this.readTable(table, transaction)).map((r) => [r.id, r]));
    for (const row of rows) {
      const back = stored.get(String(row.values.id));
      for (const [column, meant] of Object.entries(row.money)) {
        const got = back?.[column];
        if (got === undefined || got === null || parseMoney(got) !== meant) {
          throw new AppError('DB_INVALID_AMOUNT', `${table} row ${String(row.values.id)} ${column}: ${formatMoney(meant)} was written but ${String(got)} was stored`,
            { table, column, id: row.values.id });
        }
      }
    }
  }

  private toDbRow(table: RatingTableName, row: TableRow, index: number): DbRow {
    const values: Record<string, string | number | Date | null> = {};
    const money: Record<string, Micros> = {};
    for (const c of RATING_TABLES[table]) {
      const v = row[c] ?? null;
      if (v !== null && v.trim() !== '' && isMoney(table, c)) {
        const what = `${table} row ${row.id ?? `#${index + 1}`} ${c}`;
        let micros: Micros;
        try {
          micros = parseMoney(v);
        } catch (err) {
          if (err instanceof MoneyFormatError) throw new AppError('INVALID_AMOUNT', `${what}: ${err.message}`, { table, column: c, id: row.id ?? null }, { cause: err });
          throw err;
        }
        values[c] = this.money.bind(micros, what);
        money[c] = micros;
      } else values[c] = plainValue(table, c, v);
    }
    return { values, money };
  }
}

interface DbRow {
  values: Record<string, string | number | Date | null>;
  /** The amounts meant, by money column. */
  money: Record<string, Micros>;
}

function plainValue(table: RatingTableName, c: string, v: string | null): string | number | Date | null {
  if (v === null || v.trim() === '') return table === 'charging_rules' && c === 'destination_prefix' ? '' : null;
  if (INT_COLUMNS.has(c)) return Number(v);
  if (INSTANT_COLUMNS.has(c)) {
    const ms = parseInstant(v);
    return ms === null ? v : new Date(ms);
  }
  return v;
}
