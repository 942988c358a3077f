import { DataTypes } from 'sequelize';
import { addIndex, applySteps, createTable, type Ctx, type MigrationStep } from './steps';

const timestamps = () => ({
  created_at: { type: DataTypes.DATE(3), allowNull: false },
  updated_at: { type: DataTypes.DATE(3), allowNull: false },
});

/**
 * VPN numbering plan and routing: trunks, prefix routes, subscribers (a number and the account
 * that pays for its calls), VPN groups and their members. Lists (trunk addresses, barring
 * prefixes) are comma-separated text so admins can edit them by hand.
 */
export const steps: MigrationStep[] = [
  createTable('trunks', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    name: { type: DataTypes.STRING(64), allowNull: false },
    addresses: { type: DataTypes.TEXT, allowNull: false },
    pai_trusted: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    host: { type: DataTypes.STRING(255), allowNull: false },
    port: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 5060 },
    transport: { type: DataTypes.STRING(8), allowNull: false, defaultValue: 'udp' },
    max_calls: { type: DataTypes.INTEGER, allowNull: true },
    enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    ...timestamps(),
  }),
  addIndex('trunks', ['name'], { name: 'trunks_name_uq', unique: true }),

  createTable('routes', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    prefix: { type: DataTypes.STRING(32), allowNull: false, defaultValue: '' },
    trunk_id: { type: DataTypes.INTEGER, allowNull: false },
    priority: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 10 },
    enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    description: { type: DataTypes.STRING(255), allowNull: true },
    ...timestamps(),
  }),
  addIndex('routes', ['prefix'], { name: 'routes_prefix_idx' }),
  addIndex('routes', ['trunk_id'], { name: 'routes_trunk_idx' }),

  createTable('subscribers', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    e164: { type: DataTypes.STRING(32), allowNull: false },
    account_id: { type: DataTypes.INTEGER, allowNull: false },
    plan: { type: DataTypes.STRING(64), allowNull: true },
    home_trunk_id: { type: DataTypes.INTEGER, allowNull: true },
    status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'active' },
    display_name: { type: DataTypes.STRING(128), allowNull: true },
    ...timestamps(),
  }),
  addIndex('subscribers', ['e164'], { name: 'subscribers_e164_uq', unique: true }),
  addIndex('subscribers', ['account_id'], { name: 'subscribers_account_idx' }),

  createTable('vpn_groups', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    code: { type: DataTypes.STRING(64), allowNull: false },
    name: { type: DataTypes.STRING(128), allowNull: false },
    offnet_prefix: { type: DataTypes.STRING(8), allowNull: true },
    extension_length: { type: DataTypes.INTEGER, allowNull: true },
    extension_pattern: { type: DataTypes.STRING(128), allowNull: true },
    allow_onnet_between_groups: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    ...timestamps(),
  }),
  addIndex('vpn_groups', ['code'], { name: 'vpn_groups_code_uq', unique: true }),

  createTable('vpn_members', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    group_id: { type: DataTypes.INTEGER, allowNull: false },
    subscriber_id: { type: DataTypes.INTEGER, allowNull: false },
    extension: { type: DataTypes.STRING(16), allowNull: false },
    call_class: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'national' },
    outgoing_barring: { type: DataTypes.TEXT, allowNull: true },
    incoming_barring: { type: DataTypes.TEXT, allowNull: true },
    ...timestamps(),
  }),
  addIndex('vpn_members', ['group_id', 'extension'], { name: 'vpn_members_group_extension_uq', unique: true }),
  addIndex('vpn_members', ['subscriber_id'], { name: 'vpn_members_subscriber_uq', unique: true }),
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  await qi.dropTable('vpn_members');
  await qi.dropTable('vpn_groups');
  await qi.dropTable('subscribers');
  await qi.dropTable('routes');
  await qi.dropTable('trunks');
}
