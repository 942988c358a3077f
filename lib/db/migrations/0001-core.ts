import { DataTypes } from 'sequelize';
import { addIndex, applySteps, createTable, type Ctx, type MigrationStep } from './steps';

const money = () => DataTypes.DECIMAL(20, 6);

/** Application instances (heartbeats) and call detail records. */
export const steps: MigrationStep[] = [
  createTable('app_instances', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    instance_id: { type: DataTypes.STRING(64), allowNull: false },
    hostname: { type: DataTypes.STRING(255), allowNull: true },
    pid: { type: DataTypes.INTEGER, allowNull: true },
    started_at: { type: DataTypes.DATE, allowNull: false },
    heartbeat_at: { type: DataTypes.DATE, allowNull: false },
    stopped_at: { type: DataTypes.DATE, allowNull: true },
  }),
  addIndex('app_instances', ['instance_id'], { name: 'app_instances_instance_id_uq', unique: true }),

  createTable('cdrs', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    call_id: { type: DataTypes.STRING(255), allowNull: false },
    instance_id: { type: DataTypes.STRING(64), allowNull: true },
    sip_call_id: { type: DataTypes.STRING(255), allowNull: true },
    invite_at: { type: DataTypes.DATE(3), allowNull: false },
    answer_at: { type: DataTypes.DATE(3), allowNull: true },
    end_at: { type: DataTypes.DATE(3), allowNull: false },
    caller_dialled: { type: DataTypes.STRING(128), allowNull: true },
    caller_e164: { type: DataTypes.STRING(32), allowNull: true },
    callee_dialled: { type: DataTypes.STRING(128), allowNull: true },
    callee_e164: { type: DataTypes.STRING(32), allowNull: true },
    presented_caller: { type: DataTypes.STRING(64), allowNull: true },
    scope: { type: DataTypes.STRING(16), allowNull: true },
    service: { type: DataTypes.STRING(64), allowNull: true },
    vpn_group: { type: DataTypes.STRING(64), allowNull: true },
    account_id: { type: DataTypes.INTEGER, allowNull: true },
    ingress_trunk: { type: DataTypes.STRING(64), allowNull: true },
    egress_trunk: { type: DataTypes.STRING(64), allowNull: true },
    billable_seconds: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    granted_seconds: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    disposition: { type: DataTypes.STRING(16), allowNull: false },
    release_cause: { type: DataTypes.STRING(32), allowNull: true },
    sip_status: { type: DataTypes.INTEGER, allowNull: true },
    sip_reason: { type: DataTypes.STRING(255), allowNull: true },
    rule_id: { type: DataTypes.INTEGER, allowNull: true },
    tariff_id: { type: DataTypes.INTEGER, allowNull: true },
    currency: { type: DataTypes.STRING(3), allowNull: true },
    cost: { type: money(), allowNull: false, defaultValue: '0' },
    ledger_key: { type: DataTypes.STRING(255), allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
  }),
  addIndex('cdrs', ['call_id'], { name: 'cdrs_call_id_uq', unique: true }),
  addIndex('cdrs', ['account_id', 'invite_at'], { name: 'cdrs_account_invite_idx' }),
  addIndex('cdrs', ['invite_at'], { name: 'cdrs_invite_idx' }),
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  await qi.dropTable('cdrs');
  await qi.dropTable('app_instances');
}
