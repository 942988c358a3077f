import { DataTypes, type ModelStatic, type Model, type Sequelize } from 'sequelize';

export interface VpnModels {
  Trunk: ModelStatic<Model>;
  Route: ModelStatic<Model>;
  Subscriber: ModelStatic<Model>;
  VpnGroup: ModelStatic<Model>;
  VpnMember: ModelStatic<Model>;
  VpnCug: ModelStatic<Model>;
  VpnCugMember: ModelStatic<Model>;
  VpnShortCode: ModelStatic<Model>;
  VpnScreeningRule: ModelStatic<Model>;
}

const common = { underscored: true, timestamps: true, createdAt: 'created_at', updatedAt: 'updated_at' } as const;

function defineOnce(sequelize: Sequelize, name: string, tableName: string, attributes: Parameters<Sequelize['define']>[1]): ModelStatic<Model> {
  return (sequelize.models[name] as ModelStatic<Model> | undefined) ?? sequelize.define(name, attributes, { ...common, tableName });
}

/** Models of the VPN tables (see migration 0004-vpn); defining them twice reuses the first. */
export function defineVpnModels(sequelize: Sequelize): VpnModels {
  const id = { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true };
  return {
    Trunk: defineOnce(sequelize, 'Trunk', 'trunks', {
      id,
      name: { type: DataTypes.STRING(64), allowNull: false },
      addresses: { type: DataTypes.TEXT, allowNull: false },
      pai_trusted: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      serves_members: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      host: { type: DataTypes.STRING(255), allowNull: false },
      port: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 5060 },
      transport: { type: DataTypes.STRING(8), allowNull: false, defaultValue: 'udp' },
      max_calls: { type: DataTypes.INTEGER, allowNull: true },
      enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    }),
    Route: defineOnce(sequelize, 'Route', 'routes', {
      id,
      prefix: { type: DataTypes.STRING(32), allowNull: false, defaultValue: '' },
      trunk_id: { type: DataTypes.INTEGER, allowNull: false },
      priority: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 10 },
      enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
      description: { type: DataTypes.STRING(255), allowNull: true },
    }),
    Subscriber: defineOnce(sequelize, 'Subscriber', 'subscribers', {
      id,
      e164: { type: DataTypes.STRING(32), allowNull: false },
      account_id: { type: DataTypes.INTEGER, allowNull: false },
      plan: { type: DataTypes.STRING(64), allowNull: true },
      home_trunk_id: { type: DataTypes.INTEGER, allowNull: true },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'active' },
      display_name: { type: DataTypes.STRING(128), allowNull: true },
    }),
    VpnGroup: defineOnce(sequelize, 'VpnGroup', 'vpn_groups', {
      id,
      code: { type: DataTypes.STRING(64), allowNull: false },
      name: { type: DataTypes.STRING(128), allowNull: false },
      offnet_prefix: { type: DataTypes.STRING(8), allowNull: true },
      extension_length: { type: DataTypes.INTEGER, allowNull: true },
      extension_pattern: { type: DataTypes.STRING(128), allowNull: true },
      allow_onnet_between_groups: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      private_prefix: { type: DataTypes.STRING(8), allowNull: true },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'active' },
      pool_account_id: { type: DataTypes.INTEGER, allowNull: true },
    }),
    VpnMember: defineOnce(sequelize, 'VpnMember', 'vpn_members', {
      id,
      group_id: { type: DataTypes.INTEGER, allowNull: false },
      subscriber_id: { type: DataTypes.INTEGER, allowNull: false },
      extension: { type: DataTypes.STRING(16), allowNull: false },
      call_class: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'national' },
      outgoing_barring: { type: DataTypes.TEXT, allowNull: true },
      incoming_barring: { type: DataTypes.TEXT, allowNull: true },
      personal_account_id: { type: DataTypes.INTEGER, allowNull: true },
      personal_plan: { type: DataTypes.STRING(64), allowNull: true },
    }),
    // Migration 0013-vpn-enterprise.
    VpnCug: defineOnce(sequelize, 'VpnCug', 'vpn_cugs', {
      id,
      code: { type: DataTypes.STRING(64), allowNull: false },
      name: { type: DataTypes.STRING(128), allowNull: false },
    }),
    VpnCugMember: defineOnce(sequelize, 'VpnCugMember', 'vpn_cug_members', {
      id,
      cug_id: { type: DataTypes.INTEGER, allowNull: false },
      member_id: { type: DataTypes.INTEGER, allowNull: false },
      outgoing_access: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      incoming_access: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    }),
    VpnShortCode: defineOnce(sequelize, 'VpnShortCode', 'vpn_short_codes', {
      id,
      group_id: { type: DataTypes.INTEGER, allowNull: false },
      code: { type: DataTypes.STRING(16), allowNull: false },
      e164: { type: DataTypes.STRING(32), allowNull: false },
      service: { type: DataTypes.STRING(64), allowNull: true },
      description: { type: DataTypes.STRING(255), allowNull: true },
    }),
    VpnScreeningRule: defineOnce(sequelize, 'VpnScreeningRule', 'vpn_screening_rules', {
      id,
      group_id: { type: DataTypes.INTEGER, allowNull: false },
      member_id: { type: DataTypes.INTEGER, allowNull: true },
      day_type: { type: DataTypes.STRING(64), allowNull: true },
      time_from: { type: DataTypes.STRING(5), allowNull: true },
      time_to: { type: DataTypes.STRING(5), allowNull: true },
      call_class: { type: DataTypes.STRING(16), allowNull: false },
      priority: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    }),
  };
}
