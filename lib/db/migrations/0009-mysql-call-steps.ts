import { QueryTypes, type QueryInterface } from 'sequelize';
import { applySteps, type Ctx, type MigrationStep } from './steps';

/**
 * MySQL has no INSERT ... RETURNING (MariaDB has it since 10.5). So that authorise and every later
 * step stay one statement there too, each is a stored procedure whose INSERT fires the triggers of
 * migration 0008 and then reads back what the caller needs (the reservation's id, and whether the
 * account went below its low-balance threshold) by the unique call key: one CALL, one round trip.
 * A refusal raised by a trigger ends the CALL with the same error as the bare INSERT. MariaDB
 * accepts the same procedures; it uses them only when told to (the repository's `returning: false`).
 * SQLite has RETURNING and no procedures: nothing to do there.
 */

const PROCEDURES: Record<string, string> = {
  tollgate_authorise: `CREATE PROCEDURE tollgate_authorise(
      IN p_account_id INT, IN p_extra_holds TEXT, IN p_call_id VARCHAR(191), IN p_currency VARCHAR(3), IN p_mode VARCHAR(16),
      IN p_amount DECIMAL(20,6), IN p_required DECIMAL(20,6), IN p_seconds INT, IN p_final BOOLEAN, IN p_owner VARCHAR(64), IN p_at DATETIME(3))
    MODIFIES SQL DATA
    BEGIN
      INSERT INTO reservations (account_id, extra_holds, call_id, currency, mode, state, amount, required_amount, granted_seconds,
        authorised_final, owner_instance, checkpoint_seconds, checkpoint_amount, version, created_at, updated_at)
      VALUES (p_account_id, p_extra_holds, p_call_id, p_currency, p_mode, 'active', p_amount, p_required, p_seconds,
        p_final, p_owner, 0, 0, 0, p_at, p_at);
      SELECT r.id, r.low_balance FROM reservations r WHERE r.call_id = p_call_id;
    END`,
  tollgate_apply_step: `CREATE PROCEDURE tollgate_apply_step(
      IN p_reservation_id INT, IN p_call_id VARCHAR(191), IN p_step_key VARCHAR(32), IN p_requested INT, IN p_added INT,
      IN p_delta DECIMAL(20,6), IN p_granted INT, IN p_reserved_after DECIMAL(20,6), IN p_final BOOLEAN, IN p_at DATETIME(3))
    MODIFIES SQL DATA
    BEGIN
      INSERT INTO reservation_steps (reservation_id, call_id, step_key, requested_seconds, added_seconds, amount_delta, granted_seconds,
        reserved_after, final, created_at)
      VALUES (p_reservation_id, p_call_id, p_step_key, p_requested, p_added, p_delta, p_granted, p_reserved_after, p_final, p_at);
      SELECT s.low_balance FROM reservation_steps s WHERE s.call_id = p_call_id AND s.step_key = p_step_key;
    END`,
};

async function procedureNames(qi: QueryInterface): Promise<Set<string>> {
  const rows = await qi.sequelize.query<{ name: string }>(
    "SELECT ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_TYPE = 'PROCEDURE'",
    { type: QueryTypes.SELECT },
  );
  return new Set(rows.map((r) => r.name));
}

function procedure(name: string): MigrationStep {
  return {
    what: `procedure ${name}`,
    applies: (qi) => qi.sequelize.getDialect() !== 'sqlite',
    done: async (qi) => (await procedureNames(qi)).has(name),
    // One CREATE PROCEDURE is one statement: the procedure exists whole or not at all.
    apply: async (qi) => { await qi.sequelize.query(PROCEDURES[name]!); },
  };
}

export const steps: MigrationStep[] = Object.keys(PROCEDURES).map(procedure);

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  if (qi.sequelize.getDialect() === 'sqlite') return;
  for (const name of Object.keys(PROCEDURES)) await qi.sequelize.query(`DROP PROCEDURE IF EXISTS ${name}`);
}
