import { applySteps, type Ctx, type MigrationStep } from './steps';
import { mysqlTrigger, RECORD_COLUMNS, sqliteTrigger, TRIGGER, triggerBody } from './0010-cdr-with-settlement';

/**
 * The CDR written with a settlement (0010) carries who paid: `charging` (business or private,
 * 0013). The trigger names its columns, so it is made again with the new one.
 */

const COLUMNS = [...RECORD_COLUMNS, 'charging'];

export const steps: MigrationStep[] = [
  {
    what: `trigger ${TRIGGER} with charging`,
    done: async (qi) => (await triggerBody(qi))?.includes('charging') ?? false,
    // Dropped and made again in one step: if the process dies between the two, the step is not done
    // and runs again whole.
    apply: async (qi) => {
      await qi.sequelize.query(`DROP TRIGGER IF EXISTS ${TRIGGER}`);
      await qi.sequelize.query(qi.sequelize.getDialect() === 'sqlite' ? sqliteTrigger(COLUMNS) : mysqlTrigger(COLUMNS));
    },
  },
];

export async function up({ context: qi }: Ctx): Promise<void> {
  await applySteps(qi, steps);
}

export async function down({ context: qi }: Ctx): Promise<void> {
  await qi.sequelize.query(`DROP TRIGGER IF EXISTS ${TRIGGER}`);
  await qi.sequelize.query(qi.sequelize.getDialect() === 'sqlite' ? sqliteTrigger() : mysqlTrigger());
}
