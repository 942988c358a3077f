import { DataTypes, Model, type ModelStatic, type Sequelize } from 'sequelize';

/**
 * Sequelize models of the prepaid tables, for admin tools and reports. Credit control itself goes
 * through PrepaidRepository (conditional SQL); money attributes are DECIMAL strings on
 * MySQL but integers of micro-units on SQLite (money-column.ts): read and write money through the
 * repositories, which convert.
 */
export interface PrepaidModels {
  Account: ModelStatic<Model>;
  LedgerEntry: ModelStatic<Model>;
  Reservation: ModelStatic<Model>;
  ReservationStep: ModelStatic<Model>;
}

const money = () => DataTypes.DECIMAL(20, 6);
const common = { underscored: true, timestamps: false } as const;

export function definePrepaidModels(sequelize: Sequelize): PrepaidModels {
  const m = sequelize.models;
  const Account = m.Account ?? sequelize.define('Account', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    code: { type: DataTypes.STRING(64), allowNull: false, unique: 'accounts_code_uq' },
    kind: { type: DataTypes.STRING(16), allowNull: false },
    currency: { type: DataTypes.STRING(3), allowNull: false },
    status: { type: DataTypes.STRING(16), allowNull: false },
    balance: { type: money(), allowNull: false },
    reserved: { type: money(), allowNull: false },
    creditLimit: { type: money(), allowNull: false },
    lowBalanceThreshold: { type: money(), allowNull: true },
    maxCalls: { type: DataTypes.INTEGER, allowNull: true },
    liveCalls: { type: DataTypes.INTEGER, allowNull: false },
    expiresAt: { type: DataTypes.DATE(3), allowNull: true },
    createdAt: { type: DataTypes.DATE(3), allowNull: false },
    updatedAt: { type: DataTypes.DATE(3), allowNull: false },
  }, { ...common, tableName: 'accounts' });
  const LedgerEntry = m.LedgerEntry ?? sequelize.define('LedgerEntry', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    accountId: { type: DataTypes.INTEGER, allowNull: false },
    kind: { type: DataTypes.STRING(16), allowNull: false },
    amount: { type: money(), allowNull: false },
    balanceAfter: { type: money(), allowNull: false },
    idempotencyKey: { type: DataTypes.STRING(191), allowNull: false },
    callId: { type: DataTypes.STRING(191), allowNull: true },
    note: { type: DataTypes.STRING(255), allowNull: true },
    createdAt: { type: DataTypes.DATE(3), allowNull: false },
  }, { ...common, tableName: 'ledger_entries' });
  const Reservation = m.Reservation ?? sequelize.define('Reservation', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    accountId: { type: DataTypes.INTEGER, allowNull: false },
    callId: { type: DataTypes.STRING(191), allowNull: false },
    mode: { type: DataTypes.STRING(16), allowNull: false },
    state: { type: DataTypes.STRING(16), allowNull: false },
    amount: { type: money(), allowNull: false },
    grantedSeconds: { type: DataTypes.INTEGER, allowNull: false },
    answeredAt: { type: DataTypes.DATE(3), allowNull: true },
    ownerInstance: { type: DataTypes.STRING(64), allowNull: false },
    checkpointSeconds: { type: DataTypes.INTEGER, allowNull: false },
    checkpointAmount: { type: money(), allowNull: false },
    checkpointAt: { type: DataTypes.DATE(3), allowNull: true },
    settledSeconds: { type: DataTypes.INTEGER, allowNull: true },
    charged: { type: money(), allowNull: true },
    recovery: { type: DataTypes.TEXT, allowNull: true },
    version: { type: DataTypes.INTEGER, allowNull: false },
    createdAt: { type: DataTypes.DATE(3), allowNull: false },
    updatedAt: { type: DataTypes.DATE(3), allowNull: false },
  }, { ...common, tableName: 'reservations' });
  const ReservationStep = m.ReservationStep ?? sequelize.define('ReservationStep', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true },
    reservationId: { type: DataTypes.INTEGER, allowNull: false },
    callId: { type: DataTypes.STRING(191), allowNull: false },
    stepKey: { type: DataTypes.STRING(32), allowNull: false },
    requestedSeconds: { type: DataTypes.INTEGER, allowNull: false },
    addedSeconds: { type: DataTypes.INTEGER, allowNull: false },
    amountDelta: { type: money(), allowNull: false },
    grantedSeconds: { type: DataTypes.INTEGER, allowNull: false },
    reservedAfter: { type: money(), allowNull: false },
    final: { type: DataTypes.BOOLEAN, allowNull: false },
    createdAt: { type: DataTypes.DATE(3), allowNull: false },
  }, { ...common, tableName: 'reservation_steps' });
  return { Account, LedgerEntry, Reservation, ReservationStep };
}
