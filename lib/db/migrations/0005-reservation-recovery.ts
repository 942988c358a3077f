import { DataTypes, type QueryInterface } from 'sequelize';

type Ctx = { context: QueryInterface };

/**
 * What a recovery needs to settle an orphaned call to its real end: the SIP dialogs of both legs
 * and the call's rating attributes (JSON), written with the answer.
 */
export async function up({ context: qi }: Ctx): Promise<void> {
  await qi.addColumn('reservations', 'recovery', { type: DataTypes.TEXT, allowNull: true });
}

export async function down({ context: qi }: Ctx): Promise<void> {
  await qi.removeColumn('reservations', 'recovery');
}
