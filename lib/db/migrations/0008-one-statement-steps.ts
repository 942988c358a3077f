import { DataTypes, QueryTypes, type QueryInterface } from 'sequelize';
import { formatMoney } from '../../common/money';
import { moneyColumnMax, SQLITE_MONEY_TYPE } from '../money-column';
import { addColumn, applySteps, type Ctx, type MigrationStep } from './steps';

/**
 * Every step of a call's money is one SQL statement. The database keeps the books by triggers:
 *
 * - INSERT INTO reservations (authorise) holds the money on every balance of the call, all or
 *   none: the call's own account (`account_id`, which must be of the mode's kind and in
 *   `currency`) and each of `extra_holds` (a JSON array of account ids: pools above it), each
 *   active, unexpired, under its call limit and with `required_amount` available; it records the
 *   'authorise' step. A refusal is the error `tollgate:refused`.
 * - INSERT INTO reservation_steps (answer, extend n) moves the reservation from the amount and
 *   grant the caller saw (reserved_after - amount_delta, granted_seconds - added_seconds; else
 *   `tollgate:stale`) and every balance by amount_delta (an increase only where it is available;
 *   else `tollgate:refused`).
 * - UPDATE reservations SET state (settle, release, recover) gives every hold back, charges each
 *   balance `charged` and posts one ledger entry per balance (`ledger_key`, and `ledger_key@<id>`
 *   for each extra hold); a balance the column cannot hold is `tollgate:range`.
 *
 * `low_balance` says whether the call's account was below its low-balance threshold after the
 * change. A statement with its triggers is atomic on both dialects, so every rule that held for
 * one transaction of several statements holds for the one statement.
 */

const TRIGGERS = ['reservations_hold', 'reservations_authorise_step', 'reservation_steps_apply', 'reservation_steps_low_balance', 'reservations_close'];

function dialectOf(qi: QueryInterface): 'mysql' | 'sqlite' {
  return qi.sequelize.getDialect() === 'sqlite' ? 'sqlite' : 'mysql';
}

/** A money column of the dialect's type (DECIMAL(20,6), or micro-units on SQLite). */
function addMoneyColumn(table: string, column: string): MigrationStep {
  const base = addColumn(table, column, { type: DataTypes.DECIMAL(20, 6), allowNull: true });
  return {
    ...base,
    apply: async (qi) => {
      await qi.addColumn(table, column, { type: dialectOf(qi) === 'sqlite' ? SQLITE_MONEY_TYPE : DataTypes.DECIMAL(20, 6), allowNull: true });
    },
  };
}

/** SQL pieces the triggers share, per dialect. */
function sqlFor(dialect: 'mysql' | 'sqlite') {
  const max = dialect === 'mysql' ? formatMoney(moneyColumnMax('mysql')) : moneyColumnMax('sqlite').toString();
  const inRange = (expr: string): string => `(${expr}) BETWEEN -${max} AND ${max}`;
  /** An account that may hold `amount` more for a new call. */
  const admits = (a: string, at: string, amount: string, required: string): string =>
    `${a}.status = 'active' AND (${a}.expires_at IS NULL OR ${a}.expires_at > ${at}) AND (${a}.max_calls IS NULL OR ${a}.live_calls < ${a}.max_calls)
     AND ${a}.balance + ${a}.credit_limit - ${a}.reserved >= ${required} AND ${inRange(`${a}.reserved + ${amount}`)}`;
  const lowBalance = (a: string): string => `(${a}.low_balance_threshold IS NOT NULL AND ${a}.balance + ${a}.credit_limit - ${a}.reserved < ${a}.low_balance_threshold)`;
  return { inRange, admits, lowBalance };
}

function mysqlTriggers(): string[] {
  const { inRange, admits, lowBalance } = sqlFor('mysql');
  const refuse = (what: string): string => `SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'tollgate:${what}'`;
  // The extra holds by index: each one a primary-key update (a JSON_TABLE join would scan accounts).
  const eachExtra = (json: string, body: string): string => `
    SET i = 0;
    SET n = COALESCE(JSON_LENGTH(${json}), 0);
    WHILE i < n DO
      SET hold = CAST(JSON_VALUE(${json}, CONCAT('$[', i, ']')) AS SIGNED);
      ${body}
      SET i = i + 1;
    END WHILE;`;
  return [
    `CREATE TRIGGER reservations_hold BEFORE INSERT ON reservations FOR EACH ROW
     BEGIN
       DECLARE i INT DEFAULT 0;
       DECLARE n INT DEFAULT 0;
       DECLARE hold BIGINT;
       UPDATE accounts a SET a.reserved = a.reserved + NEW.amount, a.live_calls = a.live_calls + 1, a.updated_at = NEW.created_at
        WHERE a.id = NEW.account_id AND a.currency = NEW.currency AND a.kind = IF(NEW.mode = 'postpaid', 'postpaid', 'prepaid')
          AND ${admits('a', 'NEW.created_at', 'NEW.amount', 'NEW.required_amount')};
       IF ROW_COUNT() = 0 THEN ${refuse('refused')}; END IF;
       ${eachExtra('NEW.extra_holds', `
         UPDATE accounts a SET a.reserved = a.reserved + NEW.amount, a.live_calls = a.live_calls + 1, a.updated_at = NEW.created_at
          WHERE a.id = hold AND ${admits('a', 'NEW.created_at', 'NEW.amount', 'NEW.required_amount')};
         IF ROW_COUNT() = 0 THEN ${refuse('refused')}; END IF;`)}
       SET NEW.low_balance = (SELECT ${lowBalance('a')} FROM accounts a WHERE a.id = NEW.account_id);
     END`,
    `CREATE TRIGGER reservations_authorise_step AFTER INSERT ON reservations FOR EACH ROW
       INSERT INTO reservation_steps (reservation_id, call_id, step_key, requested_seconds, added_seconds, amount_delta, granted_seconds, reserved_after, final, low_balance, created_at)
       VALUES (NEW.id, NEW.call_id, 'authorise', NEW.granted_seconds, NEW.granted_seconds, NEW.amount, NEW.granted_seconds, NEW.amount, NEW.authorised_final, NEW.low_balance, NEW.created_at)`,
    `CREATE TRIGGER reservation_steps_apply BEFORE INSERT ON reservation_steps FOR EACH ROW
     BEGIN
       DECLARE i INT DEFAULT 0;
       DECLARE n INT DEFAULT 0;
       DECLARE hold BIGINT;
       DECLARE own BIGINT;
       DECLARE extra TEXT;
       IF NEW.step_key <> 'authorise' THEN
         UPDATE reservations r SET r.amount = NEW.reserved_after, r.granted_seconds = NEW.granted_seconds, r.version = r.version + 1, r.updated_at = NEW.created_at
          WHERE r.id = NEW.reservation_id AND r.state = 'active' AND r.amount = NEW.reserved_after - NEW.amount_delta
            AND r.granted_seconds = NEW.granted_seconds - NEW.added_seconds AND ${inRange('NEW.reserved_after')};
         IF ROW_COUNT() = 0 THEN ${refuse('stale')}; END IF;
         SELECT r.account_id, r.extra_holds INTO own, extra FROM reservations r WHERE r.id = NEW.reservation_id;
         IF NEW.amount_delta <> 0 THEN
           UPDATE accounts a SET a.reserved = a.reserved + NEW.amount_delta, a.updated_at = NEW.created_at
            WHERE a.id = own AND (NEW.amount_delta < 0 OR a.balance + a.credit_limit - a.reserved >= NEW.amount_delta) AND ${inRange('a.reserved + NEW.amount_delta')};
           IF ROW_COUNT() = 0 THEN ${refuse('refused')}; END IF;
           ${eachExtra('extra', `
             UPDATE accounts a SET a.reserved = a.reserved + NEW.amount_delta, a.updated_at = NEW.created_at
              WHERE a.id = hold AND (NEW.amount_delta < 0 OR a.balance + a.credit_limit - a.reserved >= NEW.amount_delta) AND ${inRange('a.reserved + NEW.amount_delta')};
             IF ROW_COUNT() = 0 THEN ${refuse('refused')}; END IF;`)}
         END IF;
         SET NEW.low_balance = (SELECT ${lowBalance('a')} FROM accounts a WHERE a.id = own);
       END IF;
     END`,
    `CREATE TRIGGER reservations_close AFTER UPDATE ON reservations FOR EACH ROW
     BEGIN
       DECLARE i INT DEFAULT 0;
       DECLARE n INT DEFAULT 0;
       DECLARE hold BIGINT;
       IF OLD.state = 'active' AND NEW.state <> 'active' THEN
         UPDATE accounts a SET a.balance = a.balance - COALESCE(NEW.charged, 0), a.reserved = a.reserved - OLD.amount, a.live_calls = a.live_calls - 1,
            a.updated_at = NEW.updated_at
          WHERE a.id = NEW.account_id AND ${inRange('a.balance - COALESCE(NEW.charged, 0)')};
         IF ROW_COUNT() = 0 THEN ${refuse('range')}; END IF;
         IF COALESCE(NEW.charged, 0) <> 0 THEN
           INSERT INTO ledger_entries (account_id, kind, amount, balance_after, idempotency_key, call_id, note, created_at)
           SELECT a.id, 'charge', -NEW.charged, a.balance, NEW.ledger_key, NEW.call_id,
                  COALESCE(NEW.settle_note, CONCAT(NEW.settled_seconds, ' s', IF(NEW.state = 'recovered', ' (recovered)', ''))), NEW.updated_at
             FROM accounts a WHERE a.id = NEW.account_id;
         END IF;
         ${eachExtra('NEW.extra_holds', `
           UPDATE accounts a SET a.balance = a.balance - COALESCE(NEW.charged, 0), a.reserved = a.reserved - OLD.amount, a.live_calls = a.live_calls - 1,
              a.updated_at = NEW.updated_at
            WHERE a.id = hold AND ${inRange('a.balance - COALESCE(NEW.charged, 0)')};
           IF ROW_COUNT() = 0 THEN ${refuse('range')}; END IF;
           IF COALESCE(NEW.charged, 0) <> 0 THEN
             INSERT INTO ledger_entries (account_id, kind, amount, balance_after, idempotency_key, call_id, note, created_at)
             SELECT a.id, 'charge', -NEW.charged, a.balance, CONCAT(NEW.ledger_key, '@', a.id), NEW.call_id,
                    COALESCE(NEW.settle_note, CONCAT(NEW.settled_seconds, ' s', IF(NEW.state = 'recovered', ' (recovered)', ''))), NEW.updated_at
               FROM accounts a WHERE a.id = hold;
           END IF;`)}
       END IF;
     END`,
  ];
}

function sqliteTriggers(): string[] {
  const { inRange, admits, lowBalance } = sqlFor('sqlite');
  // SQLite has one writer: a check and then the update, inside one statement, cannot be raced.
  const holdsOf = (own: string, extra: string): string => `(id = ${own} OR id IN (SELECT value FROM json_each(${extra})))`;
  const note = "COALESCE(NEW.settle_note, NEW.settled_seconds || ' s' || CASE NEW.state WHEN 'recovered' THEN ' (recovered)' ELSE '' END)";
  return [
    `CREATE TRIGGER reservations_hold BEFORE INSERT ON reservations
     BEGIN
       SELECT RAISE(ABORT, 'tollgate:refused') WHERE NOT EXISTS (
         SELECT 1 FROM accounts a WHERE a.id = NEW.account_id AND a.currency = NEW.currency
           AND a.kind = CASE NEW.mode WHEN 'postpaid' THEN 'postpaid' ELSE 'prepaid' END
           AND ${admits('a', 'NEW.created_at', 'NEW.amount', 'NEW.required_amount')});
       SELECT RAISE(ABORT, 'tollgate:refused') WHERE NEW.extra_holds IS NOT NULL AND json_array_length(NEW.extra_holds) <> (
         SELECT COUNT(*) FROM accounts a WHERE a.id IN (SELECT value FROM json_each(NEW.extra_holds)) AND a.id <> NEW.account_id
           AND ${admits('a', 'NEW.created_at', 'NEW.amount', 'NEW.required_amount')});
       UPDATE accounts SET reserved = reserved + NEW.amount, live_calls = live_calls + 1, updated_at = NEW.created_at
        WHERE ${holdsOf('NEW.account_id', 'NEW.extra_holds')};
     END`,
    `CREATE TRIGGER reservations_authorise_step AFTER INSERT ON reservations
     BEGIN
       UPDATE reservations SET low_balance = (SELECT ${lowBalance('a')} FROM accounts a WHERE a.id = NEW.account_id) WHERE id = NEW.id;
       INSERT INTO reservation_steps (reservation_id, call_id, step_key, requested_seconds, added_seconds, amount_delta, granted_seconds, reserved_after, final, low_balance, created_at)
       SELECT NEW.id, NEW.call_id, 'authorise', NEW.granted_seconds, NEW.granted_seconds, NEW.amount, NEW.granted_seconds, NEW.amount, NEW.authorised_final,
              r.low_balance, NEW.created_at FROM reservations r WHERE r.id = NEW.id;
     END`,
    `CREATE TRIGGER reservation_steps_apply BEFORE INSERT ON reservation_steps WHEN NEW.step_key <> 'authorise'
     BEGIN
       SELECT RAISE(ABORT, 'tollgate:stale') WHERE NOT EXISTS (
         SELECT 1 FROM reservations r WHERE r.id = NEW.reservation_id AND r.state = 'active' AND r.amount = NEW.reserved_after - NEW.amount_delta
           AND r.granted_seconds = NEW.granted_seconds - NEW.added_seconds AND ${inRange('NEW.reserved_after')});
       SELECT RAISE(ABORT, 'tollgate:refused') FROM reservations r WHERE r.id = NEW.reservation_id AND NEW.amount_delta <> 0
         AND 1 + COALESCE(json_array_length(r.extra_holds), 0) <> (
           SELECT COUNT(*) FROM accounts a WHERE (a.id = r.account_id OR a.id IN (SELECT value FROM json_each(r.extra_holds)))
             AND (NEW.amount_delta < 0 OR a.balance + a.credit_limit - a.reserved >= NEW.amount_delta) AND ${inRange('a.reserved + NEW.amount_delta')});
       UPDATE reservations SET amount = NEW.reserved_after, granted_seconds = NEW.granted_seconds, version = version + 1, updated_at = NEW.created_at
        WHERE id = NEW.reservation_id;
       UPDATE accounts SET reserved = reserved + NEW.amount_delta, updated_at = NEW.created_at
        WHERE NEW.amount_delta <> 0 AND id IN (
          SELECT r.account_id FROM reservations r WHERE r.id = NEW.reservation_id
          UNION ALL SELECT j.value FROM reservations r, json_each(r.extra_holds) j WHERE r.id = NEW.reservation_id);
     END`,
    `CREATE TRIGGER reservation_steps_low_balance AFTER INSERT ON reservation_steps WHEN NEW.step_key <> 'authorise'
     BEGIN
       UPDATE reservation_steps SET low_balance = (
         SELECT ${lowBalance('a')} FROM accounts a, reservations r WHERE r.id = NEW.reservation_id AND a.id = r.account_id) WHERE id = NEW.id;
     END`,
    `CREATE TRIGGER reservations_close AFTER UPDATE OF state ON reservations WHEN OLD.state = 'active' AND NEW.state <> 'active'
     BEGIN
       SELECT RAISE(ABORT, 'tollgate:range') WHERE EXISTS (
         SELECT 1 FROM accounts WHERE ${holdsOf('NEW.account_id', 'NEW.extra_holds')} AND NOT ${inRange('balance - COALESCE(NEW.charged, 0)')});
       UPDATE accounts SET balance = balance - COALESCE(NEW.charged, 0), reserved = reserved - OLD.amount, live_calls = live_calls - 1, updated_at = NEW.updated_at
        WHERE ${holdsOf('NEW.account_id', 'NEW.extra_holds')};
       INSERT INTO ledger_entries (account_id, kind, amount, balance_after, idempotency_key, call_id, note, created_at)
       SELECT id, 'charge', -NEW.charged, balance, CASE WHEN id = NEW.account_id THEN NEW.ledger_key ELSE NEW.ledger_key || '@' || id END,
              NEW.call_id, ${note}, NEW.updated_at
         FROM accounts WHERE COALESCE(NEW.charged, 0) <> 0 AND ${holdsOf('NEW.account_id', 'NEW.extra_holds')}
        ORDER BY id <> NEW.account_id, id;
     END`,
  ];
}

async function triggerNames(qi: QueryInterface): Promise<Set<string>> {
  const sql = dialectOf(qi) === 'sqlite'
    ? "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    : 'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()';
  const rows = await qi.sequelize.query<{ name: string }>(sql, { type: QueryTypes.SELECT });
  return new Set(rows.map((r) => r.name));
}

function trigger(name: string): MigrationStep {
  return {
    what: `trigger ${name}`,
    applies: (qi) => dialectOf(qi) === 'sqlite' || name !== 'reservation_steps_low_balance',
    done: async (qi) => (await triggerNames(qi)).has(name),
    // One CREATE TRIGGER is one statement: the trigger exists whole or not at all.
    apply: async (qi) => {
      const sql = (dialectOf(qi) === 'sqlite' ? sqliteTriggers() : mysqlTriggers()).find((s) => s.includes(`CREATE TRIGGER ${name} `))!;
      await qi.sequelize.query(sql);
    },
  };
}

export const steps: MigrationStep[] = [
  addColumn('reservations', 'extra_holds', { type: DataTypes.TEXT, allowNull: true }),
  addColumn('reservations', 'currency', { type: DataTypes.STRING(3), allowNull: true }),
  addMoneyColumn('reservations', 'required_amount'),
  addColumn('reservations', 'authorised_final', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false }),
  addColumn('reservations', 'low_balance', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false }),
  addColumn('reservations', 'ledger_key', { type: DataTypes.STRING(191), allowNull: true }),
  addColumn('reservations', 'settle_note', { type: DataTypes.STRING(255), allowNull: true }),
  addColumn('reservation_steps', 'low_balance', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false }),
  ...TRIGGERS.map(trigger),
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  for (const name of TRIGGERS) await qi.sequelize.query(`DROP TRIGGER IF EXISTS ${name}`);
  for (const column of ['extra_holds', 'currency', 'required_amount', 'authorised_final', 'low_balance', 'ledger_key', 'settle_note']) {
    await qi.removeColumn('reservations', column);
  }
  await qi.removeColumn('reservation_steps', 'low_balance');
}
