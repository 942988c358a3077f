import { DataTypes } from 'sequelize';
import { addIndex, applySteps, createTable, type Ctx, type MigrationStep } from './steps';

const money = () => DataTypes.DECIMAL(20, 6);

/** Prepaid credit control: accounts, their ledger, reservations of live calls and their steps. */
export const steps: MigrationStep[] = [
  createTable('accounts', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    code: { type: DataTypes.STRING(64), allowNull: false },
    kind: { type: DataTypes.STRING(16), allowNull: false },
    currency: { type: DataTypes.STRING(3), allowNull: false },
    status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'active' },
    balance: { type: money(), allowNull: false, defaultValue: '0' },
    reserved: { type: money(), allowNull: false, defaultValue: '0' },
    credit_limit: { type: money(), allowNull: false, defaultValue: '0' },
    low_balance_threshold: { type: money(), allowNull: true },
    max_calls: { type: DataTypes.INTEGER, allowNull: true },
    live_calls: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    expires_at: { type: DataTypes.DATE(3), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  }),
  addIndex('accounts', ['code'], { name: 'accounts_code_uq', unique: true }),

  createTable('ledger_entries', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    account_id: { type: DataTypes.INTEGER, allowNull: false },
    kind: { type: DataTypes.STRING(16), allowNull: false },
    amount: { type: money(), allowNull: false },
    balance_after: { type: money(), allowNull: false },
    idempotency_key: { type: DataTypes.STRING(191), allowNull: false },
    call_id: { type: DataTypes.STRING(191), allowNull: true },
    note: { type: DataTypes.STRING(255), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  }),
  addIndex('ledger_entries', ['idempotency_key'], { name: 'ledger_entries_key_uq', unique: true }),
  addIndex('ledger_entries', ['account_id', 'id'], { name: 'ledger_entries_account_idx' }),

  createTable('reservations', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    account_id: { type: DataTypes.INTEGER, allowNull: false },
    call_id: { type: DataTypes.STRING(191), allowNull: false },
    mode: { type: DataTypes.STRING(16), allowNull: false },
    state: { type: DataTypes.STRING(16), allowNull: false },
    amount: { type: money(), allowNull: false },
    granted_seconds: { type: DataTypes.INTEGER, allowNull: false },
    answered_at: { type: DataTypes.DATE(3), allowNull: true },
    owner_instance: { type: DataTypes.STRING(64), allowNull: false },
    checkpoint_seconds: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    checkpoint_amount: { type: money(), allowNull: false, defaultValue: '0' },
    checkpoint_at: { type: DataTypes.DATE(3), allowNull: true },
    settled_seconds: { type: DataTypes.INTEGER, allowNull: true },
    charged: { type: money(), allowNull: true },
    version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
    updated_at: { type: DataTypes.DATE(3), allowNull: false },
  }),
  addIndex('reservations', ['call_id'], { name: 'reservations_call_uq', unique: true }),
  addIndex('reservations', ['state', 'owner_instance'], { name: 'reservations_state_owner_idx' }),
  addIndex('reservations', ['account_id', 'state'], { name: 'reservations_account_state_idx' }),

  createTable('reservation_steps', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    reservation_id: { type: DataTypes.INTEGER, allowNull: false },
    call_id: { type: DataTypes.STRING(191), allowNull: false },
    step_key: { type: DataTypes.STRING(32), allowNull: false },
    requested_seconds: { type: DataTypes.INTEGER, allowNull: false },
    added_seconds: { type: DataTypes.INTEGER, allowNull: false },
    amount_delta: { type: money(), allowNull: false },
    granted_seconds: { type: DataTypes.INTEGER, allowNull: false },
    reserved_after: { type: money(), allowNull: false },
    final: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  }),
  addIndex('reservation_steps', ['call_id', 'step_key'], { name: 'reservation_steps_call_step_uq', unique: true }),
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  await qi.dropTable('reservation_steps');
  await qi.dropTable('reservations');
  await qi.dropTable('ledger_entries');
  await qi.dropTable('accounts');
}
