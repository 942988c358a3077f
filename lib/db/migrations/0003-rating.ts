import { DataTypes } from 'sequelize';
import { addIndex, applySteps, createTable, type Ctx, type MigrationStep } from './steps';

const money = () => DataTypes.DECIMAL(20, 6);

/**
 * Rule-table rating: services, charging rules, tariffs and their steps, day types and holidays.
 * References are plain integer columns (no database foreign keys); the rating engine validates
 * them whole at every load and reports the table and row of every mistake.
 */
export const steps: MigrationStep[] = [
  createTable('services', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    code: { type: DataTypes.STRING(64), allowNull: false },
    name: { type: DataTypes.STRING(255), allowNull: true },
  }),
  addIndex('services', ['code'], { name: 'services_code_uq', unique: true }),

  createTable('day_types', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    code: { type: DataTypes.STRING(32), allowNull: false },
    name: { type: DataTypes.STRING(255), allowNull: true },
    // 'mon,tue,wed,thu,fri'; empty for a day type that only the holiday calendar assigns
    weekdays: { type: DataTypes.STRING(64), allowNull: true },
  }),
  addIndex('day_types', ['code'], { name: 'day_types_code_uq', unique: true }),

  createTable('holidays', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    date: { type: DataTypes.DATEONLY, allowNull: false },
    day_type_id: { type: DataTypes.INTEGER, allowNull: false },
    name: { type: DataTypes.STRING(255), allowNull: true },
  }),
  addIndex('holidays', ['date'], { name: 'holidays_date_uq', unique: true }),

  createTable('tariffs', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    code: { type: DataTypes.STRING(64), allowNull: false },
    name: { type: DataTypes.STRING(255), allowNull: true },
    currency: { type: DataTypes.STRING(3), allowNull: false },
    connect_fee: { type: money(), allowNull: false, defaultValue: '0' },
    minimum_charge: { type: money(), allowNull: false, defaultValue: '0' },
    free_seconds: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    // IANA zone for day types and time windows of rules using this tariff; NULL: config rating.timeZone
    time_zone: { type: DataTypes.STRING(64), allowNull: true },
  }),
  addIndex('tariffs', ['code'], { name: 'tariffs_code_uq', unique: true }),

  createTable('tariff_steps', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    tariff_id: { type: DataTypes.INTEGER, allowNull: false },
    from_second: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    increment_seconds: { type: DataTypes.INTEGER, allowNull: false },
    price_per_increment: { type: money(), allowNull: false },
  }),
  addIndex('tariff_steps', ['tariff_id', 'from_second'], { name: 'tariff_steps_tariff_idx' }),

  createTable('charging_rules', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    service_id: { type: DataTypes.INTEGER, allowNull: false },
    caller_plan: { type: DataTypes.STRING(64), allowNull: true },
    vpn_group: { type: DataTypes.STRING(64), allowNull: true },
    destination_prefix: { type: DataTypes.STRING(32), allowNull: false, defaultValue: '' },
    day_type_id: { type: DataTypes.INTEGER, allowNull: true },
    time_from: { type: DataTypes.STRING(8), allowNull: true },
    time_to: { type: DataTypes.STRING(8), allowNull: true },
    valid_from: { type: DataTypes.DATE, allowNull: true },
    valid_to: { type: DataTypes.DATE, allowNull: true },
    priority: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    tariff_id: { type: DataTypes.INTEGER, allowNull: false },
    description: { type: DataTypes.STRING(255), allowNull: true },
  }),
  addIndex('charging_rules', ['service_id', 'destination_prefix'], { name: 'charging_rules_service_prefix_idx' }),
  addIndex('charging_rules', ['tariff_id'], { name: 'charging_rules_tariff_idx' }),
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  for (const t of ['charging_rules', 'tariff_steps', 'tariffs', 'holidays', 'day_types', 'services']) await qi.dropTable(t);
}
