import { DataTypes } from 'sequelize';
import { addColumn, addIndex, applySteps, createTable, type Ctx, type MigrationStep } from './steps';

const timestamps = () => ({
  created_at: { type: DataTypes.DATE(3), allowNull: false },
  updated_at: { type: DataTypes.DATE(3), allowNull: false },
});
const id = () => ({ type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true });

/**
 * Enterprise VPN features: a group's private-call prefix and status, a member's personal account
 * and plan (private calls), closed user groups with per-member access, group short codes for
 * outside numbers (virtual on-net), time-based screening of call classes, and which party paid a
 * call in its CDR.
 */
export const steps: MigrationStep[] = [
  addColumn('vpn_groups', 'private_prefix', { type: DataTypes.STRING(8), allowNull: true }),
  addColumn('vpn_groups', 'status', { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'active' }),
  addColumn('vpn_members', 'personal_account_id', { type: DataTypes.INTEGER, allowNull: true }),
  addColumn('vpn_members', 'personal_plan', { type: DataTypes.STRING(64), allowNull: true }),

  createTable('vpn_cugs', {
    id: id(),
    code: { type: DataTypes.STRING(64), allowNull: false },
    name: { type: DataTypes.STRING(128), allowNull: false },
    ...timestamps(),
  }),
  addIndex('vpn_cugs', ['code'], { name: 'vpn_cugs_code_uq', unique: true }),
  createTable('vpn_cug_members', {
    id: id(),
    cug_id: { type: DataTypes.INTEGER, allowNull: false },
    member_id: { type: DataTypes.INTEGER, allowNull: false },
    outgoing_access: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    incoming_access: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    ...timestamps(),
  }),
  addIndex('vpn_cug_members', ['cug_id', 'member_id'], { name: 'vpn_cug_members_uq', unique: true }),
  addIndex('vpn_cug_members', ['member_id'], { name: 'vpn_cug_members_member_idx' }),

  createTable('vpn_short_codes', {
    id: id(),
    group_id: { type: DataTypes.INTEGER, allowNull: false },
    code: { type: DataTypes.STRING(16), allowNull: false },
    e164: { type: DataTypes.STRING(32), allowNull: false },
    service: { type: DataTypes.STRING(64), allowNull: true },
    description: { type: DataTypes.STRING(255), allowNull: true },
    ...timestamps(),
  }),
  addIndex('vpn_short_codes', ['group_id', 'code'], { name: 'vpn_short_codes_group_code_uq', unique: true }),

  createTable('vpn_screening_rules', {
    id: id(),
    group_id: { type: DataTypes.INTEGER, allowNull: false },
    member_id: { type: DataTypes.INTEGER, allowNull: true },
    day_type: { type: DataTypes.STRING(64), allowNull: true },
    time_from: { type: DataTypes.STRING(5), allowNull: true },
    time_to: { type: DataTypes.STRING(5), allowNull: true },
    call_class: { type: DataTypes.STRING(16), allowNull: false },
    priority: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    ...timestamps(),
  }),
  addIndex('vpn_screening_rules', ['group_id'], { name: 'vpn_screening_rules_group_idx' }),

  addColumn('cdrs', 'charging', { type: DataTypes.STRING(16), allowNull: true }),
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  await qi.removeColumn('cdrs', 'charging');
  await qi.dropTable('vpn_screening_rules');
  await qi.dropTable('vpn_short_codes');
  await qi.dropTable('vpn_cug_members');
  await qi.dropTable('vpn_cugs');
  await qi.removeColumn('vpn_members', 'personal_plan');
  await qi.removeColumn('vpn_members', 'personal_account_id');
  await qi.removeColumn('vpn_groups', 'status');
  await qi.removeColumn('vpn_groups', 'private_prefix');
}
