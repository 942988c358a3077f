import { DataTypes, type QueryInterface } from 'sequelize';
import { SQLITE_MONEY_TYPE } from '../money-column';
import { addColumn, applySteps, type Ctx, type MigrationStep } from './steps';

/** Money as every money column: DECIMAL(20,6) on MySQL/MariaDB, integer micro-units on SQLite. */
function moneyColumn(qi: QueryInterface) {
  return { type: qi.sequelize.getDialect() === 'sqlite' ? SQLITE_MONEY_TYPE : DataTypes.DECIMAL(20, 6), allowNull: true };
}

/**
 * Group budgets: the prepaid account a group's business calls are paid from (its pool), and each
 * member's caps per call, per day and per month on top (null: no cap). The caps' running totals are
 * ordinary prepaid accounts, one per member and period, opened by the call flow.
 */
const columns: Array<[string, string, (qi: QueryInterface) => Parameters<QueryInterface['addColumn']>[2]]> = [
  ['vpn_groups', 'pool_account_id', () => ({ type: DataTypes.INTEGER, allowNull: true })],
  ['vpn_members', 'cap_per_call', moneyColumn],
  ['vpn_members', 'cap_per_day', moneyColumn],
  ['vpn_members', 'cap_per_month', moneyColumn],
];

/** Each step picks the column type of the database it runs on. */
export const steps: MigrationStep[] = columns.map(([table, column, definition]) => {
  const probe = addColumn(table, column, { type: DataTypes.INTEGER });
  return { what: probe.what, done: probe.done, apply: (qi) => addColumn(table, column, definition(qi)).apply(qi) };
});

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  for (const [table, column] of [...columns].reverse()) await qi.removeColumn(table, column);
}
