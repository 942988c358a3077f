import type { Logger } from '../lib/common/logger';
import { openDatabase, type Database } from '../lib/db/database';
import type { TollgateConfig } from './config/schema';

/**
 * The application process: the composition root. It builds the database, the domain services and
 * the SIP application from the validated config, and takes them down in reverse order.
 */
export interface RunningApplication {
  stop(reason: string): Promise<void>;
}

export async function prepareDatabase(config: TollgateConfig, logger: Logger): Promise<Database> {
  const db = await openDatabase(config.database, logger);
  const applied = await db.migrate();
  if (applied.length > 0 && applied[0] === '0001-core' && config.database.dialect === 'sqlite') {
    // First run on the embedded default: make it callable at once.
    const { seedDemoData } = await import('./seed');
    await seedDemoData(db, logger);
  }
  return db;
}

export async function startApplication(config: TollgateConfig, logger: Logger): Promise<RunningApplication> {
  const db = await prepareDatabase(config, logger);
  logger.info('application started', { database: config.database.dialect, drachtio: config.drachtio.mode });
  return {
    async stop(reason: string) {
      logger.info('application stopping', { reason });
      await db.close();
    },
  };
}
