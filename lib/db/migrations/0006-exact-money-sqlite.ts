import { QueryTypes, type QueryInterface, type Transaction } from 'sequelize';
import { AppError } from '../../common/errors';
import { SQLITE_MONEY_TYPE } from '../money-column';
import { applySteps, type Ctx, type MigrationStep } from './steps';

/** Every table with money columns (DECIMAL(20,6) in migrations 0001-0003). */
const MONEY_TABLES = ['cdrs', 'accounts', 'ledger_entries', 'reservations', 'reservation_steps', 'tariffs', 'tariff_steps'];
const DECIMAL_TYPE = /^DECIMAL\(20,\s*6\)$/i;

type Row = Record<string, unknown>;

async function query(qi: QueryInterface, sql: string, transaction: Transaction, replacements: unknown[] = []): Promise<Row[]> {
  return qi.sequelize.query<Row>(sql, { replacements, type: QueryTypes.SELECT, transaction });
}

async function decimalColumns(qi: QueryInterface, table: string, transaction?: Transaction): Promise<string[]> {
  const cols = await qi.sequelize.query<{ name: string; type: string }>(`PRAGMA table_info(\`${table}\`)`, { type: QueryTypes.SELECT, transaction });
  return cols.filter((c) => DECIMAL_TYPE.test(c.type)).map((c) => c.name);
}

/**
 * Rebuilds one SQLite table with its money columns as integers of micro-units, converting every
 * row, in one transaction (SQLite DDL is transactional: the table is converted whole or not at
 * all). A value SQLite held as a double becomes the nearest micro-unit, which is what the double
 * stood for; a value that is not a number, or too large for 64 bits of micro-units, stops the
 * migration with its table, row and column so that an admin can correct it.
 */
async function rebuildWithMicros(qi: QueryInterface, table: string): Promise<void> {
  await qi.sequelize.transaction(async (t) => {
    const money = await decimalColumns(qi, table, t);
    if (money.length === 0) return;
    for (const c of money) {
      const [bad] = await query(qi, `SELECT id, CAST(\`${c}\` AS TEXT) AS v FROM \`${table}\`
        WHERE \`${c}\` IS NOT NULL AND (typeof(\`${c}\`) NOT IN ('integer', 'real') OR ABS(\`${c}\`) > 9223372036854) LIMIT 1`, t);
      if (bad) {
        throw new AppError('DB_INVALID_AMOUNT', `${table} row ${String(bad.id)} ${c} holds ${JSON.stringify(bad.v)}, which is not an amount this database can hold; correct it and migrate again`,
          { table, column: c, id: bad.id, value: bad.v });
      }
    }
    const [created] = await query(qi, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", t, [table]);
    const indexes = await query(qi, "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", t, [table]);
    const hasSequence = (await query(qi, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'", t)).length > 0;
    const [sequence] = hasSequence ? await query(qi, 'SELECT seq FROM sqlite_sequence WHERE name = ?', t, [table]) : [];
    const columns = (await qi.sequelize.query<{ name: string }>(`PRAGMA table_info(\`${table}\`)`, { type: QueryTypes.SELECT, transaction: t })).map((c) => c.name);

    const temp = `${table}__micros`;
    const createSql = String(created!.sql)
      .replace(/^CREATE TABLE (IF NOT EXISTS )?[`"]?[A-Za-z0-9_]+[`"]?/, `CREATE TABLE \`${temp}\``)
      .replace(/DECIMAL\(20,\s*6\)/gi, SQLITE_MONEY_TYPE);
    const select = columns.map((c) => (money.includes(c)
      ? `CASE typeof(\`${c}\`) WHEN 'integer' THEN \`${c}\` * 1000000 WHEN 'real' THEN CAST(ROUND(\`${c}\` * 1000000) AS INTEGER) ELSE \`${c}\` END`
      : `\`${c}\``));
    const run = (sql: string): Promise<unknown> => qi.sequelize.query(sql, { transaction: t });
    await run(createSql);
    await run(`INSERT INTO \`${temp}\` (${columns.map((c) => `\`${c}\``).join(', ')}) SELECT ${select.join(', ')} FROM \`${table}\``);
    await run(`DROP TABLE \`${table}\``);
    await run(`ALTER TABLE \`${temp}\` RENAME TO \`${table}\``);
    for (const ix of indexes) await run(String(ix.sql));
    // Ids of deleted rows are not handed out again.
    if (sequence) await qi.sequelize.query('UPDATE sqlite_sequence SET seq = ? WHERE name = ?', { replacements: [sequence.seq, table], transaction: t });
  });
}

function microsOnSqlite(table: string): MigrationStep {
  return {
    what: `money of ${table} as micro-units`,
    applies: (qi) => qi.sequelize.getDialect() === 'sqlite',
    done: async (qi) => (await decimalColumns(qi, table)).length === 0,
    apply: (qi) => rebuildWithMicros(qi, table),
  };
}

/**
 * Exact money on SQLite, where DECIMAL is a double: money columns become 64-bit integers of
 * micro-units (see lib/db/money-column.ts). Nothing changes on MySQL, whose DECIMAL is exact.
 */
export const steps: MigrationStep[] = MONEY_TABLES.map(microsOnSqlite);

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down(): Promise<void> {
  // Going back to doubles would make amounts inexact again: not offered.
}
