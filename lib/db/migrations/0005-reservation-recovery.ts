import { DataTypes } from 'sequelize';
import { addColumn, applySteps, type Ctx, type MigrationStep } from './steps';

/**
 * What a recovery needs to settle an orphaned call to its real end: the SIP dialogs of both legs
 * and the call's rating attributes (JSON), written with the answer.
 */
export const steps: MigrationStep[] = [
  addColumn('reservations', 'recovery', { type: DataTypes.TEXT, allowNull: true }),
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  await qi.removeColumn('reservations', 'recovery');
}
