import { DataTypes, type QueryInterface } from 'sequelize';

type Ctx = { context: QueryInterface };

const money = () => DataTypes.DECIMAL(20, 6);

/**
 * Rule-table rating: services, charging rules, tariffs and their steps, day types and holidays.
 * References are plain integer columns (no database foreign keys); the rating engine validates
 * them whole at every load and reports the table and row of every mistake.
 */
export async function up({ context: qi }: Ctx): Promise<void> {
  await qi.createTable('services', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    code: { type: DataTypes.STRING(64), allowNull: false },
    name: { type: DataTypes.STRING(255), allowNull: true },
  });
  await qi.addIndex('services', ['code'], { unique: true, name: 'services_code_uq' });

  await qi.createTable('day_types', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    code: { type: DataTypes.STRING(32), allowNull: false },
    name: { type: DataTypes.STRING(255), allowNull: true },
    // 'mon,tue,wed,thu,fri'; empty for a day type that only the holiday calendar assigns
    weekdays: { type: DataTypes.STRING(64), allowNull: true },
  });
  await qi.addIndex('day_types', ['code'], { unique: true, name: 'day_types_code_uq' });

  await qi.createTable('holidays', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    date: { type: DataTypes.DATEONLY, allowNull: false },
    day_type_id: { type: DataTypes.INTEGER, allowNull: false },
    name: { type: DataTypes.STRING(255), allowNull: true },
  });
  await qi.addIndex('holidays', ['date'], { unique: true, name: 'holidays_date_uq' });

  await qi.createTable('tariffs', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    code: { type: DataTypes.STRING(64), allowNull: false },
    name: { type: DataTypes.STRING(255), allowNull: true },
    currency: { type: DataTypes.STRING(3), allowNull: false },
    connect_fee: { type: money(), allowNull: false, defaultValue: '0' },
    minimum_charge: { type: money(), allowNull: false, defaultValue: '0' },
    free_seconds: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    // IANA zone for day types and time windows of rules using this tariff; NULL: config rating.timeZone
    time_zone: { type: DataTypes.STRING(64), allowNull: true },
  });
  await qi.addIndex('tariffs', ['code'], { unique: true, name: 'tariffs_code_uq' });

  await qi.createTable('tariff_steps', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    tariff_id: { type: DataTypes.INTEGER, allowNull: false },
    from_second: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    increment_seconds: { type: DataTypes.INTEGER, allowNull: false },
    price_per_increment: { type: money(), allowNull: false },
  });
  await qi.addIndex('tariff_steps', ['tariff_id', 'from_second'], { name: 'tariff_steps_tariff_idx' });

  await qi.createTable('charging_rules', {
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
  });
  await qi.addIndex('charging_rules', ['service_id', 'destination_prefix'], { name: 'charging_rules_service_prefix_idx' });
  await qi.addIndex('charging_rules', ['tariff_id'], { name: 'charging_rules_tariff_idx' });
}

export async function down({ context: qi }: Ctx): Promise<void> {
  for (const t of ['charging_rules', 'tariff_steps', 'tariffs', 'holidays', 'day_types', 'services']) await qi.dropTable(t);
}
