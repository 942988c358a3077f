import { DataTypes, Model, type ModelStatic, type Sequelize } from 'sequelize';

/**
 * Sequelize models of the rating tables, for admin tools and seeds. The rating engine loads through
 * RatingRepository; money attributes are DECIMAL strings on
 * MySQL but integers of micro-units on SQLite (money-column.ts): read and write money through the
 * repositories, which convert.
 */
export interface RatingModels {
  Service: ModelStatic<Model>;
  DayType: ModelStatic<Model>;
  Holiday: ModelStatic<Model>;
  Tariff: ModelStatic<Model>;
  TariffStep: ModelStatic<Model>;
  ChargingRule: ModelStatic<Model>;
}

const money = () => DataTypes.DECIMAL(20, 6);
const common = { underscored: true, timestamps: false } as const;
const id = { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true };

export function defineRatingModels(sequelize: Sequelize): RatingModels {
  const m = sequelize.models;
  const Service = m.Service ?? sequelize.define('Service', {
    id, code: { type: DataTypes.STRING(64), allowNull: false }, name: { type: DataTypes.STRING(255), allowNull: true },
  }, { ...common, tableName: 'services' });
  const DayType = m.DayType ?? sequelize.define('DayType', {
    id, code: { type: DataTypes.STRING(32), allowNull: false }, name: { type: DataTypes.STRING(255), allowNull: true },
    weekdays: { type: DataTypes.STRING(64), allowNull: true },
  }, { ...common, tableName: 'day_types' });
  const Holiday = m.Holiday ?? sequelize.define('Holiday', {
    id, date: { type: DataTypes.DATEONLY, allowNull: false }, dayTypeId: { type: DataTypes.INTEGER, allowNull: false },
    name: { type: DataTypes.STRING(255), allowNull: true },
  }, { ...common, tableName: 'holidays' });
  const Tariff = m.Tariff ?? sequelize.define('Tariff', {
    id, code: { type: DataTypes.STRING(64), allowNull: false }, name: { type: DataTypes.STRING(255), allowNull: true },
    currency: { type: DataTypes.STRING(3), allowNull: false }, connectFee: { type: money(), allowNull: false },
    minimumCharge: { type: money(), allowNull: false }, freeSeconds: { type: DataTypes.INTEGER, allowNull: false },
    timeZone: { type: DataTypes.STRING(64), allowNull: true },
  }, { ...common, tableName: 'tariffs' });
  const TariffStep = m.TariffStep ?? sequelize.define('TariffStep', {
    id, tariffId: { type: DataTypes.INTEGER, allowNull: false }, fromSecond: { type: DataTypes.INTEGER, allowNull: false },
    incrementSeconds: { type: DataTypes.INTEGER, allowNull: false }, pricePerIncrement: { type: money(), allowNull: false },
  }, { ...common, tableName: 'tariff_steps' });
  const ChargingRule = m.ChargingRule ?? sequelize.define('ChargingRule', {
    id, serviceId: { type: DataTypes.INTEGER, allowNull: false }, callerPlan: { type: DataTypes.STRING(64), allowNull: true },
    vpnGroup: { type: DataTypes.STRING(64), allowNull: true }, destinationPrefix: { type: DataTypes.STRING(32), allowNull: false },
    dayTypeId: { type: DataTypes.INTEGER, allowNull: true }, timeFrom: { type: DataTypes.STRING(8), allowNull: true },
    timeTo: { type: DataTypes.STRING(8), allowNull: true }, validFrom: { type: DataTypes.DATE, allowNull: true },
    validTo: { type: DataTypes.DATE, allowNull: true }, priority: { type: DataTypes.INTEGER, allowNull: false },
    tariffId: { type: DataTypes.INTEGER, allowNull: false }, description: { type: DataTypes.STRING(255), allowNull: true },
  }, { ...common, tableName: 'charging_rules' });
  return { Service, DayType, Holiday, Tariff, TariffStep, ChargingRule };
}
