import { DataTypes, QueryTypes, type QueryInterface } from 'sequelize';
import { addColumn, applySteps, type Ctx, type MigrationStep } from './steps';

/**
 * A settlement and its CDR are one statement. The UPDATE that closes a reservation may carry the
 * call's record (`call_record`: a JSON object of cdrs columns, nulls left out); a trigger that
 * runs after the one that charges (0008) inserts the cdrs row from it, with the reservation's own
 * call id, settled seconds, ledger key and charge as cost: CDR cost equals the ledger charge by
 * construction, and a crash cannot fall between the two. A CDR already written for the call (by
 * a replay) is left as it is. A row the table refuses fails the settlement with it, which then
 * goes the way of any failed settlement (journalled, its CDR spooled).
 */

export const TRIGGER = 'reservations_call_record';

/** The cdrs columns taken from the record, with their SQL type on MySQL (JSON_VALUE returns text). */
export const RECORD_COLUMNS = [
  'instance_id', 'sip_call_id', 'invite_at', 'answer_at', 'end_at', 'caller_dialled', 'caller_e164', 'callee_dialled', 'callee_e164',
  'presented_caller', 'scope', 'service', 'vpn_group', 'account_id', 'ingress_trunk', 'egress_trunk', 'granted_seconds', 'disposition',
  'release_cause', 'sip_status', 'sip_reason', 'rule_id', 'tariff_id', 'currency',
] as const;
/** The columns the reservation itself gives, so that they cannot disagree with the books. */
const FROM_RESERVATION: Array<[string, string]> = [
  ['call_id', 'NEW.call_id'], ['billable_seconds', 'COALESCE(NEW.settled_seconds, 0)'], ['cost', 'COALESCE(NEW.charged, 0)'],
  ['ledger_key', 'NEW.ledger_key'], ['created_at', 'NEW.updated_at'],
];

/** The trigger on MariaDB/MySQL, inserting `recordColumns` from the record (later migrations add columns). */
export function mysqlTrigger(recordColumns: readonly string[] = RECORD_COLUMNS): string {
  const cols = [...FROM_RESERVATION.map(([c]) => c), ...recordColumns];
  const values = [...FROM_RESERVATION.map(([, v]) => v), ...recordColumns.map((c) => `JSON_VALUE(NEW.call_record, '$.${c}')`)];
  return `CREATE TRIGGER ${TRIGGER} AFTER UPDATE ON reservations FOR EACH ROW FOLLOWS reservations_close
    BEGIN
      IF OLD.state = 'active' AND NEW.state <> 'active' AND NEW.call_record IS NOT NULL THEN
        INSERT INTO cdrs (${cols.join(', ')}) VALUES (${values.join(', ')})
          ON DUPLICATE KEY UPDATE call_id = call_id;
      END IF;
    END`;
}

/** The trigger on SQLite, inserting `recordColumns` from the record. */
export function sqliteTrigger(recordColumns: readonly string[] = RECORD_COLUMNS): string {
  const cols = [...FROM_RESERVATION.map(([c]) => c), ...recordColumns];
  const values = [...FROM_RESERVATION.map(([, v]) => v), ...recordColumns.map((c) => `json_extract(NEW.call_record, '$.${c}')`)];
  return `CREATE TRIGGER ${TRIGGER} AFTER UPDATE OF state ON reservations
    WHEN OLD.state = 'active' AND NEW.state <> 'active' AND NEW.call_record IS NOT NULL
    BEGIN
      INSERT INTO cdrs (${cols.join(', ')}) SELECT ${values.join(', ')}
        WHERE NOT EXISTS (SELECT 1 FROM cdrs WHERE call_id = NEW.call_id);
    END`;
}

/** The trigger's body as the server keeps it, or undefined when there is none. */
export async function triggerBody(qi: QueryInterface): Promise<string | undefined> {
  const sqlite = qi.sequelize.getDialect() === 'sqlite';
  const rows = await qi.sequelize.query<{ body: string }>(
    sqlite ? "SELECT sql AS body FROM sqlite_master WHERE type = 'trigger' AND name = $1"
      : 'SELECT ACTION_STATEMENT AS body FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = $1',
    { bind: [TRIGGER], type: QueryTypes.SELECT },
  );
  return rows[0]?.body;
}

async function hasTrigger(qi: QueryInterface): Promise<boolean> {
  const sqlite = qi.sequelize.getDialect() === 'sqlite';
  const rows = await qi.sequelize.query<{ name: string }>(
    sqlite ? "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name = $1"
      : 'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = $1',
    { bind: [TRIGGER], type: QueryTypes.SELECT },
  );
  return rows.length > 0;
}

export const steps: MigrationStep[] = [
  addColumn('reservations', 'call_record', { type: DataTypes.TEXT, allowNull: true }),
  {
    what: `trigger ${TRIGGER}`,
    done: hasTrigger,
    // One CREATE TRIGGER is one statement: the trigger exists whole or not at all.
    apply: async (qi) => { await qi.sequelize.query(qi.sequelize.getDialect() === 'sqlite' ? sqliteTrigger() : mysqlTrigger()); },
  },
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  await qi.sequelize.query(`DROP TRIGGER IF EXISTS ${TRIGGER}`);
  await qi.removeColumn('reservations', 'call_record');
}
