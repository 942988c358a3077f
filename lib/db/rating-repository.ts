/**
 * Storage of the rating tables: reads the whole rule set (as one consistent snapshot), a cheap
 * fingerprint for change polling, and a whole-set replacement in one transaction for imports.
 * Values travel as text so that DECIMAL money is never a float on the way.
 */
import { createHash } from 'node:crypto';
import { QueryTypes, type Transaction } from 'sequelize';
import type { Database } from './database';
import { parseInstant } from '../rating/validate';
import { RATING_TABLES, RATING_TABLE_NAMES, emptyTables, rowsToRawRuleSet, type RatingTableName, type RatingTableRows, type TableRow } from '../rating/tables';
import type { RawRuleSet } from '../rating/types';
import type { RuleSetSource } from '../rating/reloader';

const INT_COLUMNS = new Set(['id', 'day_type_id', 'free_seconds', 'tariff_id', 'from_second', 'increment_seconds', 'service_id', 'priority']);
const INSTANT_COLUMNS = new Set(['valid_from', 'valid_to']);
const INSERT_CHUNK = 500;

export class RatingRepository implements RuleSetSource {
  constructor(private readonly db: Database, private readonly defaultTimeZone: string = 'UTC') {}

  private q(name: string): string {
    return this.db.sequelize.getQueryInterface().quoteIdentifier(name);
  }

  private async readTable(table: RatingTableName, transaction?: Transaction): Promise<TableRow[]> {
    const cols = RATING_TABLES[table].map((c) => `CAST(${this.q(c)} AS CHAR) AS ${this.q(c)}`).join(', ');
    const rows = await this.db.sequelize.query<Record<string, unknown>>(`SELECT ${cols} FROM ${this.q(table)} ORDER BY ${this.q('id')}`, { type: QueryTypes.SELECT, transaction });
    return rows.map((r) => {
      const row: TableRow = {};
      for (const c of RATING_TABLES[table]) {
        const v = r[c];
        row[c] = v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
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
   * all of it is written or nothing is. Validate the rows first (validateRuleSet).
   */
  async replaceTables(tables: RatingTableRows): Promise<void> {
    const qi = this.db.sequelize.getQueryInterface();
    await this.db.sequelize.transaction(async (transaction) => {
      for (const t of [...RATING_TABLE_NAMES].reverse()) await qi.bulkDelete(t, {}, { transaction });
      for (const t of RATING_TABLE_NAMES) {
        const rows = tables[t].map((r) => toDbRow(t, r));
        for (let i = 0; i < rows.length; i += INSERT_CHUNK) await qi.bulkInsert(t, rows.slice(i, i + INSERT_CHUNK), { transaction });
      }
    });
  }
}

function toDbRow(table: RatingTableName, row: TableRow): Record<string, string | number | Date | null> {
  const out: Record<string, string | number | Date | null> = {};
  for (const c of RATING_TABLES[table]) {
    const v = row[c] ?? null;
    if (v === null || v.trim() === '') out[c] = table === 'charging_rules' && c === 'destination_prefix' ? '' : null;
    else if (INT_COLUMNS.has(c)) out[c] = Number(v);
    else if (INSTANT_COLUMNS.has(c)) {
      const ms = parseInstant(v);
      out[c] = ms === null ? v : new Date(ms);
    } else out[c] = v;
  }
  return out;
}
