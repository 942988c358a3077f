import { DataTypes } from 'sequelize';
import { addColumn, always, applySteps, type Ctx, type MigrationStep } from './steps';

/**
 * Only trunks that serve members (the PBX side) may identify a caller as a member; a call from any
 * other trunk is a public call whatever its From says. Existing trunks that are some subscriber's
 * home trunk are the member side and keep identifying members; every other trunk, and every new
 * one, does not until an admin says so.
 */
export const steps: MigrationStep[] = [
  addColumn('trunks', 'serves_members', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false }),
  // Idempotent (it only ever sets true), so it runs again when an interrupted migration resumes.
  always('home trunks of subscribers serve members', async (qi) => {
    await qi.sequelize.query('UPDATE trunks SET serves_members = 1 WHERE id IN (SELECT home_trunk_id FROM subscribers WHERE home_trunk_id IS NOT NULL)');
  }),
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  await qi.removeColumn('trunks', 'serves_members');
}
