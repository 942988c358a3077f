/**
 * A database schema reduced to what must agree between dialects and between runs: tables, columns
 * (type class, nullability, primary key) and indexes (name, uniqueness, columns).
 */
import type { Database } from '../../lib/db/database';

/** A column type reduced to what must agree between dialects. */
export function typeClass(sqlType: string): string {
  const t = sqlType.toUpperCase();
  if (/^(TINYINT\(1\)|BOOLEAN)/.test(t)) return 'boolean';
  // SQLite's exact money column: integers of micro-units.
  if (t === 'BIGINT_MICROS') return 'money';
  if (/INT/.test(t)) return 'integer';
  if (/^DECIMAL\(20,\s*6\)/.test(t)) return 'money';
  if (/^DECIMAL/.test(t)) return t.replace(/\s/g, '');
  if (/^(VARCHAR|CHAR)/.test(t)) return t.replace(/\s/g, '');
  if (/TEXT/.test(t)) return 'text';
  if (/^DATETIME|^TIMESTAMP/.test(t)) return 'datetime';
  if (/^DATE$/.test(t)) return 'date';
  if (/^TIME$/.test(t)) return 'time';
  if (/^ENUM/.test(t)) return 'string';
  if (/^(FLOAT|DOUBLE|REAL)/.test(t)) return 'float';
  return t;
}

export type SchemaDump = Record<string, Record<string, string>>;

async function tableNames(db: Database): Promise<string[]> {
  const tables = await db.sequelize.getQueryInterface().showAllTables();
  return tables.map((t) => (typeof t === 'string' ? t : (t as { tableName: string }).tableName)).filter((t) => t !== 'schema_migrations').sort();
}

export async function schemaOf(db: Database): Promise<SchemaDump> {
  const qi = db.sequelize.getQueryInterface();
  const out: SchemaDump = {};
  for (const table of await tableNames(db)) {
    const cols = await qi.describeTable(table);
    out[table] = Object.fromEntries(Object.entries(cols).sort(([a], [b]) => a.localeCompare(b)).map(([name, c]) => [name, `${typeClass(c.type)}${c.allowNull && !c.primaryKey ? ' null' : ''}${c.primaryKey ? ' pk' : ''}`]));
  }
  return out;
}

/** Indexes other than the primary key, per table: "name unique? (columns)". */
export async function indexesOf(db: Database): Promise<Record<string, string[]>> {
  const qi = db.sequelize.getQueryInterface();
  const out: Record<string, string[]> = {};
  for (const table of await tableNames(db)) {
    const rows = (await qi.showIndex(table)) as Array<{ name: string; unique: boolean; primary: boolean; fields: Array<{ attribute: string }> }>;
    out[table] = rows.filter((r) => !r.primary && r.name !== 'PRIMARY')
      .map((r) => `${r.name}${r.unique ? ' unique' : ''} (${r.fields.map((f) => f.attribute).join(',')})`).sort();
  }
  return out;
}
