/**
 * Migration steps that can be re-run. MySQL does not roll DDL back, so a migration interrupted
 * half-way leaves some of its tables and indexes behind; every step therefore looks at the schema
 * before it acts, and the next `db migrate` completes the migration where it stopped. The same
 * look tells `db status` which pending migrations are partly applied.
 */
import type { ModelAttributes, QueryInterface } from 'sequelize';

export interface MigrationStep {
  /** What the step creates, for status output: "table accounts", "index accounts_code_uq". */
  readonly what: string;
  done(qi: QueryInterface): Promise<boolean>;
  apply(qi: QueryInterface): Promise<void>;
  /** Runs whenever its migration runs; not counted when telling how far a migration got. */
  idempotent?: boolean;
  /** Whether the step has anything to do on this database (default: yes); one that has not is left out. */
  applies?(qi: QueryInterface): boolean;
}

function applicable(qi: QueryInterface, steps: readonly MigrationStep[]): MigrationStep[] {
  return steps.filter((s) => s.applies?.(qi) ?? true);
}

export type Ctx = { context: QueryInterface };

async function tableNames(qi: QueryInterface): Promise<Set<string>> {
  const tables = await qi.showAllTables();
  return new Set(tables.map((t) => (typeof t === 'string' ? t : (t as { tableName: string }).tableName)));
}

async function hasTable(qi: QueryInterface, table: string): Promise<boolean> {
  return (await tableNames(qi)).has(table);
}

async function indexNames(qi: QueryInterface, table: string): Promise<Set<string>> {
  if (!(await hasTable(qi, table))) return new Set();
  const rows = (await qi.showIndex(table)) as Array<{ name?: string; Key_name?: string }>;
  return new Set(rows.map((r) => String(r.name ?? r.Key_name)));
}

export function createTable(table: string, attributes: ModelAttributes): MigrationStep {
  return {
    what: `table ${table}`,
    done: (qi) => hasTable(qi, table),
    // A CREATE TABLE is one statement: the table exists whole or not at all.
    apply: async (qi) => { await qi.createTable(table, attributes); },
  };
}

export function addIndex(table: string, fields: string[], opts: { name: string; unique?: boolean }): MigrationStep {
  return {
    what: `index ${opts.name}`,
    done: async (qi) => (await indexNames(qi, table)).has(opts.name),
    apply: async (qi) => { await qi.addIndex(table, fields, { name: opts.name, unique: opts.unique ?? false }); },
  };
}

export function addColumn(table: string, column: string, definition: Parameters<QueryInterface['addColumn']>[2]): MigrationStep {
  return {
    what: `column ${table}.${column}`,
    done: async (qi) => (await hasTable(qi, table)) && column in (await qi.describeTable(table)),
    apply: async (qi) => { await qi.addColumn(table, column, definition); },
  };
}

/** Applies the steps not yet done, in order. */
export async function applySteps(qi: QueryInterface, steps: readonly MigrationStep[]): Promise<void> {
  for (const step of applicable(qi, steps)) {
    if (!(await step.done(qi))) await step.apply(qi);
  }
}

/** The steps that count for this database, each with whether it is already in the schema. */
export async function stepsDone(qi: QueryInterface, steps: readonly MigrationStep[]): Promise<Array<{ step: MigrationStep; done: boolean }>> {
  const out: Array<{ step: MigrationStep; done: boolean }> = [];
  for (const step of applicable(qi, steps)) if (!step.idempotent) out.push({ step, done: await step.done(qi) });
  return out;
}

/** A step that is idempotent by itself (an UPDATE that converges): run whenever its migration runs. */
export function always(what: string, apply: (qi: QueryInterface) => Promise<void>): MigrationStep {
  return { what, done: async () => false, apply, idempotent: true };
}
